//! One command's run of scenarios, from its options to what it leaves behind.
//!
//! Everything that can be checked is checked before the first trial: every scenario
//! is loaded (and a shipped one that runs a script gets its files written out), every
//! export path is tried, and the artifact directories are made. Then each scenario
//! runs, and as it finishes its report is printed and every export is rewritten, so
//! that an interrupted run keeps what finished. Between trials the session notices a
//! closed output or a signal and stops.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::analysis::capacity::Capacity;
use crate::analysis::summary::{self, CellSummary};
use crate::artifacts::{self, OutDir};
use crate::calibrate::Calibrator;
use crate::calibrate::SCENARIO_CAPACITY;
use crate::observe::ObserveOptions;
use crate::report::export::{Chosen, Export, Sink, Snapshot};
use crate::report::output::{Out, Stream, note};
use crate::report::plot;
use crate::report::progress::Progress;
use crate::report::text::{self, Layout};
use crate::runner::{self, ScenarioResult};
use crate::scenario::sweep::{self, Assign};
use crate::scenario::{Scenario, shipped};
use crate::sender::{self, Sender};
use crate::strategy::{self, Strategy};

/// The scenarios a command named, loaded and checked.
pub struct Loaded {
    pub scenarios: Vec<Scenario>,
    /// The files of shipped scenarios run by name, written out for the run; removed
    /// when this is dropped.
    _shipped: Option<tempfile::TempDir>,
}

impl Loaded {
    /// The input files, which no output may overwrite.
    pub fn inputs(&self) -> Vec<PathBuf> {
        self.scenarios.iter().map(|s| s.path.clone()).collect()
    }
}

/// Resolves FILE|DIR|shipped-name arguments to checked scenarios, all before any runs.
/// In a directory, every `.toml` entry is loaded, and one that is not a regular file
/// is an error that names it.
pub fn load(paths: &[PathBuf], exe: &Path, flags: &[Assign]) -> Result<Loaded> {
    let mut scenarios = Vec::new();
    let mut shipped_dir: Option<tempfile::TempDir> = None;
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
                scenarios.extend(load_file(&f, exe, flags)?);
            }
        } else if std::fs::symlink_metadata(p).is_err()
            && let Some((file, body)) = p.to_str().and_then(shipped::get)
        {
            let dir = match &shipped_dir {
                Some(d) => d.path().join("scenarios"),
                None => {
                    let d = tempfile::Builder::new()
                        .prefix("zerowin-shipped-")
                        .tempdir()
                        .context("writing out the shipped scenarios")?;
                    let sub = shipped::materialize(d.path())
                        .context("writing out the shipped scenarios")?;
                    shipped_dir = Some(d);
                    sub
                }
            };
            let named = Path::new("<shipped>").join(file);
            scenarios.extend(sweep::expand(&named, body, exe, &dir, flags)?);
        } else if std::fs::symlink_metadata(p).is_err() {
            bail!("{}", not_found(p));
        } else {
            scenarios.extend(load_file(p, exe, flags)?);
        }
    }
    unique_stems(&mut scenarios);
    Ok(Loaded {
        scenarios,
        _shipped: shipped_dir,
    })
}

/// What to say of a path that is neither a file nor a shipped scenario: the nearest
/// shipped name, when one is near, and where the list is.
fn not_found(p: &Path) -> String {
    let shown = p.display();
    let name = p.to_string_lossy();
    let name = name.strip_suffix(".toml").unwrap_or(&name);
    let nearest = shipped::SHIPPED
        .iter()
        .map(|(f, _)| f.strip_suffix(".toml").unwrap_or(f))
        .map(|f| (edit_distance(name, f), f))
        .min()
        .filter(|(d, f)| *d <= 3.max(f.len() / 4));
    match nearest {
        Some((_, f)) => format!(
            "{shown}: cannot read the scenario: no such file, and no shipped scenario of that name; did you mean `{f}`? (`zerowin list` shows them all)"
        ),
        None => format!(
            "{shown}: cannot read the scenario: no such file, and no shipped scenario of that name (`zerowin list` shows them all)"
        ),
    }
}

/// Levenshtein's distance between two names, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// A scenario file's cells (one, when it sweeps nothing).
fn load_file(path: &Path, exe: &Path, flags: &[Assign]) -> Result<Vec<Scenario>> {
    let text = Scenario::read(path)?;
    Ok(sweep::expand(
        path,
        &text,
        exe,
        Scenario::dir_of(path),
        flags,
    )?)
}

/// Gives every scenario of the run an artifact stem no other has: the same file
/// twice, or two files with one name in two directories, get `-2`, `-3`, ...
pub fn unique_stems(scenarios: &mut [Scenario]) {
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    for sc in scenarios {
        let n = seen.entry(sc.stem.clone()).or_default();
        *n += 1;
        if *n > 1 {
            sc.stem = format!("{}-{n}", sc.stem);
        }
    }
}

/// A sender `compare --senders` runs: a kind at its default settings, or the sender
/// of another scenario file, with its keys and helpers (a server of yours).
#[derive(Clone)]
pub enum SenderChoice {
    Kind(&'static dyn Sender),
    Of(Box<Scenario>),
}

impl SenderChoice {
    fn sender(&self) -> &'static dyn Sender {
        match self {
            SenderChoice::Kind(s) => *s,
            SenderChoice::Of(sc) => sc.sender,
        }
    }

    /// Its name in the comparison: the kind's, or the scenario file's.
    fn label(&self) -> String {
        match self {
            SenderChoice::Kind(s) => s.name().to_string(),
            SenderChoice::Of(sc) => sc.name.clone(),
        }
    }
}

/// The variants `compare` runs: every sender (the scenario's own by default) with every
/// strategy (the scenario's own by default; naive and drain when neither list is
/// given). A sender and a client must speak the same protocol: with `--senders` alone, a
/// framed sender gets the framed client `resume`; a pair named explicitly that cannot
/// talk is left out. Returns the variants and one note per substitution or omission.
pub fn compare_variants(
    base: &Scenario,
    strategies: Option<&[&'static dyn Strategy]>,
    senders: Option<&[SenderChoice]>,
) -> Result<(Vec<Scenario>, Vec<String>)> {
    let default_pair = ["naive", "drain"].map(|n| strategy::by_name(n).expect("built in"));
    let chosen: Vec<&'static dyn Strategy> = match (strategies, senders) {
        (Some(s), _) => s.to_vec(),
        (None, Some(_)) => vec![base.strategy],
        (None, None) => default_pair.to_vec(),
    };
    let senders: Vec<SenderChoice> =
        senders.map_or(vec![SenderChoice::Kind(base.sender)], |s| s.to_vec());
    let mut variants = Vec::new();
    let mut notes = Vec::new();
    for choice in &senders {
        let se = choice.sender();
        let label = choice.label();
        for st in &chosen {
            let talks = |st: &dyn Strategy| st.speaks(se.framed());
            let st = if talks(*st) {
                *st
            } else if strategies.is_none() {
                let sub = strategy::by_name(if se.framed() { "resume" } else { "naive" })
                    .expect("built in");
                notes.push(format!(
                    "{label} {} the framed protocol: its client is {}",
                    if se.framed() {
                        "speaks"
                    } else {
                        "does not speak"
                    },
                    sub.name()
                ));
                sub
            } else {
                notes.push(format!(
                    "left out: {label} with {}, which do not speak the same protocol",
                    st.name()
                ));
                continue;
            };
            let with = base.with_strategy(st)?;
            let mut v = match choice {
                SenderChoice::Kind(se) => with.with_sender(*se)?,
                SenderChoice::Of(other) => with.with_sender_of(other),
            };
            for (k, val) in [
                ("sender.kind", label.as_str()),
                ("client.strategy", st.name()),
            ] {
                v.params.retain(|(x, _)| x != k);
                v.params.push((k.to_string(), val.to_string()));
                if !v.swept.iter().any(|x| x == k) {
                    v.swept.push(k.to_string());
                }
            }
            if base.cell_of.is_some() {
                v.stem = format!("{}-{label}-{}", base.stem, st.name());
            }
            variants.push(v);
        }
    }
    if variants.is_empty() {
        bail!("compare: no sender and strategy of these speak the same protocol");
    }
    unique_stems(&mut variants);
    Ok((variants, notes))
}

/// The table of a sweep's cells, with the intervals; `results` are its cells.
pub fn sweep_table(results: &[ScenarioResult], layout: Layout) -> String {
    table_of(results, &summaries(results), layout)
}

fn summaries(results: &[ScenarioResult]) -> Vec<CellSummary> {
    results.iter().map(ScenarioResult::summary).collect()
}

fn table_of(results: &[ScenarioResult], cells: &[CellSummary], layout: Layout) -> String {
    let Some(last) = results.last() else {
        return String::new();
    };
    format!(
        "\nSweep {}\n{}",
        crate::report::output::clean(&last.scenario.name),
        crate::report::sweep::table(cells, &last.scenario.swept, layout)
    )
}

/// After a sweep's last cell: its summaries, the sweep's own claims (a violation
/// goes to the last cell, so the run fails), and the table.
pub fn finish_sweep(results: &mut [ScenarioResult], layout: Layout) -> String {
    let total = results
        .last()
        .and_then(|r| r.scenario.cell_of.as_ref())
        .map_or(0, |c| c.total);
    let from = results.len().saturating_sub(total);
    let group = &mut results[from..];
    let cells = summaries(group);
    let mut s = table_of(group, &cells, layout);
    let last = group.last_mut().expect("a sweep has a cell");
    let swept = last.scenario.swept.clone();
    if let Some((key, _)) = last.scenario.expect.increasing.clone() {
        let v = summary::check_increasing(&cells, &key, &swept);
        s.push_str(&match v.is_empty() {
            true => format!("PASS the median time to failure increases with {key}\n"),
            false => format!("FAIL {}\n", v.join("\n  ")),
        });
        last.violations.extend(v);
    }
    s
}

/// How much of each scenario's report is printed as it finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// The table (or distribution), the explanation and the verdict.
    Full,
    /// The verdict line only (`--quiet`).
    Verdicts,
    /// Nothing (`compare` prints its own table at the end).
    Nothing,
}

/// What a command asks of its session.
pub struct Options<'a> {
    /// The outputs asked for, and their paths.
    pub outputs: &'a [Chosen],
    pub observe: ObserveOptions,
    /// `--pcap` and `--plot`: the directories this run's own sub-directories go in.
    pub pcap: Option<PathBuf>,
    pub plot: Option<PathBuf>,
    /// No progress bar.
    pub quiet: bool,
    /// Whether the scenarios' `[expect]` is judged (`run`), or not (`compare`).
    pub checked: bool,
}

/// The report, the exports and the observers of one command.
pub struct Session {
    pub out: Out,
    pub layout: Layout,
    pub opts: ObserveOptions,
    outputs: Vec<Box<dyn Sink>>,
    /// Whether the scenarios' `[expect]` is judged (`run`), or not (`compare`).
    checked: bool,
    /// `--quiet`: no progress bar either.
    quiet: bool,
    /// The model's calibration runs, made once each per command.
    calibrator: std::cell::RefCell<Calibrator>,
}

impl Session {
    /// Checks the exports and makes this run's artifact directories.
    pub fn open(o: Options, inputs: &[PathBuf]) -> Result<Session> {
        let Options {
            outputs: chosen,
            observe,
            pcap,
            plot,
            quiet,
            checked,
        } = o;
        // Every output is chosen and checked before the first trial.
        let outputs: Vec<Box<dyn Sink>> = chosen
            .iter()
            .map(|(format, path)| format.open(path, inputs))
            .collect::<Result<_>>()?;
        let on_stdout: Vec<String> = outputs
            .iter()
            .filter(|e| e.is_stdout())
            .map(|e| e.flag())
            .collect();
        if on_stdout.len() > 1 {
            bail!(
                "{} each ask for stdout; only one export can go there",
                on_stdout.join(" and ")
            );
        }
        let json_on_stdout = !on_stdout.is_empty();
        let out = match json_on_stdout {
            true => Out::new(Stream::Stderr, !quiet),
            false => Out::new(Stream::Stdout, true),
        };
        let mut opts = observe;
        crate::scratch::sweep_once();
        let pcap_root = pcap.as_deref();
        if let Some(d) = pcap_root {
            let run = OutDir::root(d, "--pcap")?.new_run()?;
            note(&format!(
                "--pcap: this run's captures go to {}",
                run.path().display()
            ));
            opts.pcap_dir = Some(run);
        }
        if let Some(d) = plot.as_deref() {
            // One sub-directory when both flags name the same directory.
            let run = match (pcap_root, &opts.pcap_dir) {
                (Some(p), Some(run)) if p == d => run.clone(),
                _ => {
                    let run = OutDir::root(d, "--plot")?.new_run()?;
                    note(&format!(
                        "--plot: this run's plots go to {}",
                        run.path().display()
                    ));
                    run
                }
            };
            opts.plot_dir = Some(run);
        }
        if opts.plot_dir.is_none() {
            // A report that shows every trial's timeline.
            opts.plot_dir = outputs.iter().find_map(|o| o.plot_dir());
        }
        Ok(Session {
            calibrator: std::cell::RefCell::new(Calibrator::new(&opts)),
            layout: Layout { width: out.width() },
            out,
            opts,
            outputs,
            checked,
            quiet,
        })
    }

    /// Runs every scenario in turn, printing each one's report as `detail` says and
    /// rewriting the exports after each.
    pub fn run(&self, scenarios: &[Scenario], detail: Detail) -> Result<Vec<ScenarioResult>> {
        let mut results = Vec::new();
        self.run_into(scenarios, detail, &mut results)?;
        Ok(results)
    }

    /// The same, adding to `results`, which the exports and the report then hold whole:
    /// a command that runs one scenario at a time (`boundary`) passes all it has.
    pub fn run_into(
        &self,
        scenarios: &[Scenario],
        detail: Detail,
        results: &mut Vec<ScenarioResult>,
    ) -> Result<()> {
        let trials = scenarios.iter().map(|s| u64::from(s.trials)).sum();
        let progress = Progress::new(trials, !self.quiet);
        let print = |text: &str| progress.suspend(|| self.out.print(text));
        for sc in scenarios {
            if let (Some(c), Detail::Full) = (&sc.cell_of, detail)
                && c.index == 0
            {
                print(&text::sweep_header(sc, c.total))?;
            }
            let what = format!("{}{}", sc.name, sc.cell_label());
            let say = |m: &str| {
                progress.running(m);
                if !progress.visible() {
                    note(&format!("{m}..."));
                }
            };
            let resolved = self.at_capacity(sc, &say)?;
            let (sc, capacity) = match &resolved {
                Some((s, c)) => (s, Some(*c)),
                None => (sc, None),
            };
            let forecast = match sc.predict {
                true => Some(self.calibrator.borrow_mut().forecast(sc, &say)?),
                false => None,
            };
            progress.running(&what);
            if !progress.visible() {
                note(&format!("running {what} ({} trial(s))...", sc.trials));
            }
            let mut res = runner::run_scenario(sc, &self.opts, |r| {
                self.draw(sc, r);
                progress.trial_done();
                self.out.check_open()
            })?;
            res.forecast = forecast;
            res.capacity = capacity;
            match (detail, &sc.cell_of) {
                (Detail::Full, None) => print(&text::scenario_report(&res, self.layout))?,
                (Detail::Verdicts | Detail::Full, _) => {
                    print(&format!("{what}: {}\n", text::verdict(&res)))?
                }
                (Detail::Nothing, _) => {}
            }
            results.push(res);
            if sc.cell_of.as_ref().is_some_and(|c| c.index + 1 == c.total) {
                let table = finish_sweep(results, self.layout);
                if detail != Detail::Nothing {
                    print(&table)?;
                }
            }
            self.update(results)?;
        }
        Ok(())
    }

    /// `sc` with its sender's rates of the capacity ("0.5C") set from the measured
    /// capacity of its reference client (`run.capacity_of`, or its own); None when
    /// it has none. The values go into its params, so every record carries them.
    pub fn at_capacity(
        &self,
        sc: &Scenario,
        say: &dyn Fn(&str),
    ) -> Result<Option<(Scenario, Capacity)>> {
        if !sc.sender_config.setup.of_capacity() {
            return Ok(None);
        }
        let reference = sc.capacity_of.as_deref().unwrap_or(sc);
        let c = self
            .calibrator
            .borrow_mut()
            .capacity(reference, SCENARIO_CAPACITY, say)?;
        let mut out = sc.clone();
        out.sender_config.setup = sender::at_capacity(sc.sender, &sc.sender_config.setup, c.per_s)?;
        out.params
            .push(("capacity".into(), format!("{:.0}/s", c.per_s)));
        Ok(Some((out, c)))
    }

    /// The capacity of `sc`'s client, measured once per command.
    pub fn capacity(&self, sc: &Scenario, run: crate::calibrate::CapacityRun) -> Result<Capacity> {
        self.calibrator
            .borrow_mut()
            .capacity(sc, run, &|m: &str| note(&format!("{m}...")))
    }

    /// The plot of one trial. A plot that cannot be drawn is a note in the record,
    /// never the end of the run.
    fn draw(&self, sc: &Scenario, r: &mut crate::record::TrialRecord) {
        let Some(dir) = &self.opts.plot_dir else {
            return;
        };
        let name = artifacts::trial_file(&sc.stem, r.trial, "svg");
        let drawn = plot::draw(r, dir, &name);
        if let Some(o) = r.observation.as_mut() {
            match drawn {
                Ok(()) => o.plot_file = Some(dir.join(&name)),
                Err(e) => o.notes.push(format!("{e:#}")),
            }
        }
    }

    /// The model's forecast for one scenario, calibrating as needed.
    pub fn forecast(&self, sc: &Scenario) -> Result<crate::analysis::model::Forecast> {
        self.calibrator
            .borrow_mut()
            .forecast(sc, &|m: &str| note(&format!("{m}...")))
    }

    /// Rewrites every export, and the report, with these results.
    fn update(&self, results: &[ScenarioResult]) -> Result<()> {
        let doc = Export::new(results, self.checked, false);
        let now = Snapshot { results, doc: &doc };
        self.outputs.iter().try_for_each(|o| o.update(&now))
    }

    /// The last write of every export, marked complete.
    pub fn finish(&self, results: &[ScenarioResult]) -> Result<()> {
        let doc = Export::new(results, self.checked, true);
        let now = Snapshot { results, doc: &doc };
        self.outputs.iter().try_for_each(|o| o.finish(&now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_characters() {
        assert_eq!(edit_distance("repro4k", "repro-4k"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert!(not_found(Path::new("repro4k")).contains("did you mean `repro-4k`?"));
        assert!(!not_found(Path::new("zzzzzzzzzzzz/q.toml")).contains("did you mean"));
    }
    use crate::sender;

    fn base() -> Scenario {
        Scenario::parse(
            Path::new("s.toml"),
            "[sender]\nsndbuf = 4096\n[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"reset\"\n",
            Path::new("/bin/false"),
        )
        .unwrap()
    }

    fn pairs(v: &[Scenario]) -> Vec<String> {
        v.iter()
            .map(|s| format!("{}+{}", s.sender.name(), s.strategy.name()))
            .collect()
    }

    #[test]
    fn compare_pairs_each_sender_with_a_client_that_speaks_its_protocol() {
        let b = base();
        let (v, notes) = compare_variants(&b, None, None).unwrap();
        assert_eq!(pairs(&v), ["original+naive", "original+drain"]);
        assert!(notes.is_empty());
        let senders = [
            SenderChoice::Kind(sender::by_name("original").unwrap()),
            SenderChoice::Kind(sender::by_name("patient").unwrap()),
        ];
        let (v, notes) = compare_variants(&b, None, Some(&senders)).unwrap();
        assert_eq!(pairs(&v), ["original+naive", "patient+resume"]);
        assert_eq!(
            notes,
            ["patient speaks the framed protocol: its client is resume"]
        );
        assert_eq!(
            v[0].sender_config.setup.describe,
            "original (close); sndbuf 4096"
        );
        assert!(
            v[1].sender_config
                .setup
                .describe
                .starts_with("patient (queue 1048576 B")
        );
        let both = [
            strategy::by_name("naive").unwrap(),
            strategy::by_name("resume").unwrap(),
        ];
        let (v, notes) = compare_variants(&b, Some(&both), Some(&senders)).unwrap();
        assert_eq!(pairs(&v), ["original+naive", "patient+resume"]);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].starts_with("left out: original with resume"),
            "{notes:?}"
        );
        let resume = [strategy::by_name("resume").unwrap()];
        let e = compare_variants(&b, Some(&resume), None).unwrap_err();
        assert!(e.to_string().contains("no sender and strategy"), "{e}");
        let stems: Vec<&str> = v.iter().map(|s| s.stem.as_str()).collect();
        assert_eq!(stems, ["s-original-naive", "s-patient-resume"]);
    }
}
