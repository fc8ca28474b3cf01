//! `zerowin list`: the strategies, the senders with their keys, and the shipped
//! scenarios.

use std::process::ExitCode;

use anyhow::Result;

use crate::report::output::{Out, Stream, clean};
use crate::scenario::shipped;
use crate::{sender, strategy};

pub fn list() -> Result<ExitCode> {
    let mut s = String::from("Strategies:\n");
    for st in strategy::all() {
        s.push_str(&format!("  {:<10} {}\n", st.name(), st.summary()));
        for (k, help) in st.keys() {
            s.push_str(&format!("      {k:<17} {help}\n"));
        }
    }
    s.push_str("Senders:\n");
    for se in sender::all() {
        s.push_str(&format!("  {:<10} {}\n", se.name(), se.summary()));
        for (k, help) in se.keys() {
            s.push_str(&format!("      {k:<17} {help}\n"));
        }
    }
    s.push_str("Shipped scenarios (run them by path, or by name from any directory):\n");
    for (file, body) in shipped::SHIPPED {
        let desc = body
            .lines()
            .find_map(|l| l.trim().strip_prefix("description"))
            .and_then(|l| l.split_once('=').map(|x| x.1.trim().trim_matches('"')))
            .unwrap_or("");
        s.push_str(&format!("  scenarios/{file:<28} {}\n", clean(desc)));
    }
    Out::new(Stream::Stdout, true).print(&s)?;
    Ok(ExitCode::SUCCESS)
}
