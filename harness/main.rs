//! The zerowin binary: parse the command line, run, print, exit.
//! Exit codes: 0 every expectation held, 1 one did not, 2 harness or input error.

use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;

use zerowin::cli::{Cli, ClientArgs, Command, CompareArgs, RunArgs, ServeArgs};
use zerowin::observe::{ObserveOptions, isolation};
use zerowin::record::TrialRecord;
use zerowin::report::json::{Export, JsonSink};
use zerowin::report::{plot, text};
use zerowin::runner::{self, ScenarioResult};
use zerowin::scenario::{Scenario, shipped};
use zerowin::sender::original::{self, ServeArgs as CServeArgs};
use zerowin::strategy::{self, ClientParams};
use zerowin::{process, sender};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any thread exists: an unprivileged user may need a user namespace.
    if let Command::Run(RunArgs { overrides, .. })
    | Command::Compare(CompareArgs { overrides, .. }) = &cli.command
    {
        isolation::prepare_process(overrides.observe.isolation);
    }
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("zerowin: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve(a) => Ok(serve(&a)),
        Command::List => {
            list();
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(a) => {
            stop_children_on_ctrl_c()?;
            run(a)
        }
        Command::Compare(a) => {
            stop_children_on_ctrl_c()?;
            compare(a)
        }
        Command::Client(a) => {
            stop_children_on_ctrl_c()?;
            client(a)
        }
    }
}

/// On Ctrl-C or SIGTERM, kill and reap every sender before exiting: they run in their
/// own process groups, so the terminal's signal does not reach them.
fn stop_children_on_ctrl_c() -> Result<()> {
    ctrlc::set_handler(|| {
        process::kill_all();
        eprintln!("zerowin: interrupted; every sender was stopped");
        std::process::exit(130);
    })
    .context("installing the Ctrl-C handler")
}

fn exe() -> Result<PathBuf> {
    std::env::current_exe().context("finding the zerowin executable to start the sender")
}

/// Resolves FILE|DIR|shipped-name arguments to loaded scenarios, all before any runs.
fn load_scenarios(paths: &[PathBuf], exe: &Path) -> Result<Vec<Scenario>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                .collect();
            if files.is_empty() {
                bail!("{}: no .toml scenario files in this directory", p.display());
            }
            files.sort();
            for f in files {
                out.push(Scenario::load(&f, exe)?);
            }
        } else if !p.exists()
            && let Some((file, text)) = p.to_str().and_then(shipped::get)
        {
            out.push(Scenario::parse(
                &Path::new("<shipped>").join(file),
                text,
                exe,
            )?);
        } else {
            out.push(Scenario::load(p, exe)?);
        }
    }
    Ok(out)
}

fn run_all(
    scenarios: &[Scenario],
    opts: &ObserveOptions,
    quiet: bool,
    checked: bool,
) -> Result<Vec<ScenarioResult>> {
    let mut results = Vec::new();
    for sc in scenarios {
        eprintln!("running {} ({} trial(s))...", sc.name, sc.trials);
        let res = runner::run_scenario(sc, opts, |r| {
            if let Some(dir) = &opts.plot_dir {
                let path = dir.join(format!("{}-{}-{:03}.svg", r.scenario, r.strategy, r.trial));
                plot::draw(r, &path)?;
                if let Some(o) = r.observation.as_mut() {
                    o.plot_file = Some(path);
                }
            }
            Ok(())
        })?;
        if quiet || !checked {
            if checked {
                println!("{}: {}", sc.name, text::verdict(&res));
            }
        } else {
            print!("{}", text::scenario_report(&res));
        }
        results.push(res);
    }
    Ok(results)
}

fn run(a: RunArgs) -> Result<ExitCode> {
    let exe = exe()?;
    let scenarios: Vec<Scenario> = load_scenarios(&a.paths, &exe)?
        .iter()
        .map(|s| s.with_overrides(a.overrides.trials, a.overrides.duration))
        .collect();
    let sink = a
        .overrides
        .json
        .as_deref()
        .map(JsonSink::create)
        .transpose()?;
    let opts = a.overrides.observe.options()?;
    for sc in &scenarios {
        sc.check_isolation(opts.isolation)?;
    }
    let results = run_all(&scenarios, &opts, a.quiet, true)?;
    println!("\nSummary");
    println!("{}", text::summary_table(&results));
    let failed = results.iter().filter(|r| !r.passed()).count();
    println!("{} passed, {} failed", results.len() - failed, failed);
    if let Some(sink) = sink {
        sink.write(&Export::new(&results, true))?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn compare(a: CompareArgs) -> Result<ExitCode> {
    let exe = exe()?;
    let base = load_scenarios(std::slice::from_ref(&a.file), &exe)?.remove(0);
    let base = base.with_overrides(a.overrides.trials, a.overrides.duration);
    let sink = a
        .overrides
        .json
        .as_deref()
        .map(JsonSink::create)
        .transpose()?;
    let opts = a.overrides.observe.options()?;
    base.check_isolation(opts.isolation)?;
    let variants: Vec<Scenario> = a
        .strategies
        .iter()
        .map(|s| base.with_strategy(*s))
        .collect();
    println!("compare {}: {}", base.name, text::setup(&base));
    let results = run_all(&variants, &opts, true, false)?;
    println!("{}", text::compare_table(&results));
    for r in &results {
        if let Some(first) = r.records.first() {
            println!("{}, trial 1:", r.scenario.strategy.name());
            print!("{}", text::explain(first));
        }
    }
    if let Some(sink) = sink {
        sink.write(&Export::new(&results, false))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(a: &ServeArgs) -> ExitCode {
    let args = CServeArgs {
        port: a.port,
        bind: Some(a.bind.clone()),
        sndbuf: a.sndbuf.map(|v| v as usize),
        close_policy: a.close_policy,
        log: a.log.clone(),
        drain_timeout_ms: a.drain_timeout_ms,
    };
    ExitCode::from(original::serve_in_process(&args).clamp(0, 255) as u8)
}

fn client(a: ClientArgs) -> Result<ExitCode> {
    let addr = a
        .connect
        .to_socket_addrs()
        .with_context(|| format!("--connect {}: not a HOST:PORT", a.connect))?
        .next()
        .with_context(|| format!("--connect {}: no address", a.connect))?;
    let sink = a.json.as_deref().map(JsonSink::create).transpose()?;
    let deadline = a.deadline.unwrap_or(a.duration + Duration::from_secs(5));
    if deadline <= a.duration {
        bail!("--deadline must be longer than --duration");
    }
    let params = ClientParams {
        recv_size: a.recv_size as usize,
        chunk: a.chunk as usize,
        reply: a
            .reply
            .unwrap_or_else(|| a.strategy.default_reply().to_string())
            .into_bytes(),
        delay: a.delay,
        rcvbuf: a.rcvbuf.map(|v| v as usize),
        duration: a.duration,
        deadline,
        call_timeout: a.call_timeout,
        command: Vec::new(),
    };
    let started = Instant::now();
    let rec = a.strategy.drive(addr, &params, &mut strategy::NoHooks)?;
    let r = TrialRecord::assemble(
        "client",
        1,
        "external",
        "unknown",
        rec,
        None,
        started.elapsed().as_micros() as u64,
    );
    println!("{} against {addr}", a.strategy.name());
    println!("{}", text::trial_table(std::slice::from_ref(&r)));
    print!("{}", text::explain(&r));
    if let Some(sink) = sink {
        sink.write(&r)?;
    }
    Ok(match a.expect {
        Some(want) if want != r.outcome => {
            println!("expected {want}, got {}", r.outcome);
            ExitCode::from(1)
        }
        _ => ExitCode::SUCCESS,
    })
}

fn list() {
    println!("Strategies:");
    for s in strategy::all() {
        println!("  {:<10} {}", s.name(), s.summary());
    }
    println!("Senders:");
    for s in sender::all() {
        println!("  {:<10} {}", s.name(), s.summary());
    }
    println!("Close policies: close (the original), linger0, shutdown-drain");
    println!("Shipped scenarios (run them by path, or by name with an installed binary):");
    for (file, text) in shipped::SHIPPED {
        let desc = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("description"))
            .and_then(|l| l.split_once('=').map(|x| x.1.trim().trim_matches('"')))
            .unwrap_or("");
        println!("  scenarios/{file:<28} {desc}");
    }
}
