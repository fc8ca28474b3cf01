//! The report's backlog block: the client's capacity C, the backlog model's
//! forecast from C and the sender's schedule, and what each trial's backlog did.

use crate::analysis::backlog::{self, Forecast};
use crate::analysis::capacity::{Capacity, thousands};
use crate::record::TrialRecord;
use crate::runner::ScenarioResult;

/// The block, for a scenario whose rates were set from a measured capacity.
pub fn block(res: &ScenarioResult) -> String {
    let Some(c) = res.capacity else {
        return String::new();
    };
    let reference = res
        .scenario
        .capacity_of
        .as_ref()
        .map_or(res.scenario.name.clone(), |s| s.name.clone());
    let mut s = format!(
        "Capacity: C = {} of {reference}'s client ({} run(s), {}; min-max {}-{}/s)\n",
        c.text(),
        c.trials,
        c.method.describe(),
        thousands(c.min_per_s),
        thousands(c.max_per_s)
    );
    // The model is of the measured client; another client only shows its backlog.
    let f = forecast(res, &c).filter(|_| res.scenario.capacity_of.is_none());
    for r in res.records.iter().filter(|r| !r.backlog.is_empty()) {
        s.push_str(&trial_lines(f.as_ref(), r));
    }
    s
}

/// The model's forecast from the scenario's resolved schedule.
pub fn forecast(res: &ScenarioResult, c: &Capacity) -> Option<Forecast> {
    let (phases, rate, store) = crate::sender::schedule_of(&res.scenario.sender_config.setup)?;
    Some(backlog::forecast(&phases, rate, c.per_s, store))
}

/// One trial against the model: each spike's drain time, and the growth above C.
fn trial_lines(f: Option<&Forecast>, r: &TrialRecord) -> String {
    let mut s = String::new();
    let behind = backlog::behind(r);
    let peak = r.backlog.iter().map(|p| p.backlog()).max().unwrap_or(0);
    s.push_str(&format!(
        "  trial {}: backlog at most {} messages; behind the producer {} time(s)\n",
        r.trial,
        thousands(peak as f64),
        behind.len()
    ));
    let Some(f) = f else {
        return s;
    };
    let end = backlog::end_us(r);
    for (i, sp) in f.spikes.iter().enumerate() {
        let Some(model) = sp.drain_s else { continue };
        // The stretch behind that this spike made: the first that ends after it.
        let seen = behind
            .iter()
            .find(|b| b.until_us.is_none_or(|u| u >= sp.ends_us))
            .map(|b| b.until_us.map(|u| (u - sp.ends_us) as f64 / 1e6));
        let measured = match seen {
            Some(Some(m)) => format!(
                "measured {m:.2} s ({:+.0}%)",
                (model - m) / m.max(1e-3) * 100.0
            ),
            Some(None) => format!(
                "not caught up by the end ({:.2} s later)",
                (end - sp.ends_us) as f64 / 1e6
            ),
            None => "no backlog seen".into(),
        };
        s.push_str(&format!(
            "    spike {} leaves {} messages; model: drained {model:.2} s after it; {measured}\n",
            i + 1,
            thousands(sp.backlog)
        ));
    }
    if let Some(g) = f.growth_per_s {
        let grew = backlog::growth_per_s(&r.backlog, 500_000, fill_us(r).unwrap_or(end));
        let m = grew.map_or("unmeasured".into(), |m| {
            format!(
                "measured {}/s ({:+.0}%)",
                thousands(m),
                (g - m) / m.max(1.0) * 100.0
            )
        });
        s.push_str(&format!(
            "    growth above C: model R − C = {}/s; {m}\n",
            thousands(g)
        ));
        if let (Some(model), Some(t)) = (f.fill_s, fill_us(r)) {
            s.push_str(&format!(
                "    spool full: model {model:.2} s; first found full in the line at {:.2} s\n",
                t as f64 / 1e6
            ));
            if let Some((p, a)) = rates_after(r, t) {
                s.push_str(&format!(
                    "    after that: produced {}/s, acknowledged {}/s (on_full applied)\n",
                    thousands(p),
                    thousands(a)
                ));
            }
        }
    }
    s
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
