//! The TCP_INFO timeline: both ends of the connection sampled every `interval` after a
//! quiet start, and once more at the end of the trial.
//! The client's socket is ours (getsockopt TCP_INFO, SIOCINQ/SIOCOUTQ); the sender's
//! lives in another process and is read through inet_diag netlink, as `ss` does.

use std::net::SocketAddrV4;
use std::os::fd::RawFd;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sys::diag::Diag;
use crate::sys::{monotonic_ns, tcpinfo};

pub use crate::record::observation::{End, Sample, Timeline};

/// At most this many samples are kept per trial (200 s at 1 ms).
const MAX_SAMPLES: usize = 200_000;

/// The sampler stays idle this long after connect. The kernel's events record those
/// milliseconds (and the capture, when on: the plot draws them from the wire),
/// while a sampler waking in them takes CPU, and the socket locks of both ends, from
/// the race the trial measures: on two cores, with the sender and the client busy,
/// 1 ms sampling from the start moved the median time to reset of repro-4k and its
/// mix of close routes (docs/benchmarks.md). 10 ms covers the whole race of
/// repro-4k (median 2.5 ms) and leaves a 600 ms zero-window trial ~590 samples.
pub const QUIET_START: Duration = Duration::from_millis(10);

const GONE: End = End {
    state: "CLOSED",
    recv_q: 0,
    send_q: 0,
    snd_wnd: None,
    rcv_wnd: None,
    notsent: 0,
    probes: 0,
    backoff: 0,
    rto_us: 0,
};

/// The connection a sampler watches.
pub struct Target {
    /// The client's socket; it must stay open until [`Sampler::stop`] returns.
    pub client_fd: RawFd,
    pub client: SocketAddrV4,
    pub sender: SocketAddrV4,
    /// CLOCK_MONOTONIC ns of time zero (the start of connect()): the zero of every sample.
    pub zero_ns: u64,
}

/// A sampler thread. It is started before connect() and told the connection when
/// there is one, so no thread is spawned in the client's path at the moment that
/// decides the race.
pub struct Sampler {
    /// Dropped (or sent to) to stop the thread at once, even mid-wait.
    stop: Option<mpsc::Sender<()>>,
    target: Option<mpsc::Sender<Target>>,
    handle: JoinHandle<Timeline>,
}

fn end_from(info: tcpinfo::TcpInfo, recv_q: u32, send_q: u32) -> End {
    End {
        state: tcpinfo::state_name(info.state),
        recv_q,
        send_q,
        snd_wnd: info.snd_wnd,
        rcv_wnd: info.rcv_wnd,
        notsent: info.notsent_bytes,
        probes: info.probes,
        backoff: info.backoff,
        rto_us: info.rto_us,
    }
}

/// One sample of both ends, kept up to [`MAX_SAMPLES`].
fn take(tl: &mut Timeline, t: &Target, diag: &mut Diag) {
    let t_us = monotonic_ns().saturating_sub(t.zero_ns) / 1000;
    let client_end = match (tcpinfo::get(t.client_fd), tcpinfo::queues(t.client_fd)) {
        (Ok(i), Ok((rq, wq))) => end_from(i, rq, wq),
        _ => GONE,
    };
    let sender_end = match diag.query(t.sender, t.client) {
        Ok(Some(d)) => end_from(d.info.unwrap_or_default(), d.rqueue, d.wqueue),
        _ => GONE,
    };
    let s = Sample {
        t_us,
        client: client_end,
        sender: sender_end,
    };
    tl.observe(&s);
    if tl.samples.len() < MAX_SAMPLES {
        tl.samples.push(s);
    } else {
        tl.truncated = true;
    }
}

impl Sampler {
    /// Starts the thread, idle until [`Sampler::watch`]. `diag` must have been opened
    /// in the trial's namespace. The first sample comes `quiet` after connect, and one
    /// interval after it at the earliest.
    pub fn spawn(interval: Duration, quiet: Duration, mut diag: Diag) -> Sampler {
        let (stop, stopped) = mpsc::channel::<()>();
        // Waits `d`, or less if told to stop; true when told to stop.
        let wait =
            move |d: Duration| !matches!(stopped.recv_timeout(d), Err(RecvTimeoutError::Timeout));
        let (tx, rx) = mpsc::channel::<Target>();
        let handle = std::thread::spawn(move || {
            let mut tl = Timeline {
                interval_us: interval.as_micros() as u64,
                ..Timeline::default()
            };
            // Nothing to watch if the client never connected (the sender is dropped).
            let Ok(target) = rx.recv() else {
                return tl;
            };
            // The first sample one interval after connect (or after the quiet start),
            // not at it; and one more when told to stop: the trial's end, however short.
            let first = interval.max(quiet);
            let mut next = Instant::now() + first;
            if wait(first) {
                take(&mut tl, &target, &mut diag);
                return tl;
            }
            loop {
                take(&mut tl, &target, &mut diag);
                next += interval;
                let now = Instant::now();
                if next <= now {
                    next = now; // fell behind: do not burst to catch up
                }
                if wait(next - now) {
                    take(&mut tl, &target, &mut diag);
                    return tl;
                }
            }
        });
        Sampler {
            stop: Some(stop),
            target: Some(tx),
            handle,
        }
    }

    /// Starts sampling this connection.
    pub fn watch(&mut self, target: Target) {
        if let Some(tx) = self.target.take() {
            let _ = tx.send(target);
        }
    }

    /// Stops the thread and returns what it saw.
    pub fn stop(mut self) -> Timeline {
        self.stop = None; // wakes a waiting thread at once
        self.target = None; // a thread still waiting for a target returns
        self.handle.join().unwrap_or_default()
    }
}

impl Timeline {
    fn observe(&mut self, s: &Sample) {
        let zero = s.client.state == "ESTAB" && s.client.rcv_wnd == Some(0)
            || s.sender.state == "ESTAB" && s.sender.snd_wnd == Some(0);
        if zero && self.first_zero_window_us.is_none() {
            self.first_zero_window_us = Some(s.t_us);
        }
        // Once the connection is gone, the lookup by its addresses finds the listener,
        // whose queues are its accept queue and its backlog, not the connection's.
        if s.sender.state != "LISTEN" {
            self.sender_send_q_peak = self.sender_send_q_peak.max(s.sender.send_q);
            self.sender_recv_q_peak = self.sender_recv_q_peak.max(s.sender.recv_q);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_us: u64, rcv_wnd: u32, sender_send_q: u32) -> Sample {
        let mut c = GONE;
        c.state = "ESTAB";
        c.rcv_wnd = Some(rcv_wnd);
        let mut s = GONE;
        s.state = "ESTAB";
        s.send_q = sender_send_q;
        Sample {
            t_us,
            client: c,
            sender: s,
        }
    }

    #[test]
    fn finds_the_first_zero_window_and_the_peaks() {
        let mut tl = Timeline::default();
        for s in [sample(1, 500, 10), sample(2, 0, 900), sample(3, 0, 100)] {
            tl.observe(&s);
        }
        assert_eq!(tl.first_zero_window_us, Some(2));
        assert_eq!(tl.sender_send_q_peak, 900);
        // The connection gone, the lookup finds the listener: its backlog is no queue.
        let mut listener = sample(4, 0, 4096);
        listener.sender.state = "LISTEN";
        tl.observe(&listener);
        assert_eq!(tl.sender_send_q_peak, 900);
    }

    #[test]
    fn a_closed_socket_is_not_a_zero_window() {
        let mut tl = Timeline::default();
        let mut s = sample(1, 0, 0);
        s.client.state = "CLOSE";
        tl.observe(&s);
        assert_eq!(tl.first_zero_window_us, None);
    }
}
