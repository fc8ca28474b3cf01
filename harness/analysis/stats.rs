//! The arithmetic the tables share: medians, percentiles, outcome counts, and how each
//! trial's RST came about.

use std::collections::BTreeMap;

use crate::record::TrialRecord;

/// The median of the values (the mean of the middle two for an even count).
pub fn median(v: Vec<f64>) -> Option<f64> {
    let mut v = v;
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    })
}

/// The p-th percentile (0-100) by nearest rank: a value that was observed.
pub fn percentile(v: &[f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    Some(s[rank.min(s.len()) - 1])
}

/// Median over the records of a value some records may lack.
pub fn median_of(records: &[TrialRecord], f: impl Fn(&TrialRecord) -> Option<f64>) -> Option<f64> {
    median(records.iter().filter_map(f).collect())
}

/// "5 reset" or "3 reset, 2 eof", most frequent first.
pub fn outcome_counts(records: &[TrialRecord]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in records {
        *counts.entry(r.outcome.as_str()).or_default() += 1;
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(o, n)| format!("{n} {o}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How the sender's close became what the client saw, by the kernel's own counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    /// TCPAbortOnClose: close() found unread data (the client's replies) and sent RST.
    RstAtClose,
    /// TCPAbortOnData: close() left a FIN queued; data that reached the closed socket
    /// afterwards was answered with RST.
    FinThenRstOnData,
    /// TCPAbortOnLinger: SO_LINGER 0.
    Linger0,
    /// No abort counter moved: a clean close.
    NoAbort,
}

impl Route {
    pub fn describe(self) -> &'static str {
        match self {
            Route::RstAtClose => "RST at close",
            Route::FinThenRstOnData => "FIN then RST on data",
            Route::Linger0 => "RST by SO_LINGER 0",
            Route::NoAbort => "no abort",
        }
    }
}

/// The trial's route, when the counters are the trial's own (a namespace of its own)
/// and the sender closed; None otherwise.
pub fn route(r: &TrialRecord) -> Option<Route> {
    r.sender_close_at_us?;
    let c = r
        .observation
        .as_ref()?
        .counters
        .as_ref()
        .filter(|c| c.isolated)?;
    Some(if c.get("TCPAbortOnClose") > 0 {
        Route::RstAtClose
    } else if c.get("TCPAbortOnData") > 0 {
        Route::FinThenRstOnData
    } else if c.get("TCPAbortOnLinger") > 0 {
        Route::Linger0
    } else {
        Route::NoAbort
    })
}

/// "87 RST at close, 13 FIN then RST on data", or None when no trial's route is known.
pub fn route_mix(records: &[TrialRecord]) -> Option<String> {
    let mut counts: BTreeMap<Route, usize> = BTreeMap::new();
    let mut unknown = 0;
    for r in records {
        match route(r) {
            Some(x) => *counts.entry(x).or_default() += 1,
            None => unknown += 1,
        }
    }
    if counts.is_empty() {
        return None;
    }
    let mut parts: Vec<String> = counts
        .iter()
        .map(|(k, n)| format!("{n} {}", k.describe()))
        .collect();
    if unknown > 0 {
        parts.push(format!("{unknown} unknown"));
    }
    Some(parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 90.0), Some(9.0));
        assert_eq!(percentile(&v, 100.0), Some(10.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
