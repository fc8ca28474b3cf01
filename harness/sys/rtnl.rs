//! rtnetlink (linux/rtnetlink.h), what `ip` speaks: the one place zerowin makes and
//! changes network devices. The messages are built by the netlink-packet-route crate;
//! this file opens the socket, sends one request at a time and waits, at most
//! [`ANSWER_WAIT`], for the kernel's acknowledgement.
//!
//! # Notes
//! - A NETLINK_ROUTE socket acts on the namespace it was opened in: open it on a
//!   thread inside the namespace to change (see [`super::netns::Netns::run`]).
//! - A veth pair is made in one request, its peer placed straight into another
//!   namespace with IFLA_NET_NS_FD, so the host namespace never holds either end.
//! - Setting a device down flushes its neighbour entries, permanent ones included,
//!   and its routes; setting it up brings the routes of its addresses back.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::cvt;

/// How long the kernel may take to answer one request.
pub const ANSWER_WAIT: Duration = Duration::from_secs(2);

/// One end of a veth pair, as it is made.
#[derive(Debug, Clone)]
pub struct End<'a> {
    pub name: &'a str,
    pub mac: [u8; 6],
}

/// An open NETLINK_ROUTE socket.
pub struct Rtnl {
    fd: OwnedFd,
    seq: u32,
}

impl Rtnl {
    /// Opens the socket in the calling thread's namespace.
    pub fn open() -> io::Result<Rtnl> {
        // SAFETY: plain socket(2).
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        })?;
        // SAFETY: raw is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Rtnl { fd, seq: 0 })
    }

    /// Makes the pair `local` (here) and `peer` (in the namespace `peer_ns` names),
    /// both with `mtu`, both down.
    pub fn add_veth(
        &mut self,
        local: &End,
        peer: &End,
        peer_ns: RawFd,
        mtu: u32,
    ) -> io::Result<()> {
        let mut p = LinkMessage::default();
        p.attributes.extend([
            LinkAttribute::IfName(peer.name.into()),
            LinkAttribute::Address(peer.mac.to_vec()),
            LinkAttribute::Mtu(mtu),
            LinkAttribute::NetNsFd(peer_ns),
        ]);
        let mut m = LinkMessage::default();
        m.attributes.extend([
            LinkAttribute::IfName(local.name.into()),
            LinkAttribute::Address(local.mac.to_vec()),
            LinkAttribute::Mtu(mtu),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
            ]),
        ]);
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("making the veth pair {} / {}", local.name, peer.name),
        )
    }

    /// Sets the device administratively up or down.
    pub fn set_up(&mut self, dev: &str, up: bool) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index(dev)?;
        m.header.change_mask = LinkFlags::Up;
        m.header.flags = if up {
            LinkFlags::Up
        } else {
            LinkFlags::empty()
        };
        let what = format!("setting {dev} {}", if up { "up" } else { "down" });
        self.request(RouteNetlinkMessage::SetLink(m), 0, &what)
    }

    /// Gives the device an IPv4 address (and with it the route to its prefix).
    pub fn add_address(&mut self, dev: &str, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let m = address(dev, ip, prefix)?;
        self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("adding {ip}/{prefix} to {dev}"),
        )
    }

    /// Takes the address away again (and the route to its prefix with it).
    pub fn del_address(&mut self, dev: &str, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let m = address(dev, ip, prefix)?;
        self.request(
            RouteNetlinkMessage::DelAddress(m),
            0,
            &format!("removing {ip}/{prefix} from {dev}"),
        )
    }

    /// A permanent neighbour entry: `ip` is at `mac` on `dev`, so no ARP is ever sent
    /// (and none can fail).
    pub fn set_neighbour(&mut self, dev: &str, ip: Ipv4Addr, mac: [u8; 6]) -> io::Result<()> {
        let mut m = NeighbourMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.ifindex = index(dev)?;
        m.header.state = NeighbourState::Permanent;
        m.attributes.extend([
            NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)),
            NeighbourAttribute::LinkLayerAddress(mac.to_vec()),
        ]);
        self.request(
            RouteNetlinkMessage::NewNeighbour(m),
            NLM_F_CREATE | NLM_F_REPLACE,
            &format!("adding the neighbour {ip} on {dev}"),
        )
    }

    /// Sends one request and waits for its acknowledgement.
    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16, what: &str) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        nl.finalize();
        let mut buf = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut buf);
        let fd = self.fd.as_raw_fd();
        super::send(fd, &buf, 0)?;
        let mut answer = vec![0u8; 16384];
        loop {
            if !super::poll_readable(fd, ANSWER_WAIT)? {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{what}: no answer from the kernel within {ANSWER_WAIT:?}"),
                ));
            }
            let n = super::recv(fd, &mut answer, 0)?;
            let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&answer[..n])
                .map_err(|e| io::Error::other(format!("{what}: {e}")))?;
            if reply.header.sequence_number != self.seq {
                continue;
            }
            if let NetlinkPayload::Error(e) = reply.payload {
                return match e.code {
                    None => Ok(()),
                    Some(c) => {
                        let err = io::Error::from_raw_os_error(-c.get());
                        Err(io::Error::new(err.kind(), format!("{what}: {err}")))
                    }
                };
            }
        }
    }
}

fn address(dev: &str, ip: Ipv4Addr, prefix: u8) -> io::Result<AddressMessage> {
    let mut m = AddressMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.prefix_len = prefix;
    m.header.index = index(dev)?;
    m.attributes.extend([
        AddressAttribute::Local(ip.into()),
        AddressAttribute::Address(ip.into()),
    ]);
    Ok(m)
}

/// The index of a device of the calling thread's namespace.
pub fn index(dev: &str) -> io::Result<u32> {
    let name = std::ffi::CString::new(dev).map_err(io::Error::other)?;
    // SAFETY: name is a valid C string.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no device {dev} in this namespace"),
        )),
        i => Ok(i),
    }
}
