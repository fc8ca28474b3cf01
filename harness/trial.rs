//! Running one trial: start the sender, run the client strategy against it, collect
//! the sender's summary, tear everything down, and assemble one [`TrialRecord`].
//! This module runs things; it does not judge or print them.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::record::TrialRecord;
use crate::scenario::Scenario;
use crate::strategy;

/// How long to wait for the sender's summary after the client is done. The sender
/// prints it right after its close(), which the client's error already followed.
const SUMMARY_WAIT: Duration = Duration::from_secs(1);

/// Runs trial number `n` (1-based) of a scenario.
pub fn run(sc: &Scenario, n: u32) -> Result<TrialRecord> {
    let started = Instant::now();
    let mut sender = sc
        .sender
        .start(&sc.sender_config)
        .with_context(|| format!("starting the `{}` sender", sc.sender.name()))?;
    let client = strategy::run_client(sc.strategy, sender.addr, &sc.client)?;
    // The client socket is closed by now: a sender still sending hits the closed
    // connection, fails its send() and prints its summary too.
    let summary = sender.summary(SUMMARY_WAIT);
    sender.stop()?;
    let trial_us = started.elapsed().as_micros() as u64;
    Ok(TrialRecord::assemble(
        &sc.name,
        n,
        sc.sender.name(),
        sc.sender_config.close_policy.as_str(),
        client,
        summary,
        trial_us,
    ))
}
