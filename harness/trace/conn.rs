//! Every TCP connection of a capture, rebuilt segment by segment: by 4-tuple and
//! incarnation (a SYN with a new sequence number on a tuple that already closed, or
//! that saw another SYN, is a new connection). A connection that began before the
//! capture has no SYN: its window scale and the bytes sent before the capture are
//! unknown, and stay `None`; they are never guessed.
//!
//! Each side keeps what it sent, in a fixed amount of memory: counts, the first and
//! last marks of the events a cause is judged by, and one gap for out-of-order data.
//!
//! Definitions, as in Wireshark's TCP analysis where it has one:
//! - zero window: window field 0 on a segment with none of SYN, FIN, RST;
//! - retransmission: data whose every byte the side had sent before;
//! - out of order: data that fills a gap the side left earlier (bytes above the gap
//!   came first); a gap itself is "previous segment not captured";
//! - keep-alive: at most one byte, none of SYN/FIN/RST, at one below the next
//!   sequence number, while the peer's window is open; the same while the peer's
//!   window is zero is a zero-window probe (Linux sends both as `snd_una - 1`).

use std::net::SocketAddr;

use serde::Serialize;

use super::link::Packet;

/// A packet by its number in the capture and its time (ns since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Mark {
    pub number: u64,
    pub t_ns: u64,
}

impl Mark {
    fn of(p: &Packet) -> Mark {
        Mark {
            number: p.number,
            t_ns: p.t_ns,
        }
    }
}

/// An RST, with what the wire says of who sent it and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reset {
    pub at: Mark,
    pub seq: u32,
    /// It carried an ACK. Linux's own close or abort (`tcp_send_active_reset`) does;
    /// its answer to a segment with an ACK (no socket, or data after close) does not.
    pub with_ack: bool,
    /// Its sequence number is the peer's last acknowledgement, and it came after a
    /// segment of the peer's: the kernel's answer to that segment.
    pub answers_peer: bool,
    pub ttl: u8,
    pub ip_id: Option<u16>,
}

/// A run of retransmissions of one sequence number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetransRun {
    pub seq: u32,
    pub count: u32,
    pub first_ns: u64,
    pub last_ns: u64,
    last_gap_ns: u64,
    /// Every gap at least as long as the one before: a retransmission timer backing off.
    pub backing_off: bool,
}

/// What one side of a connection sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Half {
    pub packets: u64,
    pub payload_bytes: u64,
    /// Its SYN's sequence number; None when the capture began after it.
    pub isn: Option<u32>,
    /// The window scale it announced; None when unknown (no SYN captured) or absent.
    pub wscale: Option<u8>,
    /// The highest sequence number it has sent up to (one past its last byte).
    pub high: Option<u32>,
    /// The highest acknowledgement it sent.
    pub acked: Option<u32>,
    pub retransmissions: u64,
    pub out_of_order: u64,
    /// Gaps: data above bytes never captured.
    pub gaps: u64,
    #[serde(skip)]
    hole: Option<(u32, u32)>,
    pub retrans_run: RetransRun,
    pub zero_windows: u64,
    pub first_zero_window: Option<Mark>,
    pub last_zero_window: Option<Mark>,
    /// Time with its window at zero, closed episodes; and the longest episode.
    pub zero_window_ns: u64,
    pub longest_zero_window_ns: u64,
    #[serde(skip)]
    zero_since: Option<u64>,
    /// The window of its last segment without SYN/FIN/RST.
    pub last_window: Option<u16>,
    /// The largest window field it advertised (same scale as `last_window`).
    pub max_window: Option<u16>,
    /// Its last data segment ended at the peer's right window edge (the peer's
    /// acknowledgement + its window, scaled): it was held back by the window then.
    /// False when the scale is unknown (no handshake captured).
    pub filled_window: bool,
    pub probes: u64,
    /// Window updates (Wireshark's `window_update`): no payload, none of
    /// SYN/FIN/RST, the same seq and ack as its previous segment, another window.
    pub window_updates: u64,
    #[serde(skip)]
    prev: Option<(u32, u32, u16)>,
    pub keepalives: u64,
    /// The times of its first [`KEEPALIVE_TIMES`] keep-alives, for the plot.
    #[serde(skip)]
    pub keepalive_ns: Vec<u64>,
    /// Keep-alives since the peer last sent anything.
    pub unanswered_keepalives: u32,
    pub first_keepalive: Option<Mark>,
    pub syn: Option<Mark>,
    pub fin: Option<Mark>,
    /// Segments with FIN (a retransmitted FIN counts again).
    pub fins: u64,
    pub rst: Option<Reset>,
    pub rsts: u64,
    pub ttl_min: Option<u8>,
    pub ttl_max: Option<u8>,
    pub last_ip_id: Option<u16>,
    pub last_data: Option<Mark>,
    pub last: Option<Mark>,
}

/// How far a side's window field is shifted: by the scale it announced in its SYN,
/// only when both SYNs carried the option (RFC 7323); a SYN's own window never is.
pub fn window_shift(own: Option<u8>, peer: Option<u8>) -> u32 {
    match (own, peer) {
        (Some(s), Some(_)) => s as u32,
        _ => 0,
    }
}

/// Keep-alive times kept per side.
pub const KEEPALIVE_TIMES: usize = 32;

fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

impl Half {
    /// The bytes it sent, as far as the capture tells: from its SYN when captured.
    pub fn sent_bytes(&self) -> Option<u64> {
        let (isn, high) = (self.isn?, self.high?);
        let fin = self.fin.is_some() as u32;
        Some(high.wrapping_sub(isn.wrapping_add(1 + fin)) as u64)
    }

    /// Bytes it sent that `peer` never acknowledged.
    pub fn unacked_by(&self, peer: &Half) -> Option<u64> {
        let (high, acked) = (self.high?, peer.acked?);
        Some(if after(high, acked) {
            high.wrapping_sub(acked) as u64
        } else {
            0
        })
    }

    fn window(&mut self, p: &Packet) {
        if p.window == 0 {
            self.zero_windows += 1;
            self.first_zero_window.get_or_insert(Mark::of(p));
            self.last_zero_window = Some(Mark::of(p));
            self.zero_since.get_or_insert(p.t_ns);
        } else if let Some(since) = self.zero_since.take() {
            self.close_zero(since, p.t_ns);
        }
        self.last_window = Some(p.window);
        self.max_window = Some(self.max_window.map_or(p.window, |m| m.max(p.window)));
    }

    fn window_update(&mut self, p: &Packet) {
        let f = p.flags;
        let plain = p.payload == 0 && !f.syn && !f.fin && !f.rst;
        if plain
            && matches!(self.prev, Some((s, a, w)) if s == p.seq && a == p.ack && w != p.window)
        {
            self.window_updates += 1;
        }
        self.prev = Some((p.seq, p.ack, p.window));
    }

    fn close_zero(&mut self, since: u64, now: u64) {
        let d = now.saturating_sub(since);
        self.zero_window_ns += d;
        self.longest_zero_window_ns = self.longest_zero_window_ns.max(d);
    }

    /// Its acknowledgement + its last window, scaled as the handshake said
    /// ([`window_shift`]); None when unknown. `peer_wscale` is the other side's option.
    fn right_edge(&self, peer_wscale: Option<u8>) -> Option<u32> {
        let (acked, window) = (self.acked?, self.last_window?);
        self.syn?;
        let shift = window_shift(self.wscale, peer_wscale);
        Some(acked.wrapping_add((window as u32) << shift))
    }

    /// The zero-window episode still open at `end_ns`, if any.
    pub fn open_zero_window_ns(&self, end_ns: u64) -> Option<u64> {
        self.zero_since.map(|s| end_ns.saturating_sub(s))
    }

    fn data(&mut self, p: &Packet, len: u32) {
        let end = p.seq.wrapping_add(len);
        let Some(high) = self.high else {
            self.high = Some(end);
            return;
        };
        if !after(end, high) {
            match self.hole {
                Some((lo, hi)) if !after(lo, p.seq) && !after(end, hi) => {
                    self.out_of_order += 1;
                    self.hole = (end != hi).then_some((end, hi));
                }
                _ if p.payload > 0 => self.retransmitted(p),
                _ => {}
            }
        } else {
            if after(p.seq, high) {
                self.gaps += 1;
                self.hole = Some((high, p.seq));
            }
            self.high = Some(end);
        }
    }

    fn retransmitted(&mut self, p: &Packet) {
        self.retransmissions += 1;
        let r = &mut self.retrans_run;
        if r.count > 0 && r.seq == p.seq {
            let gap = p.t_ns.saturating_sub(r.last_ns);
            r.backing_off &= gap >= r.last_gap_ns;
            r.last_gap_ns = gap;
            r.last_ns = p.t_ns;
            r.count += 1;
        } else {
            *r = RetransRun {
                seq: p.seq,
                count: 1,
                first_ns: p.t_ns,
                last_ns: p.t_ns,
                last_gap_ns: 0,
                backing_off: true,
            };
        }
    }

    /// At most one byte at one below the next sequence number, no flags.
    fn probe_like(&self, p: &Packet) -> bool {
        let f = p.flags;
        let Some(high) = self.high else { return false };
        !f.syn && !f.fin && !f.rst && p.payload <= 1 && p.seq == high.wrapping_sub(1)
    }
}

/// One connection: side 0 is `a` (the side that sent the first SYN, or else the
/// source of the first packet seen), side 1 is `b`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conn {
    /// Its number in the capture (1 for the first connection seen): the order of
    /// first packets, whatever is kept of the others.
    pub number: u64,
    pub a: SocketAddr,
    pub b: SocketAddr,
    /// 1 for the first connection on this 4-tuple in the capture, 2 for the next...
    pub incarnation: u32,
    pub first: Mark,
    pub last: Mark,
    pub halves: [Half; 2],
    /// The handshake's SYN-ACK was captured.
    pub synack: bool,
    /// The capture's last frame when the connection was judged (ns since the epoch).
    pub end_ns: u64,
}

impl Conn {
    pub fn new(p: &Packet, number: u64, incarnation: u32) -> Conn {
        // A SYN-ACK's sender is the responder.
        let (a, b) = if p.flags.syn && p.flags.ack {
            (p.dst, p.src)
        } else {
            (p.src, p.dst)
        };
        Conn {
            number,
            a,
            b,
            incarnation,
            first: Mark::of(p),
            last: Mark::of(p),
            halves: [Half::default(), Half::default()],
            synack: false,
            end_ns: p.t_ns,
        }
    }

    /// Whether a SYN starts a new connection on this tuple.
    pub fn is_new_syn(&self, p: &Packet) -> bool {
        if !p.flags.syn {
            return false;
        }
        let h = &self.halves[self.side(p)];
        match h.isn {
            Some(isn) => isn != p.seq,
            None => self.ended() || h.packets > 0,
        }
    }

    /// It ended: an RST, or a FIN each way.
    pub fn ended(&self) -> bool {
        self.halves.iter().any(|h| h.rst.is_some()) || self.halves.iter().all(|h| h.fin.is_some())
    }

    pub fn side(&self, p: &Packet) -> usize {
        usize::from(p.src != self.a)
    }

    /// The two sides: the one that sent `p`, and its peer.
    fn sides(&mut self, i: usize) -> (&mut Half, &mut Half) {
        let [h0, h1] = &mut self.halves;
        if i == 0 { (h0, h1) } else { (h1, h0) }
    }

    pub fn push(&mut self, p: &Packet) {
        let i = self.side(p);
        self.last = Mark::of(p);
        let f = p.flags;
        if f.syn && f.ack {
            self.synack = true;
        }
        let (me, peer) = self.sides(i);
        peer.unanswered_keepalives = 0;
        me.packets += 1;
        me.payload_bytes += p.payload as u64;
        me.last = Some(Mark::of(p));
        if f.rst {
            me.rsts += 1;
            if me.rst.is_none() {
                me.rst = Some(Reset {
                    at: Mark::of(p),
                    seq: p.seq,
                    with_ack: f.ack,
                    answers_peer: peer.last.is_some() && peer.acked == Some(p.seq) && !f.ack,
                    ttl: p.ttl,
                    ip_id: p.ip_id,
                });
            }
            return;
        }
        me.ttl_min = Some(me.ttl_min.map_or(p.ttl, |t| t.min(p.ttl)));
        me.ttl_max = Some(me.ttl_max.map_or(p.ttl, |t| t.max(p.ttl)));
        me.last_ip_id = p.ip_id.or(me.last_ip_id);
        if f.ack {
            me.acked = Some(match me.acked {
                Some(a) if !after(p.ack, a) => a,
                _ => p.ack,
            });
        }
        if f.syn {
            me.isn = Some(p.seq);
            me.wscale = p.wscale;
            me.syn.get_or_insert(Mark::of(p));
        }
        let peer_zero = peer.last_window == Some(0);
        if me.probe_like(p) {
            if peer_zero {
                me.probes += 1;
            } else {
                me.keepalives += 1;
                me.unanswered_keepalives += 1;
                me.first_keepalive.get_or_insert(Mark::of(p));
                if me.keepalive_ns.len() < KEEPALIVE_TIMES {
                    me.keepalive_ns.push(p.t_ns);
                }
            }
        } else if peer_zero && p.payload == 1 && me.high == Some(p.seq) {
            me.probes += 1; // Wireshark's probe: one new byte into a zero window
        }
        let len = p.payload + f.syn as u32 + f.fin as u32;
        if len > 0 {
            me.data(p, len);
            if p.payload > 0 {
                me.last_data = Some(Mark::of(p));
                me.filled_window = peer
                    .right_edge(me.wscale)
                    .is_some_and(|edge| !after(edge, p.seq.wrapping_add(p.payload)));
            }
        } else if me.high.is_none() {
            me.high = Some(p.seq);
        }
        if f.fin {
            me.fins += 1;
            me.fin.get_or_insert(Mark::of(p));
        }
        if !f.syn && !f.fin {
            me.window(p);
        }
        me.window_update(p);
    }

    /// Closes open zero-window episodes at `end_ns`, the capture's last frame.
    pub fn finish(&mut self, end_ns: u64) {
        let end = end_ns.max(self.last.t_ns);
        self.end_ns = end;
        for h in &mut self.halves {
            if let Some(s) = h.zero_since {
                h.close_zero(s, end);
                h.zero_since = Some(s); // still open: the stall rule reads it
            }
        }
    }

    pub fn addr(&self, side: usize) -> SocketAddr {
        if side == 0 { self.a } else { self.b }
    }

    /// The side that sent more payload (B on a tie): the data side of its plot.
    pub fn busier_side(&self) -> usize {
        usize::from(self.halves[0].payload_bytes <= self.halves[1].payload_bytes)
    }

    /// The capture began after this connection's handshake.
    pub fn began_before_capture(&self) -> bool {
        self.halves[0].syn.is_none()
    }
}
