//! `external`: a client program of the user's, such as their own Python client. The
//! scenario gives its command line with `{host}` and `{port}`; it runs in the
//! trial's namespace, in a process group of its own, under the trial's duration and
//! deadline. zerowin cannot see its calls, so the trial classifies its outcome from
//! the wire ([`crate::observe::classify_external`]); its exit status is the fallback.

use std::net::SocketAddr;

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use std::path::Path;

use super::{ClientHooks, ClientParams, Strategy};
use crate::program::{Program, Spec, describe};
use crate::record::{ClientRecord, ClockZero, Ending, ExternalRun, SignalSent, TrialRecord};
use crate::settings::{Keys, ScenarioError};
use crate::sys::monotonic_ns;

pub struct External;

/// How long the program has to exit after SIGTERM at the end of the duration.
const GRACE: Duration = Duration::from_millis(300);

/// Fills `{host}` and `{port}` in every argument.
pub fn fill(command: &[String], addr: SocketAddr) -> Vec<String> {
    crate::program::fill(command, addr, None)
}

/// Its own settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// The program and its arguments, with `{host}` and `{port}`.
    pub command: Vec<String>,
}

impl Strategy for External {
    fn name(&self) -> &'static str {
        "external"
    }

    fn summary(&self) -> &'static str {
        "a program of yours ([client] command, with {host} and {port}); classified from the wire"
    }

    fn describe(&self, p: &ClientParams) -> String {
        let command = p.own::<Settings>().command;
        format!("`{}`", crate::words::clean(&command.join(" ")))
    }

    fn default_reply(&self) -> &'static str {
        ""
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        vec![(
            "command",
            "[\"program\", \"arg\", ...] with {host}, {port} and {dir} (the scenario's directory)",
        )]
    }

    fn configure(
        &self,
        keys: &mut Keys,
        p: &mut ClientParams,
        _dir: &Path,
    ) -> Result<(), ScenarioError> {
        let argv = crate::program::read_command(
            keys,
            "strategy external",
            "[\"python3\", \"client.py\", \"{host}\", \"{port}\"]",
        )?;
        if !argv.iter().any(|a| a.contains("{port}")) {
            return Err(keys.invalid(
                "command",
                "must contain {port} (and usually {host}), where the sender listens",
            ));
        }
        p.own = super::Own::new(Settings { command: argv });
        Ok(())
    }

    fn explain(&self, r: &TrialRecord) -> String {
        match &r.client.ending {
            Ending::Exited { status, at_us, .. } => external_line(r, status, *at_us),
            _ => super::explain_client(r),
        }
    }

    fn ready(&self, p: &ClientParams) -> Result<(), (&'static str, &'static str)> {
        match p.own.get::<Settings>() {
            Some(s) if !s.command.is_empty() => Ok(()),
            _ => Err((
                "command",
                "runs the scenario's [client] command, and this scenario has none",
            )),
        }
    }

    fn obeys_faults(&self) -> bool {
        true
    }

    fn is_external(&self) -> bool {
        true
    }

    /// A program of the user's speaks what it speaks.
    fn speaks(&self, _framed: bool) -> bool {
        true
    }

    /// A framed client program counts its messages when it prints its
    /// `zerowin-processed` line; a claim about them fails if it does not.
    fn counts_messages(&self) -> bool {
        true
    }

    fn drive(
        &self,
        addr: SocketAddr,
        params: &ClientParams,
        hooks: &mut dyn ClientHooks,
    ) -> Result<ClientRecord> {
        let command = params.own::<Settings>().command;
        if command.is_empty() {
            bail!("strategy external needs client.command");
        }
        let argv = fill(&command, addr);
        // Time zero until the trial knows the program's SYN: its start.
        let zero = Instant::now();
        let zero_ns = monotonic_ns();
        hooks.started(zero_ns);
        let us = |t: Instant| t.duration_since(zero).as_micros() as i64;
        let mut prog = Program::spawn(Spec {
            argv: argv.clone(),
            ..Spec::default()
        })?;
        let mut faults = Faults {
            control: hooks.control(),
            paused: false,
        };
        let mut signals = Vec::new();
        let (status, stopped_at_end, timed_out) =
            supervise(&mut prog, &mut faults, params, zero, &mut signals)?;
        let ended = Instant::now();
        if status.is_none() {
            signals.push(SignalSent {
                signal: "SIGKILL".into(),
                at_us: us(ended),
            });
        }
        prog.kill()?;
        let (stdout, stderr, _) = prog.take_output();
        let (status, code) = describe(status);
        let read = read_line(&stdout);
        let (bytes_read, reads) = read.unwrap_or((0, 0));
        Ok(ClientRecord {
            strategy: self.name().to_string(),
            zero_ns,
            zero: ClockZero::ProgramStart,
            connected_us: None,
            rcvbuf_effective: 0,
            socket: None,
            bytes_read,
            messages_read: bytes_read / crate::record::MESSAGE_LEN,
            reads,
            replies: 0,
            reply_bytes: 0,
            request_bytes: 0,
            first_bytes: String::new(),
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
            messages: processed_line(&stdout),
            external: Some(ExternalRun {
                command: argv,
                started_us: 0,
                exited_us: Some(us(ended)),
                signals,
                stdout_tail: stdout,
                stderr_tail: stderr,
                said_read: read.is_some(),
            }),
        })
    }
}

/// What a framed client program said it processed: its last
/// `zerowin-processed FIRST LAST COUNT GAPS DUPLICATES [REORDERED [RECONNECTS]]` line
/// (docs/remedies.md). None for a program that prints none, which is then classified
/// from the wire alone.
pub fn processed_line(stdout: &str) -> Option<crate::record::ClientMessages> {
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("zerowin-processed "))?;
    let n: Vec<u64> = line
        .split_whitespace()
        .map(|w| w.parse().ok())
        .collect::<Option<_>>()?;
    let (&[first, last, count, gaps, duplicates], rest) = n.split_first_chunk::<5>()?;
    // A count that does not add up is not a report to trust.
    if count + gaps > last || (count > 0 && first == 0) {
        return None;
    }
    Some(crate::record::ClientMessages {
        processed: count,
        duplicates,
        gaps,
        reordered: rest.first().copied().unwrap_or(0),
        reconnects: rest.get(1).copied().unwrap_or(0) as u32,
        last_seq: last,
        ..Default::default()
    })
}

/// What a client program of bare messages said it read: its last
/// `zerowin-read BYTES READS` line (docs/usage.md), as (bytes, reads). None for a
/// program that prints none: what it read is then unknown.
pub fn read_line(stdout: &str) -> Option<(u64, u64)> {
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("zerowin-read "))?;
    let (bytes, reads) = line.trim().split_once(' ')?;
    let (bytes, reads): (u64, u64) = (bytes.parse().ok()?, reads.trim().parse().ok()?);
    // Every read that returned data returned at least a byte.
    (reads <= bytes || bytes == 0).then_some((bytes, reads))
}

/// The external program's line: when it started, the signals it got, how it ended,
/// how the wire classified it, and its last words.
fn external_line(r: &TrialRecord, status: &str, at_us: u64) -> String {
    let Some(x) = &r.client.external else {
        return format!("the client {status} at {}", crate::words::ms_u(at_us));
    };
    let mut s = format!(
        "the external client `{}` started at {}",
        crate::words::clean(&x.command.join(" ")),
        crate::words::ms(x.started_us)
    );
    for sig in &x.signals {
        s.push_str(&format!(
            ", got {} at {}",
            sig.signal,
            crate::words::ms(sig.at_us)
        ));
    }
    s.push_str(&format!(" and {status} at {}", crate::words::ms_u(at_us)));
    if let Some(why) = &r.classified_from {
        s.push_str(&format!("; classified {} because {why}", r.outcome));
    }
    if let Some(last) = x.stderr_tail.trim().lines().last() {
        s.push_str(&format!(
            "; its last words: \"{}\"",
            crate::words::clean(last)
        ));
    }
    s
}

/// Runs the program to its end, or to the end of the duration (SIGTERM, then SIGKILL
/// after a grace), obeying the client's faults; every signal sent is kept. Returns
/// its exit status (None when it had to be killed), whether it was stopped at the
/// end, and whether the deadline passed.
fn supervise(
    prog: &mut Program,
    faults: &mut Faults,
    params: &ClientParams,
    zero: Instant,
    signals: &mut Vec<SignalSent>,
) -> Result<(Option<std::process::ExitStatus>, bool, bool)> {
    let us = |t: Instant| t.duration_since(zero).as_micros() as i64;
    let end = zero + params.duration;
    let deadline = zero + params.deadline;
    loop {
        if let Some(sig) = faults.obey(prog)? {
            signals.push(SignalSent {
                signal: sig.into(),
                at_us: us(Instant::now()),
            });
        }
        if let Some(st) = prog.try_wait()? {
            return Ok((Some(st), false, false));
        }
        let now = Instant::now();
        if now >= end {
            // The duration is over: ask it to stop, then make sure.
            signals.push(SignalSent {
                signal: "SIGTERM".into(),
                at_us: us(now),
            });
            let ended = prog.terminate(GRACE.min(deadline.saturating_duration_since(now)))?;
            return Ok((ended.status, true, Instant::now() >= deadline));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The client faults, as signals to the program.
struct Faults {
    control: Option<std::sync::Arc<crate::fault::ClientControl>>,
    paused: bool,
}

impl Faults {
    /// Does what the schedule asks now; returns the signal sent, if any.
    fn obey(&mut self, p: &mut Program) -> Result<Option<&'static str>> {
        use crate::fault::ClientState;
        use nix::sys::signal::Signal;
        let Some(state) = self.control.as_ref().map(|c| c.state()) else {
            return Ok(None);
        };
        Ok(match state {
            ClientState::Killed if p.running() => {
                p.kill()?;
                self.paused = false;
                Some("SIGKILL (kill-client)")
            }
            ClientState::Running if !p.running() => {
                p.start()?;
                Some("started again (restart-client)")
            }
            ClientState::Paused if !self.paused && p.running() => {
                p.signal(Signal::SIGSTOP)?;
                self.paused = true;
                Some("SIGSTOP (pause-client)")
            }
            ClientState::Running if self.paused => {
                p.signal(Signal::SIGCONT)?;
                self.paused = false;
                Some("SIGCONT (resume-client)")
            }
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_processed_line_is_read_and_checked() {
        let out = "hello\nzerowin-processed 1 90 80 10 2\nzerowin-processed 1 100 95 5 3 1 4\n{\"json\": 1}\n";
        let m = processed_line(out).unwrap();
        assert_eq!(
            (m.processed, m.gaps, m.duplicates, m.last_seq),
            (95, 5, 3, 100)
        );
        assert_eq!((m.reordered, m.reconnects), (1, 4));
        assert!(processed_line("nothing of the kind\n").is_none());
        assert!(
            processed_line("zerowin-processed 1 10 9\n").is_none(),
            "too few"
        );
        assert!(
            processed_line("zerowin-processed 1 10 9 5 0\n").is_none(),
            "does not add up"
        );
        assert!(processed_line("zerowin-processed 1 x 9 1 0\n").is_none());
    }

    #[test]
    fn the_read_line_is_read_and_checked() {
        assert_eq!(
            read_line("x\nzerowin-read 130 13\nzerowin-read 260 26\n"),
            Some((260, 26))
        );
        assert_eq!(
            read_line("zerowin-read 10 11\n"),
            None,
            "more reads than bytes"
        );
        assert_eq!(read_line("zerowin-read 10\n"), None);
        assert_eq!(read_line("nothing\n"), None);
    }

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
