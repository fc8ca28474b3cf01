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

use crate::analysis::capacity;
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

/// A capacity run: its length, the warm-up it leaves out, and its trials.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CapacityRun {
    pub duration: Duration,
    pub warmup: Duration,
    pub trials: u32,
}

/// What a scenario's rates of the capacity are measured with before its trials.
pub const SCENARIO_CAPACITY: CapacityRun = CapacityRun {
    duration: Duration::from_secs(3),
    warmup: Duration::from_secs(1),
    trials: 2,
};

/// The capacity run's framed sender: the patient one at its unlimited rate with a
/// blocking 64 MiB memory queue, so that data always waits for the client and no
/// disk is in the way.
const CAPACITY_QUEUE: u64 = 64 << 20;

/// Runs calibrations as cells need them, each once.
pub struct Calibrator {
    opts: ObserveOptions,
    fills: HashMap<String, Option<Capacity>>,
    capacities: HashMap<String, capacity::Capacity>,
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
            capacities: HashMap::new(),
        }
    }

    /// The capacity of `reference`'s client, measured once per command for each
    /// client and network setting.
    pub fn capacity(
        &mut self,
        reference: &Scenario,
        run: CapacityRun,
        say: &dyn Fn(&str),
    ) -> Result<capacity::Capacity> {
        let sc = capacity_run(reference, run)?;
        let key = format!("{} {run:?}", run_key(&sc, &sc));
        if let Some(c) = self.capacities.get(&key) {
            return Ok(*c);
        }
        say(&format!(
            "measuring the capacity of {}'s client ({} trial(s) of {:?})",
            reference.name, run.trials, run.duration
        ));
        let records = self.run(&sc)?;
        let c = match sc.sender.framed() {
            true => capacity::framed(&records, run.warmup.as_micros() as i64),
            false => capacity::bare(&records),
        };
        let Some(c) = c else {
            anyhow::bail!(
                "{}: the capacity run of its client measured nothing (no acknowledgement after the warm-up, or no bytes read)",
                reference.name
            );
        };
        Ok(*self.capacities.entry(key).or_insert(c))
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
        let key = run_key(&fill, sc);
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

/// What makes two calibration runs the same: `run`'s sender and client, and
/// `cell`'s network and sysctls.
fn run_key(run: &Scenario, cell: &Scenario) -> String {
    format!(
        "{:?} {:?} {:?} {:?} {:?}",
        run.sender_config.setup.args,
        run.client,
        run.strategy.name(),
        cell.net,
        cell.sysctls
    )
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

/// The capacity run of `sc`'s client: a framed one against the patient sender at
/// its unlimited rate, a bare one against the original's tight loop with a 1 MiB
/// send buffer (the drain run). No faults, the scenario's network and sysctls.
pub fn capacity_run(sc: &Scenario, run: CapacityRun) -> Result<Scenario> {
    let mut out = calibration(sc, "capacity", run.duration);
    out.trials = run.trials;
    out.faults = Default::default();
    if sc.sender.framed() {
        let pairs = [
            "rate=unlimited".to_string(),
            format!("queue_bytes={CAPACITY_QUEUE}"),
            "on_full=block".into(),
        ];
        let mut keys = Keys::from_pairs(Path::new("the capacity run"), "sender", &pairs)?;
        out.sender = &crate::sender::patient::Patient;
        out.sender_config.setup = out.sender.configure(&mut keys)?;
    } else {
        out.sender = &crate::sender::original::Original;
        out.sender_config.setup = original(None, Some(DRAIN_SNDBUF), ClosePolicy::Close)?;
    }
    Ok(out)
}

/// The drain run: the cell's client against the tight loop with a 1 MiB send buffer.
fn drain_run(sc: &Scenario, policy: ClosePolicy) -> Result<Scenario> {
    let mut out = calibration(sc, "drain", sc.client.duration.min(DRAIN_RUN));
    out.sender_config.setup = original(None, Some(DRAIN_SNDBUF), policy)?;
    Ok(out)
}
