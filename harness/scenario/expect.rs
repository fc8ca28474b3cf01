//! `[expect]`: what a scenario claims about every one of its trials, checked against
//! the rest of the scenario (a claim it cannot make is refused at load).

use std::time::Duration;

use toml::Spanned;

use super::ScenarioError;
use super::errors::Ctx;
use super::raw::RawExpect;
use crate::fault;
use crate::limits::{self, Dur, Int};
use crate::record::Outcome;
use crate::record::kernel::RstReason;
use crate::sender::Sender;
use crate::strategy::Strategy;

/// `expect.lost`: a count, or exactly what the sender dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    Exactly(u64),
    /// Equal to the sender's count of messages dropped to make room.
    Dropped,
}

/// `expect.rst_reason`: a reason the kernel gave for one of a side's RSTs, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetClaim {
    NoReset,
    Reason(RstReason),
}

impl std::fmt::Display for ResetClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResetClaim::NoReset => f.write_str("none"),
            ResetClaim::Reason(r) => write!(f, "{r}"),
        }
    }
}

/// What a scenario claims about every one of its trials.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub outcome: Outcome,
    /// The first failure comes no later than this after connect.
    pub within: Option<Duration>,
    /// bytes_sent - bytes_read equals this exactly.
    pub bytes_lost: Option<i64>,
    /// Messages lost (gaps the client saw), for a framed sender and client.
    pub lost: Option<Lost>,
    /// Messages delivered twice to the client.
    pub duplicates: Option<u64>,
    /// Messages delivered out of order.
    pub reordered: Option<u64>,
    /// The spool never held more than this many bytes.
    pub max_spool_bytes: Option<u64>,
    /// A framed sender dropped at least this many messages to make room, in every
    /// trial: the claim that its queue overflowed at all.
    pub min_dropped: Option<u64>,
    /// After the producer's phases ended, its backlog was empty within this long.
    pub drained_within: Option<Duration>,
    /// Every connection of the resume client got its first frame this soon after its
    /// hello.
    pub resume_within: Option<Duration>,
    /// The client was never more than this behind the producer (its lag, from the
    /// sender's progress lines; `analysis::backlog`).
    pub max_lag: Option<Duration>,
    /// The client fell behind at least once, and each time caught up again within
    /// this long.
    pub catches_up_within: Option<Duration>,
    /// The queue (or the spool) filled and `on_full` applied, in every trial (true),
    /// or never (false).
    pub fills: Option<bool>,
    /// true: the spool's store was out of reach at least once in every trial, and
    /// came back each time before the trial ended (the spool resumed); false: never.
    pub store_outage: Option<bool>,
    /// The bind() of every fault that starts a sender: "ok" or an errno's name.
    pub sender_bind: Option<String>,
    /// The first failure comes this long (between the two) after the latest fault
    /// applied before it.
    pub since_fault: Option<(Duration, Duration)>,
    /// Keep-alive probes the client sent after the sender's last segment (the wire).
    pub keepalive_probes: Option<u64>,
    /// The client socket's TCP state at the last TCP_INFO sample ("ESTAB", ...).
    pub final_state: Option<String>,
    /// An RST the sender's side sent had this reason by the kernel's word (the
    /// tracepoint `tcp_send_reset`), or it sent none.
    pub rst_reason: Option<ResetClaim>,
    /// The same for the client's side.
    pub client_rst_reason: Option<ResetClaim>,
    /// A sweep's claim: the median time to failure rises with this swept key; and
    /// the line that says so.
    pub increasing: Option<(String, usize)>,
    /// An external sender's resident memory grew (peak less first sample) by at
    /// least, or at most, this many bytes in every trial.
    pub min_rss_growth: Option<u64>,
    pub max_rss_growth: Option<u64>,
}

/// `expect.since_fault = ["LO", "HI"]`, which needs a fault to count from.
pub(super) fn read_since_fault(
    cx: &Ctx,
    e: &RawExpect,
    faults: &fault::Schedule,
    deadline: Duration,
) -> Result<Option<(Duration, Duration)>, ScenarioError> {
    let Some(v) = &e.since_fault else {
        return Ok(None);
    };
    let err = |m: &str| cx.err(v.span(), "expect.since_fault", m);
    if faults.is_empty() {
        return Err(err("there is no [[fault]] to count from"));
    }
    let range = Dur::new(Duration::ZERO, deadline);
    match v.get_ref().as_slice() {
        [lo, hi] => {
            let lo = range.parse(lo).map_err(|m| err(&m))?;
            let hi = range.parse(hi).map_err(|m| err(&m))?;
            if lo > hi {
                return Err(err("the first bound is after the second"));
            }
            Ok(Some((lo, hi)))
        }
        _ => Err(err("expected two durations, [\"3.5s\", \"6s\"]")),
    }
}

/// What the rest of the scenario says, which decides the claims it may make.
pub(super) struct About<'a> {
    pub sender: &'a dyn Sender,
    pub strategy: &'a dyn Strategy,
    pub faults: &'a fault::Schedule,
    pub deadline: Duration,
    /// Whether TCP_INFO is sampled (`run.sample` is not off).
    pub sampled: bool,
}

/// `[expect]`, every claim checked against the scenario.
pub(super) fn read(
    cx: &Ctx,
    raw: &Spanned<RawExpect>,
    about: &About,
) -> Result<Expect, ScenarioError> {
    let e = raw.get_ref();
    let outcome = e
        .outcome
        .get_ref()
        .parse()
        .map_err(|m| cx.err(e.outcome.span(), "expect.outcome", m))?;
    let count = |v: &Option<Spanned<i64>>, key: &str| {
        v.as_ref()
            .map(|v| cx.int(v, key, Int::new(0, i64::MAX)).map(|n| n as u64))
            .transpose()
    };
    let dur = |v: &Option<Spanned<String>>, key: &str| {
        v.as_ref()
            .map(|v| cx.duration(v, key, limits::DURATION))
            .transpose()
    };
    // In the order the checks have always been made, so that a file with two
    // mistakes is told of the same one first.
    let expect = Expect {
        outcome,
        within: read_within(cx, e, outcome, about.deadline)?,
        bytes_lost: e.bytes_lost.as_ref().map(|v| *v.get_ref()),
        duplicates: count(&e.duplicates, "expect.duplicates")?,
        reordered: count(&e.reordered, "expect.reordered")?,
        max_spool_bytes: count(&e.max_spool_bytes, "expect.max_spool_bytes")?,
        min_dropped: {
            let n = count(&e.min_dropped, "expect.min_dropped")?;
            check_spool(cx, e, about.sender)?;
            n
        },
        sender_bind: read_sender_bind(cx, e, about.faults)?,
        since_fault: read_since_fault(cx, e, about.faults, about.deadline)?,
        keepalive_probes: count(&e.keepalive_probes, "expect.keepalive_probes")?,
        final_state: read_final_state(cx, e, about.sampled)?,
        rst_reason: read_reset(cx, &e.rst_reason, "expect.rst_reason")?,
        client_rst_reason: read_reset(cx, &e.client_rst_reason, "expect.client_rst_reason")?,
        drained_within: dur(&e.drained_within, "expect.drained_within")?,
        lost: read_lost(cx, e)?,
        resume_within: dur(&e.resume_within, "expect.resume_within")?,
        max_lag: dur(&e.max_lag, "expect.max_lag")?,
        catches_up_within: dur(&e.catches_up_within, "expect.catches_up_within")?,
        fills: e.fills.as_ref().map(|v| *v.get_ref()),
        store_outage: e.store_outage.as_ref().map(|v| *v.get_ref()),
        increasing: e
            .increasing
            .as_ref()
            .map(|v| (v.get_ref().clone(), cx.line_of(v.span().start))),
        min_rss_growth: count(&e.min_rss_growth, "expect.min_rss_growth")?,
        max_rss_growth: count(&e.max_rss_growth, "expect.max_rss_growth")?,
    };
    check_rss(cx, e, about.sender)?;
    check_message_claims(cx, raw, &expect, about)?;
    Ok(expect)
}

/// `expect.rst_reason` and `client_rst_reason`: a reason's name as the kernel prints
/// it, or "none".
fn read_reset(
    cx: &Ctx,
    v: &Option<Spanned<String>>,
    key: &str,
) -> Result<Option<ResetClaim>, ScenarioError> {
    let Some(v) = v else {
        return Ok(None);
    };
    if v.get_ref() == "none" {
        return Ok(Some(ResetClaim::NoReset));
    }
    v.get_ref()
        .parse()
        .map(|r| Some(ResetClaim::Reason(r)))
        .map_err(|m: String| cx.err(v.span(), key, format!("{m}, or none")))
}

/// `expect.within`, which a survived trial cannot have.
fn read_within(
    cx: &Ctx,
    e: &RawExpect,
    outcome: Outcome,
    deadline: Duration,
) -> Result<Option<Duration>, ScenarioError> {
    match &e.within {
        // A trial that survives has no failure to time.
        Some(v) if outcome == Outcome::Survived => Err(cx.err(
            v.span(),
            "expect.within",
            "bounds the time to the first failure, and a survived trial has none; remove it",
        )),
        Some(v) => Ok(Some(cx.duration(
            v,
            "expect.within",
            Dur::new(Duration::ZERO, deadline),
        )?)),
        None => Ok(None),
    }
}

/// `expect.min_rss_growth` and `max_rss_growth`, for an external sender, whose
/// memory is sampled.
fn check_rss(cx: &Ctx, e: &RawExpect, sender: &dyn Sender) -> Result<(), ScenarioError> {
    for (v, key) in [
        (&e.min_rss_growth, "expect.min_rss_growth"),
        (&e.max_rss_growth, "expect.max_rss_growth"),
    ] {
        if let Some(v) = v
            && !sender.samples_memory()
        {
            return Err(cx.err(
                v.span(),
                key,
                format!(
                    "only an external sender's memory is sampled, not `{}`'s",
                    sender.name()
                ),
            ));
        }
    }
    Ok(())
}

/// `expect.max_spool_bytes`, for a sender that has a spool.
fn check_spool(cx: &Ctx, e: &RawExpect, sender: &dyn Sender) -> Result<(), ScenarioError> {
    match &e.max_spool_bytes {
        Some(v) if !sender.has_spool() => Err(cx.err(
            v.span(),
            "expect.max_spool_bytes",
            format!("only the spool sender has a spool, not `{}`", sender.name()),
        )),
        _ => Ok(()),
    }
}

/// `expect.sender_bind`: "ok" or an errno's name, for a fault that starts a sender.
fn read_sender_bind(
    cx: &Ctx,
    e: &RawExpect,
    faults: &fault::Schedule,
) -> Result<Option<String>, ScenarioError> {
    match &e.sender_bind {
        Some(v) if !faults.faults.iter().any(|f| f.action.starts_sender()) => Err(cx.err(
            v.span(),
            "expect.sender_bind",
            "there is no restart-sender or second-sender fault to check",
        )),
        Some(v) if v.get_ref() == "ok" || v.get_ref().starts_with('E') => {
            Ok(Some(v.get_ref().clone()))
        }
        Some(v) => Err(cx.err(
            v.span(),
            "expect.sender_bind",
            "expected \"ok\" or an errno's name such as \"EADDRINUSE\"",
        )),
        None => Ok(None),
    }
}

/// `expect.final_state`: a TCP state name, read from the samples.
fn read_final_state(
    cx: &Ctx,
    e: &RawExpect,
    sampled: bool,
) -> Result<Option<String>, ScenarioError> {
    let names = crate::sys::tcpinfo::STATE_NAMES;
    match &e.final_state {
        Some(v) if names.contains(&v.get_ref().as_str()) => {
            if !sampled {
                return Err(cx.err(
                    v.span(),
                    "expect.final_state",
                    "is read from the TCP_INFO samples, and run.sample is off",
                ));
            }
            Ok(Some(v.get_ref().clone()))
        }
        Some(v) => Err(cx.err(
            v.span(),
            "expect.final_state",
            format!(
                "unknown TCP state `{}`; expected one of {}",
                v.get_ref(),
                names.join(", ")
            ),
        )),
        None => Ok(None),
    }
}

/// `expect.lost`: a count of messages, or "dropped".
fn read_lost(cx: &Ctx, e: &RawExpect) -> Result<Option<Lost>, ScenarioError> {
    match e.lost.as_ref().map(|v| (v, v.get_ref())) {
        None => Ok(None),
        Some((_, toml::Value::Integer(n))) if *n >= 0 => Ok(Some(Lost::Exactly(*n as u64))),
        Some((_, toml::Value::String(s))) if s == "dropped" => Ok(Some(Lost::Dropped)),
        Some((v, _)) => Err(cx.err(
            v.span(),
            "expect.lost",
            "expected a count of messages, or \"dropped\" (exactly what the sender dropped)",
        )),
    }
}

/// The claims that count messages, which only a framed client of a framed sender sees.
fn check_message_claims(
    cx: &Ctx,
    raw: &Spanned<RawExpect>,
    x: &Expect,
    about: &About,
) -> Result<(), ScenarioError> {
    let client_claims = x.lost.is_some() || x.duplicates.is_some() || x.reordered.is_some();
    let sender_claims = x.min_dropped.is_some()
        || x.drained_within.is_some()
        || x.resume_within.is_some()
        || x.max_lag.is_some()
        || x.catches_up_within.is_some()
        || x.fills.is_some()
        || x.store_outage.is_some();
    // A server of yours says nothing of its messages: the client's own count (its
    // gaps, duplicates and order) is all there is, so only those claims hold.
    let counted = about.strategy.counts_messages()
        && (about.sender.framed() || (about.sender.counted_by_client() && !sender_claims));
    if (client_claims || sender_claims) && !counted {
        return Err(cx.err(
            raw.span(),
            "expect",
            format!(
                "lost, duplicates, reordered and drained_within count messages, which only a framed client of a framed sender sees, not `{}` with `{}` (min_dropped, resume_within, max_lag, catches_up_within, fills and store_outage too); with an external sender, an external client that prints zerowin-processed lines supports lost, duplicates and reordered",
                about.strategy.name(),
                about.sender.name()
            ),
        ));
    }
    Ok(())
}
