//! `--export-csv FILE`: one row per trial; `--export-cells-csv FILE`: one row per
//! cell (or scenario) with its statistics. Both have a column per parameter key that
//! any scenario of the run has (empty where a scenario lacks it), so a sweep's CSV
//! loads into a spreadsheet or pandas as it is. Times are milliseconds.

use std::collections::BTreeSet;

use anyhow::Result;

use super::export::{Export, Exporter, ScenarioExport};
use crate::analysis::summary::CellSummary;
use crate::record::TrialRecord;

/// Every parameter key of the document, sorted.
fn param_keys(doc: &Export) -> Vec<String> {
    let keys: BTreeSet<&String> = doc.scenarios.iter().flat_map(|s| s.params.keys()).collect();
    keys.into_iter().cloned().collect()
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or(String::new(), |x| x.to_string())
}

fn ms(us: Option<u64>) -> String {
    opt(us.map(|u| u as f64 / 1e3))
}

/// A computed number, to the microsecond (or the thousandth).
fn f3(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| {
        let s = format!("{x:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    })
}

/// The CSV of `doc`: the scenario and a column per parameter key, then `columns`,
/// whose values `rows` gives for each scenario (one row or many).
fn write(
    doc: &Export,
    columns: &[&str],
    rows: impl Fn(&ScenarioExport) -> Vec<Vec<String>>,
) -> Result<Vec<u8>> {
    let keys = param_keys(doc);
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["scenario".to_string()];
    header.extend(keys.iter().cloned());
    header.extend(columns.iter().map(|c| c.to_string()));
    w.write_record(&header)?;
    for s in &doc.scenarios {
        for own in rows(s) {
            let mut row = vec![s.name.to_string()];
            row.extend(
                keys.iter()
                    .map(|k| s.params.get(k).cloned().unwrap_or_default()),
            );
            row.extend(own);
            w.write_record(&row)?;
        }
    }
    Ok(w.into_inner()?)
}

/// The per-trial CSV.
#[derive(Clone, Copy)]
pub struct CsvTrials;

const TRIAL_COLUMNS: [&str; 17] = [
    "trial",
    "sender",
    "strategy",
    "outcome",
    "time_to_failure_ms",
    "first_error",
    "bytes_sent",
    "bytes_read",
    "bytes_lost",
    "messages_lost",
    "sender_close_ms",
    "client_zero_windows",
    "rst_direction",
    "rst_reasons",
    "read_mb_s",
    "active_ms",
    "trial_ms",
];

/// Which way the RSTs went: by the kernel's events where they saw the trial, else
/// by the wire.
fn rst_direction(r: &TrialRecord) -> String {
    let Some(o) = r.observation.as_ref() else {
        return String::new();
    };
    match (&o.kernel, &o.wire) {
        (Some(k), _) => k.direction().to_string(),
        (None, Some(w)) => w.rst_direction.to_string(),
        (None, None) => String::new(),
    }
}

fn trial_row(r: &TrialRecord) -> Vec<String> {
    let wire = r.observation.as_ref().and_then(|o| o.wire.as_ref());
    let kernel = r.observation.as_ref().and_then(|o| o.kernel.as_ref());
    let first_error = match &r.client.ending {
        crate::record::Ending::Failed { error } => format!("{}:{}", error.call, error.name),
        _ => String::new(),
    };
    vec![
        r.trial.to_string(),
        r.sender.clone(),
        r.strategy.clone(),
        r.outcome.to_string(),
        ms(r.time_to_failure_us),
        first_error,
        opt(r.bytes_sent),
        opt(r.bytes_read),
        opt(r.bytes_lost),
        opt(r.messages.as_ref().map(|m| m.lost)),
        opt(r.sender_close_at_us.map(|u| u as f64 / 1e3)),
        opt(wire.map(|w| w.from_client.zero_windows)),
        rst_direction(r),
        kernel.map_or(String::new(), super::kernel::cell),
        opt(r.read_mb_s.map(|v| (v * 1000.0).round() / 1000.0)),
        ms(Some(r.active_us)),
        ms(Some(r.trial_us)),
    ]
}

impl Exporter for CsvTrials {
    fn flag(&self) -> &'static str {
        "export-csv"
    }

    fn help(&self) -> &'static str {
        "Write one CSV row per trial to FILE, with a column per parameter (\"-\" = stdout)"
    }

    fn serialize(&self, doc: &Export) -> Result<Vec<u8>> {
        write(doc, &TRIAL_COLUMNS, |s| {
            s.trials.iter().map(trial_row).collect()
        })
    }
}

/// The per-cell CSV.
#[derive(Clone, Copy)]
pub struct CsvCells;

const CELL_COLUMNS: [&str; 23] = [
    "sender",
    "strategy",
    "trials",
    "failures",
    "failure_rate",
    "failure_rate_lo95",
    "failure_rate_hi95",
    "ttf_method",
    "ttf_censored",
    "ttf_min_ms",
    "ttf_median_ms",
    "ttf_median_lo_ms",
    "ttf_median_hi_ms",
    "ttf_median_ci_coverage",
    "ttf_p90_ms",
    "ttf_max_ms",
    "bytes_lost_median",
    "messages_lost",
    "outcomes",
    "passed",
    "model_survives",
    "model_ttf_ms",
    "model_error",
];

fn cell_row(c: &CellSummary, passed: Option<bool>) -> Vec<String> {
    let t = c.time_to_failure.as_ref();
    let outcomes: Vec<String> = c.outcomes.iter().map(|(k, n)| format!("{k}={n}")).collect();
    vec![
        c.sender.clone(),
        c.strategy.clone(),
        c.trials.to_string(),
        c.failures.to_string(),
        format!("{:.4}", c.failure_rate),
        format!("{:.4}", c.failure_rate_ci95[0]),
        format!("{:.4}", c.failure_rate_ci95[1]),
        opt(t.map(|t| t.method.as_str())),
        opt(t.map(|t| t.censored)),
        f3(t.map(|t| t.min_ms)),
        f3(t.and_then(|t| t.median_ms)),
        f3(t.and_then(|t| t.median_ci95_ms[0])),
        f3(t.and_then(|t| t.median_ci95_ms[1])),
        f3(t.and_then(|t| t.median_ci_coverage)),
        f3(t.map(|t| t.p90_ms)),
        f3(t.map(|t| t.max_ms)),
        f3(c.bytes_lost_median),
        opt(c.messages_lost),
        outcomes.join(" "),
        opt(passed),
        opt(c.predicted().map(|p| p.survives)),
        f3(c.predicted().and_then(|p| p.time_to_failure_ms)),
        f3(c.model.as_ref().and_then(|m| m.check.as_ref()?.error)),
    ]
}

impl Exporter for CsvCells {
    fn flag(&self) -> &'static str {
        "export-cells-csv"
    }

    fn help(&self) -> &'static str {
        "Write one CSV row per cell (or scenario) with its statistics to FILE"
    }

    fn serialize(&self, doc: &Export) -> Result<Vec<u8>> {
        write(doc, &CELL_COLUMNS, |s| vec![cell_row(&s.summary, s.passed)])
    }
}
