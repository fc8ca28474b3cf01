//! `--export-json FILE` (or `--json`): every trial's full record and every cell's
//! statistics, pretty-printed.

use anyhow::Result;

use super::export::{Export, Exporter};

/// The JSON format: the [`Export`] document as it is.
#[derive(Clone, Copy)]
pub struct Json;

impl Exporter for Json {
    fn flag(&self) -> &'static str {
        "export-json"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["json"]
    }

    fn help(&self) -> &'static str {
        "Write every trial's full record and every cell's statistics as JSON to FILE, rewritten after every scenario or cell (\"-\" = stdout, and the report goes to stderr)"
    }

    fn serialize(&self, doc: &Export) -> Result<Vec<u8>> {
        let mut v = serde_json::to_vec_pretty(doc)?;
        v.push(b'\n');
        Ok(v)
    }
}
