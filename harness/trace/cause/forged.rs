//! An RST its supposed source likely did not send: its TTL (IPv6: hop limit) is
//! unlike every other segment of that source's on the connection. One host sends a
//! connection's segments with one initial TTL over one path, so a middlebox or a
//! firewall that injects an RST usually gives itself away here. The IP ID is shown
//! as evidence but not judged: Linux sends an RST without a socket from a control
//! socket of its own, whose IDs are unlike the connection's.

use super::{Cause, Finding, Rule, Step, first_rst, who};
use crate::trace::conn::Conn;

pub struct Forged;

impl Rule for Forged {
    fn judge(&self, c: &Conn) -> Option<Finding> {
        let (x, rst) = first_rst(c)?;
        let h = &c.halves[x];
        let (lo, hi) = (h.ttl_min?, h.ttl_max?);
        if (lo..=hi).contains(&rst.ttl) {
            return None;
        }
        let mut f = Finding::new(
            Cause::ForgedRst,
            Some(x),
            "look for a firewall, load balancer or IDS on the path that resets connections (idle timeouts, connection limits, policy); capture on both ends to see where the RST enters",
        )
        .step(Step::note(format!(
            "every other segment from {} came with TTL {}",
            who(c, x),
            if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") }
        )))
        .step(Step::at(
            rst.at,
            format!(
                "an RST \"from\" {} came with TTL {}{}: likely sent by something on the path, not by that host",
                who(c, x),
                rst.ttl,
                rst.ip_id.map_or(String::new(), |id| format!(" (IP ID {id}; its last other segment had {})",
                    h.last_ip_id.map_or("?".into(), |i| i.to_string())))
            ),
        ));
        f.or_else = Some("a host whose route changed between its segments and the RST");
        Some(f)
    }
}
