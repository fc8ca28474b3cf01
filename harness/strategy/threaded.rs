//! `threaded`: the 2014 post's "move the reading out of the slow loop". A reader thread
//! drains the socket as fast as data comes, into a bounded memory queue
//! (`queue_bytes`); the worker takes from the queue and processes with the naive
//! client's costs: `delay` per `recv_size` bytes and a `reply` after each (bare
//! bytes), or `delay` per message and an acknowledgement every `ack_every` (framed).
//! The receive window stays open while the queue has room: the slow loop's backlog
//! moves from the kernel's buffer into the process. When the queue is full, the
//! reader waits, and the window closes as before, only later.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::messages::Checker;
use super::{Conn, SocketLoop, Strategy, interrupted, would_block};
use crate::protocol::{self, Decoder, HELLO_LEN, Hello};
use crate::record::Ending;
use crate::sys;

pub struct Threaded;

/// Its own settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Bare bytes: bytes per unit of work.
    pub recv_size: usize,
    /// Framed: acknowledge every this many messages.
    pub ack_every: u64,
    /// The bound of the memory queue between the reader and the worker.
    pub queue_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            recv_size: 10,
            ack_every: 1,
            queue_bytes: 64 << 20,
        }
    }
}

/// The reader's read size.
const CHUNK: usize = 64 * 1024;
/// How often each thread looks at the clock while it waits.
const TICK: Duration = Duration::from_millis(10);

impl Strategy for Threaded {
    fn name(&self) -> &'static str {
        "threaded"
    }

    fn summary(&self) -> &'static str {
        "a reader thread drains the socket into a bounded queue; a worker processes with naive's costs"
    }

    fn describe(&self, p: &super::ClientParams) -> String {
        let own = p.own::<Settings>();
        let unit = if p.framed {
            format!("per message, ack every {}", own.ack_every)
        } else {
            format!(
                "per {} B, then {}",
                own.recv_size,
                super::describe_processing(p)
            )
        };
        format!(
            "a reader into a {} B queue; a worker: delay {:?} {unit}",
            own.queue_bytes, p.delay
        )
    }

    fn default_reply(&self) -> &'static str {
        "Hi i got the data"
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        super::shared::with_socket_keys(&[
            (
                "delay",
                "the worker's processing time per read or message (0ms)",
            ),
            ("recv_size", "bare bytes: bytes per unit of work (10)"),
            ("ack_every", "framed: acknowledge every N messages (1)"),
            (
                "queue_bytes",
                "the queue between reader and worker, bytes (67108864)",
            ),
            super::shared::REPLY,
            super::shared::REQUEST,
            super::shared::REQUEST_FILE,
            super::shared::RCVBUF,
        ])
        .into_iter()
        .filter(|k| k.0 != "recv_timeout")
        .collect()
    }

    fn configure(
        &self,
        keys: &mut crate::settings::Keys,
        p: &mut super::ClientParams,
        _dir: &std::path::Path,
    ) -> Result<(), crate::settings::ScenarioError> {
        use crate::limits::Int;
        if keys.has("recv_timeout") {
            return Err(keys.invalid(
                "recv_timeout",
                "the threaded client's reader never blocks on one read (it polls and queues), so a receive timeout has nothing to bound; send_timeout bounds its worker's reply",
            ));
        }
        let mut own = Settings::default();
        if let Some(n) = keys.int("ack_every", Int::new(1, 1 << 20))? {
            own.ack_every = n as u64;
        }
        if let Some(n) = keys.int("queue_bytes", Int::new(1024, 1 << 30))? {
            own.queue_bytes = n as usize;
        }
        if let Some(n) = super::shared::byte_loop(keys, p, "recv_size")? {
            own.recv_size = n;
        }
        p.own = super::Own::new(own);
        Ok(())
    }

    fn speaks(&self, _framed: bool) -> bool {
        true
    }

    fn counts_messages(&self) -> bool {
        true
    }

    fn socket_loop(&self) -> Option<&dyn SocketLoop> {
        Some(self)
    }
}

/// How the reader ended.
#[derive(Debug, Clone, Copy)]
enum ReaderEnd {
    Eof(u64),
    Failed(i32, u64),
}

#[derive(Default)]
struct State {
    chunks: VecDeque<Vec<u8>>,
    bytes: usize,
    end: Option<ReaderEnd>,
    stop: bool,
}

/// The bounded queue between the reader and the worker.
struct Pipe {
    state: Mutex<State>,
    changed: Condvar,
    cap: usize,
}

impl Pipe {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The reader: recv() into the queue, waiting while it is full, until EOF, an
    /// error or the stop flag. Returns the bytes read.
    fn read(&self, fd: i32, zero: Instant) -> u64 {
        let mut total = 0u64;
        let us = || zero.elapsed().as_micros() as u64;
        loop {
            {
                let mut st = self.lock();
                while st.bytes >= self.cap && !st.stop {
                    st = self
                        .changed
                        .wait_timeout(st, TICK)
                        .map(|r| r.0)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                if st.stop {
                    return total;
                }
            }
            match sys::poll_readable(fd, TICK) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(e) if interrupted(&e) => continue,
                Err(e) => {
                    return self.end(
                        ReaderEnd::Failed(e.raw_os_error().unwrap_or(0), us()),
                        total,
                    );
                }
            }
            let mut buf = vec![0u8; CHUNK];
            match sys::recv(fd, &mut buf, libc::MSG_DONTWAIT) {
                Ok(0) => return self.end(ReaderEnd::Eof(us()), total),
                Ok(n) => {
                    buf.truncate(n);
                    total += n as u64;
                    let mut st = self.lock();
                    st.bytes += n;
                    st.chunks.push_back(buf);
                    self.changed.notify_all();
                }
                Err(e) if would_block(&e) || interrupted(&e) => {}
                Err(e) => {
                    return self.end(
                        ReaderEnd::Failed(e.raw_os_error().unwrap_or(0), us()),
                        total,
                    );
                }
            }
        }
    }

    fn end(&self, how: ReaderEnd, total: u64) -> u64 {
        self.lock().end = Some(how);
        self.changed.notify_all();
        total
    }

    /// The next chunk, waiting up to `wait`; Err(end) once the reader has ended and
    /// everything it read was taken.
    fn take(&self, wait: Duration) -> Result<Option<Vec<u8>>, ReaderEnd> {
        let mut st = self.lock();
        if st.chunks.is_empty() && st.end.is_none() {
            st = self
                .changed
                .wait_timeout(st, wait)
                .map(|r| r.0)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        match st.chunks.pop_front() {
            Some(c) => {
                st.bytes -= c.len();
                self.changed.notify_all();
                Ok(Some(c))
            }
            None => match st.end {
                Some(e) => Err(e),
                None => Ok(None),
            },
        }
    }

    fn stop(&self) {
        self.lock().stop = true;
        self.changed.notify_all();
    }
}

/// What the worker does with the bytes: bare units or frames.
enum Work {
    Bytes {
        pending: usize,
        /// Bytes per unit of work (`recv_size`).
        unit: usize,
    },
    Framed {
        hello: Vec<u8>,
        decoder: Decoder,
        check: Box<Checker>,
        since_ack: u64,
        ack_every: u64,
    },
}

impl SocketLoop for Threaded {
    fn run(&self, c: &mut Conn) -> Ending {
        if let Err(e) = c.sock.set_nonblocking(true) {
            return c.fail("fcntl", e);
        }
        let own = c.params.own::<Settings>();
        let mut work = if c.params.framed {
            if let Err(e) = sys::send(c.fd(), &Hello { seq: 1 }.encode(), 0) {
                return c.fail("send", e);
            }
            Work::Framed {
                hello: Vec::new(),
                decoder: Decoder::default(),
                check: Box::new(Checker::new()),
                since_ack: 0,
                ack_every: own.ack_every,
            }
        } else {
            Work::Bytes {
                pending: 0,
                unit: own.recv_size.max(1),
            }
        };
        let pipe = Pipe {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            cap: own.queue_bytes,
        };
        let fd = c.fd();
        let zero = Instant::now() - Duration::from_micros(c.elapsed_us());
        let (ending, read) = std::thread::scope(|s| {
            let reader = s.spawn(|| pipe.read(fd, zero));
            let ending = work_loop(c, &pipe, &mut work);
            pipe.stop();
            (ending, reader.join().unwrap_or(0))
        });
        c.counters.bytes_read += read;
        if let Work::Framed { check, .. } = work {
            c.messages = Some(check.finish());
        }
        ending
    }
}

/// The worker: processes what the reader queued until the end, or until the reader
/// has ended and the queue is empty.
fn work_loop(c: &mut Conn, pipe: &Pipe, work: &mut Work) -> Ending {
    loop {
        if let Some(end) = c.time_is_up() {
            return end;
        }
        let chunk = match pipe.take(c.until_end().min(TICK)) {
            Ok(Some(chunk)) => chunk,
            Ok(None) => continue,
            Err(ReaderEnd::Eof(at_us)) => return Ending::Eof { at_us },
            Err(ReaderEnd::Failed(errno, at_us)) => return c.fail_at("recv", errno, at_us),
        };
        c.counters.reads += 1;
        if let Err(ending) = process(c, work, &chunk) {
            return ending;
        }
    }
}

/// Processes one chunk with the naive client's costs.
fn process(c: &mut Conn, work: &mut Work, chunk: &[u8]) -> Result<(), Ending> {
    match work {
        Work::Bytes { pending, unit } => {
            *pending += chunk.len();
            while *pending >= *unit {
                *pending -= *unit;
                c.process();
                reply(c, |c| c.reply(libc::MSG_DONTWAIT))?;
                if c.past_deadline() {
                    break;
                }
            }
        }
        Work::Framed {
            hello,
            decoder,
            check,
            since_ack,
            ack_every,
        } => {
            let mut data = chunk;
            if hello.len() < HELLO_LEN {
                let take = (HELLO_LEN - hello.len()).min(data.len());
                hello.extend_from_slice(&data[..take]);
                data = &data[take..];
                if hello.len() == HELLO_LEN {
                    let b: [u8; HELLO_LEN] = hello[..].try_into().expect("16 bytes");
                    if Hello::decode(&b).is_err() {
                        let at = c.elapsed_us();
                        return Err(c.fail_at("hello", libc::EPROTO, at));
                    }
                }
            }
            decoder.feed(data);
            while let Some(f) = decoder.next_frame() {
                if !check.admit(&f) {
                    continue;
                }
                c.process();
                check.processed(&f);
                *since_ack += 1;
                if *since_ack >= *ack_every {
                    let ack = protocol::encode_ack(check.m.last_seq);
                    reply(c, |c| {
                        sys::send(c.fd(), &ack, libc::MSG_DONTWAIT).map(|_| ())
                    })?;
                    *since_ack = 0;
                }
            }
        }
    }
    Ok(())
}

/// A send of the worker on the shared non-blocking socket: it waits for room up to
/// the client's send timeout (or the deadline), as the naive client's blocking send()
/// would.
fn reply(
    c: &mut Conn,
    mut send: impl FnMut(&mut Conn) -> std::io::Result<()>,
) -> Result<(), Ending> {
    loop {
        match send(c) {
            Ok(()) => return Ok(()),
            Err(e) if would_block(&e) => {
                let wait = c.wait_for(c.params.sock.send_timeout);
                match sys::poll_fd(c.fd(), libc::POLLOUT, wait) {
                    Ok(0) => return Err(c.gave_up("send")),
                    Ok(_) => {}
                    Err(e) => return Err(c.fail("poll", e)),
                }
            }
            Err(e) if interrupted(&e) => {}
            Err(e) => return Err(c.fail("send", e)),
        }
    }
}
