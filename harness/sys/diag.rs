//! sock_diag / inet_diag netlink (linux/inet_diag.h): reads a TCP socket owned by
//! another process, here the C sender's, the way `ss -ti` does.
//!
//! One request is an `nlmsghdr` followed by `struct inet_diag_req_v2` naming the
//! socket exactly (its local and remote address and port) and asking for
//! INET_DIAG_INFO, the same `struct tcp_info` getsockopt gives. The answer is an
//! `inet_diag_msg` (state, receive and send queue) plus attributes. A socket that no
//! longer exists answers ENOENT, reported as `Ok(None)`.
//!
//! The netlink socket belongs to the network namespace it was opened in, so open it
//! in the trial's namespace.

use std::io;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::tcpinfo::TcpInfo;
use super::{cvt, u32_at};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const INET_DIAG_INFO: u16 = 2;
const NLMSG_HDRLEN: usize = 16;
const REQ_V2_LEN: usize = 56;
const DIAG_MSG_LEN: usize = 72;
const OFF_RQUEUE: usize = 56;
const OFF_WQUEUE: usize = 60;

/// What inet_diag says about one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagSample {
    /// TCP state number, as in `tcp_info`.
    pub state: u8,
    /// Receive queue: bytes received and not read (unread replies, for the sender).
    pub rqueue: u32,
    /// Send queue: bytes written and not yet acknowledged.
    pub wqueue: u32,
    /// `struct tcp_info`, when the kernel attached it.
    pub info: Option<TcpInfo>,
}

/// An open NETLINK_SOCK_DIAG socket.
pub struct Diag {
    fd: OwnedFd,
    seq: u32,
}

impl Diag {
    /// Opens the netlink socket, with a 1 s receive timeout so no query can hang.
    pub fn open() -> io::Result<Diag> {
        // SAFETY: plain socket(2).
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        })?;
        // SAFETY: raw is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let tv = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        // SAFETY: tv is a valid timeval of the size given.
        cvt(unsafe {
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            )
        })?;
        Ok(Diag { fd, seq: 0 })
    }

    /// Looks up the TCP socket whose own address is `local` and whose peer is `remote`.
    pub fn query(
        &mut self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> io::Result<Option<DiagSample>> {
        self.seq = self.seq.wrapping_add(1);
        let req = request(local, remote, self.seq);
        // SAFETY: req is a valid buffer; the kernel is the destination (default address).
        cvt(unsafe { libc::send(self.fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) })?;
        let mut buf = [0u8; 8192];
        loop {
            // SAFETY: buf is writable for its length.
            let n = cvt(unsafe {
                libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0)
            })? as usize;
            match parse_reply(&buf[..n], self.seq)? {
                Reply::Sample(s) => return Ok(Some(s)),
                Reply::NotFound => return Ok(None),
                Reply::Other => continue, // a stale answer to an earlier query
            }
        }
    }
}

fn request(local: SocketAddrV4, remote: SocketAddrV4, seq: u32) -> Vec<u8> {
    let len = NLMSG_HDRLEN + REQ_V2_LEN;
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(&(len as u32).to_ne_bytes());
    b.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b.extend_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel
    // struct inet_diag_req_v2
    b.push(libc::AF_INET as u8);
    b.push(libc::IPPROTO_TCP as u8);
    b.push(1 << (INET_DIAG_INFO - 1)); // idiag_ext: ask for tcp_info
    b.push(0);
    b.extend_from_slice(&u32::MAX.to_ne_bytes()); // all states
    // struct inet_diag_sockid: ports and addresses in network byte order
    b.extend_from_slice(&local.port().to_be_bytes());
    b.extend_from_slice(&remote.port().to_be_bytes());
    let mut addr = |a: &std::net::Ipv4Addr| {
        b.extend_from_slice(&a.octets());
        b.extend_from_slice(&[0u8; 12]);
    };
    addr(local.ip());
    addr(remote.ip());
    b.extend_from_slice(&0u32.to_ne_bytes()); // idiag_if: any
    b.extend_from_slice(&u32::MAX.to_ne_bytes()); // INET_DIAG_NOCOOKIE
    b.extend_from_slice(&u32::MAX.to_ne_bytes());
    debug_assert_eq!(b.len(), len);
    b
}

enum Reply {
    Sample(DiagSample),
    NotFound,
    Other,
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    b.get(off..off + 2)
        .map(|s| u16::from_ne_bytes(s.try_into().unwrap()))
}

fn parse_reply(b: &[u8], seq: u32) -> io::Result<Reply> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "short inet_diag reply");
    let msg_len = u32_at(b, 0).ok_or_else(bad)? as usize;
    let msg_type = u16_at(b, 4).ok_or_else(bad)?;
    if u32_at(b, 8) != Some(seq) {
        return Ok(Reply::Other);
    }
    if msg_type == libc::NLMSG_ERROR as u16 {
        let err = u32_at(b, NLMSG_HDRLEN).ok_or_else(bad)? as i32;
        return match -err {
            0 => Ok(Reply::Other),
            libc::ENOENT => Ok(Reply::NotFound),
            e => Err(io::Error::from_raw_os_error(e)),
        };
    }
    if msg_type != SOCK_DIAG_BY_FAMILY {
        return Ok(Reply::Other);
    }
    let body = b.get(NLMSG_HDRLEN..msg_len.min(b.len())).ok_or_else(bad)?;
    if body.len() < DIAG_MSG_LEN {
        return Err(bad());
    }
    let mut sample = DiagSample {
        state: body[1],
        rqueue: u32_at(body, OFF_RQUEUE).ok_or_else(bad)?,
        wqueue: u32_at(body, OFF_WQUEUE).ok_or_else(bad)?,
        info: None,
    };
    // Attributes: struct rtattr { u16 len; u16 type; } + data, each 4-byte aligned.
    let mut off = DIAG_MSG_LEN;
    while off + 4 <= body.len() {
        let len = u16_at(body, off).unwrap() as usize;
        let ty = u16_at(body, off + 2).unwrap();
        if len < 4 || off + len > body.len() {
            break;
        }
        if ty == INET_DIAG_INFO {
            sample.info = Some(TcpInfo::parse(&body[off + 4..off + len]));
        }
        off += (len + 3) & !3;
    }
    Ok(Reply::Sample(sample))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{SocketAddr, TcpListener, TcpStream};

    fn v4(a: SocketAddr) -> SocketAddrV4 {
        match a {
            SocketAddr::V4(a) => a,
            _ => unreachable!(),
        }
    }

    /// Against this machine's kernel: the accepted side of a pair, seen from outside.
    #[test]
    fn reads_a_socket_by_its_addresses() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        c.write_all(b"unread").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut d = Diag::open().unwrap();
        let got = d
            .query(v4(s.local_addr().unwrap()), v4(s.peer_addr().unwrap()))
            .unwrap()
            .expect("the accepted socket exists");
        assert_eq!(got.state, 1, "ESTABLISHED");
        assert_eq!(got.rqueue, 6, "six unread bytes");
        let info = got.info.expect("INET_DIAG_INFO was attached");
        assert_eq!(info.state, 1);
        assert!(info.rcv_wnd.unwrap() > 0);
        drop(s);
        drop(c);
        let gone = d.query(
            SocketAddrV4::new([127, 0, 0, 1].into(), 1),
            SocketAddrV4::new([127, 0, 0, 1].into(), 2),
        );
        assert_eq!(gone.unwrap(), None);
    }
}
