//! `zerowin boundary FILE --param KEY --range LO..HI`: a bisection over one key, one
//! probe (a cell of a few trials) at a time. It loads and checks its input first, as
//! `run` does.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::analysis::boundary::{Found, Probe, Search};
use crate::cli::BoundaryArgs;
use crate::record::Outcome;
use crate::report::output::clean;
use crate::runner::ScenarioResult;
use crate::scenario::Scenario;
use crate::scenario::sweep::{self, Assign, Point};
use crate::session::{self, Detail, Session};

/// `zerowin boundary FILE --param KEY --range LO..HI`: returns whether it found a
/// crossing.
pub fn boundary(a: &BoundaryArgs) -> Result<ExitCode> {
    let exe = &super::exe()?;
    let (lo, hi) = a.range;
    let key = a.param.to_string();
    let flags = a.overrides.assigns();
    // Both ends are loaded and checked before the first trial.
    let ends = [
        probe_cell(a, exe, &flags, lo, lo.value())?,
        probe_cell(a, exe, &flags, lo, hi.value())?,
    ];
    let per_probe = ends[0].0.trials.max(ends[1].0.trials);
    if 2 * per_probe > a.budget {
        bail!(
            "--budget {}: fewer trials than the two ends need ({per_probe} trials a probe)",
            a.budget
        );
    }
    let inputs: Vec<PathBuf> = vec![a.file.clone()];
    let s = Session::open(a.overrides.session(false, true)?, &inputs)?;
    for (c, _) in &ends {
        c.check_isolation(s.opts.isolation)?;
    }
    s.out.print(&format!(
        "Boundary of {key} in {}..{} for {}: where the failure rate crosses 50% ({per_probe} trials a probe, a budget of {} trials, {} scale)\n",
        label(lo, lo.value()),
        label(lo, hi.value()),
        clean(&a.file.display().to_string()),
        a.budget,
        a.scale.as_str()
    ))?;
    let step = match lo {
        Point::Dur(_) => 1000.0,
        Point::Int(_) => 1.0,
    };
    let mut search = Search::new(lo.value(), hi.value(), a.scale, step);
    let mut results: Vec<ScenarioResult> = Vec::new();
    let mut spent = 0;
    while let Some(v) = search.next() {
        let (sc, _loaded) = probe_cell(a, exe, &flags, lo, v)?;
        if spent + sc.trials > a.budget {
            break;
        }
        spent += sc.trials;
        s.run_into(std::slice::from_ref(&sc), Detail::Nothing, &mut results)?;
        let res = results.last().expect("one scenario, one result");
        let failures = res
            .records
            .iter()
            .filter(|r| r.outcome != Outcome::Survived)
            .count();
        let p = Probe::new(v, label(lo, v), failures, res.records.len());
        s.out.print(&probe_line(&key, &p))?;
        search.record(p);
    }
    s.finish(&results)?;
    let found = search.found().expect("both ends probed");
    s.out.print(&found_text(&key, lo, &found, spent))?;
    Ok(match found {
        Found::Crossing { .. } => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

/// The one cell of the file with `KEY = v`, and what keeps its files.
fn probe_cell(
    a: &BoundaryArgs,
    exe: &Path,
    flags: &[Assign],
    kind: Point,
    v: f64,
) -> Result<(Scenario, session::Loaded)> {
    let mut all = flags.to_vec();
    all.push(Assign {
        key: a.param.clone(),
        values: vec![kind.like(v)],
        sweep: false,
        flag: format!("--param {} (at {})", a.param, label(kind, v)),
    });
    let loaded = session::load(std::slice::from_ref(&a.file), exe, &all)?;
    if loaded.scenarios.len() != 1 {
        bail!(
            "{}: it has {} cells, and a boundary search probes one; fix its swept keys with --set ({})",
            a.file.display(),
            loaded.scenarios.len(),
            loaded.scenarios[0].swept.join(", ")
        );
    }
    let sc = a.overrides.apply(&loaded.scenarios)?.remove(0);
    Ok((sc, loaded))
}

/// A probed value as the scenario writes it.
fn label(kind: Point, v: f64) -> String {
    sweep::show(&kind.like(v))
}

fn pct(p: &Probe) -> String {
    format!(
        "{:.0}% [{:.0}, {:.0}]",
        p.failures as f64 * 100.0 / p.trials.max(1) as f64,
        p.failure_rate_ci95[0] * 100.0,
        p.failure_rate_ci95[1] * 100.0
    )
}

fn probe_line(key: &str, p: &Probe) -> String {
    format!(
        "  {key} = {:<10} {}/{} failed, {:<16} {}{}\n",
        p.label,
        p.failures,
        p.trials,
        pct(p),
        if p.fails() { "fails" } else { "survives" },
        if p.sure() {
            ""
        } else {
            " (not sure: the interval holds 50%)"
        }
    )
}

fn found_text(key: &str, kind: Point, f: &Found, spent: u32) -> String {
    match f {
        Found::NoCrossing { all_fail } => format!(
            "No crossing: every probe {} ({spent} trials). Widen --range.\n",
            if *all_fail { "fails" } else { "survives" }
        ),
        Found::Crossing {
            fails_above,
            below,
            above,
            estimate,
            interval,
        } => {
            let end = |v: &Option<f64>, open: &str| v.map_or(open.to_string(), |v| label(kind, v));
            format!(
                "Boundary: {key} ≈ {} ({spent} trials). {} at {} ({}/{} failed), {} at {} ({}/{} failed).\n  95% interval [{}, {}]: from the nearest probes whose failure rate's Wilson interval excludes 50%.\n",
                label(kind, *estimate),
                if *fails_above { "Survives" } else { "Fails" },
                below.label,
                below.failures,
                below.trials,
                if *fails_above { "fails" } else { "survives" },
                above.label,
                above.failures,
                above.trials,
                end(&interval[0], "open"),
                end(&interval[1], "open"),
            ) + match interval.contains(&None) {
                true => {
                    "  An open end: no probe on that side was sure. With 4 or more trials a probe (--trials), a probe whose trials agree is.\n"
                }
                false => "",
            }
        }
    }
}
