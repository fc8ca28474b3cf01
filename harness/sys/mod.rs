//! The one place that talks to the kernel below `std` and socket2: raw clock reads,
//! errno naming, process-reaping prctl, raw socket calls, and in submodules the
//! kernel structs and protocols the observers read:
//! - [`netns`]: network namespaces, the loopback's flags, per-namespace sysctls and
//!   the TcpExt counters;
//! - [`tcpinfo`]: `struct tcp_info`, read by the length the kernel returns;
//! - [`diag`]: sock_diag/inet_diag netlink, to read another process's socket as `ss` does;
//! - [`packet`]: an AF_PACKET socket on the loopback, with kernel timestamps.
//!
//! Every libc call goes through [`cvt`], which turns -1 into
//! `io::Error::last_os_error()` so the errno survives intact. For zerowin the errno
//! *is* the data: it stays raw until it becomes a record.

pub mod diag;
pub mod netns;
pub mod packet;
pub mod rtnl;
pub mod tcpinfo;

use std::io;
use std::os::fd::RawFd;

/// Turns a libc return value of -1 into the current errno, untouched.
pub fn cvt<T: PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// recv(2) on a raw fd, with flags (MSG_DONTWAIT, ...). Returns the byte count; 0 is EOF.
pub fn recv(fd: RawFd, buf: &mut [u8], flags: i32) -> io::Result<usize> {
    // SAFETY: buf is valid for writes of buf.len() bytes for the duration of the call.
    cvt(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) }).map(|n| n as usize)
}

/// send(2) on a raw fd. MSG_NOSIGNAL is always added: an EPIPE is data, not a signal.
pub fn send(fd: RawFd, buf: &[u8], flags: i32) -> io::Result<usize> {
    // SAFETY: buf is valid for reads of buf.len() bytes for the duration of the call.
    cvt(unsafe {
        libc::send(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            flags | libc::MSG_NOSIGNAL,
        )
    })
    .map(|n| n as usize)
}

/// shutdown(2) with SHUT_RDWR.
pub fn shutdown_both(fd: RawFd) -> io::Result<()> {
    // SAFETY: plain syscall on an fd number; a bad fd only yields EBADF.
    cvt(unsafe { libc::shutdown(fd, libc::SHUT_RDWR) }).map(|_| ())
}

/// A poll(2) timeout in whole milliseconds, rounded up: a wait of 0.4 ms must not
/// become 0, a poll that returns at once and reads as "timed out" too early.
fn poll_ms(timeout: std::time::Duration) -> i32 {
    timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
}

/// poll(2) for readability (or an error/hangup) with a timeout. Ok(false) = timed out.
pub fn poll_readable(fd: RawFd, timeout: std::time::Duration) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = poll_ms(timeout);
    // SAFETY: p is one valid pollfd.
    cvt(unsafe { libc::poll(&mut p, 1, ms) }).map(|n| n > 0)
}

/// poll(2) on several fds at once; each one's `revents` is set. Ok(the number ready).
pub fn poll_many(fds: &mut [libc::pollfd], timeout: std::time::Duration) -> io::Result<usize> {
    let ms = poll_ms(timeout);
    // SAFETY: fds is a valid, exclusively borrowed array of fds.len() pollfds.
    cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) }).map(|n| n as usize)
}

/// poll(2) for `events` on one fd; Ok(revents), 0 when it timed out.
pub fn poll_fd(fd: RawFd, events: i16, timeout: std::time::Duration) -> io::Result<i16> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ms = poll_ms(timeout);
    // SAFETY: p is one valid pollfd.
    cvt(unsafe { libc::poll(&mut p, 1, ms) }).map(|_| p.revents)
}

/// True when `fd` is the write end of a pipe whose reader has gone: poll(2) reports
/// POLLERR for it at once, without writing. False for files and terminals.
///
/// # Notes
/// A writer learns of a closed pipe only when it writes (EPIPE). Asking poll()
/// lets a long run notice `| head -1` between trials instead of at its next line.
pub fn write_end_closed(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    };
    // SAFETY: p is one valid pollfd; a zero timeout never blocks.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents & libc::POLLERR != 0
}

/// The width in columns of the terminal `fd` writes to; None when it is not a terminal.
pub fn terminal_width(fd: RawFd) -> Option<u16> {
    // SAFETY: isatty only inspects the fd number.
    if unsafe { libc::isatty(fd) } != 1 {
        return None;
    }
    // SAFETY: winsize is plain old data; zeroed is a valid value.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize, and ws is one.
    cvt(unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) }).ok()?;
    (ws.ws_col > 0).then_some(ws.ws_col)
}

/// A non-blocking eventfd: a file descriptor one thread can make readable to wake
/// another out of poll().
pub fn eventfd() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain syscall; the fd is ours.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: eventfd returned a new fd that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Makes an eventfd readable.
pub fn eventfd_signal(fd: RawFd) -> io::Result<()> {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a valid u64.
    cvt(unsafe { libc::write(fd, (&one as *const u64).cast(), 8) }).map(|_| ())
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec; both clocks always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CLOCK_MONOTONIC in nanoseconds: the one time axis shared by the harness and the
/// C sender, which stamps its EAGAIN and close() with the same clock.
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// The page size, bytes (`statm` counts pages).
pub fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |n| n as u64)
}

/// CLOCK_REALTIME in nanoseconds, for pcap timestamps (which are wall-clock).
pub fn realtime_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// A native-endian u32 at `off`, if the bytes reach that far (kernel structs read by
/// the length the kernel returned).
pub fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off + 4)
        .map(|s| u32::from_ne_bytes(s.try_into().unwrap()))
}

/// The symbolic name of an errno ("ECONNRESET"), or "E<n>" for one nix does not know.
pub fn errno_name(errno: i32) -> String {
    let e = nix::errno::Errno::from_raw(errno);
    if e == nix::errno::Errno::UnknownErrno {
        format!("E{errno}")
    } else {
        format!("{e:?}")
    }
}

/// The name of a signal number ("SIGTERM"), or "signal <n>".
pub fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {sig}"))
}

/// Makes this process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER).
///
/// # Notes
/// The C sender forks a child per connection. When the harness kills the sender's
/// process group, those children are reparented; with this flag they come to us, so
/// the harness can reap them instead of leaving zombies for an init that may not wait.
pub fn become_subreaper() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes one integer argument.
    cvt(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(|_| ())
}

/// Asks the kernel to SIGKILL the calling process when its parent thread exits
/// (PR_SET_PDEATHSIG). Only async-signal-safe: meant for `pre_exec`.
pub fn die_with_parent() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes one integer argument.
    cvt(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) }).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_errnos_of_this_failure() {
        assert_eq!(errno_name(libc::ECONNRESET), "ECONNRESET");
        assert_eq!(errno_name(libc::EPIPE), "EPIPE");
        assert_eq!(errno_name(libc::ENOTCONN), "ENOTCONN");
        assert_eq!(errno_name(libc::EAGAIN), "EAGAIN");
        assert_eq!(errno_name(9999), "E9999");
    }

    #[test]
    fn monotonic_clock_moves_forward() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(b >= a && a > 0);
    }

    #[test]
    fn a_pipe_without_reader_is_seen_closed() {
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two fds pipe writes.
        cvt(unsafe { libc::pipe(fds.as_mut_ptr()) }).unwrap();
        assert!(!write_end_closed(fds[1]), "the reader is still open");
        // SAFETY: fds[0] is ours and closed once.
        unsafe { libc::close(fds[0]) };
        assert!(write_end_closed(fds[1]), "the reader has gone");
        // SAFETY: fds[1] is ours and closed once.
        unsafe { libc::close(fds[1]) };
        assert_eq!(terminal_width(fds[1]), None);
    }

    #[test]
    fn a_short_wait_is_not_rounded_to_none() {
        use std::time::Duration;
        assert_eq!(poll_ms(Duration::from_micros(400)), 1);
        assert_eq!(poll_ms(Duration::from_millis(2)), 2);
        assert_eq!(poll_ms(Duration::ZERO), 0);
    }

    #[test]
    fn cvt_keeps_the_errno() {
        // SAFETY: closing an fd that is certainly not open only sets errno.
        let err = cvt(unsafe { libc::close(-1) }).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }
}
