//! The sweep table: one row per cell, with each estimate's interval, and the notes
//! a reader needs to trust it (Kaplan–Meier medians, short coverage, cells the
//! data cannot rank).

use super::output::clean;
use super::text::Layout;
use crate::analysis::model::{self, Forecast};
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
    // With few trials the interval is [min, max], which covers less than 95%: say how
    // much, wherever the cell is shown.
    let cover = match t.median_ci_coverage {
        Some(c) if c < 0.95 => format!(" covers {:.1}%", c * 100.0),
        _ => String::new(),
    };
    format!("{med} [{lo}, {hi}]{cover}{km}")
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

/// The model's prediction for the cell ("fails 196 ms", "survives", "n/a") and how
/// far it was ("+12%", "right", "WRONG"); None without a model.
pub(crate) fn model_cells(c: &CellSummary) -> Option<(String, String)> {
    let m = c.model.as_ref()?;
    let (Forecast::Predicted(p), Some(k)) = (&m.forecast, &m.check) else {
        return Some(("n/a".into(), "-".into()));
    };
    let said = match p.time_to_failure_ms {
        Some(t) => format!("fails {}", model::fmt_ms(t)),
        None => "survives".into(),
    };
    let how = match (k.survival_right, k.error) {
        (false, _) => "WRONG".into(),
        (true, Some(e)) => format!("{:+.0}%", e * 100.0),
        (true, None) => "right".into(),
    };
    Some((said, how))
}

/// A key's last part, as a column names it: "client.delay" → "delay".
pub(crate) fn short(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// The first columns of a table of cells: "#", then each swept key's short name.
fn key_columns(swept: &[String]) -> Vec<String> {
    std::iter::once("#".to_string())
        .chain(swept.iter().map(|k| short(k).to_string()))
        .collect()
}

/// The first cells of row `i`: its number, then its value of each swept key.
fn key_cells(
    i: usize,
    params: &std::collections::BTreeMap<String, String>,
    swept: &[String],
) -> Vec<String> {
    std::iter::once((i + 1).to_string())
        .chain(
            swept
                .iter()
                .map(|k| clean(params.get(k).map_or("?", String::as_str))),
        )
        .collect()
}

/// The table of a sweep's cells; `swept` are the keys that vary, in grid order.
pub fn table(cells: &[CellSummary], swept: &[String], layout: Layout) -> String {
    let mut header = key_columns(swept);
    header.extend(
        [
            "n",
            "outcomes",
            "fail rate [95%]",
            "median t_fail ms [interval]",
            "p90 ms",
            "min-max ms",
            "lost",
            "close route",
            "outliers",
        ]
        .map(String::from),
    );
    let modelled = cells.iter().any(|c| c.model.is_some());
    if modelled {
        header.extend(["model".into(), "model error".into()]);
    }
    let mut t = super::text::new_table(header.iter().map(String::as_str).collect(), layout);
    for (i, c) in cells.iter().enumerate() {
        let mut row = key_cells(i, &c.params, swept);
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
        if modelled {
            let (said, how) = model_cells(c).unwrap_or(("-".into(), "-".into()));
            row.extend([said, how]);
        }
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
    if let Some(acc) = model::Accuracy::of(cells) {
        s.push_str(&format!(
            "  model: T = T0 + C / (S - D), calibrated in separate runs (docs/comparing.md, \"The model\"); survival right in {} of {} cells, |error| of T median {} max {} over {} cells\n",
            acc.survival_right,
            acc.cells,
            acc.median_abs_error.map_or("-".into(), |e| format!("{:.0}%", e * 100.0)),
            acc.max_abs_error.map_or("-".into(), |e| format!("{:.0}%", e * 100.0)),
            acc.timed
        ));
        for c in cells.iter().filter_map(|c| c.model.as_ref()) {
            if let Forecast::NotModelled { why } = &c.forecast {
                s.push_str(&format!("  model n/a: {why}\n"));
                break;
            }
        }
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

/// `zerowin predict`'s table: one row per cell, with what the model was given and
/// what it says.
pub fn forecast_table(
    rows: &[(std::collections::BTreeMap<String, String>, Forecast)],
    swept: &[String],
    layout: Layout,
) -> String {
    let mut header = key_columns(swept);
    header.extend(
        [
            "S KB/s",
            "D KB/s",
            "C KB (ratio x memory)",
            "T0 ms",
            "predicted",
        ]
        .map(String::from),
    );
    let mut t = super::text::new_table(header.iter().map(String::as_str).collect(), layout);
    let mut notes = String::new();
    for (i, (params, f)) in rows.iter().enumerate() {
        let mut row = key_cells(i, params, swept);
        match f {
            Forecast::Predicted(p) => {
                let kb = |b: f64| format!("{:.1}", b / 1e3);
                let ge = if p.drain.client_lower_bound {
                    ">= "
                } else {
                    ""
                };
                row.extend([
                    format!(
                        "{}{}",
                        kb(p.sender_bytes_s),
                        if p.sender_paced { " (rate)" } else { "" }
                    ),
                    format!("{ge}{}", kb(p.drain.client_bytes_s)),
                    p.capacity.map_or("-".into(), |c| {
                        format!(
                            "{}{} ({:.2} x {})",
                            if c.lower_bound { ">= " } else { "" },
                            kb(c.payload_bytes),
                            c.ratio,
                            c.memory_bytes
                        )
                    }),
                    format!("{:.2}", p.drain.start_ms),
                    match p.time_to_failure_ms {
                        Some(t) => format!("fails at {}", model::fmt_ms(t)),
                        None => "survives".into(),
                    },
                ]);
            }
            Forecast::NotModelled { .. } => {
                row.extend(["-", "-", "-", "-", "n/a"].map(String::from));
            }
        }
        notes.push_str(&format!("  {}: {}\n", i + 1, f.why()));
        t.add_row(row);
    }
    format!("{t}\n{notes}")
}
