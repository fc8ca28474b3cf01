//! `zerowin diagnose FILE...`: every capture's connections and how they ended.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::artifacts::OutDir;
use crate::cli::DiagnoseArgs;
use crate::report::diagnose::{KEEP, explained, picture, report, summary};
use crate::report::diagnose_html::{DiagnoseHtml, Shown};
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

/// Where the timelines go: `--plot`'s run directory, the HTML's `img/`, or both.
struct Drawings {
    plot: Option<OutDir>,
    html: Option<DiagnoseHtml>,
}

impl Drawings {
    /// Every target made before the first capture is read.
    fn open(a: &DiagnoseArgs) -> Result<Drawings> {
        let plot = match &a.plot {
            Some(p) => Some(OutDir::root(p, "--plot").and_then(|r| {
                r.new_run()
                    .with_context(|| format!("--plot {}", p.display()))
            })?),
            None => None,
        };
        let html = a.html.as_deref().map(DiagnoseHtml::open).transpose()?;
        Ok(Drawings { plot, html })
    }

    fn wanted(&self) -> bool {
        self.plot.is_some() || self.html.is_some()
    }

    /// Draws the explained connections of capture `k` (read from `file`): for each,
    /// the link the HTML shows, or why it has no timeline.
    fn draw(
        &self,
        k: usize,
        file: &Path,
        d: &Diagnosis,
    ) -> Result<Vec<(u64, Result<String, String>)>> {
        let chosen = explained(d);
        if !self.wanted() || chosen.is_empty() {
            return Ok(Vec::new());
        }
        let conns: Vec<&trace::conn::Conn> = chosen.iter().map(|(_, c)| &c.conn).collect();
        let series = trace::series_of(file, &conns)?;
        let mut out = Vec::new();
        for ((i, conn), (s, unscaled)) in chosen.iter().zip(&series) {
            let p = picture(&d.file, *i, conn, s, *unscaled);
            if p.panels.is_empty() {
                out.push((*i, Err("no data segment of it was captured".to_string())));
                continue;
            }
            let svg = crate::report::plot::svg(&p)?;
            let name = format!("capture-{k}-connection-{i}.svg");
            if let Some(dir) = &self.plot {
                use std::io::Write;
                dir.create_new(&name)?
                    .write_all(svg.as_bytes())
                    .with_context(|| format!("writing {}", dir.join(&name).display()))?;
            }
            match &self.html {
                Some(h) => out.push((*i, Ok(h.image(&name, &svg)?))),
                None => out.push((*i, Ok(name))),
            }
        }
        Ok(out)
    }
}

pub fn diagnose(a: &DiagnoseArgs) -> Result<ExitCode> {
    let json = a
        .export_json
        .as_deref()
        .map(|p| Target::open("--export-json", p, &a.files))
        .transpose()?;
    let drawings = Drawings::open(a)?;
    let to_stdout = json.as_ref().is_some_and(Target::is_stdout);
    let out = Out::beside(to_stdout);
    let layout = Layout { width: out.width() };
    let filter = a.filter.clone().unwrap_or_default();
    // Every connection kept whole only where an output lists every one.
    let keep = match json.is_some() || drawings.html.is_some() {
        true => trace::Keep::All,
        false => KEEP,
    };
    let mut all = Vec::new();
    let mut timelines = Vec::new();
    for (k, f) in a.files.iter().enumerate() {
        let d = trace::diagnose_keeping(f, &filter, keep)?;
        out.print(&if a.quiet {
            summary(&d, layout)
        } else {
            report(&d, layout)
        })?;
        timelines.push(drawings.draw(k + 1, f, &d)?);
        all.push(d);
    }
    if let Some(h) = &drawings.html {
        let shown: Vec<Shown> = all
            .iter()
            .zip(timelines)
            .map(|(diagnosis, timelines)| Shown {
                diagnosis,
                timelines,
            })
            .collect();
        h.write(&shown, true)?;
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
