//! `--export-markdown FILE`: one table per run, one row per scenario or cell, with
//! the intervals, written as the sweep table writes them: ready to paste into an
//! issue or a README.

use anyhow::Result;

use super::export::{Export, Exporter};
use super::sweep;

#[derive(Clone, Copy)]
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
        "export-markdown"
    }

    fn help(&self) -> &'static str {
        "Write a Markdown table of the cells (or scenarios) to FILE (\"-\" = stdout)"
    }

    fn serialize(&self, doc: &Export) -> Result<Vec<u8>> {
        let mut s = String::from(
            "| scenario | cell | sender | strategy | trials | outcomes | failure rate [95%] | median t_fail ms [interval] | p90 ms | lost | verdict |\n\
             |---|---|---|---|--:|---|---|---|--:|--:|---|\n",
        );
        for sc in &doc.scenarios {
            let c = &sc.summary;
            let params: Vec<String> = sc
                .swept
                .iter()
                .filter_map(|k| sc.params.get(k).map(|v| format!("{k}={v}")))
                .collect();
            let t = c.time_to_failure.as_ref();
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                cell(sc.name),
                cell(&params.join(" ")),
                cell(&c.sender),
                cell(&c.strategy),
                c.trials,
                cell(&sweep::counts(&c.outcomes)),
                sweep::rate_cell(c),
                sweep::median_cell(c),
                f2(t.map(|t| t.p90_ms)),
                cell(&sweep::lost(c)),
                match sc.passed {
                    Some(true) => "PASS",
                    Some(false) => "FAIL",
                    None => "-",
                }
            ));
        }
        s.push_str("\nFailure rate: Wilson 95% interval. Median: a distribution-free interval of at least 95%, unless the cell says what it covers (with few trials it is [min, max]: 75% at 3 trials, 93.8% at 5); KM: the Kaplan–Meier estimate, when some trials survived.\n");
        if !doc.complete {
            s.push_str("\n(incomplete: the run was still going or was interrupted)\n");
        }
        Ok(s.into_bytes())
    }
}
