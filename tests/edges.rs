//! The edges, tried as a new user (or a hostile input) would: closed pipes and full
//! disks, FIFOs and devices named as scenarios, interrupted runs and their exports,
//! symlinks among the artifacts, errors that name the key or the flag, signals and
//! their exit codes, terminal escapes in user strings, and reports of many trials.
//! Each test fails without the fix it is named after.

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{QUICK, Refused, exe, processes_tagged, scenario_file as file, zerowin};

use predicates::prelude::*;

/// A scenario that runs for `duration` (the drain client keeps up).
fn long(duration: &str) -> String {
    format!(
        "[client]\nstrategy = \"drain\"\n[run]\nduration = \"{duration}\"\n[expect]\noutcome = \"survived\"\n"
    )
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: c is a valid C string naming a path that does not exist yet.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn json_of(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).expect("valid JSON")
}

// ---- 2. broken pipes and full disks

#[test]
fn a_closed_pipe_ends_the_run_quietly_and_reaps_everything() {
    let d = tempfile::tempdir().unwrap();
    file(d.path(), "a.toml", QUICK);
    file(d.path(), "b.toml", &long("30s"));
    let tag = format!("pipe-{}", std::process::id());
    let started = Instant::now();
    // bash, for PIPESTATUS: a pipeline's own status is head's, and the claim is
    // zerowin's (exit 0 when its reader goes away).
    let out = StdCommand::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' run '{}' -q | head -1; exit ${{PIPESTATUS[0]}}",
            exe().display(),
            d.path().display()
        ))
        .env("ZEROWIN_TEST_TAG", &tag)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "zerowin's own status: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("a: PASS"),
        "{out:?}"
    );
    // The 30 s scenario was cut short, not run to its end.
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(processes_tagged(&tag), Vec::<i32>::new());
}

#[test]
fn a_full_disk_is_an_error_not_a_panic() {
    let d = tempfile::tempdir().unwrap();
    let f = file(d.path(), "q.toml", QUICK);
    let full = std::fs::File::create("/dev/full").unwrap();
    let out = StdCommand::new(exe())
        .arg("run")
        .arg(&f)
        .stdout(full)
        .output()
        .unwrap();
    out.refused("No space left on device");
}

// ---- 3. bounded inputs

#[test]
fn a_fifo_a_device_and_a_huge_file_are_refused_at_once() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("pipe.toml");
    mkfifo(&fifo);
    let huge = d.path().join("huge.toml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(5 << 20)
        .unwrap();
    for (path, says) in [
        (fifo.as_path(), "is a FIFO, not a regular file"),
        (Path::new("/dev/zero"), "is a character device"),
        (
            huge.as_path(),
            "is 5242880 bytes, more than the 1048576 bytes a scenario may have",
        ),
    ] {
        // "At once" is an order, not a duration: the refusal comes before any read
        // (a FIFO with no writer would block its open for ever, /dev/zero its read
        // up to the size limit). A blocked run is killed at the bound, and then has
        // no exit code 2 and no refusal to show.
        zerowin()
            .arg("run")
            .arg(path)
            .timeout(Duration::from_secs(10))
            .assert()
            .refused(&format!("{}: {says}", path.display()));
    }
}

#[test]
fn a_directory_names_the_entry_that_is_not_a_file() {
    let d = tempfile::tempdir().unwrap();
    file(d.path(), "good.toml", QUICK);
    mkfifo(&d.path().join("stray.toml"));
    zerowin()
        .arg("run")
        .arg(d.path())
        .timeout(Duration::from_secs(10))
        .assert()
        .refused("stray.toml: is a FIFO")
        .stderr(predicate::str::contains("running").not());
}

#[test]
fn a_symlink_to_a_scenario_still_works() {
    let d = tempfile::tempdir().unwrap();
    let real = file(
        d.path(),
        "real.toml",
        &QUICK.replace("trials = 2", "trials = 1"),
    );
    let link = d.path().join("link.toml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    zerowin().arg("run").arg(&link).assert().success();
}

// ---- 4. exports survive

#[test]
fn json_is_rewritten_after_every_scenario_and_survives_ctrl_c() {
    let d = tempfile::tempdir().unwrap();
    file(d.path(), "a.toml", QUICK);
    file(d.path(), "b.toml", &long("60s"));
    let json = d.path().join("out.json");
    std::fs::write(&json, "the previous run's file").unwrap();
    let mut child = StdCommand::new(exe())
        .arg("run")
        .arg(d.path())
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let written = wait_until(Duration::from_secs(20), || {
        std::fs::read(&json).is_ok_and(|b| b.starts_with(b"{"))
    });
    assert!(written, "the first scenario's export was written");
    // SAFETY: plain kill(2) of the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let v = json_of(&json);
    assert_eq!(v["complete"], false, "an interrupted run says so");
    let names: Vec<&str> = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a"]);
    assert_eq!(v["scenarios"][0]["trials"].as_array().unwrap().len(), 2);
}

#[test]
fn an_export_onto_an_input_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let f = file(d.path(), "q.toml", QUICK);
    zerowin()
        .arg("run")
        .arg(&f)
        .arg("--json")
        .arg(&f)
        .assert()
        .refused("that is one of the inputs");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), QUICK);
}

#[test]
fn json_on_stdout_is_only_json() {
    let d = tempfile::tempdir().unwrap();
    let f = file(d.path(), "q.toml", QUICK);
    let out = zerowin()
        .arg("run")
        .arg(&f)
        .args(["--json", "-"])
        .assert()
        .success();
    let o = out.get_output();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON alone");
    assert_eq!(v["complete"], true);
    assert!(String::from_utf8_lossy(&o.stderr).contains("What happened in trial 1"));
    let quiet = zerowin()
        .arg("run")
        .arg(&f)
        .args(["--json", "-", "-q"])
        .assert()
        .success();
    assert!(!String::from_utf8_lossy(&quiet.get_output().stderr).contains("What happened"));
}

// ---- 7. checked before the first trial

#[test]
fn a_missing_program_is_refused_before_any_trial() {
    let d = tempfile::tempdir().unwrap();
    file(d.path(), "a.toml", QUICK);
    file(
        d.path(),
        "b.toml",
        "[client]\nstrategy = \"external\"\ncommand = [\"no-such-client-program\", \"{port}\"]\n[expect]\noutcome = \"reset\"\n",
    );
    zerowin()
        .arg("run")
        .arg(d.path())
        .assert()
        .refused("b.toml:3: client.command: program `no-such-client-program` was not found in PATH")
        .stderr(predicate::str::contains("running").not());
}

#[test]
fn compare_checks_every_variant_before_running_any() {
    let d = tempfile::tempdir().unwrap();
    let f = file(d.path(), "q.toml", QUICK);
    zerowin()
        .arg("compare")
        .arg(&f)
        .args(["--strategies", "naive,external"])
        .assert()
        .refused("client.command: strategy `external`")
        .stderr(predicate::str::contains("running").not());
}

#[test]
fn a_shipped_external_scenario_runs_by_name_from_anywhere() {
    let d = tempfile::tempdir().unwrap();
    zerowin()
        .current_dir(d.path())
        .args(["run", "external-python-fixed", "--trials", "1"])
        .args(["--duration", "500ms"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "<shipped>/external-python-fixed.toml",
        ))
        .stdout(predicate::str::contains("PASS expected survived"));
}

// ---- 8. artifacts

#[test]
fn artifacts_never_follow_a_symlink_and_never_collide() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let precious = d.path().join("precious");
    std::fs::write(&precious, "keep").unwrap();
    std::os::unix::fs::symlink(&precious, out.join("q-naive-001.pcap")).unwrap();
    // The same file twice, and another file of the same name elsewhere.
    let a = tempfile::tempdir().unwrap();
    let q1 = file(
        d.path(),
        "q.toml",
        &QUICK.replace("trials = 2", "trials = 1"),
    );
    let q2 = file(
        a.path(),
        "q.toml",
        &QUICK.replace("trials = 2", "trials = 1"),
    );
    zerowin()
        .arg("run")
        .args([&q1, &q1, &q2])
        .arg("--pcap")
        .arg(&out)
        .arg("--plot")
        .arg(&out)
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep");
    let runs: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(runs.len(), 1);
    let mut names: Vec<String> = std::fs::read_dir(&runs[0])
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "q-naive-001.pcap",
            "q-naive-001.svg",
            "q-naive-2-001.pcap",
            "q-naive-2-001.svg",
            "q-naive-3-001.pcap",
            "q-naive-3-001.svg"
        ]
    );
}

#[test]
fn two_runs_at_once_into_one_directory_leave_two_valid_sets() {
    let d = tempfile::tempdir().unwrap();
    let f = file(d.path(), "q.toml", QUICK);
    let out = d.path().join("pcaps");
    let runs: Vec<_> = (0..2)
        .map(|_| {
            StdCommand::new(exe())
                .arg("run")
                .arg(&f)
                .arg("--pcap")
                .arg(&out)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut r in runs {
        assert!(r.wait().unwrap().success());
    }
    let dirs: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 2);
    for dir in dirs {
        for n in 1..=2 {
            let pcap = dir.join(format!("q-naive-00{n}.pcap"));
            let ok = StdCommand::new("capinfos")
                .arg(&pcap)
                .output()
                .expect("capinfos (tshark's package)");
            assert!(ok.status.success(), "{pcap:?}: {ok:?}");
        }
    }
}

#[test]
fn a_pcap_interrupted_by_ctrl_c_ends_at_a_packet_boundary() {
    let d = tempfile::tempdir().unwrap();
    let f = file(d.path(), "long.toml", &long("30s"));
    let out = d.path().join("pcaps");
    let mut child = StdCommand::new(exe())
        .arg("run")
        .arg(&f)
        .arg("--pcap")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pcap = || {
        std::fs::read_dir(&out)
            .ok()?
            .next()?
            .ok()
            .map(|e| e.path().join("long-drain-001.pcap"))
    };
    let growing = wait_until(Duration::from_secs(20), || {
        pcap().is_some_and(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 1 << 20))
    });
    assert!(growing, "the capture is being written");
    // SAFETY: plain kill(2) of the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let info = StdCommand::new("capinfos")
        .arg(pcap().unwrap())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&info.stderr);
    assert!(info.status.success(), "capinfos: {text}");
    assert!(!text.contains("cut short"), "{text}");
}

// ---- 9, 10. errors name the key, and the flag

#[test]
fn a_type_error_names_the_key() {
    let d = tempfile::tempdir().unwrap();
    let f = file(
        d.path(),
        "t.toml",
        "[client]\nstrategy = \"naive\"\n[run]\ntrials = \"5\"\n[expect]\noutcome = \"reset\"\n",
    );
    zerowin()
        .arg("run")
        .arg(&f)
        .assert()
        .refused("t.toml:4: run.trials: expected an integer, got the string \"5\"");
}

#[test]
fn flags_have_the_ranges_of_their_keys() {
    for args in [
        vec!["run", "x.toml", "--duration", "0s"],
        vec!["run", "x.toml", "--duration", "2h"],
        vec!["run", "x.toml", "--trials", "0"],
        vec!["run", "x.toml", "--sample", "10ns"],
        vec![
            "client",
            "naive",
            "--connect",
            "127.0.0.1:1",
            "--call-timeout",
            "0s",
        ],
        vec![
            "client",
            "naive",
            "--connect",
            "127.0.0.1:1",
            "--recv-size",
            "0",
        ],
        vec![
            "client",
            "naive",
            "--connect",
            "127.0.0.1:1",
            "--rcvbuf",
            "10",
        ],
        vec![
            "client",
            "naive",
            "--connect",
            "127.0.0.1:1",
            "--delay",
            "2m",
        ],
    ] {
        let flag = args[args.len() - 2];
        zerowin()
            .args(&args)
            .assert()
            .refused(&format!("'{flag} <"))
            .refused("out of range");
    }
    zerowin()
        .args(["client", "external", "--connect", "127.0.0.1:1"])
        .assert()
        .refused("only `zerowin run` can use it");
}

// ---- 11. signals

#[test]
fn sigterm_exits_143_after_reaping_everything() {
    let d = tempfile::tempdir().unwrap();
    let f = file(d.path(), "long.toml", &long("30s"));
    let tag = format!("term-{}", std::process::id());
    let child = StdCommand::new(exe())
        .arg("run")
        .arg(&f)
        .env("ZEROWIN_TEST_TAG", &tag)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || processes_tagged(&tag).len()
            >= 3),
        "the trial started"
    );
    // SAFETY: plain kill(2) of the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted by SIGTERM"));
    assert_eq!(processes_tagged(&tag), Vec::<i32>::new());
}

// ---- 12, 13. hostile strings, many trials

#[test]
fn user_strings_are_printed_with_control_characters_escaped() {
    let d = tempfile::tempdir().unwrap();
    let f = file(
        d.path(),
        "esc.toml",
        &QUICK
            .replace("\"quick\"", "\"red \\u001b[31malert\\u0007\"")
            .replace("rcvbuf = 4096", "rcvbuf = 4096\nreply = \"hi\\u001b[2J\""),
    );
    let out = zerowin().arg("run").arg(&f).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\u{7}'),
        "{stdout}"
    );
    assert!(stdout.contains("red \\u{1b}[31malert\\u{7}"), "{stdout}");
    assert!(stdout.contains("reply \"hi\\u{1b}[2J\""), "{stdout}");
}

#[test]
fn many_trials_are_summarised_without_rules_between_rows() {
    let d = tempfile::tempdir().unwrap();
    let f = file(
        d.path(),
        "many.toml",
        &QUICK.replace("trials = 2", "trials = 25"),
    );
    let out = zerowin().arg("run").arg(&f).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("25 trials: 25 reset"), "{stdout}");
    assert!(
        stdout.contains("time to failure (25 trials): min"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "close route (the kernel's reason; without it, who sent RST from the wire and which abort from the sender's counters): "
        ),
        "{stdout}"
    );
    // Every RST of the 25 trials, by the kernel's reason: the original sender's
    // close is one of its two routes in each.
    let reasons = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("RSTs by the kernel's reason: "))
        .unwrap_or_else(|| panic!("no reasons line: {stdout}"));
    let closes: usize = reasons
        .split(", ")
        .filter(|p| {
            p.ends_with("sender TCP_ABORT_ON_CLOSE") || p.ends_with("sender TCP_ABORT_ON_DATA")
        })
        .map(|p| p.split(' ').next().unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(closes, 25, "{reasons}");
    assert!(
        stdout.contains("The first 3 trials and the 3 slowest"),
        "{stdout}"
    );
    // At most 6 trial rows, and no rule line between rows.
    let rows = stdout
        .lines()
        .filter(|l| l.contains("EAGAIN; close at"))
        .count();
    assert!((3..=6).contains(&rows), "{stdout}");
    let rules = stdout.lines().filter(|l| l.starts_with('─')).count();
    assert_eq!(
        rules, 4,
        "one rule above and below each of the two tables: {stdout}"
    );
}

#[test]
fn list_shows_every_strategy_and_sender_in_its_section() {
    let out = zerowin().arg("list").assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let section = |name: &str| -> Vec<String> {
        stdout
            .lines()
            .skip_while(|l| !l.starts_with(name))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter(|l| !l.starts_with("   ")) // a sender's keys, under its name
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        section("Strategies:"),
        ["naive", "drain", "external", "resume", "threaded"]
    );
    assert_eq!(
        section("Senders:"),
        ["original", "patient", "spool", "trickle", "external"]
    );
    for key in [
        "close_policy",
        "queue_bytes",
        "on_full",
        "stall_timeout",
        "phases",
        "spool_dir",
        "fsync",
        "recv_size",
        "ack_every",
        "start_after",
        "ready_timeout",
        "request_file",
    ] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(key)),
            "list shows the key {key}"
        );
    }
    assert!(section("Shipped scenarios").contains(&"scenarios/repro-4k.toml".to_string()));
}
