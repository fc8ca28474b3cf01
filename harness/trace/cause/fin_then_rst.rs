//! The other route: a side closed cleanly, its peer went on sending, and the closed
//! socket answered that data with an RST (Linux: TCP_ABORT_ON_DATA). The peer's next
//! send or recv fails with EPIPE or ECONNRESET, depending on its state when the RST
//! lands.
//!
//! The FIN may never reach the wire. `close()` with nothing unread queues the FIN
//! behind the data still in the send queue, and that data waits while the peer's
//! window is full (the side's last data reached the peer's right window edge), zero,
//! or too small to be worth a segment (Linux's sender-side silly-window avoidance
//! waits for at least half the largest window the peer advertised). The peer's data
//! then reaches a closed socket, which answers it with an RST that carries no ACK and
//! the peer's acknowledgement as its sequence number, before anything the segment's
//! new window would let out: the kernel checks the data first.
//! repro-4k's sender often meets EAGAIN before the client's first reply arrives:
//! in one run of the shipped scenarios, 9 of its 20 trials took this route. A socket that no longer exists at all (a restarted
//! host) answers the same way, so that is named as the other possibility.

use super::{Cause, Finding, Rule, Step, first_rst, who};
use crate::trace::conn::{Conn, Mark, Reset};

pub struct FinThenRst;

const ADVICE: &str = "the peer kept sending after the other side had closed: stop sending on EOF (recv() returning 0), and treat EPIPE/ECONNRESET after a FIN as the end; the closing side should not close on EAGAIN with data still queued (wait for POLLOUT, or a patient sender); see docs/records.md";

impl Rule for FinThenRst {
    fn judge(&self, c: &Conn) -> Option<Finding> {
        let (x, rst) = first_rst(c)?;
        let f = match c.halves[x].fin.filter(|f| f.number < rst.at.number) {
            Some(fin) => seen(c, x, rst, fin)?,
            None => unseen(c, x, rst)?,
        };
        Some(match c.halves[1 - x].first_zero_window {
            Some(_) => f.step(Step::note(format!(
                "{} had advertised a zero window earlier: the same slow reader, on the FIN route",
                who(c, 1 - x)
            ))),
            None => f,
        })
    }
}

/// The FIN on the wire, then the peer's data, then the RST.
fn seen(c: &Conn, x: usize, rst: Reset, fin: Mark) -> Option<Finding> {
    let y = 1 - x;
    let data = c.halves[y]
        .last_data
        .filter(|d| d.number > fin.number && d.number < rst.at.number)?;
    Some(
        Finding::new(Cause::FinThenRstOnData, Some(x), ADVICE)
            .step(Step::at(fin, format!("{} closed cleanly (FIN)", who(c, x))))
            .step(Step::at(data, format!("{} still sent data after it", who(c, y))))
            .step(Step::at(
                rst.at,
                format!(
                    "{} answered with an RST: its socket was closed, so the data could never be read",
                    who(c, x)
                ),
            )),
    )
}

/// No FIN on the wire: the RST answered the peer's data, and the resetting side,
/// which had been sending, was held back by the peer's window.
fn unseen(c: &Conn, x: usize, rst: Reset) -> Option<Finding> {
    let y = 1 - x;
    let (me, peer) = (&c.halves[x], &c.halves[y]);
    let data = peer.last_data.filter(|d| d.number < rst.at.number)?;
    let (window, largest) = (peer.last_window?, peer.max_window?);
    let small = window == 0 || u32::from(window) * 2 < u32::from(largest);
    if !rst.answers_peer || me.payload_bytes == 0 || !(small || me.filled_window) {
        return None;
    }
    let held = if me.filled_window {
        format!("its last data filled {}'s window", who(c, y))
    } else {
        format!(
            "{}'s last advertised window was {window} (its largest {largest}, window fields as sent)",
            who(c, y)
        )
    };
    let mut f = Finding::new(Cause::FinThenRstOnData, Some(x), ADVICE)
        .step(Step::note(format!(
            "{} was held back by the window: {held}, so what it still had queued had to wait",
            who(c, x)
        )))
        .step(Step::at(data, format!("{} sent data", who(c, y))))
        .step(Step::at(
            rst.at,
            format!(
                "{} answered it with an RST (no ACK flag; its sequence number was {}'s acknowledgement): its socket was already closed, its FIN still queued behind the data the window held back, so the FIN never reached the wire (Linux: TCPAbortOnData)",
                who(c, x),
                who(c, y)
            ),
        ));
    f.bytes_destroyed = me.unacked_by(peer);
    f.or_else =
        Some("no socket at all for the connection (a restarted host) answers data the same way");
    Some(f)
}
