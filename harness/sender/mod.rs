//! Senders: the servers a client strategy is tested against. Each kind lives in its
//! own module behind [`Sender`]; [`by_name`] is the one place a name picks one. A
//! sender owns its `[sender]` keys: it reads and checks them ([`Sender::configure`])
//! and turns them into the arguments of `zerowin serve`, which is how every sender
//! runs: as a child process of its own, so that killing it is real.
//! A started sender is a [`RunningSender`]: a process group, the address it listens
//! on, and the lines it prints (its port, then one summary per connection).

pub mod original;
pub mod patient;

use std::fmt;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::process::{Group, PipeTail};
use crate::record::SenderSummary;
use crate::settings::{Keys, ScenarioError};

/// A server to test clients against.
pub trait Sender: Send + Sync {
    /// The name scenario files use in `[sender] kind`.
    fn name(&self) -> &'static str;
    /// One line for `zerowin list`.
    fn summary(&self) -> &'static str;
    /// Its `[sender]` keys besides `kind`, each with one line of help for `list`.
    fn keys(&self) -> &'static [(&'static str, &'static str)];
    /// Reads and checks its keys; what it returns starts it.
    fn configure(&self, keys: &mut Keys) -> Result<SenderSetup, ScenarioError>;
    /// True when it speaks the framed protocol ([`crate::protocol`]): its clients must too.
    fn framed(&self) -> bool {
        false
    }
    /// Runs it in this process (`zerowin serve --sender NAME --set KEY=VALUE ...`),
    /// listening on `bind:port`, until it is killed; returns its exit code.
    fn serve(&self, port: u16, bind: &str, set: &[String]) -> Result<i32>;
}

/// A configured sender: how to start it, and how the report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderSetup {
    /// The arguments of `zerowin serve` (after `serve`) that run it with these settings;
    /// `--port` and `--bind` are added when it starts.
    pub args: Vec<String>,
    /// One line for the report: "original (close); sndbuf 4096".
    pub describe: String,
    /// What the record calls its close policy.
    pub policy: String,
}

static ORIGINAL: original::Original = original::Original;
static PATIENT: patient::Patient = patient::Patient;

/// Every sender kind, in the order `list` shows them.
pub fn all() -> [&'static dyn Sender; 2] {
    [&ORIGINAL, &PATIENT]
}

/// The sender kind with this name.
pub fn by_name(name: &str) -> Option<&'static dyn Sender> {
    all().into_iter().find(|s| s.name() == name)
}

/// The sender kinds' names, comma-separated, for error messages.
pub fn names() -> String {
    all().map(|s| s.name()).join(", ")
}

/// What the sender does when its send() first fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClosePolicy {
    /// The original: close(). With the client's replies unread, the kernel sends RST.
    #[default]
    Close,
    /// SO_LINGER 0 then close(): always an RST.
    Linger0,
    /// shutdown(SHUT_WR), read and discard until EOF, then close(): a clean FIN.
    ShutdownDrain,
}

impl ClosePolicy {
    pub const ALL: [ClosePolicy; 3] = [
        ClosePolicy::Close,
        ClosePolicy::Linger0,
        ClosePolicy::ShutdownDrain,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClosePolicy::Close => "close",
            ClosePolicy::Linger0 => "linger0",
            ClosePolicy::ShutdownDrain => "shutdown-drain",
        }
    }
}

impl fmt::Display for ClosePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClosePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ClosePolicy::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown close policy `{s}`; expected one of close, linger0, shutdown-drain"
                )
            })
    }
}

/// How to start a sender.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// The zerowin executable that runs every sender (`zerowin serve`).
    pub exe: PathBuf,
    /// The address to listen on, with port 0.
    pub bind: IpAddr,
    /// How long the sender may take to print its port.
    pub start_timeout: Duration,
    /// What its own keys made of it.
    pub setup: SenderSetup,
}

impl SenderConfig {
    /// Starts the sender as `zerowin serve --port 0 --bind ADDR ARGS`, in a process
    /// group of its own, and waits until it listens.
    pub fn start(&self) -> Result<RunningSender> {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("serve")
            .args(["--port", "0", "--bind", &self.bind.to_string()])
            .args(&self.setup.args);
        RunningSender::spawn(cmd, self.bind, self.start_timeout)
    }
}

/// A started sender. Dropping it kills and reaps its whole process group.
pub struct RunningSender {
    group: Group,
    /// Where it listens.
    pub addr: SocketAddr,
    lines: Receiver<String>,
    stderr: Option<PipeTail>,
}

impl RunningSender {
    /// Spawns `cmd` in its own process group and waits for its `zerowin-port N` line.
    pub fn spawn(mut cmd: Command, bind: IpAddr, start_timeout: Duration) -> Result<Self> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut group = Group::spawn(&mut cmd)?;
        let stdout = group.child_mut().stdout.take().expect("stdout is piped");
        let stderr_pipe = group.child_mut().stderr.take().expect("stderr is piped");
        let (tx, lines) = mpsc::channel();
        // Reader threads end at EOF, which comes when the group is killed.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Some(PipeTail::spawn(Some(stderr_pipe), 4096));
        let mut sender = RunningSender {
            group,
            addr: SocketAddr::new(bind, 0),
            lines,
            stderr,
        };
        let until = Instant::now() + start_timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match sender.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = line.strip_prefix("zerowin-port ") {
                        sender.addr.set_port(port.trim().parse()?);
                        return Ok(sender);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    sender.group.stop()?;
                    bail!(
                        "the sender printed no port within {start_timeout:?}{}",
                        sender.stderr_note()
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    sender.group.stop()?;
                    bail!("the sender exited before listening{}", sender.stderr_note());
                }
            }
        }
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

    /// The summary of the last of `connections` connections: waits up to `timeout`
    /// for that many summaries, and returns the last one that came. A remedy sender's
    /// counts are cumulative, so its last summary holds them all.
    pub fn summary_of_last(
        &mut self,
        connections: u32,
        timeout: Duration,
    ) -> Option<SenderSummary> {
        let until = Instant::now() + timeout;
        let mut last = None;
        for _ in 0..connections.max(1) {
            let left = until.saturating_duration_since(Instant::now());
            match self.summary(left) {
                Some(s) => last = Some(s),
                None => break,
            }
        }
        last
    }

    /// Waits up to `timeout` for the summary of a finished connection.
    pub fn summary(&mut self, timeout: Duration) -> Option<SenderSummary> {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(s) = SenderSummary::parse(&line) {
                        return Some(s);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Kills and reaps the sender and every child it forked.
    pub fn stop(mut self) -> Result<()> {
        self.group.stop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_policies_round_trip() {
        for p in ClosePolicy::ALL {
            assert_eq!(p.as_str().parse::<ClosePolicy>().unwrap(), p);
        }
        assert!(
            "lingerzero"
                .parse::<ClosePolicy>()
                .unwrap_err()
                .contains("lingerzero")
        );
    }

    #[test]
    fn every_sender_is_found_by_its_name() {
        assert_eq!(by_name("original").unwrap().name(), "original");
        assert!(by_name("nope").is_none());
    }
}
