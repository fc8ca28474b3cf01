//! `--html DIR`: a self-contained report, rewritten after every scenario or cell so
//! that an interrupted run keeps a readable report of what finished.
//!
//! - `index.html`: every scenario and sweep with its verdicts;
//! - one page per scenario or sweep: its verdicts, the table of cells with the
//!   model's prediction, where a sweep's failure rate crosses 50% (and where the
//!   model says it does), the sweep's curves with their bands and the model on top,
//!   the distribution of time to failure, and each trial's timeline and pcap;
//! - `img/`: the charts (plotters SVGs); `trials/run-*/`: the trials' timelines,
//!   unless `--plot` put them elsewhere.
//!
//! Pages link only to files in DIR, or to the `--pcap`/`--plot` files by absolute
//! `file://` address when those are elsewhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::artifacts::OutDir;

use anyhow::{Context, Result};

use super::charts::{self, Curve, CurvePoint, Spread, XAxis};
use super::export::{Sink, Snapshot};
use super::sweep::{counts, lost, median_cell, model_cells, rate_cell, short};
use super::text::verdict;
use crate::analysis::model::{Accuracy, Forecast};
use crate::analysis::summary::CellSummary;
use crate::record::Outcome;
use crate::runner::ScenarioResult;
use crate::scenario::sweep::Point;

/// `--html DIR`: the HTML report.
pub struct Html;

impl super::export::Format for Html {
    fn flag(&self) -> &'static str {
        "html"
    }

    fn value_name(&self) -> &'static str {
        "DIR"
    }

    fn help(&self) -> &'static str {
        "Write an HTML report into DIR (index.html, a page per scenario or sweep, its charts and the trials' timelines), rewritten after every scenario or cell"
    }

    fn open(&self, path: &Path, _inputs: &[PathBuf]) -> Result<Box<dyn Sink>> {
        Ok(Box::new(HtmlReport::open(path)?))
    }
}

impl Sink for HtmlReport {
    fn flag(&self) -> String {
        "--html".into()
    }

    fn plot_dir(&self) -> Option<OutDir> {
        Some(self.trials_dir())
    }

    fn update(&self, now: &Snapshot) -> Result<()> {
        self.write(now.results, false)
    }

    fn finish(&self, now: &Snapshot) -> Result<()> {
        self.write(now.results, true)
    }
}

/// The report's directory.
pub struct HtmlReport {
    dir: OutDir,
    img: OutDir,
    /// This run's own sub-directory of `trials/`, so a second run into the same DIR
    /// never meets the first one's files.
    trials: OutDir,
}

/// One page: a scenario, or a sweep's cells.
struct Page<'a> {
    file: String,
    results: &'a [ScenarioResult],
    /// The results' statistics, computed for the page being written only (the
    /// index needs none).
    cells: Vec<CellSummary>,
}

impl HtmlReport {
    /// Makes DIR (and its img/ and trials/) before the first trial, and writes an
    /// index that says no scenario has finished yet: a DIR that cannot take the
    /// report fails here, not after the trials.
    pub fn open(dir: &Path) -> Result<HtmlReport> {
        let root = OutDir::root(dir, "--html")?;
        let flagged = |e: anyhow::Error| e.context(format!("--html {}", dir.display()));
        let img = root.sub("img").map_err(flagged)?;
        let trials = root
            .sub("trials")
            .and_then(|t| t.new_run())
            .map_err(flagged)?;
        let report = HtmlReport {
            dir: root,
            img,
            trials,
        };
        report.write(&[], false)?;
        Ok(report)
    }

    /// Where the trials' timelines go when `--plot` does not say.
    pub fn trials_dir(&self) -> OutDir {
        self.trials.clone()
    }

    /// Rewrites the report from every result so far: the index, and the page of the
    /// newest result (results only ever come at the end, so every page before it was
    /// written whole when its last result came).
    pub fn write(&self, results: &[ScenarioResult], complete: bool) -> Result<()> {
        let mut pages = pages(results);
        if let Some(p) = pages.last_mut() {
            p.cells = p.results.iter().map(ScenarioResult::summary).collect();
            self.write_page(p)?;
        }
        let index = index(&pages, complete);
        self.dir
            .write_atomically("index.html", index.as_bytes())
            .with_context(|| format!("--html {}", self.dir.path().display()))
    }

    fn write_page(&self, p: &Page) -> Result<()> {
        let stem = p.file.trim_end_matches(".html");
        let mut imgs = Vec::new();
        for (name, svg) in page_charts(p)? {
            let file = format!("{stem}-{name}.svg");
            self.img.write_atomically(&file, svg.as_bytes())?;
            imgs.push((name, format!("img/{file}")));
        }
        let html = page(p, &imgs, self.dir.path());
        self.dir
            .write_atomically(&p.file, html.as_bytes())
            .with_context(|| format!("--html {}", self.dir.path().display()))
    }
}

/// Splits the results into pages: a sweep's cells together, a scenario alone.
fn pages(results: &[ScenarioResult]) -> Vec<Page<'_>> {
    let mut out: Vec<Page> = Vec::new();
    // The index has its name: a scenario called `index` gets `index-2.html`.
    let mut seen: BTreeMap<String, usize> = BTreeMap::from([("index".to_string(), 1)]);
    let mut i = 0;
    while i < results.len() {
        let n = match &results[i].scenario.cell_of {
            Some(c) => (c.total - c.index).min(results.len() - i),
            None => 1,
        };
        let group = &results[i..i + n];
        let name = slug(&group[0].scenario.name);
        let k = seen.entry(name.clone()).or_default();
        *k += 1;
        let file = match *k {
            1 => format!("{name}.html"),
            k => format!("{name}-{k}.html"),
        };
        out.push(Page {
            file,
            results: group,
            cells: Vec::new(),
        });
        i += n;
    }
    out
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            _ => '_',
        })
        .collect()
}

/// Text for HTML.
pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;font-size:90%}\
th{background:#f2f2f2}.pass{color:#080}.fail{color:#b00}img{max-width:100%;border:1px solid #eee;margin:.3em 0}\
p.note{color:#555;font-size:90%}pre{white-space:pre-wrap}";

pub(super) fn head(title: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        esc(title)
    )
}

pub(super) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><tr>");
    for h in header {
        s.push_str(&format!("<th>{}</th>", esc(h)));
    }
    s.push_str("</tr>\n");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            s.push_str(&format!("<td>{c}</td>"));
        }
        s.push_str("</tr>\n");
    }
    s + "</table>\n"
}

fn pass_fail(passed: bool) -> String {
    match passed {
        true => "<span class=\"pass\">PASS</span>".into(),
        false => "<span class=\"fail\">FAIL</span>".into(),
    }
}

fn index(pages: &[Page], complete: bool) -> String {
    let mut s = head("zerowin report");
    s.push_str("<h1>zerowin report</h1>\n");
    let trials: usize = pages
        .iter()
        .flat_map(|p| p.results)
        .map(|r| r.records.len())
        .sum();
    let failed = pages
        .iter()
        .flat_map(|p| p.results)
        .filter(|r| !r.passed())
        .count();
    let cells: usize = pages.iter().map(|p| p.results.len()).sum();
    s.push_str(&format!(
        "<p>{} scenario(s) and sweep(s), {cells} cell(s), {trials} trial(s): {} passed, {failed} failed.{}</p>\n",
        pages.len(),
        cells - failed,
        match complete {
            true => "",
            false => " <b>The run had not finished when this was written</b>: it holds what finished.",
        }
    ));
    s.push_str("<h2>Summary</h2>\n");
    let rows: Vec<Vec<String>> = pages
        .iter()
        .map(|p| {
            let sc = &p.results[0].scenario;
            let failed = p.results.iter().filter(|r| !r.passed()).count();
            vec![
                format!("<a href=\"{}\">{}</a>", esc(&p.file), esc(&sc.name)),
                p.results.len().to_string(),
                p.results
                    .iter()
                    .map(|r| r.records.len())
                    .sum::<usize>()
                    .to_string(),
                pass_fail(failed == 0)
                    + &format!(" {}/{}", p.results.len() - failed, p.results.len()),
                esc(&sc.description),
            ]
        })
        .collect();
    s.push_str(&table(
        &[
            "scenario or sweep",
            "cells",
            "trials",
            "verdict",
            "description",
        ],
        &rows,
    ));
    s.push_str("</body></html>\n");
    s
}

/// The swept key to draw along, and the values of each cell on it: the last swept
/// key whose values are all numbers or durations (durations in ms).
fn x_key(p: &Page) -> Option<(String, Vec<f64>)> {
    let swept = &p.results[0].scenario.swept;
    swept.iter().rev().find_map(|k| {
        let xs: Option<Vec<f64>> = p
            .cells
            .iter()
            .map(|c| {
                let v = Point::parse(c.params.get(k)?).ok()?;
                Some(match v {
                    Point::Dur(_) => v.value() / 1e6,
                    Point::Int(_) => v.value(),
                })
            })
            .collect();
        xs.map(|xs| (k.clone(), xs))
    })
}

/// The cells grouped by the other swept keys, each group in order along x.
fn groups(p: &Page, key: &str, xs: &[f64]) -> Vec<(String, Vec<usize>)> {
    let swept = &p.results[0].scenario.swept;
    let mut by: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, c) in p.cells.iter().enumerate() {
        let label: Vec<String> = swept
            .iter()
            .filter(|k| *k != key)
            .map(|k| {
                format!(
                    "{}={}",
                    short(k),
                    c.params.get(k).map_or("?", String::as_str)
                )
            })
            .collect();
        by.entry(label.join(", ")).or_default().push(i);
    }
    by.into_iter()
        .map(|(l, mut v)| {
            v.sort_by(|a, b| xs[*a].total_cmp(&xs[*b]));
            (if l.is_empty() { "cells".into() } else { l }, v)
        })
        .collect()
}

fn point(c: &CellSummary, x: f64) -> CurvePoint {
    let t = c.time_to_failure.as_ref();
    let pred = c.predicted();
    CurvePoint {
        x,
        median: t.and_then(|t| t.median_ms),
        median_lo: t.and_then(|t| t.median_ci95_ms[0]),
        median_hi: t.and_then(|t| t.median_ci95_ms[1]),
        rate: c.failure_rate,
        rate_ci: c.failure_rate_ci95,
        model_ttf: pred.and_then(|p| p.time_to_failure_ms),
        model_survives: pred.map(|p| p.survives),
    }
}

/// The page's charts, by name: the curves when it sweeps, and the distribution.
fn page_charts(p: &Page) -> Result<Vec<(&'static str, String)>> {
    let mut out = Vec::new();
    if p.results.len() > 1 {
        let (desc, curves) = match x_key(p) {
            Some((k, xs)) => {
                let unit = if p
                    .cells
                    .iter()
                    .any(|c| c.params.get(&k).is_some_and(|v| v.ends_with('s')))
                {
                    " (ms)"
                } else {
                    ""
                };
                let curves = groups(p, &k, &xs)
                    .into_iter()
                    .map(|(label, idx)| Curve {
                        label,
                        points: idx.iter().map(|&i| point(&p.cells[i], xs[i])).collect(),
                    })
                    .collect::<Vec<_>>();
                (XAxis::numbers(&format!("{k}{unit}"), &xs), curves)
            }
            None => {
                let labels: Vec<String> =
                    p.results.iter().map(|r| r.scenario.cell_label()).collect();
                let xs: Vec<f64> = (0..p.cells.len()).map(|i| i as f64).collect();
                let curve = Curve {
                    label: "cells".into(),
                    points: p.cells.iter().zip(&xs).map(|(c, x)| point(c, *x)).collect(),
                };
                (XAxis::categories("cell", labels), vec![curve])
            }
        };
        out.push(("ttf", charts::ttf_curves(&curves, &desc)?));
        out.push(("rate", charts::rate_curves(&curves, &desc)?));
    }
    let spreads: Vec<Spread> = p
        .results
        .iter()
        .enumerate()
        .map(|(i, r)| Spread {
            label: match p.results.len() {
                1 => r.scenario.name.clone(),
                _ => (i + 1).to_string(),
            },
            times_ms: r
                .records
                .iter()
                .filter(|t| t.outcome != Outcome::Survived)
                .filter_map(|t| Some(t.time_to_failure_us? as f64 / 1e3))
                .collect(),
            survived: r
                .records
                .iter()
                .filter(|t| t.outcome == Outcome::Survived)
                .count(),
        })
        .collect();
    if spreads.iter().any(|s| !s.times_ms.is_empty()) {
        out.push(("dist", charts::distribution(&spreads)?));
    }
    Ok(out)
}

fn page(p: &Page, imgs: &[(&str, String)], dir: &Path) -> String {
    let sc = &p.results[0].scenario;
    let mut s = head(&format!("zerowin: {}", sc.name));
    s.push_str("<p><a href=\"index.html\">All scenarios</a></p>\n");
    s.push_str(&format!(
        "<h1>{}</h1>\n<p>{}</p>\n",
        esc(&sc.name),
        esc(&sc.description)
    ));
    s.push_str(&format!(
        "<p class=\"note\">File: {}</p>\n",
        esc(&sc.path.display().to_string())
    ));
    s.push_str("<h2>Verdicts</h2>\n<ul>\n");
    for r in p.results {
        s.push_str(&format!(
            "<li>{}{}: {}</li>\n",
            esc(&r.scenario.name),
            esc(&r.scenario.cell_label()),
            esc(&verdict(r))
        ));
    }
    s.push_str("</ul>\n");
    s.push_str(&cells_section(p));
    if p.results.len() > 1 {
        s.push_str(&boundary_section(p));
    }
    s.push_str(&model_section(p));
    let img = |name: &str, alt: &str| {
        imgs.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| format!("<img src=\"{}\" alt=\"{}\">\n", esc(f), esc(alt)))
    };
    if let (Some(a), Some(b)) = (
        img("ttf", "median time to failure along the sweep"),
        img("rate", "failure rate along the sweep"),
    ) {
        s.push_str("<h2>Sweep curves</h2>\n<p class=\"note\">Dots: the observed median time to failure (top) and failure rate (bottom), with their 95% bands (order statistics or Kaplan–Meier; Wilson). Crosses: the model's prediction (docs/comparing.md, \"The model\").</p>\n");
        s.push_str(&a);
        s.push_str(&b);
    }
    if let Some(d) = img("dist", "distribution of time to failure") {
        s.push_str("<h2>Time to failure</h2>\n<p class=\"note\">Each failed trial's time to failure, one column per cell (numbered as in the table); the red bar is the median. Trials that survived are not drawn; the table counts them.</p>\n");
        s.push_str(&d);
    }
    s.push_str(&trials_section(p, dir));
    s.push_str("</body></html>\n");
    s
}

fn cells_section(p: &Page) -> String {
    let swept = &p.results[0].scenario.swept;
    let mut header: Vec<&str> = vec!["#"];
    header.extend(swept.iter().map(|k| short(k)));
    header.extend([
        "trials",
        "outcomes",
        "failure rate [95%]",
        "median time to failure ms [interval]",
        "lost",
        "close route",
    ]);
    let modelled = p.cells.iter().any(|c| c.model.is_some());
    if modelled {
        header.extend(["model", "model error"]);
    }
    let rows: Vec<Vec<String>> = p
        .cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut row = vec![(i + 1).to_string()];
            row.extend(
                swept
                    .iter()
                    .map(|k| esc(c.params.get(k).map_or("?", String::as_str))),
            );
            row.extend([
                c.trials.to_string(),
                esc(&counts(&c.outcomes)),
                esc(&rate_cell(c)),
                esc(&median_cell(c)),
                esc(&lost(c)),
                esc(&counts(&c.close_routes)),
            ]);
            if let Some((a, b)) = model_cells(c).filter(|_| modelled) {
                row.extend([esc(&a), esc(&b)]);
            } else if modelled {
                row.extend(["-".into(), "-".into()]);
            }
            row
        })
        .collect();
    format!(
        "<h2>Cells</h2>\n{}<p class=\"note\">Failure rate: Wilson 95% interval. Median: a distribution-free interval of at least 95%, unless the cell says what it covers (with few trials it is [min, max]: 75% at 3 trials, 93.8% at 5), or the Kaplan–Meier estimate (KM) when some trials survived; \"open\" reaches past the trials.</p>\n",
        table(&header, &rows)
    )
}

/// Where, along the sweep's numeric key, the failure rate crosses 50% in each group,
/// how sure the neighbouring cells are, and where the model puts it.
fn boundary_section(p: &Page) -> String {
    let Some((key, xs)) = x_key(p) else {
        return String::new();
    };
    let mut s = format!(
        "<h2>Boundary</h2>\n<p>Where the failure rate crosses 50% along {}:</p>\n<ul>\n",
        esc(&key)
    );
    let cell = |i: usize| {
        let c = &p.cells[i];
        let [lo, hi] = c.failure_rate_ci95;
        format!(
            "{} = {} ({}/{} failed, Wilson 95% [{:.0}%, {:.0}%]{})",
            esc(short(&key)),
            esc(c.params.get(&key).map_or("?", String::as_str)),
            c.failures,
            c.trials,
            lo * 100.0,
            hi * 100.0,
            match lo <= 0.5 && hi >= 0.5 {
                true => ", not sure: the interval holds 50%",
                false => ", sure",
            }
        )
    };
    for (label, idx) in groups(p, &key, &xs) {
        let fails = |i: usize| p.cells[i].failure_rate >= 0.5;
        let observed = idx.windows(2).find(|w| fails(w[0]) != fails(w[1]));
        let line = match observed {
            None => format!(
                "{}: no crossing; every cell {}.",
                esc(&label),
                if fails(idx[0]) { "fails" } else { "survives" }
            ),
            Some(w) => format!(
                "{}: {} at {}; {} at {}. The boundary lies between them.",
                esc(&label),
                if fails(w[0]) { "fails" } else { "survives" },
                cell(w[0]),
                if fails(w[1]) { "fails" } else { "survives" },
                cell(w[1]),
            ),
        };
        s.push_str(&format!(
            "<li>{line} {}</li>\n",
            model_boundary(p, &key, &idx)
        ));
    }
    s.push_str(&format!(
        "</ul>\n<p class=\"note\">Sure means the Wilson interval excludes 50%. For a finer answer, bisect between the two cells: <code>zerowin boundary {} --param {} --range LO..HI --trials 5</code> (with <code>--set</code> for the other swept keys).</p>\n",
        esc(&p.results[0].scenario.path.display().to_string()),
        esc(&key)
    ));
    s
}

/// Where the model's predicted survival flips in a group, and whether it agrees.
fn model_boundary(p: &Page, key: &str, idx: &[usize]) -> String {
    let said = |i: usize| p.cells[i].predicted().map(|pr| pr.survives);
    if idx.iter().any(|&i| said(i).is_none()) {
        return String::new();
    }
    let at = |i: usize| esc(p.cells[i].params.get(key).map_or("?", String::as_str));
    let right = idx
        .iter()
        .filter(|&&i| {
            p.cells[i]
                .model
                .as_ref()
                .and_then(|m| m.check.as_ref())
                .is_some_and(|k| k.survival_right)
        })
        .count();
    let flip = idx.windows(2).find(|w| said(w[0]) != said(w[1]));
    let text = match flip {
        Some(w) => format!("The model puts it between {} and {}", at(w[0]), at(w[1])),
        None => "The model predicts no crossing".to_string(),
    };
    format!(
        "<b>{text}</b>; it called {right} of {} cells right.",
        idx.len()
    )
}

fn model_section(p: &Page) -> String {
    let Some(acc) = Accuracy::of(&p.cells) else {
        return String::new();
    };
    let pct = |e: Option<f64>| e.map_or("-".into(), |e| format!("{:.0}%", e * 100.0));
    let mut s = format!(
        "<h2>Model</h2>\n<p>T = T0 + C / (S − D), every quantity from calibration runs apart from these trials (docs/comparing.md, \"The model\"). Survival called right in <b>{} of {}</b> cells; where both the model and the trials failed ({} cells), the error of T against the observed median: median {}, largest {}, {} of {} within 25%.</p>\n<ul>\n",
        acc.survival_right,
        acc.cells,
        acc.timed,
        pct(acc.median_abs_error),
        pct(acc.max_abs_error),
        acc.within_25,
        acc.timed
    );
    for (i, c) in p.cells.iter().enumerate() {
        let why = match c.model.as_ref().map(|m| &m.forecast) {
            Some(Forecast::Predicted(pr)) => pr.why.clone(),
            Some(Forecast::NotModelled { why }) => format!("not modelled: {why}"),
            None => continue,
        };
        s.push_str(&format!("<li>cell {}: {}</li>\n", i + 1, esc(&why)));
    }
    s + "</ul>\n"
}

/// A file as the page links it: relative inside DIR, else an absolute address.
fn link(file: &Path, dir: &Path) -> String {
    let abs = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    match abs.strip_prefix(dir) {
        Ok(rel) => esc(&rel.display().to_string()),
        Err(_) => esc(&format!("file://{}", abs.display())),
    }
}

fn trials_section(p: &Page, dir: &Path) -> String {
    let mut s = String::from("<h2>Trials</h2>\n");
    let mut rows = Vec::new();
    let mut timelines = String::new();
    for (i, r) in p.results.iter().enumerate() {
        for t in &r.records {
            let obs = t.observation.as_ref();
            let plot = obs.and_then(|o| o.plot_file.as_deref());
            let pcap = obs.and_then(|o| o.pcap_file.as_deref());
            rows.push(vec![
                (i + 1).to_string(),
                t.trial.to_string(),
                esc(&t.outcome.to_string()),
                t.time_to_failure_us
                    .map_or("-".into(), |u| format!("{:.2}", u as f64 / 1e3)),
                obs.and_then(|o| o.kernel.as_ref())
                    .map_or("-".into(), |k| esc(&super::kernel::cell(k))),
                plot.map_or("-".into(), |f| {
                    format!("<a href=\"{}\">timeline</a>", link(f, dir))
                }),
                pcap.map_or("-".into(), |f| {
                    format!("<a href=\"{}\">pcap</a>", link(f, dir))
                }),
            ]);
            if let Some(f) = plot {
                timelines.push_str(&format!(
                    "<h3>Cell {} trial {}</h3>\n<img src=\"{}\" alt=\"timeline of trial {}\">\n",
                    i + 1,
                    t.trial,
                    link(f, dir),
                    t.trial
                ));
            }
        }
    }
    s.push_str(&table(
        &[
            "cell",
            "trial",
            "outcome",
            "time to failure ms",
            "RSTs (the kernel's reasons)",
            "timeline",
            "pcap",
        ],
        &rows,
    ));
    if rows.iter().all(|r| r[6] == "-") {
        s.push_str(
            "<p class=\"note\">No pcaps: run with <code>--pcap DIR</code> to keep them.</p>\n",
        );
    }
    if !timelines.is_empty() {
        s.push_str("<h2>Timelines</h2>\n<p class=\"note\">Each trial's wire and socket queues on one time axis (docs/observation.md, Plots).</p>\n");
        s.push_str(&timelines);
    }
    s
}
