//! What a framed-protocol client checks about every message it receives: the
//! sequence (a duplicate, a gap, a message out of order), and the latency from the
//! sender's production stamp to processing. `resume` and `threaded` share it.

use crate::protocol::Frame;
use crate::record::{ClientMessages, GAP_RANGES, Latency};
use crate::sys;

/// Latencies kept for the percentiles; beyond, every other one is kept (max is exact).
const LATENCY_CAP: usize = 1 << 20;

/// The running account of the messages a client received.
#[derive(Debug, Default)]
pub struct Checker {
    pub m: ClientMessages,
    highest_seen: u64,
    latencies: Vec<u64>,
    /// Keep one latency in this many once the cap was reached.
    stride: u64,
    max_latency: u64,
}

impl Checker {
    pub fn new() -> Checker {
        Checker {
            stride: 1,
            ..Checker::default()
        }
    }

    /// Checks a frame's sequence: true when it is new and should be processed (then
    /// [`Checker::processed`] follows); false for a duplicate, which is counted.
    pub fn admit(&mut self, f: &Frame) -> bool {
        if f.seq <= self.m.last_seq {
            self.m.duplicates += 1;
            return false;
        }
        if f.seq < self.highest_seen {
            self.m.reordered += 1;
        }
        if f.seq > self.m.last_seq + 1 {
            self.m.gaps += f.seq - self.m.last_seq - 1;
            if self.m.gap_ranges.len() < GAP_RANGES {
                self.m.gap_ranges.push((self.m.last_seq + 1, f.seq - 1));
            }
        }
        self.highest_seen = self.highest_seen.max(f.seq);
        true
    }

    /// Records that an admitted frame was processed, now.
    pub fn processed(&mut self, f: &Frame) {
        let us = sys::monotonic_ns().saturating_sub(f.produced_ns) / 1000;
        self.max_latency = self.max_latency.max(us);
        if self.m.processed.is_multiple_of(self.stride) {
            self.latencies.push(us);
            if self.latencies.len() >= LATENCY_CAP {
                self.latencies = self.latencies.iter().step_by(2).copied().collect();
                self.stride *= 2;
            }
        }
        self.m.last_seq = f.seq;
        self.m.processed += 1;
    }

    /// The account, with its latency distribution.
    pub fn finish(mut self) -> ClientMessages {
        let mut latency = Latency::of(std::mem::take(&mut self.latencies));
        if let Some(l) = latency.as_mut() {
            l.max_us = self.max_latency;
        }
        self.m.latency = latency;
        self.m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u64) -> Frame {
        Frame {
            seq,
            produced_ns: 0,
            payload: vec![],
        }
    }

    #[test]
    fn duplicates_gaps_and_reordering_are_counted() {
        let mut c = Checker::new();
        for s in [1, 2, 2, 5, 4, 6] {
            let f = frame(s);
            if c.admit(&f) {
                c.processed(&f);
            }
        }
        let m = c.finish();
        assert_eq!(
            (m.processed, m.duplicates, m.gaps, m.last_seq),
            (4, 2, 2, 6)
        );
        assert_eq!(
            m.reordered, 0,
            "4 after 5 is a duplicate of what was skipped"
        );
        assert!(m.latency.is_some());
    }
}
