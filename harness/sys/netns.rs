//! Network namespaces and what lives in them: the loopback's flags, per-namespace
//! TCP sysctls, and the kernel's TCP counters.
//!
//! # Notes
//! - `unshare(CLONE_NEWNET)` moves only the calling *thread*; processes it spawns
//!   afterwards inherit that namespace. zerowin runs each trial on its own thread.
//! - `/proc/net` follows the *process*, so counters are read from
//!   `/proc/thread-self/net/...`, which follows the thread.
//! - `/proc/sys/net` follows the thread that opens the file, so a sysctl written
//!   from the trial thread changes only the trial's namespace.
//! - A new namespace has only `lo`, and it is down.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::cvt;

/// A network namespace held open by a file descriptor. A namespace made by
/// [`Netns::create`] has no name and no process in it: when the last holder (this
/// fd, a process in it) is gone, the kernel removes it with every interface and
/// socket in it, so nothing is left behind even when zerowin is SIGKILLed.
#[derive(Debug)]
pub struct Netns(OwnedFd);

impl Netns {
    /// The calling thread's namespace.
    pub fn current() -> io::Result<Netns> {
        Ok(Netns(
            std::fs::File::open("/proc/thread-self/ns/net")?.into(),
        ))
    }

    /// A new namespace with its `lo` up and `sysctls` (net.ipv4.*) written, made on a
    /// short-lived thread so that the caller's own namespace is untouched. Returns it
    /// with the sysctls as read back.
    pub fn create(
        sysctls: &BTreeMap<String, String>,
    ) -> io::Result<(Netns, BTreeMap<String, String>)> {
        std::thread::scope(|s| {
            s.spawn(|| {
                unshare_net()?;
                set_loopback_up()?;
                let mut applied = BTreeMap::new();
                for (k, v) in sysctls {
                    write_sysctl(k, v)?;
                    applied.insert(k.clone(), read_sysctl(k)?);
                }
                Ok((Netns::current()?, applied))
            })
            .join()
            .map_err(|_| io::Error::other("the namespace thread panicked"))?
        })
    }

    /// A namespace by its file (`/run/netns/NAME`, `/proc/PID/ns/net`).
    pub fn open(path: &std::path::Path) -> io::Result<Netns> {
        Ok(Netns(std::fs::File::open(path)?.into()))
    }

    /// Moves the calling thread into this namespace.
    pub fn enter(&self) -> io::Result<()> {
        setns(self.0.as_raw_fd())
    }

    /// Runs `f` on a thread of its own inside this namespace, and returns what it did.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.enter()?;
                f()
            })
            .join()
            .map_err(|_| io::Error::other("a thread in a namespace panicked"))?
        })
    }

    /// Makes `cmd`'s child enter this namespace between fork and exec. The caller keeps
    /// this `Netns` (and so its descriptor) open until the child has exec'd.
    pub fn enter_on_exec(&self, cmd: &mut std::process::Command) {
        let fd = self.raw();
        // SAFETY: the closure only calls setns, which is async-signal-safe.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(cmd, move || setns(fd));
        }
    }

    /// The descriptor, for [`setns`] in a child between fork and exec.
    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// The namespace's inode: equal inodes, same namespace.
    pub fn id(&self) -> io::Result<u64> {
        use std::os::unix::fs::MetadataExt;
        Ok(std::fs::File::from(self.0.try_clone()?).metadata()?.ino())
    }
}

/// setns(2) into the network namespace `fd` names. Async-signal-safe: a child may call
/// it between fork and exec (`Command::pre_exec`).
pub fn setns(fd: RawFd) -> io::Result<()> {
    // SAFETY: plain syscall on a descriptor the caller keeps open.
    cvt(unsafe { libc::setns(fd, libc::CLONE_NEWNET) }).map(|_| ())
}

/// Moves the calling thread into a new, empty network namespace. Needs
/// CAP_SYS_ADMIN: root, or root inside a user namespace ([`enter_user_namespace`]).
pub fn unshare_net() -> io::Result<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::unshare(libc::CLONE_NEWNET) }).map(|_| ())
}

/// Makes the process root of a new user namespace mapped to the current user, so an
/// unprivileged user can then create network namespaces. The kernel requires the
/// process to be single-threaded: call it first thing in `main`.
pub fn enter_user_namespace() -> io::Result<()> {
    // SAFETY: geteuid and getegid take no arguments and cannot fail.
    let uid = unsafe { libc::geteuid() };
    // SAFETY: as above.
    let gid = unsafe { libc::getegid() };
    // SAFETY: unshare takes a flag word; the caller is single-threaded, as it requires.
    cvt(unsafe { libc::unshare(libc::CLONE_NEWUSER) })?;
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    std::fs::write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    Ok(())
}

/// Sets IFF_UP on `lo` in the current namespace.
pub fn set_loopback_up() -> io::Result<()> {
    // SAFETY: plain socket(2), closed below.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    let result = (|| {
        // SAFETY: ifreq is plain old data; zeroed is a valid value.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *s as libc::c_char;
        }
        // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write ifr_flags of a valid ifreq.
        cvt(unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr) })?;
        // SAFETY: SIOCGIFFLAGS filled the union's flags member, the one read here.
        unsafe { ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
        // SAFETY: ifr is a valid ifreq naming `lo`, with the flags to set.
        cvt(unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &ifr) })?;
        Ok(())
    })();
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    result
}

/// Writes `net.ipv4.<key>` in the current thread's namespace.
pub fn write_sysctl(key: &str, value: &str) -> io::Result<()> {
    std::fs::write(format!("/proc/sys/net/ipv4/{key}"), value)
        .map_err(|e| io::Error::new(e.kind(), format!("net.ipv4.{key} = {value:?}: {e}")))
}

/// Writes `net.ipv6.conf.default.<key>` in the current thread's namespace: what every
/// device made afterwards starts with. A kernel without IPv6 has no such file, and
/// nothing to turn off: that is not an error.
pub fn write_ipv6_default(key: &str, value: &str) -> io::Result<()> {
    match std::fs::write(format!("/proc/sys/net/ipv6/conf/default/{key}"), value) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Reads `net.ipv4.<key>` in the current thread's namespace.
pub fn read_sysctl(key: &str) -> io::Result<String> {
    Ok(
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{key}"))?
            .trim()
            .to_string(),
    )
}

/// The inode of the current thread's network namespace: equal inodes, same namespace.
pub fn namespace_id() -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata("/proc/thread-self/ns/net")?.ino())
}

/// The TCP counters of the current thread's namespace: every `TcpExt` counter of
/// `/proc/net/netstat` by name, and the `Tcp` counters of `/proc/net/snmp` as
/// `Tcp.<Name>` (OutRsts, EstabResets, ...).
pub fn tcp_counters() -> io::Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    let netstat = std::fs::read_to_string("/proc/thread-self/net/netstat")?;
    parse_pairs(&netstat, "TcpExt:", "", &mut out);
    let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp")?;
    parse_pairs(&snmp, "Tcp:", "Tcp.", &mut out);
    Ok(out)
}

/// How many IPv4 TCP sockets of this namespace are in TIME_WAIT on local port `port`,
/// from `/proc/thread-self/net/tcp` (state 06; the local address is `ADDR:PORT`, hex).
pub fn time_wait_on_port(port: u16) -> io::Result<u32> {
    let text = std::fs::read_to_string("/proc/thread-self/net/tcp")?;
    Ok(count_time_wait(&text, port))
}

fn count_time_wait(text: &str, port: u16) -> u32 {
    let want = format!("{port:04X}");
    text.lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1].rsplit(':').next() == Some(&want) && f[3] == "06"
        })
        .count() as u32
}

/// Both files are pairs of lines: `Prefix: Name1 Name2 ...` then `Prefix: 1 2 ...`.
fn parse_pairs(text: &str, prefix: &str, key_prefix: &str, out: &mut BTreeMap<String, u64>) {
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(prefix)).collect();
    for pair in lines.chunks(2) {
        if let [names, values] = pair {
            for (n, v) in names
                .split_whitespace()
                .zip(values.split_whitespace())
                .skip(1)
            {
                // Tcp MaxConn is -1; counters are never negative, so skip what is.
                if let Ok(v) = v.parse::<u64>() {
                    out.insert(format!("{key_prefix}{n}"), v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_netstat_pairs() {
        let text =
            "TcpExt: SyncookiesSent TCPAbortOnClose\nTcpExt: 0 7\nIpExt: InNoRoutes\nIpExt: 3\n";
        let mut m = BTreeMap::new();
        parse_pairs(text, "TcpExt:", "", &mut m);
        assert_eq!(m.get("TCPAbortOnClose"), Some(&7));
        assert!(!m.contains_key("InNoRoutes"));
        let snmp = "Tcp: RtoAlgorithm MaxConn OutRsts\nTcp: 1 -1 42\n";
        parse_pairs(snmp, "Tcp:", "Tcp.", &mut m);
        assert_eq!(m.get("Tcp.OutRsts"), Some(&42));
        assert!(!m.contains_key("Tcp.MaxConn"));
    }

    /// Against this machine's kernel, on a thread of its own so the test process's
    /// namespace is untouched.
    #[test]
    fn a_new_namespace_is_separate_and_gets_a_loopback() {
        let host = namespace_id().unwrap();
        let host_rmem = read_sysctl("tcp_rmem").unwrap();
        std::thread::spawn(move || {
            unshare_net().expect("this machine allows network namespaces");
            assert_ne!(namespace_id().unwrap(), host);
            set_loopback_up().unwrap();
            std::net::TcpListener::bind("127.0.0.1:0").expect("lo is up");
            write_sysctl("tcp_rmem", "4096 8192 16384").unwrap();
            assert_eq!(read_sysctl("tcp_rmem").unwrap(), "4096\t8192\t16384");
            let c = tcp_counters().unwrap();
            assert_eq!(c.get("TCPAbortOnClose"), Some(&0), "fresh counters");
            assert!(c.contains_key("Tcp.OutRsts"));
        })
        .join()
        .unwrap();
        assert_eq!(
            read_sysctl("tcp_rmem").unwrap(),
            host_rmem,
            "the host's setting is untouched"
        );
    }

    #[test]
    fn time_wait_sockets_are_counted_by_local_port() {
        let text = "  sl  local_address rem_address   st\n   0: 0100007F:1F90 0100007F:C350 06 x\n   1: 0100007F:1F90 0100007F:C351 01 x\n   2: 0100007F:1F91 0100007F:C352 06 x\n";
        assert_eq!(count_time_wait(text, 0x1F90), 1);
        assert_eq!(count_time_wait(text, 0x1F91), 1);
        assert_eq!(count_time_wait(text, 80), 0);
    }
}
