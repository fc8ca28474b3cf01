//! The socket options either side sets, the guards the socket-options document is about.
//!
//! A client's own options:
//! per-call timeouts (`connect_timeout`, `recv_timeout`, `send_timeout`: what Python's
//! `settimeout` does), TCP keepalive (`keepalive`, `keepidle`, `keepintvl`,
//! `keepcnt`), `user_timeout` (TCP_USER_TIMEOUT) and `nodelay`.
//!
//! Without a timeout of its own, a client waits as long as the call does: the harness
//! bounds it by the trial's deadline, and a trial that reaches it is `hung`. Every
//! option is applied before connect() and read back with getsockopt into the record,
//! so the record shows what the kernel took, not what was asked.

use std::net::TcpListener;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use socket2::{Socket, TcpKeepalive};

use crate::limits::{self, Dur, Int};
use crate::settings::{Keys, ScenarioError};

/// The options a client sets on its socket; None leaves the kernel's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SocketOptions {
    pub connect_timeout: Option<Duration>,
    pub recv_timeout: Option<Duration>,
    pub send_timeout: Option<Duration>,
    pub keepalive: Option<Keepalive>,
    pub user_timeout: Option<Duration>,
    pub nodelay: Option<bool>,
}

/// SO_KEEPALIVE with its three settings; a setting left out keeps the namespace's
/// sysctl (`tcp_keepalive_time`, `_intvl`, `_probes`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keepalive {
    pub idle: Option<Duration>,
    pub interval: Option<Duration>,
    pub count: Option<u32>,
}

/// The keys, with their help lines, for every in-process client.
pub const KEYS: &[(&str, &str)] = &[
    (
        "connect_timeout",
        "the client's own connect() timeout (none)",
    ),
    (
        "recv_timeout",
        "SO_RCVTIMEO: the client's own timeout per read (none)",
    ),
    (
        "send_timeout",
        "SO_SNDTIMEO: the client's own timeout per send (none)",
    ),
    ("keepalive", "SO_KEEPALIVE (false)"),
    ("keepidle", "TCP_KEEPIDLE, whole seconds (the sysctl)"),
    ("keepintvl", "TCP_KEEPINTVL, whole seconds (the sysctl)"),
    ("keepcnt", "TCP_KEEPCNT (the sysctl)"),
    ("user_timeout", "TCP_USER_TIMEOUT (off)"),
    ("nodelay", "TCP_NODELAY (false)"),
];

/// Timeouts from a millisecond to an hour.
const TIMEOUT: Dur = limits::CALL_TIMEOUT;
/// Keepalive's idle time and interval: whole seconds, as the kernel takes them.
const KEEP_SECS: Dur = Dur::new(Duration::from_secs(1), Duration::from_secs(32767));

impl SocketOptions {
    /// Reads the keys of [`KEYS`].
    pub fn read(keys: &mut Keys) -> Result<SocketOptions, ScenarioError> {
        Ok(SocketOptions {
            connect_timeout: keys.duration("connect_timeout", TIMEOUT)?,
            recv_timeout: keys.duration("recv_timeout", TIMEOUT)?,
            send_timeout: keys.duration("send_timeout", TIMEOUT)?,
            ..SocketOptions::read_tcp(keys)?
        })
    }

    /// Reads the TCP keys both sides take: keepalive and its settings, user_timeout,
    /// nodelay.
    fn read_tcp(keys: &mut Keys) -> Result<SocketOptions, ScenarioError> {
        let mut o = SocketOptions {
            user_timeout: keys.duration("user_timeout", TIMEOUT)?,
            nodelay: keys.bool("nodelay")?,
            ..SocketOptions::default()
        };
        let on = keys.bool("keepalive")?;
        // Named in an error: the first of the three that is set.
        let tuning = ["keepidle", "keepintvl", "keepcnt"]
            .into_iter()
            .find(|k| keys.has(k))
            .unwrap_or("keepalive");
        let k = Keepalive {
            idle: whole_seconds(keys, "keepidle")?,
            interval: whole_seconds(keys, "keepintvl")?,
            count: keys.int("keepcnt", Int::new(1, 127))?.map(|n| n as u32),
        };
        let tuned = k != Keepalive::default();
        match on {
            Some(true) => o.keepalive = Some(k),
            _ if tuned => {
                return Err(keys.invalid(
                    tuning,
                    "keepidle, keepintvl and keepcnt need keepalive = true",
                ));
            }
            _ => {}
        }
        Ok(o)
    }

    /// Sets the options on a socket not yet connected. The timeouts are set as
    /// SO_RCVTIMEO/SO_SNDTIMEO too, so that the record reads them back; a loop that
    /// polls waits the same timeouts itself.
    pub fn apply(&self, sock: &Socket) -> std::io::Result<()> {
        if self.recv_timeout.is_some() {
            sock.set_read_timeout(self.recv_timeout)?;
        }
        if self.send_timeout.is_some() {
            sock.set_write_timeout(self.send_timeout)?;
        }
        if let Some(k) = &self.keepalive {
            let mut ka = TcpKeepalive::new();
            if let Some(t) = k.idle {
                ka = ka.with_time(t);
            }
            if let Some(t) = k.interval {
                ka = ka.with_interval(t);
            }
            if let Some(n) = k.count {
                ka = ka.with_retries(n);
            }
            sock.set_keepalive(true)?;
            sock.set_tcp_keepalive(&ka)?;
        }
        if self.user_timeout.is_some() {
            sock.set_tcp_user_timeout(self.user_timeout)?;
        }
        if let Some(n) = self.nodelay {
            sock.set_tcp_nodelay(n)?;
        }
        Ok(())
    }
}

fn whole_seconds(keys: &mut Keys, key: &str) -> Result<Option<Duration>, ScenarioError> {
    let d = keys.duration(key, KEEP_SECS)?;
    if let Some(d) = d
        && d.subsec_nanos() != 0
    {
        return Err(keys.invalid(key, "the kernel takes whole seconds"));
    }
    Ok(d)
}

/// What the kernel holds for a socket's options, read back with getsockopt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readback {
    pub recv_timeout_us: Option<u64>,
    pub send_timeout_us: Option<u64>,
    pub keepalive: bool,
    pub keepidle_s: u64,
    pub keepintvl_s: u64,
    pub keepcnt: u32,
    pub user_timeout_ms: Option<u64>,
    pub nodelay: bool,
    /// A sender's listener: SO_REUSEADDR and SO_REUSEPORT (None for a client).
    pub reuseaddr: Option<bool>,
    pub reuseport: Option<bool>,
}

impl Readback {
    pub fn of(sock: &Socket) -> std::io::Result<Readback> {
        let us = |d: Option<Duration>| d.map(|d| d.as_micros() as u64);
        Ok(Readback {
            recv_timeout_us: us(sock.read_timeout()?),
            send_timeout_us: us(sock.write_timeout()?),
            keepalive: sock.keepalive()?,
            keepidle_s: sock.tcp_keepalive_time()?.as_secs(),
            keepintvl_s: sock.tcp_keepalive_interval()?.as_secs(),
            keepcnt: sock.tcp_keepalive_retries()?,
            user_timeout_ms: sock.tcp_user_timeout()?.map(|d| d.as_millis() as u64),
            nodelay: sock.tcp_nodelay()?,
            reuseaddr: None,
            reuseport: None,
        })
    }
}

/// A sender's options: TCP options on each connection it accepts, and SO_REUSEADDR
/// (true by default, as every server should) and SO_REUSEPORT on its listener.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerOptions {
    pub tcp: SocketOptions,
    pub reuseaddr: bool,
    pub reuseport: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            tcp: SocketOptions::default(),
            reuseaddr: true,
            reuseport: false,
        }
    }
}

/// The keys a sender of zerowin's own takes, with their help lines.
pub const SERVER_KEYS: &[(&str, &str)] = &[
    ("keepalive", "SO_KEEPALIVE on each connection (false)"),
    ("keepidle", "TCP_KEEPIDLE, whole seconds (the sysctl)"),
    ("keepintvl", "TCP_KEEPINTVL, whole seconds (the sysctl)"),
    ("keepcnt", "TCP_KEEPCNT (the sysctl)"),
    ("user_timeout", "TCP_USER_TIMEOUT on each connection (off)"),
    ("nodelay", "TCP_NODELAY on each connection (false)"),
    ("reuseaddr", "SO_REUSEADDR on the listener (true)"),
    ("reuseport", "SO_REUSEPORT on the listener (false)"),
];

impl ServerOptions {
    pub fn read(keys: &mut Keys) -> Result<ServerOptions, ScenarioError> {
        Ok(ServerOptions {
            tcp: SocketOptions::read_tcp(keys)?,
            reuseaddr: keys.bool("reuseaddr")?.unwrap_or(true),
            reuseport: keys.bool("reuseport")?.unwrap_or(false),
        })
    }

    /// Back to `--set KEY=VALUE` pairs, for `zerowin serve`.
    pub fn to_pairs(&self) -> Vec<String> {
        let d = |d: Duration| humantime::format_duration(d).to_string();
        let mut v = vec![
            format!("reuseaddr={}", self.reuseaddr),
            format!("reuseport={}", self.reuseport),
        ];
        if let Some(k) = &self.tcp.keepalive {
            v.push("keepalive=true".into());
            v.extend(k.idle.map(|t| format!("keepidle={}", d(t))));
            v.extend(k.interval.map(|t| format!("keepintvl={}", d(t))));
            v.extend(k.count.map(|n| format!("keepcnt={n}")));
        }
        v.extend(
            self.tcp
                .user_timeout
                .map(|t| format!("user_timeout={}", d(t))),
        );
        v.extend(self.tcp.nodelay.map(|n| format!("nodelay={n}")));
        v
    }

    /// A listener on `bind:port` with these options. A bind() that fails is also said
    /// on stdout (`zerowin-bind-error ERRNO`), for the harness that restarts senders.
    pub fn listen(&self, bind: &str, port: u16) -> std::io::Result<TcpListener> {
        let l = self.try_listen(bind, port);
        if let Err(e) = &l
            && let Some(errno) = e.raw_os_error()
        {
            use std::io::Write;
            let mut out = std::io::stdout();
            let _ = writeln!(out, "zerowin-bind-error {errno}");
            let _ = out.flush();
        }
        l
    }

    fn try_listen(&self, bind: &str, port: u16) -> std::io::Result<TcpListener> {
        let addr: std::net::SocketAddr = format!("{bind}:{port}")
            .parse()
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        let sock = Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        sock.set_reuse_address(self.reuseaddr)?;
        sock.set_reuse_port(self.reuseport)?;
        sock.bind(&addr.into())?;
        // A crowd of connections waits in the accept queue rather than losing its
        // SYNs: a dropped SYN costs its peer a 1 s retransmission. The kernel caps
        // this at net.core.somaxconn (4096 here).
        sock.listen(4096)?;
        Ok(sock.into())
    }

    /// What the kernel holds for an accepted connection and the listener, as the
    /// summary line's `sockopts=` value (JSON without spaces).
    pub fn summary_field(conn: &Socket, listener: &Socket) -> String {
        let r = Readback::of(conn).map(|mut r| {
            r.reuseaddr = listener.reuse_address().ok();
            r.reuseport = listener.reuse_port().ok();
            r
        });
        r.ok()
            .and_then(|r| serde_json::to_string(&r).ok())
            .unwrap_or_else(|| "null".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Protocol, Type};

    #[test]
    fn options_are_set_and_read_back() {
        let sock = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
        let o = SocketOptions {
            recv_timeout: Some(Duration::from_millis(500)),
            send_timeout: Some(Duration::from_secs(1)),
            keepalive: Some(Keepalive {
                idle: Some(Duration::from_secs(1)),
                interval: Some(Duration::from_secs(2)),
                count: Some(3),
            }),
            user_timeout: Some(Duration::from_secs(2)),
            nodelay: Some(true),
            connect_timeout: None,
        };
        o.apply(&sock).unwrap();
        let r = Readback::of(&sock).unwrap();
        assert_eq!(r.recv_timeout_us, Some(500_000));
        assert_eq!(r.send_timeout_us, Some(1_000_000));
        assert!(r.keepalive && r.nodelay);
        assert_eq!((r.keepidle_s, r.keepintvl_s, r.keepcnt), (1, 2, 3));
        assert_eq!(r.user_timeout_ms, Some(2000));
    }
}
