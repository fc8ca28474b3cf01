//! The report's backlog block: the client's capacity C, the backlog model's
//! forecast from C and the sender's schedule, and what each trial's backlog did.

use crate::analysis::backlog::{self, Forecast};
use crate::analysis::capacity::{Capacity, thousands};
use crate::record::TrialRecord;
use crate::runner::ScenarioResult;
use crate::scenario::Scenario;

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
    let f = forecast(&res.scenario, &c)
        .ok()
        .filter(|_| res.scenario.capacity_of.is_none());
    for r in res.records.iter().filter(|r| !r.backlog.is_empty()) {
        s.push_str(&trial_lines(f.as_ref(), r));
    }
    s
}

/// The backlog model's forecast from the scenario's paced rates (resolved) and C,
/// or why there is none.
pub fn forecast(sc: &Scenario, c: &Capacity) -> Result<Forecast, String> {
    use crate::sender::framed::schedule::Rate;
    let setup = &sc.sender_config.setup;
    let Some(pace) = &setup.pace else {
        return Err(format!(
            "the {} sender is not paced by phases and a rate",
            sc.sender.name()
        ));
    };
    let per_s = |r: Rate| match r {
        Rate::PerSecond(v) => Ok(v),
        Rate::Unlimited => Err(
            "an unlimited rate is the producer's own speed, which the model does not know"
                .to_string(),
        ),
        Rate::OfCapacity(_) => Err("a rate of the capacity is not resolved yet".to_string()),
    };
    let phases = pace
        .phases
        .iter()
        .map(|p| Ok((p.duration.as_secs_f64(), per_s(p.rate)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let store = setup.store_messages.map_or(f64::INFINITY, |n| n as f64);
    Ok(backlog::forecast(
        &phases,
        per_s(pace.rate)?,
        c.per_s,
        store,
    ))
}

/// The forecast alone, for `predict`.
pub fn forecast_lines(f: &Forecast) -> String {
    let mut s = String::new();
    for (i, sp) in f.spikes.iter().enumerate() {
        let drain = sp.drain_s.map_or(
            "does not drain: the rate after it is not below C".into(),
            |d| format!("drains in {d:.2} s"),
        );
        s.push_str(&format!(
            "  spike {} (ends at {:.2} s): leaves {} messages, {drain}\n",
            i + 1,
            sp.ends_us as f64 / 1e6,
            thousands(sp.backlog)
        ));
    }
    match (f.growth_per_s, f.fill_s) {
        (Some(g), Some(t)) if t.is_finite() => s.push_str(&format!(
            "  above C: grows by {}/s; its store is full after {t:.2} s\n",
            thousands(g)
        )),
        (Some(g), _) => s.push_str(&format!(
            "  above C: grows by {}/s, without a bound\n",
            thousands(g)
        )),
        (None, _) if f.spikes.is_empty() => {
            s.push_str("  the rate stays at or below C: no backlog\n")
        }
        (None, _) => {}
    }
    s
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
    s.push_str(&growth_lines(f, r));
    s
}

/// Above capacity: the growth against R − C, and when the spool filled.
fn growth_lines(f: &Forecast, r: &TrialRecord) -> String {
    let mut s = String::new();
    let Some(g) = f.growth_per_s else {
        return s;
    };
    let fill = backlog::fill_us(r);
    let grew = backlog::growth_per_s(&r.backlog, 500_000, fill.unwrap_or(backlog::end_us(r)));
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
    if let (Some(model), Some(t)) = (f.fill_s, fill) {
        s.push_str(&format!(
            "    spool full: model {model:.2} s; first found full in the line at {:.2} s\n",
            t as f64 / 1e6
        ));
        if let Some((p, a)) = backlog::rates_after(r, t) {
            s.push_str(&format!(
                "    after that: produced {}/s, acknowledged {}/s (on_full applied)\n",
                thousands(p),
                thousands(a)
            ));
        }
    }
    s
}
