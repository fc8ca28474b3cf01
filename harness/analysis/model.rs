//! The model of the failure: a sender that writes S bytes a second, a client that
//! drains D, and between them a capacity C of payload that the two sockets' buffers
//! hold. When S > D the backlog grows at S − D, and the sender's send() meets EAGAIN
//! (and the 2014 sender resets the connection) when the backlog reaches C:
//!
//! ```text
//! T ≈ T0 + C / (S − D)        survives if S ≤ D, or if T is past the run's end
//! ```
//!
//! T0 is the time from the SYN to the first data. Every quantity comes from
//! calibration trials, never from the trials the model predicts:
//!
//! - C from a *fill* run: the cell's sender and buffers against a client that reads
//!   10 bytes every half second; C is what send() accepted minus what the client read
//!   when the sender failed, and C / (effective SO_SNDBUF + effective SO_RCVBUF, as the
//!   kernel reads them back) is the ratio of payload to memory for these segments;
//! - D, T0, and S of the tight loop from a *drain* run: the cell's client against the
//!   unpaced original sender with a 1 MiB SO_SNDBUF, so that the client never waits for
//!   data; a paced sender's S is its rate times 13 bytes.
//!
//! Nothing here runs a trial (`crate::calibrate` does); this reads records and
//! predicts.

use serde::Serialize;

use super::summary::CellSummary;
use crate::analysis::stats;
use crate::record::{MESSAGE_LEN, Outcome, TrialRecord};

/// The payload the buffers held when the sender failed (the fill run).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Capacity {
    /// Median over the run's trials, bytes of payload.
    pub payload_bytes: f64,
    /// Effective SO_SNDBUF + SO_RCVBUF, as the kernel read them back.
    pub memory_bytes: u64,
    /// payload / memory.
    pub ratio: f64,
    /// No trial failed: the buffers held at least this much.
    pub lower_bound: bool,
    pub trials: usize,
}

/// The client's drain rate, and the tight loop's send rate (the drain run).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Drain {
    /// D, bytes a second the client reads while data waits for it.
    pub client_bytes_s: f64,
    /// No trial failed: the client kept up with the tight loop, and D is at least this.
    pub client_lower_bound: bool,
    /// S of the unpaced original sender, bytes a second until its first EAGAIN.
    pub sender_bytes_s: Option<f64>,
    /// T0: milliseconds from the SYN to the client's first reply.
    pub start_ms: f64,
    pub trials: usize,
}

/// What the model says of one cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Forecast {
    Predicted(Prediction),
    /// The model does not cover this cell; the text says why.
    NotModelled {
        why: String,
    },
}

impl Forecast {
    /// The prediction, when the model made one.
    pub fn predicted(&self) -> Option<&Prediction> {
        match self {
            Forecast::Predicted(p) => Some(p),
            Forecast::NotModelled { .. } => None,
        }
    }

    /// One line: why it survives or fails, or why it is not modelled.
    pub fn why(&self) -> String {
        match self {
            Forecast::Predicted(p) => p.why.clone(),
            Forecast::NotModelled { why } => format!("not modelled: {why}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// S, bytes a second, and where it came from.
    pub sender_bytes_s: f64,
    pub sender_paced: bool,
    /// None when the client keeps up (no fill run was needed).
    pub capacity: Option<Capacity>,
    pub drain: Drain,
    pub survives: bool,
    /// T, when the model says the client fails within the run.
    pub time_to_failure_ms: Option<f64>,
    /// One line: why it survives or fails.
    pub why: String,
}

/// A prediction against what the cell's trials did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// The majority of the trials survived.
    pub observed_survives: bool,
    pub survival_right: bool,
    /// (predicted − observed median) / observed median, when both failed.
    pub error: Option<f64>,
}

/// The fill run's capacity; None without a sender summary.
pub fn capacity(records: &[TrialRecord]) -> Option<Capacity> {
    let with: Vec<(&TrialRecord, f64, u64)> = records
        .iter()
        .filter_map(|r| {
            let s = r.sender_summary.as_ref()?;
            let payload = s.bytes as f64 - r.client.bytes_read as f64;
            let memory = s.sndbuf_effective.max(0) as u64 + r.client.rcvbuf_effective as u64;
            Some((r, payload, memory))
        })
        .collect();
    let failed: Vec<_> = with
        .iter()
        .filter(|(r, _, _)| r.outcome != Outcome::Survived)
        .collect();
    let (pool, lower_bound) = match failed.is_empty() {
        true => (with.iter().collect::<Vec<_>>(), true),
        false => (failed, false),
    };
    let payload = match lower_bound {
        true => pool.iter().map(|x| x.1).fold(f64::NAN, f64::max),
        false => stats::median(pool.iter().map(|x| x.1).collect())?,
    };
    let memory = pool.first()?.2;
    Some(Capacity {
        payload_bytes: payload,
        memory_bytes: memory,
        ratio: payload / memory.max(1) as f64,
        lower_bound,
        trials: records.len(),
    })
}

/// The drain run's rates; None without a trial.
pub fn drain(records: &[TrialRecord]) -> Option<Drain> {
    let start_us = |r: &TrialRecord| r.client.first_reply_us.unwrap_or(0);
    let failed: Vec<&TrialRecord> = records
        .iter()
        .filter(|r| r.outcome != Outcome::Survived && r.time_to_failure_us.is_some())
        .collect();
    let lower_bound = failed.is_empty();
    let pool: Vec<&TrialRecord> = match lower_bound {
        true => records.iter().collect(),
        false => failed,
    };
    let client = stats::median(
        pool.iter()
            .map(|r| {
                let end = r.time_to_failure_us.unwrap_or(r.active_us);
                let us = end.saturating_sub(start_us(r)).max(1);
                r.client.bytes_read as f64 / us as f64 * 1e6
            })
            .collect(),
    )?;
    let sender = stats::median(
        pool.iter()
            .filter_map(|r| {
                let s = r.sender_summary.as_ref()?;
                let fail_us = s.fail_ns.checked_sub(r.client.zero_ns)? / 1000;
                let us = fail_us.saturating_sub(start_us(r)).max(1);
                (s.fail_ns > 0).then_some(s.bytes as f64 / us as f64 * 1e6)
            })
            .collect(),
    );
    Some(Drain {
        client_bytes_s: client,
        client_lower_bound: lower_bound,
        sender_bytes_s: sender.filter(|_| !lower_bound),
        start_ms: stats::median(pool.iter().map(|r| start_us(r) as f64 / 1e3).collect())
            .unwrap_or(0.0),
        trials: records.len(),
    })
}

/// The prediction for a run of `duration_ms`, from the sender's pacing (messages a
/// second; None = the tight loop) and the two calibrations.
pub fn predict(
    rate: Option<f64>,
    capacity: Option<Capacity>,
    drain: Drain,
    duration_ms: f64,
) -> Forecast {
    let Some((s, paced)) = sender_rate(rate, &drain) else {
        return Forecast::NotModelled {
            why: "the drain run did not show the tight loop's rate".into(),
        };
    };
    let d = drain.client_bytes_s;
    let kb = |b: f64| b / 1e3;
    let (survives, ttf, why) = if d >= s {
        let why = format!(
            "D {:.1} KB/s ≥ S {:.1} KB/s: the client keeps up",
            kb(d),
            kb(s)
        );
        (true, None, why)
    } else if let Some(capacity) = capacity.filter(|c| c.lower_bound) {
        let why = format!(
            "the fill run was not reset within the run's duration: the buffers hold more than {:.1} KB",
            kb(capacity.payload_bytes)
        );
        (true, None, why)
    } else if let Some(capacity) = capacity {
        let t = drain.start_ms + capacity.payload_bytes / (s - d) * 1e3;
        let why = format!(
            "T = {:.1} ms + {:.1} KB / ({:.1} − {:.1} KB/s) = {}",
            drain.start_ms,
            kb(capacity.payload_bytes),
            kb(s),
            kb(d),
            fmt_ms(t)
        );
        match t > duration_ms {
            true => (true, None, format!("{why}, past the run's end")),
            false => (false, Some(t), why),
        }
    } else {
        return Forecast::NotModelled {
            why: "the client is slower than the sender, and the capacity was not calibrated".into(),
        };
    };
    Forecast::Predicted(Prediction {
        sender_bytes_s: s,
        sender_paced: paced,
        capacity,
        drain,
        survives,
        time_to_failure_ms: ttf,
        why,
    })
}

/// S in bytes a second, and whether it is a paced sender's: its rate times 13 bytes,
/// or the tight loop's rate in the drain run. A client that kept up with the tight
/// loop there (which then never met EAGAIN) drained at least as fast as it wrote, so
/// its own rate stands for S. None when the drain run shows neither.
fn sender_rate(rate: Option<f64>, drain: &Drain) -> Option<(f64, bool)> {
    match (rate, drain.sender_bytes_s) {
        (Some(r), _) => Some((r * MESSAGE_LEN as f64, true)),
        (None, Some(s)) => Some((s, false)),
        (None, None) if drain.client_lower_bound => Some((drain.client_bytes_s, false)),
        (None, None) => None,
    }
}

/// Whether the client drains at least as fast as the sender writes: then the
/// buffers never fill, whatever their size.
pub fn keeps_up(rate: Option<f64>, drain: &Drain) -> bool {
    sender_rate(rate, drain).is_some_and(|(s, _)| drain.client_bytes_s >= s)
}

/// A time in milliseconds, to three significant figures.
pub fn fmt_ms(ms: f64) -> String {
    match ms {
        m if m >= 1000.0 => format!("{:.3} s", m / 1000.0),
        m if m >= 100.0 => format!("{m:.0} ms"),
        m if m >= 10.0 => format!("{m:.1} ms"),
        m => format!("{m:.2} ms"),
    }
}

/// The prediction against the cell: survival by majority, and the error of T against
/// the observed median when both failed.
pub fn check(p: &Prediction, cell: &CellSummary) -> Check {
    let observed_survives = cell.failure_rate < 0.5;
    let observed = cell.time_to_failure.as_ref().and_then(|t| t.median_ms);
    let error = match (p.time_to_failure_ms, observed, observed_survives) {
        (Some(pred), Some(obs), false) if obs > 0.0 => Some((pred - obs) / obs),
        _ => None,
    };
    Check {
        observed_survives,
        survival_right: observed_survives == p.survives,
        error,
    }
}

/// How the model did over a set of cells.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accuracy {
    /// Cells the model covers.
    pub cells: usize,
    pub survival_right: usize,
    /// Cells where both the model and the trials failed, so T has an error.
    pub timed: usize,
    pub median_abs_error: Option<f64>,
    pub max_abs_error: Option<f64>,
    /// Cells within 25% (of those timed).
    pub within_25: usize,
}

impl Accuracy {
    /// None when no cell has a prediction.
    pub fn of(cells: &[CellSummary]) -> Option<Accuracy> {
        let checks: Vec<&Check> = cells
            .iter()
            .filter_map(|c| c.model.as_ref()?.check.as_ref())
            .collect();
        if checks.is_empty() {
            return None;
        }
        let errors: Vec<f64> = checks
            .iter()
            .filter_map(|k| k.error.map(f64::abs))
            .collect();
        Some(Accuracy {
            cells: checks.len(),
            survival_right: checks.iter().filter(|k| k.survival_right).count(),
            timed: errors.len(),
            median_abs_error: stats::median(errors.clone()),
            max_abs_error: errors.iter().copied().reduce(f64::max),
            within_25: errors.iter().filter(|e| **e <= 0.25).count(),
        })
    }
}

/// A forecast with every field set, for tests of the shapes that carry one.
#[cfg(test)]
pub mod testing {
    use super::*;

    pub fn forecast() -> Forecast {
        let drain = Drain {
            client_bytes_s: 3000.0,
            client_lower_bound: false,
            sender_bytes_s: Some(9e6),
            start_ms: 1.0,
            trials: 3,
        };
        let cap = Capacity {
            payload_bytes: 10_000.0,
            memory_bytes: 16384,
            ratio: 0.61,
            lower_bound: false,
            trials: 3,
        };
        predict(Some(1000.0), Some(cap), drain, 5000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(payload: f64) -> Capacity {
        Capacity {
            payload_bytes: payload,
            memory_bytes: 16384,
            ratio: payload / 16384.0,
            lower_bound: false,
            trials: 3,
        }
    }

    fn drain(d: f64, s: Option<f64>) -> Drain {
        Drain {
            client_bytes_s: d,
            client_lower_bound: false,
            sender_bytes_s: s,
            start_ms: 1.0,
            trials: 3,
        }
    }

    fn predicted(f: Forecast) -> Prediction {
        match f {
            Forecast::Predicted(p) => p,
            Forecast::NotModelled { why } => panic!("{why}"),
        }
    }

    #[test]
    fn time_to_failure_is_capacity_over_the_net_rate() {
        // 1000 msgs/s = 13 000 B/s; D = 3 000 B/s; C = 10 000 B: 1 s, plus T0.
        let p = predicted(predict(
            Some(1000.0),
            Some(cap(10_000.0)),
            drain(3000.0, None),
            5000.0,
        ));
        assert!(!p.survives);
        assert!((p.time_to_failure_ms.unwrap() - 1001.0).abs() < 1e-6);
        assert!(p.sender_paced);
        // The same past the run's end survives.
        let p = predicted(predict(
            Some(1000.0),
            Some(cap(10_000.0)),
            drain(3000.0, None),
            900.0,
        ));
        assert!(
            p.survives && p.why.ends_with("past the run's end"),
            "{}",
            p.why
        );
        // A client as fast as the sender survives.
        let p = predicted(predict(
            Some(1000.0),
            Some(cap(10_000.0)),
            drain(13_000.0, None),
            5000.0,
        ));
        assert!(p.survives && p.time_to_failure_ms.is_none());
        // The tight loop's S comes from the drain run.
        let p = predicted(predict(None, Some(cap(1e6)), drain(3e6, Some(9e6)), 5000.0));
        assert!((p.time_to_failure_ms.unwrap() - (1.0 + 1e6 / 6e6 * 1e3)).abs() < 1e-6);
        assert!(matches!(
            predict(None, Some(cap(1e6)), drain(3e6, None), 5000.0),
            Forecast::NotModelled { .. }
        ));
    }
}
