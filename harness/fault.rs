//! The fault schedule: the one place where faults live.
//!
//! A scenario lists them as `[[fault]]` tables, each with `at` (time since the start
//! of the client's first connect(), the trial's time zero) and `action`. A thread of
//! the trial applies them on time, and each becomes a [`FaultEvent`] in the record,
//! the explanation and the plot.
//!
//! What each action does:
//! - `kill-sender`: SIGKILL to the sender's process group. The kernel closes its
//!   sockets; a connected client gets an RST when it next sends or reads.
//! - `restart-sender`: starts the sender again, on the same port (its listener has
//!   SO_REUSEADDR) and with the same settings and spool directory.
//! - `kill-client`: an in-process client aborts its connection (SO_LINGER 0, then
//!   close: an RST) and stops; an external client's process group gets SIGKILL. What
//!   the client's application had processed stays processed: it is the application's
//!   state, not the connection's.
//! - `restart-client`: the client connects again (an external program is started
//!   again) and resumes after what it processed.
//! - `pause-client`, `resume-client`: the client stops reading, keeping its
//!   connection (SIGSTOP and SIGCONT for an external client).
//! - `pause-sender`, `resume-sender`: SIGSTOP and SIGCONT to the sender's process group.
//!   The process stops; its kernel keeps answering (ACKs, keepalive probes, window
//!   updates), so the peer sees a live connection that says nothing.
//! - `second-sender`: a second instance of the sender tries to listen on the same port
//!   with the same options: SO_REUSEADDR does not let it, SO_REUSEPORT on both does.
//!
//! - `blackhole` (veth only): the sender's host loses its address ([`Veth::blackhole`]
//!   says why not "link down"). From then on nothing crosses in either direction, and
//!   nothing comes back: the client's packets leave `zwc` and the sender's kernel drops
//!   them silently, no RST and no ICMP, and both kernels go on as if the peer were
//!   merely slow (retransmissions, keepalive probes, zero-window probes, unanswered).
//! - `heal`: the address comes back, with its route and neighbour entry; what is
//!   retransmitted from then on arrives.
//! - `half-dead-client` (veth only): the client's address moves to another one
//!   ([`Veth::move_client_address`] says how): its connection is dead both ways
//!   without a FIN or an RST, while a new connection works.
//! - `silent-connections` (with `count`): that many connections to the sender that
//!   never send a byte, held until the trial ends.
//! - `rate` (veth only, with `direction` and `rate`): tbf on that side's way out is
//!   set to the new rate, as congestion would: packets wait in its queue (100 ms of
//!   it at most; what does not fit is dropped and retransmitted).
//! - `kill-broker-node` (with `node`), `restart-broker-node` (with `node`, or every
//!   killed node without it), `kill-broker-leader`: the scenario's `[broker]`
//!   ([`crate::broker`]). A partition of the sender from the broker is `blackhole` on
//!   veth: the broker runs on the client's side.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender as Tx};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use toml::Spanned;

pub use crate::record::fault::{Action, Bind, FaultEvent};

use crate::limits;
use crate::net::{Direction, Rate, Veth};
use crate::sender::SenderHandle;
use crate::settings::{Keys, ScenarioError, Source};
use crate::sys;

impl Action {
    /// True for the actions on the link between the two (veth only).
    pub fn on_link(self) -> bool {
        matches!(
            self,
            Action::Blackhole | Action::Heal | Action::Rate | Action::HalfDeadClient
        )
    }

    /// True for the actions that start a sender process (their bind() is recorded).
    pub fn starts_sender(self) -> bool {
        matches!(self, Action::RestartSender | Action::SecondSender)
    }

    /// True for the actions on the scenario's broker.
    pub fn on_broker(self) -> bool {
        matches!(
            self,
            Action::KillBrokerNode | Action::RestartBrokerNode | Action::KillBrokerLeader
        )
    }

    /// True for the actions the client itself carries out.
    pub fn on_client(self) -> bool {
        !self.on_link()
            && !self.on_broker()
            && !matches!(
                self,
                Action::KillSender
                    | Action::RestartSender
                    | Action::SecondSender
                    | Action::PauseSender
                    | Action::ResumeSender
                    | Action::SilentConnections
            )
    }

    /// The action that must come before this one, and the one that undoes it.
    fn pairs() -> [(Action, Action); 5] {
        [
            (Action::Blackhole, Action::Heal),
            (Action::KillSender, Action::RestartSender),
            (Action::KillClient, Action::RestartClient),
            (Action::PauseClient, Action::ResumeClient),
            (Action::PauseSender, Action::ResumeSender),
        ]
    }
}

/// One scheduled fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `strategy`: a client fault for this strategy only (a sweep's cell of another
    /// strategy runs without it); None: every strategy.
    pub strategy: Option<String>,
    pub at: Duration,
    pub action: Action,
    /// `rate`: which way, and the new rate.
    pub rate: Option<(Direction, Rate)>,
    /// `silent-connections`: how many.
    pub count: Option<u32>,
    /// `kill-broker-node`, `restart-broker-node`: which node (1-based).
    pub node: Option<u32>,
    /// Its line in the scenario file, for errors found later.
    pub line: usize,
}

/// A scenario's faults, in time order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    pub faults: Vec<Fault>,
}

type Table = BTreeMap<String, Spanned<toml::Value>>;

impl Schedule {
    /// Reads the `[[fault]]` tables. Each undo (restart, resume) must follow its fault,
    /// and a fault cannot come twice before its undo.
    pub fn read(src: Source, tables: Vec<Table>) -> Result<Schedule, ScenarioError> {
        let mut faults = Vec::new();
        let mut lines = Vec::new();
        for t in tables {
            let line = t.values().map(|v| v.span().start).min().unwrap_or(0);
            let mut keys = Keys::new(src, "fault", t);
            let Some(action) = keys.parse::<Action>("action")? else {
                return Err(keys.invalid("action", "is required"));
            };
            let Some(at) = keys.duration("at", limits::FAULT_AT)? else {
                return Err(keys.invalid("at", "is required"));
            };
            let rate = match action {
                Action::Rate => Some(read_rate(&mut keys)?),
                _ => None,
            };
            let count = match action {
                Action::SilentConnections => Some(read_count(&mut keys)?),
                _ => None,
            };
            let node = read_node(&mut keys, action)?;
            let strategy = match action.on_client() {
                true => keys.string("strategy")?,
                false => None,
            };
            keys.finish(
                &format!("a `{}` fault", action.as_str()),
                match action {
                    Action::Rate => &["at", "action", "direction", "rate"],
                    Action::SilentConnections => &["at", "action", "count"],
                    Action::KillBrokerNode | Action::RestartBrokerNode => &["at", "action", "node"],
                    a if a.on_client() => &["at", "action", "strategy"],
                    _ => &["at", "action"],
                },
            )?;
            faults.push(Fault {
                strategy,
                at,
                action,
                rate,
                count,
                node,
                line: src.line_of(line),
            });
            lines.push(line);
        }
        let mut order: Vec<usize> = (0..faults.len()).collect();
        order.sort_by_key(|&i| faults[i].at);
        for (fault, undo) in Action::pairs() {
            let mut on = false;
            for &i in &order {
                let a = faults[i].action;
                let bad = (a == fault && on)
                    .then_some("comes again before")
                    .or((a == undo && !on).then_some("has no earlier"));
                if let Some(why) = bad {
                    let other = if a == fault { undo } else { fault };
                    return Err(src.err(
                        lines[i]..lines[i],
                        "fault.action",
                        format!(
                            "`{}` at {:?} {why} `{}`",
                            a.as_str(),
                            faults[i].at,
                            other.as_str()
                        ),
                    ));
                }
                on = a == fault || (on && a != undo);
            }
        }
        let faults = order.into_iter().map(|i| faults[i].clone()).collect();
        Ok(Schedule { faults })
    }

    /// The schedule of a client of strategy `name`: without the client faults meant
    /// for another strategy.
    pub fn for_strategy(mut self, name: &str) -> Schedule {
        self.faults
            .retain(|f| f.strategy.as_deref().is_none_or(|s| s == name));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }

    /// True when some fault is the client's to carry out.
    pub fn has_client_faults(&self) -> bool {
        self.faults.iter().any(|f| f.action.on_client())
    }
}

/// A `rate` fault's `direction` and `rate`, both required.
fn read_rate(keys: &mut Keys) -> Result<(Direction, Rate), ScenarioError> {
    let dir = keys.parse::<Direction>("direction")?;
    let rate = keys.parse::<Rate>("rate")?;
    match (dir, rate) {
        (Some(d), Some(r)) => Ok((d, r)),
        (None, _) => Err(keys.invalid("direction", "is required: sender or client")),
        (_, None) => Err(keys.invalid("rate", "is required, as tc writes it: \"10mbit\"")),
    }
}

/// A broker node's number: required to kill one, optional to restart (every killed
/// one without it).
fn read_node(keys: &mut Keys, action: Action) -> Result<Option<u32>, ScenarioError> {
    if !matches!(action, Action::KillBrokerNode | Action::RestartBrokerNode) {
        return Ok(None);
    }
    let n = keys.int("node", limits::Int::new(1, 3))?.map(|n| n as u32);
    if n.is_none() && action == Action::KillBrokerNode {
        return Err(keys.invalid("node", "is required: which broker node, 1 to 3"));
    }
    Ok(n)
}

/// A `silent-connections` fault's `count`, required.
fn read_count(keys: &mut Keys) -> Result<u32, ScenarioError> {
    match keys.int("count", limits::Int::new(1, 10_000))? {
        Some(n) => Ok(n as u32),
        None => Err(keys.invalid("count", "is required: how many connections")),
    }
}

/// What the client should be doing, as the schedule says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    Running,
    Paused,
    Killed,
}

/// Shared between the fault thread and the client: the state the client obeys.
#[derive(Debug)]
pub struct ClientControl(AtomicU8);

impl Default for ClientControl {
    fn default() -> Self {
        ClientControl(AtomicU8::new(0))
    }
}

impl ClientControl {
    pub fn state(&self) -> ClientState {
        match self.0.load(Ordering::Acquire) {
            1 => ClientState::Paused,
            2 => ClientState::Killed,
            _ => ClientState::Running,
        }
    }

    fn set(&self, s: ClientState) {
        let v = match s {
            ClientState::Running => 0,
            ClientState::Paused => 1,
            ClientState::Killed => 2,
        };
        self.0.store(v, Ordering::Release);
    }
}

/// The thread that applies a schedule during one trial.
///
/// A sender it restarts is its child: PR_SET_PDEATHSIG ties a child to the *thread*
/// that spawned it (see [`crate::process::Group`]), so the thread lives on after its
/// last fault, until [`Runner::finish`], which comes after the sender was stopped.
pub struct Runner {
    halt: Tx<()>,
    release: Tx<()>,
    thread: JoinHandle<Vec<FaultEvent>>,
}

impl Runner {
    /// Starts applying `schedule` once `zero` says when time zero was (CLOCK_MONOTONIC
    /// ns); the sender and the client control are what the faults act on.
    pub fn start(schedule: &Schedule, targets: Targets, zero: Receiver<u64>) -> Runner {
        let (halt, stopped) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let faults = schedule.faults.clone();
        let thread = std::thread::spawn(move || {
            let events = apply_all(&faults, &targets, &zero, &stopped);
            let _ = released.recv();
            events
        });
        Runner {
            halt,
            release,
            thread,
        }
    }

    /// Applies no more faults: the client is done.
    pub fn halt(&self) {
        let _ = self.halt.send(());
    }

    /// Returns what was done; call it after the sender was stopped.
    pub fn finish(self) -> Vec<FaultEvent> {
        let _ = self.halt.send(());
        let _ = self.release.send(());
        self.thread.join().unwrap_or_default()
    }
}

/// What the faults act on.
pub struct Targets {
    pub sender: Arc<Mutex<Box<dyn SenderHandle>>>,
    pub client: Arc<ClientControl>,
    /// The veth pair, when the trial has one.
    pub link: Option<Arc<Veth>>,
    /// The connections a `silent-connections` fault holds, to the end of the trial.
    pub held: Mutex<Vec<std::net::TcpStream>>,
    /// The scenario's broker, when it has one.
    pub broker: Option<Arc<crate::broker::Broker>>,
}

impl Targets {
    /// Sockets in TIME_WAIT on the sender's port, counted in the sender's namespace.
    fn time_wait(&self) -> Option<u32> {
        let port = self.sender.lock().ok()?.addr().port();
        crate::net::in_sender_ns(self.link.as_deref(), || {
            crate::sys::netns::time_wait_on_port(port)
        })
        .ok()
    }
}

/// Applies each fault on time, until the last or until halted.
fn apply_all(
    faults: &[Fault],
    targets: &Targets,
    zero: &Receiver<u64>,
    stopped: &Receiver<()>,
) -> Vec<FaultEvent> {
    let mut events = Vec::new();
    let Some(zero_ns) = wait_for_zero(zero, stopped) else {
        return events;
    };
    let zero_at =
        Instant::now() - Duration::from_nanos(sys::monotonic_ns().saturating_sub(zero_ns));
    for f in faults {
        let left = (zero_at + f.at).saturating_duration_since(Instant::now());
        if !matches!(stopped.recv_timeout(left), Err(RecvTimeoutError::Timeout)) {
            break;
        }
        let time_wait = f
            .action
            .starts_sender()
            .then(|| targets.time_wait())
            .flatten();
        let result = match f.action.on_broker() {
            true => on_broker(f, targets),
            false => apply(f, targets).map(|()| None),
        };
        let said = result.as_ref().ok().cloned().flatten();
        let bind = f.action.starts_sender().then(|| match &result {
            Ok(_) => Bind::Ok,
            Err(e) => e
                .downcast_ref::<crate::sender::handle::BindFailed>()
                .map_or(Bind::Failed, |b| {
                    Bind::Errno(crate::sys::errno_name(b.errno))
                }),
        });
        events.push(FaultEvent {
            action: f.action,
            planned_us: f.at.as_micros() as u64,
            at_us: zero_at.elapsed().as_micros() as i64,
            error: result.err().map(|e| format!("{e:#}")),
            bind,
            time_wait,
            detail: f
                .rate
                .map(|(d, r)| format!("{} {r}", d.as_str()))
                .or(f.count.map(|n| format!("{n} connections")))
                .or(said),
        });
    }
    events
}

/// A connection to the sender that says nothing: connect() bounded, then left open.
fn silent_connection(addr: std::net::SocketAddr) -> anyhow::Result<std::net::TcpStream> {
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| anyhow::anyhow!("a silent connection to {addr}: {e}"))
}

/// Waits for time zero, or for the trial to end first.
fn wait_for_zero(zero: &Receiver<u64>, stopped: &Receiver<()>) -> Option<u64> {
    loop {
        match zero.recv_timeout(Duration::from_millis(5)) {
            Ok(ns) => return Some(ns),
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if !matches!(stopped.try_recv(), Err(mpsc::TryRecvError::Empty)) {
            return None;
        }
    }
}

/// A fault on the broker; what it did (which node it killed).
fn on_broker(f: &Fault, targets: &Targets) -> anyhow::Result<Option<String>> {
    let b = targets
        .broker
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("the scenario has no [broker]"))?;
    let node = f.node.map(|n| n as usize);
    let said = match f.action {
        Action::KillBrokerNode => b.kill(node.expect("read with its node"))?,
        Action::RestartBrokerNode => b.restart(node)?,
        _ => b.kill_leader()?,
    };
    Ok(Some(said))
}

fn apply(f: &Fault, targets: &Targets) -> anyhow::Result<()> {
    let sender = || {
        targets
            .sender
            .lock()
            .map_err(|_| anyhow::anyhow!("the sender's lock is poisoned"))
    };
    let client = &targets.client;
    let link = || {
        targets
            .link
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("there is no link: the topology is loopback"))
    };
    match f.action {
        Action::Blackhole => link()?.blackhole(),
        Action::Heal => link()?.heal(),
        Action::HalfDeadClient => link()?.move_client_address(),
        Action::Rate => {
            let (d, r) = f.rate.expect("read with its rate");
            link()?.set_rate(d, r)
        }
        Action::KillSender => sender()?.kill(),
        Action::RestartSender => sender()?.restart(),
        Action::SecondSender => sender()?.start_second(),
        Action::PauseSender => sender()?.signal(nix::sys::signal::Signal::SIGSTOP),
        Action::ResumeSender => sender()?.signal(nix::sys::signal::Signal::SIGCONT),
        Action::SilentConnections => {
            let addr = sender()?.addr();
            let n = f.count.expect("read with its count");
            let mut held = targets
                .held
                .lock()
                .map_err(|_| anyhow::anyhow!("the held connections' lock is poisoned"))?;
            for _ in 0..n {
                held.push(silent_connection(addr)?);
            }
            Ok(())
        }
        Action::KillClient => {
            client.set(ClientState::Killed);
            Ok(())
        }
        Action::PauseClient => {
            client.set(ClientState::Paused);
            Ok(())
        }
        Action::RestartClient | Action::ResumeClient => {
            client.set(ClientState::Running);
            Ok(())
        }
        Action::KillBrokerNode | Action::RestartBrokerNode | Action::KillBrokerLeader => {
            on_broker(f, targets).map(drop)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn read(text: &str) -> Result<Schedule, ScenarioError> {
        #[derive(serde::Deserialize)]
        struct Raw {
            fault: Vec<Table>,
        }
        let raw: Raw = toml::from_str(text).unwrap();
        let src = Source {
            path: Path::new("x.toml"),
            text,
        };
        Schedule::read(src, raw.fault)
    }

    #[test]
    fn faults_are_read_in_time_order() {
        let s = read(
            "[[fault]]\nat = \"2s\"\naction = \"restart-sender\"\n[[fault]]\nat = \"1s\"\naction = \"kill-sender\"\n",
        )
        .unwrap();
        let got: Vec<(u64, Action)> = s
            .faults
            .iter()
            .map(|f| (f.at.as_secs(), f.action))
            .collect();
        assert_eq!(got, [(1, Action::KillSender), (2, Action::RestartSender)]);
        assert!(!s.has_client_faults());
    }

    #[test]
    fn bad_faults_name_their_line_and_key() {
        let e = read("[[fault]]\nat = \"1s\"\naction = \"explode\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("x.toml:3: fault.action: unknown action `explode`"),
            "{e}"
        );
        let e = read("[[fault]]\naction = \"kill-client\"\n").unwrap_err();
        assert!(e.to_string().contains("fault.at: is required"), "{e}");
        let e = read("[[fault]]\nat = \"1s\"\naction = \"kill-sender\"\nwhen = 3\n").unwrap_err();
        assert!(e.to_string().contains("fault.when: unknown key"), "{e}");
        let e = read("[[fault]]\nat = \"1s\"\naction = \"restart-client\"\n").unwrap_err();
        assert!(
            e.to_string().contains("has no earlier `kill-client`"),
            "{e}"
        );
        let e = read(
            "[[fault]]\nat = \"1s\"\naction = \"pause-client\"\n[[fault]]\nat = \"2s\"\naction = \"pause-client\"\n",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("comes again before `resume-client`"),
            "{e}"
        );
    }
}
