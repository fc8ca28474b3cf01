//! What the capture shows about one connection: zero windows, window updates,
//! zero-window probes, RSTs and FINs per direction, and when the first zero window
//! and the first RST were seen. The definitions follow Wireshark's TCP analysis, so
//! the counts can be checked against tshark:
//! - zero window (`tcp.analysis.zero_window`): window field 0, none of SYN/FIN/RST;
//! - window update (`tcp.analysis.window_update`): no payload, none of SYN/FIN/RST,
//!   same seq and ack as the previous segment that way, and a different window;
//! - zero-window probe: sent while the other side's last window was 0, with at most
//!   one byte, at the next sequence number (Wireshark's `zero_window_probe`) or one
//!   below it (Linux's `tcp_xmit_probe_skb` sends `snd_una - 1` with no data).
//!
//! It also keeps series for the trial's plot, exact at packet resolution where the
//! TCP_INFO sampler would need luck to catch a 2 ms trial:
//! - the client's advertised window in bytes: the window field shifted by the
//!   window scale the client announced in its SYN (RFC 7323: only when both SYNs
//!   carry the option; a SYN's own window is never scaled);
//! - a time-sequence graph of the sender's data, as tcptrace draws it: the highest
//!   byte the sender sent, the client's acknowledgement, and the window's right edge
//!   (acknowledgement + window), in bytes since the sender's SYN. Where the edge
//!   meets the data, the window is closed.
//!
//! Each is a [`Series`] of at most [`Series::CAP`] points: a 10 s trial of millions of
//! segments keeps its shape, its zero windows and its peaks in a few KiB.

use crate::trace::link::{self, Link};

pub use crate::record::observation::{Direction, Keep, RstDirection, Series, Wire, WireSeries};

/// One TCP segment of the connection, as parsed from a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// CLOCK_MONOTONIC ns.
    pub mono_ns: u64,
    /// True when it went from the sender to the client.
    pub from_sender: bool,
    /// The client's port: which of the client's connections it belongs to.
    pub client_port: u16,
    pub seq: u32,
    pub ack: u32,
    /// The raw 16-bit window field (0 means zero, whatever the scale).
    pub window: u16,
    pub payload: u32,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    /// The window scale option, on a SYN that carries one.
    pub wscale: Option<u8>,
}

/// Parses a frame of `lo` (zeroed Ethernet header) into a segment to or from the
/// sender's listening port; None for any other frame. The parsing is `diagnose`'s
/// ([`crate::trace::link`]), so a trial's record and a diagnosis of its pcap read
/// the same segments.
pub fn segment(data: &[u8], mono_ns: u64, sender_port: u16) -> Option<Segment> {
    let p = link::packet(Link::Ethernet, 0, mono_ns, data).ok()?;
    if !p.src.is_ipv4() {
        return None;
    }
    let (from_sender, client_port) = if p.src.port() == sender_port {
        (true, p.dst.port())
    } else if p.dst.port() == sender_port {
        (false, p.src.port())
    } else {
        return None;
    };
    Some(Segment {
        mono_ns,
        from_sender,
        client_port,
        seq: p.seq,
        ack: p.ack,
        window: p.window,
        payload: p.payload,
        syn: p.flags.syn,
        fin: p.flags.fin,
        rst: p.flags.rst,
        wscale: p.wscale,
    })
}

impl Series {
    /// The most points a series holds.
    pub const CAP: usize = 4096;

    pub fn new(keep: Keep) -> Series {
        Series {
            points: Vec::new(),
            keep,
            gap_ns: 0,
        }
    }

    fn pick(&self, a: u64, b: u64) -> u64 {
        match self.keep {
            Keep::Min => a.min(b),
            Keep::Max => a.max(b),
        }
    }

    pub fn push(&mut self, t_ns: u64, v: u64) {
        if let Some(last) = self.points.last_mut()
            && t_ns < last.0 + self.gap_ns
        {
            last.1 = match self.keep {
                Keep::Min => last.1.min(v),
                Keep::Max => last.1.max(v),
            };
            return;
        }
        self.points.push((t_ns, v));
        if self.points.len() >= Self::CAP {
            let merged: Vec<(u64, u64)> = self
                .points
                .chunks(2)
                .map(|c| {
                    (
                        c[0].0,
                        c.iter()
                            .map(|p| p.1)
                            .reduce(|a, b| self.pick(a, b))
                            .unwrap_or(0),
                    )
                })
                .collect();
            let span = merged.last().map_or(0, |l| l.0) - merged[0].0;
            self.gap_ns = (span / merged.len() as u64).max(self.gap_ns * 2).max(1);
            self.points = merged;
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Last {
    seq: u32,
    ack: u32,
    window: u16,
    next_seq: u32,
    seen: bool,
}

/// Counts what the segments show, one at a time, in capture order.
pub struct Analyzer {
    w: Wire,
    last: [Last; 2], // [from client, from sender]
    /// The window scale each side announced in its SYN: [client, sender].
    wscale: [Option<u8>; 2],
    /// The sender's initial sequence number, from its SYN.
    sender_isn: Option<u32>,
    /// The client ports whose client sent a FIN: a sender's FIN on them answers it.
    client_closed: Vec<u16>,
}

impl Default for Analyzer {
    fn default() -> Self {
        let mut w = Wire::default();
        w.series.client_window = Series::new(Keep::Min);
        w.series.sender_sent = Series::new(Keep::Max);
        w.series.client_acked = Series::new(Keep::Max);
        w.series.window_edge = Series::new(Keep::Min);
        Analyzer {
            w,
            last: [Last::default(); 2],
            wscale: [None; 2],
            sender_isn: None,
            client_closed: Vec::new(),
        }
    }
}

impl Analyzer {
    /// Adds the segment to the plot's series.
    fn follow(&mut self, s: &Segment) {
        if s.syn {
            self.wscale[s.from_sender as usize] = s.wscale;
            if s.from_sender {
                self.sender_isn = Some(s.seq);
            }
        }
        if s.rst {
            return;
        }
        let Some(isn) = self.sender_isn else {
            return; // the graph counts from the sender's SYN
        };
        let series = &mut self.w.series;
        if s.from_sender {
            let end = s.seq.wrapping_add(s.payload + s.syn as u32 + s.fin as u32);
            series
                .sender_sent
                .push(s.mono_ns, end.wrapping_sub(isn) as u64);
        } else if !s.syn {
            // Scaling holds only when both SYNs carried the option (RFC 7323).
            let shift = match self.wscale {
                [Some(c), Some(_)] => c as u32,
                _ => 0,
            };
            let window = (s.window as u64) << shift;
            let acked = s.ack.wrapping_sub(isn) as u64;
            series.client_window.push(s.mono_ns, window);
            series.client_acked.push(s.mono_ns, acked);
            series.window_edge.push(s.mono_ns, acked + window);
        }
    }

    /// What the segment's RST, FIN and SYN say: the first of each way, and whether
    /// the sender closed a connection first.
    fn flags(&mut self, s: &Segment) {
        let w = &mut self.w;
        let d = if s.from_sender {
            &mut w.from_sender
        } else {
            &mut w.from_client
        };
        if s.rst {
            d.rsts += 1;
            w.first_rst_ns.get_or_insert(s.mono_ns);
            if s.from_sender {
                w.first_rst_from_sender_ns.get_or_insert(s.mono_ns);
            } else {
                w.first_rst_from_client_ns.get_or_insert(s.mono_ns);
            }
        }
        if s.fin {
            d.fins += 1;
            if !s.from_sender {
                self.client_closed.push(s.client_port);
            } else {
                w.first_fin_from_sender_ns.get_or_insert(s.mono_ns);
                if !self.client_closed.contains(&s.client_port) {
                    w.first_close_from_sender_ns.get_or_insert(s.mono_ns);
                }
            }
        }
        if s.syn && !s.from_sender {
            w.client_syn_ns.get_or_insert(s.mono_ns);
        }
    }

    pub fn push(&mut self, s: &Segment) {
        self.follow(s);
        self.flags(s);
        let Analyzer { w, last, .. } = self;
        let (me, other) = if s.from_sender { (1, 0) } else { (0, 1) };
        let flags = s.syn || s.fin || s.rst;
        let other_window_zero = last[other].seen && last[other].window == 0;
        let prev = last[me];
        let d = if s.from_sender {
            &mut w.from_sender
        } else {
            &mut w.from_client
        };
        d.segments += 1;
        d.payload_bytes += s.payload as u64;
        if s.window == 0 && !flags {
            d.zero_windows += 1;
            w.first_zero_window_ns.get_or_insert(s.mono_ns);
        }
        if prev.seen
            && s.payload == 0
            && !flags
            && s.seq == prev.seq
            && s.ack == prev.ack
            && s.window != prev.window
        {
            d.window_updates += 1;
        }
        if prev.seen
            && other_window_zero
            && !flags
            && s.payload <= 1
            && (s.seq == prev.next_seq.wrapping_sub(1)
                || (s.payload == 1 && s.seq == prev.next_seq))
        {
            d.zero_window_probes += 1;
        } else if prev.seen && !flags && s.payload <= 1 && s.seq == prev.next_seq.wrapping_sub(1) {
            d.keep_alives += 1;
            if !s.from_sender {
                w.unanswered_keep_alives += 1;
                if w.client_keep_alive_ns.len() < 32 {
                    w.client_keep_alive_ns.push(s.mono_ns);
                }
            }
        }
        if s.from_sender {
            w.last_from_sender_ns = Some(s.mono_ns);
            w.unanswered_keep_alives = 0;
        }
        let next_seq = s.seq.wrapping_add(s.payload + s.syn as u32 + s.fin as u32);
        last[me] = Last {
            seq: s.seq,
            ack: s.ack,
            window: s.window,
            // a probe below snd_una does not move the next sequence number
            next_seq: if prev.seen && next_seq.wrapping_sub(prev.next_seq) as i32 <= 0 {
                prev.next_seq
            } else {
                next_seq
            },
            seen: true,
        };
    }

    pub fn finish(mut self) -> Wire {
        self.w.rst_direction = match (self.w.from_sender.rsts > 0, self.w.from_client.rsts > 0) {
            (true, false) => RstDirection::SenderToClient,
            (false, true) => RstDirection::ClientToSender,
            (true, true) => RstDirection::Both,
            (false, false) => RstDirection::None,
        };
        self.w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyze(segments: &[Segment]) -> Wire {
        let mut a = Analyzer::default();
        for s in segments {
            a.push(s);
        }
        a.finish()
    }

    fn seg(from_sender: bool, seq: u32, ack: u32, window: u16, payload: u32) -> Segment {
        Segment {
            mono_ns: seq as u64,
            from_sender,
            client_port: 40000,
            seq,
            ack,
            window,
            payload,
            syn: false,
            fin: false,
            rst: false,
            wscale: None,
        }
    }

    #[test]
    fn a_fin_that_answers_the_clients_close_is_not_the_sender_closing_first() {
        let fin = |from_sender: bool, port: u16, t: u32| Segment {
            fin: true,
            client_port: port,
            ..seg(from_sender, t, 0, 1000, 0)
        };
        let mut a = Analyzer::default();
        // Connection 1: the client closes, the sender answers.
        a.push(&fin(false, 40001, 10));
        a.push(&fin(true, 40001, 20));
        // Connection 2: the sender closes first.
        a.push(&fin(true, 40002, 30));
        let w = a.finish();
        assert_eq!(w.first_fin_from_sender_ns, Some(20));
        assert_eq!(w.first_close_from_sender_ns, Some(30));
    }

    #[test]
    fn a_series_stays_bounded_and_keeps_its_extremes() {
        let mut s = Series::new(Keep::Min);
        for i in 0..100_000u64 {
            s.push(i * 1000, if i == 77_777 { 0 } else { 5000 + i % 7 });
        }
        assert!(s.points.len() < Series::CAP, "{}", s.points.len());
        assert!(
            s.points.iter().any(|p| p.1 == 0),
            "the zero window survives"
        );
        assert!(
            s.points.windows(2).all(|w| w[0].0 < w[1].0),
            "in time order"
        );
        let mut m = Series::new(Keep::Max);
        for i in 0..100_000u64 {
            m.push(i, if i == 5 { 1 << 30 } else { 1 });
        }
        assert!(m.points.iter().any(|p| p.1 == 1 << 30), "the peak survives");
    }

    #[test]
    fn the_window_is_scaled_as_the_handshake_says() {
        let mut syn = seg(false, 99, 0, 65535, 0);
        syn.syn = true;
        syn.wscale = Some(7);
        let mut synack = seg(true, 999, 100, 65535, 0);
        synack.syn = true;
        synack.wscale = Some(7);
        let mut segs = [
            syn,
            synack,
            seg(false, 100, 1000, 10, 0),
            seg(true, 1000, 100, 512, 300),
            seg(false, 100, 1200, 0, 0),
        ];
        for (i, s) in segs.iter_mut().enumerate() {
            s.mono_ns = i as u64 * 1000; // in capture order
        }
        let w = analyze(&segs);
        let values = |s: &Series| s.points.iter().map(|p| p.1).collect::<Vec<u64>>();
        assert_eq!(
            values(&w.series.client_window),
            [1280, 0],
            "10 << 7, then zero"
        );
        assert_eq!(
            values(&w.series.sender_sent),
            [1, 301],
            "the SYN, then 300 B"
        );
        assert_eq!(values(&w.series.client_acked), [1, 201]);
        assert_eq!(values(&w.series.window_edge), [1281, 201], "closed at 201");
    }

    #[test]
    fn counts_zero_windows_updates_probes_and_resets() {
        let mut rst = seg(true, 1300, 500, 0, 0);
        rst.rst = true;
        let segs = [
            seg(true, 1000, 500, 512, 100), // data
            seg(false, 500, 1100, 0, 0),    // client: zero window
            seg(true, 1099, 500, 512, 0),   // Linux probe: snd_una - 1, no data
            seg(false, 500, 1100, 0, 0),    // client answers, still zero
            seg(false, 500, 1100, 300, 0),  // window update
            seg(true, 1100, 500, 512, 200), // data
            rst,
        ];
        let w = analyze(&segs);
        assert_eq!(w.from_client.zero_windows, 2);
        assert_eq!(w.from_client.window_updates, 1);
        assert_eq!(w.from_sender.zero_window_probes, 1);
        assert_eq!(w.from_sender.rsts, 1);
        assert_eq!(w.rst_direction.as_str(), "sender→client");
        assert_eq!(w.first_zero_window_ns, Some(500));
        assert_eq!(w.first_rst_ns, Some(1300));
        assert_eq!(w.from_sender.payload_bytes, 300);
    }

    #[test]
    fn parses_a_real_frame() {
        // Ethernet (zeros) + IPv4 127.0.0.1:40000 -> 127.0.0.1:5000, TCP ACK win 0.
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ]);
        f.extend_from_slice(&40000u16.to_be_bytes());
        f.extend_from_slice(&5000u16.to_be_bytes());
        f.extend_from_slice(&7u32.to_be_bytes());
        f.extend_from_slice(&9u32.to_be_bytes());
        f.extend_from_slice(&[0x50, 0x10, 0, 0, 0, 0, 0, 0]);
        let s = segment(&f, 1, 5000).unwrap();
        assert!(!s.from_sender);
        assert_eq!((s.seq, s.ack, s.window, s.payload), (7, 9, 0, 0));
        assert!(segment(&f, 1, 5001).is_none());
    }
}
