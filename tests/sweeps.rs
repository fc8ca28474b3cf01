//! Sweeps and exports from the command line: every cell checked as a file is, each
//! cell's files apart, and the exports a program reads.

mod common;
use common::{Refused, zerowin};

use common::scenario_file;
use predicates::prelude::*;

const SWEPT: &str = r#"
[sender]
sndbuf = 4096
[client]
strategy = "naive"
rcvbuf = 4096
[run]
duration = "5s"
trials = 2
[expect]
outcome = "reset"
[sweep]
sender.sndbuf = [4096, 65536]
"#;

#[test]
fn a_bad_swept_value_names_the_sweep_line_and_the_cell() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(d.path(), "s.toml", &SWEPT.replace("65536]", "65536, 12]"));
    zerowin()
        .arg("run")
        .arg(&f)
        .assert()
        .refused("s.toml:13: sweep.sender.sndbuf: in the cell sender.sndbuf=12: sender.sndbuf: 12 is out of range")
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn a_bad_flag_value_names_the_flag() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(d.path(), "s.toml", SWEPT);
    zerowin()
        .arg("run")
        .arg(&f)
        .args(["--sweep", "client.delay=1ms,soon"])
        .assert()
        .refused("--sweep client.delay=1ms,soon: in the cell")
        .stderr(predicate::str::contains("client.delay="));
    zerowin()
        .arg("run")
        .arg(&f)
        .args(["--sweep", "client.rcvbuf=4096..1024:x2"])
        .assert()
        .refused("--sweep")
        .stderr(predicate::str::contains(
            "the low end is above the high end",
        ));
    zerowin()
        .arg("run")
        .arg(&f)
        .args(["--set", "client.recv_sze=3"])
        .assert()
        .refused("--set client.recv_sze=3:")
        .stderr(predicate::str::contains("unknown key"));
}

#[test]
fn csv_on_stdout_is_one_clean_row_per_trial_with_a_column_per_parameter() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(d.path(), "s.toml", SWEPT);
    let out = zerowin()
        .arg("run")
        .arg(&f)
        .args(["--export-csv", "-", "--sweep", "client.delay=0ms,1ms"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header = rows.headers().unwrap().clone();
    assert_eq!(&header[0], "scenario");
    assert!(header.iter().any(|h| h == "sender.sndbuf"), "{header:?}");
    assert!(header.iter().any(|h| h == "client.delay"), "{header:?}");
    let rows: Vec<csv::StringRecord> = rows.records().map(|r| r.unwrap()).collect();
    // 2 rcvbufs x 2 delays x 2 trials.
    assert_eq!(rows.len(), 8, "{text}");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    for r in &rows {
        assert_eq!(&r[col("outcome")], "reset");
        assert!(r[col("time_to_failure_ms")].parse::<f64>().unwrap() > 0.0);
    }
    let cells: std::collections::BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r[col("sender.sndbuf")].to_string(),
                r[col("client.delay")].to_string(),
            )
        })
        .collect();
    assert_eq!(cells.len(), 4);
    // Nothing but the CSV on stdout, and no progress bar off a terminal.
    assert!(!text.contains("Sweep") && !text.contains('\r'));
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\r'));
}

#[test]
fn every_cell_has_its_own_files_and_its_own_summary() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(d.path(), "s.toml", SWEPT);
    let plots = d.path().join("plots");
    let json = d.path().join("out.json");
    let cells = d.path().join("cells.csv");
    let md = d.path().join("out.md");
    zerowin()
        .arg("run")
        .arg(&f)
        .arg("--plot")
        .arg(&plots)
        .arg("--export-json")
        .arg(&json)
        .arg("--export-cells-csv")
        .arg(&cells)
        .arg("--export-markdown")
        .arg(&md)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Sweep s"))
        .stdout(predicate::str::contains("fail rate [95%]"));
    let run = std::fs::read_dir(&plots)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut names: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "s-sndbuf4096-001.svg",
            "s-sndbuf4096-002.svg",
            "s-sndbuf65536-001.svg",
            "s-sndbuf65536-002.svg"
        ]
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["schema_version"], 2);
    let sc = &v["scenarios"][1];
    assert_eq!(sc["params"]["sender.sndbuf"], "65536");
    assert_eq!(sc["cell_index"], 1);
    assert_eq!(sc["cells"], 2);
    assert_eq!(sc["summary"]["trials"], 2);
    assert_eq!(sc["trials"][0]["params"]["sender.sndbuf"], "65536");
    let rate = &sc["summary"]["failure_rate_ci95"];
    assert!(rate[0].as_f64().unwrap() > 0.3 && rate[1] == 1.0, "{rate}");
    let c = std::fs::read_to_string(&cells).unwrap();
    assert_eq!(c.lines().count(), 3, "{c}");
    assert!(
        c.lines()
            .nth(1)
            .unwrap()
            .starts_with("s,4096,original,naive,2,2,1.0000"),
        "{c}"
    );
    let m = std::fs::read_to_string(&md).unwrap();
    assert!(
        m.contains("| s | sender.sndbuf=65536 | original | naive | 2 | 2 reset | 100% [34, 100] |"),
        "{m}"
    );
}

#[test]
fn a_sweep_claim_that_fails_fails_the_run() {
    // A claim about a key the sweep does not vary is refused up front, and one
    // that the data contradicts fails the run with exit code 1.
    let d = tempfile::tempdir().unwrap();
    let text = SWEPT.replace(
        "outcome = \"reset\"",
        "outcome = \"reset\"\nincreasing = \"client.delay\"",
    );
    let f = scenario_file(d.path(), "s.toml", &text);
    zerowin()
        .arg("run")
        .arg(&f)
        .assert()
        .refused("s.toml:12: expect.increasing: `client.delay` is not swept");
    // A bigger send buffer makes the reset come later (medians of 10 trials: 196 ms
    // at 1 MiB, 3.4 ms at 4 KiB), so this order contradicts the claim.
    let text = SWEPT
        .replace(
            "outcome = \"reset\"",
            "outcome = \"reset\"\nincreasing = \"sender.sndbuf\"",
        )
        .replace("[4096, 65536]", "[1048576, 4096]");
    let f = scenario_file(d.path(), "t.toml", &text);
    zerowin()
        .arg("run")
        .arg(&f)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "FAIL sweep: the median time to failure does not increase with sender.sndbuf",
        ));
}

/// The naive client against the original sender paced at 1000 messages/s: it keeps
/// up with no delay and falls behind at 5 ms a read.
const PACED: &str = r#"
[sender]
sndbuf = 4096
rate = "1000/s"
[client]
strategy = "naive"
rcvbuf = 4096
[run]
duration = "1500ms"
trials = 2
[expect]
outcome = "survived"
"#;

#[test]
fn boundary_checks_its_flags_before_any_trial() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(d.path(), "p.toml", PACED);
    let cases: [(&[&str], &str); 4] = [
        (
            &["--param", "client.delay", "--range", "5ms..1ms"],
            "the low end must be below the high end",
        ),
        (
            &["--param", "client.delay", "--range", "1ms..5"],
            "both ends must be numbers, or both durations",
        ),
        (
            &["--param", "nowhere.delay", "--range", "1ms..5ms"],
            "--param",
        ),
        (
            &[
                "--param",
                "client.delay",
                "--range",
                "0ms..5ms",
                "--budget",
                "3",
            ],
            "--budget 3: fewer trials than the two ends need",
        ),
    ];
    for (args, want) in cases {
        zerowin()
            .arg("boundary")
            .arg(&f)
            .args(args)
            .assert()
            .refused(want);
    }
    // A value the scenario refuses names the key and the flag.
    zerowin()
        .arg("boundary")
        .arg(&f)
        .args(["--param", "client.rcvbuf", "--range", "1..100"])
        .assert()
        .refused("--param client.rcvbuf (at 1)");
}

#[test]
fn boundary_bisects_to_where_the_naive_client_stops_surviving() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(d.path(), "p.toml", PACED);
    let out = zerowin()
        .arg("boundary")
        .arg(&f)
        .args([
            "--param",
            "client.delay",
            "--range",
            "0ms..5ms",
            "--budget",
            "6",
        ])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    // Three probes of two trials: both ends, then the middle.
    assert_eq!(out.matches("failed, ").count(), 3, "{out}");
    assert!(
        out.contains("client.delay = 0ns        0/2 failed"),
        "{out}"
    );
    assert!(
        out.contains("client.delay = 5ms        2/2 failed"),
        "{out}"
    );
    assert!(out.contains("client.delay = 2500us"), "{out}");
    assert!(out.contains("Boundary: client.delay ≈ "), "{out}");
    // Two trials a probe are never sure (Wilson [34%, 100%] holds 50%).
    assert!(out.contains("95% interval [open, open]"), "{out}");
}

#[test]
fn predict_calibrates_and_prints_without_running_the_cells() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(d.path(), "p.toml", PACED);
    let out = zerowin()
        .arg("predict")
        .arg(&f)
        .args(["--sweep", "client.delay=0ms,5ms"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("survives"), "{out}");
    assert!(out.contains("fails at"), "{out}");
    assert!(out.contains("13.0 (rate)"), "{out}");
    assert!(
        out.contains("1: D ") && out.contains("the client keeps up"),
        "{out}"
    );
    assert!(out.contains("2: T = "), "{out}");
    // It runs no cell, so it has nothing to export and no trials to count: every
    // flag of run's that it does not use is refused before anything is made.
    for (flag, value) in [
        ("--export-json", "-"),
        ("--html", "R"),
        ("--pcap", "P"),
        ("--plot", "Q"),
        ("--trials", "7"),
    ] {
        let target = d.path().join(value);
        zerowin()
            .arg("predict")
            .arg(&f)
            .arg(flag)
            .arg(&target)
            .assert()
            .refused(flag);
        assert!(!target.exists(), "{flag} made {}", target.display());
    }
    let help = zerowin().args(["predict", "--help"]).assert().code(0);
    let help = String::from_utf8(help.get_output().stdout.clone()).unwrap();
    for used in ["--set", "--sweep", "--duration", "--isolation"] {
        assert!(help.contains(used), "{used} missing from\n{help}");
    }
    for unused in [
        "--trials",
        "--html",
        "--pcap",
        "--plot",
        "--export-json",
        "--no-capture",
    ] {
        assert!(!help.contains(unused), "{unused} listed in\n{help}");
    }
    // A sender the model does not cover says why.
    let out = zerowin()
        .arg("predict")
        .arg(&f)
        .args([
            "--set",
            "sender.kind=patient",
            "--set",
            "client.strategy=resume",
        ])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains("not modelled: the patient sender queues"),
        "{out}"
    );
}

#[test]
fn html_refuses_a_file_before_any_trial() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(d.path(), "p.toml", PACED);
    let not_dir = scenario_file(d.path(), "report", "x");
    zerowin()
        .arg("run")
        .arg(&f)
        .arg("--html")
        .arg(&not_dir)
        .assert()
        .refused("--html")
        .refused("not a directory");
    assert_eq!(std::fs::read_to_string(&not_dir).unwrap(), "x");
}
