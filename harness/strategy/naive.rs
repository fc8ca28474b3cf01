//! `naive`: the 2014 client. A blocking socket; recv(recv_size) (10 bytes by
//! default); process; send a reply; repeat. Each recv() takes a few bytes off a queue
//! the sender fills far faster, so the receive window closes and stays closed.

use super::{Conn, SocketLoop, Strategy, interrupted, would_block};
use crate::record::Ending;
use crate::sys;

pub struct Naive;

/// Its own settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Bytes per recv().
    pub recv_size: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { recv_size: 10 }
    }
}

impl Strategy for Naive {
    fn name(&self) -> &'static str {
        "naive"
    }

    fn summary(&self) -> &'static str {
        "the 2014 client: blocking recv(10), process, reply after every read"
    }

    fn describe(&self, p: &super::ClientParams) -> String {
        format!(
            "recv({}), then {}",
            p.own::<Settings>().recv_size,
            super::describe_processing(p)
        )
    }

    fn default_reply(&self) -> &'static str {
        "Hi i got the data"
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        super::shared::with_socket_keys(&[
            ("recv_size", "bytes per recv() (10)"),
            ("delay", "processing time after each read (0ms)"),
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
        let recv_size = super::shared::byte_loop(keys, p, "recv_size")?;
        let d = Settings::default();
        p.own = super::Own::new(Settings {
            recv_size: recv_size.unwrap_or(d.recv_size),
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

impl SocketLoop for Naive {
    fn run(&self, c: &mut Conn) -> Ending {
        if let Err(e) = c.sock.set_nonblocking(false) {
            return c.fail("fcntl", e);
        }
        let mut buf = vec![0u8; c.params.own::<Settings>().recv_size];
        let mut timeout = None;
        loop {
            if let Some(end) = c.time_is_up() {
                return end;
            }
            // Blocking, as in the post. SO_RCVTIMEO/SO_SNDTIMEO are the client's own
            // timeouts, if it has them; without, a call waits as long as it takes, and
            // the harness bounds it by the deadline (shrinking near it). Set only when
            // they change.
            let now = (
                c.wait_for(c.params.sock.recv_timeout),
                c.wait_for(c.params.sock.send_timeout),
            );
            if timeout != Some(now) {
                timeout = Some(now);
                if let Err(e) = c.sock.set_read_timeout(Some(now.0)) {
                    return c.fail("setsockopt(SO_RCVTIMEO)", e);
                }
                if let Err(e) = c.sock.set_write_timeout(Some(now.1)) {
                    return c.fail("setsockopt(SO_SNDTIMEO)", e);
                }
            }
            match sys::recv(c.fd(), &mut buf, 0) {
                Ok(0) => return c.eof(),
                Ok(n) => {
                    c.got(n);
                    c.saw(&buf[..n]);
                }
                Err(e) if interrupted(&e) => continue,
                // SO_RCVTIMEO expired: the client's own timeout, or the deadline.
                Err(e) if would_block(&e) => return c.gave_up("recv"),
                Err(e) => return c.fail("recv", e),
            }
            c.process();
            match c.reply(0) {
                Ok(()) => {}
                Err(e) if would_block(&e) => return c.gave_up("send"),
                Err(e) => return c.fail("send", e),
            }
        }
    }
}
