//! `trickle`: the peer the socket-options document's claims need. It sends the
//! original's bare 13-byte messages at a `rate` (one per 400 ms is `"2.5/s"`), and,
//! with `stall_after`, goes silent after that many messages (or that long) while
//! keeping the connection open: a peer that stops answering without a FIN or an RST.
//! It never closes on EAGAIN (it waits with poll()), and it reads and discards what
//! the client sends, so its close is never an RST. One client at a time; one summary
//! line per connection.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::framed::schedule::{Pace, Rate, Schedule};
use super::{Sender, SenderSetup};
use crate::limits;
use crate::settings::{Keys, ScenarioError};
use crate::sockopts::{SERVER_KEYS, ServerOptions};
use crate::sys;

pub struct Trickle;

/// The original's message.
const MESSAGE: &[u8; 13] = b"Hello World!\0";

const KEYS: &[(&str, &str)] = &[
    (
        "rate",
        "N/s messages (10/s); \"unlimited\" is the original's tight loop",
    ),
    (
        "stall_after",
        "go silent after N messages (an integer) or T (\"2s\"), keeping the connection open",
    ),
    ("sndbuf", "SO_SNDBUF per connection, bytes (kernel default)"),
];

/// When the sender goes silent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stall {
    Never,
    AfterMessages(u64),
    After(Duration),
}

#[derive(Debug, Clone, PartialEq)]
struct Settings {
    rate: Rate,
    stall: Stall,
    sndbuf: Option<usize>,
    sock: ServerOptions,
}

impl Settings {
    fn read(keys: &mut Keys) -> Result<Settings, ScenarioError> {
        let rate = match keys.string("rate")? {
            None => Rate::PerSecond(10.0),
            Some(r) => match Rate::parse(&r, MESSAGE.len()).map_err(|m| keys.invalid("rate", m))? {
                Rate::OfCapacity(_) => {
                    return Err(keys.invalid(
                        "rate",
                        "the trickle sender's rate is N/s; rates of the capacity (\"0.5C\") are for the original, patient and spool senders",
                    ));
                }
                r => r,
            },
        };
        // An integer is a count of messages; a string, a duration.
        let stall = if keys.is_int("stall_after") {
            let n = keys.int("stall_after", limits::Int::new(0, i64::MAX))?;
            Stall::AfterMessages(n.unwrap_or(0) as u64)
        } else {
            keys.duration("stall_after", limits::DURATION)?
                .map_or(Stall::Never, Stall::After)
        };
        Ok(Settings {
            rate,
            stall,
            sndbuf: keys.int("sndbuf", limits::BUF)?.map(|v| v as usize),
            sock: ServerOptions::read(keys)?,
        })
    }

    fn to_pairs(&self) -> Vec<String> {
        let mut v = vec![format!("rate={}", self.rate.to_text())];
        match self.stall {
            Stall::Never => {}
            Stall::AfterMessages(n) => v.push(format!("stall_after={n}")),
            Stall::After(d) => v.push(format!("stall_after={}", humantime::format_duration(d))),
        }
        if let Some(b) = self.sndbuf {
            v.push(format!("sndbuf={b}"));
        }
        v.extend(self.sock.to_pairs());
        v
    }
}

impl Sender for Trickle {
    fn name(&self) -> &'static str {
        "trickle"
    }

    fn summary(&self) -> &'static str {
        "bare 13-byte messages at a rate, silent after stall_after with the connection open; never an RST"
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        KEYS.iter().chain(SERVER_KEYS).copied().collect()
    }

    fn configure(&self, keys: &mut Keys) -> Result<SenderSetup, ScenarioError> {
        let s = Settings::read(keys)?;
        let mut args = vec!["--sender".to_string(), "trickle".to_string()];
        for p in s.to_pairs() {
            args.extend(["--set".to_string(), p]);
        }
        let stall = match s.stall {
            Stall::Never => "never silent".to_string(),
            Stall::AfterMessages(n) => format!("silent after {n} messages"),
            Stall::After(d) => format!("silent after {d:?}"),
        };
        Ok(SenderSetup {
            args,
            describe: format!("trickle ({}, {stall})", s.rate.to_text()),
            policy: "trickle".into(),
            own: Default::default(),
            wants_broker: false,
            summary_wait: super::SUMMARY_WAIT,
            scratch_dir: None,
            pace: None,
            store_messages: None,
            load: super::Load::NotModelled(
                "the trickle sender writes a little and then falls silent; what it tests is the time-outs, not the buffers",
            ),
        })
    }

    fn explain(&self, r: &crate::record::TrialRecord, s: &crate::record::SenderSummary) -> String {
        use crate::words::ms;
        let at = s.last_message_ns.map_or(String::new(), |last| {
            format!(
                "; its last message left at {}",
                ms((last as i64 - r.client.zero_ns as i64) / 1000)
            )
        });
        let silence = r.silence_before_failure_us.map_or(String::new(), |u| {
            format!(", {} before the client gave up", ms(u))
        });
        format!(
            "the trickle sender sent {} messages ({} B) and never failed{at}{silence}; it kept the connection open until the client closed it",
            s.messages, s.bytes
        )
    }

    fn serve(&self, port: u16, bind: &str, set: &[String]) -> Result<i32> {
        let mut keys = Keys::from_pairs(std::path::Path::new("--set"), "sender", set)?;
        let s = Settings::read(&mut keys)?;
        keys.finish("sender `trickle`", &self.key_names())?;
        let listener = s
            .sock
            .listen(bind, port)
            .with_context(|| format!("binding {bind}:{port}"))?;
        let mut out = std::io::stdout();
        writeln!(out, "zerowin-port {}", listener.local_addr()?.port())?;
        out.flush()?;
        loop {
            let (stream, _) = listener.accept()?;
            writeln!(out, "zerowin-accepted")?;
            let line = serve_one(&s, stream, &listener)?;
            writeln!(out, "{line}")?;
            out.flush()?;
        }
    }
}

/// Sends on schedule until the client closes; returns the summary line.
fn serve_one(s: &Settings, stream: TcpStream, listener: &TcpListener) -> Result<String> {
    let sock = socket2::SockRef::from(&stream);
    if let Some(b) = s.sndbuf {
        sock.set_send_buffer_size(b)?;
    }
    s.sock.tcp.apply(&sock)?;
    let sockopts = ServerOptions::summary_field(&sock, &socket2::SockRef::from(listener));
    let sndbuf = sock.send_buffer_size()?;
    stream.set_nonblocking(true)?;
    let mut stream = stream;
    let mut schedule = Schedule::new(Pace {
        phases: vec![],
        rate: s.rate,
    });
    let started = Instant::now();
    let (mut sent, mut bytes, mut pending) = (0u64, 0u64, 0usize);
    let mut last_ns = 0u64;
    let mut buf = [0u8; 4096];
    loop {
        let silent = match s.stall {
            Stall::Never => false,
            Stall::AfterMessages(n) => sent >= n,
            Stall::After(d) => started.elapsed() >= d,
        };
        let due = schedule
            .due(Instant::now(), 0)
            .map_or(u64::MAX, |d| d.saturating_sub(sent));
        if !silent && (pending > 0 || due > 0) {
            let off = MESSAGE.len() - if pending > 0 { pending } else { MESSAGE.len() };
            match sys::send(stream.as_raw_fd(), &MESSAGE[off..], 0) {
                Ok(n) => {
                    bytes += n as u64;
                    let left = MESSAGE.len() - off - n;
                    if left == 0 {
                        sent += 1;
                        last_ns = sys::monotonic_ns();
                    }
                    pending = left;
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        // Read and discard the client's replies; EOF ends the connection.
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
        let events = libc::POLLIN | if !silent { libc::POLLOUT } else { 0 };
        let wait = if silent || due == 0 { 20 } else { 1 };
        let _ = sys::poll_fd(
            stream.as_raw_fd(),
            if due == 0 { libc::POLLIN } else { events },
            Duration::from_millis(wait),
        );
    }
    let now = sys::monotonic_ns();
    Ok(format!(
        "zerowin-summary pid={} messages={sent} bytes={bytes} partial={} errno=0 sndbuf={sndbuf} fail_ns=0 close_start_ns={now} close_ns={now} policy=trickle drained=0 last_message_ns={last_ns} sockopts={sockopts}",
        std::process::id(),
        u64::from(pending > 0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_survive_serve_arguments() {
        for stall in [
            Stall::Never,
            Stall::AfterMessages(5),
            Stall::After(Duration::from_secs(2)),
        ] {
            let s = Settings {
                rate: Rate::PerSecond(2.5),
                stall,
                sndbuf: Some(4096),
                sock: ServerOptions::default(),
            };
            let pairs = s.to_pairs();
            let mut keys =
                Keys::from_pairs(std::path::Path::new("--set"), "sender", &pairs).unwrap();
            assert_eq!(Settings::read(&mut keys).unwrap(), s);
        }
    }
}
