//! The zerowin binary: parse the command line, run, print, exit.
//! Exit codes: 0 every expectation held (or the output's reader went away), 1 one did
//! not, 2 harness or input error, 128 + the signal after SIGINT (130) or SIGTERM (143).

use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use zerowin::cli::Cli;
use zerowin::commands;
use zerowin::observe::isolation;
use zerowin::process::{self, Interrupted};
use zerowin::report::output::{OutputClosed, clean, note};

/// How long the main thread has, after a signal, to keep what finished and exit.
const SIGNAL_GRACE: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any thread exists: an unprivileged user may need a user namespace.
    if let Some(i) = commands::isolation(&cli.command) {
        isolation::prepare_process(i);
    }
    let result = (|| {
        if commands::runs_trials(&cli.command) {
            // Whatever runs trials stops cleanly on a signal or a closed stdout.
            process::stop_on_signals(SIGNAL_GRACE)?;
            process::stop_when_closed(std::io::stdout().as_raw_fd());
        }
        commands::dispatch(cli.command)
    })();
    match result {
        Ok(code) => code,
        Err(e) => exit_for(&e),
    }
}

/// The exit code of a failed command, after saying why.
fn exit_for(e: &anyhow::Error) -> ExitCode {
    // A stop explains whatever error the stopped trial ran into.
    match process::interrupted() {
        Some(Interrupted::OutputClosed) => return ExitCode::SUCCESS,
        Some(i) => {
            note(&format!("zerowin: {i}"));
            return ExitCode::from(i.exit_code());
        }
        None => {}
    }
    if e.downcast_ref::<OutputClosed>().is_some() {
        process::kill_all();
        return ExitCode::SUCCESS;
    }
    note(&format!("zerowin: error: {}", clean(&format!("{e:#}"))));
    ExitCode::from(2)
}
