//! `zerowin diagnose --html DIR`: `index.html` with, for every capture, the line
//! about its frames, its connections (past [`ROWS_MAX`], the count by cause), and
//! each explained connection's story (the text `diagnose` prints) with its
//! timeline. The timelines are SVGs in `img/run-*/`, a directory of this run's own.
//!
//! DIR and its `img/` are made, and an index that says nothing is read yet is
//! written, before the first capture is read: a DIR that cannot take the report
//! fails first, as `run --html` does.

use std::path::Path;

use anyhow::{Context, Result};

use super::diagnose::{COLUMNS, explain, explained, frames_line, row, unexplained};
use super::html::{esc, head, table};
use crate::artifacts::OutDir;
use crate::trace::Diagnosis;

/// Connections listed one per row, at most; past that, the count by cause.
pub const ROWS_MAX: usize = 500;

/// A capture as the page shows it: its diagnosis, and each explained connection's
/// timeline (a link inside DIR) or why it has none.
pub struct Shown<'a> {
    pub diagnosis: &'a Diagnosis,
    pub timelines: Vec<(u64, Result<String, String>)>,
}

pub struct DiagnoseHtml {
    dir: OutDir,
    img: OutDir,
    img_rel: String,
}

impl DiagnoseHtml {
    pub fn open(path: &Path) -> Result<DiagnoseHtml> {
        let dir = OutDir::root(path, "--html")?;
        let flagged = |e: anyhow::Error| e.context(format!("--html {}", path.display()));
        let img = dir.sub("img").and_then(|i| i.new_run()).map_err(flagged)?;
        let run = img
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let html = DiagnoseHtml {
            img_rel: format!("img/{}", run.unwrap_or_default()),
            dir,
            img,
        };
        html.write(&[], false)?;
        Ok(html)
    }

    /// Writes one timeline; returns its link from the index.
    pub fn image(&self, name: &str, svg: &str) -> Result<String> {
        self.img.write_atomically(name, svg.as_bytes())?;
        Ok(format!("{}/{name}", self.img_rel))
    }

    /// Rewrites the index with every capture shown so far.
    pub fn write(&self, shown: &[Shown], complete: bool) -> Result<()> {
        let html = index(shown, complete);
        self.dir
            .write_atomically("index.html", html.as_bytes())
            .with_context(|| format!("--html {}", self.dir.path().display()))
    }
}

fn index(shown: &[Shown], complete: bool) -> String {
    let mut s = head("zerowin diagnose");
    s.push_str("<h1>zerowin diagnose</h1>\n");
    if !complete {
        s.push_str(&format!(
            "<p class=\"note\">Still reading: {} capture(s) so far.</p>\n",
            shown.len()
        ));
    }
    for (k, c) in shown.iter().enumerate() {
        s.push_str(&capture(k + 1, c));
    }
    s.push_str("<p class=\"note\">What each cause means on the wire and in the kernel: docs/diagnose.md.</p>\n</body></html>\n");
    s
}

fn capture(k: usize, c: &Shown) -> String {
    let d = c.diagnosis;
    let mut s = format!(
        "<h2 id=\"capture-{k}\">{}</h2>\n<p>{}</p>\n",
        esc(&d.file),
        esc(frames_line(d).trim_end()).replace('\n', "<br>")
    );
    let counts: Vec<Vec<String>> = d
        .by_cause()
        .iter()
        .map(|(cause, n)| vec![esc(cause.name()), n.to_string(), esc(cause.ending())])
        .collect();
    s.push_str(&table(&["cause", "connections", "ending"], &counts));
    if d.total() <= ROWS_MAX as u64 {
        let rows: Vec<Vec<String>> = d
            .connections
            .iter()
            .map(|c| row(c).iter().map(|v| esc(v)).collect())
            .collect();
        s.push_str(&table(&COLUMNS, &rows));
    } else {
        s.push_str(&format!(
            "<p class=\"note\">{} connections: too many to list here; <code>--export-json</code> has every one.</p>\n",
            d.total()
        ));
    }
    for (i, conn) in explained(d) {
        let timeline = c.timelines.iter().find(|(n, _)| *n == i).map(|(_, t)| t);
        s.push_str(&format!(
            "<h3 id=\"capture-{k}-connection-{i}\">Connection {i}: {}</h3>\n<pre>{}</pre>\n",
            esc(conn.finding.cause.name()),
            esc(&explain(i, conn))
        ));
        s.push_str(&match timeline {
            Some(Ok(link)) => format!(
                "<img src=\"{}\" alt=\"timeline of connection {i}\">\n",
                esc(link)
            ),
            Some(Err(why)) => format!("<p class=\"note\">No timeline: {}.</p>\n", esc(why)),
            None => String::new(),
        });
    }
    let more = unexplained(d);
    if more > 0 {
        s.push_str(&format!(
            "<p class=\"note\">{more} more abnormal connection(s) not explained here: <code>--export-json</code> has every one.</p>\n"
        ));
    }
    s
}
