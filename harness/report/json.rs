//! `--json FILE`: every trial's full record, pretty-printed.

use anyhow::Result;

use super::export::{Export, Exporter};

/// The JSON format: the [`Export`] document as it is.
pub struct Json;

impl Exporter for Json {
    fn flag(&self) -> &'static str {
        "--json"
    }

    fn serialize(&self, doc: &Export) -> Result<Vec<u8>> {
        let mut v = serde_json::to_vec_pretty(doc)?;
        v.push(b'\n');
        Ok(v)
    }
}
