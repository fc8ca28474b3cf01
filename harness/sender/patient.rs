//! `patient`: remedy 1 of the 2014 post, "a way to handle the buffer overflow when the
//! client is very slow". The same job as the original (produce messages, send them as
//! fast as the client takes them), minus the mistakes that turned a slow client into
//! an RST:
//! - on EAGAIN it waits for writability with poll() instead of closing;
//! - it reads the client's acknowledgements as they come, so its receive queue never
//!   holds unread data and a close can never become an RST;
//! - produced but unsent messages wait in a bounded memory queue (`queue_bytes`);
//!   when it is full, `on_full` decides: `block` the producer, `drop-oldest` (each
//!   dropped message counted), or `close`;
//! - a client that acknowledges nothing for `stall_timeout` while messages wait is
//!   closed cleanly: shutdown(SHUT_WR), read until EOF (bounded), close. A FIN.
//!
//! It speaks the framed protocol ([`crate::protocol`]): numbered messages, a hello
//! each way, cumulative acknowledgements. It serves one client at a time, and its
//! producer runs whether a client is connected or not, on the schedule of `rate` and
//! `phases`. Its summary line per connection carries the message accounting.
//!
//! What it cannot do is keep what it sent: a message in the kernel's buffers when the
//! connection dies is gone, and a reconnecting client sees the gap. The `spool`
//! sender (remedies 2 and 3) is the one that keeps messages until acknowledged.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::{Sender, SenderSetup};
use crate::limits::{self, Int};
use crate::protocol::{self, DEFAULT_PAYLOAD, Frame, HELLO_LEN, Hello};
use crate::settings::{Keys, ScenarioError};
use crate::sys;

pub struct Patient;

/// How long a client has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a clean close reads the client's last bytes before closing.
const DRAIN_LIMIT: Duration = Duration::from_secs(1);
/// How much is written to the socket per send() at most.
const WRITE_CHUNK: usize = 64 * 1024;
/// The most messages produced per turn of the loop when the rate is unlimited.
const BURST: u64 = 4096;

/// What the producer does when the memory queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFull {
    /// The producer waits for room; what it would have produced meanwhile comes later.
    #[default]
    Block,
    /// The oldest unsent message makes room, and is counted as dropped.
    DropOldest,
    /// The connection is closed cleanly.
    Close,
}

impl FromStr for OnFull {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "block" => Ok(OnFull::Block),
            "drop-oldest" => Ok(OnFull::DropOldest),
            "close" => Ok(OnFull::Close),
            _ => Err(format!(
                "unknown on_full `{s}`; expected block, drop-oldest or close"
            )),
        }
    }
}

impl OnFull {
    fn as_str(self) -> &'static str {
        match self {
            OnFull::Block => "block",
            OnFull::DropOldest => "drop-oldest",
            OnFull::Close => "close",
        }
    }
}

/// How fast the producer makes messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// As fast as the loop turns: the original's tight loop.
    Unlimited,
    /// Messages per second.
    PerSecond(f64),
}

impl Rate {
    /// "unlimited", "1000/s" (messages) or "64KB/s" (payload bytes; KB, MB = 10^3, 10^6).
    fn parse(s: &str, payload: usize) -> Result<Rate, String> {
        let s = s.trim();
        if s == "unlimited" {
            return Ok(Rate::Unlimited);
        }
        let bad = || format!("`{s}` is not a rate like \"unlimited\", \"1000/s\" or \"64KB/s\"");
        let n = s.strip_suffix("/s").ok_or_else(bad)?;
        let (num, scale) = match n {
            _ if n.ends_with("MB") => (&n[..n.len() - 2], 1e6 / payload as f64),
            _ if n.ends_with("KB") => (&n[..n.len() - 2], 1e3 / payload as f64),
            _ if n.ends_with('B') => (&n[..n.len() - 1], 1.0 / payload as f64),
            _ => (n, 1.0),
        };
        let v: f64 = num.trim().parse().map_err(|_| bad())?;
        if !(v > 0.0 && v.is_finite()) {
            return Err(format!("`{s}`: a rate must be above 0"));
        }
        Ok(Rate::PerSecond(v * scale))
    }
}

/// A stretch of the schedule: `rate` for `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase {
    pub duration: Duration,
    pub rate: Rate,
}

/// The patient sender's settings, from its keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub queue_bytes: usize,
    pub on_full: OnFull,
    pub stall_timeout: Duration,
    /// Run first, in order; then `rate` for ever.
    pub phases: Vec<Phase>,
    pub rate: Rate,
    pub sndbuf: Option<usize>,
}

const KEYS: &[(&str, &str)] = &[
    (
        "queue_bytes",
        "memory queue for produced, unsent messages, bytes (1048576)",
    ),
    (
        "on_full",
        "when the queue is full: block, drop-oldest or close (block)",
    ),
    (
        "stall_timeout",
        "close cleanly after this long without an acknowledgement while messages wait (5s)",
    ),
    (
        "rate",
        "unlimited, N/s messages or NKB/s payload, after the phases (unlimited)",
    ),
    (
        "phases",
        "[\"2s unlimited\", \"10s 1000/s\"]: rates for a while each, before `rate`",
    ),
    ("sndbuf", "SO_SNDBUF per connection, bytes (kernel default)"),
];

const QUEUE: Int = Int::new(1024, 1 << 30);

impl Settings {
    fn read(keys: &mut Keys) -> Result<Settings, ScenarioError> {
        let payload = DEFAULT_PAYLOAD.len();
        let rate = match keys.string("rate")? {
            None => Rate::Unlimited,
            Some(r) => Rate::parse(&r, payload).map_err(|m| keys.invalid(0..0, "rate", m))?,
        };
        let mut phases = Vec::new();
        for p in keys.strings("phases")?.unwrap_or_default() {
            let phase = parse_phase(&p, payload).map_err(|m| keys.invalid(0..0, "phases", m))?;
            phases.push(phase);
        }
        Ok(Settings {
            queue_bytes: keys.int("queue_bytes", QUEUE)?.unwrap_or(1 << 20) as usize,
            on_full: keys.parse("on_full")?.unwrap_or_default(),
            stall_timeout: keys
                .duration("stall_timeout", limits::CALL_TIMEOUT)?
                .unwrap_or(Duration::from_secs(5)),
            phases,
            rate,
            sndbuf: keys.int("sndbuf", limits::BUF)?.map(|v| v as usize),
        })
    }

    /// Back to `--set KEY=VALUE` pairs, for `zerowin serve`.
    fn to_pairs(&self) -> Vec<String> {
        let rate = |r: Rate| match r {
            Rate::Unlimited => "unlimited".to_string(),
            Rate::PerSecond(v) => format!("{v}/s"),
        };
        let mut v = vec![
            format!("queue_bytes={}", self.queue_bytes),
            format!("on_full={}", self.on_full.as_str()),
            format!(
                "stall_timeout={}",
                humantime::format_duration(self.stall_timeout)
            ),
            format!("rate={}", rate(self.rate)),
        ];
        if !self.phases.is_empty() {
            let ps: Vec<String> = self
                .phases
                .iter()
                .map(|p| {
                    format!(
                        "\"{} {}\"",
                        humantime::format_duration(p.duration),
                        rate(p.rate)
                    )
                })
                .collect();
            v.push(format!("phases=[{}]", ps.join(", ")));
        }
        if let Some(b) = self.sndbuf {
            v.push(format!("sndbuf={b}"));
        }
        v
    }
}

/// "2s unlimited" or "10s 1000/s".
fn parse_phase(s: &str, payload: usize) -> Result<Phase, String> {
    let (d, r) = s
        .trim()
        .split_once(' ')
        .ok_or_else(|| format!("`{s}` is not a phase like \"2s unlimited\" or \"10s 1000/s\""))?;
    Ok(Phase {
        duration: limits::DURATION.parse(d)?,
        rate: Rate::parse(r, payload)?,
    })
}

impl Sender for Patient {
    fn name(&self) -> &'static str {
        "patient"
    }

    fn summary(&self) -> &'static str {
        "remedy 1: waits with poll() on EAGAIN, reads acks, bounded memory queue, clean close (framed)"
    }

    fn keys(&self) -> &'static [(&'static str, &'static str)] {
        KEYS
    }

    fn framed(&self) -> bool {
        true
    }

    fn configure(&self, keys: &mut Keys) -> Result<SenderSetup, ScenarioError> {
        let s = Settings::read(keys)?;
        let mut args = vec!["--sender".to_string(), "patient".to_string()];
        for p in s.to_pairs() {
            args.extend(["--set".to_string(), p]);
        }
        Ok(SenderSetup {
            args,
            describe: format!(
                "patient (queue {} B, on_full {}, stall {:?}); sndbuf {}",
                s.queue_bytes,
                s.on_full.as_str(),
                s.stall_timeout,
                s.sndbuf.map_or("default".into(), |b| b.to_string())
            ),
            policy: format!("patient/{}", s.on_full.as_str()),
        })
    }

    fn serve(&self, port: u16, bind: &str, set: &[String]) -> Result<i32> {
        let mut keys = Keys::from_pairs(std::path::Path::new("--set"), "sender", set)?;
        let settings = Settings::read(&mut keys)?;
        keys.finish(
            "sender `patient`",
            &KEYS.iter().map(|k| k.0).collect::<Vec<_>>(),
        )?;
        serve(&settings, port, bind)
    }
}

/// The producer and its memory queue.
struct Queue {
    s: Settings,
    started: Instant,
    /// Unsent messages: (seq, produced CLOCK_MONOTONIC ns).
    unsent: VecDeque<(u64, u64)>,
    next_seq: u64,
    produced: u64,
    dropped: u64,
    /// The highest sequence the client acknowledged, over all connections.
    acked: u64,
    peak_bytes: usize,
    /// For each phase (and the final rate), how many messages existed when it began:
    /// a phase counts its rate from there, so a rate after an unlimited spike is that
    /// rate from the end of the spike.
    phase_base: Vec<Option<u64>>,
}

impl Queue {
    fn new(s: Settings) -> Queue {
        Queue {
            phase_base: vec![None; s.phases.len() + 1],
            s,
            started: Instant::now(),
            unsent: VecDeque::new(),
            next_seq: 1,
            produced: 0,
            dropped: 0,
            acked: 0,
            peak_bytes: 0,
        }
    }

    fn frame_len() -> usize {
        Frame::wire_len(DEFAULT_PAYLOAD.len())
    }

    fn bytes(&self) -> usize {
        self.unsent.len() * Queue::frame_len()
    }

    /// The phase at `now` (phases.len() for the final rate), and how far into it.
    fn phase_at(&self, now: Instant) -> (usize, Rate, Duration) {
        let mut t = now.duration_since(self.started);
        for (i, p) in self.s.phases.iter().enumerate() {
            if t <= p.duration {
                return (i, p.rate, t);
            }
            t -= p.duration;
        }
        (self.s.phases.len(), self.s.rate, t)
    }

    /// Messages the schedule has made due by `now`, or None while unlimited.
    fn due(&mut self, now: Instant) -> Option<u64> {
        let (i, rate, into) = self.phase_at(now);
        let base = *self.phase_base[i].get_or_insert(self.produced);
        match rate {
            Rate::Unlimited => None,
            Rate::PerSecond(r) => Some(base + (r * into.as_secs_f64()) as u64),
        }
    }

    /// Produces what is due. Returns false when the queue was full and `on_full`
    /// is `close`.
    fn produce(&mut self, now: Instant) -> bool {
        // A blocked producer catches up as soon as there is room: what the schedule
        // made due meanwhile is produced then.
        let want = match self.due(now) {
            Some(due) => due.saturating_sub(self.produced),
            None => BURST,
        };
        for _ in 0..want {
            if self.bytes() + Queue::frame_len() > self.s.queue_bytes {
                match self.s.on_full {
                    OnFull::Block => break,
                    OnFull::Close => return false,
                    OnFull::DropOldest => {
                        self.unsent.pop_front();
                        self.dropped += 1;
                    }
                }
            }
            self.unsent.push_back((self.next_seq, sys::monotonic_ns()));
            self.next_seq += 1;
            self.produced += 1;
        }
        self.peak_bytes = self.peak_bytes.max(self.bytes());
        true
    }

    /// How long until the next message is due (for poll's timeout).
    fn next_due_in(&mut self, now: Instant) -> Duration {
        match self.due(now) {
            None => Duration::ZERO,
            Some(due) if due > self.produced => Duration::ZERO,
            Some(_) => Duration::from_millis(1),
        }
    }

    /// Where a client that wants `want` starts: the oldest unsent message it has
    /// not yet processed. Older unsent messages it already processed are discarded.
    fn resume_from(&mut self, want: u64) -> u64 {
        while self.unsent.front().is_some_and(|m| m.0 < want) {
            self.unsent.pop_front();
        }
        self.unsent.front().map_or(self.next_seq, |m| m.0)
    }
}

/// Listens, produces, and serves one client at a time until killed.
fn serve(s: &Settings, port: u16, bind: &str) -> Result<i32> {
    let listener =
        TcpListener::bind((bind, port)).with_context(|| format!("binding {bind}:{port}"))?;
    listener.set_nonblocking(true)?;
    let mut out = std::io::stdout();
    writeln!(out, "zerowin-port {}", listener.local_addr()?.port())?;
    out.flush()?;
    let mut q = Queue::new(s.clone());
    loop {
        q.produce(Instant::now());
        let wait = q.next_due_in(Instant::now()).max(Duration::from_millis(1));
        if !sys::poll_readable(listener.as_raw_fd(), wait.min(Duration::from_millis(50)))? {
            continue;
        }
        match listener.accept() {
            Ok((stream, _)) => {
                let line = Conn::new(stream, &mut q)?.run();
                writeln!(out, "{line}")?;
                out.flush()?;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// One client's connection.
struct Conn<'q> {
    stream: TcpStream,
    q: &'q mut Queue,
    out: Vec<u8>,
    written: usize,
    acks: Vec<u8>,
    sent_msgs: u64,
    sent_bytes: u64,
    first_seq: u64,
    last_sent: u64,
    last_progress: Instant,
    close_start_ns: u64,
    drained: u64,
    sndbuf: i64,
}

impl<'q> Conn<'q> {
    fn new(stream: TcpStream, q: &'q mut Queue) -> Result<Conn<'q>> {
        let sock = socket2::SockRef::from(&stream);
        if let Some(b) = q.s.sndbuf {
            sock.set_send_buffer_size(b)?;
        }
        let sndbuf = sock.send_buffer_size()? as i64;
        stream.set_nonblocking(true)?;
        Ok(Conn {
            stream,
            q,
            out: Vec::new(),
            written: 0,
            acks: Vec::new(),
            sent_msgs: 0,
            sent_bytes: 0,
            first_seq: 0,
            last_sent: 0,
            last_progress: Instant::now(),
            close_start_ns: 0,
            drained: 0,
            sndbuf,
        })
    }

    /// Serves the connection to its end; returns the summary line.
    fn run(mut self) -> String {
        let (end, errno) = match self.hello() {
            Ok(()) => self.pump(),
            Err(why) => {
                self.close_cleanly();
                (why, 0)
            }
        };
        self.summary(&end, errno)
    }

    /// Reads the client's hello (producing meanwhile) and answers it.
    fn hello(&mut self) -> Result<(), String> {
        let mut b = [0u8; HELLO_LEN];
        let mut got = 0;
        let until = Instant::now() + HELLO_TIMEOUT;
        while got < HELLO_LEN {
            self.q.produce(Instant::now());
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("no-hello".into());
            }
            match sys::poll_readable(self.stream.as_raw_fd(), left.min(Duration::from_millis(10))) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(_) => return Err("poll-failed".into()),
            }
            match self.stream.read(&mut b[got..]) {
                Ok(0) => return Err("eof-before-hello".into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return Err("error-before-hello".into()),
            }
        }
        let hello = Hello::decode(&b).map_err(|e| match e {
            protocol::HelloError::Magic(_) => "bad-hello-magic".to_string(),
            protocol::HelloError::Version(_) => "bad-hello-version".to_string(),
        })?;
        let first = self.q.resume_from(hello.seq.max(1));
        self.first_seq = first;
        self.out.extend_from_slice(&Hello { seq: first }.encode());
        Ok(())
    }

    /// Sends, reads acks, waits; returns why the connection ended and the errno.
    fn pump(&mut self) -> (String, i32) {
        let fd = self.stream.as_raw_fd();
        loop {
            if !self.q.produce(Instant::now()) {
                self.close_cleanly();
                return ("queue-full".into(), 0);
            }
            self.fill();
            if let Err(e) = self.write() {
                return ("send-failed".into(), e.raw_os_error().unwrap_or(0));
            }
            match self.read_acks() {
                Ok(true) => {}
                Ok(false) => return ("client-closed".into(), 0),
                Err(e) if e.raw_os_error() == Some(libc::EPROTO) => {
                    self.close_cleanly();
                    return ("bad-ack".into(), 0);
                }
                Err(e) => return ("recv-failed".into(), e.raw_os_error().unwrap_or(0)),
            }
            let waiting = !self.q.unsent.is_empty() || self.written < self.out.len();
            if waiting && self.last_progress.elapsed() >= self.q.s.stall_timeout {
                self.close_cleanly();
                return ("stalled".into(), 0);
            }
            let events = libc::POLLIN | if waiting { libc::POLLOUT } else { 0 };
            let wait = self
                .q
                .next_due_in(Instant::now())
                .max(Duration::from_micros(200));
            let _ = sys::poll_fd(fd, events, wait.min(Duration::from_millis(20)));
        }
    }

    /// Moves unsent messages into the write buffer, up to WRITE_CHUNK.
    fn fill(&mut self) {
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
        }
        while self.out.len() < WRITE_CHUNK {
            let Some((seq, ns)) = self.q.unsent.pop_front() else {
                break;
            };
            Frame::encode_into(seq, ns, DEFAULT_PAYLOAD, &mut self.out);
            self.sent_msgs += 1;
            self.last_sent = seq;
        }
    }

    /// Writes what the socket takes; EAGAIN is not an error, only a wait.
    fn write(&mut self) -> std::io::Result<()> {
        while self.written < self.out.len() {
            match sys::send(self.stream.as_raw_fd(), &self.out[self.written..], 0) {
                Ok(n) => {
                    self.written += n;
                    self.sent_bytes += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads every acknowledgement waiting. Ok(false) at EOF; an acknowledgement of a
    /// message never produced is a protocol error (EPROTO): the client is confused, and
    /// trusting it would count messages as delivered that never were.
    fn read_acks(&mut self) -> std::io::Result<bool> {
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    let Some(a) = protocol::decode_acks(&mut self.acks, &buf[..n]) else {
                        continue;
                    };
                    if a >= self.q.next_seq {
                        return Err(std::io::Error::from_raw_os_error(libc::EPROTO));
                    }
                    if a > self.q.acked {
                        self.q.acked = a;
                        self.last_progress = Instant::now();
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// shutdown(SHUT_WR), read until EOF (bounded), and let the close follow: a FIN,
    /// never an RST, because nothing is left unread.
    fn close_cleanly(&mut self) {
        self.close_start_ns = sys::monotonic_ns();
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        let until = Instant::now() + DRAIN_LIMIT;
        let mut buf = [0u8; 4096];
        while Instant::now() < until {
            if !sys::poll_readable(self.stream.as_raw_fd(), Duration::from_millis(10))
                .unwrap_or(false)
            {
                continue;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.drained += n as u64,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
    }

    fn summary(&mut self, end: &str, errno: i32) -> String {
        if self.close_start_ns == 0 {
            self.close_start_ns = sys::monotonic_ns();
        }
        // `messages` counts what left the memory queue for this connection's write
        // buffer; `bytes` what send() accepted. What was in the write buffer, or in the
        // kernel's buffers, when the connection died is gone: the client sees it as a gap.
        format!(
            "zerowin-summary pid={} messages={} bytes={} partial=0 errno={errno} sndbuf={} fail_ns=0 close_start_ns={} close_ns={} policy=patient/{} drained={} produced={} dropped={} acked={} first_seq={} last_seq={} queue_peak={} queued={} end={end}",
            std::process::id(),
            self.sent_msgs,
            self.sent_bytes,
            self.sndbuf,
            self.close_start_ns,
            sys::monotonic_ns(),
            self.q.s.on_full.as_str(),
            self.drained,
            self.q.produced,
            self.q.dropped,
            self.q.acked,
            self.first_seq,
            self.last_sent,
            self.q.peak_bytes,
            self.q.unsent.len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_phases_parse() {
        assert_eq!(Rate::parse("unlimited", 13), Ok(Rate::Unlimited));
        assert_eq!(Rate::parse("1000/s", 13), Ok(Rate::PerSecond(1000.0)));
        assert_eq!(Rate::parse("13KB/s", 13), Ok(Rate::PerSecond(1000.0)));
        assert!(Rate::parse("fast", 13).is_err());
        assert!(Rate::parse("0/s", 13).is_err());
        let p = parse_phase("2s unlimited", 13).unwrap();
        assert_eq!(
            (p.duration, p.rate),
            (Duration::from_secs(2), Rate::Unlimited)
        );
        assert!(parse_phase("soon 1/s", 13).is_err());
    }

    fn queue(s: Settings) -> Queue {
        Queue::new(s)
    }

    fn settings(on_full: OnFull, queue_bytes: usize) -> Settings {
        Settings {
            queue_bytes,
            on_full,
            stall_timeout: Duration::from_secs(5),
            phases: vec![],
            rate: Rate::Unlimited,
            sndbuf: None,
        }
    }

    #[test]
    fn a_full_queue_blocks_drops_or_closes() {
        let fits = 10 * Queue::frame_len();
        let mut b = queue(settings(OnFull::Block, fits));
        assert!(b.produce(Instant::now()));
        assert_eq!((b.produced, b.dropped, b.unsent.len()), (10, 0, 10));
        let mut d = queue(settings(OnFull::DropOldest, fits));
        assert!(d.produce(Instant::now()));
        assert_eq!(d.unsent.len(), 10);
        assert_eq!(
            d.dropped,
            d.produced - 10,
            "every message made room is counted"
        );
        assert_eq!(
            d.unsent.front().unwrap().0,
            d.produced - 9,
            "the newest are kept"
        );
        let mut c = queue(settings(OnFull::Close, fits));
        assert!(!c.produce(Instant::now()));
    }

    #[test]
    fn the_schedule_runs_its_phases_then_the_rate() {
        let mut s = settings(OnFull::Block, 1 << 20);
        s.phases = vec![Phase {
            duration: Duration::from_secs(1),
            rate: Rate::PerSecond(100.0),
        }];
        s.rate = Rate::PerSecond(10.0);
        let mut q = queue(s);
        let at = |q: &Queue, ms| q.started + Duration::from_millis(ms);
        q.produce(at(&q, 500));
        assert_eq!(q.produced, 50);
        q.produce(at(&q, 1000));
        assert_eq!(q.produced, 100);
        q.produce(at(&q, 3000));
        assert_eq!(q.produced, 120, "10/s for the 2 s after the phase");
        // A spike: unlimited for 1 s, then 10/s from wherever the spike ended.
        let mut u = settings(OnFull::Block, 1000 * Queue::frame_len());
        u.phases = vec![Phase {
            duration: Duration::from_secs(1),
            rate: Rate::Unlimited,
        }];
        u.rate = Rate::PerSecond(10.0);
        let mut q = queue(u);
        q.produce(at(&q, 10));
        assert_eq!(q.produced, 1000, "as fast as there is room");
        q.unsent.clear(); // all sent
        q.produce(at(&q, 1500));
        q.produce(at(&q, 2000));
        assert_eq!(
            q.produced, 1010,
            "then 10/s: the spike's messages are not owed again"
        );
    }

    #[test]
    fn a_resuming_client_starts_at_what_it_has_not_processed() {
        let mut q = queue(settings(OnFull::Block, 10 * Queue::frame_len()));
        q.produce(Instant::now());
        assert_eq!(q.resume_from(1), 1);
        assert_eq!(
            q.resume_from(4),
            4,
            "1-3 were processed: dropped from the queue"
        );
        assert_eq!(q.unsent.len(), 7);
        assert_eq!(
            q.resume_from(50),
            11,
            "nothing that old or that new is queued"
        );
    }

    #[test]
    fn settings_survive_the_trip_through_serve_arguments() {
        let mut s = settings(OnFull::DropOldest, 4096);
        s.phases = vec![Phase {
            duration: Duration::from_secs(2),
            rate: Rate::Unlimited,
        }];
        s.rate = Rate::PerSecond(1000.0);
        s.sndbuf = Some(8192);
        let pairs = s.to_pairs();
        let mut keys = Keys::from_pairs(std::path::Path::new("--set"), "sender", &pairs).unwrap();
        assert_eq!(Settings::read(&mut keys).unwrap(), s);
        keys.finish("patient", &[]).unwrap();
    }
}
