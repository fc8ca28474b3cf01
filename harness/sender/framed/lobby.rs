//! Connections before their hello, and connections being closed: the framed senders'
//! lobby. It keeps the sender available to its real client whatever other peers do.
//!
//! - Every connection is accepted at once and waits here, non-blocking, for its
//!   16-byte hello; the session, if one is live, goes on meanwhile (the serve loop
//!   polls the lobby's sockets with the session's).
//! - A connection that has not sent a complete hello within `hello_timeout` is closed
//!   (`no-hello`), and so is one whose hello is not the protocol's
//!   (`bad-hello-magic`, `bad-hello-version`) or that closes first
//!   (`eof-before-hello`). Always with a FIN: what the peer sent has been read, so
//!   the close cannot become an RST; a FIN tells a confused peer "closed", where an
//!   RST would only tell it "lost".
//! - At most `max_pending_hellos` connections wait; one more closes the oldest waiting
//!   (`evicted`). Each waiting connection holds a socket and 16 bytes, so the
//!   sender's memory stays bounded whatever the peers do.
//! - A session that is taken over is retired here: shutdown(SHUT_WR) at once, its last
//!   acknowledgements read until EOF or [`DRAIN_LIMIT`], then closed, without holding
//!   up the session that took over.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::DRAIN_LIMIT;
use crate::names::names;
use crate::protocol::{HELLO_LEN, Hello, HelloError};
use crate::record::sender::EndReason;

names! {
    /// What a valid hello does while a session is live.
    #[derive(Default)]
    pub enum Takeover ("takeover") {
        /// The newest valid hello takes the session over: a client that reconnects
        /// after a silent failure is served at once.
        #[default]
        Newest => "newest",
        /// The live session keeps the sender; a new connection waits in the kernel's
        /// accept queue until it ends (zerowin before the lobby).
        First => "first",
    }
}

/// The lobby's settings (the framed senders' `hello_timeout`, `max_pending_hellos`
/// and `takeover` keys).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LobbySettings {
    pub hello_timeout: Duration,
    pub max_pending: usize,
    pub takeover: Takeover,
}

impl Default for LobbySettings {
    fn default() -> Self {
        LobbySettings {
            hello_timeout: Duration::from_secs(2),
            max_pending: 64,
            takeover: Takeover::Newest,
        }
    }
}

/// A connection that has not said its whole hello yet.
struct Waiting {
    stream: TcpStream,
    since: Instant,
    got: Vec<u8>,
}

/// A retired session, closing.
struct Closing {
    stream: TcpStream,
    until: Instant,
}

/// What came out of the lobby.
pub enum Arrival {
    /// A complete, valid hello.
    Hello(TcpStream, Hello),
    /// A connection closed in the lobby, and why.
    Refused(EndReason),
}

/// The connections waiting for their hello, and the sessions closing.
pub struct Lobby {
    s: LobbySettings,
    waiting: VecDeque<Waiting>,
    closing: Vec<Closing>,
    fds: Vec<libc::pollfd>,
}

impl Lobby {
    pub fn new(s: LobbySettings) -> Lobby {
        Lobby {
            s,
            waiting: VecDeque::new(),
            closing: Vec::new(),
            fds: Vec::new(),
        }
    }

    pub fn settings(&self) -> LobbySettings {
        self.s
    }

    /// Waits up to `wait` for `extra` (the session's socket and its events, if any),
    /// the listener or the lobby's own sockets; returns whether the lobby has work.
    pub fn poll(
        &mut self,
        listener: &TcpListener,
        extra: Option<(i32, i16)>,
        wait: Duration,
    ) -> std::io::Result<bool> {
        let pollin = |fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        self.fds.clear();
        if let Some((fd, events)) = extra {
            self.fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
        }
        let own = self.fds.len();
        self.fds.push(pollin(listener.as_raw_fd()));
        let socks = self.waiting.iter().map(|w| w.stream.as_raw_fd());
        let socks = socks.chain(self.closing.iter().map(|c| c.stream.as_raw_fd()));
        self.fds.extend(socks.map(pollin));
        let due = self.next_deadline();
        let wait = due.map_or(wait, |d| {
            wait.min(d.saturating_duration_since(Instant::now()))
        });
        crate::sys::poll_many(&mut self.fds, wait)?;
        Ok(self.fds[own..].iter().any(|p| p.revents != 0)
            || due.is_some_and(|d| d <= Instant::now()))
    }

    /// The earliest time a waiting connection expires or a closing one is given up;
    /// None with nothing waiting or closing.
    fn next_deadline(&self) -> Option<Instant> {
        let expiry = self.waiting.front().map(|w| w.since + self.s.hello_timeout);
        let closing = self.closing.iter().map(|c| c.until).min();
        expiry.into_iter().chain(closing).min()
    }

    /// Accepts every connection the listener has, reads what the waiting ones sent,
    /// closes the expired, evicted and refused ones, and moves the closing ones on.
    /// Returns what arrived, in order.
    pub fn tick(&mut self, listener: &TcpListener) -> Result<Vec<Arrival>> {
        let mut out = Vec::new();
        self.accept(listener, &mut out)?;
        let now = Instant::now();
        let mut still = VecDeque::with_capacity(self.waiting.len());
        while let Some(mut w) = self.waiting.pop_front() {
            match read_hello(&mut w) {
                Some(Ok(hello)) => out.push(Arrival::Hello(w.stream, hello)),
                Some(Err(why)) => out.push(refuse(w.stream, why)),
                None if now >= w.since + self.s.hello_timeout => {
                    out.push(refuse(w.stream, EndReason::NoHello))
                }
                None => still.push_back(w),
            }
        }
        self.waiting = still;
        self.closing.retain_mut(|c| !closed(c));
        Ok(out)
    }

    fn accept(&mut self, listener: &TcpListener, out: &mut Vec<Arrival>) -> Result<()> {
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(true)?;
                    if self.waiting.len() >= self.s.max_pending
                        && let Some(oldest) = self.waiting.pop_front()
                    {
                        out.push(refuse(oldest.stream, EndReason::Evicted));
                    }
                    self.waiting.push_back(Waiting {
                        stream,
                        since: Instant::now(),
                        got: Vec::with_capacity(HELLO_LEN),
                    });
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // A connection reset before it was accepted, or no file descriptor
                // left: nothing to serve now; the next turn tries again.
                Err(_) => return Ok(()),
            }
        }
    }

    /// Closes a session that was taken over: a FIN now, its last bytes read until EOF
    /// or [`DRAIN_LIMIT`], then close.
    pub fn retire(&mut self, stream: TcpStream) {
        let _ = stream.shutdown(std::net::Shutdown::Write);
        self.closing.push(Closing {
            stream,
            until: Instant::now() + DRAIN_LIMIT,
        });
    }
}

/// Reads what a waiting connection sent: Some(Ok) for a whole valid hello, Some(Err)
/// to close it, None to wait on.
fn read_hello(w: &mut Waiting) -> Option<Result<Hello, EndReason>> {
    let mut b = [0u8; HELLO_LEN];
    while w.got.len() < HELLO_LEN {
        let want = HELLO_LEN - w.got.len();
        match w.stream.read(&mut b[..want]) {
            Ok(0) => return Some(Err(EndReason::EofBeforeHello)),
            Ok(n) => w.got.extend_from_slice(&b[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Some(Err(EndReason::ErrorBeforeHello)),
        }
    }
    let whole: [u8; HELLO_LEN] = w.got[..].try_into().expect("16 bytes");
    Some(match Hello::decode(&whole) {
        Ok(h) => Ok(h),
        Err(HelloError::Magic(_)) => Err(EndReason::BadHelloMagic),
        Err(HelloError::Version(_)) => Err(EndReason::BadHelloVersion),
    })
}

/// The most a turn reads from one connection that is being closed: a peer that keeps
/// sending cannot hold the loop.
const READ_TURN: usize = 16;

/// Closes a connection that never became a session, with a FIN: what it sent so far
/// is read first (up to [`READ_TURN`] reads), so nothing is left unread.
fn refuse(mut stream: TcpStream, why: EndReason) -> Arrival {
    let mut sink = [0u8; 4096];
    for _ in 0..READ_TURN {
        if !matches!(stream.read(&mut sink), Ok(n) if n > 0) {
            break;
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Arrival::Refused(why)
}

/// Reads a closing session's last bytes; true once it is done (EOF, an error, or
/// its time is up), and then it is dropped: closed.
fn closed(c: &mut Closing) -> bool {
    let mut sink = [0u8; 4096];
    for _ in 0..READ_TURN {
        match c.stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    Instant::now() >= c.until
}
