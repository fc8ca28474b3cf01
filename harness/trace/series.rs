//! The series a timeline plot draws from the wire, exact at packet resolution where
//! a TCP_INFO sampler would need luck to catch a 2 ms trial:
//! - the receiver's advertised window in bytes: the window field shifted by the
//!   window scale the receiver announced in its SYN (RFC 7323: only when both SYNs
//!   carry the option; a SYN's own window is never scaled);
//! - a time-sequence graph of the data side, as tcptrace draws it: the highest byte
//!   it sent, the receiver's acknowledgement, and the window's right edge
//!   (acknowledgement + window), in bytes since the data side's SYN. Where the edge
//!   meets the data, the window is closed.
//!
//! A trial follows its sender's port over every connection (the record's plot);
//! `diagnose --plot` follows one connection, with its busier side as the data side.
//! Each [`Series`] holds at most [`Series::CAP`] points: a 10 s trial of millions of
//! segments keeps its shape, its zero windows and its peaks in a few KiB.

use super::link::Packet;
use crate::record::observation::{Keep, Series, WireSeries};

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
            self.halve();
        }
    }

    /// Merges neighbouring points in pairs, keeping the extreme, and doubles the gap.
    fn halve(&mut self) {
        let merged: Vec<(u64, u64)> = self
            .points
            .chunks(2)
            .map(|c| {
                let v = c.iter().map(|p| p.1).reduce(|a, b| self.pick(a, b));
                (c[0].0, v.unwrap_or(0))
            })
            .collect();
        let span = merged.last().map_or(0, |l| l.0) - merged[0].0;
        self.gap_ns = (span / merged.len() as u64).max(self.gap_ns * 2).max(1);
        self.points = merged;
    }
}

/// Builds the [`WireSeries`] of one data side and its receiver, a packet at a time.
pub struct Follow {
    series: WireSeries,
    /// The window scale each side announced in its SYN: [receiver, data side].
    wscale: [Option<u8>; 2],
    /// The data side's initial sequence number, from its SYN.
    isn: Option<u32>,
    /// Whether a connection whose handshake was not captured is drawn at all.
    without_syn: bool,
    /// The handshake was not seen: bytes count from the first one seen, and
    /// windows are the raw field.
    pub unscaled: bool,
}

impl Default for Follow {
    fn default() -> Self {
        Follow {
            series: WireSeries {
                client_window: Series::new(Keep::Min),
                sender_sent: Series::new(Keep::Max),
                client_acked: Series::new(Keep::Max),
                window_edge: Series::new(Keep::Min),
            },
            wscale: [None; 2],
            isn: None,
            without_syn: false,
            unscaled: false,
        }
    }
}

impl Follow {
    /// Adds `p`, sent by the data side when `from_data_side`, else by the receiver.
    pub fn push(&mut self, p: &Packet, from_data_side: bool) {
        let f = p.flags;
        if f.syn {
            self.wscale[from_data_side as usize] = p.wscale;
            if from_data_side {
                self.isn = Some(p.seq);
            }
        }
        if f.rst {
            return;
        }
        if self.isn.is_none() && from_data_side && self.without_syn {
            // No SYN captured: count from the first byte seen; the window scale is
            // unknown, so windows stay the raw field ([`Follow::unscaled`]).
            self.isn = Some(p.seq.wrapping_sub(1));
            self.unscaled = true;
        }
        let Some(isn) = self.isn else {
            return; // the graph counts from the data side's SYN
        };
        let s = &mut self.series;
        if from_data_side {
            let end = p.seq.wrapping_add(p.payload + f.syn as u32 + f.fin as u32);
            s.sender_sent.push(p.t_ns, end.wrapping_sub(isn) as u64);
        } else if !f.syn {
            let shift = super::conn::window_shift(self.wscale[0], self.wscale[1]);
            let window = (p.window as u64) << shift;
            let acked = p.ack.wrapping_sub(isn) as u64;
            s.client_window.push(p.t_ns, window);
            s.client_acked.push(p.t_ns, acked);
            s.window_edge.push(p.t_ns, acked + window);
        }
    }

    pub fn finish(self) -> WireSeries {
        self.series
    }

    /// Also draws a connection that began before the capture (a trial's capture
    /// always holds its handshakes; a user's may not).
    pub fn without_syn() -> Follow {
        Follow {
            without_syn: true,
            ..Follow::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::link::Flags;

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

    fn packet(t: u64, seq: u32, ack: u32, window: u16, payload: u32, syn: bool) -> Packet {
        Packet {
            number: t,
            t_ns: t * 1000,
            src: "127.0.0.1:1".parse().unwrap(),
            dst: "127.0.0.1:2".parse().unwrap(),
            seq,
            ack,
            window,
            payload,
            flags: Flags {
                syn,
                ack: !syn || seq == 999,
                ..Flags::default()
            },
            wscale: syn.then_some(7),
            ttl: 64,
            ip_id: None,
        }
    }

    #[test]
    fn the_window_is_scaled_as_the_handshake_says() {
        let mut f = Follow::default();
        f.push(&packet(0, 99, 0, 65535, 0, true), false);
        f.push(&packet(1, 999, 100, 65535, 0, true), true);
        f.push(&packet(2, 100, 1000, 10, 0, false), false);
        f.push(&packet(3, 1000, 100, 512, 300, false), true);
        f.push(&packet(4, 100, 1200, 0, 0, false), false);
        let s = f.finish();
        let values = |s: &Series| s.points.iter().map(|p| p.1).collect::<Vec<u64>>();
        assert_eq!(values(&s.client_window), [1280, 0], "10 << 7, then zero");
        assert_eq!(values(&s.sender_sent), [1, 301], "the SYN, then 300 B");
        assert_eq!(values(&s.client_acked), [1, 201]);
        assert_eq!(values(&s.window_edge), [1281, 201], "closed at 201");
    }
}
