//! The command line, parsed by clap into raw structs. Every value goes through the
//! same range check as its scenario key ([`crate::limits`]), so a wrong one is
//! reported against its flag with exit code 2, as clap does.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::analysis::boundary::Scale;
use crate::limits::{flag, parse_sample};
use crate::observe::{IsolationMode, ObserveOptions};
use crate::record::Outcome;
use crate::report::FORMATS;
use crate::report::export::Chosen;
use crate::scenario::sweep::{self, Assign, KeyPath, Point};
use crate::sender::{self, ClosePolicy, Sender};
use crate::session::Options;
use crate::strategy::{self, Strategy};

#[derive(Parser, Debug)]
#[command(
    name = "zerowin",
    version,
    about = "Reproduces, explains and compares client strategies against the TCP zero-window / connection-reset failure",
    after_help = "Exit codes: 0 every expectation held, 1 one did not, 2 harness or input error, 130 after SIGINT (Ctrl-C), 143 after SIGTERM; 0 when stdout's reader goes away."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run scenario files (or every .toml in a directory) and check their [expect].
    Run(RunArgs),
    /// Run one scenario with several strategies side by side.
    Compare(CompareArgs),
    /// Calibrate the model and print what it predicts for each cell of a scenario
    /// (outcome and time to failure), without running the cells.
    Predict(PredictArgs),
    /// Measure the capacity C of each scenario's client, in messages a second,
    /// while data always waits for it; one table.
    Capacity(CapacityArgs),
    /// Read tcpdump or Wireshark captures (pcap, pcapng), rebuild every TCP
    /// connection, and say how and why each one ended, with the packets that prove it.
    Diagnose(DiagnoseArgs),
    /// Search one scenario key, by bisection within a trial budget, for the value at
    /// which the failure rate crosses 50%.
    Boundary(BoundaryArgs),
    /// Run a sender alone (the original C sender by default), for any client.
    Serve(ServeArgs),
    /// Run one client strategy against any server.
    Client(ClientArgs),
    /// List the strategies, the senders and the shipped scenarios.
    List,
    /// Look into a spool directory of the spool sender.
    #[command(subcommand)]
    Spool(SpoolCommand),
    /// A NATS JetStream broker of zerowin's own, for the spool's store = jetstream.
    #[command(subcommand)]
    Broker(BrokerCommand),
    /// Watch a live host for TCP resets: one line per RST as it happens, with the
    /// process that sent it and the kernel's own reason (tracepoints; needs root and
    /// Linux 6.10 or later); a summary by reason and process on Ctrl-C.
    Watch(WatchArgs),
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// Only this network namespace (a name from `ip netns`, /run/netns/NAME): its
    /// addresses, and the processes in it.
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Only connections with this port at either end (repeatable).
    #[arg(long)]
    pub port: Vec<u16>,
    /// Only resets of this process, or of a connection it owned (repeatable).
    #[arg(long)]
    pub pid: Vec<u32>,
    /// Only resets of processes with this command name, as in /proc/PID/comm
    /// (repeatable).
    #[arg(long)]
    pub comm: Vec<String>,
    /// Also record `tcp_probe` on the --port connections, and say before each reset
    /// how long the window had been zero. Needs --port: it fires on every segment.
    #[arg(long, requires = "port")]
    pub windows: bool,
    /// Write one JSON object per reset, and the summary, to PATH ("-": stdout, the
    /// human lines then go to stderr).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Stop by itself after this long ("30s"); without it, on Ctrl-C or SIGTERM.
    #[arg(long, value_parser = flag::duration)]
    pub duration: Option<Duration>,
}

#[derive(Subcommand, Debug)]
pub enum BrokerCommand {
    /// Start nats-server nodes with JetStream on loopback, on free ports, with their
    /// storage in a temporary directory; print the URLs for nats_url; stop and remove
    /// them on Ctrl-C (or after --duration). Lines on stdin control the nodes:
    /// `kill N`, `restart N`, `kill-leader`, `status`, `stop`.
    Up(BrokerUpArgs),
}

#[derive(Args, Debug)]
pub struct BrokerUpArgs {
    /// 1, or 3 joined by cluster routes.
    #[arg(long, default_value_t = 3, value_parser = flag::broker_nodes)]
    pub nodes: usize,
    /// Stop by itself after this long ("30s", "10min"); without it, on Ctrl-C, SIGTERM
    /// or `stop` on stdin.
    #[arg(long, value_parser = flag::duration)]
    pub duration: Option<std::time::Duration>,
}

#[derive(Subcommand, Debug)]
pub enum SpoolCommand {
    /// Print a spool's depth, its first, last and acknowledged sequence, and its
    /// bytes on disk. It reads the spool without changing it; a spool in use by a
    /// running sender is refused.
    Inspect {
        /// The spool directory (`spool_dir`).
        dir: std::path::PathBuf,
    },
}

/// The flags that edit every scenario run, as if its file said so.
#[derive(Args, Debug, Default)]
pub struct Edits {
    /// Set one scenario key in every scenario run, as if the file said so
    /// (repeatable): --set client.rcvbuf=8192. The value is TOML, or else a string.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = |s: &str| Assign::set(s))]
    pub set: Vec<Assign>,
    /// Sweep one scenario key (repeatable; the grid is the product): a list
    /// (--sweep client.delay=0ms,1ms,5ms) or a range, LO..HI:xF (times F) or LO..HI:+STEP
    /// (--sweep client.rcvbuf=4096..1048576:x4). It replaces the file's [sweep] entry.
    #[arg(long = "sweep", value_name = "KEY=VALUES", value_parser = |s: &str| Assign::sweep(s))]
    pub sweep: Vec<Assign>,
}

impl Edits {
    /// The --sweep and then the --set flags: a key both sweep and set is set.
    pub fn assigns(&self) -> Vec<Assign> {
        self.sweep.iter().chain(&self.set).cloned().collect()
    }
}

/// The files a run writes for programs and browsers to read: one flag per output
/// format, each declared by its format in [`crate::report::FORMATS`].
#[derive(Default)]
pub struct Outputs(pub Vec<Chosen>);

impl std::fmt::Debug for Outputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, p)| (k.flag(), p)))
            .finish()
    }
}

impl clap::FromArgMatches for Outputs {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let chosen = FORMATS
            .iter()
            .filter_map(|f| m.get_one::<PathBuf>(f.flag()).map(|p| (*f, p.clone())));
        Ok(Outputs(chosen.collect()))
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for Outputs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        FORMATS.iter().fold(cmd, |cmd, f| {
            cmd.arg(
                clap::Arg::new(f.flag())
                    .long(f.flag())
                    .visible_aliases(f.aliases())
                    .value_name(f.value_name())
                    .help(f.help())
                    .value_parser(clap::value_parser!(PathBuf)),
            )
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// What a command that runs trials takes: edits, trial counts, outputs, observers.
#[derive(Args, Debug)]
pub struct Overrides {
    /// Run this many trials of each scenario instead of its run.trials.
    #[arg(long, value_parser = flag::trials)]
    pub trials: Option<u32>,
    /// Use this duration instead of the scenario's run.duration (the deadline moves with it).
    #[arg(long, value_parser = flag::duration)]
    pub duration: Option<Duration>,
    #[command(flatten)]
    pub edits: Edits,
    #[command(flatten)]
    pub outputs: Outputs,
    #[command(flatten)]
    pub observe: ObserveArgs,
}

/// `--sample`: an interval, or None for "off". A newtype, because clap gives
/// `Option<Option<T>>` a meaning of its own (a flag whose value is optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample(pub Option<Duration>);

#[derive(Args, Debug)]
pub struct ObserveArgs {
    /// Where trials run: a fresh network namespace each (netns), the host's loopback
    /// (host), or a namespace when allowed (auto).
    #[arg(long, default_value = "auto", value_parser = |s: &str| s.parse::<IsolationMode>())]
    pub isolation: IsolationMode,
    /// TCP_INFO sampling interval of both ends ("1ms"), or "off"; overrides run.sample.
    #[arg(long, value_name = "D|off", value_parser = |s: &str| parse_sample(s).map(Sample))]
    pub sample: Option<Sample>,
    /// Capture packets (AF_PACKET) in every trial, as `[observe] capture = true`
    /// does for one scenario. Off by default: it slows a CPU-bound race by ~30%.
    #[arg(long, conflicts_with = "no_capture")]
    pub capture: bool,
    /// Capture no packets, even where a scenario asks for it (the wire columns then
    /// stay empty).
    #[arg(long)]
    pub no_capture: bool,
    /// Also record the kernel's `tcp:tcp_probe` event (every segment sent), as
    /// `[observe] tcp_probe = true` does for one scenario.
    #[arg(long, conflicts_with = "no_kernel_events")]
    pub tcp_probe: bool,
    /// Do not record the kernel's TCP tracepoints (resets with their reasons, state
    /// changes, retransmits).
    #[arg(long)]
    pub no_kernel_events: bool,
    /// Write one pcap per trial into a new sub-directory of DIR (DIR is created if missing).
    #[arg(long, value_name = "DIR")]
    pub pcap: Option<PathBuf>,
    /// Draw one SVG timeline per trial into a new sub-directory of DIR.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
}

impl Overrides {
    /// The scenarios with `--trials` and `--duration` applied.
    pub fn apply(
        &self,
        scenarios: &[crate::scenario::Scenario],
    ) -> anyhow::Result<Vec<crate::scenario::Scenario>> {
        with_overrides(scenarios, self.trials, self.duration)
    }

    /// The --sweep and then the --set flags.
    pub fn assigns(&self) -> Vec<Assign> {
        self.edits.assigns()
    }

    /// What the session of a command with these flags is asked for.
    pub fn session(&self, quiet: bool, checked: bool) -> anyhow::Result<Options<'_>> {
        Ok(Options {
            outputs: &self.outputs.0,
            observe: self.observe.options()?,
            pcap: self.observe.pcap.clone(),
            plot: self.observe.plot.clone(),
            quiet,
            checked,
        })
    }
}

/// `scenarios` with a trial count and a duration in place of their own.
pub fn with_overrides(
    scenarios: &[crate::scenario::Scenario],
    trials: Option<u32>,
    duration: Option<Duration>,
) -> anyhow::Result<Vec<crate::scenario::Scenario>> {
    scenarios
        .iter()
        .map(|s| s.with_overrides(trials, duration))
        .collect::<Result<Vec<_>, String>>()
        .map_err(anyhow::Error::msg)
}

impl Default for ObserveArgs {
    fn default() -> Self {
        ObserveArgs {
            isolation: IsolationMode::Auto,
            sample: None,
            capture: false,
            no_capture: false,
            tcp_probe: false,
            no_kernel_events: false,
            pcap: None,
            plot: None,
        }
    }
}

impl ObserveArgs {
    /// The observer options, checked. The artifact directories are made by the
    /// session, which gives each run a fresh sub-directory.
    pub fn options(&self) -> anyhow::Result<ObserveOptions> {
        if self.plot.is_some() && self.sample == Some(Sample(None)) && self.no_capture {
            anyhow::bail!(
                "--plot draws from the capture or the TCP_INFO samples, and --no-capture with --sample off leaves neither"
            );
        }
        Ok(ObserveOptions {
            isolation: self.isolation,
            sample: self.sample.map(|s| s.0),
            capture: match (self.capture, self.no_capture) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            kernel: crate::observe::kernel::KernelEvents::new(
                !self.no_kernel_events,
                self.tcp_probe,
            ),
            pcap_dir: None,
            plot_dir: None,
        })
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Scenario files, directories of them, or names of shipped scenarios.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub overrides: Overrides,
    /// Print only the verdicts and the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The scenario to run with each sender and strategy.
    pub file: PathBuf,
    /// The strategies, comma-separated (default: naive,drain, unless --senders is given).
    #[arg(long, value_delimiter = ',', value_parser = parse_strategy)]
    pub strategies: Option<Vec<&'static dyn Strategy>>,
    /// The senders, comma-separated, each with its default settings (the scenario's own
    /// sender keeps its keys); or a scenario file (ending in .toml) whose [sender] and
    /// helpers to run, such as a server of yours. A framed sender gets a framed client.
    #[arg(long, value_delimiter = ',', value_parser = parse_sender_choice)]
    pub senders: Option<Vec<SenderArg>>,
    #[command(flatten)]
    pub overrides: Overrides,
}

/// `predict` runs calibration runs only: it takes the edits, the duration and the
/// isolation, and nothing that names trials or their files.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// The scenario (or sweep) to predict: the reset model for the original sender,
    /// the backlog model (after measuring C) for the framed ones.
    pub file: PathBuf,
    /// Use this duration instead of the scenario's run.duration.
    #[arg(long, value_parser = flag::duration)]
    pub duration: Option<Duration>,
    #[command(flatten)]
    pub edits: Edits,
    /// Where the calibration runs run: netns, host, or auto.
    #[arg(long, default_value = "auto", value_parser = |s: &str| s.parse::<IsolationMode>())]
    pub isolation: IsolationMode,
}

/// `capacity` runs capacity runs only: the scenarios name the clients.
#[derive(Args, Debug)]
pub struct CapacityArgs {
    /// The scenarios whose clients to measure (files, directories or shipped names).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The length of each capacity run.
    #[arg(long, default_value = "4s", value_parser = flag::duration)]
    pub duration: Duration,
    /// What each run leaves out at its start (framed clients).
    #[arg(long, default_value = "1s", value_parser = flag::duration)]
    pub warmup: Duration,
    /// Runs per client.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub trials: u32,
    /// Where the runs run: netns, host, or auto.
    #[arg(long, default_value = "auto", value_parser = |s: &str| s.parse::<IsolationMode>())]
    pub isolation: IsolationMode,
}

/// `diagnose` reads captures only: it runs nothing.
#[derive(Args, Debug)]
pub struct DiagnoseArgs {
    /// Capture files: pcap (micro- or nanosecond) or pcapng, as tcpdump -w and tshark -w write them.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Keep only connections with an endpoint matching HOST, PORT, or HOST:PORT ([::1]:8000 for IPv6).
    #[arg(long, value_name = "HOST|PORT|HOST:PORT", value_parser = |s: &str| crate::trace::Filter::parse(s))]
    pub filter: Option<crate::trace::Filter>,
    /// Write every connection, its counts and its finding as JSON to FILE ("-" = stdout, and the report goes to stderr).
    #[arg(long, value_name = "FILE", alias = "json")]
    pub export_json: Option<PathBuf>,
    /// Draw each explained connection's timeline (its busier side's data against the peer's acknowledgement and window, with zero windows, FINs and RSTs marked) as an SVG, in a new run-* directory of DIR.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// Write an HTML report into DIR: index.html with every capture's connections, and each explained connection's story and timeline.
    #[arg(long, value_name = "DIR")]
    pub html: Option<PathBuf>,
    /// Print only the line about the frames and the table (or the count by cause).
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct BoundaryArgs {
    /// The scenario to probe; it must be one cell (fix a swept key with --set).
    pub file: PathBuf,
    /// The key to search, as in --set: client.delay, sender.sndbuf, ...
    #[arg(long, value_name = "KEY", value_parser = |s: &str| KeyPath::parse_parameter(s))]
    pub param: KeyPath,
    /// The range to search, LO..HI: whole numbers (4096..1048576) or durations
    /// (0ms..5ms).
    #[arg(long, value_name = "LO..HI", value_parser = |s: &str| sweep::bounds(s))]
    pub range: (Point, Point),
    /// Trials to spend in all; each probe runs --trials (or the scenario's run.trials).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub budget: u32,
    /// How the middle of a bracket is taken: linear, or log for values that span decades.
    #[arg(long, default_value = "linear", value_parser = |s: &str| s.parse::<Scale>())]
    pub scale: Scale,
    #[command(flatten)]
    pub overrides: Overrides,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Which sender: original (the 2014 C sender) or a remedy sender (patient).
    #[arg(long, default_value = "original", value_parser = parse_sender)]
    pub sender: &'static dyn Sender,
    /// One of the sender's [sender] keys, as in a scenario (repeatable): --set queue_bytes=65536.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Port to listen on; 0 picks an ephemeral one (printed as `zerowin-port N`).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Address to listen on. The original listened on every address.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// The original's SO_SNDBUF for each connection, in bytes (the kernel doubles it).
    #[arg(long, value_parser = flag::buf)]
    pub sndbuf: Option<usize>,
    /// The original's reaction to a failed send(): close (the 2014 one), linger0, shutdown-drain.
    #[arg(long, value_parser = parse_close_policy)]
    pub close_policy: Option<ClosePolicy>,
    /// Log every message to PATH, as the original's server.log (hundreds of MB at full rate).
    #[arg(long, value_name = "PATH")]
    pub log: Option<String>,
    /// The original's bound on shutdown-drain's read-until-EOF, in milliseconds (30000).
    #[arg(long, value_parser = flag::drain_timeout_ms)]
    pub drain_timeout_ms: Option<u64>,
    /// The original paced at this many messages per second (the 2014 code had no
    /// pacing: without it, the tight loop).
    #[arg(long, value_name = "MSGS_PER_S", value_parser = parse_rate)]
    pub rate: Option<f64>,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| (0.5..=1e7).contains(v))
        .ok_or_else(|| {
            format!(
                "`{s}` is not a rate in messages per second, from 0.5 (less rounds to none) to 1e7"
            )
        })
}

impl ServeArgs {
    /// The original sender's own flags, each with the `--set` pair it is an alias of.
    pub fn alias_pairs(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if let Some(b) = self.sndbuf {
            v.push(("--sndbuf", format!("sndbuf={b}")));
        }
        if let Some(p) = self.close_policy {
            v.push(("--close-policy", format!("close_policy={p}")));
        }
        if let Some(l) = &self.log {
            let quoted = toml::Value::String(l.clone());
            v.push(("--log", format!("log={quoted}")));
        }
        if let Some(ms) = self.drain_timeout_ms {
            v.push(("--drain-timeout-ms", format!("drain_timeout={ms}ms")));
        }
        if let Some(r) = self.rate {
            v.push(("--rate", format!("rate={r}/s")));
        }
        v
    }
}

#[derive(Args, Debug)]
pub struct ClientArgs {
    /// The strategy: naive, drain, resume or threaded (external runs a scenario's
    /// command, so only `run` has it). resume speaks the framed protocol, to
    /// `zerowin serve --sender patient` or `spool`; threaded speaks it with --framed.
    #[arg(value_parser = parse_socket_strategy)]
    pub strategy: &'static dyn Strategy,
    /// The server to connect to.
    #[arg(long, value_name = "HOST:PORT")]
    pub connect: String,
    /// Bytes per recv() for naive.
    #[arg(long, default_value = "10", value_parser = flag::recv)]
    pub recv_size: usize,
    /// Bytes per recv() for drain.
    #[arg(long, default_value = "1024", value_parser = flag::recv)]
    pub chunk: usize,
    /// The reply; the strategy's default when absent, "" for none. Escapes: \r \n
    /// \t \0 \xHH \\.
    #[arg(long)]
    pub reply: Option<String>,
    /// Bytes sent once after each connect, before the first read (an HTTP GET, a
    /// Redis SUBSCRIBE), with the same escapes.
    #[arg(long, value_name = "BYTES")]
    pub request: Option<String>,
    /// Speak the framed protocol (threaded; resume always does).
    #[arg(long)]
    pub framed: bool,
    /// Processing time per read (naive) or per batch (drain).
    #[arg(long, default_value = "0s", value_parser = flag::delay)]
    pub delay: Duration,
    /// SO_RCVBUF in bytes, set before connect (the kernel doubles it).
    #[arg(long, value_parser = flag::buf)]
    pub rcvbuf: Option<usize>,
    /// How long to read before counting as survived.
    #[arg(long, default_value = "10s", value_parser = flag::duration)]
    pub duration: Duration,
    /// When the whole client run is a timeout; default: duration + 5s.
    #[arg(long, value_parser = flag::deadline)]
    pub deadline: Option<Duration>,
    /// The client's own timeout for every call (connect, recv, send), as Python's
    /// settimeout; without it a call waits until the deadline.
    #[arg(long, value_parser = flag::call_timeout)]
    pub call_timeout: Option<Duration>,
    /// Exit 1 unless the outcome is this one.
    #[arg(long, value_parser = |s: &str| s.parse::<Outcome>())]
    pub expect: Option<Outcome>,
    /// Write the full record as JSON to FILE ("-" = stdout).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

fn parse_strategy(s: &str) -> Result<&'static dyn Strategy, String> {
    strategy::by_name(s.trim())
        .ok_or_else(|| format!("unknown strategy `{s}`; known: {}", strategy::names()))
}

/// For `client`: only a strategy that is a read loop of zerowin's own can run there.
fn parse_socket_strategy(s: &str) -> Result<&'static dyn Strategy, String> {
    let st = parse_strategy(s)?;
    if st.is_external() {
        let loops: Vec<&str> = strategy::all()
            .filter(|x| !x.is_external())
            .map(|x| x.name())
            .collect();
        return Err(format!(
            "`{s}` runs a scenario's [client] command, so only `zerowin run` can use it; `client` runs {}",
            loops.join(", ")
        ));
    }
    Ok(st)
}

fn parse_close_policy(s: &str) -> Result<ClosePolicy, String> {
    s.parse()
}

/// A `compare --senders` item: a sender kind, or a scenario file whose sender to use.
#[derive(Debug, Clone)]
pub enum SenderArg {
    Kind(&'static dyn Sender),
    File(PathBuf),
}

fn parse_sender_choice(s: &str) -> Result<SenderArg, String> {
    if s.trim().ends_with(".toml") {
        return Ok(SenderArg::File(PathBuf::from(s.trim())));
    }
    parse_sender(s)
        .map(SenderArg::Kind)
        .map_err(|e| format!("{e}; or a scenario file (NAME.toml) whose [sender] to run"))
}

fn parse_sender(s: &str) -> Result<&'static dyn Sender, String> {
    sender::by_name(s.trim())
        .ok_or_else(|| format!("unknown sender `{s}`; known: {}", sender::names()))
}

impl std::fmt::Debug for dyn Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Debug for dyn Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn compare_splits_strategies() {
        let cli = Cli::try_parse_from([
            "zerowin",
            "compare",
            "x.toml",
            "--strategies",
            "naive,drain",
        ])
        .unwrap();
        let Command::Compare(c) = cli.command else {
            panic!()
        };
        assert_eq!(
            c.strategies
                .unwrap()
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>(),
            ["naive", "drain"]
        );
        let e = Cli::try_parse_from(["zerowin", "compare", "x.toml", "--strategies", "naive,fast"])
            .unwrap_err();
        assert!(e.to_string().contains("unknown strategy `fast`"), "{e}");
    }
}
