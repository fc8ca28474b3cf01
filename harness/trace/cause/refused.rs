//! Refused: the responder answered the SYN with an RST (no listener on the port, or
//! a full backlog with `tcp_abort_on_overflow`).

use super::{Cause, Finding, Rule, Step, who};
use crate::trace::conn::Conn;

pub struct Refused;

impl Rule for Refused {
    fn judge(&self, c: &Conn) -> Option<Finding> {
        let [a, b] = &c.halves;
        let syn = a.syn?;
        let rst = b
            .rst
            .filter(|r| r.with_ack && !c.synack && b.syn.is_none())?;
        Some(
            Finding::new(
                Cause::Refused,
                Some(1),
                "nothing listened on that port when the SYN came (or its backlog was full with net.ipv4.tcp_abort_on_overflow = 1): start the server first, or retry with backoff",
            )
            .step(Step::at(syn, format!("{} sent a SYN", who(c, 0))))
            .step(Step::at(
                rst.at,
                format!("{} answered it with an RST: connection refused (ECONNREFUSED)", who(c, 1)),
            )),
        )
    }
}
