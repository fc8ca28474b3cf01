//! Scenario files: the user's interface. A scenario is TOML with four sections,
//! `[sender]`, `[client]`, `[run]` and `[expect]`; docs/scenario-format.md has the reference table.
//!
//! Parsing is two steps: serde reads the text into raw structs that keep each value's
//! position (`Spanned`), then [`Scenario::from_raw`] checks every value and fills in
//! defaults. Every error names the file, the line and the key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::fault;
use crate::limits::{self, Dur, Int};
use crate::net::NetConfig;
use crate::record::Outcome;
use crate::sender::{self, Sender, SenderConfig};
use crate::settings::{Keys, Source};
use crate::strategy::{self, ClientParams, Strategy};

pub use crate::limits::{parse_duration, parse_sample};

pub use crate::settings::ScenarioError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    description: Option<String>,
    /// Read by the sender it names: each sender owns its keys.
    sender: Option<BTreeMap<String, Spanned<toml::Value>>>,
    /// `strategy` is read here; the rest by the strategy it names.
    client: Spanned<BTreeMap<String, Spanned<toml::Value>>>,
    run: Option<RawRun>,
    sysctl: Option<Spanned<RawSysctl>>,
    /// Read by [`crate::net`].
    net: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    expect: Spanned<RawExpect>,
    /// The fault schedule, read by [`crate::fault`].
    fault: Option<Vec<BTreeMap<String, Spanned<toml::Value>>>>,
    /// Read by [`crate::sweep`]; each cell is this file with the values written in.
    #[allow(dead_code)]
    sweep: Option<toml::Value>,
}

/// Per-namespace kernel settings (net.ipv4.*), applied inside the trial's namespace.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSysctl {
    tcp_rmem: Option<Spanned<String>>,
    tcp_wmem: Option<Spanned<String>>,
    tcp_shrink_window: Option<Spanned<i64>>,
    tcp_retries2: Option<Spanned<i64>>,
    tcp_keepalive_time: Option<Spanned<i64>>,
    tcp_keepalive_intvl: Option<Spanned<i64>>,
    tcp_keepalive_probes: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRun {
    duration: Option<Spanned<String>>,
    trials: Option<Spanned<i64>>,
    deadline: Option<Spanned<String>>,
    sample: Option<Spanned<String>>,
    predict: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    outcome: Spanned<String>,
    within: Option<Spanned<String>>,
    bytes_lost: Option<Spanned<i64>>,
    lost: Option<Spanned<toml::Value>>,
    duplicates: Option<Spanned<i64>>,
    reordered: Option<Spanned<i64>>,
    max_spool_bytes: Option<Spanned<i64>>,
    min_dropped: Option<Spanned<i64>>,
    drained_within: Option<Spanned<String>>,
    sender_bind: Option<Spanned<String>>,
    since_fault: Option<Spanned<Vec<String>>>,
    keepalive_probes: Option<Spanned<i64>>,
    final_state: Option<Spanned<String>>,
    increasing: Option<Spanned<String>>,
    /// `[[expect.cells]]`, read by [`crate::sweep`].
    #[allow(dead_code)]
    cells: Option<toml::Value>,
}

/// `expect.lost`: a count, or exactly what the sender dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    Exactly(u64),
    /// Equal to the sender's count of messages dropped to make room.
    Dropped,
}

/// What a scenario claims about every one of its trials.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub outcome: Outcome,
    /// The first failure comes no later than this after connect.
    pub within: Option<Duration>,
    /// bytes_sent - bytes_read equals this exactly.
    pub bytes_lost: Option<i64>,
    /// Messages lost (gaps the client saw), for a framed sender and client.
    pub lost: Option<Lost>,
    /// Messages delivered twice to the client.
    pub duplicates: Option<u64>,
    /// Messages delivered out of order.
    pub reordered: Option<u64>,
    /// The spool never held more than this many bytes.
    pub max_spool_bytes: Option<u64>,
    /// A framed sender dropped at least this many messages to make room, in every
    /// trial: the claim that its queue overflowed at all.
    pub min_dropped: Option<u64>,
    /// After the producer's phases ended, its backlog was empty within this long.
    pub drained_within: Option<Duration>,
    /// The bind() of every fault that starts a sender: "ok" or an errno's name.
    pub sender_bind: Option<String>,
    /// The first failure comes this long (between the two) after the latest fault
    /// applied before it.
    pub since_fault: Option<(Duration, Duration)>,
    /// Keep-alive probes the client sent after the sender's last segment (the wire).
    pub keepalive_probes: Option<u64>,
    /// The client socket's TCP state at the last TCP_INFO sample ("ESTAB", ...).
    pub final_state: Option<String>,
    /// A sweep's claim: the median time to failure rises with this swept key; and
    /// the line that says so.
    pub increasing: Option<(String, usize)>,
}

/// A checked scenario, ready to run.
#[derive(Clone)]
pub struct Scenario {
    /// The file stem.
    pub name: String,
    /// What this scenario's artifact files are named after; unique within a run
    /// (see `session`), the name by default.
    pub stem: String,
    pub path: PathBuf,
    pub description: String,
    pub sender: &'static dyn Sender,
    pub sender_config: SenderConfig,
    pub strategy: &'static dyn Strategy,
    /// True when `reply` was set; otherwise the strategy's default is used.
    pub reply_set: bool,
    pub client: ClientParams,
    pub trials: u32,
    /// `run.predict`: calibrate the model and put its prediction beside each cell.
    pub predict: bool,
    /// TCP_INFO sampling interval; None = off.
    pub sample: Option<Duration>,
    /// net.ipv4.* settings for the trial's namespace, by key (e.g. "tcp_rmem").
    pub sysctls: BTreeMap<String, String>,
    /// The line of the `[sysctl]` header, for errors about it.
    pub sysctl_line: usize,
    pub expect: Expect,
    /// The faults a trial applies, in time order.
    pub faults: fault::Schedule,
    /// What links the client and the sender.
    pub net: NetConfig,
    /// The line of the `[net]` header, for errors about it.
    pub net_line: usize,
    /// The values of this cell of a sweep, and of every `--set`, as `(key, value)`;
    /// empty for a scenario run as written. Every record of the cell carries them.
    pub params: Vec<(String, String)>,
    /// The keys the sweep varies (a subset of `params`' keys).
    pub swept: Vec<String>,
    /// The cell's place in its sweep; None when nothing is swept.
    pub cell_of: Option<CellOf>,
}

/// A cell's values as one label: "client.rcvbuf=4096 client.delay=1ms".
pub fn params_label(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A cell's place in its sweep, for reports that gather the cells again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellOf {
    /// 0-based.
    pub index: usize,
    pub total: usize,
}

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scenario")
            .field("name", &self.name)
            .field("sender", &self.sender.name())
            .field("strategy", &self.strategy.name())
            .field("client", &self.client)
            .field("trials", &self.trials)
            .field("expect", &self.expect)
            .finish()
    }
}

/// Defaults for keys a scenario leaves out.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_DEADLINE_SLACK: Duration = Duration::from_secs(5);
pub const DEFAULT_SAMPLE: Duration = Duration::from_millis(1);

/// "4096 87380 6291456": three byte counts, min <= default <= max.
fn parse_mem_triple(s: &str) -> Result<String, String> {
    let v: Vec<u64> = s
        .split_whitespace()
        .map(|x| x.parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("`{s}` is not three byte counts like \"4096 131072 6291456\""))?;
    let (lo, hi) = (limits::SYSCTL_MEM.min as u64, limits::SYSCTL_MEM.max as u64);
    match v.as_slice() {
        [a, b, c] if a <= b && b <= c && *a >= lo && *c <= hi => Ok(format!("{a} {b} {c}")),
        [_, _, _] => Err(format!("`{s}`: need {lo} <= min <= default <= max <= {hi}")),
        _ => Err(format!(
            "`{s}` is not three byte counts like \"4096 131072 6291456\""
        )),
    }
}

pub use crate::process::resolve_program;

/// Reads a scenario file: only a regular file (a symlink to one is fine), only up to
/// [`limits::SCENARIO_FILE_MAX`], and never blocking on a FIFO or a device.
fn read_bounded(path: &Path) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever. The
    // checks are made on the opened file, so nothing can be swapped in between.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read the scenario: {e}"))?;
    let meta = f
        .metadata()
        .map_err(|e| format!("cannot read the scenario: {e}"))?;
    let t = meta.file_type();
    let kind = if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        None
    };
    if let Some(kind) = kind {
        return Err(format!(
            "is {kind}, not a regular file; a scenario must be a .toml file"
        ));
    }
    let max = limits::SCENARIO_FILE_MAX;
    if meta.len() > max {
        return Err(format!(
            "is {} bytes, more than the {max} bytes a scenario may have",
            meta.len()
        ));
    }
    let mut text = String::new();
    f.take(max + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the scenario: {e}"))?;
    if text.len() as u64 > max {
        return Err(format!("grew past {max} bytes while being read"));
    }
    Ok(text)
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    /// The file as [`Source`] sees it: the one place that turns offsets into lines.
    fn src(&self) -> Source<'_> {
        Source {
            path: self.path,
            text: self.text,
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.src().line_of(offset)
    }

    fn err(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> ScenarioError {
        self.src().err(span, key, message)
    }

    fn int(&self, v: &Spanned<i64>, key: &str, range: Int) -> Result<i64, ScenarioError> {
        range
            .check(*v.get_ref())
            .map_err(|m| self.err(v.span(), key, m))
    }

    fn duration(
        &self,
        v: &Spanned<String>,
        key: &str,
        range: Dur,
    ) -> Result<Duration, ScenarioError> {
        range
            .parse(v.get_ref())
            .map_err(|m| self.err(v.span(), key, m))
    }

    /// The line holding a byte offset.
    fn line_text(&self, offset: usize) -> &str {
        let offset = offset.min(self.text.len());
        let start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        &self.text[start..end]
    }

    /// The `[section]` header of the table a byte offset is in; None at the top level.
    /// The header's own line counts as inside it.
    fn section_at(&self, offset: usize) -> Option<String> {
        let offset = offset.min(self.text.len());
        let end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        self.text[..end]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('[') && l.ends_with(']'))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    }

    /// `section.key` for a value at a byte offset: the key is what stands before `=`
    /// on the value's line.
    fn key_at(&self, offset: usize) -> Option<String> {
        let line = self.line_text(offset);
        let key = line.split_once('=')?.0.trim().trim_matches('"');
        if key.is_empty() || key.starts_with('[') {
            return None;
        }
        Some(match self.section_at(offset) {
            Some(s) => format!("{s}.{key}"),
            None => key.to_string(),
        })
    }

    /// Turns a TOML/serde error into one that names the file, line and key.
    fn toml_error(&self, e: toml::de::Error) -> ScenarioError {
        let msg = e.message().trim().to_string();
        let Some(span) = e.span() else {
            return ScenarioError {
                path: self.path.to_path_buf(),
                line: 0,
                key: missing_key(&msg, None),
                message: humanize(&msg),
            };
        };
        let line = self.line_of(span.start);
        let section = self.section_at(span.start);
        // An unknown table header: serde calls it a field of the table around it.
        if msg.starts_with("unknown field") && self.line_text(span.start).trim().starts_with('[') {
            let name = msg.split('`').nth(1).unwrap_or("?");
            return ScenarioError {
                path: self.path.to_path_buf(),
                line,
                key: None,
                message: format!(
                    "unknown section `[{name}]`; known sections are {}",
                    SECTIONS.join(", ")
                ),
            };
        }
        let key = if msg.starts_with("unknown field") {
            // serde names the key in backticks: "unknown field `recv_sze`, expected ...".
            msg.split('`').nth(1).map(|k| match &section {
                Some(s) => format!("{s}.{k}"),
                None => k.to_string(),
            })
        } else if msg.starts_with("missing field") {
            missing_key(&msg, section.as_deref())
        } else {
            self.key_at(span.start)
        };
        let mut message = humanize(&msg);
        if let Some(range) = key.as_deref().and_then(limits::int_range)
            && message.contains("no key takes a whole number above")
        {
            let n = message.split(' ').next().unwrap_or("?");
            message = format!(
                "{n} is out of range; it must be between {} and {}",
                range.min, range.max
            );
        }
        ScenarioError {
            path: self.path.to_path_buf(),
            line,
            key,
            message,
        }
    }
}

/// The sections a scenario may have, as `list` and errors name them.
const SECTIONS: [&str; 8] = [
    "[sender]",
    "[client]",
    "[run]",
    "[net]",
    "[sysctl]",
    "[[fault]]",
    "[expect]",
    "(and description at the top)",
];

/// The key a "missing field `x`" error is about, inside `section` when the error
/// is about one table. A missing section is named alone: `expect`, not `client.expect`.
fn missing_key(msg: &str, section: Option<&str>) -> Option<String> {
    let k = msg.split('`').nth(1)?;
    let is_section = SECTIONS
        .iter()
        .any(|s| s.trim_matches(|c| c == '[' || c == ']') == k);
    Some(match section {
        Some(s) if !is_section => format!("{s}.{k}"),
        _ => k.to_string(),
    })
}

/// serde's words in a user's: "invalid type: string \"5\", expected i64" becomes
/// "expected an integer, got the string \"5\"".
fn humanize(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("unknown field") {
        return format!(
            "unknown key{}",
            rest.replace("expected one of", "known keys are")
        );
    }
    if let Some(rest) = msg.strip_prefix("missing field") {
        let k = rest.split('`').nth(1).unwrap_or("");
        if SECTIONS
            .iter()
            .any(|s| s.trim_matches(|c| c == '[' || c == ']') == k)
        {
            return format!("missing section `[{k}]`");
        }
        return format!("missing key{rest}");
    }
    // A TOML integer past i64: serde reports it as an i128 it cannot take.
    if let Some(n) = msg
        .strip_prefix("invalid type: integer `")
        .and_then(|r| r.split_once("` as i128"))
        .map(|(n, _)| n)
    {
        return format!(
            "{n} is out of range; no key takes a whole number above {} (each key's own range is in docs/scenario-format.md)",
            i64::MAX
        );
    }
    let Some(rest) = msg.strip_prefix("invalid type: ") else {
        return msg.to_string();
    };
    let Some((got, want)) = rest.rsplit_once(", expected ") else {
        return msg.to_string();
    };
    let want = match want {
        w if w.starts_with('i') || w.starts_with('u') => "an integer",
        "a string" => "a string (durations are written \"10ms\", \"2s\")",
        "a sequence" => "an array of strings",
        w if w.starts_with("struct") || w.starts_with("a map") => "a table",
        w => w,
    };
    let got = got
        .replace('`', "")
        .replacen("string", "the string", 1)
        .replacen("integer", "the integer", 1)
        .replacen("floating point", "the number", 1)
        .replacen("boolean", "the boolean", 1)
        .replacen("sequence", "an array", 1)
        .replacen("map", "a table", 1);
    format!("expected {want}, got {got}")
}

/// The sender `[sender] kind` names (the original by default), configured from the
/// rest of the table by the sender itself.
fn configure_sender(
    cx: &Ctx,
    mut table: BTreeMap<String, Spanned<toml::Value>>,
) -> Result<(&'static dyn Sender, sender::SenderSetup), ScenarioError> {
    let src = cx.src();
    let sender = match table.remove("kind") {
        None => sender::by_name("original").expect("original exists"),
        Some(k) => {
            let Some(name) = k.get_ref().as_str() else {
                return Err(src.err(
                    k.span(),
                    "sender.kind",
                    "expected a string, the sender's name",
                ));
            };
            sender::by_name(name).ok_or_else(|| {
                src.err(
                    k.span(),
                    "sender.kind",
                    format!("unknown sender `{name}`; known: {}", sender::names()),
                )
            })?
        }
    };
    let mut keys = Keys::new(src, "sender", table);
    let setup = sender.configure(&mut keys)?;
    keys.finish(&format!("sender `{}`", sender.name()), &sender.key_names())?;
    Ok((sender, setup))
}

/// Picks the strategy `[client] strategy` names and lets it read its own keys. Returns
/// it, whether `reply` was set, and the client's parameters.
fn configure_client(
    cx: &Ctx,
    client: Spanned<BTreeMap<String, Spanned<toml::Value>>>,
    sender: &'static dyn Sender,
    dir: &Path,
) -> Result<(&'static dyn Strategy, bool, ClientParams), ScenarioError> {
    let span = client.span();
    let mut keys = Keys::new(cx.src(), "client", client.into_inner());
    let Some(name) = keys.string("strategy")? else {
        return Err(cx.err(span, "client.strategy", "is required"));
    };
    let strategy = strategy::by_name(&name).ok_or_else(|| {
        keys.invalid(
            "strategy",
            format!("unknown strategy `{name}`; known: {}", strategy::names()),
        )
    })?;
    if !strategy.speaks(sender.framed()) {
        let (why, use_) = if sender.framed() {
            ("it speaks the framed protocol", "resume or threaded")
        } else {
            (
                "it sends bare bytes, not the framed protocol",
                "naive, drain, threaded or external",
            )
        };
        return Err(keys.invalid(
            "strategy",
            format!(
                "`{name}` cannot talk to sender `{}`: {why}; use {use_}",
                sender.name()
            ),
        ));
    }
    let reply_set = keys.has("reply");
    let mut p = ClientParams {
        framed: sender.framed(),
        reply: strategy.default_reply().as_bytes().to_vec(),
        ..ClientParams::default()
    };
    strategy.configure(&mut keys, &mut p, dir)?;
    keys.finish(&format!("strategy `{name}`"), &strategy.key_names())?;
    Ok((strategy, reply_set, p))
}

/// `expect.since_fault = ["LO", "HI"]`, which needs a fault to count from.
fn read_since_fault(
    cx: &Ctx,
    e: &RawExpect,
    faults: &fault::Schedule,
    deadline: Duration,
) -> Result<Option<(Duration, Duration)>, ScenarioError> {
    let Some(v) = &e.since_fault else {
        return Ok(None);
    };
    let err = |m: &str| cx.err(v.span(), "expect.since_fault", m);
    if faults.is_empty() {
        return Err(err("there is no [[fault]] to count from"));
    }
    let range = Dur::new(Duration::ZERO, deadline);
    match v.get_ref().as_slice() {
        [lo, hi] => {
            let lo = range.parse(lo).map_err(|m| err(&m))?;
            let hi = range.parse(hi).map_err(|m| err(&m))?;
            if lo > hi {
                return Err(err("the first bound is after the second"));
            }
            Ok(Some((lo, hi)))
        }
        _ => Err(err("expected two durations, [\"3.5s\", \"6s\"]")),
    }
}

/// `[net]`, read by [`crate::net`], and the line of its header.
fn read_net(
    cx: &Ctx,
    table: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
) -> Result<(NetConfig, usize), ScenarioError> {
    let Some(t) = table else {
        return Ok((NetConfig::default(), 0));
    };
    let line = cx.line_of(t.span().start);
    let mut keys = Keys::new(cx.src(), "net", t.into_inner());
    let net = NetConfig::read(&mut keys)?;
    let known: Vec<&str> = NetConfig::KEYS.iter().map(|k| k.0).collect();
    keys.finish("[net]", &known)?;
    Ok((net, line))
}

impl Scenario {
    /// Reads and checks a scenario file. Only a regular file of at most 1 MiB is read.
    pub fn load(path: &Path, exe: &Path) -> Result<Scenario, ScenarioError> {
        Scenario::parse(path, &Scenario::read(path)?, exe)
    }

    /// A scenario file's text: only a regular file of at most 1 MiB is read.
    pub fn read(path: &Path) -> Result<String, ScenarioError> {
        let error = |message| ScenarioError {
            path: path.to_path_buf(),
            line: 0,
            key: None,
            message,
        };
        let text = read_bounded(path).map_err(error)?;
        if text.trim().is_empty() {
            return Err(error(
                "the file is empty; a scenario needs at least [client] strategy = \"...\" and [expect] outcome = \"...\" (`zerowin list` shows the shipped ones)".into(),
            ));
        }
        Ok(text)
    }

    /// The `{dir}` of a scenario file: its directory.
    pub fn dir_of(path: &Path) -> &Path {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    }

    /// Checks scenario text; `path` names it, and its directory is `{dir}`.
    pub fn parse(path: &Path, text: &str, exe: &Path) -> Result<Scenario, ScenarioError> {
        Scenario::parse_in(path, text, exe, Scenario::dir_of(path))
    }

    /// Checks scenario text named `path` whose `{dir}` is `dir` (a shipped scenario's
    /// files are written out to a temporary directory).
    pub fn parse_in(
        path: &Path,
        text: &str,
        exe: &Path,
        dir: &Path,
    ) -> Result<Scenario, ScenarioError> {
        let cx = Ctx { path, text };
        let raw: RawScenario = toml::from_str(text).map_err(|e| cx.toml_error(e))?;
        Scenario::from_raw(&cx, raw, exe, dir)
    }

    fn from_raw(
        cx: &Ctx,
        raw: RawScenario,
        exe: &Path,
        dir: &Path,
    ) -> Result<Scenario, ScenarioError> {
        let (sender, sender_setup) = configure_sender(cx, raw.sender.unwrap_or_default())?;

        let (strategy, reply_set, mut client) = configure_client(cx, raw.client, sender, dir)?;
        let faults = fault::Schedule::read(cx.src(), raw.fault.unwrap_or_default())?;
        if let Some(f) = faults.faults.iter().find(|f| f.action.on_client())
            && !strategy.obeys_faults()
        {
            return Err(ScenarioError {
                path: cx.path.to_path_buf(),
                line: f.line,
                key: Some("fault.action".into()),
                message: format!(
                    "`{}` is carried out by the client, and strategy `{}` cannot; use resume or external",
                    f.action.as_str(),
                    strategy.name()
                ),
            });
        }

        let (net, net_line) = read_net(cx, raw.net)?;
        if let Some(f) = faults.faults.iter().find(|f| f.action.on_link())
            && !net.is_veth()
        {
            return Err(ScenarioError {
                path: cx.path.to_path_buf(),
                line: f.line,
                key: Some("fault.action".into()),
                message: format!(
                    "`{}` acts on a link, and loopback has none; set [net] topology = \"veth\"",
                    f.action.as_str()
                ),
            });
        }

        let r = raw.run.unwrap_or_default();
        let duration = match &r.duration {
            Some(v) => cx.duration(v, "run.duration", limits::DURATION)?,
            None => DEFAULT_DURATION,
        };
        let trials = match &r.trials {
            Some(v) => cx.int(v, "run.trials", limits::TRIALS)? as u32,
            None => 1,
        };

        let deadline = match &r.deadline {
            Some(v) => {
                let d = cx.duration(v, "run.deadline", limits::DEADLINE)?;
                if d <= duration {
                    return Err(cx.err(
                        v.span(),
                        "run.deadline",
                        format!(
                            "{} must be longer than run.duration ({duration:?})",
                            v.get_ref()
                        ),
                    ));
                }
                d
            }
            None => duration + DEFAULT_DEADLINE_SLACK,
        };

        let sample = match &r.sample {
            Some(v) => parse_sample(v.get_ref()).map_err(|m| cx.err(v.span(), "run.sample", m))?,
            None => Some(DEFAULT_SAMPLE),
        };

        let mut sysctls = BTreeMap::new();
        let mut sysctl_line = 0;
        if let Some(sy) = &raw.sysctl {
            sysctl_line = cx.line_of(sy.span().start);
            let s = sy.get_ref();
            for (key, v) in [("tcp_rmem", &s.tcp_rmem), ("tcp_wmem", &s.tcp_wmem)] {
                if let Some(v) = v {
                    let val = parse_mem_triple(v.get_ref())
                        .map_err(|m| cx.err(v.span(), &format!("sysctl.{key}"), m))?;
                    sysctls.insert(key.to_string(), val);
                }
            }
            for (key, v, range) in [
                ("tcp_shrink_window", &s.tcp_shrink_window, Int::new(0, 1)),
                ("tcp_retries2", &s.tcp_retries2, Int::new(1, 255)),
                (
                    "tcp_keepalive_time",
                    &s.tcp_keepalive_time,
                    Int::new(1, 32767),
                ),
                (
                    "tcp_keepalive_intvl",
                    &s.tcp_keepalive_intvl,
                    Int::new(1, 32767),
                ),
                (
                    "tcp_keepalive_probes",
                    &s.tcp_keepalive_probes,
                    Int::new(1, 127),
                ),
            ] {
                if let Some(v) = v {
                    let n = cx.int(v, &format!("sysctl.{key}"), range)?;
                    sysctls.insert(key.to_string(), n.to_string());
                }
            }
        }

        let e = raw.expect.get_ref();
        let outcome = e
            .outcome
            .get_ref()
            .parse()
            .map_err(|m| cx.err(e.outcome.span(), "expect.outcome", m))?;
        let within = match &e.within {
            // A trial that survives has no failure to time.
            Some(v) if outcome == Outcome::Survived => {
                return Err(cx.err(
                    v.span(),
                    "expect.within",
                    "bounds the time to the first failure, and a survived trial has none; remove it",
                ));
            }
            Some(v) => Some(cx.duration(v, "expect.within", Dur::new(Duration::ZERO, deadline))?),
            None => None,
        };
        let bytes_lost = e.bytes_lost.as_ref().map(|v| *v.get_ref());
        let count = |v: &Option<Spanned<i64>>, key: &str| {
            v.as_ref()
                .map(|v| cx.int(v, key, Int::new(0, i64::MAX)).map(|n| n as u64))
                .transpose()
        };
        let duplicates = count(&e.duplicates, "expect.duplicates")?;
        let reordered = count(&e.reordered, "expect.reordered")?;
        let max_spool_bytes = count(&e.max_spool_bytes, "expect.max_spool_bytes")?;
        let min_dropped = count(&e.min_dropped, "expect.min_dropped")?;
        if let Some(v) = &e.max_spool_bytes
            && sender.name() != "spool"
        {
            return Err(cx.err(
                v.span(),
                "expect.max_spool_bytes",
                format!("only the spool sender has a spool, not `{}`", sender.name()),
            ));
        }
        let sender_bind = match &e.sender_bind {
            Some(v) if !faults.faults.iter().any(|f| f.action.starts_sender()) => {
                return Err(cx.err(
                    v.span(),
                    "expect.sender_bind",
                    "there is no restart-sender or second-sender fault to check",
                ));
            }
            Some(v) if v.get_ref() == "ok" || v.get_ref().starts_with('E') => {
                Some(v.get_ref().clone())
            }
            Some(v) => {
                return Err(cx.err(
                    v.span(),
                    "expect.sender_bind",
                    "expected \"ok\" or an errno's name such as \"EADDRINUSE\"",
                ));
            }
            None => None,
        };
        let since_fault = read_since_fault(cx, e, &faults, deadline)?;
        let keepalive_probes = count(&e.keepalive_probes, "expect.keepalive_probes")?;
        let final_state = match &e.final_state {
            Some(v) if crate::sys::tcpinfo::STATE_NAMES.contains(&v.get_ref().as_str()) => {
                if sample.is_none() {
                    return Err(cx.err(
                        v.span(),
                        "expect.final_state",
                        "is read from the TCP_INFO samples, and run.sample is off",
                    ));
                }
                Some(v.get_ref().clone())
            }
            Some(v) => {
                return Err(cx.err(
                    v.span(),
                    "expect.final_state",
                    format!(
                        "unknown TCP state `{}`; expected one of {}",
                        v.get_ref(),
                        crate::sys::tcpinfo::STATE_NAMES.join(", ")
                    ),
                ));
            }
            None => None,
        };
        let drained_within = e
            .drained_within
            .as_ref()
            .map(|v| cx.duration(v, "expect.drained_within", limits::DURATION))
            .transpose()?;
        let lost = match e.lost.as_ref().map(|v| (v, v.get_ref())) {
            None => None,
            Some((_, toml::Value::Integer(n))) if *n >= 0 => Some(Lost::Exactly(*n as u64)),
            Some((_, toml::Value::String(s))) if s == "dropped" => Some(Lost::Dropped),
            Some((v, _)) => {
                return Err(cx.err(
                    v.span(),
                    "expect.lost",
                    "expected a count of messages, or \"dropped\" (exactly what the sender dropped)",
                ));
            }
        };
        if (lost.is_some()
            || min_dropped.is_some()
            || duplicates.is_some()
            || reordered.is_some()
            || drained_within.is_some())
            && !(strategy.counts_messages() && sender.framed())
        {
            return Err(cx.err(
                raw.expect.span(),
                "expect",
                format!(
                    "lost, duplicates, reordered and drained_within count messages, which only a framed client of a framed sender sees, not `{}` with `{}` (min_dropped too)",
                    strategy.name(),
                    sender.name()
                ),
            ));
        }

        let name = cx
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into());
        Ok(Scenario {
            stem: format!("{name}-{}", strategy.name()),
            name,
            path: cx.path.to_path_buf(),
            description: raw.description.unwrap_or_default(),
            sender,
            sender_config: SenderConfig {
                exe: exe.to_path_buf(),
                bind: IpAddr::V4(match net.is_veth() {
                    true => crate::net::SENDER_ADDR,
                    false => Ipv4Addr::LOCALHOST,
                }),
                start_timeout: Duration::from_secs(5),
                setup: sender_setup,
                netns: None,
            },
            strategy,
            reply_set,
            client: {
                client.duration = duration;
                client.deadline = deadline;
                client
            },
            faults,
            net,
            net_line,
            params: Vec::new(),
            swept: Vec::new(),
            cell_of: None,
            trials,
            predict: r.predict.as_ref().is_some_and(|p| *p.get_ref()),
            sample,
            sysctls,
            sysctl_line,
            expect: Expect {
                outcome,
                within,
                bytes_lost,
                lost,
                duplicates,
                reordered,
                max_spool_bytes,
                min_dropped,
                drained_within,
                sender_bind,
                since_fault,
                keepalive_probes,
                final_state,
                increasing: e
                    .increasing
                    .as_ref()
                    .map(|v| (v.get_ref().clone(), cx.line_of(v.span().start))),
            },
        })
    }

    /// " [client.rcvbuf=4096 client.delay=1ms]" for a cell of a sweep, "" otherwise.
    pub fn cell_label(&self) -> String {
        let swept: Vec<(String, String)> = self
            .params
            .iter()
            .filter(|(k, _)| self.swept.contains(k))
            .cloned()
            .collect();
        match swept.is_empty() {
            true => String::new(),
            false => format!(" [{}]", params_label(&swept)),
        }
    }

    /// Refuses, before any trial runs, a scenario that `--isolation host` cannot run:
    /// `[sysctl]` needs a namespace of its own, and the host's settings are never
    /// touched. (Under `auto`, a fallback is only known when a trial starts; the
    /// trial refuses it then.)
    pub fn check_isolation(
        &self,
        mode: crate::observe::IsolationMode,
    ) -> Result<(), ScenarioError> {
        if mode == crate::observe::IsolationMode::Host && self.net.is_veth() {
            return Err(ScenarioError {
                path: self.path.clone(),
                line: self.net_line,
                key: Some("net.topology".into()),
                message:
                    "the veth topology needs network namespaces; --isolation host never makes any"
                        .into(),
            });
        }
        if mode == crate::observe::IsolationMode::Host && !self.sysctls.is_empty() {
            return Err(ScenarioError {
                path: self.path.clone(),
                line: self.sysctl_line,
                key: Some("sysctl".into()),
                message: "this scenario sets [sysctl], which needs a network namespace; --isolation host never touches the host's settings".into(),
            });
        }
        Ok(())
    }

    /// The same scenario with another strategy (for `compare`). A reply the scenario
    /// did not set follows the new strategy's default. An external strategy needs the
    /// scenario's own `[client] command`.
    pub fn with_strategy(&self, s: &'static dyn Strategy) -> Result<Scenario, ScenarioError> {
        if let Err((key, why)) = s.ready(&self.client) {
            return Err(ScenarioError {
                path: self.path.clone(),
                line: 0,
                key: Some(format!("client.{key}")),
                message: format!("strategy `{}` {why}", s.name()),
            });
        }
        let mut out = self.clone();
        out.strategy = s;
        out.stem = format!("{}-{}", self.name, s.name());
        if !self.reply_set {
            out.client.reply = s.default_reply().as_bytes().to_vec();
        }
        Ok(out)
    }

    /// The same scenario with another sender, at that sender's default settings (for
    /// `compare --senders`); the scenario's own sender keeps its keys.
    pub fn with_sender(&self, s: &'static dyn Sender) -> Result<Scenario, ScenarioError> {
        let mut out = self.clone();
        if s.name() != self.sender.name() {
            let src = Source {
                path: &self.path,
                text: "",
            };
            out.sender = s;
            out.sender_config.setup =
                s.configure(&mut Keys::new(src, "sender", BTreeMap::new()))?;
            out.client.framed = s.framed();
        }
        out.stem = format!(
            "{}-{}-{}",
            self.name,
            out.sender.name(),
            out.strategy.name()
        );
        Ok(out)
    }

    /// Overrides from the command line, already range-checked by their flags. The
    /// deadline keeps its slack over the duration, within its own range.
    pub fn with_overrides(
        &self,
        trials: Option<u32>,
        duration: Option<Duration>,
    ) -> Result<Scenario, String> {
        let mut out = self.clone();
        if let Some(t) = trials {
            out.trials = t;
        }
        if let Some(d) = duration {
            let slack = self.client.deadline.saturating_sub(self.client.duration);
            out.client.duration = d;
            out.client.deadline = limits::DEADLINE
                .check(
                    d + slack,
                    &humantime::format_duration(d + slack).to_string(),
                )
                .map_err(|m| {
                    format!(
                        "--duration {}: the deadline it gives {} ({m})",
                        humantime::format_duration(d),
                        self.path.display()
                    )
                })?;
        }
        Ok(out)
    }
}

/// The scenario files shipped in scenarios/, compiled in by build.rs.
pub mod shipped {
    include!(concat!(env!("OUT_DIR"), "/shipped.rs"));

    /// The text of a shipped scenario by name (with or without `.toml`).
    pub fn get(name: &str) -> Option<(&'static str, &'static str)> {
        let want = name.strip_suffix(".toml").unwrap_or(name);
        SHIPPED
            .iter()
            .copied()
            .find(|(file, _)| file.strip_suffix(".toml") == Some(want))
    }

    /// Writes the shipped scenarios and the scripts they run into `root/scenarios`
    /// and `root/scripts`, as in a checkout, and returns `root/scenarios`: the `{dir}`
    /// of a shipped scenario run by name.
    pub fn materialize(root: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        for (sub, files) in [("scenarios", SHIPPED), ("scripts", SCRIPTS)] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir)?;
            for (name, text) in files {
                let p = dir.join(name);
                std::fs::write(&p, text)?;
                if sub == "scripts" {
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
                }
            }
        }
        Ok(root.join("scenarios"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
description = "test"
[sender]
sndbuf = 4096
[client]
strategy = "naive"
rcvbuf = 4096
delay = "1ms"
[run]
duration = "2s"
trials = 3
[expect]
outcome = "reset"
within = "1s"
"#;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(Path::new("x.toml"), text, Path::new("/bin/false"))
    }

    fn error_of(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn parses_a_full_scenario_with_defaults() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.name, "x");
        assert_eq!(s.sender.name(), "original");
        assert_eq!(s.sender_config.setup.policy, "close");
        assert_eq!(
            s.sender_config.setup.args,
            [
                "--sender",
                "original",
                "--set",
                "close_policy=close",
                "--set",
                "drain_timeout=30000ms",
                "--set",
                "sndbuf=4096",
            ]
        );
        assert_eq!(
            s.sender_config.setup.describe,
            "original (close); sndbuf 4096"
        );
        assert_eq!(s.strategy.name(), "naive");
        assert_eq!(s.client.own::<crate::strategy::naive::Settings>().recv_size, 10);
        assert_eq!(s.client.own::<crate::strategy::drain::Settings>().chunk, 1024);
        assert_eq!(s.client.reply, b"Hi i got the data");
        assert_eq!(s.client.delay, Duration::from_millis(1));
        assert_eq!(s.client.duration, Duration::from_secs(2));
        assert_eq!(s.client.deadline, Duration::from_secs(7));
        assert_eq!(s.trials, 3);
        assert_eq!(s.expect.outcome, Outcome::Reset);
        assert_eq!(s.expect.within, Some(Duration::from_secs(1)));
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("10ms").unwrap(), Duration::from_millis(10));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("10").unwrap_err().contains("`10`"));
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = error_of(
            "[client]\nstrategy = \"naive\"\nrecv_sze = 10\n[expect]\noutcome = \"reset\"\n",
        );
        assert!(
            e.starts_with("x.toml:3: client.recv_sze: unknown key"),
            "{e}"
        );
        assert!(e.contains("recv_size"), "lists the known keys: {e}");
    }

    #[test]
    fn out_of_range_values_name_file_line_and_key() {
        let e = error_of(
            "[client]\nstrategy = \"naive\"\nrecv_size = 0\n[expect]\noutcome = \"reset\"\n",
        );
        assert!(
            e.starts_with("x.toml:3: client.recv_size: 0 is out of range"),
            "{e}"
        );
        let e = error_of(
            "[sender]\nsndbuf = 1\n[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"reset\"\n",
        );
        assert!(e.starts_with("x.toml:2: sender.sndbuf:"), "{e}");
        let e = error_of(
            "[client]\nstrategy = \"naive\"\n[run]\ntrials = 0\n[expect]\noutcome = \"reset\"\n",
        );
        assert!(e.starts_with("x.toml:4: run.trials:"), "{e}");
    }

    #[test]
    fn bad_durations_name_the_key() {
        let e = error_of(
            "[client]\nstrategy = \"naive\"\ndelay = \"soon\"\n[expect]\noutcome = \"reset\"\n",
        );
        assert!(
            e.starts_with("x.toml:3: client.delay: `soon` is not a duration"),
            "{e}"
        );
        let e = error_of(
            "[client]\nstrategy = \"naive\"\n[run]\nduration = \"2s\"\ndeadline = \"1s\"\n[expect]\noutcome = \"reset\"\n",
        );
        assert!(
            e.starts_with("x.toml:5: run.deadline: 1s must be longer"),
            "{e}"
        );
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = error_of("[client]\nstrategy = \"fast\"\n[expect]\noutcome = \"reset\"\n");
        assert!(
            e.starts_with(
                "x.toml:2: client.strategy: unknown strategy `fast`; known: naive, drain"
            ),
            "{e}"
        );
        let e = error_of("[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"boom\"\n");
        assert!(
            e.starts_with("x.toml:4: expect.outcome: unknown outcome `boom`"),
            "{e}"
        );
        let e = error_of(
            "[sender]\nkind = \"nginx\"\n[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"eof\"\n",
        );
        assert!(
            e.starts_with("x.toml:2: sender.kind: unknown sender `nginx`"),
            "{e}"
        );
        let e = error_of(
            "[sender]\nclose_policy = \"rst\"\n[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"eof\"\n",
        );
        assert!(
            e.starts_with("x.toml:2: sender.close_policy: unknown close policy"),
            "{e}"
        );
    }

    #[test]
    fn missing_sections_and_wrong_types_are_errors() {
        let e = error_of("[client]\nstrategy = \"naive\"\n");
        // The section is named alone, not as a key of the table before it.
        assert!(e.contains("expect: missing section `[expect]`"), "{e}");
        assert!(!e.contains("client.expect"), "{e}");
        let e = error_of(
            "[client]\nstrategy = \"naive\"\nrecv_size = \"ten\"\n[expect]\noutcome = \"reset\"\n",
        );
        assert_eq!(
            e,
            "x.toml:3: client.recv_size: expected an integer, got the string \"ten\""
        );
        let e =
            error_of("[client]\nstrategy = \"naive\"\ndelay = 5\n[expect]\noutcome = \"reset\"\n");
        assert!(
            e.starts_with("x.toml:3: client.delay: expected a string (durations are written"),
            "{e}"
        );
        let e = error_of(
            "[client]\nstrategy = \"external\"\ncommand = \"c.py\"\n[expect]\noutcome = \"reset\"\n",
        );
        assert!(
            e.starts_with("x.toml:3: client.command: expected an array of strings"),
            "{e}"
        );
        let e = error_of("[client\n");
        assert!(e.starts_with("x.toml:1:"), "{e}");
    }

    #[test]
    fn an_unknown_section_is_named_as_one() {
        let e = error_of(
            "[client]\nstrategy = \"naive\"\n[clinet]\nx = 1\n[expect]\noutcome = \"reset\"\n",
        );
        assert!(
            e.starts_with(
                "x.toml:3: unknown section `[clinet]`; known sections are [sender], [client]"
            ),
            "{e}"
        );
        let e = error_of(
            "descripton = \"x\"\n[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"reset\"\n",
        );
        assert!(e.starts_with("x.toml:1: descripton: unknown key"), "{e}");
    }

    #[test]
    fn each_sender_checks_its_own_keys() {
        let base = "[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"reset\"\n";
        let framed = "[client]\nstrategy = \"resume\"\n[expect]\noutcome = \"survived\"\n";
        let e = error_of(&format!(
            "[sender]\nkind = \"patient\"\nclose_policy = \"close\"\n{framed}"
        ));
        assert!(
            e.starts_with("x.toml:3: sender.close_policy: unknown key for sender `patient`; its keys are queue_bytes, on_full"),
            "{e}"
        );
        let e = error_of(&format!("[sender]\nqueue_bytes = 4096\n{base}"));
        assert!(
            e.starts_with("x.toml:2: sender.queue_bytes: unknown key for sender `original`; its keys are sndbuf"),
            "{e}"
        );
        let e = error_of(&format!(
            "[sender]\nkind = \"patient\"\non_full = \"spill\"\n{framed}"
        ));
        assert!(
            e.starts_with("x.toml:3: sender.on_full: unknown on_full `spill`"),
            "{e}"
        );
        let e = error_of(&format!(
            "[sender]\nkind = \"patient\"\nqueue_bytes = \"big\"\n{framed}"
        ));
        assert!(
            e.starts_with(
                "x.toml:3: sender.queue_bytes: expected an integer, got the string \"big\""
            ),
            "{e}"
        );
        let ok = parse(&format!(
            "[sender]\nkind = \"patient\"\nqueue_bytes = 4096\nphases = [\"1s unlimited\"]\nrate = \"1000/s\"\n{framed}"
        ))
        .unwrap();
        assert_eq!(ok.sender.name(), "patient");
        assert!(
            ok.sender_config
                .setup
                .args
                .contains(&"queue_bytes=4096".to_string())
        );
    }

    #[test]
    fn message_claims_need_a_client_that_counts_messages() {
        let framed = "[sender]\nkind = \"patient\"\n[client]\nstrategy = \"resume\"\n[expect]\noutcome = \"survived\"\n";
        let s = parse(&format!("{framed}lost = \"dropped\"\nduplicates = 0\n")).unwrap();
        assert_eq!(s.expect.lost, Some(Lost::Dropped));
        assert_eq!(s.expect.duplicates, Some(0));
        let s = parse(&format!("{framed}lost = 3\n")).unwrap();
        assert_eq!(s.expect.lost, Some(Lost::Exactly(3)));
        let e = error_of(&format!("{framed}lost = \"some\"\n"));
        assert!(
            e.starts_with("x.toml:7: expect.lost: expected a count of messages"),
            "{e}"
        );
        let e = error_of(&format!("{framed}reordered = -1\n"));
        assert!(
            e.starts_with("x.toml:7: expect.reordered: -1 is out of range"),
            "{e}"
        );
        let e = error_of(
            "[client]\nstrategy = \"threaded\"\n[expect]\noutcome = \"call-timeout\"\nlost = 0\n",
        );
        assert!(
            e.contains("expect: lost, duplicates, reordered and drained_within count messages, which only a framed client of a framed sender sees, not `threaded` with `original`"),
            "{e}"
        );
    }

    #[test]
    fn a_client_must_speak_its_senders_protocol() {
        let e = error_of(
            "[sender]\nkind = \"patient\"\n[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"eof\"\n",
        );
        assert!(
            e.starts_with("x.toml:4: client.strategy: `naive` cannot talk to sender `patient`: it speaks the framed protocol; use resume or threaded"),
            "{e}"
        );
        let e = error_of("[client]\nstrategy = \"resume\"\n[expect]\noutcome = \"eof\"\n");
        assert!(
            e.contains("`resume` cannot talk to sender `original`"),
            "{e}"
        );
        for st in ["threaded", "resume"] {
            let s = parse(&format!(
                "[sender]\nkind = \"patient\"\n[client]\nstrategy = \"{st}\"\n[expect]\noutcome = \"survived\"\n"
            ))
            .unwrap();
            assert!(s.client.framed);
        }
        assert!(
            !parse("[client]\nstrategy = \"threaded\"\n[expect]\noutcome = \"call-timeout\"\n")
                .unwrap()
                .client
                .framed
        );
    }

    #[test]
    fn within_is_refused_for_survived() {
        let e = error_of(
            "[client]\nstrategy = \"drain\"\n[expect]\noutcome = \"survived\"\nwithin = \"1s\"\n",
        );
        assert!(
            e.starts_with("x.toml:5: expect.within: bounds the time to the first failure"),
            "{e}"
        );
    }

    #[test]
    fn programs_are_resolved_when_the_scenario_is_loaded() {
        assert!(resolve_program("sh").is_ok());
        assert!(resolve_program("/bin/sh").is_ok());
        assert!(
            resolve_program("no-such-program-here")
                .unwrap_err()
                .contains("not found in PATH")
        );
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("plain");
        std::fs::write(&plain, "not a program").unwrap();
        assert!(
            resolve_program(plain.to_str().unwrap())
                .unwrap_err()
                .contains("not an executable")
        );
        assert!(
            resolve_program("/nonexistent/x")
                .unwrap_err()
                .contains("does not exist")
        );
    }

    #[test]
    fn a_missing_file_is_a_clear_error() {
        let e =
            Scenario::load(Path::new("/nonexistent/s.toml"), Path::new("/bin/false")).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(
            e.to_string()
                .starts_with("/nonexistent/s.toml: cannot read the scenario"),
            "{e}"
        );
    }

    #[test]
    fn compare_swaps_the_default_reply_but_keeps_a_set_one() {
        let s = parse(GOOD).unwrap();
        let d = s
            .with_strategy(strategy::by_name("drain").unwrap())
            .unwrap();
        assert!(d.client.reply.is_empty());
        let set = parse(&GOOD.replace("delay", "reply = \"ok\"\ndelay")).unwrap();
        assert_eq!(
            set.with_strategy(strategy::by_name("drain").unwrap())
                .unwrap()
                .client
                .reply,
            b"ok"
        );
    }

    #[test]
    fn overrides_keep_the_deadline_slack() {
        let s = parse(GOOD)
            .unwrap()
            .with_overrides(Some(9), Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(s.trials, 9);
        assert_eq!(s.client.deadline, Duration::from_secs(15));
    }

    #[test]
    fn sysctls_and_sampling_are_checked() {
        let base = "[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"reset\"\n";
        let s = parse(&format!(
            "{base}[sysctl]\ntcp_rmem = \"4096 8192 16384\"\ntcp_shrink_window = 1\n"
        ))
        .unwrap();
        assert_eq!(s.sysctls.get("tcp_rmem").unwrap(), "4096 8192 16384");
        assert_eq!(s.sysctls.get("tcp_shrink_window").unwrap(), "1");
        assert_eq!(s.sysctl_line, 5);
        assert_eq!(s.sample, Some(DEFAULT_SAMPLE));
        let e = error_of(&format!("{base}[sysctl]\ntcp_rmem = \"16384 8192 4096\"\n"));
        assert!(e.starts_with("x.toml:6: sysctl.tcp_rmem:"), "{e}");
        let e = error_of(&format!("{base}[sysctl]\ntcp_retries2 = 0\n"));
        assert!(
            e.starts_with("x.toml:6: sysctl.tcp_retries2: 0 is out of range"),
            "{e}"
        );
        let e = error_of(&format!("{base}[sysctl]\ntcp_mem = \"1 2 3\"\n"));
        assert!(
            e.starts_with("x.toml:6: sysctl.tcp_mem: unknown key"),
            "{e}"
        );
        let off = parse(&base.replace("[expect]", "[run]\nsample = \"off\"\n[expect]")).unwrap();
        assert_eq!(off.sample, None);
        assert!(parse_sample("10ns").is_err());
    }

    #[test]
    fn external_needs_a_command_with_a_port() {
        let ok = "[client]\nstrategy = \"external\"\ncommand = [\"python3\", \"{dir}/c.py\", \"{port}\"]\n[expect]\noutcome = \"reset\"\n";
        let s = Scenario::parse(Path::new("sc/x.toml"), ok, Path::new("/bin/false")).unwrap();
        assert_eq!(
            s.client.own::<crate::strategy::external::Settings>().command,
            ["python3", "sc/c.py", "{port}"]
        );
        let e = error_of(&ok.replace(", \"{port}\"", ""));
        assert!(
            e.starts_with("x.toml:3: client.command: must contain {port}"),
            "{e}"
        );
        let e = error_of("[client]\nstrategy = \"external\"\n[expect]\noutcome = \"reset\"\n");
        assert!(
            e.starts_with("x.toml:2: client.command: strategy external needs a command"),
            "{e}"
        );
        let e = error_of(&ok.replace("external", "naive"));
        assert!(
            e.starts_with(
                "x.toml:3: client.command: unknown key for strategy `naive`; its keys are recv_size"
            ),
            "{e}"
        );
    }

    #[test]
    fn every_shipped_scenario_parses() {
        assert!(!shipped::SHIPPED.is_empty());
        for (file, text) in shipped::SHIPPED {
            parse(text).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
    }
}
