//! `[run]` and `[sysctl]`: how long and how often a scenario runs, and the kernel
//! settings of its namespace.

use std::collections::BTreeMap;
use std::time::Duration;

use super::ScenarioError;
use toml::Spanned;

use super::errors::Ctx;
use super::raw::{RawObserve, RawRun, RawSysctl};
use super::{DEFAULT_DEADLINE_SLACK, DEFAULT_DURATION, DEFAULT_SAMPLE};
use crate::limits::{self, Int, parse_sample};

/// "4096 87380 6291456": three byte counts, min <= default <= max.
pub(super) fn parse_mem_triple(s: &str) -> Result<String, String> {
    let v: Vec<u64> = s
        .split_whitespace()
        .map(|x| x.parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("`{s}` is not three byte counts like \"4096 131072 6291456\""))?;
    let (lo, hi) = (limits::SYSCTL_MEM.min as u64, limits::SYSCTL_MEM.max as u64);
    match v.as_slice() {
        [a, b, c] if a <= b && b <= c && *a >= lo && *c <= hi => Ok(format!("{a} {b} {c}")),
        [_, _, _] => Err(format!("`{s}`: need {lo} <= min <= default <= max <= {hi}")),
        _ => Err(format!(
            "`{s}` is not three byte counts like \"4096 131072 6291456\""
        )),
    }
}

/// `[run]`, checked, with its defaults.
pub(super) struct Run {
    pub duration: Duration,
    pub trials: u32,
    pub deadline: Duration,
    pub sample: Option<Duration>,
    pub predict: bool,
    /// `run.capacity_of`, as written, and where.
    pub capacity_of: Option<Spanned<String>>,
}

pub(super) fn read_run(cx: &Ctx, r: RawRun) -> Result<Run, ScenarioError> {
    let duration = match &r.duration {
        Some(v) => cx.duration(v, "run.duration", limits::DURATION)?,
        None => DEFAULT_DURATION,
    };
    let trials = match &r.trials {
        Some(v) => cx.int(v, "run.trials", limits::TRIALS)? as u32,
        None => 1,
    };
    let deadline = match &r.deadline {
        Some(v) => {
            let d = cx.duration(v, "run.deadline", limits::DEADLINE)?;
            if d <= duration {
                return Err(cx.err(
                    v.span(),
                    "run.deadline",
                    format!(
                        "{} must be longer than run.duration ({duration:?})",
                        v.get_ref()
                    ),
                ));
            }
            d
        }
        None => duration + DEFAULT_DEADLINE_SLACK,
    };
    let sample = match &r.sample {
        Some(v) => parse_sample(v.get_ref()).map_err(|m| cx.err(v.span(), "run.sample", m))?,
        None => Some(DEFAULT_SAMPLE),
    };
    Ok(Run {
        duration,
        trials,
        deadline,
        sample,
        predict: r.predict.as_ref().is_some_and(|p| *p.get_ref()),
        capacity_of: r.capacity_of,
    })
}

/// `[sysctl]`, each value checked, and the line of its header (0 without one).
pub(super) fn read_sysctl(
    cx: &Ctx,
    sysctl: Option<&Spanned<RawSysctl>>,
) -> Result<(BTreeMap<String, String>, usize), ScenarioError> {
    let mut sysctls = BTreeMap::new();
    let Some(sy) = sysctl else {
        return Ok((sysctls, 0));
    };
    let s = sy.get_ref();
    for (key, v) in [("tcp_rmem", &s.tcp_rmem), ("tcp_wmem", &s.tcp_wmem)] {
        if let Some(v) = v {
            let val = parse_mem_triple(v.get_ref())
                .map_err(|m| cx.err(v.span(), &format!("sysctl.{key}"), m))?;
            sysctls.insert(key.to_string(), val);
        }
    }
    for (key, v, range) in [
        ("tcp_shrink_window", &s.tcp_shrink_window, Int::new(0, 1)),
        ("tcp_retries2", &s.tcp_retries2, Int::new(1, 255)),
        (
            "tcp_keepalive_time",
            &s.tcp_keepalive_time,
            Int::new(1, 32767),
        ),
        (
            "tcp_keepalive_intvl",
            &s.tcp_keepalive_intvl,
            Int::new(1, 32767),
        ),
        (
            "tcp_keepalive_probes",
            &s.tcp_keepalive_probes,
            Int::new(1, 127),
        ),
    ] {
        if let Some(v) = v {
            let n = cx.int(v, &format!("sysctl.{key}"), range)?;
            sysctls.insert(key.to_string(), n.to_string());
        }
    }
    Ok((sysctls, cx.line_of(sy.span().start)))
}

/// `run.capacity_of`: the scenario whose client's capacity C the sender's rates of
/// the capacity ("0.5C") are multiples of, a path from this file's directory. It
/// must measure its own client; without such a rate here it is not used.
pub(super) fn read_capacity_of(
    cx: &Ctx,
    v: Option<Spanned<String>>,
    setup: &crate::sender::SenderSetup,
    exe: &std::path::Path,
    dir: &std::path::Path,
) -> Result<Option<Box<super::Scenario>>, ScenarioError> {
    let Some(v) = v else {
        return Ok(None);
    };
    let err = |m: String| cx.err(v.span(), "run.capacity_of", m);
    // A cell of a sweep may have no rate of the capacity (`unlimited`): then C is
    // not measured for it.
    if !setup.of_capacity() {
        return Ok(None);
    }
    let path = dir.join(v.get_ref());
    let other =
        super::Scenario::load(&path, exe).map_err(|e| err(format!("{}: {}", v.get_ref(), e)))?;
    if other.capacity_of.is_some() {
        return Err(err(format!(
            "{} has a capacity_of of its own; name the scenario whose client is measured",
            v.get_ref()
        )));
    }
    Ok(Some(Box::new(other)))
}

/// `[observe]`: the instruments that cost a trial time, on only when asked for or
/// when a claim needs them. The kernel's events and counters are always on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Instruments {
    /// The packet capture (AF_PACKET).
    pub capture: bool,
    /// The `tcp:tcp_probe` tracepoint: every segment the trial's sockets send.
    pub tcp_probe: bool,
    /// Why the capture is on, in words; None when it is off.
    pub why_capture: Option<String>,
}

/// `[observe]`, with the claims that need the wire: the keep-alive probes counted
/// on it, and an external client's outcome, read from it.
pub(super) fn read_observe(
    cx: &Ctx,
    o: Option<&Spanned<RawObserve>>,
    expect: &super::Expect,
    strategy: &dyn crate::strategy::Strategy,
) -> Result<Instruments, ScenarioError> {
    let needs_wire = match (expect.keepalive_probes, strategy.is_external()) {
        (Some(_), _) => Some("expect.keepalive_probes counts probes on the wire"),
        (_, true) => Some("an external client's outcome is read from the wire"),
        _ => None,
    };
    let raw = o.map(|o| o.get_ref());
    let capture = raw.and_then(|r| r.capture.as_ref());
    let tcp_probe = raw
        .and_then(|r| r.tcp_probe.as_ref())
        .is_some_and(|v| *v.get_ref());
    let why_capture = match (capture, needs_wire) {
        (Some(v), Some(need)) if !*v.get_ref() => {
            return Err(cx.err(
                v.span(),
                "observe.capture",
                format!("{need}; capture = false leaves no wire to read"),
            ));
        }
        (Some(v), _) if *v.get_ref() => Some("[observe] capture = true".to_string()),
        (_, Some(need)) => Some(need.to_string()),
        _ => None,
    };
    Ok(Instruments {
        capture: why_capture.is_some(),
        tcp_probe,
        why_capture,
    })
}
