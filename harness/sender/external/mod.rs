//! `external`: a server of the user's (nginx, Redis, a program of their own) in the
//! sender's place. The scenario gives its command line, with `{host}`, `{port}`,
//! `{dir}` (the scenario's directory) and `{tmp}` (a fresh folder per trial), and the
//! config files to write into `{tmp}` before it starts. It runs in the sender's
//! namespace, in a process group of its own, and is ready once its port listens
//! (read from `/proc/PID/net/tcp`, without connecting, so no probe connection
//! reaches it or the capture) or once its output matches `ready`.
//!
//! zerowin cannot see its calls: what it did comes from the wire, both kernels'
//! counters, TCP_INFO of its socket (the sampler finds it by its address), and
//! `/proc` (its group's memory, sampled every 20 ms). Its output tails go into the
//! record. A missing program is refused when the scenario is read.

pub mod handle;

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::{Load, Sender, SenderConfig, SenderHandle, SenderSetup};
use crate::limits::{self, Dur, Int};
use crate::record::TrialRecord;
use crate::record::program::ProgramRun;
use crate::settings::{Keys, Own, ScenarioError};
use crate::words::{clean, ms};

pub struct External;

/// How the harness knows it is ready.
#[derive(Debug, Clone)]
pub enum Ready {
    /// Its port listens (a socket in LISTEN on it, in its namespace).
    Port,
    /// Its standard output or error matched this pattern.
    Output(regex::Regex),
}

impl PartialEq for Ready {
    fn eq(&self, other: &Ready) -> bool {
        match (self, other) {
            (Ready::Port, Ready::Port) => true,
            (Ready::Output(a), Ready::Output(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

/// A file written into `{tmp}` before the program starts.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFile {
    /// Relative to `{tmp}`.
    pub name: String,
    /// With placeholders, filled when the trial starts.
    pub text: String,
}

/// Its own settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The program and its arguments; `{dir}` filled in, `{host}`, `{port}` and
    /// `{tmp}` filled when it starts.
    pub command: Vec<String>,
    pub configs: Vec<ConfigFile>,
    /// A fixed port; None: a free one, chosen per trial.
    pub port: Option<u16>,
    pub ready: Ready,
    pub ready_timeout: Duration,
    /// How long it has after SIGTERM before SIGKILL.
    pub stop_grace: Duration,
    /// What the report calls it ("nginx"): the program's name unless given.
    pub label: String,
}

const KEYS: &[(&str, &str)] = &[
    (
        "command",
        "[\"program\", \"arg\", ...] with {host}, {port}, {dir} and {tmp} (a fresh folder per trial)",
    ),
    (
        "config",
        "{ path = \"{tmp}/x.conf\", text = \"...\" } (or an array of them): written before it starts",
    ),
    ("port", "a fixed port (default: a free one, as {port})"),
    (
        "ready",
        "\"port\" (it listens; default) or { output = \"REGEX\" } on its stdout or stderr",
    ),
    ("ready_timeout", "how long it may take to be ready (10s)"),
    (
        "stop_grace",
        "time between SIGTERM and SIGKILL at the end (2s)",
    ),
    ("label", "its name in reports (the program's)"),
];

const READY_TIMEOUT: Dur = Dur::new(Duration::from_millis(10), Duration::from_secs(300));
const STOP_GRACE: Dur = Dur::new(Duration::ZERO, Duration::from_secs(60));

impl Settings {
    fn read(keys: &mut Keys) -> Result<Settings, ScenarioError> {
        let command = command(keys)?;
        let configs = configs(keys)?;
        let port = keys.int("port", Int::new(1, 65535))?.map(|p| p as u16);
        let mentions_port = command
            .iter()
            .chain(configs.iter().map(|c| &c.text))
            .any(|a| a.contains("{port}"));
        if port.is_none() && !mentions_port {
            return Err(keys.invalid(
                "command",
                "must contain {port} (in the command or a config's text), where zerowin tells it to listen; or set a fixed `port`",
            ));
        }
        let ready = ready(keys)?;
        let label = match keys.string("label")? {
            Some(l) if !l.trim().is_empty() => clean(l.trim()),
            _ => Path::new(&command[0])
                .file_name()
                .map_or("server".into(), |n| clean(&n.to_string_lossy())),
        };
        Ok(Settings {
            command,
            configs,
            port,
            ready,
            ready_timeout: keys
                .duration("ready_timeout", READY_TIMEOUT)?
                .unwrap_or(Duration::from_secs(10)),
            stop_grace: keys
                .duration("stop_grace", STOP_GRACE)?
                .unwrap_or(Duration::from_secs(2)),
            label,
        })
    }
}

/// `command`, with `{dir}` filled in and its program found.
fn command(keys: &mut Keys) -> Result<Vec<String>, ScenarioError> {
    crate::program::read_command(
        keys,
        "sender external",
        "[\"nginx\", \"-c\", \"{tmp}/nginx.conf\"]",
    )
}

/// `config`: one `{ path, text }` table or an array of them; every path in `{tmp}`.
fn configs(keys: &mut Keys) -> Result<Vec<ConfigFile>, ScenarioError> {
    let dir = keys.dir().display().to_string();
    let tables = match keys.value("config") {
        None => return Ok(Vec::new()),
        Some(toml::Value::Table(t)) => vec![t],
        Some(toml::Value::Array(a)) => a
            .into_iter()
            .map(|v| match v {
                toml::Value::Table(t) => Ok(t),
                _ => Err(keys.invalid("config", "each config is a { path, text } table")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(keys.invalid(
                "config",
                "expected { path = \"{tmp}/NAME\", text = \"...\" } or an array of them",
            ));
        }
    };
    tables
        .into_iter()
        .map(|t| config_file(keys, t, &dir))
        .collect()
}

fn config_file(
    keys: &Keys,
    mut t: toml::map::Map<String, toml::Value>,
    dir: &str,
) -> Result<ConfigFile, ScenarioError> {
    let mut string = |k: &str| match t.remove(k) {
        Some(toml::Value::String(s)) => Ok(s),
        _ => Err(keys.invalid("config", format!("needs `{k}`, a string"))),
    };
    let (path, text) = (string("path")?, string("text")?);
    if let Some(other) = t.keys().next() {
        return Err(keys.invalid(
            "config",
            format!("unknown key `{other}`; a config has path and text"),
        ));
    }
    let name = path.strip_prefix("{tmp}/").unwrap_or_default();
    let plain = !name.is_empty()
        && Path::new(name)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain {
        return Err(keys.invalid(
            "config",
            format!(
                "path `{}` must be in the trial's own folder: \"{{tmp}}/NAME\", without `..`",
                clean(&path)
            ),
        ));
    }
    if text.len() > limits::SCENARIO_FILE_MAX as usize {
        return Err(keys.invalid("config", "its text is too long"));
    }
    Ok(ConfigFile {
        name: name.to_string(),
        text: text.replace("{dir}", dir),
    })
}

fn ready(keys: &mut Keys) -> Result<Ready, ScenarioError> {
    let bad = "expected \"port\" or { output = \"REGEX\" }";
    match keys.value("ready") {
        None => Ok(Ready::Port),
        Some(toml::Value::String(s)) if s == "port" => Ok(Ready::Port),
        Some(toml::Value::Table(mut t)) if t.len() == 1 => match t.remove("output") {
            Some(toml::Value::String(re)) => {
                regex::Regex::new(&re).map(Ready::Output).map_err(|e| {
                    keys.invalid("ready", format!("output: not a regular expression: {e}"))
                })
            }
            _ => Err(keys.invalid("ready", bad)),
        },
        Some(_) => Err(keys.invalid("ready", bad)),
    }
}

impl Sender for External {
    fn name(&self) -> &'static str {
        "external"
    }

    fn summary(&self) -> &'static str {
        "a server of yours ([sender] command, with {host}, {port} and {tmp}); seen from the wire, the kernels and /proc"
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        KEYS.to_vec()
    }

    fn configure(&self, keys: &mut Keys) -> Result<SenderSetup, ScenarioError> {
        let s = Settings::read(keys)?;
        Ok(SenderSetup {
            args: Vec::new(),
            describe: format!("external {} (`{}`)", s.label, clean(&s.command.join(" "))),
            policy: "external".into(),
            scratch_dir: None,
            load: Load::NotModelled(
                "an external server's send buffer and close are its own; zerowin does not model them",
            ),
            pace: None,
            store_messages: None,
            own: Own::new(s),
            wants_broker: false,
            summary_wait: crate::sender::SUMMARY_WAIT,
        })
    }

    fn samples_memory(&self) -> bool {
        true
    }

    fn counted_by_client(&self) -> bool {
        true
    }

    fn start(&self, config: &SenderConfig) -> Result<Box<dyn SenderHandle>> {
        Ok(Box::new(handle::ProgramSender::start(config)?))
    }

    fn explain(&self, r: &TrialRecord, _s: &crate::record::SenderSummary) -> String {
        self.explain_without_summary(r)
    }

    fn explain_without_summary(&self, r: &TrialRecord) -> String {
        match &r.sender_program {
            Some(p) => program_line(r, p),
            None => "the server was not started by zerowin: what its send() accepted is not known, so bytes lost are unknown".into(),
        }
    }

    fn cell_without_summary(&self, r: &TrialRecord) -> String {
        match &r.sender_program {
            Some(p) => {
                let rss = p
                    .peak_rss_bytes
                    .map_or(String::new(), |b| format!("; RSS {}", mb(b)));
                let early = if p.exited_early {
                    "exited early"
                } else {
                    "ran"
                };
                format!("{early}{rss}")
            }
            None => "not started here".into(),
        }
    }

    fn serve(&self, _port: u16, _bind: &str, _set: &[String]) -> Result<i32> {
        anyhow::bail!(
            "sender `external` is a program of yours: run it yourself, or in a scenario ([sender] kind = \"external\")"
        )
    }
}

/// "12.3 MB".
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// The server's line: its command, when it was ready, its memory, how it ended and
/// its last words.
fn program_line(r: &TrialRecord, p: &ProgramRun) -> String {
    let at = |ns: u64| ms((ns as i64 - r.client.zero_ns as i64) / 1000);
    let mut s = format!(
        "the server `{}` (external) started at {}",
        p.command_line(),
        at(p.started_ns)
    );
    if let Some(t) = p.ready_ns {
        s.push_str(&format!(", was ready at {}", at(t)));
    }
    if let Some((first, peak)) = p.rss_growth() {
        s.push_str(&format!(
            "; its resident memory went from {} when it was ready to a peak of {}",
            mb(first),
            mb(peak)
        ));
    }
    if let Some(t) = r.observation.as_ref().and_then(|o| o.timeline.as_ref())
        && t.sender_send_q_peak + t.sender_recv_q_peak > 0
    {
        s.push_str(&format!(
            "; TCP_INFO of its socket: up to {} B unsent or unacknowledged in its send queue, up to {} B unread in its receive queue",
            t.sender_send_q_peak, t.sender_recv_q_peak
        ));
    }
    if p.restarts > 0 {
        s.push_str(&format!("; it was started again {} time(s)", p.restarts));
    }
    match (p.exited_early, p.needed_sigkill) {
        _ if p.killed_by_fault => s.push_str("; a kill-sender fault killed it (SIGKILL)"),
        (true, _) => s.push_str(&format!("; it {} before the trial ended", p.exit)),
        (false, true) => s.push_str("; it ignored SIGTERM at the end and was killed with SIGKILL"),
        (false, false) => s.push_str(&format!("; stopped at the end, it {}", p.exit)),
    }
    let last = crate::program::last_lines(&format!("{}\n{}", p.stdout_tail, p.stderr_tail), 1);
    if !last.is_empty() {
        s.push_str(&format!("; its last words: \"{last}\""));
    }
    s.push_str("; what its send() accepted is not known, so bytes lost are unknown");
    s
}
