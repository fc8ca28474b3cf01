//! Keepalive timeout: one side sent keep-alive probes that its peer never answered,
//! then gave up: an RST (Linux's `tcp_keepalive_timer` aborts with one) or silence.
//! The peer is gone (host down, cable pulled, a NAT or firewall forgot the flow).

use super::{Cause, Finding, Rule, Step, who};
use crate::trace::conn::Conn;
use crate::words::ms_u;

/// Unanswered probes before the prober's give-up counts as a keepalive timeout.
const PROBES: u32 = 2;

pub struct Keepalive;

impl Rule for Keepalive {
    fn judge(&self, c: &Conn) -> Option<Finding> {
        let x = (0..2).find(|&i| c.halves[i].unanswered_keepalives >= PROBES)?;
        let h = &c.halves[x];
        let first = h.first_keepalive?;
        // What the prober sent last was a probe, or its RST.
        let ended = h.rst.map(|r| r.at);
        let mut f = Finding::new(
            Cause::KeepaliveTimeout,
            Some(x),
            "the peer vanished without a FIN or an RST: keepalive found it; shorten tcp_keepalive_time/intvl/probes (or TCP_USER_TIMEOUT) to find it sooner, and reconnect; see docs/socket-options.md",
        )
        .step(Step::at(
            first,
            format!("{} began keep-alive probes (the connection had been idle)", who(c, x)),
        ))
        .step(Step::note(format!(
            "{} probe(s) at the end went unanswered by {}",
            h.unanswered_keepalives,
            who(c, 1 - x)
        )));
        f = match ended {
            Some(at) => f.step(Step::at(
                at,
                format!(
                    "{} gave up with an RST, {} after its first probe (the application sees ETIMEDOUT)",
                    who(c, x),
                    ms_u((at.t_ns.saturating_sub(first.t_ns)) / 1000)
                ),
            )),
            None => f.step(Step::note(format!(
                "then nothing more from {}: it gave up silently, or the capture ended first",
                who(c, x)
            ))),
        };
        Some(f)
    }
}
