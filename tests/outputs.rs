//! What a run writes, and what it leaves, tried as a user and as an attacker would
//! (issue 16's probe, row by row): exports never replace a device, a FIFO or
//! stdout; output trees are not followed through symlinks; every target is checked
//! before the first trial; what an external program spawns dies with the trial;
//! a killed run's scratch folders go at the next run; the close route names the
//! side; intervals say what they cover; bad values are refused by name.

mod common;
use common::{Refused, zerowin};

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{QUICK, scenario_file};

fn stdout_of(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

fn stderr_of(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

// ---- exports: devices, FIFOs, stdout

#[test]
fn an_export_to_a_device_node_leaves_the_node() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(d.path(), "q.toml", QUICK);
    // /dev/null's numbers, on a node of our own: nothing of the system's is at stake.
    let node = d.path().join("null");
    nix::sys::stat::mknod(
        &node,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .expect("mknod (the suite runs as root)");
    for flag in [
        "--export-json",
        "--export-csv",
        "--export-cells-csv",
        "--export-markdown",
    ] {
        zerowin()
            .arg("run")
            .arg(&f)
            .args(["--quiet", "--trials", "1", flag])
            .arg(&node)
            .assert()
            .code(0);
        let m = std::fs::symlink_metadata(&node).unwrap();
        assert!(m.file_type().is_char_device(), "{flag} replaced it: {m:?}");
    }
    // `client --json` goes through the same target.
    let m = std::fs::symlink_metadata(&node).unwrap();
    assert!(m.file_type().is_char_device());
}

#[test]
fn a_fifo_gets_the_whole_document_once() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(d.path(), "q.toml", QUICK);
    let fifo = d.path().join("pipe");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    zerowin()
        .arg("run")
        .arg(&f)
        .args(["--quiet", "--export-json"])
        .arg(&fifo)
        .assert()
        .code(0);
    let got = reader.join().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&got).expect("one whole JSON document");
    assert_eq!(v["complete"], true);
    assert_eq!(v["scenarios"][0]["trials"].as_array().unwrap().len(), 2);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn dev_stdout_is_stdout() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(d.path(), "q.toml", QUICK);
    let out = zerowin()
        .arg("run")
        .arg(&f)
        .args(["--export-json", "/dev/stdout"])
        .assert()
        .code(0);
    // Only the JSON is on stdout; the report went to stderr, as with `-`.
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(v["complete"], true);
    assert!(stderr_of(&out).contains("PASS"), "{}", stderr_of(&out));
    assert!(
        std::fs::symlink_metadata("/dev/stdout")
            .unwrap()
            .is_symlink()
    );
}

// ---- output trees: no symlink is followed

#[test]
fn a_symlinked_img_folder_is_refused_before_any_trial() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(d.path(), "q.toml", QUICK);
    let elsewhere = tempfile::tempdir().unwrap();
    let report = d.path().join("R");
    std::fs::create_dir(&report).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), report.join("img")).unwrap();
    let out = zerowin()
        .arg("run")
        .arg(&f)
        .arg("--html")
        .arg(&report)
        .assert()
        .refused("img: is a symlink");
    let err = stderr_of(&out);
    assert!(!err.contains("running"), "{err}");
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

#[test]
fn a_symlinked_spool_file_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let spool = d.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let outside = d.path().join("outside.redb");
    std::os::unix::fs::symlink(&outside, spool.join("spool.redb")).unwrap();
    let text = format!(
        "[sender]\nkind = \"spool\"\nspool_dir = \"{}\"\nphases = [\"200ms unlimited\"]\nrate = \"100/s\"\n[client]\nstrategy = \"resume\"\n[run]\nduration = \"1s\"\ntrials = 1\n[expect]\noutcome = \"survived\"\n",
        spool.display()
    );
    let f = scenario_file(d.path(), "s.toml", &text);
    zerowin()
        .arg("run")
        .arg(&f)
        .assert()
        .refused("spool.redb: is a symlink");
    assert!(!outside.exists(), "the spool wrote through the link");
    // inspect refuses it the same way.
    zerowin()
        .args(["spool", "inspect"])
        .arg(&spool)
        .assert()
        .refused("is a symlink");
}

#[test]
fn a_scenario_named_index_gets_its_own_page() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(d.path(), "index.toml", QUICK);
    let report = d.path().join("R");
    zerowin()
        .arg("run")
        .arg(&f)
        .args(["--quiet", "--trials", "1", "--html"])
        .arg(&report)
        .assert()
        .code(0);
    let index = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(index.contains("href=\"index-2.html\""), "{index}");
    let page = std::fs::read_to_string(report.join("index-2.html")).unwrap();
    assert!(page.contains("quick"), "{page}");
}

#[test]
fn a_late_html_target_fails_before_the_first_trial() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(d.path(), "q.toml", QUICK);
    let report = d.path().join("R");
    std::fs::create_dir_all(report.join("index.html")).unwrap();
    let json = d.path().join("x.json");
    let out = zerowin()
        .arg("run")
        .arg(&f)
        .arg("--html")
        .arg(&report)
        .arg("--export-json")
        .arg(&json)
        .assert()
        .refused("index.html: is a directory");
    let err = stderr_of(&out);
    assert!(!err.contains("running"), "{err}");
    assert!(!json.exists(), "an export was written for trials never run");
}

// ---- processes and scratch folders

/// Whether any process is in the network namespace `ns` (`net:[N]`).
fn anyone_in(ns: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|l| l.to_string_lossy() == ns)
        })
        .collect()
}

#[test]
fn a_setsid_grandchild_dies_with_its_trial_and_frees_the_namespace() {
    let d = tempfile::tempdir().unwrap();
    let ns_file = d.path().join("ns");
    let tag = format!("setsid-{}", std::process::id());
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/original_client.py");
    let script = format!(
        "readlink /proc/self/ns/net > {}; setsid sleep 313 & exec python3 {} --host $1 --port $2",
        ns_file.display(),
        client.display()
    );
    let text = format!(
        "[sender]\nsndbuf = 4096\n[client]\nstrategy = \"external\"\ncommand = [\"sh\", \"-c\", {script:?}, \"sh\", \"{{host}}\", \"{{port}}\"]\n[run]\nduration = \"5s\"\ntrials = 1\n[expect]\noutcome = \"reset\"\n"
    );
    let f = scenario_file(d.path(), "x.toml", &text);
    let out = zerowin()
        .arg("run")
        .arg(&f)
        .env("ZEROWIN_TEST_TAG", &tag)
        .assert()
        .code(0);
    let report = stdout_of(&out);
    assert!(
        report.contains("killed 1 process(es) that a program of the trial left running"),
        "{report}"
    );
    assert!(
        common::processes_tagged(&tag).is_empty(),
        "left: {:?}",
        common::processes_tagged(&tag)
    );
    let ns = std::fs::read_to_string(&ns_file).unwrap();
    assert!(ns.starts_with("net:["), "{ns}");
    assert!(
        anyone_in(ns.trim()).is_empty(),
        "the namespace is still held"
    );
}

#[test]
fn a_sigkilled_runs_scratch_folders_go_at_the_next_run() {
    let d = tempfile::tempdir().unwrap();
    let tmp = d.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/spike-spool.toml");
    let mut child = std::process::Command::new(common::exe())
        .arg("run")
        .arg(&shipped)
        .args(["--trials", "1", "--quiet"])
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let root = tmp.join("zerowin");
    let folders = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&root)
            .map(|r| r.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default()
    };
    // Until the spool has begun to fill its folder.
    let until = Instant::now() + Duration::from_secs(20);
    while !folders()
        .iter()
        .any(|f| f.join("spool.redb").metadata().is_ok_and(|m| m.len() > 0))
    {
        assert!(Instant::now() < until, "no spool folder appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left = folders();
    assert_eq!(left.len(), 1, "{left:?}");
    // The sender dies with the harness (PDEATHSIG); then its lock is free.
    let f = scenario_file(d.path(), "q.toml", QUICK);
    let out = zerowin()
        .arg("run")
        .arg(&f)
        .args(["--quiet", "--trials", "1"])
        .env("TMPDIR", &tmp)
        .assert()
        .code(0);
    let err = stderr_of(&out);
    assert!(err.contains("removed 1 scratch folder(s)"), "{err}");
    assert!(!left[0].exists());
}

// ---- honest reports

#[test]
fn compare_names_the_side_that_reset() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/spike-original.toml");
    let out = zerowin()
        .arg("compare")
        .arg(&shipped)
        .args(["--senders", "original,patient,spool", "--trials", "2"])
        .assert()
        .code(0);
    let text = stdout_of(&out);
    // The sweep table's rows of the two remedy senders (their client is resume; the
    // sweep table, unlike compare's own, has the close route).
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" resume ") && l.contains(" msg; "))
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    for r in &rows {
        assert!(r.contains("2 no sender abort"), "{r}\n{text}");
        assert!(
            !r.contains("sender RST"),
            "a remedy sender aborted? {r}\n{text}"
        );
    }
    // The client's own closing RST is counted as the client's.
    assert!(text.contains("client RST at its close"), "{text}");
    // The original's close is the sender's RST.
    let original = text
        .lines()
        .find(|l| l.contains(" original ") && l.contains("% ["))
        .unwrap();
    assert!(original.contains("2 sender RST at close"), "{original}");
}

#[test]
fn intervals_say_what_they_cover() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(d.path(), "q.toml", QUICK);
    let md = zerowin()
        .arg("run")
        .arg(&f)
        .args(["--quiet", "--trials", "3", "--export-markdown", "-"])
        .assert()
        .code(0);
    let md = stdout_of(&md);
    assert!(md.contains("covers 75.0%"), "{md}");
    assert!(!md.contains("t_fail ms [95%]"), "{md}");
    let report = d.path().join("R");
    let cells = d.path().join("cells.csv");
    zerowin()
        .arg("run")
        .arg(&f)
        .args(["--quiet", "--trials", "5", "--html"])
        .arg(&report)
        .arg("--export-cells-csv")
        .arg(&cells)
        .assert()
        .code(0);
    let page = std::fs::read_to_string(report.join("q.html")).unwrap();
    assert!(page.contains("covers 93.8%"), "{page}");
    assert!(!page.contains("time to failure ms [95%]"), "{page}");
    let csv = std::fs::read_to_string(&cells).unwrap();
    let mut rd = csv::Reader::from_reader(csv.as_bytes());
    let header = rd.headers().unwrap().clone();
    let i = header
        .iter()
        .position(|h| h == "ttf_median_ci_coverage")
        .unwrap();
    assert!(!header.iter().any(|h| h.contains("95_ms")), "{header:?}");
    let row = rd.records().next().unwrap().unwrap();
    assert_eq!(&row[i], "0.938");
}

// ---- values refused by name

fn refused(args: &[&str], want: &str) {
    zerowin().args(args).assert().refused(want);
}

#[test]
fn ranges_rates_keys_and_numbers_are_refused_by_name() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(d.path(), "q.toml", QUICK);
    let f = f.to_str().unwrap();
    refused(
        &["run", f, "--sweep", "client.rcvbuf=4096..4098:x1.0001"],
        "less than one new value (4096 twice",
    );
    refused(
        &["boundary", f, "--param", "run.trials", "--range", "1..5"],
        "`run.trials` is not a scenario parameter",
    );
    refused(
        &[
            "boundary",
            f,
            "--param",
            "expect.within",
            "--range",
            "1ms..5ms",
        ],
        "is not a scenario parameter",
    );
    refused(&["serve", "--rate", "0.0001"], "from 0.5");
    common::assert_refused(
        "[sender]\nkind = \"patient\"\nrate = \"0.0001KB/s\"\n[client]\nstrategy = \"resume\"\n[expect]\noutcome = \"survived\"\n",
        "s.toml:3: sender.rate: `0.0001KB/s` is 0.01 messages of 13 B a second, which rounds to none",
    );
    common::assert_refused(
        "[client]\nstrategy = \"naive\"\n[run]\ntrials = 99999999999999999999\n[expect]\noutcome = \"reset\"\n",
        "s.toml:4: run.trials: 99999999999999999999 is out of range; it must be between 1 and 10000",
    );
    common::assert_refused("", "s.toml: the file is empty");
    common::assert_refused(
        "[client]\nstrategy = \"naive\"\n",
        "s.toml:1: expect: missing section `[expect]`",
    );
    refused(
        &["run", "repro4k"],
        "repro4k: cannot read the scenario: no such file, and no shipped scenario of that name; did you mean `repro-4k`? (`zerowin list`",
    );
}

#[test]
fn a_sweep_range_keeps_both_ends() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(d.path(), "q.toml", QUICK);
    let out = zerowin()
        .arg("run")
        .arg(&f)
        .args(["--trials", "1", "--export-json", "-"])
        .args(["--sweep", "client.rcvbuf=4096..5000:x1e308"])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    let cells: Vec<&str> = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["params"]["client.rcvbuf"].as_str().unwrap())
        .collect();
    assert_eq!(cells, ["4096", "5000"]);
}

#[test]
fn bidi_controls_in_a_description_are_escaped() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(
        d.path(),
        "q.toml",
        &QUICK.replace("\"quick\"", "\"PASS \u{202E}LIAF\""),
    );
    let out = zerowin()
        .arg("run")
        .arg(&f)
        .args(["--trials", "1"])
        .assert()
        .code(0);
    let text = stdout_of(&out);
    assert!(!text.contains('\u{202E}'), "{text}");
    assert!(text.contains("\\u{202e}"), "{text}");
}
