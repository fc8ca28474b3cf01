//! `resume`: a client of the framed protocol ([`crate::protocol`]), the one the
//! remedy senders are proven with. It reads frames and checks the sequence of each;
//! processes each message (`delay` per message); acknowledges every `ack_every`
//! messages, cumulatively; and on a reset, an EOF, a silent sender or a failed
//! connect it reconnects with bounded exponential backoff (`reconnect_backoff`,
//! doubling to 1 s, at most `max_reconnects` times) and asks for the message after
//! the last one it processed. A message it already processed is dropped and counted
//! as a duplicate; a jump in the sequence is counted as lost (a gap).
//!
//! The trial's TCP_INFO timeline follows its first connection only.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::Result;
use socket2::{Domain, Protocol, Socket, Type};

use super::messages::Checker;
use super::{ClientHooks, ClientParams, Strategy, interrupted, would_block};
use crate::fault::{ClientControl, ClientState};
use crate::protocol::{self, Decoder, Frame, HELLO_LEN, Hello};
use crate::record::{ClientRecord, ClockZero, Ending, SyscallError};
use crate::sockopts::Readback;
use crate::sys;
use std::str::FromStr;
use std::sync::Arc;

pub struct Resume;

/// The longest wait between reconnects.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// The longest single wait for data, so that faults and the end are noticed.
const POLL_STEP: Duration = Duration::from_millis(10);

/// Sleeps for `d`, in short steps, cut short when the run is stopped (a signal): the
/// trial in progress must end within milliseconds then.
fn nap(d: Duration) {
    let until = Instant::now() + d;
    while !stopped() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(POLL_STEP));
    }
}

fn stopped() -> bool {
    crate::process::interrupted().is_some()
}

/// Aborts the connection as a crashed client would leave it: SO_LINGER 0, so the
/// close that follows sends an RST and discards what was unread.
fn abort(sock: &Socket) {
    let _ = sock.set_linger(Some(Duration::ZERO));
}

/// What `delay` is spent on, for `resume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DelayPer {
    /// Every message processed costs `delay`.
    #[default]
    Message,
    /// Every batch (what one read brought) costs `delay`, however many messages.
    Batch,
}

impl FromStr for DelayPer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "message" => Ok(DelayPer::Message),
            "batch" => Ok(DelayPer::Batch),
            _ => Err(format!(
                "unknown delay_per `{s}`; expected message or batch"
            )),
        }
    }
}

/// Its own settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub delay_per: DelayPer,
    /// Acknowledge every this many messages processed (and at the end)...
    pub ack_every: u64,
    /// ... or when this long has passed since the last acknowledgement.
    pub ack_interval: Option<Duration>,
    /// How many times it reconnects after an error or EOF.
    pub max_reconnects: u32,
    /// The first wait before reconnecting; it doubles, up to 1 s.
    pub reconnect_backoff: Duration,
    /// How long after the trial's start it first connects (the sender's producer
    /// runs meanwhile: a client that is away).
    pub start_after: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            delay_per: DelayPer::Message,
            ack_every: 1,
            ack_interval: None,
            max_reconnects: 10,
            reconnect_backoff: Duration::from_millis(10),
            start_after: Duration::ZERO,
        }
    }
}

impl Strategy for Resume {
    fn name(&self) -> &'static str {
        "resume"
    }

    fn summary(&self) -> &'static str {
        "framed protocol: checks every sequence, acks, reconnects and resumes after the last processed"
    }

    fn describe(&self, params: &ClientParams) -> String {
        let p = params.own::<Settings>();
        let per = match p.delay_per {
            DelayPer::Message => "message",
            DelayPer::Batch => "batch",
        };
        let mut s = format!(
            "frames, delay {:?} per {per}, ack every {}",
            params.delay, p.ack_every
        );
        if let Some(i) = p.ack_interval {
            s.push_str(&format!(" or {i:?}"));
        }
        s.push_str(&format!(
            ", up to {} reconnects (backoff from {:?})",
            p.max_reconnects, p.reconnect_backoff
        ));
        if !p.start_after.is_zero() {
            s.push_str(&format!(", first connect after {:?}", p.start_after));
        }
        s
    }

    fn default_reply(&self) -> &'static str {
        ""
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        super::shared::with_socket_keys(&[
            ("delay", "processing time per message or batch (0ms)"),
            (
                "delay_per",
                "message or batch: what `delay` is spent on (message)",
            ),
            ("ack_every", "acknowledge every N messages processed (1)"),
            (
                "ack_interval",
                "... or when this long passed since the last ack (off)",
            ),
            ("max_reconnects", "reconnects before it gives up (10)"),
            (
                "reconnect_backoff",
                "first wait before a reconnect; doubles to 1s (10ms)",
            ),
            (
                "start_after",
                "first connect after this long: a client that is away (0ms)",
            ),
            super::shared::RCVBUF,
        ])
    }

    fn configure(
        &self,
        keys: &mut crate::settings::Keys,
        p: &mut ClientParams,
        _dir: &std::path::Path,
    ) -> Result<(), crate::settings::ScenarioError> {
        use crate::limits::{Dur, Int};
        super::shared::delay(keys, p)?;
        super::shared::rcvbuf(keys, p)?;
        super::shared::socket(keys, p)?;
        let mut own = Settings::default();
        if let Some(d) = keys.parse("delay_per")? {
            own.delay_per = d;
        }
        if let Some(n) = keys.int("ack_every", Int::new(1, 1 << 20))? {
            own.ack_every = n as u64;
        }
        let short = Dur::new(Duration::from_millis(1), Duration::from_secs(10));
        own.ack_interval = keys.duration("ack_interval", short)?;
        if let Some(n) = keys.int("max_reconnects", Int::new(0, 10_000))? {
            own.max_reconnects = n as u32;
        }
        if let Some(d) = keys.duration("reconnect_backoff", short)? {
            own.reconnect_backoff = d;
        }
        if let Some(d) = keys.duration("start_after", crate::limits::FAULT_AT)? {
            own.start_after = d;
        }
        p.own = super::Own::new(own);
        Ok(())
    }

    fn obeys_faults(&self) -> bool {
        true
    }

    fn counts_messages(&self) -> bool {
        true
    }

    fn speaks(&self, framed: bool) -> bool {
        framed
    }

    fn drive(
        &self,
        addr: SocketAddr,
        params: &ClientParams,
        hooks: &mut dyn ClientHooks,
    ) -> Result<ClientRecord> {
        // Away first: the sender produces meanwhile. Time zero is the first connect.
        nap(params.own::<Settings>().start_after.min(params.deadline));
        Ok(Run::new(params, hooks.control()).drive(addr, hooks))
    }
}

/// One connection's protocol state.
struct Talk {
    decoder: Decoder,
    /// The sender's hello has come, whole.
    got_hello: bool,
    pending_hello: Vec<u8>,
    /// Messages processed since the last acknowledgement.
    since_ack: u64,
    /// When the hello went out, until the first frame came.
    hello_at: Option<Instant>,
}

/// How one connection ended.
enum SessionEnd {
    /// The duration is over.
    Done { at_us: u64 },
    /// A `kill-client` fault: the connection was aborted; wait for `restart-client`.
    Killed,
    /// The connection was lost (or never made): reconnect if allowed.
    Lost(Ending),
    /// The peer does not speak the protocol: reconnecting cannot help.
    Refused(Ending),
}

struct Run<'p> {
    p: &'p ClientParams,
    own: Settings,
    control: Option<Arc<ClientControl>>,
    zero: Instant,
    zero_ns: u64,
    end: Instant,
    deadline: Instant,
    check: Checker,
    bytes_read: u64,
    reads: u64,
    acks: u64,
    errors: Vec<SyscallError>,
    connected_us: Option<u64>,
    last_ack: Instant,
    /// The current connection got the sender's hello.
    greeted: bool,
    /// The first socket's options, read back.
    socket: Option<Readback>,
}

impl<'p> Run<'p> {
    fn new(p: &'p ClientParams, control: Option<Arc<ClientControl>>) -> Run<'p> {
        let zero = Instant::now();
        Run {
            p,
            own: p.own(),
            control,
            zero,
            zero_ns: sys::monotonic_ns(),
            end: zero + p.duration,
            deadline: zero + p.deadline,
            check: Checker::new(),
            bytes_read: 0,
            reads: 0,
            acks: 0,
            errors: Vec::new(),
            connected_us: None,
            last_ack: zero,
            greeted: false,
            socket: None,
        }
    }

    fn us(&self) -> u64 {
        self.zero.elapsed().as_micros() as u64
    }

    fn fail(&mut self, call: &str, e: &std::io::Error) -> Ending {
        let error = SyscallError::new(call, "main", e.raw_os_error().unwrap_or(0), self.us());
        self.errors.push(error.clone());
        Ending::Failed { error }
    }

    /// The state the fault schedule asks for (Running without faults).
    fn state(&self) -> ClientState {
        self.control
            .as_ref()
            .map_or(ClientState::Running, |c| c.state())
    }

    /// Waits while the state is `s`, until the end of the duration. False at the end.
    fn wait_while(&self, s: ClientState) -> bool {
        while self.state() == s {
            if Instant::now() >= self.end || stopped() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }

    fn drive(mut self, addr: SocketAddr, hooks: &mut dyn ClientHooks) -> ClientRecord {
        hooks.started(self.zero_ns);
        let mut backoff = self.own.reconnect_backoff;
        let mut first = true;
        let ending = loop {
            let session = self.session(addr, hooks, first);
            first = false;
            let lost = match session {
                SessionEnd::Done { at_us } => break Ending::Survived { at_us },
                SessionEnd::Killed => {
                    // The application's state (what it processed) survives; the
                    // connection does not. Back at once when restarted.
                    if !self.wait_while(ClientState::Killed) {
                        break Ending::Survived { at_us: self.us() };
                    }
                    self.check.m.reconnects += 1;
                    continue;
                }
                SessionEnd::Refused(e) => break e,
                SessionEnd::Lost(e) => e,
            };
            // A connection that got as far as the sender's hello worked: the next
            // outage starts its backoff afresh.
            if std::mem::take(&mut self.greeted) {
                backoff = self.own.reconnect_backoff;
            }
            let now = Instant::now();
            if now >= self.end {
                break Ending::Survived { at_us: self.us() };
            }
            if self.check.m.reconnects >= self.own.max_reconnects || stopped() {
                break lost;
            }
            nap(backoff.min(self.end - now));
            backoff = (backoff * 2).min(MAX_BACKOFF);
            self.check.m.reconnects += 1;
        };
        self.record(ending)
    }

    /// One connection, from connect to its end.
    fn session(
        &mut self,
        addr: SocketAddr,
        hooks: &mut dyn ClientHooks,
        first: bool,
    ) -> SessionEnd {
        let sock = match self.connect(addr) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return SessionEnd::Lost(self.gave_up("connect"));
            }
            Err(e) => return SessionEnd::Lost(self.fail("connect", &e)),
        };
        if first {
            self.connected_us = Some(self.us());
            hooks.connected(&sock, self.zero_ns);
        }
        let end = self.converse(&sock);
        if first {
            hooks.closing();
        }
        end
    }

    fn connect(&mut self, addr: SocketAddr) -> std::io::Result<Socket> {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        if let Some(size) = self.p.rcvbuf {
            sock.set_recv_buffer_size(size)?;
        }
        self.p.sock.apply(&sock)?;
        if self.socket.is_none() {
            self.socket = Some(Readback::of(&sock)?);
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        let wait = self
            .p
            .sock
            .connect_timeout
            .unwrap_or(left)
            .min(left)
            .max(Duration::from_millis(1));
        sock.connect_timeout(&addr.into(), wait)?;
        sock.set_nonblocking(true)?;
        Ok(sock)
    }

    /// A wait of its own ran out in `call`: a timeout of the client's, or the deadline.
    fn gave_up(&self, call: &str) -> Ending {
        let (call, at_us) = (call.to_string(), self.us());
        if Instant::now() >= self.deadline {
            Ending::Hung { call, at_us }
        } else {
            Ending::Timeout { call, at_us }
        }
    }

    /// Hello each way, then frames until the end, a loss or a refusal.
    fn converse(&mut self, sock: &Socket) -> SessionEnd {
        let fd = sock.as_raw_fd();
        let hello = Hello {
            seq: self.check.m.last_seq + 1,
        };
        let hello_at = Instant::now();
        if let Err(e) = sys::send(fd, &hello.encode(), 0) {
            return SessionEnd::Lost(self.fail("send", &e));
        }
        let mut talk = Talk {
            decoder: Decoder::default(),
            got_hello: false,
            pending_hello: Vec::with_capacity(HELLO_LEN),
            since_ack: 0,
            hello_at: Some(hello_at),
        };
        let mut buf = vec![0u8; 64 * 1024];
        let mut heard = Instant::now();
        loop {
            let now = Instant::now();
            if now >= self.end || stopped() {
                // The loop's end: before the last ack and the close, which the
                // sender may answer within microseconds.
                let at_us = self.us();
                let _ = self.ack(fd, &mut talk.since_ack, true);
                return SessionEnd::Done { at_us };
            }
            match self.state() {
                ClientState::Killed => {
                    abort(sock);
                    return SessionEnd::Killed;
                }
                ClientState::Paused => {
                    // Not reading: the receive buffer fills and the window closes.
                    if !self.wait_while(ClientState::Paused) {
                        continue;
                    }
                    heard = Instant::now();
                }
                ClientState::Running => {}
            }
            if let Err(e) = self.ack(fd, &mut talk.since_ack, false) {
                return SessionEnd::Lost(self.fail("send", &e));
            }
            match self.readable(fd, now, &mut heard) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(end) => return end,
            }
            let n = match sys::recv(fd, &mut buf, 0) {
                Ok(0) => return SessionEnd::Lost(Ending::Eof { at_us: self.us() }),
                Ok(n) => n,
                Err(e) if would_block(&e) || interrupted(&e) => continue,
                Err(e) => return SessionEnd::Lost(self.fail("recv", &e)),
            };
            self.bytes_read += n as u64;
            self.reads += 1;
            if let Err(end) = self.take(fd, &buf[..n], &mut talk) {
                return end;
            }
        }
    }

    /// A short poll, so that a fault is obeyed at once: Ok(true) when there is data,
    /// Ok(false) to look again. The client's receive timeout, if it has one, counts
    /// from the last data.
    fn readable(&mut self, fd: i32, now: Instant, heard: &mut Instant) -> Result<bool, SessionEnd> {
        let wait = POLL_STEP.min(self.end - now);
        let silent_too_long = |heard: Instant| {
            self.p
                .sock
                .recv_timeout
                .is_some_and(|t| heard.elapsed() >= t)
        };
        match sys::poll_readable(fd, wait) {
            Ok(true) => {
                *heard = Instant::now();
                Ok(true)
            }
            Ok(false) if !silent_too_long(*heard) => Ok(false),
            Ok(false) => Err(SessionEnd::Lost(self.gave_up("recv"))),
            Err(e) if interrupted(&e) => Ok(false),
            Err(e) => Err(SessionEnd::Lost(self.fail("poll", &e))),
        }
    }

    /// What one read brought: the sender's hello first, then frames, each processed
    /// and acknowledged as `ack_every` says.
    fn take(&mut self, fd: i32, mut data: &[u8], t: &mut Talk) -> Result<(), SessionEnd> {
        if !t.got_hello {
            let take = (HELLO_LEN - t.pending_hello.len()).min(data.len());
            t.pending_hello.extend_from_slice(&data[..take]);
            data = &data[take..];
            if t.pending_hello.len() < HELLO_LEN {
                return Ok(());
            }
            t.got_hello = true;
            self.greeted = true;
            let b: [u8; HELLO_LEN] = t.pending_hello[..].try_into().expect("16 bytes");
            if Hello::decode(&b).is_err() {
                // Not our protocol: EPROTO, an error of its own, not the kernel's.
                let err = std::io::Error::from_raw_os_error(libc::EPROTO);
                return Err(SessionEnd::Refused(self.fail("hello", &err)));
            }
        }
        t.decoder.feed(data);
        let mut batch = 0;
        while let Some(frame) = t.decoder.next_frame() {
            if let Some(at) = t.hello_at.take() {
                let us = at.elapsed().as_micros() as u64;
                self.check.m.first_frame_us.push(us);
            }
            if self.process(&frame) {
                t.since_ack += 1;
                batch += 1;
            }
            if let Err(e) = self.ack(fd, &mut t.since_ack, false) {
                return Err(SessionEnd::Lost(self.fail("send", &e)));
            }
        }
        if batch > 0 && self.own.delay_per == DelayPer::Batch {
            self.sleep(self.p.delay);
        }
        Ok(())
    }

    /// Processing time, cut short by the deadline.
    fn sleep(&self, d: Duration) {
        if !d.is_zero() {
            std::thread::sleep(d.min(self.deadline.saturating_duration_since(Instant::now())));
        }
    }

    /// Checks the sequence and processes a new message; false for a duplicate.
    fn process(&mut self, f: &Frame) -> bool {
        if !self.check.admit(f) {
            return false;
        }
        if self.own.delay_per == DelayPer::Message {
            self.sleep(self.p.delay);
        }
        self.check.processed(f);
        true
    }

    /// Acknowledges the last processed message when `ack_every` were processed since
    /// the last ack (or `now`).
    fn ack(&mut self, fd: i32, since: &mut u64, now: bool) -> std::io::Result<()> {
        let due = now
            || *since >= self.own.ack_every
            || self
                .own
                .ack_interval
                .is_some_and(|i| self.last_ack.elapsed() >= i);
        if *since == 0 || !due {
            return Ok(());
        }
        match sys::send(
            fd,
            &protocol::encode_ack(self.check.m.last_seq),
            libc::MSG_DONTWAIT,
        ) {
            Ok(_) => {
                self.acks += 1;
                self.last_ack = Instant::now();
                *since = 0;
                Ok(())
            }
            // The sender reads its acks as they come; a full buffer means it has
            // stopped reading, and the next ack carries this one's news.
            Err(e) if would_block(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn record(self, ending: Ending) -> ClientRecord {
        let m = self.check.finish();
        ClientRecord {
            strategy: "resume".into(),
            zero_ns: self.zero_ns,
            zero: ClockZero::ConnectStart,
            connected_us: self.connected_us,
            rcvbuf_effective: self.p.rcvbuf.unwrap_or(0),
            socket: self.socket,
            bytes_read: self.bytes_read,
            messages_read: m.processed,
            reads: self.reads,
            replies: self.acks,
            reply_bytes: self.acks * protocol::ACK_LEN as u64,
            request_bytes: 0,
            first_bytes: String::new(),
            first_reply_us: None,
            ending,
            errors: self.errors,
            postmortem: None,
            external: None,
            messages: Some(m),
        }
    }
}
