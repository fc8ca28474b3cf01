//! `--json FILE`: every trial's full record. The file is created before the first
//! trial runs, so a bad path fails at once; `-` means standard output.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::record::TrialRecord;
use crate::runner::ScenarioResult;

/// Where the JSON goes, opened early.
pub enum JsonSink {
    Stdout,
    File(File, String),
}

impl JsonSink {
    pub fn create(path: &Path) -> Result<JsonSink> {
        if path == Path::new("-") {
            return Ok(JsonSink::Stdout);
        }
        let f = File::create(path)
            .with_context(|| format!("cannot create the JSON file {}", path.display()))?;
        Ok(JsonSink::File(f, path.display().to_string()))
    }

    pub fn write<T: Serialize>(self, doc: &T) -> Result<()> {
        let bytes = serialize(doc)?;
        match self {
            JsonSink::Stdout => std::io::stdout().write_all(&bytes)?,
            JsonSink::File(mut f, name) => f
                .write_all(&bytes)
                .with_context(|| format!("writing {name}"))?,
        }
        Ok(())
    }
}

/// The exported document.
#[derive(Serialize)]
pub struct Export<'a> {
    /// zerowin's version.
    pub zerowin: &'static str,
    pub scenarios: Vec<ScenarioExport<'a>>,
}

/// One scenario in the export.
#[derive(Serialize)]
pub struct ScenarioExport<'a> {
    pub name: &'a str,
    pub path: String,
    pub description: &'a str,
    /// The expected outcome, and the optional bounds.
    pub expect_outcome: &'a str,
    pub expect_within_us: Option<u64>,
    pub expect_bytes_lost: Option<i64>,
    /// Whether every trial met the expectation (null when not checked, as in `compare`).
    pub passed: Option<bool>,
    pub violations: &'a [String],
    pub trials: &'a [TrialRecord],
}

impl<'a> Export<'a> {
    pub fn new(results: &'a [ScenarioResult], checked: bool) -> Export<'a> {
        Export {
            zerowin: env!("CARGO_PKG_VERSION"),
            scenarios: results
                .iter()
                .map(|r| ScenarioExport {
                    name: &r.scenario.name,
                    path: r.scenario.path.display().to_string(),
                    description: &r.scenario.description,
                    expect_outcome: r.scenario.expect.outcome.as_str(),
                    expect_within_us: r.scenario.expect.within.map(|d| d.as_micros() as u64),
                    expect_bytes_lost: r.scenario.expect.bytes_lost,
                    passed: checked.then(|| r.passed()),
                    violations: &r.violations,
                    trials: &r.records,
                })
                .collect(),
        }
    }
}

/// The JSON text, pretty-printed, with a final newline.
pub fn serialize<T: Serialize>(doc: &T) -> Result<Vec<u8>> {
    let mut v = serde_json::to_vec_pretty(doc)?;
    v.push(b'\n');
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_export_is_valid_json() {
        let doc = Export::new(&[], true);
        let v: serde_json::Value = serde_json::from_slice(&serialize(&doc).unwrap()).unwrap();
        assert_eq!(v["scenarios"].as_array().unwrap().len(), 0);
        assert_eq!(v["zerowin"], env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn a_bad_path_fails_before_any_trial() {
        let e = JsonSink::create(Path::new("/nonexistent-dir/out.json"))
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("/nonexistent-dir/out.json"));
    }
}
