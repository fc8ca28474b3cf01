//! One cell's trials in numbers: the outcome counts, the failure rate with its
//! interval, the time to failure (Kaplan–Meier when some trials survived), what was
//! lost, how the RSTs came about, and the trials far from the others. Every table,
//! export and report page reads these; none computes its own.

use std::collections::BTreeMap;

use serde::Serialize;

use super::estimate::{self, Obs};
use super::model::{self, Check, Forecast};
use crate::analysis::stats;
use crate::record::{Outcome, TrialRecord};

/// How the median time to failure was estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Every trial failed: the sample median, with an order-statistics interval.
    OrderStatistics,
    /// Some trials survived (censored at their end): the Kaplan–Meier median.
    KaplanMeier,
}

impl Method {
    /// As the JSON writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::OrderStatistics => "order-statistics",
            Method::KaplanMeier => "kaplan-meier",
        }
    }
}

/// The time to failure of a cell's failed trials, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeToFailure {
    pub method: Method,
    /// Trials that survived, censored at their end.
    pub censored: usize,
    /// Over the failed trials only.
    pub min_ms: f64,
    /// None when fewer than half the trials failed (Kaplan–Meier has no median).
    pub median_ms: Option<f64>,
    /// The 95% interval of the median; `[lo, null]` when it reaches past the end of
    /// the trials.
    pub median_ci95_ms: [Option<f64>; 2],
    /// The interval's real coverage when every trial failed (order statistics with
    /// few trials cover less than 95%); None for Kaplan–Meier.
    pub median_ci_coverage: Option<f64>,
    /// 90th percentile of the failed trials (nearest rank).
    pub p90_ms: f64,
    pub max_ms: f64,
}

/// A cell (or a scenario run as written) summarised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellSummary {
    /// The scenario's name (its file stem).
    pub scenario: String,
    /// The cell's values, swept and set, by key path; empty for a plain scenario.
    pub params: BTreeMap<String, String>,
    pub sender: String,
    pub strategy: String,
    pub trials: usize,
    /// Trials per outcome class.
    pub outcomes: BTreeMap<String, usize>,
    /// Trials that did not survive.
    pub failures: usize,
    pub failure_rate: f64,
    /// Wilson score interval, 95%.
    pub failure_rate_ci95: [f64; 2],
    /// None when no trial failed.
    pub time_to_failure: Option<TimeToFailure>,
    /// Median bytes accepted by send() that never reached the client (bare senders).
    pub bytes_lost_median: Option<f64>,
    /// Messages lost over all trials (framed senders).
    pub messages_lost: Option<u64>,
    /// Median over trials of the 99th-percentile message latency (framed senders).
    pub latency_p99_ms_median: Option<f64>,
    /// How each trial's RST came about (`stats::Route`), when the counters tell.
    pub close_routes: BTreeMap<String, usize>,
    /// Trial numbers whose time to failure is beyond Tukey's outer fences.
    pub outliers: Vec<u32>,
    /// The model's prediction and how it compares, when the scenario asked for one.
    pub model: Option<CellModel>,
}

/// The model beside a cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellModel {
    pub forecast: Forecast,
    /// None when the model does not cover the cell.
    pub check: Option<Check>,
}

impl CellSummary {
    pub fn of(scenario: &str, records: &[TrialRecord]) -> CellSummary {
        let first = records.first();
        let mut outcomes = BTreeMap::new();
        for r in records {
            *outcomes.entry(r.outcome.to_string()).or_default() += 1;
        }
        let failed: Vec<&TrialRecord> = records
            .iter()
            .filter(|r| r.outcome != Outcome::Survived)
            .collect();
        let (lo, hi) = estimate::wilson(failed.len(), records.len());
        let ttf_of = |r: &TrialRecord| r.time_to_failure_us.unwrap_or(r.active_us) as f64 / 1e3;
        let times: Vec<f64> = failed.iter().map(|r| ttf_of(r)).collect();
        let outliers = estimate::outliers(&times)
            .into_iter()
            .map(|i| failed[i].trial)
            .collect();
        let mut close_routes = BTreeMap::new();
        for r in records {
            if let Some(route) = stats::route(r) {
                *close_routes
                    .entry(route.describe().to_string())
                    .or_default() += 1;
            }
            if stats::client_reset(r) {
                *close_routes
                    .entry(stats::CLIENT_RESET.to_string())
                    .or_default() += 1;
            }
        }
        let framed = records.iter().any(|r| r.messages.is_some());
        CellSummary {
            scenario: scenario.to_string(),
            params: first.map(|r| r.params.clone()).unwrap_or_default(),
            sender: first.map(|r| r.sender.clone()).unwrap_or_default(),
            strategy: first.map(|r| r.strategy.clone()).unwrap_or_default(),
            trials: records.len(),
            outcomes,
            failures: failed.len(),
            failure_rate: match records.len() {
                0 => 0.0,
                n => failed.len() as f64 / n as f64,
            },
            failure_rate_ci95: [lo, hi],
            time_to_failure: time_to_failure(records, &times, ttf_of),
            bytes_lost_median: stats::median_of(records, |r| r.bytes_lost.map(|b| b as f64)),
            messages_lost: framed.then(|| {
                records
                    .iter()
                    .filter_map(|r| r.messages.as_ref().map(|m| m.lost))
                    .sum()
            }),
            latency_p99_ms_median: stats::median_of(records, |r| {
                r.messages
                    .as_ref()
                    .and_then(|m| m.latency)
                    .map(|l| l.p99_us as f64 / 1e3)
            }),
            close_routes,
            outliers,
            model: None,
        }
    }

    /// The model's prediction for the cell, when it made one.
    pub fn predicted(&self) -> Option<&model::Prediction> {
        self.model.as_ref()?.forecast.predicted()
    }

    /// The same, with the model's prediction set beside it.
    pub fn with_forecast(mut self, forecast: Option<&Forecast>) -> CellSummary {
        self.model = forecast.map(|f| CellModel {
            check: f.predicted().map(|p| model::check(p, &self)),
            forecast: f.clone(),
        });
        self
    }
}

fn time_to_failure(
    records: &[TrialRecord],
    times: &[f64],
    ttf_of: impl Fn(&TrialRecord) -> f64,
) -> Option<TimeToFailure> {
    if times.is_empty() {
        return None;
    }
    let mut sorted = times.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let censored = records.len() - times.len();
    let (median, ci, coverage, method) = if censored == 0 {
        let (lo, hi, cov) = estimate::median_interval(&sorted)
            .map_or((None, None, None), |(l, h, c)| (Some(l), Some(h), Some(c)));
        (
            stats::median(sorted.clone()),
            [lo, hi],
            cov,
            Method::OrderStatistics,
        )
    } else {
        let obs: Vec<Obs> = records
            .iter()
            .map(|r| Obs {
                t: ttf_of(r),
                failed: r.outcome != Outcome::Survived,
            })
            .collect();
        let km = estimate::km_median(&obs);
        (km.median, [km.lo, km.hi], None, Method::KaplanMeier)
    };
    Some(TimeToFailure {
        method,
        censored,
        min_ms: sorted[0],
        median_ms: median,
        median_ci95_ms: ci,
        median_ci_coverage: coverage,
        p90_ms: stats::percentile(&sorted, 90.0).unwrap_or(sorted[0]),
        max_ms: sorted[sorted.len() - 1],
    })
}

/// Pairs of neighbouring cells (by index) that the data cannot rank: both their
/// failure-rate intervals and their median intervals overlap, though their
/// estimates differ.
pub fn unrankable(cells: &[CellSummary]) -> Vec<(usize, usize)> {
    let median_iv = |c: &CellSummary| {
        c.time_to_failure.as_ref().map(|t| {
            (
                t.median_ci95_ms[0].unwrap_or(t.min_ms),
                t.median_ci95_ms[1].unwrap_or(f64::INFINITY),
            )
        })
    };
    let rate = |c: &CellSummary| (c.failure_rate_ci95[0], c.failure_rate_ci95[1]);
    let mut out = Vec::new();
    for i in 1..cells.len() {
        let (a, b) = (&cells[i - 1], &cells[i]);
        let rates_tie = estimate::overlap(rate(a), rate(b));
        let medians_tie = match (median_iv(a), median_iv(b)) {
            (Some(x), Some(y)) => estimate::overlap(x, y),
            (None, None) => true,
            _ => false,
        };
        let differ = a.failure_rate != b.failure_rate
            || a.time_to_failure.as_ref().and_then(|t| t.median_ms)
                != b.time_to_failure.as_ref().and_then(|t| t.median_ms);
        if rates_tie && medians_tie && differ {
            out.push((i - 1, i));
        }
    }
    out
}

/// The sweep claim `expect.increasing = KEY`: along KEY, with every other swept key
/// fixed, the median time to failure rises from cell to cell (a cell with no
/// median, where most trials survived, counts as above every time). Returns one
/// line per place it does not.
pub fn check_increasing(cells: &[CellSummary], key: &str, swept: &[String]) -> Vec<String> {
    let others: Vec<&String> = swept.iter().filter(|k| *k != key).collect();
    let mut lines: BTreeMap<Vec<String>, Vec<&CellSummary>> = BTreeMap::new();
    for c in cells {
        let at: Vec<String> = others
            .iter()
            .map(|k| c.params.get(*k).cloned().unwrap_or_default())
            .collect();
        lines.entry(at).or_default().push(c);
    }
    let median = |c: &CellSummary| {
        c.time_to_failure
            .as_ref()
            .and_then(|t| t.median_ms)
            .unwrap_or(f64::INFINITY)
    };
    let mut out = Vec::new();
    for (at, line) in lines {
        for w in line.windows(2) {
            if median(w[1]) <= median(w[0]) && median(w[0]).is_finite() {
                let fixed = others
                    .iter()
                    .zip(&at)
                    .map(|(k, v)| format!(" at {k}={v}"))
                    .collect::<String>();
                out.push(format!(
                    "sweep: the median time to failure does not increase with {key}{fixed}: {} → {:.2} ms, {} → {}",
                    w[0].params.get(key).map_or("?", String::as_str),
                    median(w[0]),
                    w[1].params.get(key).map_or("?", String::as_str),
                    match median(w[1]).is_finite() {
                        true => format!("{:.2} ms", median(w[1])),
                        false => "no median".into(),
                    }
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Ending;
    use crate::record::testing::{failed, record};

    fn reset_at(us: u64, trial: u32) -> TrialRecord {
        let mut r = record(failed("send", libc::ECONNRESET, us), Some(1300), 1000);
        r.trial = trial;
        r
    }

    #[test]
    fn all_failed_gives_order_statistics() {
        let rs: Vec<TrialRecord> = (1..=10).map(|i| reset_at(i * 1000, i as u32)).collect();
        let c = CellSummary::of("s", &rs);
        assert_eq!(c.failures, 10);
        assert_eq!(c.failure_rate, 1.0);
        let t = c.time_to_failure.unwrap();
        assert_eq!(t.method, Method::OrderStatistics);
        assert_eq!(t.median_ms, Some(5.5));
        assert_eq!(t.median_ci95_ms, [Some(2.0), Some(9.0)]);
        assert_eq!((t.min_ms, t.p90_ms, t.max_ms), (1.0, 9.0, 10.0));
        assert_eq!(c.bytes_lost_median, Some(300.0));
        assert!(c.outliers.is_empty());
    }

    #[test]
    fn survivors_make_it_kaplan_meier() {
        let mut rs: Vec<TrialRecord> = (1..=3).map(|i| reset_at(i * 1000, i as u32)).collect();
        for i in 4..=5 {
            let mut r = record(Ending::Survived { at_us: 2_000_000 }, Some(1300), 1300);
            r.trial = i;
            rs.push(r);
        }
        let c = CellSummary::of("s", &rs);
        let t = c.time_to_failure.unwrap();
        assert_eq!(t.method, Method::KaplanMeier);
        assert_eq!(t.censored, 2);
        assert_eq!(t.median_ms, Some(3.0));
        assert_eq!(c.outcomes["survived"], 2);
        assert!((c.failure_rate - 0.6).abs() < 1e-9);
    }

    #[test]
    fn neighbours_whose_intervals_overlap_cannot_be_ranked() {
        let a: Vec<TrialRecord> = (1..=3).map(|i| reset_at(i * 1000, i as u32)).collect();
        let b: Vec<TrialRecord> = (1..=3).map(|i| reset_at(i * 1100, i as u32)).collect();
        let far: Vec<TrialRecord> = (1..=20)
            .map(|i| reset_at(1_000_000 + i * 10, i as u32))
            .collect();
        let near: Vec<TrialRecord> = (1..=20)
            .map(|i| reset_at(1000 + i * 10, i as u32))
            .collect();
        let cells = [
            CellSummary::of("s", &a),
            CellSummary::of("s", &b),
            CellSummary::of("s", &far),
            CellSummary::of("s", &near),
        ];
        assert_eq!(unrankable(&cells), [(0, 1)]);
    }
}
