//! `zerowin predict FILE`: the model's forecast for every cell, from calibration runs
//! alone, without running the cells: the reset model for every cell (it covers the
//! original sender), and the backlog model for the framed senders' cells.

use std::process::ExitCode;

use anyhow::Result;

use crate::calibrate::SCENARIO_CAPACITY;
use crate::cli::PredictArgs;
use crate::report::backlog;
use crate::report::output::clean;
use crate::report::sweep::forecast_table;
use crate::scenario::Scenario;
use crate::session::{self, Session};

/// Prints the forecast of every cell of `a.file`.
pub fn predict(a: &PredictArgs) -> Result<ExitCode> {
    let exe = &super::exe()?;
    let loaded = session::load(std::slice::from_ref(&a.file), exe, &a.edits.assigns())?;
    let cells = crate::cli::with_overrides(&loaded.scenarios, None, a.duration)?;
    let observe = crate::observe::ObserveOptions {
        isolation: a.isolation,
        ..Default::default()
    };
    let o = session::Options {
        outputs: &[],
        observe,
        pcap: None,
        plot: None,
        quiet: false,
        checked: false,
    };
    let s = Session::open(o, &loaded.inputs())?;
    for c in &cells {
        c.check_isolation(s.opts.isolation)?;
    }
    // A framed sender's cells get the backlog model too; every cell is in the reset
    // model's table, which says why it does not cover one.
    for c in cells.iter().filter(|c| c.sender.framed()) {
        s.out.print(&backlog_forecast(&s, c)?)?;
    }
    let mut rows = Vec::new();
    for c in &cells {
        let f = s.forecast(c)?;
        rows.push((c.params.iter().cloned().collect(), f));
    }
    let first = &cells[0];
    s.out.print(&format!(
        "Model of {} ({} cell(s)): T = T0 + C / (S - D) from calibration runs (docs/comparing.md, \"The model\")\n{}",
        clean(&first.name),
        cells.len(),
        forecast_table(&rows, &first.swept, s.layout)
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// The backlog model of one framed cell: C of its client (or of `run.capacity_of`'s),
/// measured, then each spike's drain time and the growth above C
/// (docs/speed-limit.md, "The backlog model").
fn backlog_forecast(s: &Session, c: &Scenario) -> Result<String> {
    let say = |m: &str| crate::report::output::note(&format!("{m}..."));
    let (sc, cap) = match s.at_capacity(c, &say)? {
        Some((resolved, cap)) => (resolved, cap),
        None => {
            let reference = c.capacity_of.as_deref().unwrap_or(c);
            (c.clone(), s.capacity(reference, SCENARIO_CAPACITY)?)
        }
    };
    let head = format!(
        "Backlog model of {}{}: C = {} ({} run(s)); drained in B / (C - R), grows by R - C above C\n",
        clean(&sc.name),
        sc.cell_label(),
        cap.text(),
        cap.trials
    );
    Ok(match backlog::forecast(&sc, &cap) {
        Ok(f) => head + &backlog::forecast_lines(&f),
        Err(why) => head + &format!("  not modelled: {why}\n"),
    })
}
