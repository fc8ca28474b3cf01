//! Observing a trial: where it ran ([`isolation`]), the kernel's counters
//! ([`counters`]), the TCP_INFO timeline of both ends ([`timeline`]) and the packets on
//! the wire ([`capture`], analysed in [`wire`]). Observers watch; they never change
//! what the client or the sender do, beyond the CPU time they take.

pub mod capture;
pub mod counters;
pub mod isolation;
pub mod timeline;
pub mod wire;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use isolation::IsolationMode;

/// What to observe, from the command line.
#[derive(Debug, Clone)]
pub struct ObserveOptions {
    pub isolation: IsolationMode,
    /// Overrides the scenario's `run.sample`; `Some(None)` turns sampling off.
    pub sample: Option<Option<Duration>>,
    /// Capture packets (in memory) and analyse them.
    pub capture: bool,
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
            capture: true,
            pcap_dir: None,
            plot_dir: None,
        }
    }
}

/// The events of a trial on one axis: microseconds since time zero (the SYN), from
/// CLOCK_MONOTONIC in both processes and the kernel's packet timestamps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Events {
    /// First zero window: from the capture when there is one, else from the samples.
    pub first_zero_window_us: Option<i64>,
    /// The sender's failed send() (its send queue was full when errno is EAGAIN).
    pub sender_send_failed_us: Option<i64>,
    /// The start of the sender's close.
    pub sender_close_us: Option<i64>,
    /// The first RST on the wire.
    pub rst_us: Option<i64>,
    /// The client's first error (or EOF).
    pub client_first_error_us: Option<i64>,
    /// The last segment from the sender on the wire (what keepalive counts idle from).
    /// Not in [`Events::ordered`]: in most trials it is the RST or the FIN; the plot and
    /// the explanation show it where keep-alive probes were sent.
    pub last_from_sender_us: Option<i64>,
}

impl Events {
    /// The events that happened, in time order, as (name, µs).
    pub fn ordered(&self) -> Vec<(&'static str, i64)> {
        let mut v: Vec<(&'static str, i64)> = [
            ("first zero window", self.first_zero_window_us),
            ("sender send() failed", self.sender_send_failed_us),
            ("sender close", self.sender_close_us),
            ("RST", self.rst_us),
            ("client first error", self.client_first_error_us),
        ]
        .into_iter()
        .filter_map(|(n, t)| t.map(|t| (n, t)))
        .collect();
        v.sort_by_key(|(_, t)| *t);
        v
    }
}

/// The outcome of an external client, from the wire: an RST from the sender is a
/// reset, a FIN from the sender an EOF; an RST from the client after keep-alive
/// probes nothing answered is its kernel's keepalive giving up (timed-out); with none
/// of these, a program still running at the end of the duration survived, and one
/// that ended by itself is an error. Returns
/// the outcome, the time of the deciding segment (µs after the client's SYN), and why.
pub fn classify_external(
    ending: &crate::record::Ending,
    wire: &wire::Wire,
) -> (crate::record::Outcome, Option<u64>, String) {
    use crate::record::{Ending, Outcome};
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
    if let Some(t) = wire.first_rst_from_sender_ns {
        return (
            Outcome::Reset,
            Some(after(t)),
            format!(
                "the sender sent it an RST at {:.2} ms",
                after(t) as f64 / 1000.0
            ),
        );
    }
    if let Some(t) = wire.first_fin_from_sender_ns {
        return (
            Outcome::Eof,
            Some(after(t)),
            format!(
                "the sender closed with a FIN at {:.2} ms and sent no RST",
                after(t) as f64 / 1000.0
            ),
        );
    }
    if let Some(t) = wire
        .first_rst_from_client_ns
        .filter(|_| wire.unanswered_keep_alives > 0)
    {
        return (
            Outcome::TimedOut,
            Some(after(t)),
            format!(
                "its kernel sent {} keep-alive probes that nothing answered, then gave up and reset the connection at {:.2} ms",
                wire.unanswered_keep_alives,
                after(t) as f64 / 1000.0
            ),
        );
    }
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

/// Everything observed about a trial.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub isolation: isolation::Isolation,
    /// The veth pair the trial ran on; None on loopback.
    pub link: Option<crate::net::LinkInfo>,
    /// Counter deltas (None if /proc could not be read). On veth, the sum of both
    /// kernels, which is what one shared kernel would have counted.
    pub counters: Option<counters::Counters>,
    /// On veth, each kernel's own counters.
    pub kernels: Option<counters::Kernels>,
    /// The TCP_INFO timeline (None when sampling is off).
    pub timeline: Option<timeline::Timeline>,
    /// The capture's analysis (None when capture is off).
    pub wire: Option<wire::Wire>,
    /// The pcap file written, if any.
    pub pcap_file: Option<PathBuf>,
    /// The SVG plot written, if any.
    pub plot_file: Option<PathBuf>,
    pub events: Events,
    /// What could not be observed, and why.
    pub notes: Vec<String>,
}
