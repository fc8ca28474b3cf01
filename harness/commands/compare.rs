//! `zerowin compare FILE`: one scenario with every pair of sender and strategy that
//! speak one protocol (or the ones named), side by side; `[expect]` is not judged.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::CompareArgs;
use crate::report::text;
use crate::session::{self, Detail, Session};

pub fn compare(a: CompareArgs) -> Result<ExitCode> {
    let loaded = session::load(
        std::slice::from_ref(&a.file),
        &super::exe()?,
        &a.overrides.assigns(),
    )?;
    // compare is a sweep over the senders and the strategies: every cell of the file
    // (one, unless it sweeps) with every pair. Every variant is built and checked
    // before any of them runs.
    let senders = a
        .senders
        .as_ref()
        .map(|v| v.iter().map(sender_choice).collect::<Result<Vec<_>>>())
        .transpose()?;
    let mut variants = Vec::new();
    let mut notes = Vec::new();
    for cell in &loaded.scenarios {
        let base = a.overrides.apply(std::slice::from_ref(cell))?.remove(0);
        let (v, n) = session::compare_variants(&base, a.strategies.as_deref(), senders.as_deref())?;
        variants.extend(v);
        notes.extend(
            n.into_iter()
                .filter(|n| !notes.contains(n))
                .collect::<Vec<_>>(),
        );
    }
    let total = variants.len();
    for (index, v) in variants.iter_mut().enumerate() {
        v.cell_of = Some(crate::scenario::CellOf { index, total });
    }
    session::unique_stems(&mut variants);
    let s = Session::open(a.overrides.session(false, false)?, &loaded.inputs())?;
    for v in &variants {
        v.check_isolation(s.opts.isolation)?;
    }
    let base = &variants[0];
    let names: Vec<String> = variants
        .iter()
        .map(|v| format!("{}+{}", v.sender_label(), v.strategy.name()))
        .collect();
    let mut header = text::compare_header(base, &names);
    for n in &notes {
        header.push_str(&format!("  ({n})\n"));
    }
    s.out.print(&header)?;
    let results = s.run(&variants, Detail::Nothing)?;
    let mut report = text::compare_table(&results, s.layout);
    report.push_str(&session::sweep_table(&results, s.layout));
    for r in &results {
        if let Some(first) = r.records.first() {
            report.push_str(&format!(
                "{} with {}{}, trial 1:\n",
                r.scenario.strategy.name(),
                r.scenario.sender.name(),
                r.scenario.cell_label()
            ));
            report.push_str(&text::explain(first));
        }
    }
    s.out.print(&report)?;
    s.finish(&results)?;
    Ok(ExitCode::SUCCESS)
}

/// A `--senders` item as the library takes it: a scenario file is read (and checked)
/// here, for its sender and helpers.
fn sender_choice(a: &crate::cli::SenderArg) -> Result<session::SenderChoice> {
    Ok(match a {
        crate::cli::SenderArg::Kind(s) => session::SenderChoice::Kind(*s),
        crate::cli::SenderArg::File(p) => session::SenderChoice::Of(Box::new(
            crate::scenario::Scenario::load(p, &super::exe()?)?,
        )),
    })
}
