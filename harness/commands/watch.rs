//! `zerowin watch`: the kernel's tracepoints on a live host, in an ftrace instance
//! of its own, read every [`TICK`]: one line per reset that passes the filters, and
//! a summary by reason and process at the end. Events the ring buffer had no room
//! for are counted and said, as they happen and in the summary.

use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cli::WatchArgs;
use crate::observe::kernel::live::{Filter, Live, NetnsMatch, Reset};
use crate::observe::kernel::{parse, tracefs};
use crate::report::output::{Stream, clean};

/// How often the buffer is read: one wake-up per tick, however busy the host.
const TICK: Duration = Duration::from_millis(100);

/// The ring buffer per CPU for a live host.
const KB_PER_CPU: u32 = 4096;

pub fn watch(a: &WatchArgs) -> Result<ExitCode> {
    let filter = Filter {
        ports: a.port.clone(),
        pids: a.pid.clone(),
        comms: a.comm.clone(),
        netns: a.netns.as_deref().map(netns_match).transpose()?,
    };
    let inst = instance(a).map_err(|u| anyhow::anyhow!("zerowin watch: {u}"))?;
    let _tables = match (&a.netns, &filter.netns) {
        (Some(name), Some(m)) => Some(Tables::start(name, m.clone())?),
        _ => None,
    };
    let mut sink = Sink::open(a)?;
    sink.say(&header(a, &filter))?;
    let mut w = Watcher {
        live: Live::new(filter),
        lost: 0,
        resets: 0,
        offset_ns: crate::sys::realtime_ns() as i64 - crate::sys::monotonic_ns() as i64,
    };
    let started = Instant::now();
    let until = a.duration.map(|d| started + d);
    let mut pipe = inst.pipe().context("opening trace_pipe")?;
    let mut partial = String::new();
    while crate::process::interrupted().is_none() && until.is_none_or(|u| Instant::now() < u) {
        std::thread::sleep(TICK);
        w.read(&mut pipe, &mut partial, &mut sink)?;
        w.check_lost(&inst, &mut sink)?;
        sink.flush()?;
    }
    let _ = inst.stop();
    w.read(&mut pipe, &mut partial, &mut sink)?;
    w.check_lost(&inst, &mut sink)?;
    drop(pipe);
    sink.summary(&w, started.elapsed())?;
    sink.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The instance: resets and state changes (for each connection's owner), and
/// `tcp_probe` with --windows; port filters in the kernel where the event has
/// ports, so a busy host's other connections cost little.
fn instance(a: &WatchArgs) -> Result<tracefs::Instance, tracefs::Unavailable> {
    let (root, mounted) = tracefs::root()?;
    if let Some(m) = mounted {
        crate::report::output::note(&format!("zerowin watch: {m}"));
    }
    tracefs::check_events(&root)?;
    let mut events = vec!["tcp/tcp_send_reset", "sock/inet_sock_set_state"];
    if a.windows {
        events.push(tracefs::PROBE);
    }
    let inst = tracefs::Instance::create(&root, 0, KB_PER_CPU, &events)
        .map_err(|e| tracefs::Unavailable(format!("making an ftrace instance: {e}")))?;
    if !a.port.is_empty() {
        let f: Vec<String> = a
            .port
            .iter()
            .map(|p| format!("sport == {p} || dport == {p}"))
            .collect();
        for e in events.iter().filter(|e| **e != "tcp/tcp_send_reset") {
            inst.write(&format!("events/{e}/filter"), &f.join(" || "))
                .map_err(|e| tracefs::Unavailable(format!("a port filter: {e}")))?;
        }
    }
    inst.start()
        .map_err(|e| tracefs::Unavailable(format!("starting the instance: {e}")))?;
    Ok(inst)
}

/// A thread inside `--netns`'s namespace that reads its TCP tables every tick, so
/// that a reset on loopback (whose addresses every namespace has) is known by its
/// port; stopped when dropped.
struct Tables {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Tables {
    fn start(name: &str, m: NetnsMatch) -> Result<Tables> {
        let ns =
            crate::sys::netns::Netns::open(std::path::Path::new(&format!("/run/netns/{name}")))
                .with_context(|| format!("--netns {name}"))?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("netns-tables".into())
            .spawn(move || {
                if ns.enter().is_err() {
                    return;
                }
                loop {
                    for t in ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"] {
                        m.saw(&std::fs::read_to_string(t).unwrap_or_default());
                    }
                    if !matches!(
                        stopped.recv_timeout(TICK / 2),
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                    ) {
                        return;
                    }
                }
            })?;
        Ok(Tables {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Tables {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `--netns NAME`: the namespace's inode and its addresses, but loopback's.
fn netns_match(name: &str) -> Result<NetnsMatch> {
    if name.contains('/') || name.is_empty() || name.starts_with('.') {
        bail!("--netns {name}: a name from `ip netns list`, not a path");
    }
    let path = format!("/run/netns/{name}");
    let ns = crate::sys::netns::Netns::open(std::path::Path::new(&path))
        .with_context(|| format!("--netns {name}: {path}"))?;
    let inode = ns.id()?;
    let addrs = ns.run(|| {
        let all = nix::ifaddrs::getifaddrs().map_err(std::io::Error::from)?;
        Ok(all
            .filter_map(|i| i.address)
            .filter_map(|a| {
                let v4 = a.as_sockaddr_in().map(|s| IpAddr::V4(s.ip()));
                v4.or_else(|| a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))
            })
            .filter(|ip| !ip.is_loopback())
            .collect::<Vec<IpAddr>>())
    })?;
    Ok(NetnsMatch {
        addrs,
        inode,
        sockets: Default::default(),
    })
}

fn header(a: &WatchArgs, f: &Filter) -> String {
    let mut only = Vec::new();
    if let Some(n) = &a.netns {
        let addrs: Vec<String> = f
            .netns
            .iter()
            .flat_map(|n| n.addrs.iter().map(|a| a.to_string()))
            .collect();
        only.push(format!("netns {} ({})", clean(n), addrs.join(", ")));
    }
    for (what, v) in [
        (
            "port",
            a.port.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        ),
        ("pid", a.pid.iter().map(|p| p.to_string()).collect()),
        ("comm", a.comm.iter().map(|c| clean(c)).collect()),
    ] {
        if !v.is_empty() {
            only.push(format!("{what} {}", v.join("|")));
        }
    }
    format!(
        "zerowin watch: TCP resets with the kernel's reasons (tcp_send_reset{}), {}; Ctrl-C for the summary\n",
        if a.windows { ", tcp_probe" } else { "" },
        match only.is_empty() {
            true => "the whole host, every namespace".into(),
            false => format!("only {}", only.join(", ")),
        }
    )
}

struct Watcher {
    live: Live,
    lost: u64,
    resets: u64,
    /// CLOCK_REALTIME - CLOCK_MONOTONIC, for the wall-clock time of each event.
    offset_ns: i64,
}

impl Watcher {
    /// Takes what the buffer holds now, line by line (a line cut at the end of a
    /// read waits for the rest).
    fn read(
        &mut self,
        pipe: &mut std::fs::File,
        partial: &mut String,
        sink: &mut Sink,
    ) -> Result<()> {
        use std::io::Read;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let k = match pipe.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(k) => k,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("reading trace_pipe"),
            };
            partial.push_str(&String::from_utf8_lossy(&buf[..k]));
            let Some(end) = partial.rfind('\n') else {
                continue;
            };
            let rest = partial.split_off(end + 1);
            for line in partial.lines() {
                self.line(line, sink)?;
            }
            *partial = rest;
        }
    }

    fn line(&mut self, text: &str, sink: &mut Sink) -> Result<()> {
        let Some(l) = parse::line(text) else {
            return Ok(());
        };
        if let Some(r) = self.live.feed(&l) {
            self.resets += 1;
            sink.reset(&r, self.offset_ns)?;
        }
        Ok(())
    }

    /// Says when the buffer lost events since the last look.
    fn check_lost(&mut self, inst: &tracefs::Instance, sink: &mut Sink) -> Result<()> {
        let lost = inst.fill().1;
        if lost > self.lost {
            sink.lost(lost - self.lost, lost)?;
            self.lost = lost;
        }
        Ok(())
    }
}

/// Where the lines go: the human lines to stdout (stderr with `--json -`), JSON lines
/// to the --json destination.
struct Sink {
    human: Stream,
    json: Option<Box<dyn Write>>,
}

impl Sink {
    fn open(a: &WatchArgs) -> Result<Sink> {
        let (human, json): (Stream, Option<Box<dyn Write>>) = match &a.json {
            None => (Stream::Stdout, None),
            Some(p) if p.as_os_str() == "-" => (
                Stream::Stderr,
                Some(Box::new(std::io::BufWriter::new(std::io::stdout()))),
            ),
            Some(p) => (
                Stream::Stdout,
                Some(Box::new(std::io::BufWriter::new(open_new(p)?))),
            ),
        };
        Ok(Sink { human, json })
    }

    fn say(&mut self, text: &str) -> Result<()> {
        self.human.write(text.as_bytes())
    }

    /// One JSON line, written whole; flushed every tick ([`Sink::flush`]).
    fn json(&mut self, v: serde_json::Value) -> Result<()> {
        if let Some(j) = self.json.as_mut() {
            j.write_all(format!("{v}\n").as_bytes()).context("--json")?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if let Some(j) = self.json.as_mut() {
            j.flush().context("--json")?;
        }
        Ok(())
    }

    fn reset(&mut self, r: &Reset, offset_ns: i64) -> Result<()> {
        let at = wall(r.ts_ns, offset_ns);
        self.say(&reset_line(r, &at))?;
        self.json(reset_json(r, &at))
    }

    fn lost(&mut self, now: u64, total: u64) -> Result<()> {
        self.say(&format!(
            "zerowin watch: the ring buffer was full: {now} event(s) lost ({total} in all); resets among them are missing above\n"
        ))?;
        self.json(serde_json::json!({"lost": now, "lost_total": total}))
    }

    fn summary(&mut self, w: &Watcher, took: Duration) -> Result<()> {
        let mut s = format!(
            "zerowin watch: {} reset(s) in {:.1} s; {} event(s) read, {} lost\n",
            w.resets,
            took.as_secs_f64(),
            w.live.events,
            w.lost
        );
        for ((reason, comm), n) in &w.live.summary {
            s.push_str(&format!("  {n:>6}  {reason:<26} {}\n", clean(comm)));
        }
        self.say(&s)?;
        let by: Vec<serde_json::Value> = w
            .live
            .summary
            .iter()
            .map(|((reason, comm), n)| serde_json::json!({"reason": reason, "comm": comm, "resets": n}))
            .collect();
        self.json(serde_json::json!({"summary": {
            "resets": w.resets, "seconds": took.as_secs_f64(), "events": w.live.events,
            "lost": w.lost, "by_reason_and_process": by}}))
    }
}

/// A new file, or a FIFO or device written through; an existing file is refused,
/// never replaced.
fn open_new(p: &std::path::Path) -> Result<std::fs::File> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(p) {
        Ok(m) if m.file_type().is_fifo() || m.file_type().is_char_device() => {
            std::fs::OpenOptions::new().write(true).open(p)
        }
        Ok(_) => bail!("--json {}: it exists; choose a new file", p.display()),
        Err(_) => std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(p),
    }
    .with_context(|| format!("--json {}", p.display()))
}

/// "13:05:01.123456Z", UTC.
fn wall(ts_ns: u64, offset_ns: i64) -> String {
    let ns = (ts_ns as i64 + offset_ns).max(0) as u64;
    let day = (ns / 1_000_000_000) % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:06}Z",
        day / 3600,
        day / 60 % 60,
        day % 60,
        ns % 1_000_000_000 / 1000
    )
}

/// Who sent it: the process in whose call it was sent, or for one sent from an
/// interrupt, the process that owned the connection.
fn who(r: &Reset) -> String {
    match (&r.owner, r.in_softirq) {
        (Some(o), true) => format!(
            "from an interrupt, on the connection of {} (pid {})",
            clean(&o.comm),
            o.tgid
        ),
        (None, true) => format!(
            "from an interrupt (no process known; {}-{} was on the CPU)",
            clean(&r.comm),
            r.pid
        ),
        (_, false) => format!("by {} (pid {})", clean(&r.comm), r.tgid.unwrap_or(r.pid)),
    }
}

fn reset_line(r: &Reset, at: &str) -> String {
    let meaning = r
        .reason
        .map_or("a reason zerowin does not know", |x| x.meaning());
    let to = match r.remote.port() {
        0 => "its listening socket's answer".to_string(),
        _ => format!("→ {}", r.remote),
    };
    let mut s = format!(
        "{at}  RST {} {to}  {}: {} in {}: {meaning}\n",
        r.local,
        who(r),
        r.reason_name,
        r.state
    );
    if let Some((mine, peer)) = &r.windows {
        s.push_str(&window_line("the resetting end", mine, r.ts_ns));
        s.push_str(&window_line("its peer", peer, r.ts_ns));
    }
    s
}

/// "  before it: its peer saw a zero window for 512.3 ms (2 times)".
fn window_line(who: &str, w: &crate::observe::kernel::live::Windows, at_ns: u64) -> String {
    let ms = |ns: u64| at_ns.saturating_sub(ns) as f64 / 1e6;
    match (w.zero_spans, w.zero_since_ns, w.last_open_ns) {
        (0, _, _) => format!("    {who}: no zero window in {} segment(s)\n", w.segments),
        (n, Some(t), _) => format!(
            "    {who}: its peer's window had been zero for {:.1} ms at the reset ({n} zero-window span(s))\n",
            ms(t)
        ),
        (n, None, Some(t)) => format!(
            "    {who}: its peer's window was zero {n} time(s), open again {:.1} ms before the reset\n",
            ms(t)
        ),
        (n, None, None) => format!("    {who}: its peer's window was zero {n} time(s)\n"),
    }
}

fn reset_json(r: &Reset, at: &str) -> serde_json::Value {
    let windows = r.windows.as_ref().map(|(a, b)| {
        let one = |w: &crate::observe::kernel::live::Windows| {
            serde_json::json!({"zero_spans": w.zero_spans, "zero_since_ns": w.zero_since_ns,
                "last_open_ns": w.last_open_ns, "segments": w.segments})
        };
        serde_json::json!({"resetting_end": one(a), "peer": one(b)})
    });
    serde_json::json!({
        "time": at, "mono_ns": r.ts_ns, "src": r.local.to_string(), "dest": r.remote.to_string(),
        "reason": r.reason_name, "state": r.state,
        "meaning": r.reason.map(|x| x.meaning()),
        "pid": r.pid, "tgid": r.tgid, "comm": r.comm, "in_softirq": r.in_softirq,
        "owner": r.owner.as_ref().map(|o| serde_json::json!({"pid": o.tgid, "comm": o.comm})),
        "windows": windows,
    })
}
