//! A program zerowin ran but did not write (an external sender, a helper), as plain
//! data: its command, when it started and was ready, how it ended, what it said,
//! and its memory over the trial.

use serde::Serialize;

/// One program's run over a trial, every life of it (a restarted sender's too).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProgramRun {
    /// The command line, placeholders filled in.
    pub command: Vec<String>,
    /// CLOCK_MONOTONIC ns when it was first started, and when it was first ready (an
    /// external sender: its port listened, or its output matched `ready`).
    pub started_ns: u64,
    pub ready_ns: Option<u64>,
    /// How its last life ended: "exited with code 0", "was killed by SIGKILL".
    pub exit: String,
    /// Its exit code, when it exited by itself or after SIGTERM.
    pub code: Option<i32>,
    /// True when it had ended before zerowin stopped it (a crash, for a server).
    pub exited_early: bool,
    /// True when it ignored SIGTERM for the grace period and was killed with SIGKILL.
    pub needed_sigkill: bool,
    /// True when a fault (`kill-sender`) had killed it, and it was not started again.
    pub killed_by_fault: bool,
    /// Times it was started again (`restart-sender`).
    pub restarts: u32,
    /// The last 4 KiB of its standard output and error, over every life.
    pub stdout_tail: String,
    pub stderr_tail: String,
    /// The most resident memory its process group held at once, sampled from
    /// `/proc/PID/statm` every [`RSS_EVERY_MS`] ms; None when never sampled.
    pub peak_rss_bytes: Option<u64>,
    /// The group's resident memory over the trial: (CLOCK_MONOTONIC ns, bytes), at
    /// most [`RSS_POINTS`] points (thinned evenly when there were more).
    pub rss: Vec<(u64, u64)>,
}

/// How often a program's memory is sampled.
pub const RSS_EVERY_MS: u64 = 20;
/// The most points of memory a record keeps.
pub const RSS_POINTS: usize = 500;

impl ProgramRun {
    /// Its resident memory once it was ready (its first sample after, so that its
    /// own start-up does not count as growth) and at its peak, bytes.
    pub fn rss_growth(&self) -> Option<(u64, u64)> {
        let ready = self.ready_ns.unwrap_or(0);
        let at_ready = self.rss.iter().find(|p| p.0 >= ready).or(self.rss.last())?;
        Some((at_ready.1, self.peak_rss_bytes?))
    }

    /// The command as one line, control characters replaced.
    pub fn command_line(&self) -> String {
        crate::words::clean(&self.command.join(" "))
    }
}
