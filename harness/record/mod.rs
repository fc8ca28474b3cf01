//! What a trial leaves behind: the outcome classes, the client's and the sender's
//! records, and the classification that turns them into one [`Outcome`].
//! Nothing here runs or observes anything; `trial` fills these in and `report` reads them.

use std::fmt;

use serde::Serialize;

use crate::names::names;
use crate::sys::errno_name;

pub mod fault;
pub mod kernel;
pub mod observation;
pub mod program;
pub mod sender;

pub use fault::FaultEvent;
pub use observation::Observation;
pub use sender::{SenderMessages, SenderReport, SenderSummary, SpoolCounts};

/// Length of the sender's message, "Hello World!\0".
pub const MESSAGE_LEN: u64 = 13;

names! {
    /// How a trial ended, from the client's side.
    pub enum Outcome ("outcome") {
        /// ECONNRESET came first: the peer's kernel answered with an RST.
        Reset => "reset",
        /// EPIPE came first: the connection was already shut for sending.
        BrokenPipe => "broken-pipe",
        /// ENOTCONN came first.
        NotConnected => "not-connected",
        /// The peer closed cleanly: recv() returned 0.
        Eof => "eof",
        /// The full duration passed with no failure.
        Survived => "survived",
        /// The client's own per-call timeout fired: SO_RCVTIMEO/SO_SNDTIMEO ran out (EAGAIN
        /// on a blocking socket), a poll waited its timeout, or the connect timeout passed.
        CallTimeout => "call-timeout",
        /// The kernel gave ETIMEDOUT: keepalive, TCP_USER_TIMEOUT, or the retransmission
        /// limit gave up on the peer.
        TimedOut => "timed-out",
        /// The harness's deadline passed with the client still waiting: what a client
        /// without any timeout does.
        Hung => "hung",
        /// ECONNREFUSED: nothing listens there.
        Refused => "refused",
        /// EHOSTUNREACH or ENETUNREACH: no route to the peer.
        Unreachable => "unreachable",
        /// Anything else.
        Error => "error",
    }
}

impl Outcome {
    /// The outcome class of a first failing call's errno.
    pub fn from_errno(errno: i32) -> Outcome {
        match errno {
            libc::ECONNRESET => Outcome::Reset,
            libc::EPIPE => Outcome::BrokenPipe,
            libc::ENOTCONN => Outcome::NotConnected,
            // The kernel gave up: retransmissions (tcp_retries2), keepalive probes, or
            // TCP_USER_TIMEOUT.
            libc::ETIMEDOUT => Outcome::TimedOut,
            libc::ECONNREFUSED => Outcome::Refused,
            libc::EHOSTUNREACH | libc::ENETUNREACH => Outcome::Unreachable,
            // EAGAIN here is a full send buffer on a non-blocking socket: an error.
            // A blocking call whose SO_RCVTIMEO expired is reported by the strategy
            // as Ending::Timeout, never as a failure.
            _ => Outcome::Error,
        }
    }
}

/// One failed system call, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyscallError {
    /// The call: recv, send, poll, shutdown, getpeername, connect.
    pub call: String,
    /// "main" for the strategy's loop, "postmortem" for the fixed probe after it.
    pub phase: &'static str,
    /// The errno's symbolic name, e.g. ECONNRESET.
    pub name: String,
    /// The errno's number, e.g. 104.
    pub errno: i32,
    /// Microseconds since time zero, the start of connect().
    pub at_us: u64,
}

impl SyscallError {
    pub fn new(call: &str, phase: &'static str, errno: i32, at_us: u64) -> Self {
        SyscallError {
            call: call.to_string(),
            phase,
            name: errno_name(errno),
            errno,
            at_us,
        }
    }
}

impl fmt::Display for SyscallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}() → {} ({})", self.call, self.name, self.errno)
    }
}

/// Why the strategy's main loop stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Ending {
    /// A call failed; the error is also the last entry of the main-phase errors.
    Failed { error: SyscallError },
    /// recv() returned 0.
    Eof { at_us: u64 },
    /// The duration passed.
    Survived { at_us: u64 },
    /// The client's own timeout ran out in this call.
    Timeout { call: String, at_us: u64 },
    /// The trial's deadline passed with the client still waiting (in `call`).
    Hung { call: String, at_us: u64 },
    /// An external client program ended (or was stopped at the end of the duration).
    /// Its outcome is classified from the wire by the trial; this is only a fallback.
    Exited {
        /// How it ended, as a phrase: "exited with code 1", "was killed by SIGTERM".
        status: String,
        code: Option<i32>,
        /// True when zerowin stopped it because the duration was over.
        stopped_at_end: bool,
        /// True when it was still running at the deadline.
        timed_out: bool,
        at_us: u64,
    },
}

impl Ending {
    /// Microseconds from connect to the first failure, when there was one.
    pub fn failure_at_us(&self) -> Option<u64> {
        match self {
            Ending::Failed { error } => Some(error.at_us),
            Ending::Eof { at_us } => Some(*at_us),
            Ending::Timeout { at_us, .. } | Ending::Hung { at_us, .. } => Some(*at_us),
            Ending::Survived { .. } => None,
            Ending::Exited { .. } => None,
        }
    }

    /// Microseconds from connect to the end of the strategy's loop, whatever ended it.
    pub fn at_us(&self) -> u64 {
        match self {
            Ending::Failed { error } => error.at_us,
            Ending::Eof { at_us }
            | Ending::Survived { at_us }
            | Ending::Timeout { at_us, .. }
            | Ending::Hung { at_us, .. }
            | Ending::Exited { at_us, .. } => *at_us,
        }
    }

    /// The outcome class. This is the only place an ending becomes an outcome.
    pub fn outcome(&self) -> Outcome {
        match self {
            Ending::Failed { error } => Outcome::from_errno(error.errno),
            Ending::Eof { .. } => Outcome::Eof,
            Ending::Survived { .. } => Outcome::Survived,
            Ending::Timeout { .. } => Outcome::CallTimeout,
            Ending::Hung { .. } => Outcome::Hung,
            Ending::Exited {
                timed_out: true, ..
            } => Outcome::Hung,
            Ending::Exited {
                stopped_at_end: true,
                ..
            } => Outcome::Survived,
            Ending::Exited { .. } => Outcome::Error,
        }
    }
}

/// The result of one call of the post-mortem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeResult {
    /// The call, e.g. "send".
    pub call: &'static str,
    /// The call's return value when it succeeded (bytes, or 0).
    pub value: Option<i64>,
    /// The errno's name when it failed, e.g. EPIPE.
    pub error: Option<String>,
    /// The errno's number when it failed.
    pub errno: Option<i32>,
}

impl ProbeResult {
    pub fn ok(call: &'static str, value: i64) -> Self {
        ProbeResult {
            call,
            value: Some(value),
            error: None,
            errno: None,
        }
    }
    pub fn err(call: &'static str, errno: i32) -> Self {
        ProbeResult {
            call,
            value: None,
            error: Some(errno_name(errno)),
            errno: Some(errno),
        }
    }
}

impl fmt::Display for ProbeResult {
    /// "send() → EPIPE (32)", "send() accepted 17 B", "shutdown() succeeded": a byte
    /// count never reads like an errno.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.error, self.errno, self.value) {
            (Some(e), Some(n), _) => write!(f, "{}() → {e} ({n})", self.call),
            (Some(e), None, _) => write!(f, "{}() → {e}", self.call),
            (None, _, Some(v)) if self.call == "send" => write!(f, "send() accepted {v} B"),
            (None, _, Some(v)) if self.call == "recv" => write!(f, "recv() returned {v} B"),
            (None, _, _) => write!(f, "{}() succeeded", self.call),
        }
    }
}

/// The fixed probe run after the first failure, so a result shows which call gives
/// which errno once the connection is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostMortem {
    /// Bytes recv() still returned from the receive queue after the first failure.
    pub recv_bytes: u64,
    /// How the recv loop ended: "eof", "empty" (would block) or an errno name.
    pub recv_end: ProbeResult,
    /// One send() of the reply.
    pub send: ProbeResult,
    /// shutdown(SHUT_RDWR).
    pub shutdown: ProbeResult,
    /// getpeername().
    pub getpeername: ProbeResult,
    /// The pending error SO_ERROR returned (value 0 = none), as a probe result.
    pub so_error: ProbeResult,
}

/// What a trial's time zero is. Every `*_us` of a trial counts from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockZero {
    /// The start of the client's connect(): its SYN leaves a few µs later.
    ConnectStart,
    /// An external program's SYN, as the capture saw it.
    WireSyn,
    /// An external program's start, when there was no capture to see its SYN.
    ProgramStart,
}

impl ClockZero {
    pub fn describe(self) -> &'static str {
        match self {
            ClockZero::ConnectStart => "the start of the client's connect()",
            ClockZero::WireSyn => "the client's SYN on the wire",
            ClockZero::ProgramStart => "the program's start (no capture saw its SYN)",
        }
    }
}

/// Everything the client strategy recorded.
#[derive(Debug, Clone, Serialize)]
pub struct ClientRecord {
    /// The strategy's name.
    pub strategy: String,
    /// CLOCK_MONOTONIC nanoseconds of time zero: every `at_us` of the trial counts
    /// from here, and the sender's and the capture's times are put on this axis.
    pub zero_ns: u64,
    /// What time zero is.
    pub zero: ClockZero,
    /// Microseconds from time zero until connect() returned (None for a program).
    pub connected_us: Option<u64>,
    /// The receive buffer the kernel actually gave (SO_RCVBUF read back), in bytes.
    pub rcvbuf_effective: usize,
    /// The client socket's options as the kernel holds them (in-process clients).
    pub socket: Option<crate::sockopts::Readback>,
    /// Bytes read by the strategy's loop, before the post-mortem.
    pub bytes_read: u64,
    /// Complete 13-byte messages among them.
    pub messages_read: u64,
    /// recv() calls that returned data.
    pub reads: u64,
    /// Replies sent, and their bytes.
    pub replies: u64,
    pub reply_bytes: u64,
    /// Bytes of the request sent after each connect (`request`), before any read.
    pub request_bytes: u64,
    /// The first bytes it read (at most 80, control characters escaped): what the
    /// server answered its request (naive and drain).
    pub first_bytes: String,
    /// Microseconds from time zero to the first reply send() that succeeded.
    pub first_reply_us: Option<u64>,
    /// Why the loop stopped.
    pub ending: Ending,
    /// Every failed call, main loop and post-mortem, in order.
    pub errors: Vec<SyscallError>,
    /// The post-mortem, when there was a failure to examine.
    pub postmortem: Option<PostMortem>,
    /// For `external`: the command that ran, and what it printed last.
    pub external: Option<ExternalRun>,
    /// For a client of the framed protocol: what it saw, message by message.
    pub messages: Option<ClientMessages>,
}

/// What a framed-protocol client saw, message by message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClientMessages {
    /// Messages processed, each sequence once.
    pub processed: u64,
    /// Messages received again after they had been processed (dropped unprocessed).
    pub duplicates: u64,
    /// Sequences never received: the jumps in the sequence.
    pub gaps: u64,
    /// The jumps, as inclusive ranges (the first [`GAP_RANGES`] of them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gap_ranges: Vec<(u64, u64)>,
    /// Messages that came after a higher sequence.
    pub reordered: u64,
    /// Connections after the first.
    pub reconnects: u32,
    /// The highest sequence processed.
    pub last_seq: u64,
    /// From production (the sender's stamp) to processing, µs.
    pub latency: Option<Latency>,
    /// For each connection, µs from its hello to its first frame (the resume client).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub first_frame_us: Vec<u64>,
}

/// Gap ranges a client keeps; a gap beyond them counts as lost whatever the sender said.
pub const GAP_RANGES: usize = 4096;

/// Sets of sequence numbers as sorted, disjoint, inclusive ranges.
pub mod ranges {
    /// Sorts and merges overlapping or adjacent ranges.
    pub fn merge(v: &[(u64, u64)]) -> Vec<(u64, u64)> {
        let mut v = v.to_vec();
        v.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (a, z) in v {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(z),
                _ => out.push((a, z)),
            }
        }
        out
    }

    /// The numbers in both.
    pub fn intersect(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
        let (a, b) = (merge(a), merge(b));
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            let (lo, hi) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
            if lo <= hi {
                out.push((lo, hi));
            }
            if a[i].1 < b[j].1 { i += 1 } else { j += 1 }
        }
        out
    }

    /// How many numbers.
    pub fn count(v: &[(u64, u64)]) -> u64 {
        merge(v).iter().map(|(a, z)| z - a + 1).sum()
    }
}

/// A latency distribution, µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Latency {
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl Latency {
    /// From the latencies of every processed message; None for none.
    pub fn of(mut v: Vec<u64>) -> Option<Latency> {
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let at = |p: usize| v[((v.len() * p).div_ceil(100)).clamp(1, v.len()) - 1];
        Some(Latency {
            p50_us: at(50),
            p99_us: at(99),
            max_us: v[v.len() - 1],
        })
    }
}

/// The message accounting of a trial with a framed sender and a framed client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageAccounting {
    pub produced: u64,
    /// Committed to the spool (spool sender only).
    pub accepted: Option<u64>,
    /// Written to the socket for the first time, and again (after a reconnect).
    pub sent_first: u64,
    pub redelivered: u64,
    /// Processed by the client's application, each once.
    pub delivered: u64,
    /// Delivered again after processing (the client dropped them).
    pub duplicates: u64,
    /// Sequences the client never got though it got a later one, and which the
    /// sender did not declare void: messages lost.
    pub lost: u64,
    /// Sequences the client skipped that a restarted spool sender declared void:
    /// never accepted (they were only in the killed process's memory, or were
    /// reserved and never produced). Not losses of accepted messages.
    pub void: u64,
    pub reordered: u64,
    /// Dropped by the sender to make room; part of `lost` when the client got past them.
    pub dropped: u64,
    /// Produced, but neither delivered nor lost when the trial ended (still queued or
    /// in flight); None when the sender was restarted (see `MessageAccounting::of`).
    pub pending: Option<u64>,
    pub reconnects: u32,
    /// Times the sender was started again (a `restart-sender` fault).
    pub sender_restarts: u32,
    pub queue_peak_bytes: u64,
    /// The spool's largest depth, messages and bytes.
    pub spool_peak_messages: Option<u64>,
    pub spool_peak_bytes: Option<u64>,
    /// From the end of the producer's phases (the spike) to the first moment its
    /// backlog was empty, µs; None without phases or if it never drained.
    pub drained_after_us: Option<u64>,
    pub latency: Option<Latency>,
    /// True when the sender said nothing of its messages (a server of yours): every
    /// count is the client's own, and `lost` is the gaps between the first and the
    /// last sequence it saw.
    pub client_alone: bool,
}

impl MessageAccounting {
    /// A trial's accounting: from both sides' counts, or from the client's alone for
    /// a server of yours; None when a side that must count did not.
    pub fn of_trial(client: &ClientRecord, report: &SenderReport) -> Option<MessageAccounting> {
        let sender = report.summary.as_ref().and_then(|s| s.remedy.as_ref());
        match (sender, &client.messages) {
            (Some(s), Some(c)) => Some(MessageAccounting::of(s, c, report)),
            // A server of yours with a client that counts (its `zerowin-processed` line).
            (None, Some(c)) if report.program.is_some() => Some(MessageAccounting::of_client(c)),
            _ => None,
        }
    }

    /// A trial whose sender gives no counts (an external server): what the client
    /// counted, alone. Nothing is known of what was produced or is pending.
    pub fn of_client(client: &ClientMessages) -> MessageAccounting {
        MessageAccounting {
            produced: 0,
            accepted: None,
            sent_first: 0,
            redelivered: 0,
            delivered: client.processed,
            duplicates: client.duplicates,
            lost: client.gaps,
            void: 0,
            reordered: client.reordered,
            dropped: 0,
            pending: None,
            reconnects: client.reconnects,
            sender_restarts: 0,
            queue_peak_bytes: 0,
            spool_peak_messages: None,
            spool_peak_bytes: None,
            drained_after_us: None,
            latency: client.latency,
            client_alone: true,
        }
    }

    /// The sender's report says which ranges it declared void and which it
    /// accepted: a gap counts as void only if it was declared void and never
    /// accepted, so a sender cannot hide a loss by declaring it void.
    pub fn of(
        sender: &SenderMessages,
        client: &ClientMessages,
        report: &SenderReport,
    ) -> MessageAccounting {
        let void_gaps = ranges::intersect(&client.gap_ranges, &report.voids);
        let void = ranges::count(&void_gaps)
            - ranges::count(&ranges::intersect(&void_gaps, &report.accepted));
        let sender_restarts = report.restarts;
        let sp = sender.spool;
        MessageAccounting {
            produced: sender.produced,
            accepted: sp.map(|s| s.accepted),
            sent_first: sender.sent_first,
            redelivered: sender.redelivered,
            delivered: client.processed,
            duplicates: client.duplicates,
            lost: client.gaps - void,
            void,
            reordered: client.reordered,
            dropped: sender.dropped,
            // Over restarts, gaps include numbers reserved and never produced, and a
            // killed sender's last counts are up to 100 ms old: then it is unknown.
            pending: (sender_restarts == 0).then(|| {
                sender
                    .produced
                    .saturating_sub(client.processed + client.gaps)
            }),
            reconnects: client.reconnects,
            sender_restarts,
            queue_peak_bytes: sender.queue_peak_bytes,
            spool_peak_messages: sp.map(|s| s.peak_messages),
            spool_peak_bytes: sp.map(|s| s.peak_bytes),
            drained_after_us: sender
                .drained_ns
                .zip(sender.phases_end_ns)
                .map(|(d, e)| d.saturating_sub(e) / 1000),
            latency: client.latency,
            client_alone: false,
        }
    }
}

/// A signal zerowin sent to an external program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignalSent {
    /// Its name, e.g. SIGTERM.
    pub signal: String,
    /// When, in µs since time zero.
    pub at_us: i64,
}

/// An external client program's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalRun {
    /// The command line, placeholders filled in.
    pub command: Vec<String>,
    /// When it was started and when it ended, in µs since time zero (its start comes
    /// before its SYN, so it is negative once time zero is the SYN).
    pub started_us: i64,
    pub exited_us: Option<i64>,
    /// The signals zerowin sent it, in order.
    pub signals: Vec<SignalSent>,
    /// The last 4 KiB of its standard output and error.
    pub stdout_tail: String,
    pub stderr_tail: String,
    /// It said what it read, in a `zerowin-read BYTES READS` line: the record's
    /// `bytes_read` and `reads` are its own count.
    pub said_read: bool,
}

impl ClientRecord {
    /// Bytes read including the post-mortem's; None for an external program, whose
    /// reads zerowin cannot see, unless it said them (`zerowin-read`).
    pub fn total_read(&self) -> Option<u64> {
        if let Some(x) = &self.external {
            return x.said_read.then_some(self.bytes_read);
        }
        Some(self.bytes_read + self.postmortem.as_ref().map_or(0, |p| p.recv_bytes))
    }

    /// Moves time zero to `zero_ns` (an external program's SYN, once the capture has
    /// seen it), shifting every time the record holds.
    pub fn rebase(&mut self, zero_ns: u64, zero: ClockZero) {
        let shift_us = (zero_ns as i64 - self.zero_ns as i64) / 1000;
        let u = |t: &mut u64| *t = (*t as i64 - shift_us).max(0) as u64;
        match &mut self.ending {
            Ending::Failed { error } => u(&mut error.at_us),
            Ending::Eof { at_us }
            | Ending::Survived { at_us }
            | Ending::Timeout { at_us, .. }
            | Ending::Hung { at_us, .. }
            | Ending::Exited { at_us, .. } => u(at_us),
        }
        self.errors.iter_mut().for_each(|e| u(&mut e.at_us));
        self.first_reply_us.iter_mut().for_each(u);
        self.connected_us.iter_mut().for_each(u);
        if let Some(x) = &mut self.external {
            x.started_us -= shift_us;
            x.exited_us.iter_mut().for_each(|t| *t -= shift_us);
            x.signals.iter_mut().for_each(|s| s.at_us -= shift_us);
        }
        self.zero_ns = zero_ns;
        self.zero = zero;
    }
}

/// One trial, complete: the unit of every export.
#[derive(Debug, Clone, Serialize)]
pub struct TrialRecord {
    /// The scenario's name (its file stem).
    pub scenario: String,
    /// The values of the trial's sweep cell and of every `--set`, by key path
    /// ("client.rcvbuf" → "4096"); empty for a scenario run as written.
    pub params: std::collections::BTreeMap<String, String>,
    /// 1-based trial number within the scenario.
    pub trial: u32,
    /// The client strategy and the sender kind used.
    pub strategy: String,
    pub sender: String,
    /// The sender's close policy.
    pub close_policy: String,
    /// How the trial ended.
    pub outcome: Outcome,
    /// Microseconds from time zero (the SYN) to the first failure (None when it survived).
    pub time_to_failure_us: Option<u64>,
    /// Bytes the client read, post-mortem included (None for an external program).
    pub bytes_read: Option<u64>,
    /// Complete 13-byte messages the client read, post-mortem included.
    pub messages_read: Option<u64>,
    /// Bytes the sender's send() accepted, from its last summary (None without one):
    /// its last connection's, when a trial has several (a framed sender's
    /// reconnections and takeovers, a restarted sender's lives).
    pub bytes_sent: Option<u64>,
    /// bytes_sent - bytes_read: what send() accepted that never reached the client.
    pub bytes_lost: Option<i64>,
    /// Microseconds from time zero to the start of the sender's close (close() or, for
    /// shutdown-drain, shutdown()), on the shared clock; negative if before it.
    pub sender_close_at_us: Option<i64>,
    /// Microseconds from the sender's last message to the client's failure, when the
    /// sender says when its last message left (the trickle sender).
    pub silence_before_failure_us: Option<i64>,
    /// Microseconds from time zero to the end of the client's loop.
    pub active_us: u64,
    /// bytes_read / active time, in MB/s (10^6 bytes).
    pub read_mb_s: Option<f64>,
    /// bytes_sent / active time, in MB/s (10^6 bytes).
    pub sent_mb_s: Option<f64>,
    /// Microseconds from sender start to teardown, the whole trial.
    pub trial_us: u64,
    /// The client's full record.
    pub client: ClientRecord,
    /// The sender's summary, when it gave one before teardown.
    pub sender_summary: Option<SenderSummary>,
    /// An external sender's run (its command, exit, output tails, memory).
    pub sender_program: Option<program::ProgramRun>,
    /// The helper programs' runs, in the scenario's order.
    pub helpers: Vec<program::ProgramRun>,
    /// The nodes of the trial's broker (`[broker]`), in order.
    pub broker: Vec<program::ProgramRun>,
    /// What the observers saw: isolation, counters, timeline, wire, events.
    pub observation: Option<Observation>,
    /// For an external client: how the outcome was classified from the wire.
    pub classified_from: Option<String>,
    /// With a framed sender and a framed client: the trial's messages, one by one.
    pub messages: Option<MessageAccounting>,
    /// The faults the schedule applied, in order, on the trial's clock.
    pub faults: Vec<FaultEvent>,
    /// When a newer connection took a framed sender's session over, µs since time
    /// zero (`takeover = "newest"`).
    pub takeovers_us: Vec<i64>,
    /// Connections a framed sender closed before they became a session: silent past
    /// `hello_timeout`, not the protocol, or evicted past `max_pending_hellos`.
    pub refused_connections: u32,
    /// A framed sender's backlog over the trial, from its progress lines (every
    /// 100 ms): produced and acknowledged, µs since time zero.
    pub backlog: Vec<BacklogPoint>,
    /// When the spool's store was out of reach, and why (a broker).
    pub store_outages: Vec<OutageSpan>,
    /// zerowin's own sender exited by itself before the trial stopped it (an error it
    /// could not go on from): its exit status and what it said on stderr.
    pub sender_exited: Option<String>,
}

/// A time the spool's store was out of reach, µs since time zero; `to_us` None: it
/// had not ended when the sender stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutageSpan {
    pub from_us: i64,
    pub to_us: Option<i64>,
    pub reason: String,
}

impl OutageSpan {
    fn of(report: &SenderReport, zero_ns: u64) -> Vec<OutageSpan> {
        let us = |ns: u64| (ns as i64 - zero_ns as i64) / 1000;
        report
            .outages
            .iter()
            .map(|o| OutageSpan {
                from_us: us(o.start_ns),
                to_us: o.end_ns.map(us),
                reason: o.reason.clone(),
            })
            .collect()
    }
}

/// The backlog at one instant, on the trial's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BacklogPoint {
    pub t_us: i64,
    pub produced: u64,
    pub acked: u64,
    pub spool_messages: u64,
}

impl BacklogPoint {
    /// A sender's progress lines on the trial's clock (time zero at `zero_ns`).
    pub fn of(report: &SenderReport, zero_ns: u64) -> Vec<BacklogPoint> {
        report
            .progress
            .iter()
            .map(|p| BacklogPoint {
                t_us: (p.t_ns as i64 - zero_ns as i64) / 1000,
                produced: p.produced,
                acked: p.acked,
                spool_messages: p.spool_messages,
            })
            .collect()
    }

    /// Produced and not yet acknowledged, wherever it waits.
    pub fn backlog(&self) -> u64 {
        self.produced.saturating_sub(self.acked)
    }
}

impl TrialRecord {
    /// Joins the client's and the sender's records into one trial record.
    pub fn assemble(
        scenario: &str,
        trial: u32,
        sender: &str,
        close_policy: &str,
        client: ClientRecord,
        sender_report: SenderReport,
        trial_us: u64,
    ) -> TrialRecord {
        let summary = sender_report.summary.clone();
        let bytes_read = client.total_read();
        let bytes_sent = summary.as_ref().map(|s| s.bytes);
        let sender_close_at_us = summary
            .as_ref()
            .filter(|s| s.close_start_ns > 0)
            .map(|s| (s.close_start_ns as i64 - client.zero_ns as i64) / 1000);
        let active_us = client.ending.at_us().max(1);
        let silence_before_failure_us = summary
            .as_ref()
            .and_then(|s| s.last_message_ns)
            .zip(client.ending.failure_at_us())
            .map(|(last, fail)| fail as i64 - (last as i64 - client.zero_ns as i64) / 1000);
        let messages = MessageAccounting::of_trial(&client, &sender_report);
        let rate = |bytes: u64| bytes as f64 / active_us as f64;
        let takeovers_us = sender_report
            .takeovers
            .iter()
            .map(|ns| (*ns as i64 - client.zero_ns as i64) / 1000)
            .collect();
        let refused_connections = sender_report.refused;
        let backlog = BacklogPoint::of(&sender_report, client.zero_ns);
        let store_outages = OutageSpan::of(&sender_report, client.zero_ns);
        let sender_exited = sender_report.exited.clone();
        TrialRecord {
            active_us,
            read_mb_s: bytes_read.map(rate),
            sent_mb_s: bytes_sent.map(rate),
            scenario: scenario.to_string(),
            params: Default::default(),
            trial,
            strategy: client.strategy.clone(),
            sender: sender.to_string(),
            close_policy: close_policy.to_string(),
            outcome: client.ending.outcome(),
            time_to_failure_us: client.ending.failure_at_us(),
            bytes_read,
            messages_read: match &client.messages {
                Some(m) => Some(m.processed),
                None => bytes_read.map(|b| b / MESSAGE_LEN),
            },
            bytes_sent,
            // With a framed sender and client, loss is counted in messages: bytes still
            // in flight when the trial ends are pending, not lost.
            bytes_lost: bytes_sent
                .zip(bytes_read)
                .filter(|_| messages.is_none())
                .map(|(s, r)| s as i64 - r as i64),
            sender_close_at_us,
            silence_before_failure_us,
            trial_us,
            client,
            messages,
            sender_summary: summary,
            sender_program: sender_report.program.clone(),
            helpers: Vec::new(),
            broker: Vec::new(),
            observation: None,
            classified_from: None,
            faults: Vec::new(),
            takeovers_us,
            refused_connections,
            backlog,
            store_outages,
            sender_exited,
        }
    }
}

/// Hand-built records for unit tests of what reads records.
#[cfg(test)]
pub mod testing {
    use super::*;

    /// A naive client's record ending in `ending`, having read `read` bytes.
    pub fn client(ending: Ending, read: u64) -> ClientRecord {
        ClientRecord {
            strategy: "naive".into(),
            zero_ns: 1_000_000,
            zero: ClockZero::ConnectStart,
            connected_us: Some(40),
            rcvbuf_effective: 8192,
            socket: None,
            bytes_read: read,
            messages_read: read / MESSAGE_LEN,
            reads: read / 10,
            replies: read / 10,
            reply_bytes: read / 10 * 17,
            request_bytes: 0,
            first_bytes: String::new(),
            first_reply_us: Some(50),
            ending,
            errors: vec![],
            postmortem: None,
            external: None,
            messages: None,
        }
    }

    /// The original sender's summary: `sent` bytes, then `errno`, failing at
    /// `fail_us` and closing at `close_us` after time zero.
    pub fn summary(sent: u64, errno: i32, fail_us: u64, close_us: u64) -> SenderSummary {
        SenderSummary {
            pid: 1,
            messages: sent / MESSAGE_LEN,
            bytes: sent,
            partial: 0,
            errno,
            errno_name: errno_name(errno),
            sndbuf_effective: 8192,
            fail_ns: 1_000_000 + fail_us * 1000,
            close_start_ns: 1_000_000 + close_us * 1000,
            close_ns: 1_000_000 + close_us * 1000 + 100,
            policy: "close".into(),
            drained: 0,
            remedy: None,
            last_message_ns: None,
            socket: None,
        }
    }

    pub fn failed(call: &str, errno: i32, at_us: u64) -> Ending {
        Ending::Failed {
            error: SyscallError::new(call, "main", errno, at_us),
        }
    }

    pub fn record(ending: Ending, sent: Option<u64>, read: u64) -> TrialRecord {
        let summary = sent.map(|b| summary(b, libc::EAGAIN, 2, 3));
        TrialRecord::assemble(
            "s",
            1,
            "original",
            "close",
            client(ending, read),
            SenderReport {
                summary,
                ..SenderReport::default()
            },
            10,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(call: &str, errno: i32) -> Ending {
        Ending::Failed {
            error: SyscallError::new(call, "main", errno, 10),
        }
    }

    #[test]
    fn classifies_each_errno_of_the_failure() {
        assert_eq!(failed("send", libc::ECONNRESET).outcome(), Outcome::Reset);
        assert_eq!(failed("recv", libc::ECONNRESET).outcome(), Outcome::Reset);
        assert_eq!(failed("send", libc::EPIPE).outcome(), Outcome::BrokenPipe);
        assert_eq!(
            failed("recv", libc::ENOTCONN).outcome(),
            Outcome::NotConnected
        );
        assert_eq!(failed("recv", libc::EBADF).outcome(), Outcome::Error);
    }

    #[test]
    fn a_full_send_buffer_is_an_error_not_a_timeout() {
        assert_eq!(failed("send", libc::EAGAIN).outcome(), Outcome::Error);
        assert_eq!(failed("recv", libc::ETIMEDOUT).outcome(), Outcome::TimedOut);
    }

    #[test]
    fn each_guard_has_its_own_class() {
        assert_eq!(
            failed("connect", libc::ECONNREFUSED).outcome(),
            Outcome::Refused
        );
        assert_eq!(
            failed("connect", libc::EHOSTUNREACH).outcome(),
            Outcome::Unreachable
        );
        assert_eq!(
            failed("recv", libc::ENETUNREACH).outcome(),
            Outcome::Unreachable
        );
        let own = Ending::Timeout {
            call: "recv".into(),
            at_us: 5,
        };
        assert_eq!(own.outcome(), Outcome::CallTimeout);
        let bound = Ending::Hung {
            call: "recv".into(),
            at_us: 5,
        };
        assert_eq!(bound.outcome(), Outcome::Hung);
        assert_eq!(bound.failure_at_us(), Some(5));
    }

    #[test]
    fn classifies_clean_endings() {
        assert_eq!(Ending::Eof { at_us: 5 }.outcome(), Outcome::Eof);
        assert_eq!(Ending::Survived { at_us: 5 }.outcome(), Outcome::Survived);
        let t = Ending::Hung {
            call: "recv".into(),
            at_us: 5,
        };
        assert_eq!(t.outcome(), Outcome::Hung);
        assert_eq!(Ending::Survived { at_us: 5 }.failure_at_us(), None);
        assert_eq!(failed("send", libc::EPIPE).failure_at_us(), Some(10));
    }

    #[test]
    fn outcome_names_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
        }
        let err = "resett".parse::<Outcome>().unwrap_err();
        assert!(
            err.contains("resett") && err.contains("broken-pipe"),
            "{err}"
        );
    }
}
