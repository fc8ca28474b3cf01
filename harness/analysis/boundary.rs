//! The boundary search: bisection over one scenario key for the value at which the
//! failure rate crosses 50%. It probes both ends of the range first; if they are on
//! the same side there is no crossing to find. Then it probes the middle of the
//! bracket (the neighbouring probed values on either side of 50%) until the trial
//! budget is spent or the bracket is one step wide.
//!
//! A probe is *sure* when its Wilson 95% interval of the failure rate excludes 50%.
//! The boundary's interval runs from the nearest sure probe below the bracket to the
//! nearest sure probe above it, so a probe whose trials split widens it. Nothing here
//! runs a trial; the command feeds each probe's counts in.

use std::str::FromStr;

use serde::Serialize;

use super::estimate;

/// How the middle of a bracket is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// (a + b) / 2: delays, rates.
    Linear,
    /// √(a·b): buffer sizes, anything that spans decades.
    Log,
}

impl Scale {
    pub fn as_str(self) -> &'static str {
        match self {
            Scale::Linear => "linear",
            Scale::Log => "log",
        }
    }
}

impl FromStr for Scale {
    type Err = String;
    fn from_str(s: &str) -> Result<Scale, String> {
        match s {
            "linear" => Ok(Scale::Linear),
            "log" => Ok(Scale::Log),
            _ => Err(format!("`{s}`: the scale is linear or log")),
        }
    }
}

/// One probed value and what its trials did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probe {
    /// The value (a number, or a duration in nanoseconds).
    pub value: f64,
    /// As the scenario writes it ("1500us").
    pub label: String,
    pub failures: usize,
    pub trials: usize,
    pub failure_rate_ci95: [f64; 2],
}

impl Probe {
    pub fn new(value: f64, label: String, failures: usize, trials: usize) -> Probe {
        let (lo, hi) = estimate::wilson(failures, trials);
        Probe {
            value,
            label,
            failures,
            trials,
            failure_rate_ci95: [lo, hi],
        }
    }

    /// At least half its trials failed.
    pub fn fails(&self) -> bool {
        self.failures * 2 >= self.trials
    }

    /// Its interval excludes 50%.
    pub fn sure(&self) -> bool {
        self.failure_rate_ci95[1] < 0.5 || self.failure_rate_ci95[0] > 0.5
    }
}

/// The search's state: the range, and every probe so far.
#[derive(Debug, Clone)]
pub struct Search {
    lo: f64,
    hi: f64,
    scale: Scale,
    /// The smallest step worth probing (1 for numbers, 1 µs for durations).
    step: f64,
    pub probes: Vec<Probe>,
}

/// What the search found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Found {
    /// The failure rate crosses 50% between `below` and `above` (probed values).
    Crossing {
        /// True when the higher values fail.
        fails_above: bool,
        below: Probe,
        above: Probe,
        /// The middle of the bracket.
        estimate: f64,
        /// From the nearest sure probe below to the nearest sure probe above; None at
        /// an end with no sure probe.
        interval: [Option<f64>; 2],
    },
    /// Both ends are on the same side.
    NoCrossing { all_fail: bool },
}

impl Search {
    pub fn new(lo: f64, hi: f64, scale: Scale, step: f64) -> Search {
        Search {
            lo,
            hi,
            scale,
            step,
            probes: Vec::new(),
        }
    }

    pub fn record(&mut self, p: Probe) {
        self.probes.push(p);
        self.probes.sort_by(|a, b| a.value.total_cmp(&b.value));
    }

    /// The neighbouring probes on either side of 50%, the lowest such pair.
    fn bracket(&self) -> Option<(&Probe, &Probe)> {
        self.probes
            .windows(2)
            .find(|w| w[0].fails() != w[1].fails())
            .map(|w| (&w[0], &w[1]))
    }

    fn middle(&self, a: f64, b: f64) -> f64 {
        let m = match self.scale {
            Scale::Log if a > 0.0 => (a * b).sqrt(),
            _ => (a + b) / 2.0,
        };
        (m / self.step).round() * self.step
    }

    /// The next value to probe; None when the search is over.
    pub fn next(&self) -> Option<f64> {
        match self.probes.len() {
            0 => return Some(self.lo),
            1 => return Some(self.hi),
            _ => {}
        }
        let (a, b) = self.bracket()?;
        let m = self.middle(a.value, b.value);
        (m > a.value && m < b.value).then_some(m)
    }

    pub fn found(&self) -> Option<Found> {
        if self.probes.len() < 2 {
            return None;
        }
        let Some((a, b)) = self.bracket() else {
            return Some(Found::NoCrossing {
                all_fail: self.probes[0].fails(),
            });
        };
        let low = self
            .probes
            .iter()
            .rev()
            .find(|p| p.value <= a.value && p.sure() && p.fails() == a.fails());
        let high = self
            .probes
            .iter()
            .find(|p| p.value >= b.value && p.sure() && p.fails() == b.fails());
        Some(Found::Crossing {
            fails_above: b.fails(),
            below: a.clone(),
            above: b.clone(),
            estimate: self.middle(a.value, b.value),
            interval: [low.map(|p| p.value), high.map(|p| p.value)],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search against a step at `at`, with `split` giving a probe's failures
    /// out of 5 at each value.
    fn search(lo: f64, hi: f64, scale: Scale, budget: usize, f: impl Fn(f64) -> usize) -> Search {
        let mut s = Search::new(lo, hi, scale, 1.0);
        for _ in 0..budget {
            let Some(v) = s.next() else { break };
            s.record(Probe::new(v, v.to_string(), f(v), 5));
        }
        s
    }

    #[test]
    fn bisection_brackets_a_step_and_its_interval_spans_split_probes() {
        let s = search(0.0, 1000.0, Scale::Linear, 20, |v| {
            if v >= 600.0 { 5 } else { 0 }
        });
        let Some(Found::Crossing {
            fails_above,
            below,
            above,
            interval,
            ..
        }) = s.found()
        else {
            panic!("{:?}", s.found())
        };
        assert!(fails_above);
        assert_eq!((below.value, above.value), (599.0, 600.0));
        assert_eq!(interval, [Some(599.0), Some(600.0)]);
        // A probe that splits 3/5 is not sure: the interval reaches past it.
        let s = search(0.0, 1000.0, Scale::Linear, 3, |v| match v {
            500.0 => 3,
            v if v > 500.0 => 5,
            _ => 0,
        });
        let Some(Found::Crossing { interval, .. }) = s.found() else {
            panic!()
        };
        assert_eq!(interval, [Some(0.0), Some(1000.0)]);
        // The budget bounds the probes.
        assert_eq!(search(0.0, 1000.0, Scale::Linear, 4, |_| 0).probes.len(), 2);
    }

    #[test]
    fn no_crossing_and_the_log_scale() {
        let s = search(1.0, 100.0, Scale::Linear, 10, |_| 5);
        assert_eq!(s.found(), Some(Found::NoCrossing { all_fail: true }));
        let s = search(4096.0, 1048576.0, Scale::Log, 3, |v| {
            if v > 10000.0 { 0 } else { 5 }
        });
        assert_eq!(s.probes[1].value, 65536.0);
        let Some(Found::Crossing { fails_above, .. }) = s.found() else {
            panic!()
        };
        assert!(!fails_above);
        assert!("cubic".parse::<Scale>().is_err());
    }
}
