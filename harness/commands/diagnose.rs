//! `zerowin diagnose FILE...`: every capture's connections and how they ended.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::DiagnoseArgs;
use crate::report::diagnose::report;
use crate::report::export::Target;
use crate::report::output::Out;
use crate::report::text::Layout;
use crate::trace::{self, Diagnosis};

/// The JSON document: one entry per capture.
#[derive(serde::Serialize)]
struct Doc<'a> {
    schema_version: u32,
    zerowin: &'static str,
    captures: &'a [Diagnosis],
}

pub fn diagnose(a: &DiagnoseArgs) -> Result<ExitCode> {
    let json = a
        .export_json
        .as_deref()
        .map(|p| Target::open("--export-json", p, &a.files))
        .transpose()?;
    let to_stdout = json.as_ref().is_some_and(Target::is_stdout);
    let out = Out::beside(to_stdout);
    let layout = Layout { width: out.width() };
    let filter = a.filter.clone().unwrap_or_default();
    let mut all = Vec::new();
    for f in &a.files {
        let d = trace::diagnose(f, &filter)?;
        let text = if a.quiet {
            crate::report::diagnose::summary(&d, layout)
        } else {
            report(&d, layout)
        };
        out.print(&text)?;
        all.push(d);
    }
    if let Some(t) = json {
        let doc = Doc {
            schema_version: 1,
            zerowin: env!("CARGO_PKG_VERSION"),
            captures: &all,
        };
        let mut bytes = serde_json::to_vec_pretty(&doc)?;
        bytes.push(b'\n');
        t.finish(&bytes)?;
    }
    Ok(ExitCode::SUCCESS)
}
