//! An AF_PACKET socket on one interface (`lo`, or a veth end), with kernel timestamps.
//!
//! # Notes
//! - On `lo` every frame is seen twice, once leaving (PACKET_OUTGOING) and once
//!   arriving (PACKET_HOST). [`Frame::outgoing`] lets the caller keep each packet once.
//! - Frames carry a 14-byte Ethernet header of zeros (ARPHRD_LOOPBACK), so a pcap
//!   of them uses the Ethernet link type.
//! - Timestamps are SO_TIMESTAMPNS: CLOCK_REALTIME, taken by the kernel on receipt.
//! - Only `snaplen` bytes are kept (headers); `orig_len` is the frame's real length.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::cvt;

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// CLOCK_REALTIME nanoseconds from the kernel.
    pub realtime_ns: u64,
    /// PACKET_OUTGOING: the copy seen leaving.
    pub outgoing: bool,
    /// The frame's full length on the wire.
    pub orig_len: u32,
    /// The first `snaplen` bytes.
    pub data: Vec<u8>,
}

/// A bound AF_PACKET socket.
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
}

impl PacketSocket {
    /// Opens a raw packet socket bound to `device` of the current namespace.
    pub fn open(device: &str) -> io::Result<PacketSocket> {
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // Protocol 0 here and ETH_P_ALL in bind(): a socket created with a protocol
        // is hooked to every device at once, and bind() must then unhook it with
        // synchronize_net(), an RCU grace period of 10-20 ms on every trial.
        // SAFETY: plain socket(2).
        let raw =
            cvt(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
        // SAFETY: raw is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let ifindex = super::rtnl::index(device)? as i32;
        // SAFETY: sockaddr_ll is plain old data.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex;
        // SAFETY: sll is a valid sockaddr_ll of the size given.
        cvt(unsafe {
            libc::bind(
                raw,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        })?;
        let s = PacketSocket { fd, ifindex };
        s.set_int(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
        // A big buffer, so a burst of small segments is not dropped while we write.
        // SO_RCVBUFFORCE needs CAP_NET_ADMIN; without it the capped SO_RCVBUF is used.
        let want = 64 << 20;
        if s.set_int(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, want)
            .is_err()
        {
            s.set_int(libc::SOL_SOCKET, libc::SO_RCVBUF, want)?;
        }
        Ok(s)
    }

    fn set_int(&self, level: i32, name: i32, v: i32) -> io::Result<()> {
        // SAFETY: v is an int of the size given.
        cvt(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (&v as *const i32).cast(),
                4,
            )
        })
        .map(|_| ())
    }

    /// Waits up to `timeout` for one frame of `lo`; Ok(None) on timeout.
    pub fn recv(&self, snaplen: usize, timeout: Duration) -> io::Result<Option<Frame>> {
        if !super::poll_readable(self.fd.as_raw_fd(), timeout)? {
            return Ok(None);
        }
        let mut data = vec![0u8; snaplen];
        // SAFETY: all of these are plain old data; zeroed is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut cbuf = [0u64; 16];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        // SAFETY: msghdr is plain old data; zeroed is a valid value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut sll as *mut libc::sockaddr_ll).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf);
        // MSG_TRUNC: return the frame's real length even when it was cut to snaplen.
        // SAFETY: msg points at buffers that live through the call.
        let n = cvt(unsafe {
            libc::recvmsg(
                self.fd.as_raw_fd(),
                &mut msg,
                libc::MSG_TRUNC | libc::MSG_DONTWAIT,
            )
        });
        let n = match n {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        if sll.sll_ifindex != self.ifindex {
            return Ok(None); // queued before bind() from another interface
        }
        let mut realtime_ns = super::realtime_ns();
        // The control messages the kernel filled: only the timestamp is wanted.
        // SAFETY: msg is the msghdr recvmsg just filled; CMSG_FIRSTHDR only reads it.
        let mut c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        while !c.is_null() {
            // SAFETY: c is non-null and points at a cmsghdr inside cbuf (CMSG_* bounds it).
            let hdr = unsafe { &*c };
            if hdr.cmsg_level == libc::SOL_SOCKET && hdr.cmsg_type == libc::SCM_TIMESTAMPNS {
                // SAFETY: an SCM_TIMESTAMPNS message carries one timespec after its header.
                let at = unsafe { libc::CMSG_DATA(c) };
                // SAFETY: at points at a whole timespec inside cbuf, perhaps unaligned.
                let ts: libc::timespec = unsafe { std::ptr::read_unaligned(at.cast()) };
                realtime_ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
            }
            // SAFETY: msg and c are as above; CMSG_NXTHDR returns null past the end.
            c = unsafe { libc::CMSG_NXTHDR(&msg, c) };
        }
        data.truncate(n.min(snaplen));
        Ok(Some(Frame {
            realtime_ns,
            outgoing: sll.sll_pkttype == libc::PACKET_OUTGOING,
            orig_len: n as u32,
            data,
        }))
    }

    /// (frames received, frames dropped) since the last call (PACKET_STATISTICS).
    pub fn stats(&self) -> io::Result<(u32, u32)> {
        let mut st = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = std::mem::size_of::<libc::tpacket_stats>() as u32;
        // SAFETY: st is writable for len bytes.
        cvt(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        })?;
        Ok((st.tp_packets, st.tp_drops))
    }
}
