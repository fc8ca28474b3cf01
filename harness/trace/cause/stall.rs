//! A zero-window stall without a reset: one side's window stayed closed for a long
//! time while the other probed it (persist timer), and neither gave up within the
//! capture.

use super::{Cause, Finding, Rule, Step, who};
use crate::trace::conn::Conn;
use crate::words::ms_u;

/// A closed window this long, still closed at the end, is a stall.
const STALL_NS: u64 = 1_000_000_000;

pub struct Stall;

impl Rule for Stall {
    fn judge(&self, c: &Conn) -> Option<Finding> {
        let y = (0..2).find(|&i| {
            c.halves[i]
                .open_zero_window_ns(c.end_ns)
                .is_some_and(|d| d >= STALL_NS)
        })?;
        let h = &c.halves[y];
        let stalled = h.open_zero_window_ns(c.end_ns)?;
        Some(
            Finding::new(
                Cause::ZeroWindowStall,
                Some(y),
                "the reader stopped reading (blocked, busy, or deadlocked waiting for the writer): find what its process waits on; the writer should bound the wait (a deadline, SO_SNDTIMEO) instead of probing forever; see docs/remedies.md",
            )
            .step(Step::at(
                h.first_zero_window?,
                format!("{} advertised a zero window", who(c, y)),
            ))
            .step(Step::note(format!(
                "its window was still closed at the capture's last frame, {} later; {} sent {} zero-window probe(s)",
                ms_u(stalled / 1000),
                who(c, 1 - y),
                c.halves[1 - y].probes
            ))),
        )
    }
}
