//! `zerowin watch`'s reading of a live host: each event line in, each reset that
//! passes the filters out, with the process that owned the connection and, with
//! `tcp_probe` on, the zero-window history before it. Every table here is bounded,
//! so a busy host costs memory up to a limit and no more.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use super::parse::{Event, Line};
use crate::record::kernel::RstReason;

/// Connections whose owner or window history is kept at most.
pub const TRACKED: usize = 65_536;

/// What `watch` was asked to keep.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub ports: Vec<u16>,
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
    /// `--netns`: its addresses (not loopback's) and its inode, to know its tasks.
    pub netns: Option<NetnsMatch>,
}

/// One namespace, recognised by its addresses, by the sockets seen in it (its own
/// TCP table, read from inside it every tick: loopback's addresses are every
/// namespace's, its ports are not), and by the namespace of a task still alive.
#[derive(Debug, Clone, Default)]
pub struct NetnsMatch {
    pub addrs: Vec<IpAddr>,
    pub inode: u64,
    pub sockets: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<SocketAddr>>>,
}

impl NetnsMatch {
    /// Adds the local endpoints of a `/proc/net/tcp` or `tcp6` table read inside the
    /// namespace; the set is bounded (emptied when full).
    pub fn saw(&self, table: &str) {
        let Ok(mut set) = self.sockets.lock() else {
            return;
        };
        if set.len() >= TRACKED {
            set.clear();
        }
        set.extend(table.lines().skip(1).filter_map(proc_local));
    }

    fn has(&self, a: &SocketAddr) -> bool {
        self.sockets.lock().is_ok_and(|s| s.contains(a))
    }
}

/// The local address of one row of /proc/net/tcp(6): `0100007F:2008` is 127.0.0.1:8200
/// (each 32-bit word printed in the machine's byte order).
fn proc_local(row: &str) -> Option<SocketAddr> {
    let local = row.split_whitespace().nth(1)?;
    let (ip, port) = local.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_ne_bytes(),
        )
    };
    let ip: IpAddr = match ip.len() {
        8 => std::net::Ipv4Addr::from(word(0)?).into(),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            std::net::Ipv6Addr::from(b).into()
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The process that made a connection's last change in process context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub tgid: u32,
    pub comm: String,
}

/// A connection's zero windows, as one end saw its peer advertise them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Windows {
    /// Times the peer's window went to zero.
    pub zero_spans: u64,
    /// When the current zero window began (mono ns), if it is zero now.
    pub zero_since_ns: Option<u64>,
    /// When the last zero window ended.
    pub last_open_ns: Option<u64>,
    pub segments: u64,
}

/// One reset, for a line of `watch`.
#[derive(Debug, Clone)]
pub struct Reset {
    pub ts_ns: u64,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub reason_name: String,
    pub reason: Option<RstReason>,
    pub state: String,
    pub comm: String,
    pub pid: u32,
    pub tgid: Option<u32>,
    pub in_softirq: bool,
    pub owner: Option<Owner>,
    /// With `--windows`: what the resetting end saw of its peer's window, and what
    /// the peer saw of its.
    pub windows: Option<(Windows, Windows)>,
}

/// A bounded map: the oldest key goes when it is full.
#[derive(Debug)]
struct Bounded<V> {
    map: HashMap<(SocketAddr, SocketAddr), V>,
    order: VecDeque<(SocketAddr, SocketAddr)>,
}

impl<V: Default> Bounded<V> {
    fn new() -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn entry(&mut self, k: (SocketAddr, SocketAddr)) -> &mut V {
        if !self.map.contains_key(&k) {
            if self.order.len() >= TRACKED
                && let Some(old) = self.order.pop_front()
            {
                self.map.remove(&old);
            }
            self.order.push_back(k);
        }
        self.map.entry(k).or_default()
    }

    fn get(&self, k: &(SocketAddr, SocketAddr)) -> Option<&V> {
        self.map.get(k)
    }
}

/// The state of a watch.
#[derive(Debug)]
pub struct Live {
    pub filter: Filter,
    owners: Bounded<Option<Owner>>,
    windows: Bounded<Windows>,
    /// Resets by (reason, command of the owner or the task).
    pub summary: BTreeMap<(String, String), u64>,
    pub events: u64,
    /// The namespace of each task asked about, bounded as the rest.
    task_ns: HashMap<u32, u64>,
}

impl Live {
    pub fn new(filter: Filter) -> Live {
        Live {
            filter,
            owners: Bounded::new(),
            windows: Bounded::new(),
            summary: BTreeMap::new(),
            events: 0,
            task_ns: HashMap::new(),
        }
    }

    /// Takes one event; returns the reset it is, when it passes the filters.
    pub fn feed(&mut self, l: &Line) -> Option<Reset> {
        self.events += 1;
        let (local, remote) = l.event.endpoints()?;
        if !l.in_softirq
            && let Some(tgid) = l.tgid
            && remote.port() != 0
        {
            *self.owners.entry((local, remote)) = Some(Owner {
                tgid,
                comm: l.comm.clone(),
            });
        }
        match &l.event {
            Event::Probe { snd_wnd, .. } => {
                self.window(local, remote, *snd_wnd, l.ts_ns);
                None
            }
            Event::SendReset { state, reason, .. } => self.reset(l, local, remote, state, reason),
            _ => None,
        }
    }

    fn window(&mut self, local: SocketAddr, remote: SocketAddr, wnd: u32, ts: u64) {
        let w = self.windows.entry((local, remote));
        w.segments += 1;
        match (wnd == 0, w.zero_since_ns) {
            (true, None) => {
                w.zero_spans += 1;
                w.zero_since_ns = Some(ts);
            }
            (false, Some(_)) => {
                w.zero_since_ns = None;
                w.last_open_ns = Some(ts);
            }
            _ => {}
        }
    }

    fn reset(
        &mut self,
        l: &Line,
        local: SocketAddr,
        remote: SocketAddr,
        state: &str,
        reason: &str,
    ) -> Option<Reset> {
        let owner = self.owners.get(&(local, remote)).cloned().flatten();
        if !self.passes(l, local, remote, owner.as_ref()) {
            return None;
        }
        let windows = match (
            self.windows.get(&(local, remote)),
            self.windows.get(&(remote, local)),
        ) {
            (None, None) => None,
            (a, b) => Some((
                a.cloned().unwrap_or_default(),
                b.cloned().unwrap_or_default(),
            )),
        };
        let who = owner.as_ref().map_or(l.comm.clone(), |o| o.comm.clone());
        *self.summary.entry((reason.to_string(), who)).or_default() += 1;
        Some(Reset {
            ts_ns: l.ts_ns,
            local,
            remote,
            reason_name: reason.to_string(),
            reason: reason.parse().ok(),
            state: state.to_string(),
            comm: l.comm.clone(),
            pid: l.pid,
            tgid: l.tgid,
            in_softirq: l.in_softirq,
            owner,
            windows,
        })
    }

    /// Every filter given must match (any of its values).
    fn passes(
        &mut self,
        l: &Line,
        local: SocketAddr,
        remote: SocketAddr,
        owner: Option<&Owner>,
    ) -> bool {
        let f = &self.filter;
        let port = f.ports.is_empty()
            || f.ports.contains(&local.port())
            || f.ports.contains(&remote.port());
        let task =
            |pid: u32| l.pid == pid || l.tgid == Some(pid) || owner.is_some_and(|o| o.tgid == pid);
        let pid = f.pids.is_empty() || f.pids.iter().any(|p| task(*p));
        let comm = f.comms.is_empty()
            || f.comms
                .iter()
                .any(|c| *c == l.comm || owner.is_some_and(|o| o.comm == *c));
        port && pid && comm && self.in_netns(l, local, owner)
    }

    /// `--netns`: the socket's own address is one of the namespace's, or the task
    /// that sent it (or owns the connection) lives in it.
    fn in_netns(&mut self, l: &Line, local: SocketAddr, owner: Option<&Owner>) -> bool {
        let Some(ns) = self.filter.netns.clone() else {
            return true;
        };
        if ns.addrs.contains(&local.ip()) || ns.has(&local) {
            return true;
        }
        let mut tasks: Vec<u32> = owner.map(|o| o.tgid).into_iter().collect();
        if !l.in_softirq {
            tasks.extend(l.tgid);
        }
        tasks
            .into_iter()
            .any(|t| self.task_netns(t) == Some(ns.inode))
    }

    fn task_netns(&mut self, tgid: u32) -> Option<u64> {
        if let Some(i) = self.task_ns.get(&tgid) {
            return Some(*i);
        }
        use std::os::unix::fs::MetadataExt;
        let ino = std::fs::metadata(format!("/proc/{tgid}/ns/net"))
            .ok()?
            .ino();
        if self.task_ns.len() >= TRACKED {
            self.task_ns.clear();
        }
        self.task_ns.insert(tgid, ino);
        Some(ino)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::kernel::parse::line;

    const CLOSE: &str = "python3-700 (  700) [001] ..... 100.000100: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=8000 dport=5000 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::1 daddrv6=::1 oldstate=TCP_ESTABLISHED newstate=TCP_FIN_WAIT1";
    const ON_DATA: &str = "other-9 (  9) [001] ..s1. 100.020000: tcp_send_reset: skbaddr=0 skaddr=1 src=127.0.0.1:8000 dest=127.0.0.1:5000 state=TCP_CLOSE reason=TCP_ABORT_ON_DATA";
    const ELSEWHERE: &str = "nginx-8 (  8) [001] ..... 100.030000: tcp_send_reset: skbaddr=0 skaddr=1 src=127.0.0.1:80 dest=127.0.0.1:5001 state=TCP_CLOSE reason=TCP_ABORT_ON_CLOSE";

    #[test]
    fn a_softirq_reset_is_named_by_the_process_that_owned_its_connection() {
        let mut live = Live::new(Filter {
            comms: vec!["python3".into()],
            ..Filter::default()
        });
        assert!(live.feed(&line(CLOSE).unwrap()).is_none());
        let r = live
            .feed(&line(ON_DATA).unwrap())
            .expect("the owner's reset");
        assert_eq!(r.owner.as_ref().map(|o| o.tgid), Some(700));
        assert!(r.in_softirq);
        assert!(
            live.feed(&line(ELSEWHERE).unwrap()).is_none(),
            "not python3's"
        );
        assert_eq!(
            live.summary
                .get(&("TCP_ABORT_ON_DATA".into(), "python3".into())),
            Some(&1)
        );
    }

    #[test]
    fn a_tcp_tables_local_addresses() {
        let v4 = "  sl  local_address rem_address   st\n   0: 0100007F:2008 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1";
        assert_eq!(
            proc_local(v4.lines().nth(1).unwrap()),
            Some("127.0.0.1:8200".parse().unwrap())
        );
        let v6 =
            "   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A";
        assert_eq!(proc_local(v6), Some("[::1]:80".parse().unwrap()));
        let ns = NetnsMatch::default();
        ns.saw(v4);
        assert!(ns.has(&"127.0.0.1:8200".parse().unwrap()));
    }

    #[test]
    fn the_port_filter_and_the_zero_window_before_a_reset() {
        let mut live = Live::new(Filter {
            ports: vec![8000],
            ..Filter::default()
        });
        let probe = |t: &str, wnd: u32| {
            format!(
                "python3-700 (  700) [001] ..s1. {t}: tcp_probe: family=AF_INET src=127.0.0.1:8000 dest=127.0.0.1:5000 mark=0x0 data_len=0 snd_nxt=0x1 snd_una=0x1 snd_cwnd=10 ssthresh=7 snd_wnd={wnd} srtt=10 rcv_wnd=65536 sock_cookie=1 skbaddr=0 skaddr=1"
            )
        };
        for (t, w) in [("100.000001", 512), ("100.000002", 0), ("100.000003", 0)] {
            assert!(live.feed(&line(&probe(t, w)).unwrap()).is_none());
        }
        let r = live.feed(&line(ON_DATA).unwrap()).unwrap();
        let (mine, _) = r.windows.unwrap();
        assert_eq!(
            (mine.zero_spans, mine.zero_since_ns),
            (1, Some(100_000_002_000))
        );
        assert!(live.feed(&line(ELSEWHERE).unwrap()).is_none(), "port 80");
    }
}
