//! The engine of the framed senders (`patient`, `spool`): a producer on a schedule,
//! a backlog, and one client at a time served with poll(), never an RST.
//!
//! What the remedy senders do differently from the original:
//! - on EAGAIN they wait for writability with poll() instead of closing;
//! - they read the client's acknowledgements as they come, so their receive queue
//!   never holds unread data and a close can never become an RST;
//! - produced but unsent messages wait in a bounded backlog ([`backlog`]); when it is
//!   full, `on_full` decides;
//! - a client that acknowledges nothing for `stall_timeout` while messages wait is
//!   closed cleanly: shutdown(SHUT_WR), read until EOF (bounded), close. A FIN.
//!
//! The producer runs whether a client is connected or not. Each sender prints one
//! `zerowin-summary` line per connection, and, every [`PROGRESS_EVERY`], a
//! `zerowin-progress` line with the same counts, so that a killed sender's counts
//! are known up to that long before its death. A skipped range of never-accepted
//! sequences is printed as `zerowin-void FIRST LAST`, and each commit to a spool as
//! `zerowin-committed FIRST LAST`, so that the harness can check every void against
//! what was accepted.

pub mod backlog;
pub mod lobby;
pub mod schedule;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use self::backlog::{Backlog, Push, Refuse, SpoolConfig};
use self::lobby::{Arrival, Lobby, LobbySettings, Takeover};
use self::schedule::{Pace, Schedule};
use crate::limits::{self, Int};
use crate::protocol::{self, DEFAULT_PAYLOAD, Hello};
use crate::record::sender::EndReason;
use crate::settings::{Keys, ScenarioError};
use crate::sockopts::{SERVER_KEYS, ServerOptions};
use crate::sys;

/// How long a clean close reads the client's last bytes before closing.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(1);
/// How much is written to the socket per send() at most.
const WRITE_CHUNK: usize = 64 * 1024;
/// The most messages produced per turn of the loop when the rate is unlimited.
const BURST: u64 = 4096;
/// The longest a turn of the producer may take before the connection's turn.
const TURN: Duration = Duration::from_millis(5);
/// How often a progress line is printed.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// What the producer does when the backlog is full.
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
    pub fn as_str(self) -> &'static str {
        match self {
            OnFull::Block => "block",
            OnFull::DropOldest => "drop-oldest",
            OnFull::Close => "close",
        }
    }
}

/// The keys every framed sender has, with their help lines.
pub const KEYS: &[(&str, &str)] = &[
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
    (
        "hello_timeout",
        "a connection's time to say its whole hello, else closed with a FIN (2s)",
    ),
    (
        "max_pending_hellos",
        "connections waiting for their hello at most; one more closes the oldest (64)",
    ),
    (
        "takeover",
        "newest (a valid hello takes a live session over) or first (it waits) (newest)",
    ),
];

const QUEUE: Int = Int::new(1024, 1 << 30);

/// The settings every framed sender has, from its keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Common {
    pub queue_bytes: usize,
    pub on_full: OnFull,
    pub stall_timeout: Duration,
    /// The producer's phases and rate.
    pub pace: Pace,
    pub sndbuf: Option<usize>,
    /// Socket options on the listener and on each connection.
    pub sock: ServerOptions,
    /// Connections before their hello, and takeover.
    pub lobby: LobbySettings,
}

/// `hello_timeout`, `max_pending_hellos` and `takeover`.
fn read_lobby(keys: &mut Keys) -> Result<LobbySettings, ScenarioError> {
    let d = LobbySettings::default();
    let short = limits::Dur::new(Duration::from_millis(10), Duration::from_secs(60));
    Ok(LobbySettings {
        hello_timeout: keys
            .duration("hello_timeout", short)?
            .unwrap_or(d.hello_timeout),
        max_pending: keys
            .int("max_pending_hellos", Int::new(1, 10_000))?
            .map_or(d.max_pending, |n| n as usize),
        takeover: keys.parse("takeover")?.unwrap_or_default(),
    })
}

impl Common {
    pub fn read(keys: &mut Keys) -> Result<Common, ScenarioError> {
        let pace = Pace::read(keys, DEFAULT_PAYLOAD.len())?;
        Ok(Common {
            queue_bytes: keys.int("queue_bytes", QUEUE)?.unwrap_or(1 << 20) as usize,
            on_full: keys.parse("on_full")?.unwrap_or_default(),
            stall_timeout: keys
                .duration("stall_timeout", limits::CALL_TIMEOUT)?
                .unwrap_or(Duration::from_secs(5)),
            pace,
            sndbuf: keys.int("sndbuf", limits::BUF)?.map(|v| v as usize),
            sock: ServerOptions::read(keys)?,
            lobby: read_lobby(keys)?,
        })
    }

    /// Its keys, with their help lines: the framed senders' and the socket options'.
    pub fn keys() -> Vec<(&'static str, &'static str)> {
        KEYS.iter().chain(SERVER_KEYS).copied().collect()
    }

    /// Back to `--set KEY=VALUE` pairs, for `zerowin serve`.
    pub fn to_pairs(&self) -> Vec<String> {
        let mut v = vec![
            format!("queue_bytes={}", self.queue_bytes),
            format!("on_full={}", self.on_full.as_str()),
            format!(
                "stall_timeout={}",
                humantime::format_duration(self.stall_timeout)
            ),
        ];
        v.extend(self.pace.to_pairs());
        if let Some(b) = self.sndbuf {
            v.push(format!("sndbuf={b}"));
        }
        let l = &self.lobby;
        v.extend([
            format!(
                "hello_timeout={}",
                humantime::format_duration(l.hello_timeout)
            ),
            format!("max_pending_hellos={}", l.max_pending),
            format!("takeover={}", l.takeover),
        ]);
        v.extend(self.sock.to_pairs());
        v
    }

    /// `--sender NAME --set K=V ...` for these settings and `more`.
    pub fn serve_args(&self, name: &str, more: Vec<String>) -> Vec<String> {
        let mut args = vec!["--sender".to_string(), name.to_string()];
        for p in self.to_pairs().into_iter().chain(more) {
            args.extend(["--set".to_string(), p]);
        }
        args
    }
}

/// A framed sender's whole state: its producer and its backlog.
pub struct Engine {
    pub s: Common,
    /// What the summary calls the sender (its `policy`).
    pub name: &'static str,
    schedule: Schedule,
    pub b: Backlog,
    /// When, after the phases ended, the backlog was first empty (CLOCK_MONOTONIC ns).
    drained_ns: Option<u64>,
    last_progress: Instant,
    /// Why the spool's store is out of reach, as last said.
    outage: Option<String>,
}

impl Engine {
    pub fn new(name: &'static str, s: Common, spool: Option<SpoolConfig>) -> Result<Engine> {
        if s.pace.unresolved() {
            anyhow::bail!(
                "a rate of the client's capacity (\"0.5C\") is for scenarios, which measure C first; here give N/s"
            );
        }
        Ok(Engine {
            b: Backlog::new(s.queue_bytes, s.on_full, spool)?,
            schedule: Schedule::new(s.pace.clone()),
            s,
            name,
            drained_ns: None,
            last_progress: Instant::now(),
            outage: None,
        })
    }

    /// Produces what is due and commits what the fsync policy says. Ok(false) when
    /// the backlog was full and `on_full` is `close`.
    pub fn produce(&mut self, now: Instant) -> Result<bool> {
        // A blocked producer catches up as soon as there is room: what the schedule
        // made due meanwhile is produced then.
        // Before this turn's messages: has everything produced so far been sent?
        self.note_drained(now);
        let want = match self.schedule.due(now, self.b.c.produced) {
            Some(due) => due.saturating_sub(self.b.c.produced),
            None => BURST,
        };
        let mut open = true;
        for i in 0..want {
            // A slow spool (fsync = "always") must not stall the connection's turn.
            if i % 64 == 63 && now.elapsed() >= TURN {
                break;
            }
            match self.b.push()? {
                Push::Done => {}
                Push::Blocked => break,
                Push::Close => {
                    open = false;
                    break;
                }
            }
        }
        self.b.tick(now)?;
        self.report()?;
        Ok(open)
    }

    fn note_drained(&mut self, now: Instant) {
        if self.drained_ns.is_none()
            && self.schedule.phases_end().is_some_and(|end| now >= end)
            && self.b.is_drained()
        {
            self.drained_ns = Some(sys::monotonic_ns());
        }
    }

    /// Prints the void ranges skipped, and a progress line when one is due.
    /// Called on every turn of the producer: it touches stdout only when there is
    /// something to say.
    fn report(&mut self) -> Result<()> {
        let mut text = String::new();
        for (a, z) in self.b.take_committed() {
            text += &format!("zerowin-committed {a} {z}\n");
        }
        for (a, z) in self.b.take_voids() {
            text += &format!("zerowin-void {a} {z}\n");
        }
        text += &self.outage_line();
        if self.last_progress.elapsed() >= PROGRESS_EVERY {
            self.last_progress = Instant::now();
            text += &format!(
                "zerowin-progress t_ns={} {}\n",
                sys::monotonic_ns(),
                self.counts()
            );
        }
        if !text.is_empty() {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
        Ok(())
    }

    /// A line when the spool's store goes out of reach (with its first reason), and
    /// one when it comes back: once each, not every turn.
    fn outage_line(&mut self) -> String {
        let now = self.b.outage().map(|w| w.replace(['\n', '\r'], " "));
        if now.is_some() == self.outage.is_some() {
            return String::new();
        }
        let ns = sys::monotonic_ns();
        let line = match &now {
            Some(why) => format!("zerowin-outage {ns} {why}\n"),
            None => format!("zerowin-outage-end {ns}\n"),
        };
        self.outage = now;
        line
    }

    /// How long until the next message is due (for poll's timeout).
    fn next_due_in(&mut self, now: Instant) -> Duration {
        match self.schedule.due(now, self.b.c.produced) {
            None => Duration::ZERO,
            Some(due) if due > self.b.c.produced => Duration::ZERO,
            Some(_) => Duration::from_millis(1),
        }
    }

    /// The summary of a connection closed before it became a session (or a valid
    /// hello that a newer one superseded at once): nothing was sent on it. Short, as
    /// a flood of connections makes one each.
    fn refusal(&self, end: EndReason) -> String {
        format!(
            "zerowin-summary pid={} messages=0 bytes=0 errno=0 produced={} end={end}",
            std::process::id(),
            self.b.c.produced,
        )
    }

    /// The message counts every summary and progress line carries.
    fn counts(&self) -> String {
        let c = &self.b.c;
        let mut s = format!(
            "produced={} dropped={} acked={} queue_peak={} queued={} sent_first={} redelivered={} full={}",
            c.produced,
            c.dropped,
            c.acked,
            c.queue_peak_bytes,
            self.b.in_memory(),
            c.sent_first,
            c.redelivered,
            c.full,
        );
        if let Some(d) = self.b.spool_depth() {
            s += &format!(
                " accepted={} spool_messages={} spool_bytes={} spool_peak_messages={} spool_peak_bytes={} spool_disk_bytes={} void={} syncs={}",
                c.accepted,
                d.messages,
                d.bytes,
                c.spool_peak_messages,
                c.spool_peak_bytes,
                self.b.disk_bytes(),
                c.void,
                self.b.syncs(),
            );
            // A store out of reach says so on every progress line, not only once.
            s += &format!(" store_out={}", u8::from(self.b.outage().is_some()));
        }
        if let Some(ns) = self.drained_ns {
            s += &format!(" drained_ns={ns}");
        }
        if let Some(ns) = self.schedule.phases_end_ns() {
            s += &format!(" phases_end_ns={ns}");
        }
        s
    }
}

/// Listens on `bind:port`, produces, and serves one session at a time until killed;
/// every connection waits in the [`Lobby`] for its hello meanwhile.
pub fn serve(mut e: Engine, port: u16, bind: &str) -> Result<i32> {
    let listener =
        e.s.sock
            .listen(bind, port)
            .with_context(|| format!("binding {bind}:{port}"))?;
    listener.set_nonblocking(true)?;
    say(&format!("zerowin-port {}", listener.local_addr()?.port()))?;
    let mut lobby = Lobby::new(e.s.lobby);
    let mut next = None;
    loop {
        let (stream, hello) = match next.take() {
            Some(n) => n,
            None => wait_for_hello(&mut e, &listener, &mut lobby)?,
        };
        say("zerowin-accepted")?;
        let mut conn = Conn::new(stream, &mut e, &listener)?;
        let (line, taken) = conn.run(hello, &listener, &mut lobby)?;
        say(&line)?;
        // Its last bytes are read in the background, until EOF or DRAIN_LIMIT.
        lobby.retire(conn.stream);
        if let Some(t) = taken {
            say(&format!("zerowin-takeover {}", sys::monotonic_ns()))?;
            next = Some(t);
        }
    }
}

/// One line on stdout, flushed.
fn say(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// Produces until a connection in the lobby says a valid hello: the newest, when
/// several did at once (the others are closed as taken over).
fn wait_for_hello(
    e: &mut Engine,
    listener: &TcpListener,
    lobby: &mut Lobby,
) -> Result<(TcpStream, Hello)> {
    loop {
        e.produce(Instant::now())?;
        let wait = e.next_due_in(Instant::now()).max(Duration::from_millis(1));
        let work = lobby.poll(listener, None, wait.min(Duration::from_millis(20)))?;
        if work && let Some(newest) = arrivals(e, listener, lobby)? {
            return Ok(newest);
        }
    }
}

/// What the lobby let through this turn: refusals are said, and of several valid
/// hellos the newest is kept (each older one is said as taken over, and closed).
fn arrivals(
    e: &mut Engine,
    listener: &TcpListener,
    lobby: &mut Lobby,
) -> Result<Option<(TcpStream, Hello)>> {
    let mut newest: Option<(TcpStream, Hello)> = None;
    for a in lobby.tick(listener)? {
        match a {
            Arrival::Refused(why) => say(&e.refusal(why))?,
            Arrival::Hello(stream, hello) => {
                if let Some((old, _)) = newest.replace((stream, hello)) {
                    say(&e.refusal(EndReason::Superseded))?;
                    lobby.retire(old);
                }
            }
        }
    }
    Ok(newest)
}

/// Why a connection ended, and the errno if a call failed.
type End = (EndReason, i32);

/// One client's connection.
struct Conn<'e> {
    stream: TcpStream,
    e: &'e mut Engine,
    out: Vec<u8>,
    written: usize,
    acks: Vec<u8>,
    sent_msgs: u64,
    sent_bytes: u64,
    first_seq: u64,
    last_progress: Instant,
    close_start_ns: u64,
    drained: u64,
    sndbuf: i64,
    /// The socket options read back, for the summary.
    sockopts: String,
}

impl<'e> Conn<'e> {
    fn new(stream: TcpStream, e: &'e mut Engine, listener: &TcpListener) -> Result<Conn<'e>> {
        let sock = socket2::SockRef::from(&stream);
        if let Some(b) = e.s.sndbuf {
            sock.set_send_buffer_size(b)?;
        }
        e.s.sock.tcp.apply(&sock)?;
        let sockopts = ServerOptions::summary_field(&sock, &socket2::SockRef::from(listener));
        let sndbuf = sock.send_buffer_size()? as i64;
        stream.set_nonblocking(true)?;
        Ok(Conn {
            stream,
            e,
            out: Vec::new(),
            written: 0,
            acks: Vec::new(),
            sent_msgs: 0,
            sent_bytes: 0,
            first_seq: 0,
            last_progress: Instant::now(),
            close_start_ns: 0,
            drained: 0,
            sndbuf,
            sockopts,
        })
    }

    /// Serves the session its hello opened to its end; returns the summary line, and
    /// the connection that took it over, if one did. An error is the spool's: the
    /// sender cannot go on.
    fn run(
        &mut self,
        hello: Hello,
        listener: &TcpListener,
        lobby: &mut Lobby,
    ) -> Result<(String, Option<(TcpStream, Hello)>)> {
        let mut taken = None;
        let (end, errno) = match self.e.b.resume(hello.seq)? {
            Ok(first) => {
                self.first_seq = first;
                self.out.extend_from_slice(&Hello { seq: first }.encode());
                self.pump(listener, lobby, &mut taken)?
            }
            Err(Refuse::Ahead) => {
                self.close_cleanly();
                (EndReason::ClientAhead, 0)
            }
        };
        Ok((self.summary(end, errno), taken))
    }

    /// Sends, reads acks, waits; returns why the connection ended and the errno. With
    /// `takeover = "newest"`, the lobby is served in the same poll, and a valid hello
    /// there ends this session (`taken`).
    fn pump(
        &mut self,
        listener: &TcpListener,
        lobby: &mut Lobby,
        taken: &mut Option<(TcpStream, Hello)>,
    ) -> Result<End> {
        let fd = self.stream.as_raw_fd();
        let lobby_open = lobby.settings().takeover == Takeover::Newest;
        loop {
            if !self.e.produce(Instant::now())? {
                self.close_cleanly();
                return Ok((EndReason::QueueFull, 0));
            }
            self.fill()?;
            if let Err(err) = self.write() {
                return Ok((EndReason::SendFailed, err.raw_os_error().unwrap_or(0)));
            }
            match self.read_acks() {
                Ok(true) => {}
                Ok(false) => return Ok((EndReason::ClientClosed, 0)),
                Err(err) if err.raw_os_error() == Some(libc::EPROTO) => {
                    self.close_cleanly();
                    return Ok((EndReason::BadAck, 0));
                }
                Err(err) => return Ok((EndReason::RecvFailed, err.raw_os_error().unwrap_or(0))),
            }
            let waiting = self.e.b.unsent() > 0 || self.written < self.out.len();
            if waiting && self.last_progress.elapsed() >= self.e.s.stall_timeout {
                self.close_cleanly();
                return Ok((EndReason::Stalled, 0));
            }
            let events = libc::POLLIN | if waiting { libc::POLLOUT } else { 0 };
            let wait = self
                .e
                .next_due_in(Instant::now())
                .max(Duration::from_micros(200))
                .min(Duration::from_millis(20));
            if !lobby_open {
                let _ = sys::poll_fd(fd, events, wait);
                continue;
            }
            let work = lobby.poll(listener, Some((fd, events)), wait)?;
            if work && let Some(newest) = arrivals(self.e, listener, lobby)? {
                *taken = Some(newest);
                self.close_start_ns = sys::monotonic_ns();
                return Ok((EndReason::TakenOver, 0));
            }
        }
    }

    /// Moves messages from the backlog into the write buffer, up to WRITE_CHUNK.
    fn fill(&mut self) -> Result<()> {
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
        }
        while self.out.len() < WRITE_CHUNK && self.e.b.next_frame(&mut self.out)? {
            self.sent_msgs += 1;
        }
        Ok(())
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
    /// message never produced is a protocol error (EPROTO).
    fn read_acks(&mut self) -> std::io::Result<bool> {
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    let Some(a) = protocol::decode_acks(&mut self.acks, &buf[..n]) else {
                        continue;
                    };
                    let before = self.e.b.c.acked;
                    if !self.e.b.ack(a) {
                        return Err(std::io::Error::from_raw_os_error(libc::EPROTO));
                    }
                    if self.e.b.c.acked > before {
                        self.last_progress = Instant::now();
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// shutdown(SHUT_WR) and read what has come: the rest (until EOF, at most
    /// [`DRAIN_LIMIT`]) is read by the lobby, which the session's socket is retired to
    /// once the summary is said, so that the close is a FIN, never an RST, and the
    /// lobby is never held up by a peer that does not answer.
    fn close_cleanly(&mut self) {
        self.close_start_ns = sys::monotonic_ns();
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        let mut buf = [0u8; 4096];
        for _ in 0..16 {
            match self.stream.read(&mut buf) {
                Ok(n) if n > 0 => self.drained += n as u64,
                _ => break,
            }
        }
    }

    fn summary(&mut self, end: EndReason, errno: i32) -> String {
        if self.close_start_ns == 0 {
            self.close_start_ns = sys::monotonic_ns();
        }
        // `messages` counts what went into this connection's write buffer; `bytes`
        // what send() accepted. A patient sender forgets what it wrote, so what was
        // in its buffers when the connection died is gone: the client sees a gap.
        format!(
            "zerowin-summary pid={} messages={} bytes={} partial=0 errno={errno} sndbuf={} fail_ns=0 close_start_ns={} close_ns={} policy={}/{} drained={} first_seq={} sockopts={} {} end={end}",
            std::process::id(),
            self.sent_msgs,
            self.sent_bytes,
            self.sndbuf,
            self.close_start_ns,
            sys::monotonic_ns(),
            self.e.name,
            self.e.s.on_full.as_str(),
            self.drained,
            self.first_seq,
            self.sockopts,
            self.e.counts(),
        )
    }
}

/// A remedy sender's line: what it produced and sent, and why its connection ended.
pub fn remedy_line(s: &crate::record::SenderSummary, m: &crate::record::SenderMessages) -> String {
    let mut line = format!(
        "the {} sender produced {} messages; on its last connection it sent {} ({} B) and never closed on EAGAIN; its memory queue peaked at {} B",
        s.policy.split('/').next().unwrap_or("remedy"),
        m.produced,
        s.messages,
        s.bytes,
        m.queue_peak_bytes
    );
    if m.dropped > 0 {
        line.push_str(&format!(
            ", and {} messages were dropped to make room",
            m.dropped
        ));
    }
    line.push_str(&format!("; the connection ended: {}", m.end));
    if s.errno != 0 {
        line.push_str(&format!(" ({} ({}))", s.errno_name, s.errno));
    }
    line
}

/// A framed sender's part of a trial's explanation.
pub fn explain(s: &crate::record::SenderSummary) -> String {
    match &s.remedy {
        Some(m) => remedy_line(s, m),
        None => format!(
            "the sender sent {} messages ({} B) on its last connection",
            s.messages, s.bytes
        ),
    }
}

/// A framed sender's table cell: why its connection ended.
pub fn table_cell(s: &crate::record::SenderSummary) -> String {
    match &s.remedy {
        Some(m) => format!("ended: {}", m.end),
        None => "no counts".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sender::framed::schedule::{Phase, Rate};

    #[test]
    fn settings_survive_the_trip_through_serve_arguments() {
        let s = Common {
            queue_bytes: 4096,
            on_full: OnFull::DropOldest,
            stall_timeout: Duration::from_secs(5),
            pace: Pace {
                phases: vec![Phase {
                    duration: Duration::from_secs(2),
                    rate: Rate::Unlimited,
                }],
                rate: Rate::PerSecond(1000.0),
            },
            sndbuf: Some(8192),
            sock: ServerOptions {
                reuseport: true,
                ..ServerOptions::default()
            },
            lobby: LobbySettings {
                hello_timeout: Duration::from_millis(750),
                max_pending: 9,
                takeover: Takeover::First,
            },
        };
        let pairs = s.to_pairs();
        let mut keys = Keys::from_pairs(std::path::Path::new("--set"), "sender", &pairs).unwrap();
        assert_eq!(Common::read(&mut keys).unwrap(), s);
        keys.finish("patient", &[]).unwrap();
    }
}
