//! What the capture shows about a trial: zero windows, window updates, zero-window
//! probes, keep-alives, RSTs and FINs per direction, and when the first of each was
//! seen, over every connection to the sender's port.
//!
//! The connections are rebuilt by `diagnose`'s own code ([`crate::trace`]): the
//! frame parsing ([`crate::trace::link`]), the table by 4-tuple and incarnation
//! ([`crate::trace::Tracker`]) and each side's counts ([`crate::trace::conn`]), whose
//! definitions follow Wireshark's TCP analysis, so the counts can be checked against
//! tshark. A trial's record and a diagnosis of its pcap read the same segments the
//! same way; this module only sums each finished connection into the record's
//! [`Wire`], with the side on the sender's port as the sender, and keeps the plot's
//! series ([`crate::trace::series`]) over all of them.

use crate::trace::cause::Cause;
use crate::trace::conn::{Conn, Half, Mark};
use crate::trace::link::{self, Link, Packet};
use crate::trace::series::Follow;
use crate::trace::{Sink, Tracker};

pub use crate::record::observation::{Direction, Keep, RstDirection, Series, Wire, WireSeries};

/// Parses a frame of `lo` (zeroed Ethernet header) into a segment to or from the
/// sender's listening port; None for any other frame.
pub fn segment(data: &[u8], mono_ns: u64, sender_port: u16) -> Option<Packet> {
    let p = link::packet(Link::Ethernet, 0, mono_ns, data).ok()?;
    let ours = p.src.port() == sender_port || p.dst.port() == sender_port;
    (p.src.is_ipv4() && ours).then_some(p)
}

/// Counts what the segments show, one at a time, in capture order.
pub struct Analyzer {
    tracker: Tracker<Sum>,
    follow: Follow,
    frames: u64,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer {
            tracker: Tracker::new(Sum::default()),
            follow: Follow::default(),
            frames: 0,
        }
    }
}

impl Analyzer {
    /// Adds a segment to or from `sender_port` (as [`segment`] gives it); its time
    /// is CLOCK_MONOTONIC ns.
    pub fn push(&mut self, p: &Packet, sender_port: u16) {
        self.frames += 1;
        let p = Packet {
            number: self.frames,
            ..*p
        };
        self.tracker.sink_mut().port = sender_port;
        self.follow.push(&p, p.src.port() == sender_port);
        self.tracker.push(&p);
    }

    pub fn finish(self) -> Wire {
        let mut w = self.tracker.finish().w;
        w.series = self.follow.finish();
        w.client_keep_alive_ns.sort_unstable();
        w.client_keep_alive_ns
            .truncate(crate::trace::conn::KEEPALIVE_TIMES);
        w.rst_direction = match (w.from_sender.rsts > 0, w.from_client.rsts > 0) {
            (true, false) => RstDirection::SenderToClient,
            (false, true) => RstDirection::ClientToSender,
            (true, true) => RstDirection::Both,
            (false, false) => RstDirection::None,
        };
        w
    }
}

/// The record's sums over the trial's connections.
#[derive(Default)]
struct Sum {
    w: Wire,
    port: u16,
}

fn add(d: &mut Direction, h: &Half) {
    d.segments += h.packets;
    d.payload_bytes += h.payload_bytes;
    d.zero_windows += h.zero_windows;
    d.window_updates += h.window_updates;
    d.zero_window_probes += h.probes;
    d.keep_alives += h.keepalives;
    d.rsts += h.rsts;
    d.fins += h.fins;
}

/// Keeps the earlier (`min`) or later of `slot` and `m`'s time.
fn keep(slot: &mut Option<u64>, m: Option<Mark>, min: bool) {
    if let Some(t) = m.map(|m| m.t_ns) {
        *slot = Some(match *slot {
            Some(s) if min => s.min(t),
            Some(s) => s.max(t),
            None => t,
        });
    }
}

impl Sink for Sum {
    fn take(&mut self, c: Conn) {
        let sender = usize::from(c.b.port() == self.port);
        let (snd, cli) = (&c.halves[sender], &c.halves[1 - sender]);
        let w = &mut self.w;
        add(&mut w.from_sender, snd);
        add(&mut w.from_client, cli);
        keep(&mut w.first_zero_window_ns, snd.first_zero_window, true);
        keep(&mut w.first_zero_window_ns, cli.first_zero_window, true);
        let rst = |h: &Half| h.rst.map(|r| r.at);
        keep(&mut w.first_rst_from_sender_ns, rst(snd), true);
        keep(&mut w.first_rst_from_client_ns, rst(cli), true);
        keep(&mut w.first_rst_ns, rst(snd), true);
        keep(&mut w.first_rst_ns, rst(cli), true);
        keep(&mut w.client_syn_ns, cli.syn, true);
        keep(&mut w.first_fin_from_sender_ns, snd.fin, true);
        // The sender closing first, not answering the client's own close.
        let first = snd
            .fin
            .filter(|s| cli.fin.is_none_or(|c| c.number > s.number));
        keep(&mut w.first_close_from_sender_ns, first, true);
        keep(&mut w.last_from_sender_ns, snd.last, false);
        if snd.rst.is_some() {
            if let Some(b) = snd.unacked_by(cli) {
                *w.sender_rst_unacked_bytes.get_or_insert(0) += b;
            }
            let f = crate::trace::cause::judge(&c);
            if f.side == Some(sender) && f.cause == Cause::FinThenRstOnData {
                w.sender_fin_then_rst += 1;
            }
        }
        w.unanswered_keep_alives += cli.unanswered_keepalives as u64;
        w.client_keep_alive_ns.extend(&cli.keepalive_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::link::Flags;

    const SENDER: u16 = 5000;

    fn analyze(segments: &[Packet]) -> Wire {
        let mut a = Analyzer::default();
        for s in segments {
            a.push(s, SENDER);
        }
        a.finish()
    }

    fn seg(from_sender: bool, seq: u32, ack: u32, window: u16, payload: u32) -> Packet {
        let (sender, client) = (
            format!("127.0.0.1:{SENDER}").parse().unwrap(),
            "127.0.0.1:40000".parse().unwrap(),
        );
        let (src, dst) = if from_sender {
            (sender, client)
        } else {
            (client, sender)
        };
        Packet {
            number: 0,
            t_ns: seq as u64,
            src,
            dst,
            seq,
            ack,
            window,
            payload,
            flags: Flags {
                ack: true,
                ..Flags::default()
            },
            wscale: None,
            ttl: 64,
            ip_id: None,
        }
    }

    #[test]
    fn a_fin_that_answers_the_clients_close_is_not_the_sender_closing_first() {
        let fin = |from_sender: bool, port: u16, t: u32| {
            let mut p = seg(from_sender, t, 0, 1000, 0);
            p.flags.fin = true;
            let client = format!("127.0.0.1:{port}").parse().unwrap();
            if from_sender {
                p.dst = client
            } else {
                p.src = client
            }
            p
        };
        let w = analyze(&[
            // Connection 1: the client closes, the sender answers.
            fin(false, 40001, 10),
            fin(true, 40001, 20),
            // Connection 2: the sender closes first.
            fin(true, 40002, 30),
        ]);
        assert_eq!(w.first_fin_from_sender_ns, Some(20));
        assert_eq!(w.first_close_from_sender_ns, Some(30));
        assert_eq!((w.from_sender.fins, w.from_client.fins), (2, 1));
    }

    #[test]
    fn counts_zero_windows_updates_probes_and_resets() {
        let mut rst = seg(true, 1300, 500, 0, 0);
        rst.flags.rst = true;
        let segs = [
            seg(true, 1000, 500, 512, 100), // data
            seg(false, 500, 1100, 0, 0),    // client: zero window
            seg(true, 1099, 500, 512, 0),   // Linux probe: snd_una - 1, no data
            seg(false, 500, 1100, 0, 0),    // client answers, still zero
            seg(false, 500, 1100, 300, 0),  // window update
            seg(true, 1100, 500, 512, 200), // data
            rst,
        ];
        let mut segs = segs.to_vec();
        for (i, s) in segs.iter_mut().enumerate() {
            s.t_ns = 100 * (i as u64 + 5); // in capture order
        }
        let w = analyze(&segs);
        assert_eq!(w.from_client.zero_windows, 2);
        assert_eq!(w.from_client.window_updates, 1);
        assert_eq!(w.from_sender.zero_window_probes, 1);
        assert_eq!(w.from_sender.rsts, 1);
        assert_eq!(w.rst_direction.as_str(), "sender→client");
        assert_eq!(w.first_zero_window_ns, Some(600));
        assert_eq!(w.first_rst_ns, Some(1100));
        assert_eq!(w.from_sender.payload_bytes, 300);
        assert_eq!(w.from_sender.segments, 4);
        assert_eq!(
            w.sender_rst_unacked_bytes,
            Some(200),
            "the last 200 B were never acked"
        );
    }

    #[test]
    fn a_keepalive_without_an_answer_is_counted_until_the_sender_speaks() {
        let mut segs = vec![
            seg(true, 1000, 500, 512, 100),
            seg(false, 500, 1100, 512, 0),
            seg(false, 499, 1100, 512, 0), // keep-alive: snd_nxt - 1
            seg(true, 1100, 500, 512, 0),  // answered
            seg(false, 499, 1100, 512, 0),
            seg(false, 499, 1100, 512, 0),
        ];
        for (i, s) in segs.iter_mut().enumerate() {
            s.t_ns = i as u64;
        }
        let w = analyze(&segs);
        assert_eq!(w.from_client.keep_alives, 3);
        assert_eq!(w.unanswered_keep_alives, 2);
        assert_eq!(w.client_keep_alive_ns, [2, 4, 5]);
        assert_eq!(w.last_from_sender_ns, Some(3));
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
        assert_eq!(s.src.port(), 40000);
        assert_eq!((s.seq, s.ack, s.window, s.payload), (7, 9, 0, 0));
        assert!(segment(&f, 1, 5001).is_none());
    }
}
