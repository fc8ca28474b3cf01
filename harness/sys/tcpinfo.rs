//! `struct tcp_info` (linux/tcp.h), read by the length the kernel returns.
//!
//! glibc's `<netinet/tcp.h>` stops long before the fields zerowin needs, and the
//! struct grows with the kernel, so the fields are read at their fixed offsets and
//! only when the returned length covers them:
//! - `tcpi_snd_wnd` (offset 228): the peer's advertised window, since Linux 5.4;
//! - `tcpi_rcv_wnd` (offset 232): our own advertised window, since Linux 6.2.
//!
//! On an older kernel those two are `None`, never a guessed 0.

use std::io;
use std::os::fd::RawFd;

use serde::Serialize;

use super::{cvt, u32_at};

/// The fields zerowin samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TcpInfo {
    /// TCP state (1 = ESTABLISHED ... 7 = CLOSE); see [`state_name`].
    pub state: u8,
    /// Unanswered zero-window probes (or keepalives) outstanding.
    pub probes: u8,
    /// Exponential backoff of the retransmission / probe timer.
    pub backoff: u8,
    /// Retransmission timeout, microseconds.
    pub rto_us: u32,
    /// Bytes in the send queue not yet sent.
    pub notsent_bytes: u32,
    /// The peer's advertised receive window after scaling, bytes (5.4+).
    pub snd_wnd: Option<u32>,
    /// Our advertised receive window after scaling, bytes (6.2+).
    pub rcv_wnd: Option<u32>,
}

const OFF_STATE: usize = 0;
const OFF_PROBES: usize = 3;
const OFF_BACKOFF: usize = 4;
const OFF_RTO: usize = 8;
const OFF_NOTSENT: usize = 144;
const OFF_SND_WND: usize = 228;
const OFF_RCV_WND: usize = 232;

impl TcpInfo {
    /// Parses the bytes the kernel returned (getsockopt or INET_DIAG_INFO).
    pub fn parse(b: &[u8]) -> TcpInfo {
        TcpInfo {
            state: b.get(OFF_STATE).copied().unwrap_or(0),
            probes: b.get(OFF_PROBES).copied().unwrap_or(0),
            backoff: b.get(OFF_BACKOFF).copied().unwrap_or(0),
            rto_us: u32_at(b, OFF_RTO).unwrap_or(0),
            notsent_bytes: u32_at(b, OFF_NOTSENT).unwrap_or(0),
            snd_wnd: u32_at(b, OFF_SND_WND),
            rcv_wnd: u32_at(b, OFF_RCV_WND),
        }
    }
}

/// getsockopt(TCP_INFO) on our own socket.
pub fn get(fd: RawFd) -> io::Result<TcpInfo> {
    let mut buf = [0u8; 512];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: buf is writable for len bytes; len is updated to what the kernel wrote.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    Ok(TcpInfo::parse(&buf[..len as usize]))
}

/// Bytes in our receive queue not yet read (SIOCINQ) and in our send queue (SIOCOUTQ).
pub fn queues(fd: RawFd) -> io::Result<(u32, u32)> {
    let mut inq: libc::c_int = 0;
    let mut outq: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int, and inq is one.
    cvt(unsafe { libc::ioctl(fd, libc::FIONREAD, &mut inq) })?;
    // SAFETY: TIOCOUTQ writes one int, and outq is one.
    cvt(unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut outq) })?;
    Ok((inq as u32, outq as u32))
}

/// The TCP states by number (1..=11), as `ss` prints them; the sampler says CLOSED
/// for a socket that is gone.
pub const STATE_NAMES: [&str; 12] = [
    "ESTAB",
    "SYN-SENT",
    "SYN-RECV",
    "FIN-WAIT-1",
    "FIN-WAIT-2",
    "TIME-WAIT",
    "CLOSE",
    "CLOSE-WAIT",
    "LAST-ACK",
    "LISTEN",
    "CLOSING",
    "CLOSED",
];

/// The name of a TCP state number, as `ss` prints it.
pub fn state_name(state: u8) -> &'static str {
    match state {
        1..=11 => STATE_NAMES[state as usize - 1],
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    #[test]
    fn short_structs_leave_the_new_fields_unknown() {
        let old = TcpInfo::parse(&[1u8; 104]);
        assert_eq!(old.state, 1);
        assert_eq!((old.snd_wnd, old.rcv_wnd), (None, None));
    }

    /// Against this machine's kernel: an established pair, one byte sent and read.
    #[test]
    fn reads_a_live_connection() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        c.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        let ti = get(c.as_raw_fd()).unwrap();
        assert_eq!(state_name(ti.state), "ESTAB");
        assert!(ti.rto_us >= 200_000, "rto {}", ti.rto_us);
        // This kernel (6.18) has both window fields; the peer's window is open.
        assert!(ti.snd_wnd.unwrap() > 0);
        assert!(ti.rcv_wnd.unwrap() > 0);
        s.write_all(b"yz").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(
            queues(c.as_raw_fd()).unwrap().0,
            2,
            "two bytes wait in the receive queue"
        );
    }
}
