//! The kernel's own word: the tracepoint observer of every trial, and `zerowin watch`
//! on a live host. Each close route's reason is claimed in a shipped scenario
//! (`rst_reason`), which tests/scenarios.rs runs; here: the 2014 incident with no
//! zerowin in the middle, two runs at once, and a user without tracefs.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{QUICK, Refused, exe, scenario_file, zerowin};

/// A child in a process group of its own, killed and reaped when dropped.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: a plain kill of the process group this test created.
        unsafe { libc::killpg(self.0.id() as i32, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

fn spawn(cmd: &mut Command) -> Group {
    Group(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap(),
    )
}

/// The lines of a pipe, read on a thread of their own, so that a test waits for a
/// line with a deadline.
fn lines(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(pipe).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// The first line with `want`, within `limit`.
fn wait_for(rx: &mpsc::Receiver<String>, want: &str, limit: Duration) -> String {
    let end = Instant::now() + limit;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(want) => return l,
            Ok(_) => {}
            Err(e) => panic!("no line with {want:?} within {limit:?}: {e}"),
        }
    }
}

fn script(name: &str) -> String {
    format!("{}/scripts/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The 2014 incident, with zerowin only watching: the independent non-blocking
/// sender and the naive Python client, started here. watch names the sender's own
/// process and the kernel's reason, TCP_ABORT_ON_CLOSE.
#[test]
fn watch_names_the_2014_incident_by_the_senders_process_and_the_kernels_reason() {
    let mut sender =
        spawn(Command::new("python3").args([&script("nonblocking_sender.py"), "--port", "0"]));
    let sender_pid = sender.0.id();
    let out = lines(sender.0.stdout.take().unwrap());
    let port = wait_for(&out, "port ", Duration::from_secs(10))
        .trim()
        .trim_start_matches("port ")
        .to_string();
    let mut watch = spawn(Command::new(exe()).args([
        "watch",
        "--port",
        &port,
        "--json",
        "-",
        "--duration",
        "60s",
    ]));
    let json = lines(watch.0.stdout.take().unwrap());
    let human = lines(watch.0.stderr.take().unwrap());
    wait_for(&human, "zerowin watch: TCP resets", Duration::from_secs(10));
    let mut client = spawn(Command::new("python3").args([
        &script("original_client.py"),
        "--host",
        "127.0.0.1",
        "--port",
        &port,
    ]));
    let reset = wait_for(&json, "\"reason\"", Duration::from_secs(20));
    let end = Instant::now() + Duration::from_secs(20);
    while client.0.try_wait().unwrap().is_none() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Ctrl-C: the summary, then exit 130.
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(watch.0.id() as i32, libc::SIGINT) };
    let summary = wait_for(&json, "\"summary\"", Duration::from_secs(10));
    let status = watch.0.wait().unwrap();
    let r: serde_json::Value = serde_json::from_str(&reset).unwrap();
    assert_eq!(r["reason"], "TCP_ABORT_ON_CLOSE", "{r}");
    assert_eq!(r["tgid"], sender_pid, "the sender's process: {r}");
    assert_eq!(r["comm"], "python3", "{r}");
    assert_eq!(r["in_softirq"], false, "{r}");
    assert_eq!(r["src"], format!("127.0.0.1:{port}"), "{r}");
    assert_eq!(r["meaning"], "closed with unread data in its receive queue");
    let s: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(s["summary"]["lost"], 0, "{s}");
    let by = &s["summary"]["by_reason_and_process"][0];
    assert_eq!(
        (&by["reason"], &by["comm"]),
        (&"TCP_ABORT_ON_CLOSE".into(), &"python3".into()),
        "{s}"
    );
    assert!(
        status.code() == Some(0) || status.code() == Some(130),
        "{status:?}"
    );
}

/// Two runs at once, each in its own ftrace instance: every trial's sockets and
/// RSTs are its own, and no port of one run appears in the other's record.
#[test]
fn two_runs_at_once_see_only_their_own_connections() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(
        d.path(),
        "q.toml",
        &QUICK.replace("trials = 2", "trials = 15"),
    );
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let f = f.clone();
            std::thread::spawn(move || {
                let out = Command::new(exe())
                    .args(["run", "--json", "-"])
                    .arg(&f)
                    .output()
                    .unwrap();
                assert_eq!(out.status.code(), Some(0));
                serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
            })
        })
        .collect();
    let mut ports: Vec<std::collections::BTreeSet<String>> = Vec::new();
    for run in runs {
        let v = run.join().unwrap();
        let mut mine = std::collections::BTreeSet::new();
        for t in v["scenarios"][0]["trials"].as_array().unwrap() {
            let k = &t["observation"]["kernel"];
            let sockets = k["sockets"].as_array().unwrap();
            assert_eq!(
                sockets.len(),
                2,
                "the client's socket and the sender's: {k}"
            );
            let own: Vec<&str> = sockets
                .iter()
                .map(|s| s["local"].as_str().unwrap())
                .collect();
            let resets = k["resets"].as_array().unwrap();
            assert!(!resets.is_empty(), "{k}");
            for r in resets {
                assert!(
                    own.contains(&r["src"].as_str().unwrap()),
                    "{r} not from {own:?}"
                );
            }
            mine.extend(own.iter().map(|s| s.to_string()));
        }
        ports.push(mine);
    }
    let both: Vec<&String> = ports[0].intersection(&ports[1]).collect();
    assert!(both.is_empty(), "sockets in both runs' records: {both:?}");
}

/// The 2014 reproduction with the kernel's default buffers: by the sender's EAGAIN
/// the client has replied many times, so its close is always an RST at close.
const UNREAD: &str = r#"
[sender]
[client]
strategy = "naive"
reply = "Hi i got the data"
[run]
duration = "10s"
trials = 1
[expect]
outcome = "reset"
rst_reason = "TCP_ABORT_ON_CLOSE"
"#;

/// A user who may not use tracefs: one line says so, the trials go on with the other
/// instruments, a claim on the kernel's reason fails and says why, and watch
/// refuses with the reason.
#[test]
fn without_tracefs_the_run_says_so_and_watch_refuses() {
    // A copy of zerowin that user `nobody` can reach, whatever the checkout's modes.
    let d = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .tempdir()
        .unwrap();
    let bin = d.path().join("zerowin");
    std::fs::copy(exe(), &bin).unwrap();
    let f = scenario_file(d.path(), "q.toml", UNREAD);
    let nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&bin)
            .args(args)
            .current_dir(d.path())
            .output()
            .expect("setpriv (util-linux)")
    };
    let out = nobody(&["run", f.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the claim cannot hold: {stdout}"
    );
    assert!(
        stdout
            .contains("no kernel events: tracefs at /sys/kernel/tracing is not open to this user"),
        "{stdout}"
    );
    assert!(stdout.contains("instruments: counters"), "{stdout}");
    assert!(
        stdout.contains("so the sender's RST reasons are unknown; expected TCP_ABORT_ON_CLOSE"),
        "{stdout}"
    );
    nobody(&["watch", "--duration", "1s"]).refused(
        "zerowin watch: no kernel events: tracefs at /sys/kernel/tracing is not open to this user",
    );
    // root, the same binary: the kernel's word is there.
    let out = zerowin().arg("run").arg(&f).assert().code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("sender ABORT_ON_CLOSE") && !stdout.contains("no kernel events"),
        "{stdout}"
    );
}

/// The instance directories of a process, under tracefs.
fn instances_of(pid: u32) -> Vec<String> {
    std::fs::read_dir("/sys/kernel/tracing/instances")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(&format!("zerowin-{pid}-")))
                .collect()
        })
        .unwrap_or_default()
}

/// The run's instance exists while it runs, is removed on SIGTERM, and one a
/// SIGKILLed run left is removed by the next run.
#[test]
fn a_runs_instance_goes_on_sigterm_and_a_killed_runs_with_the_next() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(
        d.path(),
        "long.toml",
        "[sender]\nkind = \"patient\"\nrate = \"1000/s\"\n[client]\nstrategy = \"resume\"\n[run]\nduration = \"20s\"\n[expect]\noutcome = \"survived\"\n",
    );
    let started = |g: &Group| {
        let end = Instant::now() + Duration::from_secs(10);
        while instances_of(g.0.id()).is_empty() {
            assert!(Instant::now() < end, "no instance for {}", g.0.id());
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut run = spawn(Command::new(exe()).args(["run", "--quiet"]).arg(&f));
    started(&run);
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(run.0.id() as i32, libc::SIGTERM) };
    let status = run.0.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    assert!(instances_of(run.0.id()).is_empty(), "left after SIGTERM");
    let killed = spawn(Command::new(exe()).args(["run", "--quiet"]).arg(&f));
    started(&killed);
    let pid = killed.0.id();
    drop(killed); // SIGKILL to its group
    assert_eq!(
        instances_of(pid).len(),
        1,
        "a SIGKILLed run cannot clean up"
    );
    zerowin()
        .arg("run")
        .arg(scenario_file(d.path(), "q.toml", QUICK))
        .assert()
        .code(0);
    assert!(instances_of(pid).is_empty(), "the next run removes it");
}

/// A network namespace this test makes (`ip netns add`), removed when dropped.
struct NamedNetns(String);

impl NamedNetns {
    fn new() -> NamedNetns {
        let name = format!("zw-watch-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        assert!(ok.success(), "ip netns add {name}");
        let up = ["netns", "exec", &name, "ip", "link", "set", "lo", "up"];
        assert!(Command::new("ip").args(up).status().unwrap().success());
        NamedNetns(name)
    }
}

impl Drop for NamedNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// The 2014 incident twice at once on the same port, once inside a namespace and once
/// on the host's loopback: `watch --netns` reports the namespace's reset alone, by its
/// sender's process.
#[test]
fn watch_netns_keeps_the_namespaces_resets_and_no_other() {
    let ns = NamedNetns::new();
    let incident = |inside: bool| {
        let mut cmd = Command::new(if inside { "ip" } else { "python3" });
        if inside {
            cmd.args(["netns", "exec", &ns.0, "python3"]);
        }
        cmd.args([&script("nonblocking_sender.py"), "--port", "0"]);
        let mut sender = spawn(&mut cmd);
        let out = lines(sender.0.stdout.take().unwrap());
        let port = wait_for(&out, "port ", Duration::from_secs(10))
            .trim()
            .trim_start_matches("port ")
            .to_string();
        (sender, port)
    };
    let mut watch = spawn(Command::new(exe()).args(["watch", "--netns", &ns.0, "--json", "-"]));
    let json = lines(watch.0.stdout.take().unwrap());
    let human = lines(watch.0.stderr.take().unwrap());
    wait_for(&human, "only netns", Duration::from_secs(10));
    let (inner, inner_port) = incident(true);
    let (outer, outer_port) = incident(false);
    let client = |inside: bool, port: &str| {
        let mut cmd = Command::new(if inside { "ip" } else { "python3" });
        if inside {
            cmd.args(["netns", "exec", &ns.0, "python3"]);
        }
        cmd.args([
            &script("original_client.py"),
            "--host",
            "127.0.0.1",
            "--port",
            port,
        ]);
        spawn(&mut cmd)
    };
    let mut clients = [client(true, &inner_port), client(false, &outer_port)];
    // The host's incident happens too: its client is reset.
    let outer_err = lines(clients[1].0.stderr.take().unwrap());
    wait_for(&outer_err, "ECONNRESET", Duration::from_secs(20));
    let reset = wait_for(&json, "\"reason\"", Duration::from_secs(20));
    // Both incidents end by themselves; then Ctrl-C for the summary.
    let end = Instant::now() + Duration::from_secs(20);
    for mut c in clients {
        while c.0.try_wait().unwrap().is_none() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(watch.0.id() as i32, libc::SIGINT) };
    let summary = wait_for(&json, "\"summary\"", Duration::from_secs(10));
    let r: serde_json::Value = serde_json::from_str(&reset).unwrap();
    assert_eq!(r["reason"], "TCP_ABORT_ON_CLOSE", "{r}");
    assert_eq!(r["src"], format!("127.0.0.1:{inner_port}"), "{r}");
    // `ip netns exec` execs python3: the sender's pid is the child's.
    assert_eq!(r["tgid"], inner.0.id(), "{r}");
    let s: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(
        s["summary"]["resets"], 1,
        "the host's own incident is not the namespace's: {s}"
    );
    drop(outer);
}
