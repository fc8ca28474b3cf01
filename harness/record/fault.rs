//! The faults a trial applied, as plain data: the actions' one name table, and each
//! fault as it happened. [`crate::fault`] schedules and applies them.

use std::fmt;

use serde::Serialize;

use crate::names::names;

names! {
    /// What a fault does (see [`crate::fault`] for each).
    pub enum Action ("action") {
        KillSender => "kill-sender",
        RestartSender => "restart-sender",
        KillClient => "kill-client",
        RestartClient => "restart-client",
        PauseClient => "pause-client",
        ResumeClient => "resume-client",
        /// A second instance of the sender on the same port, with the same options.
        SecondSender => "second-sender",
        PauseSender => "pause-sender",
        ResumeSender => "resume-sender",
        Blackhole => "blackhole",
        Heal => "heal",
        Rate => "rate",
        /// `count` connections to the sender that never say anything, held to the end.
        SilentConnections => "silent-connections",
        /// The client's connection dies silently (veth): its address moves to another.
        HalfDeadClient => "half-dead-client",
        /// SIGKILL to one node of the scenario's broker (`node = N`).
        KillBrokerNode => "kill-broker-node",
        /// A killed node started again (`node = N`; without it, every killed one).
        RestartBrokerNode => "restart-broker-node",
        /// SIGKILL to the node that leads the spool's stream.
        KillBrokerLeader => "kill-broker-leader",
    }
}

/// What a listener's bind() did: "ok", the errno's name, or "failed" (it failed
/// before bind() said anything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Ok,
    Errno(String),
    Failed,
}

impl fmt::Display for Bind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bind::Ok => "ok",
            Bind::Errno(name) => name,
            Bind::Failed => "failed",
        })
    }
}

impl Serialize for Bind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A fault as it happened, on the trial's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultEvent {
    pub action: Action,
    /// When the schedule asked for it, and when it was done, µs since time zero.
    pub planned_us: u64,
    pub at_us: i64,
    /// Why it could not be done, if it could not.
    pub error: Option<String>,
    /// `restart-sender`: the new listener's bind()...
    pub bind: Option<Bind>,
    /// ... and the sockets in TIME_WAIT on its port just before.
    pub time_wait: Option<u32>,
    /// `rate`: the direction and the new rate, "sender 1mbit".
    pub detail: Option<String>,
}
