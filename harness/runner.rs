//! Runs scenarios trial by trial and checks each scenario's `[expect]` claim.

use std::time::Duration;

use anyhow::Result;

use crate::observe::ObserveOptions;
use crate::record::TrialRecord;
use crate::record::kernel::Side;
use crate::scenario::{Expect, Lost, ResetClaim, Scenario};
use crate::trial;

/// A scenario and its trials.
pub struct ScenarioResult {
    pub scenario: Scenario,
    pub records: Vec<TrialRecord>,
    /// One line per trial that broke the expectation; empty = it held.
    pub violations: Vec<String>,
    /// The model's prediction, when the scenario asks for one (`run.predict`).
    pub forecast: Option<crate::analysis::model::Forecast>,
    /// The client's capacity C its sender's rates of the capacity were set from.
    pub capacity: Option<crate::analysis::capacity::Capacity>,
}

impl ScenarioResult {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// Its statistics, with the model's prediction beside them when it has one.
    pub fn summary(&self) -> crate::analysis::summary::CellSummary {
        crate::analysis::summary::CellSummary::of(&self.scenario.name, &self.records)
            .with_forecast(self.forecast.as_ref())
    }
}

/// Runs every trial of `sc`; `each` sees every record as it is made, and may add to
/// it (the session draws plots there) or stop the run (a closed output).
pub fn run_scenario(
    sc: &Scenario,
    opts: &ObserveOptions,
    mut each: impl FnMut(&mut TrialRecord) -> Result<()>,
) -> Result<ScenarioResult> {
    let mut records = Vec::with_capacity(sc.trials as usize);
    for n in 1..=sc.trials {
        // A signal ends the run between trials; the trial it came during is dropped.
        crate::process::check_interrupted()?;
        let mut r = trial::run(sc, n, opts)?;
        crate::process::check_interrupted()?;
        each(&mut r)?;
        records.push(r);
    }
    let violations = check(&sc.expect, &records);
    Ok(ScenarioResult {
        scenario: sc.clone(),
        records,
        violations,
        forecast: None,
        capacity: None,
    })
}

/// The expectation holds when every trial meets it.
pub fn check(expect: &Expect, records: &[TrialRecord]) -> Vec<String> {
    let mut out = Vec::new();
    for r in records {
        if r.outcome != expect.outcome {
            out.push(format!(
                "trial {}: outcome {}, expected {}",
                r.trial, r.outcome, expect.outcome
            ));
            continue;
        }
        if let Some(within) = expect.within {
            match r.time_to_failure_us {
                Some(us) if us as u128 <= within.as_micros() => {}
                Some(us) => out.push(format!(
                    "trial {}: {} after {:.1} ms, expected within {within:?}",
                    r.trial,
                    r.outcome,
                    us as f64 / 1000.0
                )),
                None => out.push(format!(
                    "trial {}: no failure time, expected one within {within:?}",
                    r.trial
                )),
            }
        }
        check_messages(expect, r, &mut out);
        check_resume(expect, r, &mut out);
        check_backlog(expect, r, &mut out);
        check_socket(expect, r, &mut out);
        check_rss(expect, r, &mut out);
        check_outages(expect, r, &mut out);
        if let Some(want) = &expect.sender_bind {
            // The claim is about the started senders' bind(): a trial that recorded
            // none (the fault never ran, or failed before the bind) cannot hold it.
            if !r.faults.iter().any(|f| f.bind.is_some()) {
                out.push(format!(
                    "trial {}: no restart-sender or second-sender fault recorded its bind(), expected {want}",
                    r.trial
                ));
            }
            for f in r.faults.iter() {
                let Some(got) = &f.bind else { continue };
                if got.to_string() != *want {
                    out.push(format!(
                        "trial {}: the started sender's bind() at {:.1} ms: {got}, expected {want}",
                        r.trial,
                        f.at_us as f64 / 1000.0
                    ));
                }
            }
        }
        if let Some(want) = expect.bytes_lost {
            match r.bytes_lost {
                Some(lost) if lost == want => {}
                Some(lost) => out.push(format!(
                    "trial {}: {lost} bytes lost, expected {want}",
                    r.trial
                )),
                None => out.push(format!(
                    "trial {}: bytes lost unknown (no sender summary), expected {want}",
                    r.trial
                )),
            }
        }
    }
    out
}

/// The socket claims: the time since the latest fault, the unanswered keep-alive
/// probes, the final TCP state.
fn check_socket(expect: &Expect, r: &TrialRecord, out: &mut Vec<String>) {
    let n = r.trial;
    if let Some((lo, hi)) = expect.since_fault {
        let at = r.time_to_failure_us.map(|t| t as i64);
        let fault = at.and_then(|t| r.faults.iter().rev().find(|f| f.at_us <= t));
        match (at, fault) {
            (Some(t), Some(f)) => {
                let d = Duration::from_micros((t - f.at_us) as u64);
                if d < lo || d > hi {
                    out.push(format!(
                        "trial {n}: {} {:.1} ms after {}, expected between {lo:?} and {hi:?}",
                        r.outcome,
                        d.as_secs_f64() * 1000.0,
                        f.action
                    ));
                }
            }
            _ => out.push(format!(
                "trial {n}: no failure after a fault, expected one {lo:?}-{hi:?} after it"
            )),
        }
    }
    let obs = r.observation.as_ref();
    if let Some(want) = expect.keepalive_probes {
        match obs.and_then(|o| o.wire.as_ref()) {
            Some(w) if w.unanswered_keep_alives == want => {}
            Some(w) => out.push(format!(
                "trial {n}: {} unanswered keep-alive probes on the wire, expected {want}",
                w.unanswered_keep_alives
            )),
            None => out.push(format!(
                "trial {n}: no capture to count keep-alive probes in, expected {want}"
            )),
        }
    }
    for (side, want) in [
        (Side::Sender, expect.rst_reason),
        (Side::Client, expect.client_rst_reason),
    ] {
        if let Some(want) = want {
            check_reset(n, side, want, obs, out);
        }
    }
    if let Some(want) = &expect.final_state {
        let last = obs
            .and_then(|o| o.timeline.as_ref())
            .and_then(|t| t.samples.last());
        match last {
            Some(s) if s.client.state == want => {}
            Some(s) => out.push(format!(
                "trial {n}: the client's socket was {} at the last sample, expected {want}",
                s.client.state
            )),
            None => out.push(format!(
                "trial {n}: no TCP_INFO sample, expected the state {want}"
            )),
        }
    }
}

/// `expect.rst_reason` (the sender's side) or `client_rst_reason`: an RST of that
/// side had this reason by the kernel's word, or the side sent none.
fn check_reset(
    n: u32,
    side: Side,
    want: ResetClaim,
    obs: Option<&crate::observe::Observation>,
    out: &mut Vec<String>,
) {
    let Some(k) = obs.and_then(|o| o.kernel.as_ref()) else {
        let why = obs
            .and_then(|o| o.notes.iter().find(|n| n.starts_with("no kernel events")))
            .map_or("the kernel's events were off".to_string(), |n| n.clone());
        out.push(format!(
            "trial {n}: {why}, so the {side}'s RST reasons are unknown; expected {want}"
        ));
        return;
    };
    let mut had: Vec<&str> = k
        .resets_from(side)
        .map(|r| r.reason_name.as_str())
        .collect();
    had.dedup();
    let held = match want {
        ResetClaim::NoReset => had.is_empty(),
        ResetClaim::Reason(r) => k.resets_from(side).any(|x| x.reason == Some(r)),
    };
    if !held {
        let got = match had.is_empty() {
            true => "no RST".to_string(),
            false => format!("RSTs with the reasons {}", had.join(", ")),
        };
        out.push(format!(
            "trial {n}: the {side}'s kernel sent {got}, expected {}",
            match want {
                ResetClaim::NoReset => "none".to_string(),
                ResetClaim::Reason(r) => format!("one with {r}"),
            }
        ));
    }
}

/// `resume_within`: every connection of the client got its first frame that soon
/// after its hello.
fn check_resume(expect: &Expect, r: &TrialRecord, out: &mut Vec<String>) {
    let Some(within) = expect.resume_within else {
        return;
    };
    let firsts = r
        .client
        .messages
        .as_ref()
        .map(|m| m.first_frame_us.clone())
        .unwrap_or_default();
    if firsts.is_empty() {
        out.push(format!(
            "trial {}: no connection got a first frame, expected each within {within:?} of its hello",
            r.trial
        ));
    }
    for (i, us) in firsts.iter().enumerate() {
        if u128::from(*us) > within.as_micros() {
            out.push(format!(
                "trial {}: connection {} got its first frame {:.1} ms after its hello, expected within {within:?}",
                r.trial,
                i + 1,
                *us as f64 / 1000.0
            ));
        }
    }
}

/// `max_lag`, `catches_up_within` and `fills`: the backlog over the trial, from the
/// sender's progress lines.
fn check_backlog(expect: &Expect, r: &TrialRecord, out: &mut Vec<String>) {
    use crate::analysis::backlog;
    let ms = |us: i64| format!("{:.0} ms", us as f64 / 1000.0);
    if let Some(max) = expect.max_lag {
        let Some(lags) = backlog::lags_once_caught_up(r) else {
            out.push(format!(
                "trial {}: the client never caught up with the producer ({} behind at most), expected a lag of at most {max:?}",
                r.trial,
                ms(backlog::CAUGHT_UP_US)
            ));
            return;
        };
        if let Some((t, lag)) = lags.iter().find(|(_, l)| *l as u128 > max.as_micros()) {
            out.push(format!(
                "trial {}: the client was {} behind the producer at {}, expected at most {max:?}",
                r.trial,
                ms(*lag),
                ms(*t)
            ));
        }
    }
    if let Some(within) = expect.catches_up_within {
        let behind = backlog::behind(r);
        if behind.is_empty() {
            out.push(format!(
                "trial {}: the client never fell more than {} behind, so nothing showed it catching up (expected within {within:?})",
                r.trial,
                ms(backlog::CAUGHT_UP_US)
            ));
        }
        let end = backlog::end_us(r);
        for b in &behind {
            let len = b.length_us(end);
            if len as u128 > within.as_micros() || (b.until_us.is_none() && len > 0) {
                out.push(format!(
                    "trial {}: behind from {} {}, expected to catch up within {within:?}",
                    r.trial,
                    ms(b.from_us),
                    match b.until_us {
                        Some(u) => format!("until {}", ms(u)),
                        None => "to the end".into(),
                    }
                ));
            }
        }
    }
    if let Some(want) = expect.fills {
        let full = r
            .sender_summary
            .as_ref()
            .and_then(|s| s.remedy.as_ref())
            .map_or(0, |m| m.full);
        if (full > 0) != want {
            out.push(format!(
                "trial {}: the queue or spool {} (on_full applied {full} times), expected it {}",
                r.trial,
                if full > 0 { "filled" } else { "never filled" },
                if want { "to fill" } else { "never to fill" }
            ));
        }
    }
}

/// `store_outage`: the spool's store was out of reach (and came back each time), or
/// never was.
fn check_outages(expect: &Expect, r: &TrialRecord, out: &mut Vec<String>) {
    let Some(want) = expect.store_outage else {
        return;
    };
    let o = &r.store_outages;
    if want && o.is_empty() {
        out.push(format!(
            "trial {}: the spool's store was never out of reach, expected an outage",
            r.trial
        ));
    }
    if want && let Some(open) = o.iter().find(|o| o.to_us.is_none()) {
        out.push(format!(
            "trial {}: the store went out of reach at {:.0} ms ({}) and was not back when the trial ended, expected the spool to resume",
            r.trial,
            open.from_us as f64 / 1000.0,
            open.reason
        ));
    }
    if !want && let Some(first) = o.first() {
        out.push(format!(
            "trial {}: the spool's store was out of reach at {:.0} ms ({}), expected never",
            r.trial,
            first.from_us as f64 / 1000.0,
            first.reason
        ));
    }
}

/// The external sender's memory: how much its resident memory grew (its peak less
/// its first sample), at least or at most so much.
fn check_rss(expect: &Expect, r: &TrialRecord, out: &mut Vec<String>) {
    let (min, max) = (expect.min_rss_growth, expect.max_rss_growth);
    if min.is_none() && max.is_none() {
        return;
    }
    let Some((first, peak)) = r.sender_program.as_ref().and_then(|p| p.rss_growth()) else {
        out.push(format!(
            "trial {}: the server's memory was never sampled",
            r.trial
        ));
        return;
    };
    let grew = peak.saturating_sub(first);
    if let Some(m) = min
        && grew < m
    {
        out.push(format!(
            "trial {}: the server's resident memory grew by {grew} B, expected at least {m} B",
            r.trial
        ));
    }
    if let Some(m) = max
        && grew > m
    {
        out.push(format!(
            "trial {}: the server's resident memory grew by {grew} B, expected at most {m} B",
            r.trial
        ));
    }
}

/// The message claims: lost, duplicates, reordered.
fn check_messages(expect: &Expect, r: &TrialRecord, out: &mut Vec<String>) {
    if expect.lost.is_none()
        && expect.duplicates.is_none()
        && expect.reordered.is_none()
        && expect.max_spool_bytes.is_none()
        && expect.min_dropped.is_none()
        && expect.drained_within.is_none()
    {
        return;
    }
    let Some(m) = &r.messages else {
        out.push(format!(
            "trial {}: no message accounting (the sender gave no summary{})",
            r.trial,
            r.sender_exited
                .as_ref()
                .map_or(String::new(), |e| format!("; it had exited by itself: {e}"))
        ));
        return;
    };
    let want_lost = expect.lost.map(|l| match l {
        Lost::Exactly(n) => (n, format!("{n}")),
        Lost::Dropped => (m.dropped, format!("the {} the sender dropped", m.dropped)),
    });
    for (what, got, want) in [
        ("lost", m.lost, want_lost),
        (
            "duplicates",
            m.duplicates,
            expect.duplicates.map(|n| (n, n.to_string())),
        ),
        (
            "reordered",
            m.reordered,
            expect.reordered.map(|n| (n, n.to_string())),
        ),
    ] {
        if let Some((n, said)) = want
            && got != n
        {
            out.push(format!("trial {}: {got} {what}, expected {said}", r.trial));
        }
    }
    if let Some(min) = expect.min_dropped
        && m.dropped < min
    {
        out.push(format!(
            "trial {}: the sender dropped {}, expected at least {min}: its queue never overflowed",
            r.trial, m.dropped
        ));
    }
    if let Some(max) = expect.max_spool_bytes {
        match m.spool_peak_bytes {
            Some(b) if b <= max => {}
            Some(b) => out.push(format!(
                "trial {}: the spool held {b} B at most, expected at most {max} B",
                r.trial
            )),
            None => out.push(format!("trial {}: no spool counts", r.trial)),
        }
    }
    if let Some(within) = expect.drained_within {
        match m.drained_after_us {
            Some(us) if us as u128 <= within.as_micros() => {}
            Some(us) => out.push(format!(
                "trial {}: the backlog drained {:.1} ms after the phases ended, expected within {within:?}",
                r.trial,
                us as f64 / 1000.0
            )),
            None => out.push(format!(
                "trial {}: the backlog never drained after the phases ended (or the sender has no phases), expected within {within:?}",
                r.trial
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::testing::record;
    use crate::record::{Ending, Outcome, SyscallError};

    fn reset_at(us: u64) -> Ending {
        Ending::Failed {
            error: SyscallError::new("send", "main", libc::ECONNRESET, us),
        }
    }

    fn expect(outcome: Outcome) -> Expect {
        Expect {
            outcome,
            within: None,
            bytes_lost: None,
            lost: None,
            duplicates: None,
            reordered: None,
            max_spool_bytes: None,
            min_dropped: None,
            drained_within: None,
            resume_within: None,
            max_lag: None,
            catches_up_within: None,
            fills: None,
            store_outage: None,
            sender_bind: None,
            since_fault: None,
            keepalive_probes: None,
            final_state: None,
            rst_reason: None,
            client_rst_reason: None,
            increasing: None,
            min_rss_growth: None,
            max_rss_growth: None,
        }
    }

    #[test]
    fn holds_when_every_trial_matches() {
        let rs = vec![
            record(reset_at(10), Some(130), 100),
            record(reset_at(20), None, 5),
        ];
        assert!(check(&expect(Outcome::Reset), &rs).is_empty());
    }

    #[test]
    fn a_single_other_outcome_breaks_it() {
        let rs = vec![
            record(reset_at(10), None, 0),
            record(Ending::Eof { at_us: 3 }, None, 0),
        ];
        let v = check(&expect(Outcome::Reset), &rs);
        assert_eq!(v, vec!["trial 1: outcome eof, expected reset"]);
    }

    #[test]
    fn within_is_checked_against_the_time_to_failure() {
        let mut e = expect(Outcome::Reset);
        e.within = Some(Duration::from_millis(1));
        assert!(check(&e, &[record(reset_at(1000), None, 0)]).is_empty());
        let v = check(&e, &[record(reset_at(1001), None, 0)]);
        assert_eq!(v.len(), 1);
        assert!(v[0].contains("expected within 1ms"), "{}", v[0]);
    }

    #[test]
    fn bytes_lost_must_be_exact_and_known() {
        let mut e = expect(Outcome::Eof);
        e.bytes_lost = Some(0);
        let eof = || Ending::Eof { at_us: 5 };
        assert!(check(&e, &[record(eof(), Some(130), 130)]).is_empty());
        assert_eq!(check(&e, &[record(eof(), Some(130), 117)]).len(), 1);
        assert!(check(&e, &[record(eof(), None, 130)])[0].contains("unknown"));
    }

    #[test]
    fn message_claims_are_checked_against_the_accounting() {
        use crate::record::MessageAccounting;
        let mut r = record(Ending::Survived { at_us: 5 }, None, 0);
        let mut e = expect(Outcome::Survived);
        e.lost = Some(Lost::Dropped);
        e.duplicates = Some(0);
        let v = check(&e, std::slice::from_ref(&r));
        assert!(v[0].contains("no message accounting"), "{v:?}");
        r.messages = Some(MessageAccounting {
            produced: 100,
            accepted: None,
            sent_first: 100,
            redelivered: 0,
            delivered: 90,
            duplicates: 0,
            lost: 10,
            void: 0,
            reordered: 0,
            dropped: 10,
            pending: Some(0),
            reconnects: 0,
            sender_restarts: 0,
            queue_peak_bytes: 0,
            spool_peak_messages: None,
            spool_peak_bytes: None,
            drained_after_us: None,
            latency: None,
            client_alone: false,
        });
        assert!(check(&e, std::slice::from_ref(&r)).is_empty());
        r.messages.as_mut().unwrap().dropped = 9;
        r.messages.as_mut().unwrap().duplicates = 2;
        let v = check(&e, std::slice::from_ref(&r));
        assert_eq!(
            v,
            [
                "trial 1: 10 lost, expected the 9 the sender dropped",
                "trial 1: 2 duplicates, expected 0"
            ]
        );
        // lost = "dropped" holds when nothing was lost and nothing dropped; the claim
        // that the queue overflowed needs min_dropped.
        let m = r.messages.as_mut().unwrap();
        (m.lost, m.dropped, m.duplicates) = (0, 0, 0);
        assert!(check(&e, std::slice::from_ref(&r)).is_empty());
        e.min_dropped = Some(1);
        assert_eq!(
            check(&e, std::slice::from_ref(&r)),
            ["trial 1: the sender dropped 0, expected at least 1: its queue never overflowed"]
        );
    }

    #[test]
    fn the_record_computes_loss_and_close_time() {
        let r = record(reset_at(10), Some(130), 117);
        assert_eq!(r.bytes_lost, Some(13));
        assert_eq!(r.sender_close_at_us, Some(3));
        assert_eq!(r.outcome, Outcome::Reset);
        assert_eq!(r.time_to_failure_us, Some(10));
    }
}
