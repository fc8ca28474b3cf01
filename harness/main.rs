//! The zerowin binary: parse the command line, run, print, exit.
//! Exit codes: 0 every expectation held (or the output's reader went away), 1 one did
//! not, 2 harness or input error, 128 + the signal after SIGINT (130) or SIGTERM (143).

use std::net::ToSocketAddrs;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;

use zerowin::cli::{
    BoundaryArgs, Cli, ClientArgs, Command, CompareArgs, PredictArgs, RunArgs, ServeArgs,
    SpoolCommand,
};
use zerowin::observe::isolation;
use zerowin::process::{self, Interrupted};
use zerowin::record::TrialRecord;
use zerowin::report::export::{Export, ExportTarget};
use zerowin::report::json::Json;
use zerowin::report::output::{Out, OutputClosed, Stream, clean, note};
use zerowin::report::text::{self, Layout};
use zerowin::scenario::shipped;
use zerowin::sender;
use zerowin::sender::original::{self, ServeArgs as CServeArgs};
use zerowin::session::{self, Detail, Session};
use zerowin::strategy::{self, ClientParams};

/// How long the main thread has, after a signal, to keep what finished and exit.
const SIGNAL_GRACE: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any thread exists: an unprivileged user may need a user namespace.
    let isolation = match &cli.command {
        Command::Run(RunArgs { overrides, .. })
        | Command::Compare(CompareArgs { overrides, .. })
        | Command::Boundary(BoundaryArgs { overrides, .. }) => Some(overrides.observe.isolation),
        Command::Predict(PredictArgs { isolation, .. }) => Some(*isolation),
        _ => None,
    };
    if let Some(i) = isolation {
        isolation::prepare_process(i);
    }
    match dispatch(cli) {
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

fn dispatch(cli: Cli) -> Result<ExitCode> {
    if !matches!(
        cli.command,
        Command::Serve(_) | Command::List | Command::Spool(_)
    ) {
        // Whatever runs trials stops cleanly on a signal or a closed stdout.
        process::stop_on_signals(SIGNAL_GRACE)?;
        process::stop_when_closed(std::io::stdout().as_raw_fd());
    }
    match cli.command {
        Command::Serve(a) => serve(&a),
        Command::List => list(),
        Command::Run(a) => run(a),
        Command::Compare(a) => compare(a),
        Command::Predict(a) => {
            zerowin::commands::predict(&a, &exe()?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Boundary(a) => Ok(match zerowin::commands::boundary(&a, &exe()?)? {
            true => ExitCode::SUCCESS,
            false => ExitCode::from(1),
        }),
        Command::Client(a) => client(a),
        Command::Spool(SpoolCommand::Inspect { dir }) => spool_inspect(&dir),
    }
}

fn spool_inspect(dir: &std::path::Path) -> Result<ExitCode> {
    let (d, disk, how) = zerowin::store::inspect(dir)?;
    let seq = |n: u64| {
        if n == 0 {
            "-".to_string()
        } else {
            n.to_string()
        }
    };
    let text = format!(
        "spool {}
  depth        {} messages ({} B of messages)
  first        {}
  last         {}
  acknowledged {}
  reserved     {} (a restarted sender numbers after this)
  on disk      {} B
  read         {}
",
        clean(&dir.display().to_string()),
        d.messages,
        d.bytes,
        seq(d.first),
        seq(d.last),
        seq(d.acked),
        seq(d.reserved),
        disk,
        match how {
            zerowin::store::Inspected::InPlace => "in place, read-only (it was closed cleanly)",
            zerowin::store::Inspected::RepairedCopy => {
                "from a repaired copy: a sender was killed with it open, and repair writes; the spool itself was not changed"
            }
        }
    );
    Out::new(Stream::Stdout, true).print(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn exe() -> Result<PathBuf> {
    std::env::current_exe().context("finding the zerowin executable to start the sender")
}

fn run(a: RunArgs) -> Result<ExitCode> {
    let loaded = session::load(&a.paths, &exe()?, &a.overrides.assigns())?;
    let scenarios = a.overrides.apply(&loaded.scenarios)?;
    let s = Session::open(
        &a.overrides.outputs,
        &a.overrides.observe,
        a.quiet,
        true,
        &loaded.inputs(),
    )?;
    for sc in &scenarios {
        sc.check_isolation(s.opts.isolation)?;
    }
    let detail = if a.quiet {
        Detail::Verdicts
    } else {
        Detail::Full
    };
    let results = s.run(&scenarios, detail)?;
    let failed = results.iter().filter(|r| !r.passed()).count();
    s.out.print(&format!(
        "\nSummary\n{}{} passed, {} failed\n",
        text::summary_table(&results, s.layout),
        results.len() - failed,
        failed
    ))?;
    s.finish(&results)?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn compare(a: CompareArgs) -> Result<ExitCode> {
    let loaded = session::load(
        std::slice::from_ref(&a.file),
        &exe()?,
        &a.overrides.assigns(),
    )?;
    // compare is a sweep over the senders and the strategies: every cell of the file
    // (one, unless it sweeps) with every pair. Every variant is built and checked
    // before any of them runs.
    let mut variants = Vec::new();
    let mut notes = Vec::new();
    for cell in &loaded.scenarios {
        let base = a.overrides.apply(std::slice::from_ref(cell))?.remove(0);
        let (v, n) =
            session::compare_variants(&base, a.strategies.as_deref(), a.senders.as_deref())?;
        variants.extend(v);
        notes.extend(
            n.into_iter()
                .filter(|n| !notes.contains(n))
                .collect::<Vec<_>>(),
        );
    }
    let total = variants.len();
    for (index, v) in variants.iter_mut().enumerate() {
        v.cell_of = Some(zerowin::scenario::CellOf { index, total });
    }
    session::unique_stems(&mut variants);
    let s = Session::open(
        &a.overrides.outputs,
        &a.overrides.observe,
        false,
        false,
        &loaded.inputs(),
    )?;
    for v in &variants {
        v.check_isolation(s.opts.isolation)?;
    }
    let base = &variants[0];
    let names: Vec<String> = variants
        .iter()
        .map(|v| format!("{}+{}", v.sender.name(), v.strategy.name()))
        .collect();
    let mut header = text::compare_header(base, &names);
    for n in &notes {
        header.push_str(&format!("  ({n})\n"));
    }
    s.out.print(&header)?;
    let results = s.run(&variants, Detail::Nothing)?;
    let mut report = text::compare_table(&results, s.layout);
    report.push_str(&session::sweep_table(&results, s.layout));
    for r in &results {
        if let Some(first) = r.records.first() {
            report.push_str(&format!(
                "{} with {}{}, trial 1:\n",
                r.scenario.strategy.name(),
                r.scenario.sender.name(),
                r.scenario.cell_label()
            ));
            report.push_str(&text::explain(first));
        }
    }
    s.out.print(&report)?;
    s.finish(&results)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs a sender in the foreground. The original keeps its own flags; every sender
/// also takes its scenario keys as `--set KEY=VALUE`, checked by the sender itself.
fn serve(a: &ServeArgs) -> Result<ExitCode> {
    let is_original = a.sender.name() == "original";
    if a.original_flags() && !(is_original && a.set.is_empty()) {
        bail!(
            "--sndbuf, --close-policy, --log, --drain-timeout-ms and --rate are the original sender's own flags; use --set KEY=VALUE with --sender {}",
            a.sender.name()
        );
    }
    let code = if is_original && a.set.is_empty() {
        let args = CServeArgs {
            port: a.port,
            bind: Some(a.bind.clone()),
            sndbuf: a.sndbuf,
            close_policy: a.close_policy.unwrap_or_default(),
            log: a.log.clone(),
            drain_timeout_ms: a.drain_timeout_ms.unwrap_or(30_000),
            rate: a.rate,
        };
        original::serve_in_process(&args)
    } else {
        a.sender.serve(a.port, &a.bind, &a.set)?
    };
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

fn client(a: ClientArgs) -> Result<ExitCode> {
    let addr = a
        .connect
        .to_socket_addrs()
        .with_context(|| format!("--connect {}: not a HOST:PORT", a.connect))?
        .next()
        .with_context(|| format!("--connect {}: no address", a.connect))?;
    let export = a
        .json
        .as_deref()
        .map(|p| ExportTarget::open(Box::new(Json), p, &[]))
        .transpose()?;
    let to_stdout = export.as_ref().is_some_and(|e| e.is_stdout());
    let out = Out::new(
        if to_stdout {
            Stream::Stderr
        } else {
            Stream::Stdout
        },
        true,
    );
    let deadline = a.deadline.unwrap_or(a.duration + Duration::from_secs(5));
    if deadline <= a.duration {
        bail!("--deadline must be longer than --duration");
    }
    let params = ClientParams {
        recv_size: a.recv_size,
        chunk: a.chunk,
        reply: a
            .reply
            .unwrap_or_else(|| a.strategy.default_reply().to_string())
            .into_bytes(),
        delay: a.delay,
        rcvbuf: a.rcvbuf,
        duration: a.duration,
        deadline,
        // Like Python's settimeout: every call of the client gets the same timeout.
        sock: zerowin::sockopts::SocketOptions {
            connect_timeout: a.call_timeout,
            recv_timeout: a.call_timeout,
            send_timeout: a.call_timeout,
            ..Default::default()
        },
        ..ClientParams::default()
    };
    let started = Instant::now();
    let rec = a.strategy.drive(addr, &params, &mut strategy::NoHooks)?;
    let r = TrialRecord::assemble(
        "client",
        1,
        "external",
        "unknown",
        rec,
        Default::default(),
        started.elapsed().as_micros() as u64,
    );
    let layout = Layout { width: out.width() };
    let mut report = format!("{} against {addr}\n", a.strategy.name());
    report.push_str(&text::trial_table(std::slice::from_ref(&r), layout));
    report.push_str(&text::explain(&r));
    let violations: Vec<String> = match a.expect {
        Some(want) if want != r.outcome => vec![format!("expected {want}, got {}", r.outcome)],
        _ => vec![],
    };
    for v in &violations {
        report.push_str(&format!("{v}\n"));
    }
    out.print(&report)?;
    if let Some(e) = export {
        let what = format!(
            "zerowin client {} --connect {}",
            a.strategy.name(),
            a.connect
        );
        let expect = a.expect.map(|o| o.as_str());
        e.finish(&Export::single(&r, &what, expect, &violations))?;
    }
    Ok(if violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn list() -> Result<ExitCode> {
    let mut s = String::from("Strategies:\n");
    for st in strategy::all() {
        s.push_str(&format!("  {:<10} {}\n", st.name(), st.summary()));
        for (k, help) in st.keys() {
            s.push_str(&format!("      {k:<17} {help}\n"));
        }
    }
    s.push_str("Senders:\n");
    for se in sender::all() {
        s.push_str(&format!("  {:<10} {}\n", se.name(), se.summary()));
        for (k, help) in se.keys() {
            s.push_str(&format!("      {k:<17} {help}\n"));
        }
    }
    s.push_str("Shipped scenarios (run them by path, or by name from any directory):\n");
    for (file, body) in shipped::SHIPPED {
        let desc = body
            .lines()
            .find_map(|l| l.trim().strip_prefix("description"))
            .and_then(|l| l.split_once('=').map(|x| x.1.trim().trim_matches('"')))
            .unwrap_or("");
        s.push_str(&format!("  scenarios/{file:<28} {}\n", clean(desc)));
    }
    Out::new(Stream::Stdout, true).print(&s)?;
    Ok(ExitCode::SUCCESS)
}
