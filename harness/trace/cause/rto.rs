//! Retransmission timeout: one side retransmitted the same data with a backing-off
//! timer, and the peer never acknowledged it; then the side gave up (silence, or an
//! RST once the application closed) or the capture ended.

use super::{Cause, Finding, Rule, Step, who};
use crate::trace::conn::Conn;
use crate::words::ms_u;

/// Retransmissions of one sequence number that make a timeout, not a loss.
const TRIES: u32 = 3;

pub struct Rto;

impl Rule for Rto {
    fn judge(&self, c: &Conn) -> Option<Finding> {
        let x = (0..2).find(|&i| {
            let r = &c.halves[i].retrans_run;
            let acked = c.halves[1 - i].acked;
            r.count >= TRIES
                && r.backing_off
                && acked.is_none_or(|a| (a.wrapping_sub(r.seq) as i32) <= 0)
        })?;
        let r = c.halves[x].retrans_run;
        Some(
            Finding::new(
                Cause::RetransmissionTimeout,
                Some(x),
                "the path or the peer went away while data was in flight: check the network between the hosts; TCP_USER_TIMEOUT bounds how long the sender keeps trying",
            )
            .step(Step::note(format!(
                "{} retransmitted sequence {} {} time(s), the timer backing off, over {}",
                who(c, x),
                r.seq,
                r.count,
                ms_u((r.last_ns.saturating_sub(r.first_ns)) / 1000)
            )))
            .step(Step::note(format!(
                "{} never acknowledged it{}",
                who(c, 1 - x),
                if c.halves[x].rst.is_some() { "; then an RST" } else { "" }
            ))),
        )
    }
}
