//! A program of the user's: an external client, an external sender, a helper. It
//! runs in a process group of its own ([`Group`]), in the namespace it is given,
//! with its standard output and error read to their last 4 KiB. It can be started
//! again (a fault's restart), and stopping it is always the same: SIGTERM to the
//! group, a grace period, then SIGKILL, and every member reaped.

use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::observe::rss::{Rss, RssSampler};
use crate::process::{Group, PipeTail};
use crate::sys::netns::Netns;

/// How much of its output is kept.
pub const TAIL: usize = 4096;
/// How long its output pipes may stay open after its group is stopped.
const PIPE_WAIT: Duration = Duration::from_secs(1);

/// How to run it.
#[derive(Clone, Default)]
pub struct Spec {
    /// The program and its arguments, placeholders filled in.
    pub argv: Vec<String>,
    /// The network namespace to run it in; None: the calling thread's.
    pub netns: Option<Arc<Netns>>,
    /// A pattern its output is watched for ([`Program::said_ready`]).
    pub ready: Option<regex::Regex>,
    /// Sample its group's memory while it runs.
    pub rss: bool,
}

/// A started program, every life of it.
pub struct Program {
    spec: Spec,
    group: Option<Group>,
    stdout: Option<PipeTail>,
    stderr: Option<PipeTail>,
    seen: Arc<AtomicBool>,
    sampler: Option<RssSampler>,
    out: String,
    err: String,
    rss: Rss,
    /// How its last life ended, once it has.
    last: Option<Ended>,
    lives: u32,
}

/// How a life ended.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    pub status: Option<ExitStatus>,
    /// It had exited before it was stopped.
    pub by_itself: bool,
    /// It ignored SIGTERM for the grace period.
    pub needed_sigkill: bool,
}

impl Program {
    pub fn spawn(spec: Spec) -> Result<Program> {
        let mut p = Program {
            spec,
            group: None,
            stdout: None,
            stderr: None,
            seen: Arc::new(AtomicBool::new(false)),
            sampler: None,
            out: String::new(),
            err: String::new(),
            rss: Rss::default(),
            last: None,
            lives: 0,
        };
        p.start()?;
        Ok(p)
    }

    /// Starts a new life (after [`Program::kill`]).
    pub fn start(&mut self) -> Result<()> {
        let argv = &self.spec.argv;
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // The spec holds the namespace open past the child's exec.
        if let Some(ns) = &self.spec.netns {
            ns.enter_on_exec(&mut cmd);
        }
        let mut group = Group::spawn(&mut cmd).with_context(|| format!("running {:?}", argv[0]))?;
        self.seen = Arc::new(AtomicBool::new(false));
        let watch = || self.spec.ready.clone().map(|re| (re, self.seen.clone()));
        self.stdout = Some(PipeTail::watching(
            group.child_mut().stdout.take(),
            TAIL,
            watch(),
        ));
        self.stderr = Some(PipeTail::watching(
            group.child_mut().stderr.take(),
            TAIL,
            watch(),
        ));
        if self.spec.rss {
            self.sampler = Some(RssSampler::spawn(group.child_mut().id() as i32));
        }
        self.group = Some(group);
        self.last = None;
        self.lives += 1;
        Ok(())
    }

    /// The process id of its current life's leader.
    pub fn pid(&mut self) -> Option<i32> {
        Some(self.group.as_mut()?.child_mut().id() as i32)
    }

    /// Whether its output has matched [`Spec::ready`] in this life.
    pub fn said_ready(&self) -> bool {
        self.seen.load(Ordering::SeqCst)
    }

    /// Whether a life is running (or stopped by a signal, not yet killed).
    pub fn running(&self) -> bool {
        self.group.is_some()
    }

    /// Its exit status, if its current life has exited by itself.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        match self.group.as_mut() {
            Some(g) => Ok(g.child_mut().try_wait()?),
            None => Ok(None),
        }
    }

    /// Sends `sig` to its group (SIGSTOP, SIGCONT).
    pub fn signal(&mut self, sig: nix::sys::signal::Signal) -> Result<()> {
        if let Some(g) = self.group.as_mut() {
            g.signal(sig)?;
        }
        Ok(())
    }

    /// SIGTERM to its group, up to `grace` for it to exit, then SIGKILL; every member
    /// reaped, its output kept. A life that had exited already is only reaped.
    pub fn terminate(&mut self, grace: Duration) -> Result<Ended> {
        let Some(g) = self.group.as_mut() else {
            return self.last.context("the program was never started");
        };
        let ended = match g.child_mut().try_wait()? {
            Some(st) => Ended {
                status: Some(st),
                by_itself: true,
                needed_sigkill: false,
            },
            None => {
                // A stopped program cannot act on SIGTERM until it is continued.
                g.signal(nix::sys::signal::Signal::SIGCONT)?;
                let st = g.terminate(grace)?;
                Ended {
                    status: st,
                    by_itself: false,
                    needed_sigkill: st.is_none(),
                }
            }
        };
        self.end(ended)?;
        Ok(ended)
    }

    /// SIGKILL to its group now (a fault), every member reaped, its output kept.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(g) = self.group.as_mut() {
            let by_itself = g.child_mut().try_wait()?;
            g.stop()?;
            let status = match by_itself {
                Some(st) => Some(st),
                None => g.child_mut().try_wait()?,
            };
            self.end(Ended {
                status,
                by_itself: by_itself.is_some(),
                needed_sigkill: false,
            })?;
        }
        Ok(())
    }

    fn end(&mut self, ended: Ended) -> Result<()> {
        if let Some(mut g) = self.group.take() {
            g.stop()?;
        }
        if let Some(s) = self.sampler.take() {
            self.rss.extend(s.stop());
        }
        let tail = |t: Option<PipeTail>| t.map(|t| t.finish(PIPE_WAIT)).unwrap_or_default();
        self.out.push_str(&tail(self.stdout.take()));
        self.err.push_str(&tail(self.stderr.take()));
        self.last = Some(ended);
        Ok(())
    }

    /// How it runs.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// How many times it was started.
    pub fn lives(&self) -> u32 {
        self.lives
    }

    /// Once stopped: the tails of its standard output and error and its memory, taken
    /// out (a later life starts them afresh).
    pub fn take_output(&mut self) -> (String, String, Rss) {
        let last = |s: &str| s[floor(s, s.len().saturating_sub(TAIL))..].to_string();
        let (out, err) = (last(&self.out), last(&self.err));
        self.out.clear();
        self.err.clear();
        (out, err, std::mem::take(&mut self.rss))
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        if let Some(mut g) = self.group.take() {
            let _ = g.stop();
        }
    }
}

/// The largest char boundary at or below `i`.
fn floor(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The last `n` non-empty lines, joined by " | ", control characters replaced.
pub fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(n)..];
    crate::words::clean(&tail.join(" | "))
}

/// A `command` key (an external client's, an external sender's, a helper's): an
/// array of strings naming a program, `{dir}` filled in (the scenario's directory, so
/// shipped commands work from anywhere), and the program looked up now, so that a
/// missing one stops the run before its first trial. `example` completes "needs a
/// command, e.g. ...".
pub fn read_command(
    keys: &mut crate::settings::Keys,
    owner: &str,
    example: &str,
) -> Result<Vec<String>, crate::settings::ScenarioError> {
    let Some(v) = keys.strings("command")? else {
        return Err(keys.invalid(
            "command",
            format!("{owner} needs a command, e.g. {example}"),
        ));
    };
    if v.is_empty() || v[0].trim().is_empty() {
        return Err(keys.invalid("command", "must name a program"));
    }
    let dir = keys.dir().display().to_string();
    let argv: Vec<String> = v.iter().map(|a| a.replace("{dir}", &dir)).collect();
    crate::process::resolve_program(&argv[0]).map_err(|m| keys.invalid("command", m))?;
    Ok(argv)
}

/// "exited with code 1", "was killed by SIGTERM"; and the code, if it exited.
pub fn describe(status: Option<ExitStatus>) -> (String, Option<i32>) {
    use std::os::unix::process::ExitStatusExt;
    match status.map(|st| (st.code(), st.signal())) {
        Some((Some(c), _)) => (format!("exited with code {c}"), Some(c)),
        Some((None, Some(s))) => (
            format!("was killed by {}", crate::sys::signal_name(s)),
            None,
        ),
        Some((None, None)) => ("ended".to_string(), None),
        None => (
            "did not exit after SIGTERM and was killed with SIGKILL".to_string(),
            None,
        ),
    }
}

/// Fills `{host}`, `{port}` and `{tmp}` in every argument (`{dir}` was filled when
/// the scenario was read).
pub fn fill(
    args: &[String],
    addr: std::net::SocketAddr,
    tmp: Option<&std::path::Path>,
) -> Vec<String> {
    args.iter().map(|a| fill_one(a, addr, tmp)).collect()
}

/// [`fill`] of one string.
pub fn fill_one(a: &str, addr: std::net::SocketAddr, tmp: Option<&std::path::Path>) -> String {
    let a = a
        .replace("{host}", &addr.ip().to_string())
        .replace("{port}", &addr.port().to_string());
    match tmp {
        Some(t) => a.replace("{tmp}", &t.display().to_string()),
        None => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_every_placeholder() {
        let cmd: Vec<String> = ["nginx", "-c", "{tmp}/n.conf", "{host}:{port}"]
            .map(String::from)
            .to_vec();
        let addr: std::net::SocketAddr = "10.1.2.3:4567".parse().unwrap();
        assert_eq!(
            fill(&cmd, addr, Some(std::path::Path::new("/t"))),
            ["nginx", "-c", "/t/n.conf", "10.1.2.3:4567"]
        );
    }

    #[test]
    fn a_program_that_ignores_sigterm_is_killed_and_said_so() {
        let spec = Spec {
            argv: ["sh", "-c", "trap '' TERM; echo up; sleep 30"]
                .map(String::from)
                .to_vec(),
            ready: Some(regex::Regex::new("^up").unwrap()),
            ..Spec::default()
        };
        let mut p = Program::spawn(spec).unwrap();
        let t = std::time::Instant::now();
        while !p.said_ready() && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(p.said_ready());
        let e = p.terminate(Duration::from_millis(200)).unwrap();
        assert!(e.needed_sigkill && !e.by_itself, "{e:?}");
        let (out, _, _) = p.take_output();
        assert_eq!(out.trim(), "up");
    }
}
