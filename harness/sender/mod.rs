//! Senders: the servers a client strategy is tested against. Each kind lives in its
//! own module behind [`Sender`]; [`by_name`] is the one place a name picks one. A
//! sender owns its `[sender]` keys: it reads and checks them ([`Sender::configure`])
//! and turns them into the arguments of `zerowin serve`, which is how every sender
//! runs: as a child process of its own, so that killing it is real.
//! A started sender is a [`SenderHandle`]: the address it listens on, what it said,
//! and the faults a trial may apply to it (kill, restart).

pub use crate::record::sender::ClosePolicy;

pub mod external;
pub mod framed;
pub mod handle;
pub mod lines;
pub mod original;
pub mod patient;
pub mod spool;
pub mod trickle;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use self::framed::schedule::Pace;
pub use self::handle::SenderHandle;
use crate::record::{SenderSummary, TrialRecord};
use crate::settings::{Keys, ScenarioError};

/// A server to test clients against.
pub trait Sender: Send + Sync {
    /// The name scenario files use in `[sender] kind`.
    fn name(&self) -> &'static str;
    /// One line for `zerowin list`.
    fn summary(&self) -> &'static str;
    /// Its `[sender]` keys besides `kind`, each with one line of help for `list`.
    fn keys(&self) -> Vec<(&'static str, &'static str)>;
    /// The names of its keys.
    fn key_names(&self) -> Vec<&'static str> {
        self.keys().into_iter().map(|k| k.0).collect()
    }
    /// Reads and checks its keys; what it returns starts it.
    fn configure(&self, keys: &mut Keys) -> Result<SenderSetup, ScenarioError>;
    /// True when it speaks the framed protocol ([`crate::protocol`]): its clients must too.
    fn framed(&self) -> bool {
        false
    }
    /// True when its messages are counted by the client alone (a server of yours, with
    /// a client program that prints `zerowin-processed` lines): `expect.lost`,
    /// `duplicates` and `reordered` apply.
    fn counted_by_client(&self) -> bool {
        false
    }
    /// True when its memory is sampled (`expect.min_rss_growth` applies).
    fn samples_memory(&self) -> bool {
        false
    }
    /// True when it keeps a spool (`expect.max_spool_bytes` applies).
    fn has_spool(&self) -> bool {
        false
    }
    /// Its part of a trial's explanation, from its summary: what it sent, how it
    /// failed or why its connection ended, and how it closed.
    fn explain(&self, r: &TrialRecord, s: &SenderSummary) -> String;
    /// Its part of the explanation when it printed no summary (a program of the
    /// user's never does).
    fn explain_without_summary(&self, _r: &TrialRecord) -> String {
        "the sender printed no summary before it was stopped: its send() had not failed by then"
            .into()
    }
    /// The trial table's sender column without a summary.
    fn cell_without_summary(&self, _r: &TrialRecord) -> String {
        "no summary".into()
    }
    /// The trial table's sender column.
    fn table_cell(&self, r: &TrialRecord, s: &SenderSummary) -> String {
        let at = r.sender_close_at_us.map_or("?".into(), crate::words::ms);
        match s.errno {
            0 => format!("no failure; closed at {at}"),
            _ => format!("{}; close at {at}", s.errno_name),
        }
    }
    /// Starts it for a trial. zerowin's own senders run as `zerowin serve` and say
    /// what they did in `zerowin-*` lines; a kind that runs another program starts it
    /// its own way, with a handle that learns what it can from outside.
    fn start(&self, config: &SenderConfig) -> Result<Box<dyn SenderHandle>> {
        start_own(config)
    }
    /// Runs it in this process (`zerowin serve --sender NAME --set KEY=VALUE ...`),
    /// listening on `bind:port`, until it is killed; returns its exit code.
    fn serve(&self, port: u16, bind: &str, set: &[String]) -> Result<i32>;
}

/// A configured sender: how to start it, and how the report names it.
#[derive(Debug, Clone, PartialEq)]
pub struct SenderSetup {
    /// The arguments of `zerowin serve` (after `serve`) that run it with these settings;
    /// `--port` and `--bind` are added when it starts.
    pub args: Vec<String>,
    /// One line for the report: "original (close); sndbuf 4096".
    pub describe: String,
    /// What the record calls its close policy.
    pub policy: String,
    /// A key that needs a fresh directory per trial (the spool's `spool_dir`, when the
    /// scenario names none): the trial makes one, passes it as `--set KEY=DIR`, keeps
    /// it across restarts of the sender, and removes it afterwards.
    pub scratch_dir: Option<&'static str>,
    /// What the model of the failure (`analysis::model`) may assume about it.
    pub load: Load,
    /// Its producer's phases and rate, for the backlog model and for rates of the
    /// capacity; None for a sender that is not paced so (trickle).
    pub pace: Option<Pace>,
    /// The most messages it keeps for a client that falls behind (its queue or its
    /// spool), for the backlog model; None without a bound the model knows.
    pub store_messages: Option<u64>,
    /// What only this kind reads back when it starts (an external program's command
    /// and readiness); zerowin's own senders carry theirs in `args`.
    pub own: crate::settings::Own,
    /// Its store is a broker it was given no address of (`store = "jetstream"`
    /// without `nats_url`): a scenario's `[broker]` starts one per trial.
    pub wants_broker: bool,
    /// How long it may take to print its summary once its client is gone: it may be
    /// in a call to its store when the connection closes.
    pub summary_wait: std::time::Duration,
}

/// How long a sender has to print its summary after its client is done: it prints
/// it right after its close(), which the client's error already followed.
pub const SUMMARY_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl SenderSetup {
    /// A rate is a multiple of the client's capacity ("0.5C"): the harness measures
    /// C and calls [`at_capacity`] before the trials.
    pub fn of_capacity(&self) -> bool {
        self.pace.as_ref().is_some_and(Pace::unresolved)
    }
}

/// The sender configured again with its rates of the capacity ("0.5C", a phase's
/// "1s 3C") at `c` messages a second: its own keys, read back from its arguments,
/// with its pace resolved, and checked as a scenario's are.
pub fn at_capacity(
    sender: &dyn Sender,
    setup: &SenderSetup,
    c: f64,
) -> Result<SenderSetup, ScenarioError> {
    let Some(pace) = &setup.pace else {
        return Ok(setup.clone());
    };
    let pace_key = |p: &str| p.starts_with("rate=") || p.starts_with("phases=");
    let pairs: Vec<String> = setup
        .args
        .windows(2)
        .filter(|w| w[0] == "--set" && !pace_key(&w[1]))
        .map(|w| w[1].clone())
        .chain(pace.at_capacity(c).to_pairs())
        .collect();
    let at = format!("the sender at the measured capacity C = {c:.0}/s");
    let mut keys = Keys::from_pairs(std::path::Path::new(&at), "sender", &pairs)?;
    sender.configure(&mut keys)
}

/// What a sender offers the connection, as far as the model of the failure can use
/// it. Each sender says this of its own settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// The original sender: writes as fast as it can (`rate` None) or `rate` messages
    /// a second, and resets the connection when its send buffer fills (the 2014
    /// failure). The calibration runs rebuild it from these.
    ClosesWhenFull {
        rate: Option<f64>,
        sndbuf: Option<usize>,
        policy: ClosePolicy,
    },
    /// The model does not cover it; the text says why.
    NotModelled(&'static str),
}

/// Every sender kind, in the order `list` shows them: adding one is a module and a
/// line here.
pub const SENDERS: &[&dyn Sender] = &[
    &original::Original,
    &patient::Patient,
    &spool::Spool,
    &trickle::Trickle,
    &external::External,
];

/// Every sender kind, in the order `list` shows them.
pub fn all() -> impl Iterator<Item = &'static dyn Sender> {
    SENDERS.iter().copied()
}

/// The sender a scenario without `[sender] kind` runs: the 2014 one.
pub fn default_kind() -> &'static dyn Sender {
    SENDERS[0]
}

/// The sender kind with this name.
pub fn by_name(name: &str) -> Option<&'static dyn Sender> {
    all().find(|s| s.name() == name)
}

/// The sender kinds' names, comma-separated, for error messages.
pub fn names() -> String {
    all().map(|s| s.name()).collect::<Vec<_>>().join(", ")
}

/// How to start a sender.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// The zerowin executable that runs every sender (`zerowin serve`).
    pub exe: PathBuf,
    /// The address to listen on, with port 0.
    pub bind: IpAddr,
    /// How long the sender may take to print its port.
    pub start_timeout: Duration,
    /// What its own keys made of it.
    pub setup: SenderSetup,
    /// The network namespace to run it in (the veth topology's sender side); None:
    /// the trial's own.
    pub netns: Option<std::sync::Arc<crate::sys::netns::Netns>>,
    /// The trial's own folder (`{tmp}`), shared with its helpers; None: a kind that
    /// needs one makes its own.
    pub tmp: Option<std::sync::Arc<crate::scratch::Scratch>>,
    /// The trial's broker (`[broker]`), given to the sender as `--set nats_url=...`.
    pub nats_url: Option<String>,
}

/// Starts one of zerowin's own senders as `zerowin serve --port 0 --bind ADDR ARGS`,
/// in a process group of its own, and waits until it listens (its `zerowin-port`
/// line). Its handle restarts it on the same port and with the same scratch
/// directory, and reads its `zerowin-*` lines ([`lines`]).
pub fn start_own(config: &SenderConfig) -> Result<Box<dyn SenderHandle>> {
    Ok(Box::new(handle::ChildSender::start(config)?))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_policies_round_trip() {
        for p in ClosePolicy::ALL {
            assert_eq!(p.as_str().parse::<ClosePolicy>().unwrap(), p);
        }
        assert!(
            "lingerzero"
                .parse::<ClosePolicy>()
                .unwrap_err()
                .contains("lingerzero")
        );
    }

    #[test]
    fn every_sender_is_found_by_its_name() {
        assert_eq!(by_name("original").unwrap().name(), "original");
        assert!(by_name("nope").is_none());
    }
}
