//! Still open at the end of the capture (or half-closed: one FIN).

use super::{Cause, Finding, Rule, Step, who};
use crate::trace::conn::Conn;

pub struct Open;

impl Open {
    pub fn finding(&self, c: &Conn) -> Finding {
        let mut f = Finding::new(
            Cause::Open,
            None,
            "nothing: the capture ended before the connection did",
        );
        for i in 0..2 {
            if let Some(fin) = c.halves[i].fin {
                f = f.step(Step::at(
                    fin,
                    format!("{} closed its side (FIN); the other had not", who(c, i)),
                ));
            }
        }
        f
    }
}

impl Rule for Open {
    fn judge(&self, c: &Conn) -> Option<Finding> {
        Some(self.finding(c))
    }
}
