//! The allowed range of every numeric scenario key and command-line flag, in one place.
//! A value a scenario file refuses is refused on the command line too, with the same
//! words: the scenario loader adds `file:line: section.key`, clap adds the flag.

use std::time::Duration;

/// The largest scenario file zerowin reads. Real ones are a few hundred bytes; the
/// bound keeps `run /dev/zero` or a stray log file from filling memory.
pub const SCENARIO_FILE_MAX: u64 = 1 << 20;

/// The longest `reply`, in bytes.
pub const REPLY_MAX: usize = 65536;

/// An inclusive range of integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int {
    pub min: i64,
    pub max: i64,
}

impl Int {
    pub const fn new(min: i64, max: i64) -> Int {
        Int { min, max }
    }

    pub fn check(&self, n: i64) -> Result<i64, String> {
        if n < self.min || n > self.max {
            return Err(format!(
                "{n} is out of range; it must be between {} and {}",
                self.min, self.max
            ));
        }
        Ok(n)
    }

    /// For a command-line flag: a whole number in range.
    pub fn parse(&self, s: &str) -> Result<i64, String> {
        let n = s
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("`{s}` is not a whole number"))?;
        self.check(n)
    }
}

/// An inclusive range of durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur {
    pub min: Duration,
    pub max: Duration,
}

impl Dur {
    pub const fn new(min: Duration, max: Duration) -> Dur {
        Dur { min, max }
    }

    /// `shown` is the value as the user wrote it.
    pub fn check(&self, d: Duration, shown: &str) -> Result<Duration, String> {
        if d < self.min || d > self.max {
            return Err(format!(
                "`{}` is out of range; it must be between {} and {}",
                shown.trim(),
                humantime::format_duration(self.min),
                humantime::format_duration(self.max)
            ));
        }
        Ok(d)
    }

    pub fn parse(&self, s: &str) -> Result<Duration, String> {
        self.check(parse_duration(s)?, s)
    }
}

pub const BUF: Int = Int::new(1024, 64 << 20);
pub const RECV: Int = Int::new(1, 1 << 20);
pub const TRIALS: Int = Int::new(1, 10_000);
pub const SYSCTL_MEM: Int = Int::new(1024, 1 << 30);
/// The spool's size limit: from one page to 1 TiB.
pub const SPOOL_BYTES: Int = Int::new(4096, 1 << 40);

/// The range of an integer key by its path, for the message about a number too large
/// for TOML's own integers (the key's reader never sees it).
pub fn int_range(key: &str) -> Option<Int> {
    Some(match key {
        "run.trials" => TRIALS,
        "client.rcvbuf" | "client.sndbuf" | "sender.sndbuf" | "sender.rcvbuf" => BUF,
        "client.recv_size" | "client.chunk" => RECV,
        "sender.spool_max_bytes" => SPOOL_BYTES,
        _ => return None,
    })
}

const MS: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);

/// `run.duration`, `--duration`.
pub const DURATION: Dur = Dur::new(MS, HOUR);
/// `run.deadline`, `--deadline` (and it must exceed the duration).
pub const DEADLINE: Dur = Dur::new(MS, Duration::from_secs(2 * 3600));
/// `run.call_timeout`, `--call-timeout`.
pub const CALL_TIMEOUT: Dur = Dur::new(MS, HOUR);
/// `client.delay`, `--delay`.
pub const DELAY: Dur = Dur::new(Duration::ZERO, Duration::from_secs(60));
/// `sender.drain_timeout`, `serve --drain-timeout-ms`.
pub const DRAIN_TIMEOUT: Dur = Dur::new(MS, HOUR);
/// `run.sample`, `--sample` (or "off").
/// A fault's time: from time zero to an hour.
pub const FAULT_AT: Dur = Dur::new(Duration::ZERO, HOUR);
pub const SAMPLE: Dur = Dur::new(Duration::from_micros(100), Duration::from_secs(10));

/// Parses "10ms", "2s", "1m 30s". Bare numbers are refused: the unit must be said.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration like \"10ms\" or \"2s\" ({e})"))
}

/// A duration in one word, in the largest unit that writes it exactly: "5ms",
/// "1500ms", "250us", "2s". It reads back with [`parse_duration`] (humantime's own
/// format, "1s 500ms", has a space, which a phase like "1.5s unlimited" cannot have).
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    for (unit, div) in [("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)] {
        if ns > 0 && ns.is_multiple_of(div) {
            return format!("{}{unit}", ns / div);
        }
    }
    format!("{ns}ns")
}

/// "1ms", or "off" for no sampling.
pub fn parse_sample(s: &str) -> Result<Option<Duration>, String> {
    if s.trim() == "off" {
        return Ok(None);
    }
    SAMPLE
        .parse(s)
        .map(Some)
        .map_err(|e| format!("{e}, or \"off\""))
}

/// clap value parsers: each flag goes through the same range as its scenario key.
pub mod flag {
    use super::*;

    pub fn duration(s: &str) -> Result<Duration, String> {
        DURATION.parse(s)
    }
    pub fn deadline(s: &str) -> Result<Duration, String> {
        DEADLINE.parse(s)
    }
    pub fn call_timeout(s: &str) -> Result<Duration, String> {
        CALL_TIMEOUT.parse(s)
    }
    pub fn delay(s: &str) -> Result<Duration, String> {
        DELAY.parse(s)
    }
    pub fn trials(s: &str) -> Result<u32, String> {
        TRIALS.parse(s).map(|n| n as u32)
    }
    pub fn buf(s: &str) -> Result<usize, String> {
        BUF.parse(s).map(|n| n as usize)
    }
    pub fn recv(s: &str) -> Result<usize, String> {
        RECV.parse(s).map(|n| n as usize)
    }
    pub fn broker_nodes(s: &str) -> Result<usize, String> {
        match s.trim() {
            "1" => Ok(1),
            "3" => Ok(3),
            _ => Err(format!("`{s}`: a broker has 1 node, or 3 joined by routes")),
        }
    }
    pub fn drain_timeout_ms(s: &str) -> Result<u64, String> {
        let ms = Int::new(
            DRAIN_TIMEOUT.min.as_millis() as i64,
            DRAIN_TIMEOUT.max.as_millis() as i64,
        );
        ms.parse(s).map(|n| n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_say_what_is_allowed() {
        assert_eq!(
            DURATION.parse("0s").unwrap_err(),
            "`0s` is out of range; it must be between 1ms and 1h"
        );
        assert!(DURATION.parse("2h").is_err());
        assert_eq!(DURATION.parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(
            TRIALS.parse("0").unwrap_err(),
            "0 is out of range; it must be between 1 and 10000"
        );
        assert!(TRIALS.parse("ten").unwrap_err().contains("whole number"));
        assert_eq!(parse_sample("off"), Ok(None));
        assert!(parse_sample("10ns").unwrap_err().contains("\"off\""));
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("10ms").unwrap(), Duration::from_millis(10));
        assert!(parse_duration("10").unwrap_err().contains("`10`"));
        assert!(parse_duration("fast").is_err());
    }
}
