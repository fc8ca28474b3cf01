//! Helper processes (`[[helper]]`): programs a trial runs beside its sender and
//! client, such as a publisher that floods the channel a subscriber reads. Each has
//! a `command` (with `{host}`, `{port}`, `{dir}` and `{tmp}`, as the external
//! sender's) and a `start`: `"after-ready"` (the default: once the sender is ready,
//! before the client connects) or a time after that.
//!
//! They run in the sender's namespace, each in a process group of its own, on a
//! thread that starts them on time and owns them until the trial ends; then each is
//! stopped like every program (SIGTERM, a grace, SIGKILL, every member reaped). A
//! helper that exits by itself with code 0 has finished; one that exits otherwise
//! before the trial ends has crashed, and the trial is an error that says so.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use toml::Spanned;

use crate::limits;
use crate::program::{Program, Spec, describe, fill};
use crate::record::program::ProgramRun;
use crate::settings::{Keys, ScenarioError, Source};

/// How long a helper has after SIGTERM.
const GRACE: Duration = Duration::from_millis(500);

/// One `[[helper]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Helper {
    /// `{dir}` filled in.
    pub command: Vec<String>,
    /// After the sender is ready.
    pub after: Duration,
    /// The line of its table, for errors.
    pub line: usize,
}

type Table = std::collections::BTreeMap<String, Spanned<toml::Value>>;

/// The scenario's `[[helper]]` tables, each checked; a missing program is refused.
pub fn read(src: Source, tables: Vec<Table>, dir: &Path) -> Result<Vec<Helper>, ScenarioError> {
    tables
        .into_iter()
        .map(|t| {
            let line = src.line_of(t.values().map(|v| v.span().start).min().unwrap_or(0));
            let mut keys = Keys::new(src, "helper", t).in_dir(dir);
            let h = read_one(&mut keys, line)?;
            keys.finish("a helper", &["command", "start"])?;
            Ok(h)
        })
        .collect()
}

fn read_one(keys: &mut Keys, line: usize) -> Result<Helper, ScenarioError> {
    let command = crate::program::read_command(
        keys,
        "a helper",
        "[\"python3\", \"{dir}/publish.py\", \"{host}\", \"{port}\"]",
    )?;
    let after = match keys.string("start")?.as_deref() {
        None | Some("after-ready") => Duration::ZERO,
        Some(t) => limits::parse_duration(t)
            .and_then(|d| limits::FAULT_AT.check(d, t))
            .map_err(|m| {
                keys.invalid(
                    "start",
                    format!("\"after-ready\" or a time after it, such as \"500ms\": {m}"),
                )
            })?,
    };
    Ok(Helper {
        command,
        after,
        line,
    })
}

/// The helpers of one trial, running.
pub struct Crew {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<Result<Vec<ProgramRun>>>,
}

/// One helper, as the crew's thread runs it.
struct Run {
    program: Program,
    started_ns: u64,
}

impl Crew {
    /// Starts the helpers on a thread of their own (which they die with, if it does):
    /// the after-ready ones at once, the others on time.
    pub fn start(
        helpers: &[Helper],
        addr: SocketAddr,
        tmp: Option<&Path>,
        netns: Option<Arc<crate::sys::netns::Netns>>,
    ) -> Result<Option<Crew>> {
        if helpers.is_empty() {
            return Ok(None);
        }
        let plan: Vec<(Duration, Spec)> = helpers
            .iter()
            .map(|h| {
                let spec = Spec {
                    argv: fill(&h.command, addr, tmp),
                    netns: netns.clone(),
                    ready: None,
                    rss: false,
                };
                (h.after, spec)
            })
            .collect();
        let (stop, stopped) = mpsc::channel();
        let (up, started) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("helpers".into())
            .spawn(move || run(plan, &stopped, up))?;
        // The after-ready ones are running before the client connects.
        started
            .recv()
            .map_err(|_| anyhow!("the helpers' thread ended before starting them"))??;
        Ok(Some(Crew { stop, thread }))
    }

    /// Stops every helper and returns their runs; a helper that crashed before the
    /// trial ended makes it an error.
    pub fn finish(self) -> Result<Vec<ProgramRun>> {
        let _ = self.stop.send(());
        let out = self
            .thread
            .join()
            .map_err(|_| anyhow!("the helpers' thread panicked"))??;
        if let Some((i, p)) = out
            .iter()
            .enumerate()
            .find(|(_, p)| p.exited_early && p.code != Some(0))
        {
            let last =
                crate::program::last_lines(&format!("{}\n{}", p.stdout_tail, p.stderr_tail), 4);
            bail!(
                "helper {} `{}` {} before the trial ended{}",
                i + 1,
                p.command_line(),
                p.exit,
                match last.is_empty() {
                    true => "; it printed nothing".to_string(),
                    false => format!("; its last output: {last}"),
                }
            );
        }
        Ok(out)
    }
}

/// Stops one helper (on the thread that started it, which it would die with) and
/// says what it did.
fn stop(mut r: Run) -> Result<ProgramRun> {
    let ended = r.program.terminate(GRACE)?;
    let (stdout_tail, stderr_tail, _) = r.program.take_output();
    let (exit, code) = describe(ended.status);
    Ok(ProgramRun {
        command: r.program.spec().argv.clone(),
        started_ns: r.started_ns,
        ready_ns: None,
        exit,
        code,
        exited_early: ended.by_itself,
        needed_sigkill: ended.needed_sigkill,
        killed_by_fault: false,
        restarts: 0,
        stdout_tail,
        stderr_tail,
        peak_rss_bytes: None,
        rss: Vec::new(),
    })
}

/// The crew's thread: starts each helper at its time and, when told to, stops them
/// all and says what each did.
fn run(
    plan: Vec<(Duration, Spec)>,
    stopped: &mpsc::Receiver<()>,
    up: mpsc::Sender<Result<()>>,
) -> Result<Vec<ProgramRun>> {
    let t0 = Instant::now();
    let mut runs: Vec<Run> = Vec::new();
    let mut waiting: Vec<(Duration, Spec)> = plan;
    let mut told = false;
    loop {
        let due: Vec<Spec> = take_due(&mut waiting, t0.elapsed());
        for spec in due {
            match Program::spawn(spec) {
                Ok(program) => runs.push(Run {
                    program,
                    started_ns: crate::sys::monotonic_ns(),
                }),
                Err(e) => {
                    runs.into_iter().try_for_each(|r| stop(r).map(drop))?;
                    match told {
                        false => {
                            let _ = up.send(Err(e));
                            return Ok(Vec::new());
                        }
                        true => return Err(e),
                    }
                }
            }
        }
        if !told {
            let _ = up.send(Ok(()));
            told = true;
        }
        match stopped.recv_timeout(Duration::from_millis(5)) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => return runs.into_iter().map(stop).collect(),
        }
    }
}

/// The plans whose time has come, taken out of `waiting`.
fn take_due(waiting: &mut Vec<(Duration, Spec)>, now: Duration) -> Vec<Spec> {
    let (due, later): (Vec<_>, Vec<_>) = std::mem::take(waiting)
        .into_iter()
        .partition(|(at, _)| *at <= now);
    *waiting = later;
    due.into_iter().map(|(_, s)| s).collect()
}
