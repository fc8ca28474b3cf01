//! The fixed post-mortem every strategy runs after its first failure (or EOF), so a
//! result shows which call gives ECONNRESET, which EPIPE and which ENOTCONN once the
//! connection is gone: recv until EOF or error, one send, shutdown, getpeername, SO_ERROR.
//! Every call is non-blocking, so the probe cannot hang.

use super::{Conn, interrupted, would_block};
use crate::record::{PostMortem, ProbeResult};
use crate::sys;

fn probe(c: &mut Conn, call: &'static str, r: std::io::Result<i64>) -> ProbeResult {
    match r {
        Ok(v) => ProbeResult::ok(call, v),
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(0);
            c.note(call, errno);
            ProbeResult::err(call, errno)
        }
    }
}

pub fn run(c: &mut Conn) -> PostMortem {
    let fd = c.fd();
    let mut buf = vec![0u8; 64 * 1024];
    let mut recv_bytes = 0u64;
    // recv until EOF, an error, or an empty queue (EAGAIN: the connection is still up).
    let recv_end = loop {
        match sys::recv(fd, &mut buf, libc::MSG_DONTWAIT) {
            Ok(0) => break ProbeResult::ok("recv", 0),
            Ok(n) => {
                recv_bytes += n as u64;
                if c.past_deadline() {
                    // A live sender can refill the queue forever: stop at the deadline.
                    break ProbeResult::ok("recv", n as i64);
                }
            }
            Err(e) if interrupted(&e) => {}
            Err(e) if would_block(&e) => {
                break ProbeResult::err("recv", e.raw_os_error().unwrap_or(libc::EAGAIN));
            }
            Err(e) => break probe(c, "recv", Err(e)),
        }
    };
    let reply: &[u8] = if c.params.reply.is_empty() {
        b"x"
    } else {
        &c.params.reply
    };
    let send = sys::send(fd, reply, libc::MSG_DONTWAIT).map(|n| n as i64);
    let send = probe(c, "send", send);
    let shutdown = probe(c, "shutdown", sys::shutdown_both(fd).map(|_| 0));
    let peer = c.sock.peer_addr().map(|_| 0);
    let getpeername = probe(c, "getpeername", peer);
    let so_error = match c.sock.take_error() {
        Ok(None) => ProbeResult::ok("SO_ERROR", 0),
        // A pending error is the value SO_ERROR returns, not a failure of getsockopt.
        Ok(Some(e)) => ProbeResult::err("SO_ERROR", e.raw_os_error().unwrap_or(0)),
        Err(e) => probe(c, "SO_ERROR", Err(e)),
    };
    PostMortem {
        recv_bytes,
        recv_end,
        send,
        shutdown,
        getpeername,
        so_error,
    }
}
