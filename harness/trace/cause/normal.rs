//! A normal close: a FIN each way, no RST.

use super::{Cause, Finding, Rule, Step, who};
use crate::trace::conn::Conn;

pub struct Normal;

impl Rule for Normal {
    fn judge(&self, c: &Conn) -> Option<Finding> {
        let [a, b] = &c.halves;
        let (fa, fb) = (a.fin?, b.fin?);
        if a.rst.is_some() || b.rst.is_some() {
            return None;
        }
        let first = usize::from(fb.number < fa.number);
        let (f1, f2) = if first == 0 { (fa, fb) } else { (fb, fa) };
        Some(
            Finding::new(
                Cause::NormalClose,
                Some(first),
                "nothing: both sides closed cleanly",
            )
            .step(Step::at(
                f1,
                format!("{} closed first (FIN)", who(c, first)),
            ))
            .step(Step::at(f2, format!("{} closed too", who(c, 1 - first)))),
        )
    }
}
