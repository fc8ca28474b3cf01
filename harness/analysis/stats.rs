//! The arithmetic the tables share: medians, percentiles, outcome counts, and how each
//! trial's RST came about.

use std::collections::BTreeMap;

use crate::record::TrialRecord;

/// The median of the values (the mean of the middle two for an even count).
pub fn median(v: Vec<f64>) -> Option<f64> {
    let mut v = v;
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    })
}

/// The p-th percentile (0-100) by nearest rank: a value that was observed.
pub fn percentile(v: &[f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    Some(s[rank.min(s.len()) - 1])
}

/// Median over the records of a value some records may lack.
pub fn median_of(records: &[TrialRecord], f: impl Fn(&TrialRecord) -> Option<f64>) -> Option<f64> {
    median(records.iter().filter_map(f).collect())
}

/// "5 reset" or "3 reset, 2 eof", most frequent first.
pub fn outcome_counts(records: &[TrialRecord]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in records {
        *counts.entry(r.outcome.as_str()).or_default() += 1;
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(o, n)| format!("{n} {o}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How the sender's close became what the client saw. The side comes from the wire:
/// only an RST the sender sent is the sender's abort. Which abort it was comes from
/// the sender's own kernel counters where they are its alone (the veth sender's
/// namespace, or a namespace where the client sent no RST), else from the wire's
/// order of the sender's FIN and RST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    /// TCPAbortOnClose: close() found unread data (the client's replies) and sent RST.
    RstAtClose,
    /// TCPAbortOnData: close() left a FIN queued; data that reached the closed socket
    /// afterwards was answered with RST.
    FinThenRstOnData,
    /// SO_LINGER 0 with nothing unread: close() aborts at once. The kernel counts it
    /// as TCPAbortOnData (`__tcp_close` checks unread data first, then zero linger,
    /// and bumps TCPABORTONDATA for the latter; TCPAbortOnLinger is the FIN_WAIT2
    /// timeout's), so only the sender's own policy tells it from a FIN then an RST on
    /// data. With unread replies, linger0 changes nothing: it is an RST at close.
    Linger0,
    /// The sender sent no RST: a clean close.
    NoAbort,
}

impl Route {
    pub fn describe(self) -> &'static str {
        match self {
            Route::RstAtClose => "sender RST at close",
            Route::FinThenRstOnData => "sender FIN then RST on data",
            Route::Linger0 => "sender RST by SO_LINGER 0",
            Route::NoAbort => "no sender abort",
        }
    }
}

/// The words for a trial whose client sent an RST of its own (its close with the
/// sender's data unread, at the end of its run).
pub const CLIENT_RESET: &str = "client RST at its close";

/// The trial's route, when the sender closed: the kernel's own reason for the
/// sender's RST where the tracepoints saw the trial, else what the wire or the
/// sender's own counters show; None when none of them can tell.
pub fn route(r: &TrialRecord) -> Option<Route> {
    r.sender_close_at_us?;
    let k = r.observation.as_ref()?.kernel.as_ref();
    k.and_then(kernel_route).or_else(|| inferred_route(r))
}

/// The route by the kernel's reason for the sender's first abort (its connection's
/// own RST, not its listener's answer to a late segment); None for a reason that is
/// not a close route (a refused connect, a keep-alive timeout, ...).
pub fn kernel_route(k: &crate::record::kernel::KernelWord) -> Option<Route> {
    use crate::record::kernel::{RstReason, Side};
    if k.resets_from(Side::Sender).next().is_none() {
        return Some(Route::NoAbort);
    }
    // Only a listener's answers (a connection gone by a timeout, say): the wire and
    // the counters tell the route.
    let first = k.first_abort(Side::Sender)?;
    match first.reason? {
        RstReason::AbortOnClose => Some(Route::RstAtClose),
        RstReason::AbortOnData => Some(Route::FinThenRstOnData),
        RstReason::State => Some(Route::Linger0),
        _ => None,
    }
}

/// Where the kernel's events and the other instruments disagree, in words: the
/// route, and each side's count of RSTs against the wire's and, where the counters
/// are the trial's alone, against `Tcp.OutRsts`. Shown, never hidden.
pub fn disagreements(r: &TrialRecord) -> Vec<String> {
    let mut out = Vec::new();
    let Some(obs) = r.observation.as_ref() else {
        return out;
    };
    let Some(k) = obs.kernel.as_ref() else {
        return out;
    };
    if r.sender_close_at_us.is_some()
        && let (Some(by_kernel), Some(inferred)) = (kernel_route(k), inferred_route(r))
        && by_kernel != inferred
    {
        out.push(format!(
            "the kernel's reason says \"{}\", the wire and the counters say \"{}\"",
            by_kernel.describe(),
            inferred.describe()
        ));
    }
    use crate::record::kernel::Side;
    let count = |s| k.resets_from(s).count() as u64;
    if let Some(w) = &obs.wire {
        for (side, on_wire) in [
            (Side::Sender, w.from_sender.rsts),
            (Side::Client, w.from_client.rsts),
        ] {
            if count(side) != on_wire {
                out.push(format!(
                    "the kernel's events saw {} RST(s) from the {side}, the wire {on_wire}",
                    count(side)
                ));
            }
        }
    }
    let total = count(Side::Sender) + count(Side::Client);
    if let Some(c) = obs.counters.as_ref().filter(|c| c.isolated)
        && c.get("Tcp.OutRsts") != total
    {
        out.push(format!(
            "the kernel's events saw {total} RST(s) in all, the counters' Tcp.OutRsts {}",
            c.get("Tcp.OutRsts")
        ));
    }
    out
}

/// The route from the wire and the counters alone.
fn inferred_route(r: &TrialRecord) -> Option<Route> {
    let obs = r.observation.as_ref()?;
    let wire = obs.wire.as_ref();
    let counters = sender_counters(obs);
    let linger0 = r.close_policy.parse() == Ok(crate::record::sender::ClosePolicy::Linger0);
    match wire {
        Some(w) if w.from_sender.rsts == 0 => Some(Route::NoAbort),
        Some(w) => Some(abort_kind(counters, w, linger0)),
        None => Some(counter_kind(counters?, linger0).unwrap_or(Route::NoAbort)),
    }
}

/// Whether the client sent an RST in the trial: by the kernel's events where they
/// saw it, else by the wire.
pub fn client_reset(r: &TrialRecord) -> bool {
    let Some(o) = r.observation.as_ref() else {
        return false;
    };
    match (&o.kernel, &o.wire) {
        (Some(k), _) => k
            .resets_from(crate::record::kernel::Side::Client)
            .next()
            .is_some(),
        (None, Some(w)) => w.from_client.rsts > 0,
        (None, None) => false,
    }
}

/// The sender's kernel counters, where they are the sender's alone: its own
/// namespace (veth), or a shared one in which the client sent no RST. Without a
/// capture, a shared namespace's counters may hold the client's abort too.
fn sender_counters(
    obs: &crate::observe::Observation,
) -> Option<&crate::observe::counters::Counters> {
    if let Some(k) = &obs.kernels {
        return Some(&k.sender);
    }
    let c = obs.counters.as_ref().filter(|c| c.isolated)?;
    let client_quiet = match (&obs.kernel, &obs.wire) {
        (Some(k), _) => k
            .resets_from(crate::record::kernel::Side::Client)
            .next()
            .is_none(),
        (None, w) => w.as_ref().is_some_and(|w| w.from_client.rsts == 0),
    };
    client_quiet.then_some(c)
}

/// The abort the counters name, when exactly one of them moved. TCPAbortOnData is a
/// zero-linger abort when the sender's policy is linger0 (see [`Route::Linger0`]).
fn counter_kind(c: &crate::observe::counters::Counters, linger0: bool) -> Option<Route> {
    let moved = |k: &str| c.get(k) > 0;
    match (moved("TCPAbortOnClose"), moved("TCPAbortOnData")) {
        (true, false) => Some(Route::RstAtClose),
        (false, true) if linger0 => Some(Route::Linger0),
        (false, true) => Some(Route::FinThenRstOnData),
        _ => None,
    }
}

/// The sender sent an RST: which abort, by its counters, or else by the wire's
/// judgment of each connection it reset (`diagnose`'s rules: a FIN on the wire, or
/// queued behind held-back data, then the client's data answered with an RST).
fn abort_kind(
    c: Option<&crate::observe::counters::Counters>,
    w: &crate::observe::wire::Wire,
    linger0: bool,
) -> Route {
    if let Some(k) = c.and_then(|c| counter_kind(c, linger0)) {
        return k;
    }
    if w.sender_fin_then_rst > 0 {
        Route::FinThenRstOnData
    } else {
        Route::RstAtClose
    }
}

/// "87 sender RST at close, 13 sender FIN then RST on data", or None when no
/// trial's route is known.
pub fn route_mix(records: &[TrialRecord]) -> Option<String> {
    let mut counts: BTreeMap<Route, usize> = BTreeMap::new();
    let mut unknown = 0;
    for r in records {
        match route(r) {
            Some(x) => *counts.entry(x).or_default() += 1,
            None => unknown += 1,
        }
    }
    if counts.is_empty() {
        return None;
    }
    let mut parts: Vec<String> = counts
        .iter()
        .map(|(k, n)| format!("{n} {}", k.describe()))
        .collect();
    if unknown > 0 {
        parts.push(format!("{unknown} unknown"));
    }
    let clients = records.iter().filter(|r| client_reset(r)).count();
    if clients > 0 {
        parts.push(format!("{clients} {CLIENT_RESET}"));
    }
    Some(parts.join(", "))
}

/// "20 sender TCP_ABORT_ON_CLOSE, 3 client TCP_ABORT_ON_CLOSE": every RST the
/// kernel's events saw, by side and reason; None when no trial had them.
pub fn reason_mix(records: &[TrialRecord]) -> Option<String> {
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut seen = false;
    for k in records
        .iter()
        .filter_map(|r| r.observation.as_ref()?.kernel.as_ref())
    {
        seen = true;
        for x in &k.resets {
            *counts
                .entry((x.side.to_string(), x.reason_name.clone()))
                .or_default() += 1;
        }
    }
    if !seen {
        return None;
    }
    if counts.is_empty() {
        return Some("none".into());
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|((side, reason), n)| format!("{n} {side} {reason}"))
        .collect();
    Some(parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 90.0), Some(9.0));
        assert_eq!(percentile(&v, 100.0), Some(10.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
