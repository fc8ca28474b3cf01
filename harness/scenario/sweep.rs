//! Sweeps: one scenario file, many cells.
//!
//! A `[sweep]` table lists scenario keys and the values each takes
//! (`client.rcvbuf = [4096, 16384]`, or a range `"4096..1048576:x4"`); the grid is
//! their product, in the order the keys are written. `--sweep KEY=V1,V2` and
//! `--set KEY=VALUE` add to it or override it from the command line.
//!
//! A cell is made the only way that checks it exactly as a file is checked: its values
//! are written into the scenario's text, which is then read by [`Scenario::parse_in`].
//! An error in a cell is mapped back to where the value came from: the `[sweep]` line,
//! the `[[expect.cells]]` line, or the flag. `[[expect.cells]]` entries change the
//! `[expect]` of the cells they match, written into the text the same way.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{CellOf, params_label};
use super::{Scenario, ScenarioError};
use crate::settings::{Source, flag_value};

/// The most cells one sweep may have.
pub const MAX_CELLS: usize = 1000;

/// The sections whose keys can be swept. `[[fault]]` entries cannot (they have no
/// name to address them by).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Sender,
    Client,
    Run,
    Net,
    Sysctl,
    Expect,
}

impl Section {
    const ALL: [Section; 6] = [
        Section::Sender,
        Section::Client,
        Section::Run,
        Section::Net,
        Section::Sysctl,
        Section::Expect,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Section::Sender => "sender",
            Section::Client => "client",
            Section::Run => "run",
            Section::Net => "net",
            Section::Sysctl => "sysctl",
            Section::Expect => "expect",
        }
    }

    fn parse(s: &str) -> Result<Section, String> {
        Section::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Section::ALL.iter().map(|x| x.as_str()).collect();
                format!(
                    "`{s}` is not a section that can be swept; use one of {}",
                    names.join(", ")
                )
            })
    }
}

/// `section.key`, a key of one scenario table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyPath {
    pub section: Section,
    pub key: String,
}

impl KeyPath {
    pub fn parse(s: &str) -> Result<KeyPath, String> {
        let (sec, key) = s
            .trim()
            .split_once('.')
            .ok_or_else(|| format!("`{s}` is not a key path like client.rcvbuf"))?;
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`{s}` is not a key path like client.rcvbuf"));
        }
        Ok(KeyPath {
            section: Section::parse(sec.trim())?,
            key: key.to_string(),
        })
    }

    /// A key whose value changes what a trial does, which a boundary search can
    /// probe: any key of [sender], [client], [net] and [sysctl], and run.duration.
    /// Not [expect] (it judges, it does not run) and not the rest of [run]
    /// (run.trials is the probe's own size).
    pub fn parse_parameter(s: &str) -> Result<KeyPath, String> {
        let k = KeyPath::parse(s)?;
        match (k.section, k.key.as_str()) {
            (Section::Sender | Section::Client | Section::Net | Section::Sysctl, _)
            | (Section::Run, "duration") => Ok(k),
            _ => Err(format!(
                "`{s}` is not a scenario parameter a probe can vary; use a key of [sender], [client], [net] or [sysctl], or run.duration (the trials a probe runs are --trials)"
            )),
        }
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.section.as_str(), self.key)
    }
}

/// Where a swept or set value was written, to point errors at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line of the scenario file; `key` as the file writes it ("sweep.client.rcvbuf").
    File { line: usize, key: String },
    /// A flag, as the user typed it ("--sweep client.rcvbuf=1,2").
    Flag(String),
}

/// What a flag asks of every scenario it runs: `--set` fixes a key, `--sweep`
/// sweeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Assign {
    pub key: KeyPath,
    pub values: Vec<toml::Value>,
    /// True for `--sweep`.
    pub sweep: bool,
    /// The flag as typed.
    pub flag: String,
}

impl Assign {
    /// `--set KEY=VALUE`: one value, read as TOML (`5`, `true`, `["1s unlimited"]`) or
    /// else as a string (`1ms`, `naive`).
    pub fn set(s: &str) -> Result<Assign, String> {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
        Ok(Assign {
            key: KeyPath::parse(k)?,
            values: vec![flag_value(v)],
            sweep: false,
            flag: format!("--set {s}"),
        })
    }

    /// `--sweep KEY=V1,V2,...` or `--sweep KEY=LO..HI:xF` / `LO..HI:+STEP`.
    pub fn sweep(s: &str) -> Result<Assign, String> {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not KEY=V1,V2,... or KEY=LO..HI:xF"))?;
        let values = if let Some(r) = range(v.trim())? {
            r
        } else {
            split_top(v).iter().map(|x| flag_value(x)).collect()
        };
        if values.is_empty() || values.len() > MAX_CELLS {
            return Err(format!("`{v}`: a sweep takes 1 to {MAX_CELLS} values"));
        }
        Ok(Assign {
            key: KeyPath::parse(k)?,
            values,
            sweep: true,
            flag: format!("--sweep {s}"),
        })
    }
}

/// Splits at the commas outside brackets, braces and quotes.
fn split_top(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quoted) = (Vec::new(), String::new(), 0i32, false);
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            '[' | '{' if !quoted => depth += 1,
            ']' | '}' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// A number or a duration, the two things a range can step over.
#[derive(Debug, Clone, Copy)]
pub enum Point {
    Int(i64),
    Dur(Duration),
}

impl Point {
    pub fn parse(s: &str) -> Result<Point, String> {
        let s = s.trim();
        if let Ok(n) = s.parse::<i64>() {
            return Ok(Point::Int(n));
        }
        crate::limits::parse_duration(s)
            .map(Point::Dur)
            .map_err(|_| format!("`{s}` is neither a whole number nor a duration like \"2ms\""))
    }

    /// The number, or the duration in nanoseconds.
    pub fn value(self) -> f64 {
        match self {
            Point::Int(n) => n as f64,
            Point::Dur(d) => d.as_nanos() as f64,
        }
    }

    /// `v` (a number, or nanoseconds) as a value of the same kind, rounded to a whole
    /// number or a whole nanosecond.
    pub fn like(self, v: f64) -> toml::Value {
        match self {
            Point::Dur(_) => toml::Value::String(crate::limits::format_duration(
                Duration::from_nanos(v.round() as u64),
            )),
            Point::Int(_) => toml::Value::Integer(v.round() as i64),
        }
    }
}

/// `LO..HI` without a step (`zerowin boundary --range`): both ends of one kind, the
/// low end below the high one.
pub fn bounds(s: &str) -> Result<(Point, Point), String> {
    let (lo, hi) = s
        .split_once("..")
        .ok_or_else(|| format!("`{s}` is not LO..HI (4096..1048576, or 0ms..5ms)"))?;
    let (lo, hi) = (Point::parse(lo)?, Point::parse(hi)?);
    if matches!(lo, Point::Dur(_)) != matches!(hi, Point::Dur(_)) {
        return Err(format!(
            "`{s}`: both ends must be numbers, or both durations"
        ));
    }
    if lo.value() >= hi.value() {
        return Err(format!("`{s}`: the low end must be below the high end"));
    }
    Ok((lo, hi))
}

/// `LO..HI:xF` (times F) or `LO..HI:+STEP` (plus STEP), both ends included; None
/// when `s` is not a range.
pub fn range(s: &str) -> Result<Option<Vec<toml::Value>>, String> {
    let Some((lo, rest)) = s.split_once("..") else {
        return Ok(None);
    };
    let (hi, step) = rest.split_once(':').ok_or_else(|| {
        format!("`{s}`: a range needs a step, LO..HI:xF (times F) or LO..HI:+STEP")
    })?;
    let (lo, hi) = (Point::parse(lo)?, Point::parse(hi)?);
    let is_dur = matches!(lo, Point::Dur(_));
    if is_dur != matches!(hi, Point::Dur(_)) {
        return Err(format!(
            "`{s}`: both ends must be numbers, or both durations"
        ));
    }
    let (a, b) = (lo.value(), hi.value());
    if a > b {
        return Err(format!("`{s}`: the low end is above the high end"));
    }
    let next: Box<dyn Fn(f64) -> f64> = if let Some(f) = step.strip_prefix('x') {
        let f: f64 = f
            .trim()
            .parse()
            .ok()
            .filter(|f: &f64| *f > 1.0 && f.is_finite())
            .ok_or_else(|| format!("`{s}`: the factor after x must be a number above 1"))?;
        if a <= 0.0 {
            return Err(format!("`{s}`: a range by a factor must start above 0"));
        }
        Box::new(move |v| v * f)
    } else if let Some(d) = step.strip_prefix('+') {
        let d = Point::parse(d)?.value();
        if d <= 0.0 {
            return Err(format!("`{s}`: the step must be above 0"));
        }
        Box::new(move |v| v + d)
    } else {
        return Err(format!(
            "`{s}`: the step is xF (times F) or +STEP, e.g. 4096..65536:x2 or 0ms..5ms:+1ms"
        ));
    };
    let mut out: Vec<toml::Value> = Vec::new();
    let mut v = a;
    while v <= b * (1.0 + 1e-9) {
        if out.len() == MAX_CELLS {
            return Err(format!("`{s}`: more than {MAX_CELLS} values"));
        }
        let cell = lo.like(v);
        if out.last().is_some_and(|prev| same(prev, &cell)) {
            return Err(format!(
                "`{s}`: the step adds less than one new value ({} twice, after rounding); use a larger step",
                show(&cell)
            ));
        }
        out.push(cell);
        v = next(v);
    }
    // Both ends are in the range, even when the steps never land on the high one.
    let high = hi.like(b);
    if !out.last().is_some_and(|last| same(last, &high)) {
        if out.len() == MAX_CELLS {
            return Err(format!("`{s}`: more than {MAX_CELLS} values"));
        }
        out.push(high);
    }
    Ok(Some(out))
}

/// A value as a cell shows it: strings without quotes.
pub fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether two values are the same setting: equal as shown, or equal durations.
fn same(a: &toml::Value, b: &toml::Value) -> bool {
    let (x, y) = (show(a), show(b));
    x == y
        || matches!(
            (crate::limits::parse_duration(&x), crate::limits::parse_duration(&y)),
            (Ok(p), Ok(q)) if p == q
        )
}

/// One swept key and its values.
#[derive(Debug, Clone)]
struct Param {
    key: KeyPath,
    values: Vec<toml::Value>,
    origin: Origin,
}

/// One edit of the text: `key = value`, and where it came from.
#[derive(Debug, Clone)]
struct Edit {
    key: KeyPath,
    value: toml::Value,
    origin: Origin,
}

/// The swept keys of a file: `[sweep]` and `[[expect.cells]]`, kept with their spans.
#[derive(Deserialize, Default)]
struct SweepDoc {
    #[serde(default)]
    sweep: BTreeMap<String, BTreeMap<String, Spanned<toml::Value>>>,
    expect: Option<ExpectCells>,
}

#[derive(Deserialize, Default)]
struct ExpectCells {
    #[serde(default)]
    cells: Vec<BTreeMap<String, Spanned<toml::Value>>>,
}

/// An `[[expect.cells]]` entry: the cells it matches and the `[expect]` keys it sets.
struct Rule {
    matches: Vec<(KeyPath, Vec<toml::Value>)>,
    sets: Vec<Edit>,
    line: usize,
}

/// The spans of every key a file writes, per table, to replace a value in place.
#[derive(Deserialize, Default)]
struct SpanDoc {
    sender: Option<BTreeMap<String, Spanned<toml::Value>>>,
    client: Option<BTreeMap<String, Spanned<toml::Value>>>,
    run: Option<BTreeMap<String, Spanned<toml::Value>>>,
    net: Option<BTreeMap<String, Spanned<toml::Value>>>,
    sysctl: Option<BTreeMap<String, Spanned<toml::Value>>>,
    expect: Option<BTreeMap<String, Spanned<toml::Value>>>,
}

impl SpanDoc {
    fn table(&self, s: Section) -> Option<&BTreeMap<String, Spanned<toml::Value>>> {
        match s {
            Section::Sender => self.sender.as_ref(),
            Section::Client => self.client.as_ref(),
            Section::Run => self.run.as_ref(),
            Section::Net => self.net.as_ref(),
            Section::Sysctl => self.sysctl.as_ref(),
            Section::Expect => self.expect.as_ref(),
        }
    }
}

/// Reads `[sweep]` (each key a list of values or a range string).
fn file_params(src: Source, doc: &SweepDoc) -> Result<Vec<Param>, ScenarioError> {
    let mut spans: Vec<(usize, Param)> = Vec::new();
    for (sec, keys) in &doc.sweep {
        for (k, v) in keys {
            let name = format!("sweep.{sec}.{k}");
            let err = |m: String| src.err(v.span(), &name, m);
            let key = KeyPath::parse(&format!("{sec}.{k}")).map_err(err)?;
            let values = match v.get_ref() {
                toml::Value::Array(a) if !a.is_empty() && a.len() <= MAX_CELLS => a.clone(),
                toml::Value::String(s) => range(s).map_err(err)?.ok_or_else(|| {
                    err(format!(
                        "`{s}` is not a list of values or a range like \"4096..65536:x2\""
                    ))
                })?,
                _ => {
                    return Err(err(format!(
                        "expected a list of 1 to {MAX_CELLS} values, or a range like \"4096..65536:x2\""
                    )));
                }
            };
            let line = src.line_of(v.span().start);
            spans.push((
                v.span().start,
                Param {
                    key,
                    values,
                    origin: Origin::File { line, key: name },
                },
            ));
        }
    }
    // The grid follows the order the file writes its keys in.
    spans.sort_by_key(|(at, _)| *at);
    Ok(spans.into_iter().map(|(_, p)| p).collect())
}

/// Reads `[[expect.cells]]`.
fn rules(src: Source, doc: &SweepDoc) -> Result<Vec<Rule>, ScenarioError> {
    let Some(e) = &doc.expect else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in &e.cells {
        let first = entry.values().map(|v| v.span().start).min().unwrap_or(0);
        let line = src.line_of(first);
        let mut rule = Rule {
            matches: Vec::new(),
            sets: Vec::new(),
            line,
        };
        for (k, v) in entry {
            let name = format!("expect.cells.{k}");
            if k == "match" {
                let toml::Value::Table(t) = v.get_ref() else {
                    return Err(src.err(
                        v.span(),
                        &name,
                        "expected a table of swept keys, { \"client.delay\" = [\"5ms\"] }",
                    ));
                };
                for (mk, mv) in t {
                    let key = KeyPath::parse(mk).map_err(|m| src.err(v.span(), &name, m))?;
                    let vals = match mv {
                        toml::Value::Array(a) => a.clone(),
                        x => vec![x.clone()],
                    };
                    rule.matches.push((key, vals));
                }
            } else {
                rule.sets.push(Edit {
                    key: KeyPath {
                        section: Section::Expect,
                        key: k.clone(),
                    },
                    value: v.get_ref().clone(),
                    origin: Origin::File {
                        line: src.line_of(v.span().start),
                        key: name,
                    },
                });
            }
        }
        if rule.matches.is_empty() {
            return Err(ScenarioError {
                path: src.path.to_path_buf(),
                line,
                key: Some("expect.cells.match".into()),
                message: "is required: the swept values this entry applies to".into(),
            });
        }
        out.push(rule);
    }
    Ok(out)
}

/// A checked sweep: the fixed edits, the swept keys, and the rules.
struct Plan {
    sets: Vec<Edit>,
    params: Vec<Param>,
    rules: Vec<Rule>,
}

fn plan(src: Source, flags: &[Assign]) -> Result<Plan, ScenarioError> {
    let doc: SweepDoc = toml::from_str(src.text).map_err(|e| ScenarioError {
        path: src.path.to_path_buf(),
        line: e.span().map_or(0, |r| src.line_of(r.start)),
        key: Some("sweep".into()),
        message: format!(
            "{}; [sweep] keys are written section.key = [values], and [[expect.cells]] entries are tables",
            e.message().trim()
        ),
    })?;
    let mut params = file_params(src, &doc)?;
    let rules = rules(src, &doc)?;
    let mut sets = Vec::new();
    for a in flags {
        params.retain(|p| p.key != a.key);
        sets.retain(|e: &Edit| e.key != a.key);
        let origin = Origin::Flag(a.flag.clone());
        if a.sweep {
            params.push(Param {
                key: a.key.clone(),
                values: a.values.clone(),
                origin,
            });
        } else {
            sets.push(Edit {
                key: a.key.clone(),
                value: a.values[0].clone(),
                origin,
            });
        }
    }
    let cells: usize = params.iter().map(|p| p.values.len()).product();
    if cells > MAX_CELLS {
        return Err(ScenarioError {
            path: src.path.to_path_buf(),
            line: 0,
            key: Some("sweep".into()),
            message: format!("the grid has {cells} cells, more than {MAX_CELLS}"),
        });
    }
    for r in &rules {
        if let Some((k, _)) = r
            .matches
            .iter()
            .find(|(k, _)| !params.iter().any(|p| &p.key == k) && !sets.iter().any(|e| &e.key == k))
        {
            return Err(ScenarioError {
                path: src.path.to_path_buf(),
                line: r.line,
                key: Some("expect.cells.match".into()),
                message: format!("matches on `{k}`, which is neither swept nor set"),
            });
        }
    }
    Ok(Plan {
        sets,
        params,
        rules,
    })
}

/// Every cell of the grid: one value per swept key, in order.
fn grid(params: &[Param]) -> Vec<Vec<usize>> {
    let mut cells = vec![Vec::new()];
    for p in params {
        cells = cells
            .into_iter()
            .flat_map(|c| {
                (0..p.values.len()).map(move |i| {
                    let mut c = c.clone();
                    c.push(i);
                    c
                })
            })
            .collect();
    }
    cells
}

/// Where each line of an edited text came from.
#[derive(Debug, Clone, Copy)]
enum LineFrom {
    Orig(usize),
    Edit(usize),
}

/// Writes `edits` into `text`: a key the file has gets its value replaced in place
/// (a value written over several lines keeps its line count); a key it lacks is a
/// new line under its table's header, or a new table at the end.
fn apply(text: &str, spans: &SpanDoc, edits: &[Edit]) -> Result<(String, Vec<LineFrom>), String> {
    let mut replaced: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let mut inserts: Vec<(Section, usize)> = Vec::new();
    for (i, e) in edits.iter().enumerate() {
        match spans.table(e.key.section).and_then(|t| t.get(&e.key.key)) {
            Some(v) => {
                let r = v.span();
                let newlines = text[r.clone()].matches('\n').count();
                replaced.push((r, format!("{}{}", e.value, "\n".repeat(newlines))));
            }
            None => inserts.push((e.key.section, i)),
        }
    }
    replaced.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = text.to_string();
    for (r, s) in replaced {
        out.replace_range(r, &s);
    }
    let mut lines: Vec<(String, LineFrom)> = out
        .lines()
        .enumerate()
        .map(|(n, l)| (l.to_string(), LineFrom::Orig(n + 1)))
        .collect();
    for (section, i) in inserts {
        let line = format!("{} = {}", edits[i].key.key, edits[i].value);
        match header_index(&lines, section) {
            Some(h) => lines.insert(h + 1, (line, LineFrom::Edit(i))),
            None if spans.table(section).is_some() => {
                return Err(format!(
                    "[{}] is written inline, so `{}` cannot be added to it; write it as a [{}] table",
                    section.as_str(),
                    edits[i].key,
                    section.as_str()
                ));
            }
            None => {
                lines.push((format!("[{}]", section.as_str()), LineFrom::Edit(i)));
                lines.push((line, LineFrom::Edit(i)));
            }
        }
    }
    let text = lines.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>();
    Ok((
        text.join("\n") + "\n",
        lines.into_iter().map(|(_, f)| f).collect(),
    ))
}

/// The index of the `[section]` header line.
fn header_index(lines: &[(String, LineFrom)], s: Section) -> Option<usize> {
    lines.iter().position(|(l, _)| {
        let l = l.split('#').next().unwrap_or("").trim();
        let inner: String = l.chars().filter(|c| !c.is_whitespace()).collect();
        inner == format!("[{}]", s.as_str())
    })
}

/// "in the cell K=V: message" (just the message when nothing is swept).
fn in_cell(cell: &str, message: &str) -> String {
    match cell.is_empty() {
        true => message.to_string(),
        false => format!("in the cell {cell}: {message}"),
    }
}

/// The error at a value's origin.
fn at_origin(path: &Path, origin: &Origin, cell: &str, message: &str) -> ScenarioError {
    let message = in_cell(cell, message);
    match origin {
        Origin::File { line, key } => ScenarioError {
            path: path.to_path_buf(),
            line: *line,
            key: Some(key.clone()),
            message,
        },
        Origin::Flag(f) => ScenarioError {
            path: PathBuf::from(f),
            line: 0,
            key: None,
            message: format!("{message} (in {})", path.display()),
        },
    }
}

/// An error in a cell's text, pointed at where the wrong value came from.
fn map_error(
    e: ScenarioError,
    path: &Path,
    edits: &[Edit],
    lines: &[LineFrom],
    cell: &str,
) -> ScenarioError {
    let key = e.key.clone().unwrap_or_default();
    let message = match &e.key {
        Some(k) => format!("{k}: {}", e.message),
        None => e.message.clone(),
    };
    if let Some(ed) = edits.iter().rev().find(|ed| ed.key.to_string() == key) {
        return at_origin(path, &ed.origin, cell, &message);
    }
    let line = match e.line.checked_sub(1).and_then(|i| lines.get(i)) {
        Some(LineFrom::Edit(i)) => return at_origin(path, &edits[*i].origin, cell, &message),
        Some(LineFrom::Orig(n)) => *n,
        None => e.line,
    };
    ScenarioError {
        line,
        message: in_cell(cell, &e.message),
        ..e
    }
}

/// A file-name-safe form of the cell's values: "rcvbuf4096-delay1ms".
pub fn slug(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| {
            let k = k.rsplit('.').next().unwrap_or(k);
            let s: String = format!("{k}{v}")
                .chars()
                .map(|c| match c {
                    'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' => c,
                    _ => '_',
                })
                .collect();
            s.chars().take(40).collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The edits that make one cell (the flags' sets, the cell's swept values, then the
/// `[[expect.cells]]` rules that match it), and the cell's swept values as text.
fn cell_edits(plan: &Plan, choice: &[usize]) -> (Vec<Edit>, Vec<(String, String)>) {
    let mut edits = plan.sets.clone();
    let mut params = Vec::new();
    for (p, &i) in plan.params.iter().zip(choice) {
        edits.push(Edit {
            key: p.key.clone(),
            value: p.values[i].clone(),
            origin: p.origin.clone(),
        });
        params.push((p.key.to_string(), show(&p.values[i])));
    }
    for r in &plan.rules {
        // A matched key has the cell's swept value, or the value a flag set.
        let hit = r.matches.iter().all(|(k, vals)| {
            let value = match plan.params.iter().position(|p| &p.key == k) {
                Some(pi) => &plan.params[pi].values[choice[pi]],
                None => {
                    &plan
                        .sets
                        .iter()
                        .rev()
                        .find(|e| &e.key == k)
                        .expect("checked in plan")
                        .value
                }
            };
            vals.iter().any(|v| same(v, value))
        });
        if hit {
            for e in &r.sets {
                // A flag's --set wins over the file; of two rules, the later.
                if plan.sets.iter().any(|x| x.key == e.key) {
                    continue;
                }
                edits.retain(|x| x.key != e.key);
                edits.push(e.clone());
            }
        }
    }
    (edits, params)
}

/// Every cell of a scenario's sweep (one cell when nothing is swept), each checked as
/// a file is. `path` names the file, `dir` is its `{dir}`.
pub fn expand(
    path: &Path,
    text: &str,
    exe: &Path,
    dir: &Path,
    flags: &[Assign],
) -> Result<Vec<Scenario>, ScenarioError> {
    // The file alone first: an error in it is reported as it always was.
    let base = Scenario::parse_in(path, text, exe, dir)?;
    let src = Source { path, text };
    let plan = plan(src, flags)?;
    if plan.sets.is_empty() && plan.params.is_empty() {
        return Ok(vec![base]);
    }
    if let Some((key, line)) = &base.expect.increasing
        && !plan.params.iter().any(|p| &p.key.to_string() == key)
    {
        return Err(ScenarioError {
            path: path.to_path_buf(),
            line: *line,
            key: Some("expect.increasing".into()),
            message: format!(
                "`{key}` is not swept; it names the [sweep] key the time to failure rises with"
            ),
        });
    }
    let spans: SpanDoc = toml::from_str(text).map_err(|e| ScenarioError {
        path: path.to_path_buf(),
        line: 0,
        key: None,
        message: e.message().to_string(),
    })?;
    let cells = grid(&plan.params);
    let total = cells.len();
    let mut out = Vec::with_capacity(total);
    for (index, choice) in cells.into_iter().enumerate() {
        let (edits, params) = cell_edits(&plan, &choice);
        let cell = params_label(&params);
        let (cell_text, lines) = apply(text, &spans, &edits)
            .map_err(|m| at_origin(path, &edits[edits.len() - 1].origin, &cell, &m))?;
        let mut sc = Scenario::parse_in(path, &cell_text, exe, dir)
            .map_err(|e| map_error(e, path, &edits, &lines, &cell))?;
        let mut all: Vec<(String, String)> = plan
            .sets
            .iter()
            .map(|e| (e.key.to_string(), show(&e.value)))
            .collect();
        all.extend(params.iter().cloned());
        if !params.is_empty() {
            sc.stem = format!("{}-{}", sc.name, slug(&params));
            sc.cell_of = Some(CellOf { index, total });
        }
        sc.params = all;
        sc.swept = params.iter().map(|(k, _)| k.clone()).collect();
        out.push(sc);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "description = \"t\"\n[sender]\nsndbuf = 4096\n[client]\nstrategy = \"naive\"\nrcvbuf = 4096\n[run]\nduration = \"1s\"\n[expect]\noutcome = \"reset\"\n";

    fn expand_text(text: &str, flags: &[Assign]) -> Result<Vec<Scenario>, ScenarioError> {
        expand(
            Path::new("s.toml"),
            text,
            Path::new("/bin/false"),
            Path::new("."),
            flags,
        )
    }

    #[test]
    fn ranges_by_factor_and_by_step() {
        let r = range("4096..65536:x4").unwrap().unwrap();
        assert_eq!(
            r.iter().map(show).collect::<Vec<_>>(),
            ["4096", "16384", "65536"]
        );
        let r = range("0ms..2ms:+500us").unwrap().unwrap();
        assert_eq!(
            r.iter().map(show).collect::<Vec<_>>(),
            ["0ns", "500us", "1ms", "1500us", "2ms"]
        );
        assert!(range("1..5").unwrap_err().contains("needs a step"));
        assert!(range("0..5:x2").unwrap_err().contains("above 0"));
        assert!(range("5..1:+1").unwrap_err().contains("above the high end"));
        assert!(range("1ms..5:+1").unwrap_err().contains("both ends"));
        assert_eq!(range("abc").unwrap(), None);
        // Both ends, always; and never one cell twice.
        let r = range("1ms..2ms:x1e308").unwrap().unwrap();
        assert_eq!(r.iter().map(show).collect::<Vec<_>>(), ["1ms", "2ms"]);
        let r = range("4096..65536:x3").unwrap().unwrap();
        assert_eq!(
            r.iter().map(show).collect::<Vec<_>>(),
            ["4096", "12288", "36864", "65536"]
        );
        let e = range("4096..4098:x1.0001").unwrap_err();
        assert!(e.contains("less than one new value (4096 twice"), "{e}");
        let e = range("1..10000:x1.0000001").unwrap_err();
        assert!(e.contains("less than one new value"), "{e}");
    }

    #[test]
    fn flags_split_at_top_level_commas() {
        let a = Assign::sweep("sender.phases=[\"1s unlimited\"],[\"2s unlimited\", \"1s 10/s\"]")
            .unwrap();
        assert_eq!(a.values.len(), 2);
        let a = Assign::sweep("client.delay=0ms, 1ms,5ms").unwrap();
        assert_eq!(
            a.values.iter().map(show).collect::<Vec<_>>(),
            ["0ms", "1ms", "5ms"]
        );
        assert!(Assign::sweep("rcvbuf=1").unwrap_err().contains("key path"));
        assert!(
            Assign::set("fault.at=1")
                .unwrap_err()
                .contains("not a section that can be swept")
        );
    }

    #[test]
    fn a_sweep_table_makes_one_checked_cell_per_point_of_the_grid() {
        let text = format!(
            "{BASE}[sweep]\nclient.rcvbuf = [4096, 8192]\nclient.delay = [\"0ms\", \"1ms\", \"2ms\"]\n"
        );
        let v = expand_text(&text, &[]).unwrap();
        assert_eq!(v.len(), 6);
        assert_eq!(v[0].client.rcvbuf, Some(4096));
        assert_eq!(v[5].client.rcvbuf, Some(8192));
        assert_eq!(v[5].client.delay, Duration::from_millis(2));
        assert_eq!(v[5].stem, "s-rcvbuf8192-delay2ms");
        assert_eq!(
            v[5].params,
            [
                ("client.rcvbuf".to_string(), "8192".to_string()),
                ("client.delay".to_string(), "2ms".to_string())
            ]
        );
        assert_eq!(v[5].cell_of, Some(CellOf { index: 5, total: 6 }));
        let stems: std::collections::HashSet<_> = v.iter().map(|s| s.stem.clone()).collect();
        assert_eq!(stems.len(), 6, "no cell overwrites another's files");
    }

    #[test]
    fn a_bad_cell_names_the_sweep_line_or_the_flag() {
        let text = format!("{BASE}[sweep]\nclient.rcvbuf = [4096, 1]\n");
        let e = expand_text(&text, &[]).unwrap_err().to_string();
        assert!(
            e.starts_with("s.toml:12: sweep.client.rcvbuf: in the cell client.rcvbuf=1: client.rcvbuf: 1 is out of range"),
            "{e}"
        );
        let f = Assign::sweep("client.delay=1ms,fast").unwrap();
        let e = expand_text(BASE, &[f]).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "--sweep client.delay=1ms,fast: in the cell client.delay=fast: client.delay:"
            ),
            "{e}"
        );
        assert!(e.ends_with("(in s.toml)"), "{e}");
        let f = Assign::set("client.recv_sze=3").unwrap();
        let e = expand_text(BASE, &[f]).unwrap_err().to_string();
        assert!(e.starts_with("--set client.recv_sze=3:"), "{e}");
        assert!(e.contains("unknown key"), "{e}");
    }

    #[test]
    fn an_error_elsewhere_keeps_its_line_in_the_file() {
        // A swept duration that the file's deadline no longer exceeds: the error is the
        // deadline's, at its own line.
        let text = BASE.replace("duration = \"1s\"", "duration = \"1s\"\ndeadline = \"3s\"");
        let f = Assign::sweep("run.duration=1s,4s").unwrap();
        let e = expand_text(&text, &[f]).unwrap_err().to_string();
        assert!(
            e.starts_with("s.toml:9: run.deadline: in the cell run.duration=4s"),
            "{e}"
        );
    }

    #[test]
    fn set_adds_a_key_the_file_lacks_and_fixes_a_swept_one() {
        let text = format!("{BASE}[sweep]\nclient.rcvbuf = [4096, 8192]\n");
        let v = expand_text(
            &text,
            &[
                Assign::set("client.rcvbuf=16384").unwrap(),
                Assign::set("client.delay=3ms").unwrap(),
                Assign::set("net.topology=veth").unwrap(),
                Assign::set("net.mtu=1500").unwrap(),
            ],
        )
        .unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].client.rcvbuf, Some(16384));
        assert_eq!(v[0].client.delay, Duration::from_millis(3));
        assert_eq!(v[0].cell_of, None);
        assert_eq!(v[0].params.len(), 4);
        assert_eq!(v[0].net.mtu, 1500);
    }

    #[test]
    fn expect_cells_change_the_expectation_of_the_cells_they_match() {
        let text = format!(
            "{}[[expect.cells]]\nmatch = {{ \"client.delay\" = [\"0ms\"] }}\noutcome = \"survived\"\n[sweep]\nclient.delay = [\"0ms\", \"5ms\"]\n",
            BASE.replace(
                "outcome = \"reset\"\n",
                "outcome = \"reset\"\nwithin = \"1s\"\n"
            )
        );
        let e = expand_text(&text, &[]).unwrap_err().to_string();
        // within does not fit a survived cell: the error says which cell.
        assert!(e.contains("in the cell client.delay=0ms"), "{e}");
        let text = text.replace("within = \"1s\"\n", "");
        let v = expand_text(&text, &[]).unwrap();
        assert_eq!(v[0].expect.outcome, crate::record::Outcome::Survived);
        assert_eq!(v[1].expect.outcome, crate::record::Outcome::Reset);
        let bad = text.replace("\"client.delay\" = [", "\"client.rcvbuf\" = [");
        let e = expand_text(&bad, &[]).unwrap_err().to_string();
        assert!(
            e.contains("matches on `client.rcvbuf`, which is neither swept nor set"),
            "{e}"
        );
    }

    #[test]
    fn a_flag_wins_over_an_expect_cells_rule_and_a_rule_matches_a_set_key() {
        let text = format!(
            "{}[[expect.cells]]\nmatch = {{ \"client.delay\" = [\"5ms\"] }}\noutcome = \"survived\"\n[sweep]\nclient.delay = [\"0ms\", \"5ms\"]\n",
            BASE
        );
        let set = Assign::set("expect.outcome=eof").unwrap();
        let v = expand_text(&text, &[set]).unwrap();
        assert!(
            v.iter()
                .all(|c| c.expect.outcome == crate::record::Outcome::Eof)
        );
        // With the swept key set, the rule matches on the set value.
        let delay = Assign::set("client.delay=5ms").unwrap();
        let v = expand_text(&text, &[delay]).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].expect.outcome, crate::record::Outcome::Survived);
    }

    #[test]
    fn a_scenario_without_a_sweep_is_one_cell_as_before() {
        let v = expand_text(BASE, &[]).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].stem, "s-naive");
        assert!(v[0].params.is_empty());
    }
}
