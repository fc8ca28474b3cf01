//! A client's capacity C: the messages a second it processes while data always
//! waits for it. Nothing here runs a trial (`crate::calibrate` makes the capacity
//! runs); this reads their records.
//!
//! - A framed client's C comes from the sender's progress lines (every 100 ms): the
//!   acknowledgements a second over windows of [`WINDOW_US`] after the warm-up, the
//!   median of each trial's windows, then the median over the trials. When the
//!   backlog ever fell under [`AHEAD_US`] of that rate, the producer may have held
//!   the client back, and C is only known to be at least that.
//! - A client of bare messages is measured against the original sender's tight loop
//!   with a 1 MiB send buffer (the model's drain run): the bytes it read a second
//!   until it was reset, over 13. A client that was never reset kept up with the
//!   tight loop, and C is only known to be at least that.

use serde::Serialize;

use super::stats;
use crate::record::{MESSAGE_LEN, Outcome, TrialRecord};

/// The length of one window of a framed client's rate.
pub const WINDOW_US: i64 = 500_000;

/// How a capacity was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Acknowledgements a second against a framed sender that always had more.
    Acked,
    /// Bytes read a second against the tight loop, until the reset.
    Read,
}

impl Method {
    pub fn describe(self) -> &'static str {
        match self {
            Method::Acked => "acknowledged a second, 0.5 s windows after the warm-up",
            Method::Read => "read a second against the tight loop, until the reset",
        }
    }
}

/// A measured capacity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Capacity {
    /// C, messages a second: the median over the trials.
    pub per_s: f64,
    /// The smallest and the largest trial's value.
    pub min_per_s: f64,
    pub max_per_s: f64,
    /// The client was never behind: C is at least `per_s`.
    pub lower_bound: bool,
    pub trials: usize,
    pub method: Method,
}

impl Capacity {
    /// "123,456/s" or "≥ 1,000,000/s".
    pub fn text(&self) -> String {
        let at_least = if self.lower_bound { "≥ " } else { "" };
        format!("{at_least}{}/s", thousands(self.per_s))
    }
}

/// A whole number with thousands separators.
pub fn thousands(v: f64) -> String {
    let s = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A framed client's capacity from its capacity run; None when no trial has a
/// window after `warmup_us`.
pub fn framed(records: &[TrialRecord], warmup_us: i64) -> Option<Capacity> {
    let per_trial: Vec<(&TrialRecord, f64)> = records
        .iter()
        .filter_map(|r| Some((r, stats::median(windows(r, warmup_us))?)))
        .collect();
    // Data must always have waited: a trial whose backlog ever fell under
    // [`AHEAD_US`] of its own rate may have been held back by the producer.
    let held_back = per_trial.iter().any(|(r, c)| {
        r.backlog
            .iter()
            .filter(|p| p.t_us >= warmup_us)
            .any(|p| (p.backlog() as f64) < c * AHEAD_US as f64 / 1e6)
    });
    let rates = per_trial.iter().map(|x| x.1).collect();
    of(rates, held_back, records.len(), Method::Acked)
}

/// How far ahead of a framed client the producer must stay for its rate to be the
/// client's own.
pub const AHEAD_US: i64 = 100_000;

/// The acknowledgement rates of one trial's windows after the warm-up, up to its
/// client's end.
pub fn windows(r: &TrialRecord, warmup_us: i64) -> Vec<f64> {
    let end = r.time_to_failure_us.unwrap_or(r.active_us) as i64;
    let points: Vec<_> = r
        .backlog
        .iter()
        .filter(|p| p.t_us >= warmup_us && p.t_us <= end)
        .collect();
    let mut out = Vec::new();
    let mut start = match points.first() {
        Some(p) => *p,
        None => return out,
    };
    for p in &points[1..] {
        let dt = p.t_us - start.t_us;
        if dt >= WINDOW_US {
            out.push(p.acked.saturating_sub(start.acked) as f64 / dt as f64 * 1e6);
            start = p;
        }
    }
    out
}

/// A bare client's capacity from the model's drain run.
pub fn bare(records: &[TrialRecord]) -> Option<Capacity> {
    // Never reset: it kept up with the tight loop, which is then all it shows.
    let kept_up = records.iter().all(|r| r.outcome == Outcome::Survived);
    let per_trial: Vec<f64> = records
        .iter()
        .filter_map(|r| {
            let read = r.bytes_read? as f64;
            let start = r.client.first_reply_us.unwrap_or(0);
            let end = r.time_to_failure_us.unwrap_or(r.active_us);
            let us = end.saturating_sub(start).max(1) as f64;
            Some(read / MESSAGE_LEN as f64 / us * 1e6)
        })
        .collect();
    of(per_trial, kept_up, records.len(), Method::Read)
}

fn of(v: Vec<f64>, lower_bound: bool, trials: usize, method: Method) -> Option<Capacity> {
    Some(Capacity {
        per_s: stats::median(v.clone())?,
        min_per_s: v.iter().copied().fold(f64::INFINITY, f64::min),
        max_per_s: v.iter().copied().fold(0.0, f64::max),
        lower_bound,
        trials,
        method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::BacklogPoint;
    use crate::record::testing;

    fn record(points: &[(i64, u64)]) -> TrialRecord {
        let mut r = testing::record(
            crate::record::Ending::Survived { at_us: 4_000_000 },
            None,
            0,
        );
        r.backlog = points
            .iter()
            .map(|&(t_us, acked)| BacklogPoint {
                t_us,
                produced: acked + 1000,
                acked,
                spool_messages: 0,
            })
            .collect();
        r
    }

    #[test]
    fn the_median_window_after_the_warm_up() {
        // 1000/s before 1 s (the warm-up, left out), then 10,000/s, 20,000/s, 10,000/s.
        let pts: Vec<(i64, u64)> = vec![
            (0, 0),
            (500_000, 500),
            (1_000_000, 1_000),
            (1_500_000, 6_000),
            (2_000_000, 16_000),
            (2_500_000, 21_000),
        ];
        let r = record(&pts);
        assert_eq!(windows(&r, 1_000_000), [10_000.0, 20_000.0, 10_000.0]);
        let c = framed(&[r.clone(), r], 1_000_000).unwrap();
        assert_eq!((c.per_s, c.trials, c.lower_bound), (10_000.0, 2, false));
        assert_eq!(c.text(), "10,000/s");
        assert!(framed(&[record(&[(0, 0)])], 1_000_000).is_none());
        // A backlog of 100 messages is 10 ms of a 10,000/s client: held back.
        let mut r = record(&pts);
        r.backlog[4].produced = r.backlog[4].acked + 100;
        assert!(framed(&[r], 1_000_000).unwrap().lower_bound);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
    }
}
