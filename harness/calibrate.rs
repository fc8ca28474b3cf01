//! The calibration runs of the model (`analysis::model`): short runs, apart from the
//! trials the model predicts, that measure what it needs.
//!
//! - A *fill* run: the cell's buffers, network and sysctls, with the sender paced at
//!   twice the cell's pace against the cell's client (or, for the tight loop,
//!   the tight loop against the naive client reading 10 bytes every half second).
//!   It measures the capacity C. It is needed only when the client is slower than
//!   the sender.
//! - A *drain* run: the cell's client against the unpaced original sender with a
//!   1 MiB SO_SNDBUF, so that data always waits for the client. It measures the
//!   client's drain rate D, the time to the first data T0, and the tight loop's S.
//!
//! Each run has three trials. A fill run is made once per distinct sender, buffer and
//! network setting in a command (the cells of a delay sweep share one); a drain run
//! is made for every cell, just before its trials, because S and D move with the
//! machine's load (on this 2-core machine the tight loop's S moved between 9 and 13
//! MB/s from one run to the next).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::analysis::model::{self, Capacity, Forecast};
use crate::observe::ObserveOptions;
use crate::record::TrialRecord;
use crate::runner;
use crate::scenario::Scenario;
use crate::sender::{ClosePolicy, Load, Sender};
use crate::settings::Keys;
use crate::strategy;

/// Trials per calibration run.
pub const TRIALS: u32 = 3;
/// The fill run's client reads this often.
const STALL: Duration = Duration::from_millis(500);
/// The drain run's sender buffer, and its longest run.
const DRAIN_SNDBUF: usize = 1 << 20;
/// A paced sender's fill run goes this many times faster.
const FILL_PACE: f64 = 2.0;
const DRAIN_RUN: Duration = Duration::from_secs(2);

/// Runs calibrations as cells need them, each once.
pub struct Calibrator {
    opts: ObserveOptions,
    fills: HashMap<String, Option<Capacity>>,
}

impl Calibrator {
    /// Calibration trials are observed as the predicted ones are, without their files.
    pub fn new(opts: &ObserveOptions) -> Calibrator {
        Calibrator {
            opts: ObserveOptions {
                pcap_dir: None,
                plot_dir: None,
                ..opts.clone()
            },
            fills: HashMap::new(),
        }
    }

    /// The model's forecast for `sc`, calibrating first what it has not yet; `say`
    /// hears each calibration run as it starts.
    pub fn forecast(&mut self, sc: &Scenario, say: &dyn Fn(&str)) -> Result<Forecast> {
        let (rate, sndbuf, policy) = match covered(sc) {
            Ok(load) => load,
            Err(why) => return Ok(Forecast::NotModelled { why }),
        };
        // S and D move with the machine's load from one second to the next, so every
        // cell has its own drain run, made just before its trials.
        say(&format!(
            "calibrating the model: a drain run of {}",
            sc.stem
        ));
        let Some(drain) = model::drain(&self.run(&drain_run(sc, policy)?)?) else {
            return Ok(no_summary());
        };
        let duration_ms = sc.client.duration.as_secs_f64() * 1e3;
        if model::keeps_up(rate, &drain) {
            return Ok(model::predict(rate, None, drain, duration_ms));
        }
        let fill = fill_run(sc, rate, sndbuf, policy)?;
        let key = format!(
            "{:?} {:?} {:?} {:?} {:?}",
            fill.sender_config.setup.args,
            fill.client,
            fill.strategy.name(),
            sc.net,
            sc.sysctls
        );
        let capacity = match self.fills.get(&key) {
            Some(c) => *c,
            None => {
                say(&format!("calibrating the model: a fill run of {}", sc.stem));
                let c = model::capacity(&self.run(&fill)?);
                *self.fills.entry(key).or_insert(c)
            }
        };
        Ok(match capacity {
            Some(c) => model::predict(rate, Some(c), drain, duration_ms),
            None => no_summary(),
        })
    }

    fn run(&self, sc: &Scenario) -> Result<Vec<TrialRecord>> {
        Ok(runner::run_scenario(sc, &self.opts, |_| Ok(()))?.records)
    }
}

fn no_summary() -> Forecast {
    Forecast::NotModelled {
        why: "a calibration run gave no sender summary".into(),
    }
}

/// The original sender's pacing, buffer and close policy when the model covers the
/// scenario, or why it does not.
fn covered(sc: &Scenario) -> Result<(Option<f64>, Option<usize>, ClosePolicy), String> {
    let load = match sc.sender_config.setup.load {
        Load::ClosesWhenFull {
            rate,
            sndbuf,
            policy,
        } => (rate, sndbuf, policy),
        Load::NotModelled(why) => return Err(why.to_string()),
    };
    if sc.strategy.is_external() || sc.client.framed {
        return Err(format!(
            "the model calibrates the built-in unframed clients, not {}",
            sc.strategy.name()
        ));
    }
    if !sc.faults.is_empty() {
        return Err("the model does not cover a fault schedule".into());
    }
    if sc.client.rcvbuf.is_none() {
        return Err(
            "the client's receive buffer is autotuned (no client.rcvbuf), so its capacity grows during the run"
                .into(),
        );
    }
    Ok(load)
}

/// A calibration run of `sc`: its own stem, three trials, no sweep.
fn calibration(sc: &Scenario, what: &str, duration: Duration) -> Scenario {
    let mut out = sc.clone();
    out.stem = format!("{}-calibrate-{what}", sc.stem);
    out.cell_of = None;
    out.trials = TRIALS;
    out.predict = false;
    let slack = sc.client.deadline.saturating_sub(sc.client.duration);
    out.client.duration = duration;
    out.client.deadline = duration + slack;
    out
}

/// The original sender with these settings.
fn original(
    rate: Option<f64>,
    sndbuf: Option<usize>,
    policy: ClosePolicy,
) -> Result<crate::sender::SenderSetup> {
    let mut pairs = vec![format!("close_policy={}", policy.as_str())];
    pairs.extend(sndbuf.map(|b| format!("sndbuf={b}")));
    pairs.extend(rate.map(|r| format!("rate={r}/s")));
    let mut keys = Keys::from_pairs(Path::new("calibration"), "sender", &pairs)?;
    Ok(crate::sender::original::Original.configure(&mut keys)?)
}

/// The fill run. A paced sender runs at twice its pace against the cell's own
/// client, so that the segments and the reads are the cell's and the buffers fill
/// in a fraction of the time. The tight loop cannot go faster, so its client is
/// slowed instead: the naive client reading 10 bytes every half second.
fn fill_run(
    sc: &Scenario,
    rate: Option<f64>,
    sndbuf: Option<usize>,
    policy: ClosePolicy,
) -> Result<Scenario> {
    let mut out = calibration(sc, "fill", sc.client.duration);
    match rate {
        Some(r) => out.sender_config.setup = original(Some(r * FILL_PACE), sndbuf, policy)?,
        None => {
            out.strategy = &strategy::naive::Naive;
            out.client.reply = out.strategy.default_reply().as_bytes().to_vec();
            out.client.own = strategy::Own::new(strategy::naive::Settings { recv_size: 10 });
            out.client.delay = STALL;
        }
    }
    Ok(out)
}

/// The drain run: the cell's client against the tight loop with a 1 MiB send buffer.
fn drain_run(sc: &Scenario, policy: ClosePolicy) -> Result<Scenario> {
    let mut out = calibration(sc, "drain", sc.client.duration.min(DRAIN_RUN));
    out.sender_config.setup = original(None, Some(DRAIN_SNDBUF), policy)?;
    Ok(out)
}
