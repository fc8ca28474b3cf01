//! A program's resident memory over a trial, from `/proc`: the sum over its process
//! group (nginx's master and workers, a server's forked children) of the second
//! field of `/proc/PID/statm` (resident pages) times the page size.
//!
//! # Notes
//! The members of the group are found by scanning `/proc/*/stat` for its process
//! group id, which costs a few hundred file reads; that is done once a second, and
//! only the known members' `statm` files are read at every sample (every
//! [`RSS_EVERY_MS`] ms). A member that exits between two scans reads as nothing. The
//! sampler runs on a thread of its own and sleeps between samples, so it takes no
//! CPU from the race it watches beyond those reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::record::program::{RSS_EVERY_MS, RSS_POINTS};

/// How often the group's members are looked up again.
const RESCAN: Duration = Duration::from_secs(1);

/// What the sampler saw: the peak, and the series thinned to at most [`RSS_POINTS`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rss {
    pub peak_bytes: Option<u64>,
    pub points: Vec<(u64, u64)>,
}

impl Rss {
    /// Another life's series after this one's.
    pub fn extend(&mut self, more: Rss) {
        self.peak_bytes = self.peak_bytes.max(more.peak_bytes);
        self.points.extend(more.points);
        thin(&mut self.points);
    }
}

/// A running sampler of one process group.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Rss>>,
}

impl RssSampler {
    pub fn spawn(pgid: i32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("rss".into())
            .spawn(move || sample(pgid, &flag))
            .ok();
        RssSampler { stop, thread }
    }

    /// Stops it and returns what it saw.
    pub fn stop(mut self) -> Rss {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn sample(pgid: i32, stop: &AtomicBool) -> Rss {
    let page = crate::sys::page_size();
    let mut out = Rss::default();
    let mut members = Vec::new();
    let mut scanned: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        if scanned.is_none_or(|t| t.elapsed() >= RESCAN) {
            members = crate::process::group_members(pgid);
            scanned = Some(Instant::now());
        }
        let pages: u64 = members.iter().filter_map(|&pid| resident_pages(pid)).sum();
        if pages > 0 {
            let bytes = pages * page;
            out.peak_bytes = out.peak_bytes.max(Some(bytes));
            out.points.push((crate::sys::monotonic_ns(), bytes));
            if out.points.len() > 2 * RSS_POINTS {
                thin(&mut out.points);
            }
        }
        std::thread::sleep(Duration::from_millis(RSS_EVERY_MS));
    }
    thin(&mut out.points);
    out
}

/// The resident pages of one process: the second field of its `statm`.
fn resident_pages(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    s.split_whitespace().nth(1)?.parse().ok()
}

/// Keeps every other point until at most [`RSS_POINTS`] are left, the last one always.
fn thin(points: &mut Vec<(u64, u64)>) {
    while points.len() > RSS_POINTS {
        let last = *points.last().expect("not empty");
        let mut i = 0;
        points.retain(|_| {
            i += 1;
            i % 2 == 1
        });
        if points.last() != Some(&last) {
            points.push(last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_the_ends_and_the_bound() {
        let mut v: Vec<(u64, u64)> = (0..2001).map(|i| (i, i)).collect();
        thin(&mut v);
        assert!(v.len() <= RSS_POINTS, "{}", v.len());
        assert_eq!(v.first(), Some(&(0, 0)));
        assert_eq!(v.last(), Some(&(2000, 2000)));
    }

    #[test]
    fn samples_this_processes_group() {
        // A child in a group of its own, so the test's own group is not summed.
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("5");
        let mut g = crate::process::Group::spawn(&mut cmd).unwrap();
        let pgid = g.child_mut().id() as i32;
        let s = RssSampler::spawn(pgid);
        std::thread::sleep(Duration::from_millis(120));
        let rss = s.stop();
        g.stop().unwrap();
        assert!(rss.peak_bytes.is_some_and(|b| b > 0), "{rss:?}");
        assert!(rss.points.len() >= 2, "{rss:?}");
    }
}
