//! An RST without a zero window before it, told apart as far as the wire allows:
//! - with an ACK, of the side's own accord: close() with unread data, or SO_LINGER 0
//!   (a killed process closes its sockets as close() does: an RST only with data
//!   unread);
//! - without an ACK, answering the peer's segment: no socket for it (the process or
//!   host restarted, or the socket was already gone).

use super::{Cause, Finding, Rule, Step, first_rst, who};
use crate::trace::conn::Conn;

pub struct Abortive;

impl Rule for Abortive {
    fn judge(&self, c: &Conn) -> Option<Finding> {
        let (x, rst) = first_rst(c)?;
        let y = 1 - x;
        let peer = &c.halves[y];
        let mut f = Finding::new(
            Cause::AbortiveClose,
            Some(x),
            "read what the peer sent before closing (or shut down the write side first, then drain); do not set SO_LINGER 0 unless an abort is meant; see docs/remedies.md",
        );
        f.bytes_destroyed = c.halves[x].unacked_by(peer);
        if rst.answers_peer {
            f = f.step(Step::at(
                rst.at,
                format!(
                    "{} answered a segment of {}'s with an RST: it had no socket for the connection (its process or host restarted, or the socket was closed before)",
                    who(c, x),
                    who(c, y)
                ),
            ));
            return Some(f);
        }
        let unread = peer.payload_bytes > 0;
        f = f.step(Step::at(
            rst.at,
            format!(
                "{} sent an RST of its own accord, with no zero window from {} before it",
                who(c, x),
                who(c, y)
            ),
        ));
        f = if unread {
            f.step(Step::note(format!(
                "{} had sent {} B: likely a close() with some of it unread",
                who(c, y),
                peer.payload_bytes
            )))
        } else {
            f.step(Step::note(format!(
                "{} had sent no data, so nothing was left unread: SO_LINGER 0 (or another abort, such as ss -K)",
                who(c, y)
            )))
        };
        f.or_else =
            unread.then_some("SO_LINGER 0: the wire cannot tell it from a close with unread data");
        Some(f)
    }
}
