//! The sweep table: one row per cell, with each estimate's interval, and the notes
//! a reader needs to trust it (Kaplan–Meier medians, short coverage, cells the
//! data cannot rank).

use super::output::clean;
use super::text::Layout;
use crate::analysis::summary::{self, CellSummary, Method};

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// "12.5 [10.1, 14.0]" in ms, "KM" when Kaplan–Meier, "open" when the interval
/// reaches past the trials.
pub(crate) fn median_cell(c: &CellSummary) -> String {
    let Some(t) = &c.time_to_failure else {
        return "-".into();
    };
    let km = match t.method {
        Method::KaplanMeier => " KM",
        Method::OrderStatistics => "",
    };
    let med = t.median_ms.map_or("none".to_string(), ms);
    let lo = t.median_ci95_ms[0].map_or("?".to_string(), ms);
    let hi = t.median_ci95_ms[1].map_or("open".to_string(), ms);
    format!("{med} [{lo}, {hi}]{km}")
}

/// What the cell lost, and for framed senders the messages' p99 latency.
pub(crate) fn lost(c: &CellSummary) -> String {
    let lost = match (c.messages_lost, c.bytes_lost_median) {
        (Some(m), _) => format!("{m} msg"),
        (None, Some(b)) => format!("{b:.0} B"),
        _ => "-".into(),
    };
    match c.latency_p99_ms_median {
        Some(l) => format!("{lost}; p99 latency {} ms", ms(l)),
        None => lost,
    }
}

/// "3 reset, 1 eof", most frequent first.
pub(crate) fn counts(m: &std::collections::BTreeMap<String, usize>) -> String {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "100% [84, 100]": the failure rate and its Wilson interval.
pub(crate) fn rate_cell(c: &CellSummary) -> String {
    format!(
        "{:.0}% [{:.0}, {:.0}]",
        c.failure_rate * 100.0,
        c.failure_rate_ci95[0] * 100.0,
        c.failure_rate_ci95[1] * 100.0
    )
}

/// The table of a sweep's cells; `swept` are the keys that vary, in grid order.
pub fn table(cells: &[CellSummary], swept: &[String], layout: Layout) -> String {
    let mut header: Vec<String> = vec!["#".into()];
    header.extend(
        swept
            .iter()
            .map(|k| k.rsplit('.').next().unwrap_or(k).to_string()),
    );
    header.extend(
        [
            "n",
            "outcomes",
            "fail rate [95%]",
            "median t_fail ms [95%]",
            "p90 ms",
            "min-max ms",
            "lost",
            "close route",
            "outliers",
        ]
        .map(String::from),
    );
    let mut t = super::text::new_table(header.iter().map(String::as_str).collect(), layout);
    for (i, c) in cells.iter().enumerate() {
        let mut row = vec![(i + 1).to_string()];
        row.extend(
            swept
                .iter()
                .map(|k| clean(c.params.get(k).map_or("?", String::as_str))),
        );
        let tf = c.time_to_failure.as_ref();
        row.extend([
            c.trials.to_string(),
            counts(&c.outcomes),
            rate_cell(c),
            median_cell(c),
            tf.map_or("-".into(), |t| ms(t.p90_ms)),
            tf.map_or("-".into(), |t| format!("{}-{}", ms(t.min_ms), ms(t.max_ms))),
            lost(c),
            match c.close_routes.is_empty() {
                true => "-".into(),
                false => counts(&c.close_routes),
            },
            match c.outliers.is_empty() {
                true => "-".into(),
                false => format!("trial {:?}", c.outliers),
            },
        ]);
        t.add_row(row);
    }
    let mut s = t.to_string() + "\n";
    s.push_str(&notes(cells));
    s
}

/// What the table's reader must know to read it right.
fn notes(cells: &[CellSummary]) -> String {
    let mut s = String::new();
    if cells.iter().any(|c| {
        c.time_to_failure
            .as_ref()
            .is_some_and(|t| t.method == Method::KaplanMeier)
    }) {
        s.push_str("  KM: some trials survived (censored at their end); the median is the Kaplan-Meier estimate, \"open\" = beyond the trials, \"none\" = fewer than half failed\n");
    }
    if let Some(cov) = cells
        .iter()
        .filter_map(|c| c.time_to_failure.as_ref()?.median_ci_coverage)
        .filter(|c| *c < 0.95)
        .reduce(f64::min)
    {
        s.push_str(&format!(
            "  with so few trials, a median's interval [min, max] covers only {:.1}%; run more trials for 95%\n",
            cov * 100.0
        ));
    }
    for (a, b) in summary::unrankable(cells) {
        s.push_str(&format!(
            "  ! cells {} and {} cannot be ranked: their intervals overlap; run more trials (--trials)\n",
            a + 1,
            b + 1
        ));
    }
    s
}
