//! Every file in scenarios/ is an executable claim about the kernel: run each one
//! with its own trials and assert its [expect] block. The trials run one after the
//! other, so scenarios do not compete for the machine's two cores.

mod common;

use std::path::{Path, PathBuf};

use zerowin::observe::ObserveOptions;
use zerowin::record::Outcome;
use zerowin::runner;
use zerowin::scenario::Scenario;

use common::exe;

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_shipped_scenario_meets_its_expectation() {
    let files = scenario_files();
    assert!(files.len() >= 5, "the five required scenarios are shipped");
    let mut failures = Vec::new();
    // Every cell of every sweep runs, and a sweep's own claims are judged after its
    // last cell, as `zerowin run` does.
    let loaded = zerowin::session::load(&files, exe(), &[]).unwrap_or_else(|e| panic!("{e:#}"));
    let mut results = Vec::new();
    // Rates of a capacity ("0.5C") are set from a measured C first, as `run` does.
    let o = zerowin::session::Options {
        outputs: &[],
        observe: ObserveOptions::default(),
        pcap: None,
        plot: None,
        quiet: true,
        checked: true,
    };
    let session = zerowin::session::Session::open(o, &loaded.inputs()).unwrap();
    // Every trial keeps its pcap, on tmpfs (no disk writeback under the spool
    // senders), and `diagnose` reads it back against the trial's record.
    let pcaps = tempfile::tempdir_in(pcap_root()).unwrap();
    let root = zerowin::artifacts::OutDir::root(pcaps.path(), "--pcap").unwrap();
    let mut agreement = Agreement::default();
    for sc in &loaded.scenarios {
        let resolved = session
            .at_capacity(sc, &|_| {})
            .unwrap_or_else(|e| panic!("{}: {e:#}", sc.name));
        let sc = resolved.as_ref().map_or(sc, |(s, _)| s);
        let observe = ObserveOptions {
            pcap_dir: Some(root.new_run().unwrap()),
            ..ObserveOptions::default()
        };
        let res = runner::run_scenario(sc, &observe, |_| Ok(()))
            .unwrap_or_else(|e| panic!("{}: {e:#}", sc.name));
        assert_eq!(res.records.len(), sc.trials as usize);
        for r in &res.records {
            agreement.check(r, &format!("{}{}", sc.name, sc.cell_label()));
        }
        results.push(res);
        if sc.cell_of.as_ref().is_some_and(|c| c.index + 1 == c.total) {
            zerowin::session::finish_sweep(&mut results, Default::default());
        }
    }
    for res in &results {
        let sc = &res.scenario;
        eprintln!(
            "{}{}: {} ({})",
            sc.name,
            sc.cell_label(),
            if res.passed() { "PASS" } else { "FAIL" },
            zerowin::analysis::stats::outcome_counts(&res.records)
        );
        if !res.passed() {
            failures.push(format!(
                "{}{}: {}",
                sc.name,
                sc.cell_label(),
                res.violations.join("; ")
            ));
        }
    }
    assert!(
        zerowin::process::live_count() == 0,
        "every sender was stopped"
    );
    agreement.assert_held();
    assert!(
        failures.is_empty(),
        "expectations broken:\n{}",
        failures.join("\n")
    );
}

/// The reset scenario's records carry the full story: the sender failed with EAGAIN
/// and closed, the client's first failure is ECONNRESET after that close, and the
/// post-mortem shows the later calls failing too.
#[test]
fn the_4k_reproduction_records_the_whole_chain() {
    let sc = Scenario::load(Path::new("scenarios/repro-4k.toml"), exe())
        .unwrap()
        .with_overrides(Some(3), None)
        .unwrap();
    let res = runner::run_scenario(&sc, &ObserveOptions::default(), |_| Ok(())).unwrap();
    for r in &res.records {
        assert_eq!(r.outcome, Outcome::Reset, "{r:#?}");
        let s = r.sender_summary.as_ref().expect("the sender reported");
        assert_eq!(s.errno_name, "EAGAIN");
        assert_eq!(s.policy, "close");
        assert!(
            s.sndbuf_effective >= 4096,
            "SO_SNDBUF read back: {}",
            s.sndbuf_effective
        );
        let close_at = r.sender_close_at_us.unwrap();
        let fail_at = r.time_to_failure_us.unwrap() as i64;
        assert!(
            close_at <= fail_at,
            "the close ({close_at} us) precedes the client's error ({fail_at} us)"
        );
        // One clock from the SYN: connect() started at 0 and completed before the
        // client's first error.
        assert_eq!(r.client.zero, zerowin::record::ClockZero::ConnectStart);
        let connected = r
            .client
            .connected_us
            .expect("connect's completion is recorded");
        assert!(connected as i64 <= fail_at, "{connected} <= {fail_at}");
        let first = &r.client.errors[0];
        assert_eq!((first.errno, first.phase), (libc::ECONNRESET, "main"));
        let pm = r.client.postmortem.as_ref().expect("a post-mortem ran");
        assert_eq!(pm.send.error.as_deref(), Some("EPIPE"), "{pm:#?}");
        assert_eq!(pm.getpeername.error.as_deref(), Some("ENOTCONN"), "{pm:#?}");
        // What the RST destroys is what was still in the sender's send buffer, so
        // the loss is bounded by that buffer. It can be 0: in 1 of 200 measured
        // trials everything send() accepted was already on the wire, in flight and
        // unacknowledged, when send() returned EAGAIN (docs/records.md).
        let lost = r.bytes_lost.unwrap();
        assert!(
            (0..=s.sndbuf_effective).contains(&lost),
            "0 <= {lost} B lost <= the {} B send buffer",
            s.sndbuf_effective
        );
    }
}

/// Where the pcaps go: tmpfs when the machine has one.
fn pcap_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.into()
    } else {
        std::env::temp_dir()
    }
}

/// A trial's own pcap, given to `diagnose`, against the trial's record: the same RST
/// direction, the same close route (the record takes it from the sender's kernel
/// counters where it can, `diagnose` from the wire alone), the same bytes its RSTs
/// destroyed, and the application's counts bounding the wire's: every byte the
/// client read crossed the wire, and every byte sent on the wire was accepted by
/// the sender's send() first. The pcap is removed once read.
#[derive(Default)]
struct Agreement {
    trials: usize,
    /// Trials not compared because helpers shared the capture.
    with_helpers: usize,
    routes: std::collections::BTreeSet<&'static str>,
    rst_trials: usize,
    broken: Vec<String>,
}

impl Agreement {
    fn check(&mut self, r: &zerowin::record::TrialRecord, at: &str) {
        let at = format!("{at} trial {}", r.trial);
        // A trial with helpers has their connections in its pcap too (a publisher's,
        // to the same port), while its record counts the client's alone; diagnose
        // cannot tell which connection was the client's, so there is nothing to
        // compare connection for connection.
        if !r.helpers.is_empty() {
            self.with_helpers += 1;
            return;
        }
        let obs = r.observation.as_ref().expect("observed");
        let (Some(wire), Some(pcap)) = (&obs.wire, &obs.pcap_file) else {
            self.broken.push(format!("{at}: no capture or no pcap"));
            return;
        };
        let d = zerowin::trace::diagnose(Path::new(pcap), &Default::default())
            .unwrap_or_else(|e| panic!("{at}: {e:#}"));
        std::fs::remove_file(pcap).unwrap();
        self.trials += 1;
        let mut says = Vec::new();
        let got = Diagnosed::of(&d);
        says.push((
            "RST direction",
            got.rst_direction,
            wire.rst_direction.as_str().to_string(),
        ));
        says.push((
            "bytes destroyed",
            format!("{:?}", got.destroyed),
            format!("{:?}", wire.sender_rst_unacked_bytes),
        ));
        if let Some(route) = zerowin::analysis::stats::route(r) {
            // An SO_LINGER 0 abort and an RST at close look alike on the wire.
            let want = match route.describe() {
                "sender RST by SO_LINGER 0" => "sender RST at close",
                other => other,
            };
            self.routes.insert(want);
            says.push(("close route", got.route.to_string(), want.to_string()));
        }
        for (what, pcap_says, record_says) in says {
            if pcap_says != record_says {
                self.broken.push(format!(
                    "{at}: {what}: the pcap says {pcap_says}, the record {record_says}"
                ));
            }
        }
        self.rst_trials += usize::from(got.destroyed.is_some());
        if wire.dropped_frames > 0 {
            return;
        }
        // Every byte the client read crossed the wire; every byte on the wire was
        // accepted by send() first: `bytes_sent` is the sender's last connection's,
        // so that bound is checked where the capture holds one connection.
        if let Some(read) = r.bytes_read
            && read > got.sent_on_wire
        {
            self.broken.push(format!(
                "{at}: the client read {read} B, more than the {} B on the wire",
                got.sent_on_wire
            ));
        }
        if let Some(sent) = r.bytes_sent
            && d.connections.len() == 1
            && got.sent_on_wire > sent
        {
            self.broken.push(format!(
                "{at}: {} B on the wire, more than the {sent} B send() accepted",
                got.sent_on_wire
            ));
        }
    }

    fn assert_held(&self) {
        assert!(
            self.broken.is_empty(),
            "pcap and record disagree:\n{}",
            self.broken.join("\n")
        );
        assert!(self.trials >= 100, "{} trials checked", self.trials);
        assert!(
            self.rst_trials >= 20,
            "{} trials with a sender RST",
            self.rst_trials
        );
        assert!(self.routes.len() >= 3, "the routes seen: {:?}", self.routes);
        eprintln!(
            "pcap against record: {} trials agree ({} with a sender RST); routes {:?}",
            self.trials, self.rst_trials, self.routes
        );
    }
}

/// What `diagnose` says of a trial's pcap, in the record's terms: the sender is the
/// side that was connected to (side B, the SYN's receiver).
struct Diagnosed {
    rst_direction: String,
    route: &'static str,
    destroyed: Option<u64>,
    sent_on_wire: u64,
}

impl Diagnosed {
    fn of(d: &zerowin::trace::Diagnosis) -> Diagnosed {
        use zerowin::trace::cause::Cause;
        let conns = || d.connections.iter().map(|c| &c.conn);
        let from = |side: usize| conns().any(|c| c.halves[side].rsts > 0);
        let rst_direction = match (from(1), from(0)) {
            (true, false) => "sender→client",
            (false, true) => "client→sender",
            (true, true) => "both",
            (false, false) => "none",
        };
        let sender: Vec<Cause> = d
            .connections
            .iter()
            .filter(|c| c.finding.side == Some(1))
            .map(|c| c.finding.cause)
            .collect();
        let route = if sender.contains(&Cause::FinThenRstOnData) {
            "sender FIN then RST on data"
        } else if sender
            .iter()
            .any(|c| matches!(c, Cause::ZeroWindowAbort | Cause::AbortiveClose))
        {
            "sender RST at close"
        } else {
            "no sender abort"
        };
        // As the record sums them: over the connections the sender reset, where known.
        let destroyed: Vec<u64> = conns()
            .filter(|c| c.halves[1].rst.is_some())
            .filter_map(|c| c.halves[1].unacked_by(&c.halves[0]))
            .collect();
        let destroyed = (!destroyed.is_empty()).then(|| destroyed.iter().sum());
        Diagnosed {
            rst_direction: rst_direction.to_string(),
            route,
            destroyed,
            sent_on_wire: conns().filter_map(|c| c.halves[1].sent_bytes()).sum(),
        }
    }
}
