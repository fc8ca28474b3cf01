//! `external`: a client program of the user's, such as their own Python client. The
//! scenario gives its command line with `{host}` and `{port}`; it runs in the
//! trial's namespace, in a process group of its own, under the trial's duration and
//! deadline. zerowin cannot see its calls, so the trial classifies its outcome from
//! the wire ([`crate::observe::classify_external`]); its exit status is the fallback.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{ClientHooks, ClientParams, Strategy};
use crate::process::Group;
use crate::record::{ClientRecord, Ending, ExternalRun};
use crate::sys::monotonic_ns;

pub struct External;

/// How long the program has to exit after SIGTERM at the end of the duration.
const GRACE: Duration = Duration::from_millis(300);
/// How much of its output is kept.
const TAIL: usize = 4096;

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

/// Reads a pipe to its end on a thread, keeping the last TAIL bytes.
fn tail_of(pipe: Option<impl Read + Send + 'static>) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    if let Some(mut p) = pipe {
        let sink = Arc::clone(&buf);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = p.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let mut b = sink.lock().unwrap_or_else(|e| e.into_inner());
                b.extend_from_slice(&chunk[..n]);
                if b.len() > TAIL {
                    let cut = b.len() - TAIL;
                    b.drain(..cut);
                }
            }
        });
    }
    buf
}

fn text(buf: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&buf.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

impl Strategy for External {
    fn name(&self) -> &'static str {
        "external"
    }

    fn summary(&self) -> &'static str {
        "a program of yours ([client] command, with {host} and {port}); classified from the wire"
    }

    fn default_reply(&self) -> &'static str {
        ""
    }

    fn is_external(&self) -> bool {
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
        let started = Instant::now();
        let start_ns = monotonic_ns();
        let mut group = Group::spawn(&mut cmd).with_context(|| format!("running {:?}", argv[0]))?;
        let stdout = tail_of(group.child_mut().stdout.take());
        let stderr = tail_of(group.child_mut().stderr.take());
        let end = started + params.duration;
        let deadline = started + params.deadline;
        let (status, stopped_at_end, timed_out) = loop {
            if let Some(st) = group.child_mut().try_wait()? {
                break (Some(st), false, false);
            }
            let now = Instant::now();
            if now >= end {
                // The duration is over: ask it to stop, then make sure.
                let st = group.terminate(GRACE.min(deadline.saturating_duration_since(now)))?;
                break (st, true, Instant::now() >= deadline);
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let at_us = started.elapsed().as_micros() as u64;
        group.stop()?;
        let (status_text, code) = match status {
            Some(st) => {
                use std::os::unix::process::ExitStatusExt;
                match (st.code(), st.signal()) {
                    (Some(c), _) => (format!("exit code {c}"), Some(c)),
                    (None, Some(s)) => (format!("killed by {}", crate::sys::signal_name(s)), None),
                    _ => ("ended".to_string(), None),
                }
            }
            None => ("killed by SIGKILL after SIGTERM".to_string(), None),
        };
        // Give the pipe readers a moment to copy the last bytes.
        std::thread::sleep(Duration::from_millis(10));
        Ok(ClientRecord {
            strategy: self.name().to_string(),
            connect_ns: start_ns,
            connect_us: 0,
            rcvbuf_effective: 0,
            bytes_read: 0,
            messages_read: 0,
            reads: 0,
            replies: 0,
            reply_bytes: 0,
            first_reply_us: None,
            ending: Ending::Exited {
                status: status_text,
                code,
                stopped_at_end,
                timed_out,
                at_us,
            },
            errors: Vec::new(),
            postmortem: None,
            external: Some(ExternalRun {
                command: argv,
                stdout_tail: text(&stdout),
                stderr_tail: text(&stderr),
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
