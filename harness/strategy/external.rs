//! `external`: a client program of the user's, such as their own Python client. The
//! scenario gives its command line with `{host}` and `{port}`; it runs in the
//! trial's namespace, in a process group of its own, under the trial's duration and
//! deadline. zerowin cannot see its calls, so the trial classifies its outcome from
//! the wire ([`crate::observe::classify_external`]); its exit status is the fallback.

use std::net::SocketAddr;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{ClientHooks, ClientParams, Strategy};
use crate::process::{Group, PipeTail};
use crate::record::{ClientRecord, ClockZero, Ending, ExternalRun, SignalSent};
use crate::sys::monotonic_ns;

pub struct External;

/// How long the program has to exit after SIGTERM at the end of the duration.
const GRACE: Duration = Duration::from_millis(300);
/// How much of its output is kept.
const TAIL: usize = 4096;
/// How long its output pipes may stay open after its group is stopped.
const PIPE_WAIT: Duration = Duration::from_secs(1);

/// "exited with code 1", "was killed by SIGTERM".
fn describe(status: Option<ExitStatus>) -> (String, Option<i32>) {
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

/// Fills `{host}` and `{port}` in every argument.
pub fn fill(command: &[String], addr: SocketAddr) -> Vec<String> {
    command
        .iter()
        .map(|a| {
            a.replace("{host}", &addr.ip().to_string())
                .replace("{port}", &addr.port().to_string())
        })
        .collect()
}

impl Strategy for External {
    fn name(&self) -> &'static str {
        "external"
    }

    fn summary(&self) -> &'static str {
        "a program of yours ([client] command, with {host} and {port}); classified from the wire"
    }

    fn describe(&self, p: &ClientParams) -> String {
        format!("`{}`", crate::report::output::clean(&p.command.join(" ")))
    }

    fn default_reply(&self) -> &'static str {
        ""
    }

    fn is_external(&self) -> bool {
        true
    }

    /// A program of the user's speaks what it speaks.
    fn speaks(&self, _framed: bool) -> bool {
        true
    }

    fn drive(
        &self,
        addr: SocketAddr,
        params: &ClientParams,
        _hooks: &mut dyn ClientHooks,
    ) -> Result<ClientRecord> {
        if params.command.is_empty() {
            bail!("strategy external needs client.command");
        }
        let argv = fill(&params.command, addr);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Time zero until the trial knows the program's SYN: its start.
        let zero = Instant::now();
        let zero_ns = monotonic_ns();
        let us = |t: Instant| t.duration_since(zero).as_micros() as i64;
        let mut group = Group::spawn(&mut cmd).with_context(|| format!("running {:?}", argv[0]))?;
        let stdout = PipeTail::spawn(group.child_mut().stdout.take(), TAIL);
        let stderr = PipeTail::spawn(group.child_mut().stderr.take(), TAIL);
        let end = zero + params.duration;
        let deadline = zero + params.deadline;
        let mut signals = Vec::new();
        let (status, stopped_at_end, timed_out) = loop {
            if let Some(st) = group.child_mut().try_wait()? {
                break (Some(st), false, false);
            }
            let now = Instant::now();
            if now >= end {
                // The duration is over: ask it to stop, then make sure.
                signals.push(SignalSent {
                    signal: "SIGTERM".into(),
                    at_us: us(now),
                });
                let st = group.terminate(GRACE.min(deadline.saturating_duration_since(now)))?;
                break (st, true, Instant::now() >= deadline);
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let ended = Instant::now();
        if status.is_none() {
            signals.push(SignalSent {
                signal: "SIGKILL".into(),
                at_us: us(ended),
            });
        }
        group.stop()?;
        let (status, code) = describe(status);
        Ok(ClientRecord {
            strategy: self.name().to_string(),
            zero_ns,
            zero: ClockZero::ProgramStart,
            connected_us: None,
            rcvbuf_effective: 0,
            bytes_read: 0,
            messages_read: 0,
            reads: 0,
            replies: 0,
            reply_bytes: 0,
            first_reply_us: None,
            ending: Ending::Exited {
                status,
                code,
                stopped_at_end,
                timed_out,
                at_us: us(ended) as u64,
            },
            errors: Vec::new(),
            postmortem: None,
            messages: None,
            external: Some(ExternalRun {
                command: argv,
                started_us: 0,
                exited_us: Some(us(ended)),
                signals,
                stdout_tail: stdout.finish(PIPE_WAIT),
                stderr_tail: stderr.finish(PIPE_WAIT),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_host_and_port() {
        let cmd: Vec<String> = ["python3", "c.py", "--connect", "{host}:{port}"]
            .map(String::from)
            .to_vec();
        let addr: SocketAddr = "10.1.2.3:4567".parse().unwrap();
        assert_eq!(
            fill(&cmd, addr),
            ["python3", "c.py", "--connect", "10.1.2.3:4567"]
        );
    }
}
