//! `--export-markdown FILE`: one table per run, one row per scenario or cell, with
//! the intervals: ready to paste into an issue or a README.

use anyhow::Result;

use super::export::{Export, Exporter};
use crate::analysis::summary::Method;

pub struct Markdown;

/// A cell's text with the characters that would break a Markdown table escaped.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

fn f2(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.2}"))
}

impl Exporter for Markdown {
    fn flag(&self) -> &'static str {
        "--export-markdown"
    }

    fn serialize(&self, doc: &Export) -> Result<Vec<u8>> {
        let mut s = String::from(
            "| scenario | cell | sender | strategy | trials | outcomes | failure rate [95%] | median t_fail ms [95%] | p90 ms | lost | verdict |\n\
             |---|---|---|---|--:|---|---|---|--:|--:|---|\n",
        );
        for sc in &doc.scenarios {
            let c = &sc.summary;
            let params: Vec<String> = sc
                .swept
                .iter()
                .filter_map(|k| sc.params.get(k).map(|v| format!("{k}={v}")))
                .collect();
            let outcomes: Vec<String> =
                c.outcomes.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let t = c.time_to_failure.as_ref();
            let median = t.map_or("-".into(), |t| {
                format!(
                    "{} [{}, {}]{}",
                    f2(t.median_ms),
                    f2(t.median_ci95_ms[0]),
                    t.median_ci95_ms[1].map_or("open".into(), |x| format!("{x:.2}")),
                    if t.method == Method::KaplanMeier {
                        " (KM)"
                    } else {
                        ""
                    }
                )
            });
            let lost = match (c.messages_lost, c.bytes_lost_median) {
                (Some(m), _) => format!("{m} msg"),
                (None, Some(b)) => format!("{b:.0} B"),
                _ => "-".into(),
            };
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {:.0}% [{:.0}, {:.0}] | {} | {} | {} | {} |\n",
                cell(sc.name),
                cell(&params.join(" ")),
                cell(&c.sender),
                cell(&c.strategy),
                c.trials,
                cell(&outcomes.join(", ")),
                c.failure_rate * 100.0,
                c.failure_rate_ci95[0] * 100.0,
                c.failure_rate_ci95[1] * 100.0,
                median,
                f2(t.map(|t| t.p90_ms)),
                lost,
                match sc.passed {
                    Some(true) => "PASS",
                    Some(false) => "FAIL",
                    None => "-",
                }
            ));
        }
        if !doc.complete {
            s.push_str("\n(incomplete: the run was still going or was interrupted)\n");
        }
        Ok(s.into_bytes())
    }
}
