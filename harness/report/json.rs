//! `--export-json FILE` (or `--json`): every trial's full record and every cell's
//! statistics, pretty-printed.

use anyhow::Result;

use super::export::{Export, Exporter};

/// The JSON format: the [`Export`] document as it is.
pub struct Json;

impl Exporter for Json {
    fn flag(&self) -> &'static str {
        "--export-json"
    }

    fn serialize(&self, doc: &Export) -> Result<Vec<u8>> {
        let mut v = serde_json::to_vec_pretty(doc)?;
        v.push(b'\n');
        Ok(v)
    }
}
