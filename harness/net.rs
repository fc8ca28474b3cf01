//! What links a trial's client and sender: the `[net]` table, and the link itself.
//!
//! - `topology = "loopback"` (the default): both run in the trial's namespace and
//!   talk over its `lo`, as every trial did before this table existed.
//! - `topology = "veth"`: two hosts on one machine. The client stays in the trial's
//!   namespace; the sender gets a namespace of its own; a veth pair links them,
//!   `zwc` (10.77.0.1/30) on the client's side and `zws` (10.77.0.2/30) on the
//!   sender's. The pair is made with its peer placed straight into the sender's
//!   namespace, so the host namespace never holds an end, an address or a route of
//!   it. Both neighbour entries are permanent: no ARP is sent, so a blackholed link
//!   cannot turn into EHOSTUNREACH through a failed ARP. `mtu` sets both ends;
//!   `sender_rate` and `client_rate` put a tbf qdisc on that side's way out.
//!   There is no netem on these machines, so the link adds no delay or loss.
//!
//! Both namespaces are unnamed: the sender's is held by one descriptor, the client's
//! by the trial's thread. When the trial ends they go, and the pair with them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::limits::Int;
use crate::settings::{Keys, ScenarioError};
use crate::sys::netns::{self, Netns};
use crate::sys::rtnl::{End, Rtnl};

/// The client's end of the pair, in the trial's namespace.
pub const CLIENT_DEV: &str = "zwc";
/// The sender's end, in the sender's namespace.
pub const SENDER_DEV: &str = "zws";
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
pub const SENDER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// The client's address after a `half-dead-client` fault.
pub const CLIENT_ADDR_MOVED: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 3);
const PREFIX: u8 = 30;
/// Locally administered addresses, fixed: each pair lives in namespaces of its own.
const CLIENT_MAC: [u8; 6] = [0x02, 0x7a, 0x77, 0, 0, 1];
const SENDER_MAC: [u8; 6] = [0x02, 0x7a, 0x77, 0, 0, 2];
/// The MTU a veth may have (68 is IPv4's minimum).
pub const MTU: Int = Int::new(68, 65535);
/// Rates tbf is given, in bit/s.
const RATE_MIN: u64 = 10_000;
const RATE_MAX: u64 = 40_000_000_000;
/// How long `tc` may take.
const TC_WAIT: Duration = Duration::from_secs(2);

/// Where the trial's two programs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    #[default]
    Loopback,
    Veth,
}

impl FromStr for Topology {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "loopback" => Ok(Topology::Loopback),
            "veth" => Ok(Topology::Veth),
            _ => Err(format!("unknown topology `{s}`; expected loopback or veth")),
        }
    }
}

/// A rate in bits per second, written as tc writes it: "10mbit", "512kbit", "1gbit",
/// "9600bit" (k, m, g are powers of 1000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rate(pub u64);

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("`{s}` is not a rate; write it as tc does: \"10mbit\", \"512kbit\", \"1gbit\"")
        };
        let t = s.trim().to_ascii_lowercase();
        let digits = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = t[..digits].parse().map_err(|_| bad())?;
        let scale = match &t[digits..] {
            "bit" => 1,
            "kbit" => 1_000,
            "mbit" => 1_000_000,
            "gbit" => 1_000_000_000,
            _ => return Err(bad()),
        };
        let bits = n.checked_mul(scale).ok_or_else(bad)?;
        if !(RATE_MIN..=RATE_MAX).contains(&bits) {
            return Err(format!(
                "`{s}` is out of range; a rate must be between 10kbit and 40gbit"
            ));
        }
        Ok(Rate(bits))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            b if b % 1_000_000_000 == 0 => write!(f, "{}gbit", b / 1_000_000_000),
            b if b % 1_000_000 == 0 => write!(f, "{}mbit", b / 1_000_000),
            b if b % 1_000 == 0 => write!(f, "{}kbit", b / 1_000),
            b => write!(f, "{b}bit"),
        }
    }
}

/// One direction of the link, named by the side whose packets leave on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The sender's way out: what the client receives.
    Sender,
    /// The client's way out: what the sender receives.
    Client,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Sender => "sender",
            Direction::Client => "client",
        }
    }
}

impl FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sender" => Ok(Direction::Sender),
            "client" => Ok(Direction::Client),
            _ => Err(format!(
                "unknown direction `{s}`; expected sender (its way out) or client"
            )),
        }
    }
}

/// The `[net]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct NetConfig {
    pub topology: Topology,
    pub mtu: u32,
    pub sender_rate: Option<Rate>,
    pub client_rate: Option<Rate>,
}

impl NetConfig {
    /// The keys of `[net]`, with one line of help each.
    pub const KEYS: [(&'static str, &'static str); 4] = [
        (
            "topology",
            "loopback (default) or veth: two namespaces and a veth pair",
        ),
        ("mtu", "veth only: both ends' MTU (default 1500)"),
        (
            "sender_rate",
            "veth only: tbf on the sender's way out, \"10mbit\"",
        ),
        ("client_rate", "veth only: tbf on the client's way out"),
    ];

    /// Reads and checks `[net]`.
    pub fn read(keys: &mut Keys) -> Result<NetConfig, ScenarioError> {
        let topology = keys.parse::<Topology>("topology")?.unwrap_or_default();
        let mtu = keys.int("mtu", MTU)?;
        let sender_rate = keys.parse::<Rate>("sender_rate")?;
        let client_rate = keys.parse::<Rate>("client_rate")?;
        if topology == Topology::Loopback {
            for (k, set) in [
                ("mtu", mtu.is_some()),
                ("sender_rate", sender_rate.is_some()),
                ("client_rate", client_rate.is_some()),
            ] {
                if set {
                    return Err(keys.invalid(
                        k,
                        "applies to the veth topology only; set topology = \"veth\"",
                    ));
                }
            }
        }
        Ok(NetConfig {
            topology,
            mtu: mtu.unwrap_or(1500) as u32,
            sender_rate,
            client_rate,
        })
    }

    pub fn is_veth(&self) -> bool {
        self.topology == Topology::Veth
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        match self.topology {
            Topology::Loopback => "loopback".into(),
            Topology::Veth => {
                let mut s = format!("veth, MTU {}", self.mtu);
                for (side, r) in [("sender", self.sender_rate), ("client", self.client_rate)] {
                    if let Some(r) = r {
                        s.push_str(&format!(", {side} out {r}"));
                    }
                }
                s
            }
        }
    }
}

/// What the record says of the link a trial ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkInfo {
    pub config: NetConfig,
    pub client_addr: Ipv4Addr,
    pub sender_addr: Ipv4Addr,
    /// The namespaces' inodes.
    pub client_netns: u64,
    pub sender_netns: u64,
    /// The sysctls set in the sender's namespace, as read back.
    pub sender_sysctls: BTreeMap<String, String>,
}

/// A veth pair between the calling thread's namespace (the client's) and a new one
/// (the sender's). Dropping it drops the sender's namespace and with it the pair.
pub struct Veth {
    sender_ns: Arc<Netns>,
    client_ns: Netns,
    pub info: LinkInfo,
}

impl Veth {
    /// Makes the sender's namespace (with the same `sysctls` as the client's) and the
    /// pair, addresses, neighbours and rates. Call it on the trial's thread.
    pub fn up(config: &NetConfig, sysctls: &BTreeMap<String, String>) -> Result<Veth> {
        let (sender_ns, sender_sysctls) =
            Netns::create(sysctls).context("making the sender's namespace")?;
        let client_ns = Netns::current()?;
        let client = End {
            name: CLIENT_DEV,
            mac: CLIENT_MAC,
        };
        let sender = End {
            name: SENDER_DEV,
            mac: SENDER_MAC,
        };
        // Without IPv6 on the pair: no link-local addresses, no DAD, no router or
        // multicast solicitations, on a link that carries IPv4 alone.
        netns::write_ipv6_default("disable_ipv6", "1")?;
        sender_ns.run(|| netns::write_ipv6_default("disable_ipv6", "1"))?;
        let mut rt = Rtnl::open()?;
        rt.add_veth(&client, &sender, sender_ns.raw(), config.mtu)?;
        configure(&mut rt, CLIENT_DEV, CLIENT_ADDR, SENDER_ADDR, SENDER_MAC)?;
        sender_ns.run(|| {
            configure(
                &mut Rtnl::open()?,
                SENDER_DEV,
                SENDER_ADDR,
                CLIENT_ADDR,
                CLIENT_MAC,
            )
        })?;
        let veth = Veth {
            info: LinkInfo {
                config: *config,
                client_addr: CLIENT_ADDR,
                sender_addr: SENDER_ADDR,
                client_netns: client_ns.id()?,
                sender_netns: sender_ns.id()?,
                sender_sysctls,
            },
            sender_ns: Arc::new(sender_ns),
            client_ns,
        };
        for (dir, rate) in [
            (Direction::Sender, config.sender_rate),
            (Direction::Client, config.client_rate),
        ] {
            if let Some(r) = rate {
                veth.set_rate(dir, r)?;
            }
        }
        Ok(veth)
    }

    /// The sender's namespace, for starting it there and reading its kernel.
    pub fn sender_ns(&self) -> &Arc<Netns> {
        &self.sender_ns
    }

    /// The sender's host loses its address: from now on nothing crosses, either way,
    /// and nothing comes back. What the client sends still leaves its end (the
    /// capture sees it) and is dropped silently by the sender's kernel: it is not
    /// for that host, and the host does not forward, so there is no RST and no ICMP.
    /// The sender's own packets have no route out.
    ///
    /// Setting the sender's end down blackholes too, but the client's end then loses
    /// its carrier, and a device without carrier drops what is sent to it in its
    /// qdisc, before any capture point: the keepalive probes would not be seen.
    pub fn blackhole(&self) -> Result<()> {
        self.sender_ns
            .run(|| Rtnl::open()?.del_address(SENDER_DEV, SENDER_ADDR, PREFIX))
            .context("blackhole")
    }

    /// Gives the sender's host its address back, and with it its route.
    pub fn heal(&self) -> Result<()> {
        self.sender_ns
            .run(|| {
                let mut rt = Rtnl::open()?;
                rt.add_address(SENDER_DEV, SENDER_ADDR, PREFIX)?;
                rt.set_neighbour(SENDER_DEV, CLIENT_ADDR, CLIENT_MAC)
            })
            .context("heal")
    }

    /// A half-dead client: its address moves to [`CLIENT_ADDR_MOVED`]. Its live
    /// connection is dead both ways, with nothing said: what the sender sends to the
    /// old address reaches the client's host and is dropped there (not its address,
    /// and a host does not forward), and what the client's kernel retransmits from it
    /// finds no route. A new connection picks the new address and works. There is no
    /// netem or iptables here to drop one connection's packets; moving the address
    /// kills exactly the connections made before it, as a NAT that forgot its mapping
    /// or a client whose DHCP address changed would.
    pub fn move_client_address(&self) -> Result<()> {
        self.sender_ns
            .run(|| Rtnl::open()?.set_neighbour(SENDER_DEV, CLIENT_ADDR_MOVED, CLIENT_MAC))
            .context("half-dead-client: the sender's neighbour")?;
        self.client_ns
            .run(|| {
                // Removed first: deleting a primary address deletes the secondaries of
                // its subnet with it (promote_secondaries is off by default).
                let mut rt = Rtnl::open()?;
                rt.del_address(CLIENT_DEV, CLIENT_ADDR, PREFIX)?;
                rt.add_address(CLIENT_DEV, CLIENT_ADDR_MOVED, PREFIX)
            })
            .context("half-dead-client: moving the client's address")
    }

    /// Puts (or replaces) a tbf qdisc at `rate` on that direction's way out.
    pub fn set_rate(&self, dir: Direction, rate: Rate) -> Result<()> {
        let (ns, dev) = match dir {
            Direction::Sender => (&*self.sender_ns, SENDER_DEV),
            Direction::Client => (&self.client_ns, CLIENT_DEV),
        };
        // Burst: 10 ms at the rate, and never less than two full frames.
        let burst = (rate.0 / 8 / 100).max(2 * (self.info.config.mtu as u64 + 14));
        let mut cmd = Command::new("tc");
        cmd.args(["qdisc", "replace", "dev", dev, "root", "tbf"])
            .args(["rate", &format!("{}bit", rate.0)])
            .args(["burst", &burst.to_string(), "latency", "100ms"]);
        let fd = ns.raw();
        // SAFETY: the closure only calls setns, which is async-signal-safe; `ns` (and
        // so `fd`) outlives the child's exec.
        unsafe {
            cmd.pre_exec(move || netns::setns(fd));
        }
        crate::process::run_bounded(&mut cmd, TC_WAIT)
            .with_context(|| format!("tc: rate {rate} on {dev}"))
    }
}

/// Runs `f` in the sender's namespace when the trial has a pair, else on this thread
/// (loopback: the sender shares the trial's namespace).
pub fn in_sender_ns<T: Send>(
    link: Option<&Veth>,
    f: impl FnOnce() -> std::io::Result<T> + Send,
) -> std::io::Result<T> {
    match link {
        Some(l) => l.sender_ns.run(f),
        None => f(),
    }
}

/// Address, permanent neighbour, up: one end of the pair, in its own namespace.
fn configure(
    rt: &mut Rtnl,
    dev: &str,
    ip: Ipv4Addr,
    peer: Ipv4Addr,
    peer_mac: [u8; 6],
) -> std::io::Result<()> {
    rt.add_address(dev, ip, PREFIX)?;
    rt.set_up(dev, true)?;
    rt.set_neighbour(dev, peer, peer_mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_tc_writes_them() {
        assert_eq!("10mbit".parse::<Rate>(), Ok(Rate(10_000_000)));
        assert_eq!("512kbit".parse::<Rate>(), Ok(Rate(512_000)));
        assert_eq!("1GBIT".parse::<Rate>(), Ok(Rate(1_000_000_000)));
        assert_eq!(Rate(10_000_000).to_string(), "10mbit");
        for bad in [
            "10",
            "mbit",
            "10 mbps",
            "-1mbit",
            "5bit",
            "100gbit",
            "99999999999999999999bit",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    /// On this machine's kernel: a pair between two fresh namespaces carries TCP, the
    /// host namespace never sees it, a blackhole stops it, and a heal lets it through
    /// again.
    #[test]
    fn a_veth_pair_links_two_namespaces_and_nothing_else() {
        let host = netns::namespace_id().unwrap();
        std::thread::spawn(move || {
            netns::unshare_net().unwrap();
            netns::set_loopback_up().unwrap();
            let cfg = NetConfig {
                topology: Topology::Veth,
                mtu: 1500,
                sender_rate: None,
                client_rate: None,
            };
            let v = Veth::up(&cfg, &BTreeMap::new()).unwrap();
            assert_ne!(v.info.sender_netns, host);
            assert_ne!(v.info.client_netns, v.info.sender_netns);
            let l = v
                .sender_ns()
                .run(|| std::net::TcpListener::bind((SENDER_ADDR, 0)))
                .unwrap();
            let port = l.local_addr().unwrap().port();
            // 3 s: room for one lost SYN and its retransmission after the 1 s initial
            // RTO (seen once in a full `cargo test --lib`: a 1 s connect timed out).
            let c = std::net::TcpStream::connect_timeout(
                &(SENDER_ADDR, port).into(),
                Duration::from_secs(3),
            )
            .unwrap();
            assert_eq!(c.local_addr().unwrap().ip(), CLIENT_ADDR);
            let (mut s, _) = l.accept().unwrap();
            // A blackhole stops what is sent: a byte written does not arrive, and a new
            // connection does not get through.
            v.blackhole().unwrap();
            use std::io::{Read, Write};
            (&c).write_all(b"x").unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let mut b = [0u8; 1];
            let e = s.read(&mut b).unwrap_err();
            assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "{e}"
            );
            assert!(
                std::net::TcpStream::connect_timeout(
                    &(SENDER_ADDR, port).into(),
                    Duration::from_millis(300)
                )
                .is_err(),
                "a connection got through the blackhole"
            );
            // Healed, the byte's retransmission arrives, and so does a new connection.
            v.heal().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            assert_eq!(s.read(&mut b).unwrap(), 1);
            assert_eq!(&b, b"x");
            std::net::TcpStream::connect_timeout(
                &(SENDER_ADDR, port).into(),
                Duration::from_secs(2),
            )
            .unwrap();
            v.set_rate(Direction::Sender, Rate(10_000_000)).unwrap();
        })
        .join()
        .unwrap();
        assert!(
            crate::sys::rtnl::index(CLIENT_DEV).is_err(),
            "the host has no end"
        );
    }
}
