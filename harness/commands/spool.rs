//! `zerowin spool inspect DIR`: what a spool holds, read without changing it.

use std::process::ExitCode;

use anyhow::Result;

use crate::report::output::{Out, Stream, clean};

pub fn spool_inspect(dir: &std::path::Path) -> Result<ExitCode> {
    let (d, disk, how) = crate::store::inspect(dir)?;
    let seq = |n: u64| {
        if n == 0 {
            "-".to_string()
        } else {
            n.to_string()
        }
    };
    let text = format!(
        "spool {}
  depth        {} messages ({} B of messages)
  first        {}
  last         {}
  acknowledged {}
  reserved     {} (a restarted sender numbers after this)
  on disk      {} B
  read         {}
",
        clean(&dir.display().to_string()),
        d.messages,
        d.bytes,
        seq(d.first),
        seq(d.last),
        seq(d.acked),
        seq(d.reserved),
        disk,
        match how {
            crate::store::Inspected::InPlace => "in place, read-only (it was closed cleanly)",
            crate::store::Inspected::FromBroker => {
                "from the broker that holds it (JetStream), read-only; \"on disk\" is the stream's bytes as the broker counts them"
            }
            crate::store::Inspected::RepairedCopy => {
                "from a repaired copy: a sender was killed with it open, and repair writes; the spool itself was not changed"
            }
        }
    );
    Out::new(Stream::Stdout, true).print(&text)?;
    Ok(ExitCode::SUCCESS)
}
