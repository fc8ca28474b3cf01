//! Reading the instance's text: one line per event, as the kernel formats it from
//! each event's `format` file.
//!
//! zerowin reads the text (`trace_pipe`), not the binary ring (`trace_pipe_raw`):
//! the kernel itself turns the reason and the states into their names and the
//! addresses into `IP:PORT`, so no table of the kernel's enums is copied here, and a
//! kernel that adds a reason prints its name. The text is made when it is read,
//! after the race, so it costs the trial nothing. A line that does not parse is
//! counted, never dropped silently.

use std::net::{IpAddr, SocketAddr};

/// One event line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub comm: String,
    pub pid: u32,
    /// None when the kernel did not record it (`(-------)`).
    pub tgid: Option<u32>,
    /// Sent from an interrupt (a segment arriving, a timer), not a system call: the
    /// task is whatever the CPU was running.
    pub in_softirq: bool,
    /// CLOCK_MONOTONIC, ns (the instance's `mono` clock; the text has µs).
    pub ts_ns: u64,
    pub event: Event,
}

/// The events zerowin reads, with their endpoints as the socket sees them: its own
/// address first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    SendReset {
        local: SocketAddr,
        remote: SocketAddr,
        state: String,
        reason: String,
    },
    ReceiveReset {
        local: SocketAddr,
        remote: SocketAddr,
    },
    SetState {
        local: SocketAddr,
        remote: SocketAddr,
        from: String,
        to: String,
    },
    Retransmit {
        local: SocketAddr,
        remote: SocketAddr,
    },
    Probe {
        local: SocketAddr,
        remote: SocketAddr,
        snd_wnd: u32,
        rcv_wnd: u32,
    },
    RcvqueueFull,
}

impl Event {
    /// The socket's own address and its peer's, when the event has them.
    pub fn endpoints(&self) -> Option<(SocketAddr, SocketAddr)> {
        match self {
            Event::SendReset { local, remote, .. }
            | Event::ReceiveReset { local, remote }
            | Event::SetState { local, remote, .. }
            | Event::Retransmit { local, remote }
            | Event::Probe { local, remote, .. } => Some((*local, *remote)),
            Event::RcvqueueFull => None,
        }
    }
}

/// Parses one line, `COMM-PID (TGID) [CPU] FLAGS SECONDS.MICROS: EVENT: FIELDS`;
/// None for a comment, a blank, or a line it cannot read (the caller counts those
/// that are not comments). COMM may hold spaces and dashes: PID is the last dash's.
/// By hand rather than by a regular expression, which took an eighth of `watch`'s
/// time on a busy host.
pub fn line(text: &str) -> Option<Line> {
    let (task, rest) = text.split_once(") [")?;
    let (comm_pid, tgid) = task.rsplit_once(" (")?;
    let (comm, pid) = comm_pid.trim().rsplit_once('-')?;
    let (_cpu, rest) = rest.split_once("] ")?;
    let mut words = rest.trim_start().splitn(3, ' ');
    let flags = words.next()?;
    let ts = words.next()?.strip_suffix(':')?;
    let (name, fields) = words.next()?.split_once(':')?;
    let (secs, micros) = ts.split_once('.')?;
    if micros.len() != 6 {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    let micros: u64 = micros.parse().ok()?;
    Some(Line {
        comm: comm.trim().to_string(),
        pid: pid.parse().ok()?,
        tgid: tgid.trim().parse().ok(),
        in_softirq: flags.chars().nth(2).is_some_and(|f| f != '.'),
        ts_ns: secs * 1_000_000_000 + micros * 1000,
        event: event(name, fields.trim_start())?,
    })
}

/// Whether a line is one the kernel writes for people (a header, or a note that
/// events were lost), not an event.
pub fn is_comment(text: &str) -> bool {
    let t = text.trim_start();
    t.is_empty() || t.starts_with('#') || t.starts_with("CPU:")
}

fn event(name: &str, fields: &str) -> Option<Event> {
    let f = Fields(fields);
    Some(match name {
        "tcp_send_reset" => Event::SendReset {
            local: f.get("src")?.parse().ok()?,
            remote: f.get("dest")?.parse().ok()?,
            state: f.get("state")?.to_string(),
            reason: f.get("reason")?.to_string(),
        },
        "tcp_receive_reset" => {
            let (local, remote) = f.split_endpoints()?;
            Event::ReceiveReset { local, remote }
        }
        "inet_sock_set_state" => {
            if f.get("protocol") != Some("IPPROTO_TCP") {
                return None;
            }
            let (local, remote) = f.split_endpoints()?;
            Event::SetState {
                local,
                remote,
                from: f.get("oldstate")?.to_string(),
                to: f.get("newstate")?.to_string(),
            }
        }
        "tcp_retransmit_skb" => {
            let (local, remote) = f.split_endpoints()?;
            Event::Retransmit { local, remote }
        }
        "tcp_probe" => Event::Probe {
            local: f.get("src")?.parse().ok()?,
            remote: f.get("dest")?.parse().ok()?,
            snd_wnd: f.get("snd_wnd")?.parse().ok()?,
            rcv_wnd: f.get("rcv_wnd")?.parse().ok()?,
        },
        "sock_rcvqueue_full" => Event::RcvqueueFull,
        _ => return None,
    })
}

/// `key=value key=value ...`, values without spaces.
struct Fields<'a>(&'a str);

impl Fields<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .split_ascii_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    }

    /// The endpoints of the events that print `family sport dport saddr daddr
    /// saddrv6 daddrv6`.
    fn split_endpoints(&self) -> Option<(SocketAddr, SocketAddr)> {
        let sport: u16 = self.get("sport")?.parse().ok()?;
        let dport: u16 = self.get("dport")?.parse().ok()?;
        let (s, d) = match self.get("family")? {
            "AF_INET6" => ("saddrv6", "daddrv6"),
            _ => ("saddr", "daddr"),
        };
        let s: IpAddr = self.get(s)?.parse().ok()?;
        let d: IpAddr = self.get(d)?.parse().ok()?;
        Some((SocketAddr::new(s, sport), SocketAddr::new(d, dport)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESET: &str = "         zerowin-18020   (  18020) [001] ..... 32889.020179: tcp_send_reset: skbaddr=0000000000000000 skaddr=00000000259a8519 src=127.0.0.1:39149 dest=127.0.0.1:42366 state=TCP_CLOSE reason=TCP_ABORT_ON_CLOSE";
    const STATE: &str = "   my prog-name-7 (  18012) [000] ..s2. 32889.017536: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=39149 dport=42366 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_LISTEN newstate=TCP_SYN_RECV";

    #[test]
    fn a_reset_line_gives_its_reason_state_and_task() {
        let l = line(RESET).unwrap();
        assert_eq!(
            (l.comm.as_str(), l.pid, l.tgid),
            ("zerowin", 18020, Some(18020))
        );
        assert!(!l.in_softirq);
        assert_eq!(l.ts_ns, 32_889_020_179_000);
        let Event::SendReset {
            local,
            remote,
            state,
            reason,
        } = l.event
        else {
            panic!("not a reset: {:?}", l.event)
        };
        assert_eq!(local.to_string(), "127.0.0.1:39149");
        assert_eq!(remote.port(), 42366);
        assert_eq!(
            (state.as_str(), reason.as_str()),
            ("TCP_CLOSE", "TCP_ABORT_ON_CLOSE")
        );
    }

    #[test]
    fn a_command_with_spaces_and_dashes_and_a_softirq_flag() {
        let l = line(STATE).unwrap();
        assert_eq!((l.comm.as_str(), l.pid), ("my prog-name", 7));
        assert!(l.in_softirq);
        assert!(matches!(l.event, Event::SetState { ref to, .. } if to == "TCP_SYN_RECV"));
    }

    #[test]
    fn headers_and_strangers_are_not_events() {
        assert!(is_comment("# tracer: nop"));
        assert!(is_comment("CPU:1 [LOST 12 EVENTS]"));
        assert_eq!(line("garbage"), None);
        let unknown_tgid = RESET.replace("(  18020)", "(-------)");
        assert_eq!(line(&unknown_tgid).unwrap().tgid, None);
        let other = RESET.replace("tcp_send_reset:", "tcp_bad_csum:");
        assert_eq!(line(&other), None);
    }
}
