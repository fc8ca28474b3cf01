//! Running one trial: on a thread of its own, enter the trial's isolation, start the
//! observers and the sender, run the client strategy, collect the sender's summary,
//! tear everything down, and assemble one [`TrialRecord`] with its [`Observation`].
//! This module runs things; it does not judge or print them.

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use socket2::Socket;

use crate::fault::{self, ClientControl};
use crate::net::{Veth, in_sender_ns};
use crate::observe::capture::Capture;
use crate::observe::timeline::{QUIET_START, Sampler, Target, Timeline};
use crate::observe::{Events, Observation, ObserveOptions, counters, isolation, kernel};
use crate::record::{ClockZero, Ending, TrialRecord};
use crate::scenario::Scenario;
use crate::strategy::ClientHooks;
use crate::sys::{self, diag::Diag};

/// Runs trial number `n` (1-based) of a scenario, on a thread of its own so that a
/// network namespace entered for it holds for it alone.
///
/// Whatever the trial's programs left running outside their process groups is
/// killed once it ends, and said in the record.
pub fn run(sc: &Scenario, n: u32, opts: &ObserveOptions) -> Result<TrialRecord> {
    let mut r = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name(format!("trial-{n}"))
            .spawn_scoped(s, || run_here(sc, n, opts))
            .context("starting the trial thread")?
            .join()
            .map_err(|_| anyhow!("the trial thread panicked"))?
    });
    let strays = crate::process::reap_strays(STRAY_WAIT);
    if strays > 0
        && let Ok(Some(o)) = r.as_mut().map(|r| r.observation.as_mut())
    {
        o.notes.push(format!(
            "killed {strays} process(es) that a program of the trial left running outside its process group (setsid or a double fork)"
        ));
    }
    r
}

/// How long the strays of a trial may take to die.
const STRAY_WAIT: Duration = Duration::from_secs(2);

fn v4(a: SocketAddr) -> Result<SocketAddrV4> {
    match a {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(_) => Err(anyhow!("only IPv4 is observed")),
    }
}

/// Points the TCP_INFO sampler at the connection once the client is connected, and
/// stops it before the socket closes.
struct Hooks {
    sender: SocketAddrV4,
    sampler: Option<Sampler>,
    timeline: Option<Timeline>,
    /// Tells the fault schedule when time zero was; taken at the first call.
    zero: Option<mpsc::Sender<u64>>,
    control: Option<Arc<ClientControl>>,
    /// With helpers: the capture keeps only the client's own connections.
    peers: Option<Arc<crate::observe::capture::Peers>>,
}

impl ClientHooks for Hooks {
    fn started(&mut self, zero_ns: u64) {
        if let Some(tx) = self.zero.take() {
            let _ = tx.send(zero_ns);
        }
    }

    fn control(&self) -> Option<Arc<ClientControl>> {
        self.control.clone()
    }

    fn connecting(&mut self, sock: &Socket) -> Result<()> {
        let Some(peers) = &self.peers else {
            return Ok(());
        };
        let any = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
        sock.bind(&any.into())
            .context("binding the client's socket, so the capture knows its port")?;
        let port = sock.local_addr()?.as_socket().map_or(0, |a| a.port());
        peers.add(port);
        Ok(())
    }

    fn connected(&mut self, sock: &Socket, zero_ns: u64) {
        use std::os::fd::AsRawFd;
        self.started(zero_ns);
        let client = sock
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .and_then(|a| v4(a).ok());
        if let (Some(s), Some(client)) = (self.sampler.as_mut(), client) {
            s.watch(Target {
                client_fd: sock.as_raw_fd(),
                client,
                sender: self.sender,
                zero_ns,
            });
        }
    }

    fn closing(&mut self) {
        if let Some(s) = self.sampler.take() {
            self.timeline = Some(s.stop());
        }
    }
}

fn rel_us(t_ns: u64, zero_ns: u64) -> i64 {
    (t_ns as i64 - zero_ns as i64) / 1000
}

/// zerowin cannot see an external program's calls: the wire decides its outcome,
/// timed from the client's SYN. Without a capture, the exit status
/// is all there is, and the record says so.
fn classify_external(record: &mut TrialRecord, wire: Option<&crate::observe::wire::Wire>) {
    match wire {
        Some(w) => {
            let (outcome, at_us, why) = crate::observe::classify_external(&record.client.ending, w);
            record.outcome = outcome;
            record.time_to_failure_us = at_us;
            record.classified_from = Some(why);
        }
        None => {
            record.classified_from =
                Some("no capture (--no-capture): from the exit status alone".into());
        }
    }
}

/// The veth pair a trial runs on, when its `[net]` asks for one.
fn link_for(sc: &Scenario, iso: &isolation::Isolation) -> Result<Option<Arc<Veth>>> {
    if !sc.net.is_veth() {
        return Ok(None);
    }
    if !iso.isolated() {
        bail!(
            "{}: the veth topology needs network namespaces, and {}",
            sc.path.display(),
            iso.reason
        );
    }
    let v = Veth::up(&sc.net, &sc.sysctls)
        .with_context(|| format!("{}: making the veth pair", sc.path.display()))?;
    Ok(Some(Arc::new(v)))
}

fn run_here(sc: &Scenario, n: u32, opts: &ObserveOptions) -> Result<TrialRecord> {
    let started = Instant::now();
    let iso = isolation::enter(opts.isolation, &sc.sysctls)
        .with_context(|| format!("{}: isolating the trial", sc.path.display()))?;
    let link = link_for(sc, &iso)?;
    let watch = Watch::start(sc, n, opts, link.as_deref())?;
    let ran = drive(sc, opts, &link, &watch)?;
    let trial_us = started.elapsed().as_micros() as u64;
    let seen = watch.finish(iso.isolated(), link.as_deref())?;
    Ok(assemble(sc, n, ran, seen, iso, link, trial_us))
}

/// The observers of a trial, started before its sender.
struct Watch {
    before: Option<counters::Snapshot>,
    sender_before: Option<counters::Snapshot>,
    capture: Option<Capture>,
    kernel: Option<(kernel::Recording, Vec<&'static str>)>,
    pcap_file: Option<std::path::PathBuf>,
    notes: Vec<String>,
}

/// What the observers saw, once stopped.
struct Seen {
    counters: Option<counters::Counters>,
    kernels: Option<counters::Kernels>,
    wire: Option<crate::observe::wire::Wire>,
    kernel: Option<(kernel::Collected, Vec<&'static str>)>,
    pcap_file: Option<std::path::PathBuf>,
    notes: Vec<String>,
}

impl Watch {
    /// Takes the counters' snapshots (both kernels on veth) and starts the capture.
    fn start(sc: &Scenario, n: u32, opts: &ObserveOptions, link: Option<&Veth>) -> Result<Watch> {
        // CLOCK_REALTIME - CLOCK_MONOTONIC, to put packet timestamps on the shared axis.
        let offset_ns = sys::realtime_ns() as i64 - sys::monotonic_ns() as i64;
        let before = counters::snapshot().ok();
        let sender_before = link.and_then(|l| l.sender_ns().run(counters::snapshot).ok());
        let pcap_out = opts
            .pcap_dir
            .as_ref()
            .map(|d| {
                let name = crate::artifacts::trial_file(&sc.stem, n, "pcap");
                d.create_new(&name).map(|f| (f, d.join(&name)))
            })
            .transpose()?;
        let pcap_file = pcap_out.as_ref().map(|(_, p)| p.clone());
        let mut notes = Vec::new();
        let device = match link {
            Some(_) => crate::net::CLIENT_DEV,
            None => "lo",
        };
        // A plot draws the first milliseconds from the wire: --plot captures too.
        let wanted = opts
            .capture
            .unwrap_or(sc.observe.capture || opts.plot_dir.is_some());
        let capture = if wanted || pcap_file.is_some() {
            match Capture::start(offset_ns, pcap_out.map(|(f, _)| f), device) {
                Ok(c) => Some(c),
                // Asked for by default, not by --pcap: go on without it, and say so.
                Err(e) if pcap_file.is_none() => {
                    notes.push(format!(
                        "no packet capture: {e:#} (AF_PACKET needs CAP_NET_RAW)"
                    ));
                    None
                }
                Err(e) => return Err(e.context("--pcap")),
            }
        } else {
            None
        };
        let probe = opts.kernel.probe || sc.observe.tcp_probe;
        let kernel = start_kernel(opts, probe, &mut notes);
        Ok(Watch {
            before,
            sender_before,
            capture,
            kernel,
            pcap_file,
            notes,
        })
    }

    /// Stops the capture and reads the counters' deltas.
    fn finish(self, isolated: bool, link: Option<&Veth>) -> Result<Seen> {
        let client_counters = self.before.and_then(|b| b.delta(isolated).ok());
        let sender_counters = match (link, self.sender_before) {
            (Some(l), Some(b)) => l.sender_ns().run(|| b.delta(true)).ok(),
            _ => None,
        };
        let (counters, kernels) = counters::split(client_counters, sender_counters);
        Ok(Seen {
            counters,
            kernels,
            wire: self.capture.map(Capture::stop).transpose()?,
            kernel: self.kernel.map(|(r, e)| (r.finish(), e)),
            pcap_file: self.pcap_file,
            notes: self.notes,
        })
    }
}

/// The kernel's events for the trial, when the run has them; or a note why not.
fn start_kernel(
    opts: &ObserveOptions,
    probe: bool,
    notes: &mut Vec<String>,
) -> Option<(kernel::Recording, Vec<&'static str>)> {
    let tracer = match opts.kernel.tracer()? {
        Ok(t) => t,
        Err(why) => {
            notes.push(why.0);
            return None;
        }
    };
    if let Some(m) = tracer.first_note() {
        notes.push(m);
    }
    match tracer.begin(probe) {
        Ok(r) => Some((r, tracer.events(probe))),
        Err(e) => {
            notes.push(format!("no kernel events: starting the recording: {e}"));
            None
        }
    }
}

/// What the two sides did.
struct Ran {
    /// The address the client dialled.
    addr: SocketAddr,
    client: crate::record::ClientRecord,
    helpers: Vec<crate::record::program::ProgramRun>,
    report: crate::record::SenderReport,
    faults: Vec<crate::record::FaultEvent>,
    timeline: Option<Timeline>,
    broker: Vec<crate::record::program::ProgramRun>,
}

/// Starts the sender, the sampler and the fault schedule, runs the client to its end,
/// and collects what the sender said.
fn drive(
    sc: &Scenario,
    opts: &ObserveOptions,
    link: &Option<Arc<Veth>>,
    watch: &Watch,
) -> Result<Ran> {
    let mut config = sc.sender_config.clone();
    config.netns = link.as_ref().map(|l| l.sender_ns().clone());
    let broker = start_broker(sc, link.is_some())?;
    config.nats_url = broker.as_ref().map(|b| b.urls().join(","));
    if !sc.helpers.is_empty() {
        config.tmp = Some(Arc::new(crate::scratch::Scratch::new()?));
    }
    let sender = sc
        .sender
        .start(&config)
        .with_context(|| format!("starting the `{}` sender", sc.sender.name()))?;
    let addr = sender.addr();
    if let Some(c) = &watch.capture {
        c.watch(addr.port());
    }
    let tmp = config.tmp.as_ref().map(|t| t.path());
    let crew = crate::helper::Crew::start(&sc.helpers, addr, tmp, config.netns.clone())
        .context("starting the helpers")?;
    let peers = match (&crew, &watch.capture) {
        (Some(_), Some(c)) if !sc.strategy.is_external() => {
            c.peers.only();
            Some(c.peers.clone())
        }
        _ => None,
    };
    let sender = Arc::new(Mutex::new(sender));
    let control = Arc::new(ClientControl::default());
    let (zero_tx, zero_rx) = mpsc::channel();
    let faults = (!sc.faults.is_empty()).then(|| {
        let targets = fault::Targets {
            sender: sender.clone(),
            client: control.clone(),
            link: link.clone(),
            held: Default::default(),
            broker: broker.clone(),
        };
        fault::Runner::start(&sc.faults, targets, zero_rx)
    });
    let mut hooks = Hooks {
        sender: v4(addr)?,
        sampler: sampler(sc, opts, link.as_deref())?,
        timeline: None,
        zero: Some(zero_tx),
        control: sc.faults.has_client_faults().then_some(control),
        peers,
    };
    let client = sc.strategy.drive(addr, &sc.client, &mut hooks);
    // The faults not yet due are not applied: the client is done.
    if let Some(f) = &faults {
        f.halt();
    }
    let helpers = crew.map(crate::helper::Crew::finish).transpose();
    let client = client?;
    let helpers = helpers?.unwrap_or_default();
    // The client socket is closed by now: a sender still sending hits the closed
    // connection, fails its send() and prints its summary too.
    let connections = client.messages.as_ref().map_or(1, |m| m.reconnects + 1);
    let report = sender
        .lock()
        .map_err(|_| anyhow!("the sender's lock is poisoned"))?
        .finish(connections, sc.sender_config.setup.summary_wait)?;
    let faults = faults.map(fault::Runner::finish).unwrap_or_default();
    Ok(Ran {
        addr,
        client,
        helpers,
        report,
        faults,
        timeline: hooks.timeline,
        broker: finish_broker(broker)?,
    })
}

/// The trial's broker (`[broker]`), started in its namespace: on the client's side
/// of a veth pair, so that a `blackhole` cuts the sender off from it.
fn start_broker(sc: &Scenario, veth: bool) -> Result<Option<Arc<crate::broker::Broker>>> {
    let Some(cfg) = sc.broker else {
        return Ok(None);
    };
    let host = match veth {
        true => crate::net::CLIENT_ADDR,
        false => std::net::Ipv4Addr::LOCALHOST,
    };
    let b = crate::broker::Broker::start(cfg, host).context("starting the scenario's [broker]")?;
    Ok(Some(Arc::new(b)))
}

/// Stops the broker, once the sender and the faults are done with it.
fn finish_broker(
    broker: Option<Arc<crate::broker::Broker>>,
) -> Result<Vec<crate::record::program::ProgramRun>> {
    match broker.map(Arc::try_unwrap) {
        None => Ok(Vec::new()),
        Some(Ok(b)) => b.finish(),
        Some(Err(_)) => Err(anyhow!("the broker is still in use after the trial")),
    }
}

/// The TCP_INFO sampler, when the trial samples. It keeps quiet for the first
/// milliseconds, the race: the kernel's events (and the wire, when captured) have
/// them, and a sampler waking in them slows it.
fn sampler(sc: &Scenario, opts: &ObserveOptions, link: Option<&Veth>) -> Result<Option<Sampler>> {
    let Some(interval) = opts.sample.unwrap_or(sc.sample) else {
        return Ok(None);
    };
    // The sender's socket is read in the sender's namespace.
    let diag = in_sender_ns(link, Diag::open).context("opening the sock_diag netlink socket")?;
    Ok(Some(Sampler::spawn(interval, QUIET_START, diag)))
}

/// The trial's record, from what the two sides did and what the observers saw.
fn assemble(
    sc: &Scenario,
    n: u32,
    mut ran: Ran,
    seen: Seen,
    iso: isolation::Isolation,
    link: Option<Arc<Veth>>,
    trial_us: u64,
) -> TrialRecord {
    let wire = seen.wire;
    if sc.strategy.is_external()
        && let Some(syn) = wire.as_ref().and_then(|w| w.client_syn_ns)
    {
        // An external program's time zero is its SYN on the wire, as an in-process
        // client's is the start of its connect().
        // The faults were timed from its start: they move with it.
        let shift = rel_us(ran.client.zero_ns, syn);
        ran.client.rebase(syn, ClockZero::WireSyn);
        for f in &mut ran.faults {
            f.at_us += shift;
        }
    }
    let kernel = seen
        .kernel
        .map(|(c, e)| kernel::attribute::attribute(&c, ran.addr, ran.client.zero_ns, &e));
    let mut events = events_of(&ran, wire.as_ref());
    if events.rst_us.is_none() {
        events.rst_us = kernel
            .as_ref()
            .and_then(|k| k.resets.iter().map(|r| r.at_us).min());
    }
    let mut record = TrialRecord::assemble(
        &sc.name,
        n,
        sc.sender.name(),
        &sc.sender_config.setup.policy,
        ran.client,
        ran.report,
        trial_us,
    );
    record.faults = ran.faults;
    record.helpers = ran.helpers;
    record.broker = ran.broker;
    record.params = sc.params.iter().cloned().collect();
    if sc.strategy.is_external() {
        classify_external(&mut record, wire.as_ref());
    }
    record.observation = Some(Observation {
        isolation: iso,
        link: link.map(|l| l.info.clone()),
        kernels: seen.kernels,
        counters: seen.counters,
        timeline: ran.timeline,
        wire,
        kernel,
        pcap_file: seen.pcap_file,
        plot_file: None,
        events,
        notes: seen.notes,
    });
    record
}

/// The trial's events on one axis: µs since the client's time zero.
fn events_of(ran: &Ran, wire: Option<&crate::observe::wire::Wire>) -> Events {
    let connect_ns = ran.client.zero_ns;
    let summary = ran.report.summary.as_ref();
    let at = |t: Option<u64>| t.map(|t| rel_us(t, connect_ns));
    Events {
        first_zero_window_us: at(wire.and_then(|w| w.first_zero_window_ns)).or_else(|| {
            ran.timeline
                .as_ref()
                .and_then(|t| t.first_zero_window_us)
                .map(|t| t as i64)
        }),
        sender_send_failed_us: at(summary.map(|s| s.fail_ns).filter(|t| *t > 0)),
        sender_close_us: at(summary.map(|s| s.close_start_ns).filter(|t| *t > 0)),
        rst_us: at(wire.and_then(|w| w.first_rst_ns)),
        last_from_sender_us: at(wire.and_then(|w| w.last_from_sender_ns)),
        client_first_error_us: match &ran.client.ending {
            Ending::Failed { .. } | Ending::Eof { .. } => {
                ran.client.ending.failure_at_us().map(|t| t as i64)
            }
            _ => None,
        },
    }
}
