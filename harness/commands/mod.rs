//! One module per subcommand; [`dispatch`] picks it. Each takes its own clap
//! arguments (from [`crate::cli`]), turns them into the library's options, and
//! returns the exit code: 0 every expectation held, 1 one did not, 2 (an `Err`) a
//! harness or input error.

pub mod boundary;
pub mod broker;
pub mod capacity;
pub mod client;
pub mod compare;
pub mod diagnose;
pub mod list;
pub mod predict;
pub mod run;
pub mod serve;
pub mod spool;
pub mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::{BrokerCommand, Command, SpoolCommand};

/// Runs the command.
pub fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Serve(a) => serve::serve(&a),
        Command::List => list::list(),
        Command::Run(a) => run::run(a),
        Command::Compare(a) => compare::compare(a),
        Command::Predict(a) => predict::predict(&a),
        Command::Capacity(a) => capacity::capacity(&a),
        Command::Boundary(a) => boundary::boundary(&a),
        Command::Diagnose(a) => diagnose::diagnose(&a),
        Command::Client(a) => client::client(a),
        Command::Spool(SpoolCommand::Inspect { dir }) => spool::spool_inspect(&dir),
        Command::Broker(BrokerCommand::Up(a)) => broker::up(&a),
        Command::Watch(a) => watch::watch(&a),
    }
}

/// Whether the command runs trials, and so must stop cleanly on a signal or a closed
/// stdout.
pub fn runs_trials(command: &Command) -> bool {
    !matches!(
        command,
        Command::Serve(_) | Command::List | Command::Spool(_) | Command::Diagnose(_)
    )
}

/// The isolation a command's trials ask for, which may need a user namespace before
/// any thread exists.
pub fn isolation(command: &Command) -> Option<crate::observe::IsolationMode> {
    match command {
        Command::Run(crate::cli::RunArgs { overrides, .. })
        | Command::Compare(crate::cli::CompareArgs { overrides, .. })
        | Command::Boundary(crate::cli::BoundaryArgs { overrides, .. }) => {
            Some(overrides.observe.isolation)
        }
        Command::Predict(crate::cli::PredictArgs { isolation, .. })
        | Command::Capacity(crate::cli::CapacityArgs { isolation, .. }) => Some(*isolation),
        _ => None,
    }
}

/// This executable, which trials run again as `zerowin serve` to start a sender.
pub fn exe() -> Result<PathBuf> {
    std::env::current_exe().context("finding the zerowin executable to start the sender")
}
