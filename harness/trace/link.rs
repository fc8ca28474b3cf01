//! From a frame to a TCP segment: the link layers people capture with, then IPv4 or
//! IPv6, then TCP. A frame cut by the snap length still gives its segment when its
//! headers survive: the payload's length comes from the IP header, not from what was
//! captured.

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TcpOptionElement, TransportSlice};
use pcap_file::DataLink;
use serde::Serialize;

/// A link type zerowin decodes, or the number of one it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Link {
    /// Ethernet II, with any VLAN (802.1Q, QinQ) tags.
    Ethernet,
    /// Linux cooked capture v1 (`tcpdump -i any` before libpcap 1.10).
    LinuxSll,
    /// Linux cooked capture v2 (`tcpdump -i any` since libpcap 1.10).
    LinuxSll2,
    /// Raw IPv4 or IPv6, no link header.
    Raw,
    /// BSD loopback: a 4-byte address family in the capturing host's byte order
    /// (`NULL`) or in network order (`LOOP`).
    Null,
    Unsupported(u32),
}

impl Link {
    pub fn of(d: DataLink) -> Link {
        match d {
            DataLink::ETHERNET => Link::Ethernet,
            DataLink::LINUX_SLL => Link::LinuxSll,
            DataLink::LINUX_SLL2 => Link::LinuxSll2,
            DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => Link::Raw,
            DataLink::NULL | DataLink::LOOP => Link::Null,
            other => Link::Unsupported(u32::from(other)),
        }
    }
}

/// The TCP flags zerowin reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Flags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

/// One TCP segment of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub number: u64,
    pub t_ns: u64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    /// The raw window field: 0 is zero whatever the scale.
    pub window: u16,
    /// Payload bytes, from the IP header's length (the capture may hold fewer).
    pub payload: u32,
    pub flags: Flags,
    /// The window scale option, on a SYN that carries one.
    pub wscale: Option<u8>,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification (None for IPv6).
    pub ip_id: Option<u16>,
}

/// What a frame was, when it was not a TCP segment zerowin can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotTcp {
    /// Another protocol (ARP, UDP, ICMP...): not counted as a problem.
    Other,
    /// A link type zerowin does not decode.
    Link(u32),
    /// TCP, but the snap length cut into its headers.
    Cut,
    /// An IP fragment after the first: no TCP header.
    Fragment,
}

/// The ethertype and the rest of a frame, after its link header.
fn unlink(link: Link, d: &[u8]) -> Result<(EtherType, &[u8]), NotTcp> {
    let be16 = |i: usize| d.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let cut = NotTcp::Cut;
    match link {
        Link::Ethernet => Ok((EtherType(be16(12).ok_or(cut)?), &d[14..])),
        Link::LinuxSll => Ok((EtherType(be16(14).ok_or(cut)?), &d[16..])),
        Link::LinuxSll2 => Ok((EtherType(be16(0).ok_or(cut)?), d.get(20..).ok_or(cut)?)),
        Link::Raw => match d.first().map(|b| b >> 4) {
            Some(4) => Ok((EtherType::IPV4, d)),
            Some(6) => Ok((EtherType::IPV6, d)),
            _ => Err(NotTcp::Other),
        },
        Link::Null => {
            let f = d.get(..4).ok_or(cut)?;
            let family = u32::from_le_bytes([f[0], f[1], f[2], f[3]]);
            let family = if family > 0xffff {
                family.swap_bytes()
            } else {
                family
            };
            match family {
                2 => Ok((EtherType::IPV4, &d[4..])),
                // IPv6's AF_INET6 is 24, 28 or 30, by BSD.
                24 | 28 | 30 => Ok((EtherType::IPV6, &d[4..])),
                _ => Err(NotTcp::Other),
            }
        }
        Link::Unsupported(n) => Err(NotTcp::Link(n)),
    }
}

/// The frame's TCP segment.
pub fn packet(link: Link, number: u64, t_ns: u64, data: &[u8]) -> Result<Packet, NotTcp> {
    let (ether_type, rest) = unlink(link, data)?;
    let p = LaxSlicedPacket::from_ether_type(ether_type, rest);
    let (src, dst, ip_len, ttl, ip_id, tcp_proto) = match &p.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            // A frame captured before TSO split it may say 0: then what was captured.
            let total = match h.total_len() {
                0 => rest.len() as u32,
                n => n as u32,
            };
            let len = total.saturating_sub(h.ihl() as u32 * 4);
            if h.fragments_offset().value() != 0 {
                return Err(NotTcp::Fragment);
            }
            let proto = h.protocol() == etherparse::IpNumber::TCP;
            let (s, d) = (
                IpAddr::from(h.source_addr()),
                IpAddr::from(h.destination_addr()),
            );
            (s, d, len, h.ttl(), Some(h.identification()), proto)
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            let ext = ip.extensions().slice().len() as u32;
            let len = (h.payload_length() as u32).saturating_sub(ext);
            let proto = ip.payload().ip_number == etherparse::IpNumber::TCP;
            if ip.is_payload_fragmented() {
                return Err(NotTcp::Fragment);
            }
            let (s, d) = (
                IpAddr::from(h.source_addr()),
                IpAddr::from(h.destination_addr()),
            );
            (s, d, len, h.hop_limit(), None, proto)
        }
        _ => return Err(NotTcp::Other),
    };
    let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
        return Err(if tcp_proto {
            NotTcp::Cut
        } else {
            NotTcp::Other
        });
    };
    let flags = Flags {
        syn: tcp.syn(),
        ack: tcp.ack(),
        fin: tcp.fin(),
        rst: tcp.rst(),
    };
    let wscale = flags
        .syn
        .then(|| {
            tcp.options_iterator().find_map(|o| match o {
                Ok(TcpOptionElement::WindowScale(s)) => Some(s.min(14)),
                _ => None,
            })
        })
        .flatten();
    Ok(Packet {
        number,
        t_ns,
        src: SocketAddr::new(src, tcp.source_port()),
        dst: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        window: tcp.window_size(),
        payload: ip_len.saturating_sub(tcp.data_offset() as u32 * 4),
        flags,
        wscale,
        ttl,
        ip_id,
    })
}
