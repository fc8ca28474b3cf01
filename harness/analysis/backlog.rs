//! The backlog of a framed sender over a trial, and its model: the post's title
//! claim in numbers. A client of capacity C (messages a second) against a producer
//! at R:
//!
//! ```text
//! R < C, after a spike that left B waiting:  it drains in B / (C − R)
//! R > C:  it grows by R − C a second, and fills a store of S messages in S / (R − C)
//! ```
//!
//! What a trial did comes from the sender's progress lines (`TrialRecord::backlog`,
//! every 100 ms). The client's *lag* at a line is how long ago the oldest message it
//! had not acknowledged was produced, to within one line: the time since the
//! latest line whose produced count its acknowledgement covers. It is *behind* when
//! the lag is over [`CAUGHT_UP_US`].

use serde::Serialize;

use crate::record::{BacklogPoint, TrialRecord};

/// Two progress lines: a client this close to the producer has caught up.
pub const CAUGHT_UP_US: i64 = 200_000;

/// The lag at every progress line from the client's first acknowledgement on, as
/// (µs since time zero, lag µs); None while its acknowledgement does not yet cover
/// even the first line's production (older than anything the lines show).
pub fn lags(r: &TrialRecord) -> Vec<(i64, Option<i64>)> {
    let pts = &r.backlog;
    let Some(first) = pts.iter().position(|p| p.acked > 0) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut j = 0;
    for (i, p) in pts.iter().enumerate().skip(first) {
        // The latest line whose production the acknowledgement covers: j only
        // moves forward, as acknowledgements only grow.
        while j < i && pts[j + 1].produced <= p.acked {
            j += 1;
        }
        let lag = (pts[j].produced <= p.acked).then(|| p.t_us - pts[j].t_us);
        out.push((p.t_us, lag));
    }
    out
}

/// The lags from the first line at which the client had caught up: the producer
/// runs from the sender's start, so every client starts behind by the trial's setup
/// time (and the time it takes to connect). None when it never caught up.
pub fn lags_once_caught_up(r: &TrialRecord) -> Option<Vec<(i64, i64)>> {
    let lags = lags(r);
    let first = lags
        .iter()
        .position(|(_, l)| l.is_some_and(|l| l <= CAUGHT_UP_US))?;
    // Once a line is covered it stays covered: every lag after is known.
    Some(
        lags[first..]
            .iter()
            .filter_map(|(t, l)| Some((*t, (*l)?)))
            .collect(),
    )
}

/// A stretch in which the client was behind: from the first line with the lag over
/// [`CAUGHT_UP_US`] to the first after it that is not (None: the trial ended first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Behind {
    pub from_us: i64,
    pub until_us: Option<i64>,
    /// The largest lag known in it (None: older than every line throughout).
    pub max_lag_us: Option<i64>,
}

impl Behind {
    pub fn length_us(&self, end_us: i64) -> i64 {
        self.until_us.unwrap_or(end_us) - self.from_us
    }
}

/// Every stretch of the trial in which the client was behind.
pub fn behind(r: &TrialRecord) -> Vec<Behind> {
    let mut out: Vec<Behind> = Vec::new();
    let mut open: Option<Behind> = None;
    for (t, lag) in lags(r) {
        match (&mut open, lag.is_none_or(|l| l > CAUGHT_UP_US)) {
            (None, true) => {
                open = Some(Behind {
                    from_us: t,
                    until_us: None,
                    max_lag_us: lag,
                })
            }
            (Some(b), true) => b.max_lag_us = b.max_lag_us.max(lag),
            (Some(b), false) => {
                b.until_us = Some(t);
                out.push(*b);
                open = None;
            }
            (None, false) => {}
        }
    }
    out.extend(open);
    out
}

/// The trial's last progress line, µs since time zero.
pub fn end_us(r: &TrialRecord) -> i64 {
    r.backlog.last().map_or(0, |p| p.t_us)
}

/// Messages a second the backlog grew by between `from_us` and the first line at
/// which the sender found no room (or the end): a least-squares slope.
pub fn growth_per_s(points: &[BacklogPoint], from_us: i64, until_us: i64) -> Option<f64> {
    let xs: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.t_us >= from_us && p.t_us <= until_us)
        .map(|p| (p.t_us as f64 / 1e6, p.backlog() as f64))
        .collect();
    if xs.len() < 3 {
        return None;
    }
    let n = xs.len() as f64;
    let (mx, my) = (
        xs.iter().map(|x| x.0).sum::<f64>() / n,
        xs.iter().map(|x| x.1).sum::<f64>() / n,
    );
    let sxx: f64 = xs.iter().map(|x| (x.0 - mx).powi(2)).sum();
    let sxy: f64 = xs.iter().map(|x| (x.0 - mx) * (x.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// What the model says of a schedule: per spike, its backlog and drain time; above
/// capacity, the growth and the time to fill the store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub capacity_per_s: f64,
    pub spikes: Vec<Spike>,
    /// R − C of the final rate, when it is above C.
    pub growth_per_s: Option<f64>,
    /// Seconds from the start of the final rate until the store is full.
    pub fill_s: Option<f64>,
}

/// A spike (a phase above C) and the phase after it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spike {
    /// µs since the producer's start.
    pub ends_us: i64,
    pub backlog: f64,
    /// backlog / (C − R after); None when the rate after it is not below C.
    pub drain_s: Option<f64>,
}

/// The model for phases of (seconds, messages a second), then `rate`, a client of
/// capacity `c`, and a store of `store` messages at most.
pub fn forecast(phases: &[(f64, f64)], rate: f64, c: f64, store: f64) -> Forecast {
    let mut spikes = Vec::new();
    let mut t = 0.0;
    let mut backlog: f64 = 0.0;
    for (i, &(d, r)) in phases.iter().enumerate() {
        backlog = (backlog + (r - c) * d).max(0.0);
        t += d;
        let after = phases.get(i + 1).map_or(rate, |p| p.1);
        if r > c && backlog > 0.0 {
            let drain_s = (after < c).then(|| backlog / (c - after));
            spikes.push(Spike {
                ends_us: (t * 1e6) as i64,
                backlog,
                drain_s,
            });
        }
    }
    let growth = (rate > c).then_some(rate - c);
    Forecast {
        capacity_per_s: c,
        spikes,
        growth_per_s: growth,
        fill_s: growth.map(|g| (store - backlog).max(0.0) / g),
    }
}

/// When the spool stopped growing: the first progress line at its largest size.
pub fn fill_us(r: &TrialRecord) -> Option<i64> {
    let max = r.backlog.iter().map(|p| p.spool_messages).max()?;
    let full = r.sender_summary.as_ref()?.remedy.as_ref()?.full > 0;
    full.then(|| {
        r.backlog
            .iter()
            .find(|p| p.spool_messages * 100 >= max * 98)
    })?
    .map(|p| p.t_us)
}

/// Produced and acknowledged a second from `from_us` to the last progress line.
pub fn rates_after(r: &TrialRecord, from_us: i64) -> Option<(f64, f64)> {
    let a = r.backlog.iter().find(|p| p.t_us >= from_us)?;
    let z = r.backlog.last()?;
    let dt = (z.t_us - a.t_us) as f64 / 1e6;
    (dt > 0.5).then(|| {
        (
            z.produced.saturating_sub(a.produced) as f64 / dt,
            z.acked.saturating_sub(a.acked) as f64 / dt,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::testing;

    fn record(points: &[(i64, u64, u64)]) -> TrialRecord {
        let mut r = testing::record(
            crate::record::Ending::Survived { at_us: 9_000_000 },
            None,
            0,
        );
        r.backlog = points
            .iter()
            .map(|&(t_us, produced, acked)| BacklogPoint {
                t_us,
                produced,
                acked,
                spool_messages: 0,
            })
            .collect();
        r
    }

    #[test]
    fn the_lag_is_the_age_of_the_oldest_unacknowledged_line() {
        // 1000 a line; the client keeps up, falls 3 lines behind, catches up.
        let r = record(&[
            (0, 1000, 0),
            (100_000, 2000, 1000),
            (200_000, 3000, 2000),
            (300_000, 4000, 2000),
            (400_000, 5000, 2000),
            (500_000, 6000, 3000),
            (600_000, 7000, 7000),
        ]);
        let l: Vec<Option<i64>> = lags(&r).iter().map(|x| x.1).collect();
        assert_eq!(
            l,
            [100_000, 100_000, 200_000, 300_000, 300_000, 0].map(Some)
        );
        // It had caught up at the first line: judged from there.
        assert_eq!(lags_once_caught_up(&r).unwrap().len(), 6);
        // A client that never covers the first line's production never caught up,
        // and is behind from its first acknowledgement to the end.
        let late = record(&[(0, 5000, 0), (100_000, 6000, 100), (200_000, 7000, 900)]);
        assert_eq!(lags(&late)[0].1, None);
        assert!(lags_once_caught_up(&late).is_none());
        assert_eq!(behind(&late).len(), 1);
        assert_eq!(behind(&late)[0].until_us, None);
        let b = behind(&r);
        assert_eq!(b.len(), 1);
        assert_eq!((b[0].from_us, b[0].until_us), (400_000, Some(600_000)));
        assert_eq!(b[0].max_lag_us, Some(300_000));
    }

    #[test]
    fn the_model_drains_spikes_and_fills_stores() {
        // A 1 s spike at 3C, then 0.5C: a backlog of 2C, drained in 4 s.
        let f = forecast(&[(1.0, 3000.0)], 500.0, 1000.0, 1e9);
        assert_eq!(f.spikes.len(), 1);
        assert_eq!(f.spikes[0].backlog, 2000.0);
        assert_eq!(f.spikes[0].drain_s, Some(4.0));
        assert_eq!(f.growth_per_s, None);
        // 1.5C sustained grows by 0.5C a second: a store of 1000 C is full in 2 s.
        let f = forecast(&[], 1500.0, 1000.0, 1000.0);
        assert_eq!((f.growth_per_s, f.fill_s), (Some(500.0), Some(2.0)));
    }

    #[test]
    fn growth_is_the_slope() {
        let pts: Vec<BacklogPoint> = (0..10)
            .map(|i| BacklogPoint {
                t_us: i * 100_000,
                produced: (i as u64) * 150,
                acked: (i as u64) * 100,
                spool_messages: 0,
            })
            .collect();
        let g = growth_per_s(&pts, 0, 1_000_000).unwrap();
        assert!((g - 500.0).abs() < 1e-6, "{g}");
    }
}
