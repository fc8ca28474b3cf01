//! The progress bar of a long run, on stderr: trials done out of the total, the
//! scenario or cell running, and the time left. It appears once the run has taken
//! about a second, and never when stderr is not a terminal or with `--quiet`, so a
//! pipe or a log file gets no control characters from it.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a run goes before the bar appears.
const SHOW_AFTER: Duration = Duration::from_secs(1);

pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    /// False when the bar may never be drawn (not a terminal, or --quiet).
    allowed: bool,
}

impl Progress {
    /// A bar over `trials` trials, drawn only if `wanted` and stderr is a terminal.
    pub fn new(trials: u64, wanted: bool) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(trials), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{bar:30}] {pos}/{len} trials  {elapsed_precise} elapsed, {eta} left  {wide_msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        Progress {
            bar,
            started: Instant::now(),
            allowed: wanted && std::io::stderr().is_terminal(),
        }
    }

    /// Whether the bar is on the screen (notes then go through it).
    pub fn visible(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// The scenario or cell now running.
    pub fn running(&self, what: &str) {
        self.bar.set_message(what.to_string());
        self.show_if_due();
    }

    /// One more trial done.
    pub fn trial_done(&self) {
        self.bar.inc(1);
        self.show_if_due();
    }

    fn show_if_due(&self) {
        if self.allowed && self.bar.is_hidden() && self.started.elapsed() >= SHOW_AFTER {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.bar.enable_steady_tick(Duration::from_millis(200));
        }
    }

    /// Runs `f` (which prints) with the bar cleared, then draws it again.
    pub fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        self.bar.suspend(f)
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
