//! `drain`: the 2014 fix. A non-blocking socket; poll() for readability, then
//! recv(chunk) until EAGAIN, so the receive queue is emptied on every wake-up; then
//! process the whole batch once and, if `reply` is set, reply once per batch.

use super::{Conn, SocketLoop, Strategy, interrupted, would_block};
use crate::record::Ending;
use crate::sys;

pub struct Drain;

/// Its own settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Bytes per recv() while draining.
    pub chunk: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { chunk: 1024 }
    }
}

impl Strategy for Drain {
    fn name(&self) -> &'static str {
        "drain"
    }

    fn summary(&self) -> &'static str {
        "the 2014 fix: non-blocking, poll(), recv(1024) until EAGAIN, process per batch"
    }

    /// The 2014 fixed client sent nothing back.
    fn describe(&self, p: &super::ClientParams) -> String {
        format!(
            "recv({}) until EAGAIN, then per batch {}",
            p.own::<Settings>().chunk,
            super::describe_processing(p)
        )
    }

    fn default_reply(&self) -> &'static str {
        ""
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        super::shared::with_socket_keys(&[
            ("chunk", "bytes per recv() while draining (1024)"),
            ("delay", "processing time after each batch (0ms)"),
            super::shared::REPLY,
            super::shared::REQUEST,
            super::shared::REQUEST_FILE,
            super::shared::RCVBUF,
        ])
    }

    fn configure(
        &self,
        keys: &mut crate::settings::Keys,
        p: &mut super::ClientParams,
        _dir: &std::path::Path,
    ) -> Result<(), crate::settings::ScenarioError> {
        let chunk = super::shared::byte_loop(keys, p, "chunk")?;
        let d = Settings::default();
        p.own = super::Own::new(Settings {
            chunk: chunk.unwrap_or(d.chunk),
        });
        Ok(())
    }

    fn obeys_pause(&self) -> bool {
        true
    }

    fn socket_loop(&self) -> Option<&dyn SocketLoop> {
        Some(self)
    }
}

impl SocketLoop for Drain {
    fn run(&self, c: &mut Conn) -> Ending {
        if let Err(e) = c.sock.set_nonblocking(true) {
            return c.fail("fcntl", e);
        }
        let mut buf = vec![0u8; c.params.own::<Settings>().chunk];
        loop {
            if let Some(end) = c.time_is_up() {
                return end;
            }
            // poll() waits for the client's own receive timeout, if it has one, and
            // at most until the end of the duration, when the loop says survived.
            let until_end = c.until_end();
            let wait = until_end.min(c.wait_for(c.params.sock.recv_timeout));
            match sys::poll_readable(c.fd(), wait) {
                Ok(true) => {}
                Ok(false) if wait == until_end => continue,
                Ok(false) => return c.gave_up("poll"),
                Err(e) if interrupted(&e) => continue,
                Err(e) => return c.fail("poll", e),
            }
            let mut batch = 0usize;
            loop {
                match sys::recv(c.fd(), &mut buf, 0) {
                    Ok(0) => return c.eof(),
                    Ok(n) => {
                        c.got(n);
                        c.saw(&buf[..n]);
                        batch += n;
                    }
                    Err(e) if would_block(&e) => break,
                    Err(e) if interrupted(&e) => continue,
                    Err(e) => return c.fail("recv", e),
                }
            }
            if batch == 0 {
                continue;
            }
            c.process();
            // Non-blocking: EAGAIN here means our own send buffer is full because the
            // peer never reads our replies. That is a failure of its own, not a timeout.
            if let Err(e) = c.reply(0) {
                return c.fail("send", e);
            }
        }
    }
}
