//! Which of the instance's events are the trial's: the instance sees the whole host,
//! every namespace. An event is the trial's when one of its endpoints is the address
//! the trial's client dialled (the sender's address and port): the sender's side
//! when it is the socket's own, the client's side when it is the peer. Two runs at
//! once each have their own instance, and their senders' ephemeral ports tell their
//! connections apart; `sock_rcvqueue_full`, which has no addresses, counts only in a
//! task that also made one of the trial's own events.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use super::Collected;
use super::parse::{Event, Line};
use crate::record::kernel::{
    KernelReset, KernelWord, ReceivedReset, Side, SocketStates, StateChange,
};

/// The trial's part of what was collected, on its clock (`zero_ns`).
pub fn attribute(c: &Collected, sender: SocketAddr, zero_ns: u64, events: &[&str]) -> KernelWord {
    let at = |l: &Line| (l.ts_ns as i64 - zero_ns as i64) / 1000;
    let mut w = KernelWord {
        events: events.iter().map(|e| e.to_string()).collect(),
        lost: c.lost,
        unparsed: c.unparsed,
        ..KernelWord::default()
    };
    let mut owners = BTreeSet::new();
    let mut states = Timelines::default();
    for l in &c.lines {
        let Some((side, local, remote)) = side_of(&l.event, sender) else {
            continue;
        };
        if !l.in_softirq {
            owners.extend(l.tgid);
        }
        match &l.event {
            Event::SendReset { state, reason, .. } => w.resets.push(KernelReset {
                side,
                reason: reason.parse().ok(),
                reason_name: reason.clone(),
                state: state.clone(),
                pid: l.pid,
                tgid: l.tgid,
                comm: l.comm.clone(),
                in_softirq: l.in_softirq,
                at_us: at(l),
                src: local.to_string(),
                dest: remote.to_string(),
            }),
            Event::ReceiveReset { .. } => {
                w.received_resets.push(ReceivedReset { side, at_us: at(l) })
            }
            Event::SetState { from, to, .. } => states.add(side, local, remote, at(l), from, to),
            Event::Retransmit { .. } => w.retransmits += 1,
            Event::Probe { .. } | Event::RcvqueueFull => {}
        }
    }
    w.rcvqueue_full = c
        .lines
        .iter()
        .filter(|l| l.event == Event::RcvqueueFull && l.tgid.is_some_and(|t| owners.contains(&t)))
        .count() as u64;
    if events.contains(&super::tracefs::PROBE) {
        w.probes = Some(
            c.probes
                .iter()
                .filter(|((l, r), _)| *l == sender || *r == sender)
                .map(|(_, (n, _))| n)
                .sum(),
        );
    }
    w.sockets = states.done();
    w
}

/// The side of the trial an event is on, with its socket's endpoints; None when it
/// is not the trial's. The sender's listening socket (peer 0.0.0.0:0) counts only
/// for an RST: it answers a segment for a connection it no longer has, and the
/// tracepoint then prints the listener's addresses, not the segment's. A client
/// socket's first change (to SYN_SENT) comes before its port is chosen: port 0.
fn side_of(e: &Event, sender: SocketAddr) -> Option<(Side, SocketAddr, SocketAddr)> {
    let (local, remote) = e.endpoints()?;
    if remote.port() == 0 && !matches!(e, Event::SendReset { .. }) {
        return None;
    }
    if local == sender {
        Some((Side::Sender, local, remote))
    } else if remote == sender {
        Some((Side::Client, local, remote))
    } else {
        None
    }
}

/// Each socket's state changes, keyed by side and endpoints, in the order seen.
#[derive(Default)]
struct Timelines {
    sockets: BTreeMap<(u8, SocketAddr, SocketAddr), SocketStates>,
    /// Client sockets that went to SYN_SENT before their port was chosen: their
    /// first change, for the next client socket that leaves SYN_SENT.
    waiting: Vec<StateChange>,
}

impl Timelines {
    fn add(
        &mut self,
        side: Side,
        local: SocketAddr,
        remote: SocketAddr,
        at_us: i64,
        from: &str,
        to: &str,
    ) {
        let change = StateChange {
            at_us,
            from: from.to_string(),
            to: to.to_string(),
        };
        if side == Side::Client && local.port() == 0 {
            self.waiting.push(change);
            return;
        }
        let key = (side as u8, local, remote);
        let fresh = !self.sockets.contains_key(&key);
        let s = self.sockets.entry(key).or_insert_with(|| SocketStates {
            side,
            local: local.to_string(),
            remote: remote.to_string(),
            changes: Vec::new(),
        });
        if fresh && side == Side::Client && from == "TCP_SYN_SENT" && !self.waiting.is_empty() {
            s.changes.push(self.waiting.remove(0));
        }
        s.changes.push(change);
    }

    fn done(self) -> Vec<SocketStates> {
        let mut v: Vec<SocketStates> = self.sockets.into_values().collect();
        v.sort_by_key(|s| s.changes.first().map_or(i64::MAX, |c| c.at_us));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collected(lines: &[&str]) -> Collected {
        let mut c = Collected::default();
        for l in lines {
            c.add(l);
        }
        c
    }

    const TRIAL: [&str; 5] = [
        "trial-1-18015 (  18012) [001] ..... 32889.017485: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=0 dport=39149 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::1 daddrv6=::1 oldstate=TCP_CLOSE newstate=TCP_SYN_SENT",
        "trial-1-18015 (  18012) [001] ..... 32889.017529: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=42366 dport=39149 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::1 daddrv6=::1 oldstate=TCP_SYN_SENT newstate=TCP_ESTABLISHED",
        "zerowin-18020 (  18020) [001] ..... 32889.020179: tcp_send_reset: skbaddr=0 skaddr=1 src=127.0.0.1:39149 dest=127.0.0.1:42366 state=TCP_CLOSE reason=TCP_ABORT_ON_CLOSE",
        "other-9 (  9) [001] ..... 32889.020180: tcp_send_reset: skbaddr=0 skaddr=2 src=127.0.0.1:39150 dest=127.0.0.1:42366 state=TCP_CLOSE reason=TCP_ABORT_ON_CLOSE",
        "trial-1-18015 (  18012) [000] ..... 32889.020181: tcp_receive_reset: family=AF_INET sport=42366 dport=39149 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::1 daddrv6=::1 sock_cookie=1c84",
    ];

    #[test]
    fn the_trials_events_and_no_other() {
        let c = collected(&TRIAL);
        let sender: SocketAddr = "127.0.0.1:39149".parse().unwrap();
        let w = attribute(&c, sender, 32_889_017_485_000, &["tcp/tcp_send_reset"]);
        assert_eq!(
            w.resets.len(),
            1,
            "the other port's reset is not the trial's"
        );
        let r = &w.resets[0];
        assert_eq!(
            (r.side, r.comm.as_str(), r.pid),
            (Side::Sender, "zerowin", 18020)
        );
        assert_eq!(
            r.reason,
            Some(crate::record::kernel::RstReason::AbortOnClose)
        );
        assert_eq!(r.at_us, 2694);
        let got = w.received_resets[0];
        assert_eq!((got.side, got.at_us), (Side::Client, 2696));
        assert_eq!(w.sockets.len(), 1);
        let s = &w.sockets[0];
        assert_eq!(s.local, "127.0.0.1:42366");
        let path: Vec<&str> = s.changes.iter().map(|c| c.to.as_str()).collect();
        assert_eq!(
            path,
            ["TCP_SYN_SENT", "TCP_ESTABLISHED"],
            "the port-0 SYN_SENT joins its socket"
        );
    }
}
