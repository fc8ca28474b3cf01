//! Why a connection ended. Each cause is a [`Rule`] in a module of its own: it judges
//! a rebuilt connection and, when it explains the ending, says so in numbered steps
//! with the packets that prove it, and what to do about it. [`RULES`] tries them in
//! order; the first that explains the ending wins, so a more specific cause comes
//! before a more general one. Adding one is a module and a line in [`RULES`].

mod abortive;
mod fin_then_rst;
mod forged;
mod keepalive;
mod normal;
mod open;
mod refused;
mod rto;
mod stall;
mod zero_window_abort;

use serde::Serialize;

use super::conn::{Conn, Mark};

/// The causes, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    Refused,
    ForgedRst,
    ZeroWindowAbort,
    FinThenRstOnData,
    KeepaliveTimeout,
    RetransmissionTimeout,
    AbortiveClose,
    NormalClose,
    ZeroWindowStall,
    Open,
}

impl Cause {
    /// How the connection ended, in a few words, for the table.
    pub fn ending(self) -> &'static str {
        match self {
            Cause::Refused => "refused",
            Cause::ForgedRst => "reset (likely forged)",
            Cause::ZeroWindowAbort | Cause::AbortiveClose => "reset",
            Cause::FinThenRstOnData => "FIN, then reset",
            Cause::KeepaliveTimeout => "keepalive timeout",
            Cause::RetransmissionTimeout => "retransmission timeout",
            Cause::NormalClose => "closed",
            Cause::ZeroWindowStall => "stalled",
            Cause::Open => "open",
        }
    }

    /// The cause, as the report and the JSON name it.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Refused => "refused",
            Cause::ForgedRst => "RST likely not sent by its source",
            Cause::ZeroWindowAbort => "abortive close after the peer's zero window",
            Cause::FinThenRstOnData => "FIN, then RST on data",
            Cause::KeepaliveTimeout => "keepalive timeout",
            Cause::RetransmissionTimeout => "retransmission timeout",
            Cause::AbortiveClose => "abortive close without a zero window",
            Cause::NormalClose => "normal close",
            Cause::ZeroWindowStall => "zero-window stall without a reset",
            Cause::Open => "still open at the end of the capture",
        }
    }

    /// Whether the report explains it at length.
    pub fn abnormal(self) -> bool {
        !matches!(self, Cause::NormalClose | Cause::Open)
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One step of an explanation: what happened, at which packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub at: Option<Mark>,
    pub text: String,
}

impl Step {
    pub fn at(m: Mark, text: impl Into<String>) -> Step {
        Step {
            at: Some(m),
            text: text.into(),
        }
    }

    pub fn note(text: impl Into<String>) -> Step {
        Step {
            at: None,
            text: text.into(),
        }
    }
}

/// What a rule found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub cause: Cause,
    /// The side that ended it (sent the RST, stopped answering, or stalled), 0 or 1.
    pub side: Option<usize>,
    pub steps: Vec<Step>,
    /// Another cause the wire cannot tell apart from this one.
    pub or_else: Option<&'static str>,
    /// What to do about it, with the chapter to read.
    pub advice: &'static str,
    /// Bytes sent that the RST destroyed (never acknowledged), when one did.
    pub bytes_destroyed: Option<u64>,
}

impl Finding {
    pub fn new(cause: Cause, side: Option<usize>, advice: &'static str) -> Finding {
        Finding {
            cause,
            side,
            steps: Vec::new(),
            or_else: None,
            advice,
            bytes_destroyed: None,
        }
    }

    pub fn step(mut self, s: Step) -> Finding {
        self.steps.push(s);
        self
    }
}

/// A cause's judge.
pub trait Rule: Sync {
    fn judge(&self, c: &Conn) -> Option<Finding>;
}

/// Every rule, most specific first; [`open::Open`] explains whatever is left.
pub static RULES: &[&dyn Rule] = &[
    &refused::Refused,
    &forged::Forged,
    &zero_window_abort::ZeroWindowAbort,
    &fin_then_rst::FinThenRst,
    &keepalive::Keepalive,
    &rto::Rto,
    &abortive::Abortive,
    &normal::Normal,
    &stall::Stall,
    &open::Open,
];

/// The finding that explains how `c` ended.
pub fn judge(c: &Conn) -> Finding {
    RULES
        .iter()
        .find_map(|r| r.judge(c))
        .unwrap_or_else(|| open::Open.finding(c))
}

/// The connection's first RST: its side and the reset.
pub fn first_rst(c: &Conn) -> Option<(usize, super::conn::Reset)> {
    (0..2)
        .filter_map(|i| c.halves[i].rst.map(|r| (i, r)))
        .min_by_key(|(_, r)| r.at.number)
}

/// "10.0.0.1:8000".
pub fn who(c: &Conn, side: usize) -> String {
    c.addr(side).to_string()
}
