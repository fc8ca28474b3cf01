//! The 2014 failure: one side advertised a zero window, and the other then sent an
//! RST of its own accord (with an ACK, answering no segment of the peer's), before
//! any FIN of its own. On Linux that is `close()` with data in the receive queue
//! (`tcp_close`: TCP_ABORT_ON_CLOSE), the unread replies of a sender that gave up on
//! EAGAIN; or SO_LINGER 0.

use super::{Cause, Finding, Rule, Step, first_rst, who};
use crate::trace::conn::Conn;
use crate::words::ms_u;

pub struct ZeroWindowAbort;

impl Rule for ZeroWindowAbort {
    fn judge(&self, c: &Conn) -> Option<Finding> {
        let (x, rst) = first_rst(c)?;
        let y = 1 - x;
        let (me, slow) = (&c.halves[x], &c.halves[y]);
        let zw = slow
            .first_zero_window
            .filter(|z| z.number < rst.at.number)?;
        if rst.answers_peer || me.fin.is_some_and(|f| f.number < rst.at.number) {
            return None;
        }
        let destroyed = me.unacked_by(slow);
        let mut f = Finding::new(
            Cause::ZeroWindowAbort,
            Some(x),
            "the closing side should not close on EAGAIN: wait for the socket to become writable (poll), or queue what does not fit (a patient sender, a spool); the slow side should read until EAGAIN with a bigger buffer. See docs/remedies.md",
        )
        .step(Step::at(
            zw,
            format!(
                "{} advertised a zero window: its receive buffer was full (it read slower than {} sent)",
                who(c, y),
                who(c, x)
            ),
        ))
        .step(Step::note(format!(
            "{} zero window(s) from {} in all, {} with the window closed",
            slow.zero_windows,
            who(c, y),
            ms_u(slow.zero_window_ns / 1000)
        )));
        if slow.payload_bytes > 0 {
            f = f.step(Step::note(format!(
                "{} had sent {} B of its own ({}): data {} had to read before closing, or the close is an RST",
                who(c, y),
                slow.payload_bytes,
                if me.acked.is_some() && me.acked == slow.high {
                    format!("all acknowledged by {}", who(c, x))
                } else {
                    "not all acknowledged".into()
                },
                who(c, x)
            )));
        }
        f = f.step(Step::at(
            rst.at,
            format!(
                "{} sent an RST {} after the first zero window, with no FIN before it: an abortive close (on Linux, close() with unread data, or SO_LINGER 0){}",
                who(c, x),
                ms_u((rst.at.t_ns.saturating_sub(zw.t_ns)) / 1000),
                match destroyed {
                    Some(0) => "; everything it had sent was acknowledged: what it still had to send died in its send buffer, unseen on the wire".to_string(),
                    Some(b) => format!("; {b} B it had sent were never acknowledged, and are lost"),
                    None => String::new(),
                }
            ),
        ));
        f.bytes_destroyed = destroyed;
        f.or_else = (slow.payload_bytes == 0)
            .then_some("SO_LINGER 0 (the slow side sent no data, so none was left unread)");
        Some(f)
    }
}
