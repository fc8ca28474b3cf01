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
    for sc in &loaded.scenarios {
        let resolved = session
            .at_capacity(sc, &|_| {})
            .unwrap_or_else(|e| panic!("{}: {e:#}", sc.name));
        let sc = resolved.as_ref().map_or(sc, |(s, _)| s);
        let res = runner::run_scenario(sc, &ObserveOptions::default(), |_| Ok(()))
            .unwrap_or_else(|e| panic!("{}: {e:#}", sc.name));
        assert_eq!(res.records.len(), sc.trials as usize);
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
