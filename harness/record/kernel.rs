//! What the kernel itself said about a trial's connections, through its tracepoints
//! (`tcp:tcp_send_reset`, `sock:inet_sock_set_state`, ...), as plain data: each RST
//! with its reason, state and process, and each socket's states in time order.

use serde::Serialize;

use crate::names::names;
use crate::record::observation::RstDirection;

names! {
    /// Why the kernel sent an RST: `enum sk_rst_reason` (include/net/rstreason.h),
    /// spelled as the tracepoint prints it.
    pub enum RstReason ("RST reason") {
        NotSpecified => "NOT_SPECIFIED",
        NoSocket => "NO_SOCKET",
        InvalidAckSequence => "TCP_INVALID_ACK_SEQUENCE",
        Paws => "TCP_RFC7323_PAWS",
        TooOldAck => "TCP_TOO_OLD_ACK",
        AckUnsentData => "TCP_ACK_UNSENT_DATA",
        Flags => "TCP_FLAGS",
        OldAck => "TCP_OLD_ACK",
        AbortOnData => "TCP_ABORT_ON_DATA",
        TimewaitSocket => "TCP_TIMEWAIT_SOCKET",
        InvalidSyn => "INVALID_SYN",
        AbortOnClose => "TCP_ABORT_ON_CLOSE",
        AbortOnLinger => "TCP_ABORT_ON_LINGER",
        AbortOnMemory => "TCP_ABORT_ON_MEMORY",
        State => "TCP_STATE",
        KeepaliveTimeout => "TCP_KEEPALIVE_TIMEOUT",
        DisconnectWithData => "TCP_DISCONNECT_WITH_DATA",
        Error => "ERROR",
    }
}

impl RstReason {
    /// One sentence: what the kernel's reason means for the connection.
    pub fn meaning(self) -> &'static str {
        use RstReason::*;
        match self {
            AbortOnClose => "closed with unread data in its receive queue",
            AbortOnLinger => {
                "an orphaned socket in FIN-WAIT-2 whose TCP_LINGER2 is negative: reset instead of waiting for the peer's FIN"
            }
            AbortOnData => {
                "data arrived for a socket its program had already closed (shut down for reading): the kernel answered it with RST"
            }
            AbortOnMemory => {
                "the kernel ran short of memory for orphaned sockets and dropped this one"
            }
            State => {
                "the program aborted the connection (SO_LINGER 0 with nothing unread, or a disconnect): reset from its state"
            }
            KeepaliveTimeout => {
                "keep-alive probes went unanswered as many times as allowed: the peer is taken for dead"
            }
            DisconnectWithData => "disconnected while its own data was still unacknowledged",
            NoSocket => {
                "a segment arrived for a port with no socket (nothing listening, or long gone)"
            }
            TimewaitSocket => {
                "a segment arrived for a connection in TIME-WAIT that it could not accept"
            }
            InvalidSyn => "an unexpected SYN on an established connection",
            InvalidAckSequence | TooOldAck | AckUnsentData | OldAck => {
                "an ACK that does not fit the connection's sequence numbers"
            }
            Paws => "a segment that failed the timestamp check (PAWS)",
            Flags => {
                "a segment with flags the socket's state does not allow (a listening socket answers so the data of a connection it no longer has)"
            }
            NotSpecified | Error => "the kernel did not say why",
        }
    }
}

names! {
    /// Which end of the trial's connection a socket is.
    pub enum Side ("side") {
        Sender => "sender",
        Client => "client",
    }
}

/// One RST the kernel sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelReset {
    /// The end that sent it.
    pub side: Side,
    /// The reason; None when the kernel printed a name zerowin does not know.
    pub reason: Option<RstReason>,
    /// The reason as the kernel printed it.
    pub reason_name: String,
    /// The sending socket's state, as the kernel printed it ("TCP_CLOSE").
    pub state: String,
    /// The task in whose context the RST was sent: its thread and process ids and
    /// its command. In softirq context (a segment that arrived, a timer), it is
    /// whatever task the CPU was running, and `in_softirq` says so.
    pub pid: u32,
    pub tgid: Option<u32>,
    pub comm: String,
    pub in_softirq: bool,
    /// µs on the trial's clock.
    pub at_us: i64,
    pub src: String,
    pub dest: String,
}

/// An RST a socket of the trial received (`tcp_receive_reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReceivedReset {
    /// The side that received it.
    pub side: Side,
    pub at_us: i64,
}

impl KernelReset {
    /// A listening socket's answer to a segment for a connection it no longer has:
    /// the tracepoint then prints the listener's peer, 0.0.0.0:0.
    pub fn from_listener(&self) -> bool {
        self.dest.ends_with(":0")
    }
}

/// One state change of one socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateChange {
    pub at_us: i64,
    pub from: String,
    pub to: String,
}

/// One socket of the trial's connections, and its states in time order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SocketStates {
    pub side: Side,
    /// The socket's own address, then its peer's.
    pub local: String,
    pub remote: String,
    pub changes: Vec<StateChange>,
}

/// Everything the kernel's tracepoints said of a trial.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KernelWord {
    /// The tracepoints that were on.
    pub events: Vec<String>,
    pub resets: Vec<KernelReset>,
    /// Sockets of the trial the kernel reset (`tcp_receive_reset`, fired by
    /// `tcp_reset()`): on an RST that arrived, and also on the kernel's own abort
    /// of a socket that got data after its close (before it sends its RST).
    pub received_resets: Vec<ReceivedReset>,
    pub sockets: Vec<SocketStates>,
    /// Segments the trial's sockets retransmitted.
    pub retransmits: u64,
    /// `sock_rcvqueue_full` events in a task of the trial (the event has no
    /// addresses; TCP seldom takes this path).
    pub rcvqueue_full: u64,
    /// `tcp_probe` events on the trial's connections, when it was on.
    pub probes: Option<u64>,
    /// Events the ring buffer had no room for: never hidden.
    pub lost: u64,
    /// Lines that could not be read as an event.
    pub unparsed: u64,
}

impl KernelWord {
    /// The RSTs one side sent.
    pub fn resets_from(&self, side: Side) -> impl Iterator<Item = &KernelReset> {
        self.resets.iter().filter(move |r| r.side == side)
    }

    /// The first RST one side's connection sent itself: not its listening socket's
    /// answer to a segment for a connection already gone (printed with the peer
    /// 0.0.0.0:0), which can come first when the segment races the close.
    pub fn first_abort(&self, side: Side) -> Option<&KernelReset> {
        self.resets_from(side)
            .filter(|r| !r.from_listener())
            .min_by_key(|r| r.at_us)
    }

    /// Which way the RSTs went, by the kernel's word.
    pub fn direction(&self) -> RstDirection {
        let from = |s| self.resets_from(s).next().is_some();
        match (from(Side::Sender), from(Side::Client)) {
            (true, true) => RstDirection::Both,
            (true, false) => RstDirection::SenderToClient,
            (false, true) => RstDirection::ClientToSender,
            (false, false) => RstDirection::None,
        }
    }
}
