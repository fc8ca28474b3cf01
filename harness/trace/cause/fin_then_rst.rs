//! The other route: a side closed cleanly (FIN), its peer went on sending, and the
//! closed socket answered that data with an RST (Linux: TCP_ABORT_ON_DATA, or no
//! socket at all once it is gone). The peer's next send or recv fails with EPIPE
//! or ECONNRESET, depending on its state when the RST lands.

use super::{Cause, Finding, Rule, Step, first_rst, who};
use crate::trace::conn::Conn;

pub struct FinThenRst;

impl Rule for FinThenRst {
    fn judge(&self, c: &Conn) -> Option<Finding> {
        let (x, rst) = first_rst(c)?;
        let y = 1 - x;
        let fin = c.halves[x].fin.filter(|f| f.number < rst.at.number)?;
        let data = c.halves[y]
            .last_data
            .filter(|d| d.number > fin.number && d.number < rst.at.number)?;
        let zero = c.halves[y].first_zero_window.is_some();
        let mut f = Finding::new(
            Cause::FinThenRstOnData,
            Some(x),
            "the peer kept sending after the other side had closed: stop sending on EOF (recv() returning 0), and treat EPIPE/ECONNRESET after a FIN as the end; see docs/records.md",
        )
        .step(Step::at(fin, format!("{} closed cleanly (FIN)", who(c, x))))
        .step(Step::at(
            data,
            format!("{} still sent data after it", who(c, y)),
        ))
        .step(Step::at(
            rst.at,
            format!(
                "{} answered with an RST: its socket was closed, so the data could never be read",
                who(c, x)
            ),
        ));
        if zero {
            f = f.step(Step::note(format!(
                "{} had advertised a zero window earlier: the same slow reader, on the FIN route",
                who(c, y)
            )));
        }
        Some(f)
    }
}
