//! The producer's schedule: how many messages are due by a given instant, from a
//! rate and a list of phases (a traffic spike is "2s unlimited" then a slower rate).

use std::time::{Duration, Instant};

use crate::limits;
use crate::settings::{Keys, ScenarioError};

/// How fast the producer makes messages.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Rate {
    /// As fast as the loop turns: the original's tight loop.
    #[default]
    Unlimited,
    /// Messages per second.
    PerSecond(f64),
    /// This many times the client's capacity C ("0.5C", "3C"): the harness measures
    /// C before the scenario's trials and puts `C × factor`/s in its place
    /// ([`Pace::at_capacity`]). A sender never runs with one.
    OfCapacity(f64),
}

impl Rate {
    /// "unlimited", "1000/s" (messages) or "64KB/s" (payload bytes; KB, MB = 10^3, 10^6).
    pub fn parse(s: &str, payload: usize) -> Result<Rate, String> {
        let s = s.trim();
        if s == "unlimited" {
            return Ok(Rate::Unlimited);
        }
        if let Some(f) = s.strip_suffix('C') {
            return match f.trim().parse::<f64>() {
                Ok(f) if f > 0.0 && f <= 1000.0 => Ok(Rate::OfCapacity(f)),
                _ => Err(format!(
                    "`{s}`: a rate of the client's capacity C is a factor from 0 to 1000 then C, like \"0.5C\" or \"3C\""
                )),
            };
        }
        let bad = || format!("`{s}` is not a rate like \"unlimited\", \"1000/s\" or \"64KB/s\"");
        let n = s.strip_suffix("/s").ok_or_else(bad)?;
        let (num, scale) = match n {
            _ if n.ends_with("MB") => (&n[..n.len() - 2], 1e6 / payload as f64),
            _ if n.ends_with("KB") => (&n[..n.len() - 2], 1e3 / payload as f64),
            _ if n.ends_with('B') => (&n[..n.len() - 1], 1.0 / payload as f64),
            _ => (n, 1.0),
        };
        let v: f64 = num.trim().parse().map_err(|_| bad())?;
        if !(v > 0.0 && v.is_finite()) {
            return Err(format!("`{s}`: a rate must be above 0"));
        }
        let per_s = v * scale;
        // A rate that rounds to no message a second sends nothing in any trial.
        if per_s < 0.5 {
            return Err(format!(
                "`{s}` is {per_s:.2} messages of {payload} B a second, which rounds to none; a rate must be at least 0.5 messages a second"
            ));
        }
        Ok(Rate::PerSecond(per_s))
    }

    /// Back to the text `parse` reads.
    pub fn to_text(self) -> String {
        match self {
            Rate::Unlimited => "unlimited".to_string(),
            Rate::PerSecond(v) => format!("{v}/s"),
            Rate::OfCapacity(f) => format!("{f}C"),
        }
    }

    /// For the report: a rate resolved from a capacity ("1.5C" of 241,317.6/s) is
    /// shown in whole messages from 10/s up, not with every digit of the float.
    pub fn shown(self) -> String {
        match self {
            Rate::PerSecond(v) if v >= 10.0 => format!("{v:.0}/s"),
            r => r.to_text(),
        }
    }
}

/// A stretch of the schedule: `rate` for `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase {
    pub duration: Duration,
    pub rate: Rate,
}

impl Phase {
    /// "2s unlimited" or "10s 1000/s".
    pub fn parse(s: &str, payload: usize) -> Result<Phase, String> {
        let (d, r) = s.trim().split_once(' ').ok_or_else(|| {
            format!("`{s}` is not a phase like \"2s unlimited\" or \"10s 1000/s\"")
        })?;
        Ok(Phase {
            duration: limits::DURATION.parse(d)?,
            rate: Rate::parse(r, payload)?,
        })
    }

    /// Back to the text `parse` reads (one word for the duration).
    pub fn to_text(self) -> String {
        format!(
            "{} {}",
            limits::format_duration(self.duration),
            self.rate.to_text()
        )
    }
}

/// A paced sender's `phases` and `rate` (the original's and the framed senders'),
/// read, written back and described in one place.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pace {
    /// Run first, in order; then `rate` for ever.
    pub phases: Vec<Phase>,
    pub rate: Rate,
}

impl Pace {
    /// The `rate` (unlimited by default) and `phases` keys; `payload` converts
    /// byte rates to messages.
    pub fn read(keys: &mut Keys, payload: usize) -> Result<Pace, ScenarioError> {
        let rate = match keys.string("rate")? {
            None => Rate::Unlimited,
            Some(r) => Rate::parse(&r, payload).map_err(|m| keys.invalid("rate", m))?,
        };
        let mut phases = Vec::new();
        for p in keys.strings("phases")?.unwrap_or_default() {
            phases.push(Phase::parse(&p, payload).map_err(|m| keys.invalid("phases", m))?);
        }
        Ok(Pace { phases, rate })
    }

    /// Back to `rate=...` and `phases=[...]` pairs, which [`Pace::read`] reads.
    pub fn to_pairs(&self) -> Vec<String> {
        let mut v = vec![format!("rate={}", self.rate.to_text())];
        if !self.phases.is_empty() {
            let ps: Vec<toml::Value> = self
                .phases
                .iter()
                .map(|p| toml::Value::String(p.to_text()))
                .collect();
            v.push(format!("phases={}", toml::Value::Array(ps)));
        }
        v
    }

    /// Every rate: the phases', then the final one.
    pub fn rates(&self) -> impl Iterator<Item = Rate> + '_ {
        self.phases
            .iter()
            .map(|p| p.rate)
            .chain(std::iter::once(self.rate))
    }

    /// The same with every rate of the capacity at `c` messages a second.
    pub fn at_capacity(&self, c: f64) -> Pace {
        let at = |r: Rate| match r {
            Rate::OfCapacity(f) => Rate::PerSecond((f * c).max(1.0)),
            r => r,
        };
        Pace {
            phases: self
                .phases
                .iter()
                .map(|p| Phase {
                    rate: at(p.rate),
                    ..*p
                })
                .collect(),
            rate: at(self.rate),
        }
    }

    /// Whether a rate is still a multiple of a capacity nobody measured.
    pub fn unresolved(&self) -> bool {
        self.rates().any(|r| matches!(r, Rate::OfCapacity(_)))
    }

    /// "unlimited" or "phases 1s unlimited, then 2000/s", for the report's line.
    pub fn text(&self) -> String {
        let phases: Vec<String> = self
            .phases
            .iter()
            .map(|p| format!("{} {}", limits::format_duration(p.duration), p.rate.shown()))
            .collect();
        match phases.is_empty() {
            true => self.rate.shown(),
            false => format!("phases {}, then {}", phases.join(", "), self.rate.shown()),
        }
    }
}

/// The phases, then the rate for ever, from `started`.
#[derive(Debug, Clone)]
pub struct Schedule {
    phases: Vec<Phase>,
    rate: Rate,
    pub started: Instant,
    started_ns: u64,
    /// For each phase (and the final rate), how many messages existed when it began:
    /// a phase counts its rate from there, so a rate after an unlimited spike is that
    /// rate from the end of the spike.
    base: Vec<Option<u64>>,
}

impl Schedule {
    pub fn new(pace: Pace) -> Schedule {
        let Pace { phases, rate } = pace;
        Schedule {
            base: vec![None; phases.len() + 1],
            phases,
            rate,
            started: Instant::now(),
            started_ns: crate::sys::monotonic_ns(),
        }
    }

    /// The phase at `now` (phases.len() for the final rate), its rate, and how far into it.
    fn phase_at(&self, now: Instant) -> (usize, Rate, Duration) {
        let mut t = now.saturating_duration_since(self.started);
        for (i, p) in self.phases.iter().enumerate() {
            if t <= p.duration {
                return (i, p.rate, t);
            }
            t -= p.duration;
        }
        (self.phases.len(), self.rate, t)
    }

    /// How many messages (in all, counting from `produced` at each phase's start) are
    /// due by `now`; None while the rate is unlimited.
    pub fn due(&mut self, now: Instant, produced: u64) -> Option<u64> {
        let (i, rate, into) = self.phase_at(now);
        let base = *self.base[i].get_or_insert(produced);
        match rate {
            Rate::Unlimited => None,
            Rate::PerSecond(r) => Some(base + (r * into.as_secs_f64()) as u64),
            // Refused by Engine::new: the harness resolves it first.
            Rate::OfCapacity(_) => Some(base),
        }
    }

    /// When the phases end (the spike is over); None without phases.
    pub fn phases_end(&self) -> Option<Instant> {
        (!self.phases.is_empty()).then(|| self.started + self.phases_len())
    }

    /// The same, in CLOCK_MONOTONIC ns, for the summary line.
    pub fn phases_end_ns(&self) -> Option<u64> {
        (!self.phases.is_empty()).then(|| self.started_ns + self.phases_len().as_nanos() as u64)
    }

    fn phases_len(&self) -> Duration {
        self.phases.iter().map(|p| p.duration).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_reads_back_what_it_writes() {
        for text in ["1500ms unlimited", "0.5s 1000/s", "2s unlimited"] {
            let p = Phase::parse(text, 13).unwrap();
            assert_eq!(Phase::parse(&p.to_text(), 13).unwrap(), p, "{text}");
        }
        assert_eq!(
            Phase::parse("1.5s unlimited", 13).unwrap().to_text(),
            "1500ms unlimited"
        );
    }

    #[test]
    fn rates_and_phases_parse() {
        assert_eq!(Rate::parse("unlimited", 13), Ok(Rate::Unlimited));
        assert_eq!(Rate::parse("1000/s", 13), Ok(Rate::PerSecond(1000.0)));
        assert_eq!(Rate::parse("13KB/s", 13), Ok(Rate::PerSecond(1000.0)));
        assert!(Rate::parse("fast", 13).is_err());
        assert!(Rate::parse("0/s", 13).is_err());
        let e = Rate::parse("0.0001KB/s", 13).unwrap_err();
        assert!(e.contains("rounds to none"), "{e}");
        assert_eq!(Rate::parse("0.5/s", 13), Ok(Rate::PerSecond(0.5)));
        let p = Phase::parse("2s unlimited", 13).unwrap();
        assert_eq!(
            (p.duration, p.rate),
            (Duration::from_secs(2), Rate::Unlimited)
        );
        assert_eq!(Phase::parse(&p.to_text(), 13).unwrap(), p);
        assert!(Phase::parse("soon 1/s", 13).is_err());
    }

    #[test]
    fn rates_of_the_capacity_parse_and_resolve() {
        assert_eq!(Rate::parse("0.5C", 13), Ok(Rate::OfCapacity(0.5)));
        assert_eq!(Rate::parse("3C", 13).unwrap().to_text(), "3C");
        assert!(Rate::parse("0C", 13).is_err());
        assert!(Rate::parse("xC", 13).unwrap_err().contains("factor"));
        let p = Pace {
            phases: vec![Phase::parse("1s 3C", 13).unwrap()],
            rate: Rate::PerSecond(5.0),
        };
        assert!(p.unresolved());
        assert_eq!(p.text(), "phases 1s 3C, then 5/s");
        let at = p.at_capacity(1000.0);
        assert!(!at.unresolved());
        assert_eq!(at.text(), "phases 1s 3000/s, then 5/s");
        // A capacity that is not a whole number is shown rounded, and written exactly.
        let odd = Pace {
            phases: vec![],
            rate: Rate::OfCapacity(1.5),
        }
        .at_capacity(241_317.546);
        assert_eq!(odd.text(), "361976/s");
        assert!(
            odd.rate.to_text().starts_with("361976.3"),
            "{}",
            odd.rate.to_text()
        );
    }

    #[test]
    fn phases_count_from_where_they_began() {
        let one_s = Duration::from_secs(1);
        let mut s = Schedule::new(Pace {
            phases: vec![Phase {
                duration: one_s,
                rate: Rate::PerSecond(100.0),
            }],
            rate: Rate::PerSecond(10.0),
        });
        let at = |ms| s.started + Duration::from_millis(ms);
        let (t500, t3000) = (at(500), at(3000));
        assert_eq!(s.due(t500, 0), Some(50));
        assert_eq!(s.due(t3000, 100), Some(120), "10/s for 2 s after the phase");
        assert_eq!(s.phases_end(), Some(s.started + one_s));
    }
}
