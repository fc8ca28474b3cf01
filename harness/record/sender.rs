//! What a sender said of a trial, as plain data. Each sender kind's own lines are
//! parsed in [`crate::sender`], next to the code that prints them.

use serde::Serialize;

use crate::names::names;

names! {
    /// What the original sender does when its send() first fails.
    #[derive(Default)]
    pub enum ClosePolicy ("close policy") {
        /// The original: close(). With the client's replies unread, the kernel sends RST.
        #[default]
        Close => "close",
        /// SO_LINGER 0 then close(): always an RST.
        Linger0 => "linger0",
        /// shutdown(SHUT_WR), read and discard until EOF, then close(): a clean FIN.
        ShutdownDrain => "shutdown-drain",
    }
}

names! {
    /// Why a framed sender's connection ended, from its summary line.
    #[derive(Default)]
    pub enum EndReason ("end reason") {
        /// No summary said (a killed sender's counts come from its progress lines).
        #[default]
        Unreported => "unreported",
        /// No complete hello within the hello timeout.
        NoHello => "no-hello",
        EofBeforeHello => "eof-before-hello",
        ErrorBeforeHello => "error-before-hello",
        BadHelloMagic => "bad-hello-magic",
        BadHelloVersion => "bad-hello-version",
        /// The client's hello asked for a sequence beyond what was produced.
        ClientAhead => "client-ahead",
        /// `on_full = "close"`: the queue was full.
        QueueFull => "queue-full",
        SendFailed => "send-failed",
        /// EOF from the client.
        ClientClosed => "client-closed",
        /// An acknowledgement of a message never produced.
        BadAck => "bad-ack",
        RecvFailed => "recv-failed",
        /// No acknowledgement progress within the stall timeout.
        Stalled => "stalled",
        /// A newer valid hello took the session over (`takeover = "newest"`).
        TakenOver => "taken-over",
        /// Closed before its hello to make room: `max_pending_hellos` others waited.
        Evicted => "evicted",
        /// A valid hello that a newer one, in the same turn, superseded before its
        /// session began.
        Superseded => "superseded",
    }
}

impl EndReason {
    /// True for a connection closed before it became a session (in the lobby): its
    /// summary is not the trial's.
    pub fn before_session(self) -> bool {
        matches!(
            self,
            EndReason::NoHello
                | EndReason::EofBeforeHello
                | EndReason::ErrorBeforeHello
                | EndReason::BadHelloMagic
                | EndReason::BadHelloVersion
                | EndReason::Evicted
                | EndReason::Superseded
        )
    }
}

/// The sender's own account, from its `zerowin-summary` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SenderSummary {
    /// The forked child that served the connection.
    pub pid: i32,
    /// Messages send() accepted before the failed one.
    pub messages: u64,
    /// Bytes send() accepted: the sum of its return values.
    pub bytes: u64,
    /// Sends that accepted only part of a 13-byte message (the buffer was nearly full):
    /// the client then receives a truncated last message.
    pub partial: u64,
    /// The errno of the failed send (11 = EAGAIN), and its name.
    pub errno: i32,
    pub errno_name: String,
    /// The send buffer the kernel gave the connection (SO_SNDBUF read back).
    pub sndbuf_effective: i64,
    /// CLOCK_MONOTONIC ns of the failed send.
    pub fail_ns: u64,
    /// CLOCK_MONOTONIC ns when the close policy began (before close() or shutdown()).
    pub close_start_ns: u64,
    /// CLOCK_MONOTONIC ns when close() had returned.
    pub close_ns: u64,
    /// The close policy used.
    pub policy: String,
    /// Bytes read and discarded by shutdown-drain before the close.
    pub drained: u64,
    /// A remedy sender's message counts (the original has none).
    pub remedy: Option<SenderMessages>,
    /// CLOCK_MONOTONIC ns of the last message it sent (the trickle sender).
    pub last_message_ns: Option<u64>,
    /// Its connection's socket options and its listener's, read back (zerowin's own
    /// senders).
    pub socket: Option<crate::sockopts::Readback>,
}

/// A remedy sender's own counts, from its last summary or progress line; over a
/// trial in which it was restarted, merged over its incarnations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SenderMessages {
    /// Messages its producer made.
    pub produced: u64,
    /// Messages dropped unsent to make room (`on_full = "drop-oldest"`).
    pub dropped: u64,
    /// The highest sequence the client acknowledged.
    pub acked: u64,
    /// The memory queue's largest size, bytes.
    pub queue_peak_bytes: u64,
    /// Messages in memory when the connection ended (patient: unsent; spool:
    /// unacknowledged).
    pub queued: u64,
    /// Messages written to a socket for the first time, and written again after a
    /// reconnect or a restart.
    pub sent_first: u64,
    pub redelivered: u64,
    /// Times a message found the queue (or the spool) full and `on_full` applied.
    pub full: u64,
    /// The spool's counts; None for a sender without one.
    pub spool: Option<SpoolCounts>,
    /// When, after the producer's phases ended, its backlog was first empty
    /// (CLOCK_MONOTONIC ns).
    pub drained_ns: Option<u64>,
    /// When its producer's phases ended (CLOCK_MONOTONIC ns); None without phases.
    pub phases_end_ns: Option<u64>,
    /// Why its last connection ended (client-closed, stalled, queue-full, ...).
    pub end: EndReason,
}

impl SenderMessages {
    /// The counts of several incarnations of one sender, in order: sums of what each
    /// did, the largest of the peaks, and the last one's state.
    pub fn merge(lives: &[&SenderMessages]) -> SenderMessages {
        let last = lives.last().copied().cloned().unwrap_or_default();
        let sum = |f: fn(&SenderMessages) -> u64| lives.iter().map(|m| f(m)).sum::<u64>();
        let max = |f: fn(&SenderMessages) -> u64| lives.iter().map(|m| f(m)).max().unwrap_or(0);
        let spools: Vec<SpoolCounts> = lives.iter().filter_map(|m| m.spool).collect();
        let spool = last.spool.map(|l| SpoolCounts {
            accepted: spools.iter().map(|s| s.accepted).sum(),
            peak_messages: spools.iter().map(|s| s.peak_messages).max().unwrap_or(0),
            peak_bytes: spools.iter().map(|s| s.peak_bytes).max().unwrap_or(0),
            void: spools.iter().map(|s| s.void).sum(),
            syncs: spools.iter().map(|s| s.syncs).sum(),
            ..l
        });
        SenderMessages {
            produced: sum(|m| m.produced),
            dropped: sum(|m| m.dropped),
            acked: max(|m| m.acked),
            queue_peak_bytes: max(|m| m.queue_peak_bytes),
            sent_first: sum(|m| m.sent_first),
            redelivered: sum(|m| m.redelivered),
            full: sum(|m| m.full),
            spool,
            ..last
        }
    }
}

/// What a spool sender's store did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SpoolCounts {
    /// Messages committed to the spool: accepted.
    pub accepted: u64,
    /// Messages and bytes it held at the end, and at most.
    pub messages: u64,
    pub bytes: u64,
    pub peak_messages: u64,
    pub peak_bytes: u64,
    /// The spool file's size on disk at the end.
    pub disk_bytes: u64,
    /// Sequences it skipped as never accepted (see `MessageAccounting::void`).
    pub void: u64,
    /// fsync calls.
    pub syncs: u64,
}

/// One point of a framed sender's progress (its `zerowin-progress` lines, every
/// 100 ms): what its producer had made and what its client had acknowledged by then.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// CLOCK_MONOTONIC ns of the line.
    pub t_ns: u64,
    /// Messages produced, and the highest sequence acknowledged.
    pub produced: u64,
    pub acked: u64,
    /// Messages its spool held (0 without one).
    pub spool_messages: u64,
}

/// What a sender said over a trial.
#[derive(Debug, Clone, Default)]
pub struct SenderReport {
    /// The last connection's summary; a framed sender's message counts in it are
    /// merged over every incarnation.
    pub summary: Option<SenderSummary>,
    /// The sequence ranges it reported void (skipped, never accepted).
    pub voids: Vec<(u64, u64)>,
    /// The sequence ranges it reported committed to its spool (accepted).
    pub accepted: Vec<(u64, u64)>,
    /// Times it was started again.
    pub restarts: u32,
    /// When a newer connection took its session over (CLOCK_MONOTONIC ns).
    pub takeovers: Vec<u64>,
    /// Its progress lines of its first life, in order (a restarted sender numbers
    /// after its reserve, so its counts no longer make one backlog).
    pub progress: Vec<Progress>,
    /// Connections it closed before they became a session (in its lobby).
    pub refused: u32,
    /// An external sender's run: its command, exit, output and memory.
    pub program: Option<crate::record::program::ProgramRun>,
    /// When its spool's store was out of reach (a broker without a quorum, a
    /// partition), and why.
    pub outages: Vec<StoreOutage>,
    /// It had exited by itself before the trial stopped it: its exit status and last
    /// words on stderr.
    pub exited: Option<String>,
}

/// A time the spool's store was out of reach: CLOCK_MONOTONIC ns of its start and
/// end (None: it had not ended when the sender stopped or died).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOutage {
    pub start_ns: u64,
    pub end_ns: Option<u64>,
    pub reason: String,
}
