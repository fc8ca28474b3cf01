//! Medians and outcome counts, shared by the scenario report and `compare`.

use std::collections::BTreeMap;

use crate::record::TrialRecord;

/// The median of the values (the mean of the middle two for an even count).
pub fn median(mut v: Vec<f64>) -> Option<f64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
