//! A started sender, for the whole of a trial: a child process (`zerowin serve`) in
//! a process group of its own, which a fault may kill and restart on the same port.
//!
//! A sender speaks on stdout, one line each: `zerowin-port N` once it listens;
//! `zerowin-accepted` for each connection (framed senders); `zerowin-summary ...` when
//! a connection ends; `zerowin-progress ...` now and then (framed senders, so that a
//! killed one's counts are known); `zerowin-void A B` for never-accepted sequences it
//! skipped; `zerowin-committed A B` for sequences it committed to its spool. Each life of the process (an *incarnation*) is kept apart, and the report
//! merges them.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::SenderConfig;
use super::lines::Line;
use crate::process::{Group, PipeTail};
use crate::record::sender::{Progress, StoreOutage};
use crate::record::{SenderMessages, SenderReport, SenderSummary};

/// A started sender.
pub trait SenderHandle: Send {
    /// Where it listens; the same after a restart.
    fn addr(&self) -> SocketAddr;
    /// SIGKILL, now: its connections die with it.
    fn kill(&mut self) -> Result<()>;
    /// Starts it again, on the same port, with the same settings and directory.
    fn restart(&mut self) -> Result<()>;
    /// Sends `sig` to its process group (SIGSTOP, SIGCONT).
    fn signal(&mut self, sig: nix::sys::signal::Signal) -> Result<()>;
    /// Starts a second instance on the same port with the same settings, kept until
    /// the trial ends; its bind() may fail (EADDRINUSE), which is the error.
    fn start_second(&mut self) -> Result<()>;
    /// Waits (up to `wait`) for the summary of every connection it accepted (or of
    /// `connections`, for a sender that does not say when it accepts), stops it, and
    /// returns what it said.
    fn finish(&mut self, connections: u32, wait: Duration) -> Result<SenderReport>;
}

/// A sender that could not bind its port (it printed `zerowin-bind-error ERRNO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindFailed {
    pub errno: i32,
}

impl std::fmt::Display for BindFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bind() → {} ({})",
            crate::sys::errno_name(self.errno),
            self.errno
        )
    }
}

impl std::error::Error for BindFailed {}

/// One life of the sender process.
#[derive(Default)]
struct Incarnation {
    accepted: u32,
    summaries: Vec<SenderSummary>,
    /// Its latest counts, from a summary or a progress line.
    counts: Option<SenderMessages>,
}

/// A sender running as a child process.
pub struct ChildSender {
    config: SenderConfig,
    /// The per-trial scratch directory, kept across restarts.
    _scratch: Option<crate::scratch::Scratch>,
    args: Vec<String>,
    addr: SocketAddr,
    group: Option<Group>,
    lines: Option<Receiver<String>>,
    stderr: Option<PipeTail>,
    lives: Vec<Incarnation>,
    voids: Vec<(u64, u64)>,
    outages: Vec<StoreOutage>,
    accepted: Vec<(u64, u64)>,
    takeovers: Vec<u64>,
    refused: u32,
    /// The progress lines of the first life.
    progress: Vec<Progress>,
    /// Second instances (`second-sender`), stopped with the first.
    seconds: Vec<ChildSender>,
}

impl ChildSender {
    pub fn start(config: &SenderConfig) -> Result<ChildSender> {
        let mut args = config.setup.args.clone();
        let scratch = match config.setup.scratch_dir {
            Some(key) => {
                let dir = crate::scratch::Scratch::new()?;
                args.extend(["--set".into(), format!("{key}={}", dir.path().display())]);
                Some(dir)
            }
            None => None,
        };
        if let Some(url) = &config.nats_url {
            args.extend(["--set".into(), format!("nats_url={url}")]);
        }
        let mut s = ChildSender::new(
            config.clone(),
            scratch,
            args,
            SocketAddr::new(config.bind, 0),
        );
        s.spawn(0)?;
        Ok(s)
    }

    fn new(
        config: SenderConfig,
        scratch: Option<crate::scratch::Scratch>,
        args: Vec<String>,
        addr: SocketAddr,
    ) -> ChildSender {
        ChildSender {
            config,
            _scratch: scratch,
            args,
            addr,
            group: None,
            lines: None,
            stderr: None,
            lives: Vec::new(),
            voids: Vec::new(),
            outages: Vec::new(),
            accepted: Vec::new(),
            takeovers: Vec::new(),
            refused: 0,
            progress: Vec::new(),
            seconds: Vec::new(),
        }
    }

    /// Spawns `zerowin serve` on `port` (0: any) and waits for its port line.
    fn spawn(&mut self, port: u16) -> Result<()> {
        let mut cmd = Command::new(&self.config.exe);
        cmd.arg("serve")
            .args(["--port", &port.to_string()])
            .args(["--bind", &self.config.bind.to_string()])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // The config holds the namespace open past the child's exec.
        if let Some(ns) = &self.config.netns {
            ns.enter_on_exec(&mut cmd);
        }
        let mut group = Group::spawn(&mut cmd)?;
        let stdout = group.child_mut().stdout.take().expect("stdout is piped");
        let stderr = group.child_mut().stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        // The reader ends at EOF, which comes when the group is killed.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.group = Some(group);
        self.lines = Some(rx);
        self.stderr = Some(PipeTail::spawn(Some(stderr), 4096));
        self.lives.push(Incarnation::default());
        let timeout = self.config.start_timeout;
        let until = Instant::now() + timeout;
        loop {
            match self.next_line(until) {
                Ok(Some(Line::Port(p))) => {
                    self.addr.set_port(p);
                    return Ok(());
                }
                Ok(Some(Line::BindError(errno))) => {
                    self.stop()?;
                    return Err(BindFailed { errno }.into());
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    self.stop()?;
                    bail!(
                        "the sender printed no port within {timeout:?}{}",
                        self.stderr_note()
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.stop()?;
                    bail!("the sender exited before listening{}", self.stderr_note());
                }
            }
        }
    }

    /// The next line before `until`, taken into the current incarnation's account.
    fn next_line(&mut self, until: Instant) -> Result<Option<Line>, RecvTimeoutError> {
        let rx = self.lines.as_ref().ok_or(RecvTimeoutError::Disconnected)?;
        let left = until.saturating_duration_since(Instant::now());
        let raw = rx.recv_timeout(left)?;
        let line = Line::parse(&raw);
        let first_life = self.lives.len() == 1;
        let life = self.lives.last_mut().expect("spawned");
        match &line {
            Some(Line::Accepted) => life.accepted += 1,
            // A connection closed in the lobby is no session: its summary carries
            // no counts worth keeping, and is neither waited for nor the trial's.
            Some(Line::Summary(s)) if s.remedy.as_ref().is_some_and(|m| m.end.before_session()) => {
                self.refused += 1
            }
            Some(Line::Summary(s)) => {
                life.counts = s.remedy.clone().or(life.counts.take());
                life.summaries.push(s.as_ref().clone());
            }
            Some(Line::Takeover(ns)) => self.takeovers.push(*ns),
            Some(Line::Progress(t_ns, m)) => {
                if let (Some(t_ns), true) = (t_ns, first_life) {
                    self.progress.push(Progress {
                        t_ns: *t_ns,
                        produced: m.produced,
                        acked: m.acked,
                        spool_messages: m.spool.map_or(0, |s| s.messages),
                    });
                }
                life.counts = Some(m.clone());
            }
            Some(Line::Void(a, z)) => self.voids.push((*a, *z)),
            Some(Line::Outage(ns, why)) => self.outages.push(StoreOutage {
                start_ns: *ns,
                end_ns: None,
                reason: why.clone(),
            }),
            Some(Line::OutageEnd(ns)) => {
                if let Some(o) = self.outages.last_mut().filter(|o| o.end_ns.is_none()) {
                    o.end_ns = Some(*ns);
                }
            }
            Some(Line::Committed(a, z)) => match self.accepted.last_mut() {
                Some(last) if last.1 + 1 == *a => last.1 = *z,
                _ => self.accepted.push((*a, *z)),
            },
            _ => {}
        }
        Ok(line)
    }

    /// Takes every line already printed.
    fn drain(&mut self) {
        while let Ok(Some(_) | None) = self.next_line(Instant::now()) {}
    }

    fn stop(&mut self) -> Result<()> {
        if let Some(mut g) = self.group.take() {
            g.stop()?;
        }
        for s in &mut self.seconds {
            s.stop()?;
        }
        Ok(())
    }

    /// What the (stopped) sender wrote to stderr, for an error message.
    fn stderr_note(&mut self) -> String {
        let s = self
            .stderr
            .take()
            .map(|t| t.finish(Duration::from_secs(1)))
            .unwrap_or_default();
        if s.trim().is_empty() {
            String::new()
        } else {
            format!("; it said: {}", s.trim())
        }
    }

    /// The last summary, with the message counts of every incarnation merged.
    fn report(&self) -> SenderReport {
        let summary = self.lives.iter().rev().find_map(|l| l.summaries.last());
        let counts: Vec<&SenderMessages> = self
            .lives
            .iter()
            .filter_map(|l| l.counts.as_ref())
            .collect();
        let summary = summary.cloned().map(|mut s| {
            if !counts.is_empty() {
                // Progress lines after the summary have newer counts, but only a
                // summary says why the connection ended.
                let end = s.remedy.as_ref().map(|m| m.end).unwrap_or_default();
                s.remedy = Some(SenderMessages {
                    end,
                    ..SenderMessages::merge(&counts)
                });
            }
            s
        });
        SenderReport {
            summary,
            voids: self.voids.clone(),
            accepted: self.accepted.clone(),
            takeovers: self.takeovers.clone(),
            progress: self.progress.clone(),
            refused: self.refused,
            restarts: self.lives.len().saturating_sub(1) as u32,
            program: None,
            outages: self.outages.clone(),
            exited: None,
        }
    }
}

impl SenderHandle for ChildSender {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn kill(&mut self) -> Result<()> {
        self.drain();
        self.stop()
    }

    fn signal(&mut self, sig: nix::sys::signal::Signal) -> Result<()> {
        match self.group.as_mut() {
            Some(g) => g.signal(sig),
            None => bail!("the sender is not running"),
        }
    }

    fn start_second(&mut self) -> Result<()> {
        let mut second = ChildSender::new(self.config.clone(), None, self.args.clone(), self.addr);
        second.spawn(self.addr.port())?;
        self.seconds.push(second);
        Ok(())
    }

    fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.drain();
        self.spawn(self.addr.port())
    }

    fn finish(&mut self, connections: u32, wait: Duration) -> Result<SenderReport> {
        let until = Instant::now() + wait;
        if self.group.is_some() {
            loop {
                self.drain();
                let life = self.lives.last().expect("spawned");
                let want = if life.accepted > 0 {
                    life.accepted
                } else if self.lives.len() == 1 {
                    connections.max(1)
                } else {
                    0
                };
                if life.summaries.len() as u32 >= want || Instant::now() >= until {
                    break;
                }
                let next = until.min(Instant::now() + Duration::from_millis(20));
                if let Err(RecvTimeoutError::Disconnected) = self.next_line(next) {
                    break;
                }
            }
        }
        // A sender that exited by itself (an error it could not go on from) says why
        // on stderr: kept, never lost.
        let exited = match self.group.as_mut() {
            Some(g) => g.child_mut().try_wait()?,
            None => None,
        };
        self.stop()?;
        let mut report = self.report();
        if let Some(status) = exited {
            let said = self.stderr_note();
            report.exited = Some(format!("{status}{said}"));
        }
        Ok(report)
    }
}

impl Drop for ChildSender {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
