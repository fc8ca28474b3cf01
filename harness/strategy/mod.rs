//! Client strategies: how a client reads from the sender. Each strategy lives in its
//! own module behind [`Strategy`]; [`by_name`] is the one place a name picks one.
//!
//! Most strategies are a read loop on a socket this process connects
//! ([`SocketLoop`]). Their shared frame is here: [`run_client`] creates and connects
//! the socket, hands it to the loop through a [`Conn`], then runs the fixed
//! [`postmortem`]. `external` is a program of the user's instead.

pub mod drain;
pub mod external;
pub mod messages;
pub mod naive;
pub mod postmortem;
pub mod resume;
pub mod threaded;

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use socket2::{Domain, Protocol, Socket, Type};

use crate::fault::ClientControl;
use crate::limits;
use crate::record::{ClientRecord, ClockZero, Ending, SyscallError, TrialRecord};
use crate::settings::{Keys, ScenarioError};
pub use crate::settings::{Own, OwnSettings};
use crate::sockopts;
use crate::sys;
use crate::words::ms_u;

/// A way of reading from the sender.
pub trait Strategy: Send + Sync {
    /// The name scenario files and the CLI use.
    fn name(&self) -> &'static str;
    /// One line for `zerowin list`.
    fn summary(&self) -> &'static str;
    /// The reply sent when a scenario does not set `reply`.
    fn default_reply(&self) -> &'static str;
    /// Its `[client]` keys besides `strategy`, each with one line of help for `list`.
    fn keys(&self) -> Vec<(&'static str, &'static str)>;
    /// The names of its keys.
    fn key_names(&self) -> Vec<&'static str> {
        self.keys().into_iter().map(|k| k.0).collect()
    }
    /// Reads and checks its keys into `p` (whose other fields are set already);
    /// `dir` is the scenario file's directory.
    fn configure(
        &self,
        keys: &mut Keys,
        p: &mut ClientParams,
        dir: &Path,
    ) -> Result<(), ScenarioError>;
    /// Its part of a trial's explanation: what the client read, and how it ended.
    fn explain(&self, r: &TrialRecord) -> String {
        explain_client(r)
    }
    /// Whether `p` holds what it needs to run (a scenario written for another
    /// strategy may not, in `compare`): the key and why not.
    fn ready(&self, _p: &ClientParams) -> Result<(), (&'static str, &'static str)> {
        Ok(())
    }
    /// Whether it carries out the client's faults (kill, restart, pause, resume).
    fn obeys_faults(&self) -> bool {
        false
    }
    /// Whether it carries out `pause-client` and `resume-client` (a read loop stops
    /// reading between two reads, keeping its connection).
    fn obeys_pause(&self) -> bool {
        self.obeys_faults()
    }
    /// How this strategy reads with these parameters, for the report: "recv(10),
    /// delay 0ns, reply \"Hi i got the data\"". User strings are shown escaped.
    fn describe(&self, params: &ClientParams) -> String;
    /// The read loop, for a strategy that is one.
    fn socket_loop(&self) -> Option<&dyn SocketLoop> {
        None
    }
    /// Runs the client against `addr` until it ends, and returns what it recorded.
    /// The default connects a socket here and runs [`Strategy::socket_loop`] on it.
    fn drive(
        &self,
        addr: SocketAddr,
        params: &ClientParams,
        hooks: &mut dyn ClientHooks,
    ) -> Result<ClientRecord> {
        match self.socket_loop() {
            Some(l) => run_client(self.name(), l, addr, params, hooks),
            None => anyhow::bail!("strategy {} has no read loop and no drive", self.name()),
        }
    }
    /// True for a program of the user's: zerowin cannot see its calls, so its outcome
    /// is classified from the wire.
    fn is_external(&self) -> bool {
        false
    }
    /// True for a client of the framed protocol, which sees each message's sequence.
    fn counts_messages(&self) -> bool {
        false
    }
    /// Whether it can talk to a sender that is framed (or not): most read bare bytes.
    fn speaks(&self, framed: bool) -> bool {
        !framed
    }
}

/// A strategy that is a read loop on a socket this process connects.
pub trait SocketLoop {
    /// Reads until the first failure, EOF, the end of the duration or the deadline.
    /// Every failing call is recorded through [`Conn::fail`] or [`Conn::timeout`].
    fn run(&self, conn: &mut Conn) -> Ending;
}

/// Every strategy, in the order `list` shows them: adding one is a module and a line
/// here.
pub const STRATEGIES: &[&dyn Strategy] = &[
    &naive::Naive,
    &drain::Drain,
    &external::External,
    &resume::Resume,
    &threaded::Threaded,
];

/// Every strategy, in the order `list` shows them.
pub fn all() -> impl Iterator<Item = &'static dyn Strategy> {
    STRATEGIES.iter().copied()
}

/// The strategy with this name.
pub fn by_name(name: &str) -> Option<&'static dyn Strategy> {
    all().find(|s| s.name() == name)
}

/// The strategies' names, comma-separated, for error messages.
pub fn names() -> String {
    all().map(|s| s.name()).collect::<Vec<_>>().join(", ")
}

/// What a client does, whatever its strategy; what only one strategy has is in
/// [`ClientParams::own`], which that strategy alone sets and reads.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientParams {
    /// The reply after each read (naive) or batch (drain); empty = no reply.
    pub reply: Vec<u8>,
    /// Bytes sent once after each connect, before the first read (an HTTP GET, a
    /// SUBSCRIBE); empty = none.
    pub request: Vec<u8>,
    /// Processing time per read (naive), per batch (drain), per message or batch
    /// (resume) or per message (threaded).
    pub delay: Duration,
    /// SO_RCVBUF to set before connect(); None = kernel default (autotuned).
    pub rcvbuf: Option<usize>,
    /// How long the client reads before it counts as survived.
    pub duration: Duration,
    /// Time from the start of connect() after which the trial is a timeout.
    pub deadline: Duration,
    /// The client's own socket options: timeouts, keepalive, user timeout, nodelay.
    pub sock: sockopts::SocketOptions,
    /// True when the sender speaks the framed protocol (set from the sender).
    pub framed: bool,
    /// The strategy's own settings.
    pub own: Own,
}

impl Default for ClientParams {
    fn default() -> Self {
        ClientParams {
            reply: Vec::new(),
            request: Vec::new(),
            delay: Duration::ZERO,
            rcvbuf: None,
            duration: Duration::from_secs(10),
            deadline: Duration::from_secs(15),
            sock: sockopts::SocketOptions::default(),
            framed: false,
            own: Own::default(),
        }
    }
}

impl ClientParams {
    /// The strategy's own settings of type `T`, or its defaults when none were set.
    pub fn own<T: OwnSettings + Default + Clone>(&self) -> T {
        self.own.get::<T>().cloned().unwrap_or_default()
    }
}

/// The keys several strategies share, read the same way wherever they appear.
pub mod shared {
    use super::*;

    pub const RCVBUF: (&str, &str) = ("rcvbuf", "SO_RCVBUF before connect(), bytes (autotuned)");
    pub const REPLY: (&str, &str) = (
        "reply",
        "the reply sent after each read or batch (\"\": none); escapes \\r \\n \\t \\0 \\xHH \\\\",
    );
    pub const REQUEST: (&str, &str) = (
        "request",
        "bytes sent once after each connect, before the first read; escapes as reply",
    );
    pub const REQUEST_FILE: (&str, &str) = (
        "request_file",
        "... or the bytes of this file (relative to the scenario's directory)",
    );

    /// A byte loop's keys (naive, drain, threaded): its read size, if given, then
    /// delay, reply, request and rcvbuf.
    pub fn byte_loop(
        keys: &mut Keys,
        p: &mut ClientParams,
        size_key: &str,
    ) -> Result<Option<usize>, ScenarioError> {
        let size = keys.int(size_key, limits::RECV)?.map(|n| n as usize);
        delay(keys, p)?;
        reply(keys, p)?;
        request(keys, p)?;
        socket(keys, p)?;
        rcvbuf(keys, p)?;
        Ok(size)
    }

    /// The socket options every in-process client takes ([`sockopts::KEYS`]).
    pub fn socket(keys: &mut Keys, p: &mut ClientParams) -> Result<(), ScenarioError> {
        p.sock = sockopts::SocketOptions::read(keys)?;
        Ok(())
    }

    /// `own` followed by the socket options' keys.
    pub fn with_socket_keys(
        own: &[(&'static str, &'static str)],
    ) -> Vec<(&'static str, &'static str)> {
        own.iter().chain(sockopts::KEYS).copied().collect()
    }

    pub fn rcvbuf(keys: &mut Keys, p: &mut ClientParams) -> Result<(), ScenarioError> {
        if let Some(v) = keys.int("rcvbuf", limits::BUF)? {
            p.rcvbuf = Some(v as usize);
        }
        Ok(())
    }

    pub fn delay(keys: &mut Keys, p: &mut ClientParams) -> Result<(), ScenarioError> {
        if let Some(d) = keys.duration("delay", limits::DELAY)? {
            p.delay = d;
        }
        Ok(())
    }

    pub fn reply(keys: &mut Keys, p: &mut ClientParams) -> Result<(), ScenarioError> {
        if let Some(r) = keys.string("reply")? {
            if r.len() > limits::REPLY_MAX {
                return Err(keys.invalid(
                    "reply",
                    format!("is longer than {} bytes", limits::REPLY_MAX),
                ));
            }
            p.reply = crate::words::unescape(&r).map_err(|m| keys.invalid("reply", m))?;
        }
        Ok(())
    }

    /// `request` (with escapes) or `request_file` (its bytes), not both.
    pub fn request(keys: &mut Keys, p: &mut ClientParams) -> Result<(), ScenarioError> {
        let text = keys.string("request")?;
        let file = keys.string("request_file")?;
        p.request = match (text, file) {
            (Some(_), Some(_)) => {
                return Err(keys.invalid("request_file", "give request or request_file, not both"));
            }
            (Some(r), None) => {
                crate::words::unescape(&r).map_err(|m| keys.invalid("request", m))?
            }
            (None, Some(f)) => {
                read_request(&keys.dir().join(&f)).map_err(|m| keys.invalid("request_file", m))?
            }
            (None, None) => Vec::new(),
        };
        if p.request.len() > limits::REPLY_MAX {
            return Err(keys.invalid(
                "request",
                format!("is longer than {} bytes", limits::REPLY_MAX),
            ));
        }
        Ok(())
    }

    /// A request file's bytes: a regular file of at most [`limits::REPLY_MAX`] bytes.
    pub fn read_request(path: &Path) -> Result<Vec<u8>, String> {
        use std::io::Read;
        let f = std::fs::File::open(path)
            .map_err(|e| format!("{}: {e}", crate::words::clean(&path.display().to_string())))?;
        let meta = f.metadata().map_err(|e| e.to_string())?;
        if !meta.is_file() {
            return Err(format!("{} is not a regular file", path.display()));
        }
        let mut b = Vec::new();
        f.take(limits::REPLY_MAX as u64 + 1)
            .read_to_end(&mut b)
            .map_err(|e| e.to_string())?;
        Ok(b)
    }
}

/// Counters the strategy's loop keeps.
#[derive(Debug, Default)]
pub struct Counters {
    pub bytes_read: u64,
    pub reads: u64,
    pub replies: u64,
    pub reply_bytes: u64,
    pub first_reply_us: Option<u64>,
    pub request_bytes: u64,
    /// The first bytes read, to show what a server answered a request.
    pub first_bytes: Vec<u8>,
}

/// How many of the first bytes read a record keeps.
pub const FIRST_BYTES: usize = 80;

/// A connected socket and the clock and counters a strategy's loop works with.
pub struct Conn<'a> {
    pub sock: &'a Socket,
    pub params: &'a ClientParams,
    pub counters: Counters,
    pub errors: Vec<SyscallError>,
    /// A framed-protocol loop's account of the messages, for the record.
    pub messages: Option<crate::record::ClientMessages>,
    /// What the fault schedule tells the client (`pause-client`), if anything.
    control: Option<Arc<ClientControl>>,
    /// Time zero: the start of connect().
    zero: Instant,
    end: Instant,
    deadline: Instant,
}

impl<'a> Conn<'a> {
    fn new(sock: &'a Socket, params: &'a ClientParams, zero: Instant) -> Self {
        Conn {
            sock,
            params,
            counters: Counters::default(),
            errors: Vec::new(),
            messages: None,
            control: None,
            zero,
            end: zero + params.duration,
            deadline: zero + params.deadline,
        }
    }

    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Microseconds since time zero, the start of connect().
    pub fn elapsed_us(&self) -> u64 {
        self.zero.elapsed().as_micros() as u64
    }

    /// Time left until the duration ends (zero once it has).
    pub fn until_end(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// Some(ending) once the deadline or the end of the duration has passed.
    pub fn time_is_up(&self) -> Option<Ending> {
        let now = Instant::now();
        if now >= self.deadline {
            Some(self.hung("its loop"))
        } else if now >= self.end {
            Some(Ending::Survived {
                at_us: self.elapsed_us(),
            })
        } else {
            None
        }
    }

    /// Records a failed call of the main loop and ends it there.
    pub fn fail(&mut self, call: &str, err: std::io::Error) -> Ending {
        let error = SyscallError::new(
            call,
            "main",
            err.raw_os_error().unwrap_or(0),
            self.elapsed_us(),
        );
        self.errors.push(error.clone());
        Ending::Failed { error }
    }

    /// Records a failed call of the main loop that another thread saw at `at_us`.
    pub fn fail_at(&mut self, call: &str, errno: i32, at_us: u64) -> Ending {
        let error = SyscallError::new(call, "main", errno, at_us);
        self.errors.push(error.clone());
        Ending::Failed { error }
    }

    /// Records a failed call of the post-mortem.
    pub fn note(&mut self, call: &str, errno: i32) {
        let e = SyscallError::new(call, "postmortem", errno, self.elapsed_us());
        self.errors.push(e);
    }

    /// A call gave up waiting: the deadline (hung), or the client's own timeout.
    pub fn gave_up(&self, call: &str) -> Ending {
        if self.past_deadline() {
            self.hung(call)
        } else {
            Ending::Timeout {
                call: call.to_string(),
                at_us: self.elapsed_us(),
            }
        }
    }

    /// Still waiting in `call` at the deadline.
    pub fn hung(&self, call: &str) -> Ending {
        Ending::Hung {
            call: call.to_string(),
            at_us: self.elapsed_us(),
        }
    }

    pub fn eof(&self) -> Ending {
        Ending::Eof {
            at_us: self.elapsed_us(),
        }
    }

    /// The wait a blocking call may take now: the client's own timeout `own`, or, with
    /// none, as long as it takes; either way no longer than the deadline.
    pub fn wait_for(&self, own: Option<Duration>) -> Duration {
        let left = self.deadline.saturating_duration_since(Instant::now());
        own.unwrap_or(left).min(left).max(Duration::from_millis(1))
    }

    /// Whether the trial's deadline has passed.
    pub fn past_deadline(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// The processing time of one read or batch, cut short by the deadline; then,
    /// while a `pause-client` fault holds, no reading (until `resume-client`, the
    /// end of the duration or the deadline).
    pub fn process(&self) {
        let d = self.params.delay;
        if !d.is_zero() {
            std::thread::sleep(d.min(self.deadline.saturating_duration_since(Instant::now())));
        }
        let paused = || {
            self.control
                .as_ref()
                .is_some_and(|c| c.state() == crate::fault::ClientState::Paused)
        };
        while paused() && Instant::now() < self.end.min(self.deadline) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Sends the reply once, as the 2014 client's single send() did: no retry of a
    /// short write. Returns Err with the errno when send() fails.
    pub fn reply(&mut self, flags: i32) -> Result<(), std::io::Error> {
        if self.params.reply.is_empty() {
            return Ok(());
        }
        let n = sys::send(self.fd(), &self.params.reply, flags)?;
        if self.counters.replies == 0 {
            self.counters.first_reply_us = Some(self.elapsed_us());
        }
        self.counters.replies += 1;
        self.counters.reply_bytes += n as u64;
        Ok(())
    }

    /// Sends the request, whole (retrying short writes), on the blocking socket, as a
    /// client's first sendall() would; its bytes are counted apart from the replies.
    pub fn send_request(&mut self) -> Result<(), std::io::Error> {
        if self.params.request.is_empty() {
            return Ok(());
        }
        self.sock.set_nonblocking(false)?;
        let mut left: &[u8] = &self.params.request;
        while !left.is_empty() {
            let n = sys::send(self.fd(), left, libc::MSG_NOSIGNAL)?;
            self.counters.request_bytes += n as u64;
            left = &left[n..];
        }
        Ok(())
    }

    /// Keeps the first [`FIRST_BYTES`] bytes read (after [`Conn::got`]).
    pub fn saw(&mut self, b: &[u8]) {
        let room = FIRST_BYTES.saturating_sub(self.counters.first_bytes.len());
        self.counters
            .first_bytes
            .extend_from_slice(&b[..b.len().min(room)]);
    }

    pub fn got(&mut self, n: usize) {
        self.counters.bytes_read += n as u64;
        self.counters.reads += 1;
    }
}

/// Lets an observer watch the client's socket without being part of the strategy.
pub trait ClientHooks {
    /// At the client's time zero (CLOCK_MONOTONIC ns): the start of its first
    /// connect(), or an external program's start.
    fn started(&mut self, _zero_ns: u64) {}
    /// Right before connect(): an observer that must know the client's port before
    /// its SYN binds the socket here.
    fn connecting(&mut self, _sock: &Socket) -> Result<()> {
        Ok(())
    }
    /// Right after connect() completed; `zero_ns` is when it started.
    fn connected(&mut self, _sock: &Socket, _zero_ns: u64) {}
    /// Right before the socket is closed.
    fn closing(&mut self) {}
    /// What the fault schedule tells the client to do, if it has client faults.
    fn control(&self) -> Option<Arc<ClientControl>> {
        None
    }
}

/// No observer.
pub struct NoHooks;
impl ClientHooks for NoHooks {}

/// Connects to `addr`, runs the loop of the strategy called `name` and the
/// post-mortem, and returns the record. A connect() that fails is the record's
/// ending (`refused`, `unreachable`, a timeout); only a socket that cannot be made or
/// configured is an error.
pub fn run_client(
    name: &str,
    strategy: &dyn SocketLoop,
    addr: SocketAddr,
    params: &ClientParams,
    hooks: &mut dyn ClientHooks,
) -> Result<ClientRecord> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .context("creating the client socket")?;
    if let Some(size) = params.rcvbuf {
        // Before connect(), so the window scale in the SYN matches the buffer.
        sock.set_recv_buffer_size(size)
            .context("setting SO_RCVBUF")?;
    }
    let rcvbuf_effective = sock.recv_buffer_size().context("reading SO_RCVBUF")?;
    params
        .sock
        .apply(&sock)
        .context("setting the client's socket options")?;
    let socket = sockopts::Readback::of(&sock).context("reading the socket options back")?;
    hooks.connecting(&sock)?;
    // Time zero, on both clocks at the same moment, just before the SYN: every
    // `at_us` counts from here, and zero_ns puts it on the axis the sender and the
    // capture share.
    let zero = Instant::now();
    let zero_ns = sys::monotonic_ns();
    hooks.started(zero_ns);
    let mut conn = Conn::new(&sock, params, zero);
    conn.control = hooks.control();
    let wait = conn.wait_for(params.sock.connect_timeout);
    let (ending, connected_us) = match sock.connect_timeout(&addr.into(), wait) {
        Ok(()) => {
            let connected_us = zero.elapsed().as_micros() as u64;
            hooks.connected(&sock, zero_ns);
            let ending = match conn.send_request() {
                Err(e) => conn.fail("send", e),
                Ok(()) => strategy.run(&mut conn),
            };
            (ending, Some(connected_us))
        }
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => (conn.gave_up("connect"), None),
        Err(e) => (conn.fail("connect", e), None),
    };
    let postmortem = match ending {
        Ending::Failed { .. } | Ending::Eof { .. } if connected_us.is_some() => {
            Some(postmortem::run(&mut conn))
        }
        _ => None,
    };
    let Conn {
        counters,
        errors,
        messages,
        ..
    } = conn;
    hooks.closing();
    drop(sock);
    Ok(ClientRecord {
        strategy: name.to_string(),
        zero_ns,
        zero: ClockZero::ConnectStart,
        connected_us,
        rcvbuf_effective,
        socket: Some(socket),
        bytes_read: counters.bytes_read,
        messages_read: counters.bytes_read / crate::record::MESSAGE_LEN,
        reads: counters.reads,
        replies: counters.replies,
        reply_bytes: counters.reply_bytes,
        request_bytes: counters.request_bytes,
        first_bytes: crate::words::clean(&String::from_utf8_lossy(&counters.first_bytes)),
        first_reply_us: counters.first_reply_us,
        ending,
        errors,
        postmortem,
        external: None,
        messages,
    })
}

/// "delay 1ms, reply \"ok\"" or "delay 0ns, no reply": the part every socket loop shares.
pub fn describe_processing(p: &ClientParams) -> String {
    let reply = if p.reply.is_empty() {
        "no reply".to_string()
    } else {
        format!(
            "reply \"{}\"",
            crate::words::clean(&String::from_utf8_lossy(&p.reply))
        )
    };
    let request = match p.request.is_empty() {
        true => String::new(),
        false => format!(
            "; request \"{}\" ({} B) after connect",
            crate::words::clean(&String::from_utf8_lossy(
                &p.request[..p.request.len().min(60)]
            )),
            p.request.len()
        ),
    };
    format!("delay {:?}, {reply}{request}", p.delay)
}

/// Whether an io::Error is EAGAIN/EWOULDBLOCK.
pub fn would_block(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
}

/// Whether an io::Error is EINTR.
pub fn interrupted(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::Interrupted
}

/// The client's part of a trial's explanation, from how its loop ended.
pub fn explain_client(r: &TrialRecord) -> String {
    let c = &r.client;
    match &c.ending {
        Ending::Failed { error } => format!(
            "the client had read {} B in {} reads when {error} at {}",
            c.bytes_read,
            c.reads,
            ms_u(error.at_us)
        ),
        Ending::Eof { at_us } => format!(
            "the client read {} B, then recv() returned 0 (EOF) at {}",
            c.bytes_read,
            ms_u(*at_us)
        ),
        Ending::Survived { at_us } => format!(
            "the client read {} B ({:.2} MB/s) with no failure until the duration ended at {}",
            c.bytes_read,
            r.read_mb_s.unwrap_or(0.0),
            ms_u(*at_us)
        ),
        Ending::Hung { call, at_us } => format!(
            "the client read {} B, then waited in {call}() with no timeout of its own until the trial's deadline at {}: it hung, and only the harness's bound ended it",
            c.bytes_read,
            ms_u(*at_us)
        ),
        Ending::Timeout { call, at_us } => format!(
            "the client read {} B, then its own timeout fired in {call}() at {}",
            c.bytes_read,
            ms_u(*at_us)
        ),
        Ending::Exited { status, at_us, .. } => {
            format!("the client {status} at {}", ms_u(*at_us))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_strategy_is_found_by_its_name() {
        for s in all() {
            assert_eq!(by_name(s.name()).unwrap().name(), s.name());
        }
        assert!(by_name("nope").is_none());
        assert_eq!(names(), "naive, drain, external, resume, threaded");
    }
}
