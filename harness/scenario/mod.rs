//! Scenario files: the user's interface. A scenario is TOML with four sections,
//! `[sender]`, `[client]`, `[run]` and `[expect]`; docs/scenario-format.md has the reference table.
//!
//! Parsing is two steps: serde reads the text into raw structs that keep each value's
//! position (`Spanned`), then [`Scenario::from_raw`] checks every value and fills in
//! defaults. Every error names the file, the line and the key.

use crate::limits;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fault;
use crate::net::NetConfig;
use crate::sender::{Sender, SenderConfig};
use crate::settings::{Keys, Source};
use crate::strategy::{ClientParams, Strategy};

mod errors;
mod expect;
mod kinds;
mod raw;
mod run;
pub mod shipped;
pub mod sweep;
#[cfg(test)]
mod tests;

use errors::{Ctx, read_bounded};
pub use expect::{Expect, Lost, ResetClaim};
use raw::RawScenario;
pub use run::Instruments;

pub use crate::limits::{parse_duration, parse_sample};

pub use crate::settings::ScenarioError;

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
    /// `[observe]`: the capture and `tcp_probe`, when asked for or needed.
    pub observe: run::Instruments,
    /// net.ipv4.* settings for the trial's namespace, by key (e.g. "tcp_rmem").
    pub sysctls: BTreeMap<String, String>,
    /// The line of the `[sysctl]` header, for errors about it.
    pub sysctl_line: usize,
    pub expect: Expect,
    /// The faults a trial applies, in time order: those for its strategy.
    pub faults: fault::Schedule,
    /// Every fault of the file, some perhaps for another strategy (`strategy = ...`),
    /// for [`Scenario::with_strategy`].
    pub all_faults: fault::Schedule,
    /// Programs that run beside the sender (`[[helper]]`).
    pub helpers: Vec<crate::helper::Helper>,
    /// A NATS JetStream broker a trial starts for its spool (`[broker]`).
    pub broker: Option<crate::broker::BrokerConfig>,
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
    /// Whose capacity C the sender's rates of the capacity ("0.5C") are multiples
    /// of: `run.capacity_of`, loaded and checked; None for this scenario's own client.
    pub capacity_of: Option<Box<Scenario>>,
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

pub use crate::process::resolve_program;

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
        let (sender, sender_setup, store_line) =
            kinds::configure_sender(cx, raw.sender.unwrap_or_default(), dir)?;
        let (strategy, reply_set, mut client) =
            kinds::configure_client(cx, raw.client, sender, dir)?;
        let faults = fault::Schedule::read(cx.src(), raw.fault.unwrap_or_default())?;
        kinds::check_fault_strategies(cx, &faults)?;
        let all_faults = faults.clone();
        let faults = faults.for_strategy(strategy.name());
        let helpers = crate::helper::read(cx.src(), raw.helper.unwrap_or_default(), dir)?;
        let (net, net_line) = kinds::read_net(cx, raw.net)?;
        let broker = kinds::read_broker(cx, raw.broker, &sender_setup, store_line, &faults)?;
        kinds::check_faults(cx, &faults, strategy, &net)?;
        let mut run = run::read_run(cx, raw.run.unwrap_or_default())?;
        let capacity_of =
            run::read_capacity_of(cx, run.capacity_of.take(), &sender_setup, exe, dir)?;
        let (sysctls, sysctl_line) = run::read_sysctl(cx, raw.sysctl.as_ref())?;
        let about = expect::About {
            sender,
            strategy,
            faults: &faults,
            deadline: run.deadline,
            sampled: run.sample.is_some(),
        };
        let expect = expect::read(cx, &raw.expect, &about)?;
        let observe = run::read_observe(cx, raw.observe.as_ref(), &expect, strategy)?;
        client.duration = run.duration;
        client.deadline = run.deadline;
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
                tmp: None,
                nats_url: None,
            },
            broker,
            strategy,
            reply_set,
            client,
            faults,
            all_faults,
            helpers,
            net,
            net_line,
            params: Vec::new(),
            swept: Vec::new(),
            cell_of: None,
            capacity_of,
            trials: run.trials,
            predict: run.predict,
            sample: run.sample,
            observe,
            sysctls,
            sysctl_line,
            expect,
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
        out.faults = self.all_faults.clone().for_strategy(s.name());
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

    /// What the sender is called in a comparison: its kind, or the scenario file whose
    /// sender it runs (`compare --senders FILE`).
    pub fn sender_label(&self) -> String {
        self.params
            .iter()
            .find(|(k, _)| k == "sender.kind")
            .map_or(self.sender.name().to_string(), |(_, l)| l.clone())
    }

    /// The same scenario with the sender of `other` (for `compare --senders FILE`): its
    /// kind, its keys and its helpers; this scenario's client, net and claims.
    pub fn with_sender_of(&self, other: &Scenario) -> Scenario {
        let mut out = self.clone();
        out.sender = other.sender;
        out.sender_config.setup = other.sender_config.setup.clone();
        out.helpers = other.helpers.clone();
        out.broker = other.broker;
        out.client.framed = other.sender.framed();
        out.stem = format!("{}-{}-{}", self.name, other.name, out.strategy.name());
        out
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
