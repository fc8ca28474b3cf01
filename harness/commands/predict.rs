//! `zerowin predict FILE`: the model's forecast for every cell, from calibration runs
//! alone, without running the cells.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::PredictArgs;
use crate::report::output::clean;
use crate::report::sweep::forecast_table;
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
