//! Observing a trial: where it ran ([`isolation`]), the kernel's counters
//! ([`counters`]), the TCP_INFO timeline of both ends ([`timeline`]) and the packets on
//! the wire ([`capture`], analysed in [`wire`]). Observers watch; they never change
//! what the client or the sender do, beyond the CPU time they take.

pub mod capture;
pub mod counters;
pub mod isolation;
pub mod kernel;
pub mod rss;
pub mod timeline;
pub mod wire;

use std::time::Duration;

pub use crate::record::observation::{Events, Observation};
pub use isolation::IsolationMode;

use crate::record::{Ending, Outcome};

/// What to observe, from the command line.
#[derive(Debug, Clone)]
pub struct ObserveOptions {
    pub isolation: IsolationMode,
    /// Overrides the scenario's `run.sample`; `Some(None)` turns sampling off.
    pub sample: Option<Option<Duration>>,
    /// Capture packets (in memory) and analyse them: Some(true) for every trial
    /// (`--capture`), Some(false) for none (`--no-capture`), None where the scenario
    /// asks for it (`[observe] capture`).
    pub capture: Option<bool>,
    /// The kernel's tracepoints.
    pub kernel: kernel::KernelEvents,
    /// Also write one pcap per trial here: this run's own sub-directory of `--pcap`.
    pub pcap_dir: Option<crate::artifacts::OutDir>,
    /// Draw one SVG per trial here (needs sampling).
    pub plot_dir: Option<crate::artifacts::OutDir>,
}

impl Default for ObserveOptions {
    fn default() -> Self {
        ObserveOptions {
            isolation: IsolationMode::Auto,
            sample: None,
            capture: None,
            kernel: kernel::KernelEvents::new(true, false),
            pcap_dir: None,
            plot_dir: None,
        }
    }
}

/// The outcome of an external client, from the wire: an RST from the sender is a
/// reset, a FIN from the sender an EOF; an RST from the client after keep-alive
/// probes nothing answered is its kernel's keepalive giving up (timed-out); with none
/// of these, a program still running at the end of the duration survived, and one
/// that ended by itself is an error. Returns
/// the outcome, the time of the deciding segment (µs after the client's SYN), and why.
pub fn classify_external(ending: &Ending, wire: &wire::Wire) -> (Outcome, Option<u64>, String) {
    let zero = wire.client_syn_ns.unwrap_or(0);
    let after = |t: u64| t.saturating_sub(zero) / 1000;
    let (stopped_at_end, timed_out, status) = match ending {
        Ending::Exited {
            stopped_at_end,
            timed_out,
            status,
            ..
        } => (*stopped_at_end, *timed_out, status.as_str()),
        _ => (false, false, "ended"),
    };
    if wire.client_syn_ns.is_none() {
        return (
            if timed_out {
                Outcome::Hung
            } else {
                Outcome::Error
            },
            None,
            format!("it never connected (no SYN on the wire); it {status}"),
        );
    }
    if let Some(verdict) = from_the_wire(wire, &after) {
        return verdict;
    }
    by_the_program(stopped_at_end, timed_out, status)
}

/// An RST or a FIN from the sender, or the client's keepalive giving up.
fn from_the_wire(
    wire: &wire::Wire,
    after: &dyn Fn(u64) -> u64,
) -> Option<(Outcome, Option<u64>, String)> {
    if let Some(t) = wire.first_rst_from_sender_ns {
        return Some((
            Outcome::Reset,
            Some(after(t)),
            format!(
                "the sender sent it an RST at {:.2} ms",
                after(t) as f64 / 1000.0
            ),
        ));
    }
    // A FIN that answers the client's own close (zerowin stops it at the end of the
    // run) is not the sender ending the connection.
    if let Some(t) = wire.first_close_from_sender_ns {
        return Some((
            Outcome::Eof,
            Some(after(t)),
            format!(
                "the sender closed with a FIN at {:.2} ms and sent no RST",
                after(t) as f64 / 1000.0
            ),
        ));
    }
    if let Some(t) = wire
        .first_rst_from_client_ns
        .filter(|_| wire.unanswered_keep_alives > 0)
    {
        return Some((
            Outcome::TimedOut,
            Some(after(t)),
            format!(
                "its kernel sent {} keep-alive probes that nothing answered, then gave up and reset the connection at {:.2} ms",
                wire.unanswered_keep_alives,
                after(t) as f64 / 1000.0
            ),
        ));
    }
    None
}

/// Nothing on the wire decided it: how the program ended does.
fn by_the_program(
    stopped_at_end: bool,
    timed_out: bool,
    status: &str,
) -> (Outcome, Option<u64>, String) {
    if timed_out {
        return (
            Outcome::Hung,
            None,
            "it was still running at the deadline".into(),
        );
    }
    if stopped_at_end {
        return (
            Outcome::Survived,
            None,
            "it ran for the whole duration with no RST or FIN from the sender".into(),
        );
    }
    (
        Outcome::Error,
        None,
        format!("it {status} before the end, with no RST or FIN from the sender"),
    )
}
