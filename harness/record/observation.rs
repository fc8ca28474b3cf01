//! What the observers saw of a trial, as plain data: where it ran, the kernels'
//! counters, the TCP_INFO timeline and the capture's account of the wire. The
//! observers in [`crate::observe`] fill these; the report reads them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::names::names;

names! {
    /// Where a trial actually ran.
    pub enum RanIn ("isolation") {
        /// A fresh network namespace of its own.
        Netns => "netns",
        /// The host's loopback.
        Host => "host",
    }
}

names! {
    /// Which way the RSTs of a connection went.
    #[derive(Default)]
    pub enum RstDirection ("RST direction") {
        SenderToClient => "sender→client",
        ClientToSender => "client→sender",
        Both => "both",
        #[default]
        None => "none",
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

/// Everything observed about a trial.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub isolation: Isolation,
    /// The veth pair the trial ran on; None on loopback.
    pub link: Option<crate::net::LinkInfo>,
    /// Counter deltas (None if /proc could not be read). On veth, the sum of both
    /// kernels, which is what one shared kernel would have counted.
    pub counters: Option<Counters>,
    /// On veth, each kernel's own counters.
    pub kernels: Option<Kernels>,
    /// The TCP_INFO timeline (None when sampling is off).
    pub timeline: Option<Timeline>,
    /// The capture's analysis (None when capture is off).
    pub wire: Option<Wire>,
    /// The kernel's tracepoints (None when they were off or not available; the notes
    /// say why).
    pub kernel: Option<crate::record::kernel::KernelWord>,
    /// The pcap file written, if any.
    pub pcap_file: Option<PathBuf>,
    /// The SVG plot written, if any.
    pub plot_file: Option<PathBuf>,
    pub events: Events,
    /// What could not be observed, and why.
    pub notes: Vec<String>,
}

/// What a trial actually ran in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Isolation {
    pub mode: RanIn,
    /// Why: what was asked, and what the kernel allowed.
    pub reason: String,
    /// The namespace's inode (/proc/thread-self/ns/net).
    pub netns_id: Option<u64>,
    /// The sysctls set inside the namespace, as read back.
    pub sysctls: BTreeMap<String, String>,
}

impl Isolation {
    pub fn isolated(&self) -> bool {
        self.mode == RanIn::Netns
    }
}

/// One end of the connection at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct End {
    /// TCP state name, e.g. ESTAB; CLOSED when the socket is gone.
    pub state: &'static str,
    /// Bytes received and not yet read.
    pub recv_q: u32,
    /// Bytes in the send queue (not yet acknowledged).
    pub send_q: u32,
    /// The peer's advertised window (tcpi_snd_wnd), when the kernel has it.
    pub snd_wnd: Option<u32>,
    /// Our advertised window (tcpi_rcv_wnd), when the kernel has it.
    pub rcv_wnd: Option<u32>,
    /// Bytes written but not yet sent.
    pub notsent: u32,
    /// Unanswered zero-window probes.
    pub probes: u8,
    /// Probe / retransmission timer backoff.
    pub backoff: u8,
    /// Retransmission timeout, µs.
    pub rto_us: u32,
}

/// Both ends at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// Microseconds since time zero (the start of connect()).
    pub t_us: u64,
    pub client: End,
    pub sender: End,
}

/// A trial's samples and what they show.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timeline {
    /// The sampling interval, µs.
    pub interval_us: u64,
    pub samples: Vec<Sample>,
    /// True when more than MAX_SAMPLES were taken and the rest were dropped.
    pub truncated: bool,
    /// First sample with the client's advertised window (or the sender's view of it) at 0, µs.
    pub first_zero_window_us: Option<u64>,
    /// Largest send queue seen at the sender, bytes.
    pub sender_send_q_peak: u32,
    /// Largest unread queue seen at the sender (the client's replies), bytes.
    pub sender_recv_q_peak: u32,
}

/// Which extreme a [`Series`] keeps when it merges points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keep {
    /// The smallest value: a window series keeps its zeros.
    #[default]
    Min,
    /// The largest value: a queue keeps its peaks.
    Max,
}

/// A time series of bounded size. When full, neighbouring points are merged in
/// pairs and the minimum spacing doubles; a merged point keeps the extreme value
/// `keep` says, so the plot never loses a zero window or a peak.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Series {
    /// (CLOCK_MONOTONIC ns, value).
    pub points: Vec<(u64, u64)>,
    pub(crate) keep: Keep,
    /// Points closer than this to the last one are merged into it.
    pub(crate) gap_ns: u64,
}

/// The series the plot draws from the wire.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WireSeries {
    /// The client's advertised window, bytes.
    pub client_window: Series,
    /// The highest byte the sender sent, bytes since its SYN.
    pub sender_sent: Series,
    /// The client's acknowledgement, bytes since the sender's SYN.
    pub client_acked: Series,
    /// The window's right edge: acknowledgement + window, bytes since the sender's SYN.
    pub window_edge: Series,
}

/// Counts for one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Direction {
    pub segments: u64,
    pub payload_bytes: u64,
    pub zero_windows: u64,
    pub window_updates: u64,
    pub zero_window_probes: u64,
    /// Keep-alive probes: no data (or one byte), one below the next sequence number,
    /// no flags, while the peer's window was open (tshark's `tcp.analysis.keep_alive`;
    /// Linux's zero-window probes have the same shape and are counted above instead).
    pub keep_alives: u64,
    pub rsts: u64,
    pub fins: u64,
}

/// The capture's account of the connection.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Wire {
    /// Segments the sender sent to the client.
    pub from_sender: Direction,
    /// Segments the client sent to the sender.
    pub from_client: Direction,
    pub rst_direction: RstDirection,
    /// CLOCK_MONOTONIC ns of the first zero window advertised (either way) and of the first RST.
    pub first_zero_window_ns: Option<u64>,
    pub first_rst_ns: Option<u64>,
    /// CLOCK_MONOTONIC ns of the client's SYN, and of the sender's first RST and FIN.
    pub client_syn_ns: Option<u64>,
    pub first_rst_from_sender_ns: Option<u64>,
    pub first_fin_from_sender_ns: Option<u64>,
    /// CLOCK_MONOTONIC ns of the sender's first FIN on a connection whose client had
    /// not sent one: the sender closing first, not answering the client's close.
    pub first_close_from_sender_ns: Option<u64>,
    /// CLOCK_MONOTONIC ns of the client's first RST.
    pub first_rst_from_client_ns: Option<u64>,
    /// CLOCK_MONOTONIC ns of the last segment from the sender: what a keepalive timer
    /// counts its idle time from, when nothing comes after it.
    pub last_from_sender_ns: Option<u64>,
    /// The client's keep-alive probes after that last segment: the unanswered ones.
    pub unanswered_keep_alives: u64,
    /// CLOCK_MONOTONIC ns of the client's keep-alive probes, the first 32, for the plot.
    pub client_keep_alive_ns: Vec<u64>,
    /// Bytes the sender had sent and the client never acknowledged, on the
    /// connections the sender reset: what the wire shows its RSTs destroyed
    /// (`diagnose`'s figure). Bytes the sender's send() accepted but never sent are
    /// not on the wire; `bytes_lost` counts them too. None without a sender RST.
    pub sender_rst_unacked_bytes: Option<u64>,
    /// Of the connections the sender reset, those the wire judges "FIN, then RST on
    /// data" (`diagnose`'s rule: its FIN on the wire, or queued behind data the
    /// client's window held back, then the client's data answered with an RST); the
    /// others were reset at close.
    pub sender_fin_then_rst: u64,
    /// Frames the kernel dropped before the capture read them (PACKET_STATISTICS).
    pub dropped_frames: u64,
    /// The plot's series. Not exported: the pcap holds every segment exactly.
    #[serde(skip)]
    pub series: WireSeries,
}

/// The counters that tell this story; every one is always reported, 0 included.
pub const STORY: &[&str] = &[
    "TCPToZeroWindowAdv",
    "TCPFromZeroWindowAdv",
    "TCPWantZeroWindowAdv",
    "TCPWinProbe",
    "TCPKeepAlive",
    "TCPAbortOnClose",
    "TCPAbortOnData",
    "TCPAbortOnLinger",
    "TCPAbortOnTimeout",
    "Tcp.OutRsts",
    "Tcp.EstabResets",
];

/// The abort counters: exactly one of them moves when a connection is reset.
pub const ABORTS: &[&str] = &[
    "TCPAbortOnClose",
    "TCPAbortOnData",
    "TCPAbortOnLinger",
    "TCPAbortOnTimeout",
];

/// Counter deltas over one trial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// True when read in the trial's own namespace; false on the host, where other
    /// traffic moves them too.
    pub isolated: bool,
    /// The story counters, always present.
    pub story: BTreeMap<String, u64>,
    /// Every other counter that moved.
    pub other: BTreeMap<String, u64>,
}

impl Counters {
    pub fn get(&self, name: &str) -> u64 {
        self.story
            .get(name)
            .or_else(|| self.other.get(name))
            .copied()
            .unwrap_or(0)
    }

    /// The abort counters that moved.
    pub fn aborts(&self) -> Vec<(&'static str, u64)> {
        ABORTS
            .iter()
            .map(|n| (*n, self.get(n)))
            .filter(|(_, v)| *v > 0)
            .collect()
    }
}

/// The two kernels of a veth trial, apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kernels {
    /// The client's namespace.
    pub client: Counters,
    /// The sender's namespace.
    pub sender: Counters,
}
