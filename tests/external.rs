//! A server of the user's (`[sender] kind = "external"`), helpers and requests, and
//! every way they can go wrong: a server that never becomes ready, one that exits at
//! once, one that ignores SIGTERM, a helper that crashes, a request the server
//! rejects, a port already taken, a missing program, and the fault schedule on an
//! external server. Each ends with a clear error or a record that says what
//! happened, and leaves no process and no scratch folder behind.

use std::path::Path;

mod common;
use common::{Refused, processes_tagged, scenario_file as file, zerowin};

/// A server of the user's: Python, listening on {host}:{port}, answering nothing.
const SILENT: &str = r#"["python3", "-c", "import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(); c=s.accept(); time.sleep(60)", "{host}", "{port}"]"#;

fn scenario(sender: &str, rest: &str) -> String {
    format!(
        "[sender]\nkind = \"external\"\n{sender}\n[client]\nstrategy = \"drain\"\nreply = \"\"\n[run]\nduration = \"300ms\"\ntrials = 1\n{rest}\n[expect]\noutcome = \"survived\"\n"
    )
}

/// The scratch folders of this test's runs: none may be left.
fn scratch_left(tmp: &Path) -> usize {
    std::fs::read_dir(tmp.join("zerowin"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Runs `zerowin run` on `text` with its own TMPDIR and a tag on every process it
/// starts; returns the output after checking that nothing was left behind.
fn run(text: &str, args: &[&str]) -> std::process::Output {
    let d = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let f = file(d.path(), "s.toml", text);
    let tag = format!("external-{}-{}", std::process::id(), rand_tag());
    let out = zerowin()
        .env("TMPDIR", tmp.path())
        .env("ZEROWIN_TEST_TAG", &tag)
        .arg("run")
        .arg(&f)
        .args(args)
        .output()
        .unwrap();
    assert!(processes_tagged(&tag).is_empty(), "processes left behind");
    assert_eq!(scratch_left(tmp.path()), 0, "a scratch folder was left");
    out
}

/// The stdout of a run that must have exited 0 (else its output, in the failure).
fn succeeded(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// A scenario file `text` in a new folder, beside a copy of scripts/push_server.py
/// (its `{dir}/push_server.py`).
fn beside_push_server(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/push_server.py"),
        d.path().join("push_server.py"),
    )
    .unwrap();
    let f = file(d.path(), "s.toml", text);
    (d, f)
}

fn rand_tag() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

#[test]
fn a_server_that_never_becomes_ready_is_stopped_and_its_output_shown() {
    let s = scenario(
        r#"command = ["sh", "-c", "echo starting up; sleep 30 # {port}"]
ready = { output = "accepting connections" }
ready_timeout = "300ms""#,
        "",
    );
    run(&s, &[])
        .refused("its output never matched `accepting connections`; its last output: starting up");
}

#[test]
fn a_server_that_exits_at_once_is_refused_with_its_last_words() {
    let s = scenario(
        r#"command = ["sh", "-c", "echo 'bad config line 3' >&2; exit 3 # {port}"]"#,
        "",
    );
    run(&s, &[])
        .refused("exited with code 3 before it was ready; its last output: bad config line 3");
}

#[test]
fn a_server_that_ignores_sigterm_is_killed_and_the_record_says_so() {
    let s = scenario(
        &format!(
            "command = [\"sh\", \"-c\", \"trap '' TERM; exec \\\"$0\\\" \\\"$@\\\"\", {}]\nstop_grace = \"200ms\"",
            &SILENT[1..SILENT.len() - 1]
        ),
        "",
    );
    let d = tempfile::tempdir().unwrap();
    let json = d.path().join("r.json");
    let out = run(&s, &["--json", json.to_str().unwrap()]);
    let text = succeeded(&out);
    assert!(
        text.contains("it ignored SIGTERM at the end and was killed with SIGKILL"),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let p = &v["scenarios"][0]["trials"][0]["sender_program"];
    assert_eq!(p["needed_sigkill"], true, "{p}");
    assert!(p["peak_rss_bytes"].as_u64().unwrap() > 0, "{p}");
}

#[test]
fn a_helper_that_crashes_is_an_error_that_names_it() {
    let s = scenario(
        &format!("command = {SILENT}"),
        "[[helper]]\ncommand = [\"sh\", \"-c\", \"echo 'publisher: no route' >&2; exit 4\"]\n",
    );
    run(&s, &[]).refused("helper 1 `sh -c echo 'publisher: no route' >&2; exit 4` exited with code 4 before the trial ended; its last output: publisher: no route");
}

#[test]
fn a_missing_program_is_refused_when_the_scenario_is_read() {
    let s = scenario(r#"command = ["no-such-server-zw", "{port}"]"#, "");
    run(&s, &[])
        .refused("s.toml:3: sender.command: program `no-such-server-zw` was not found in PATH");
    let s = scenario(
        &format!("command = {SILENT}"),
        "[[helper]]\ncommand = [\"no-such-helper-zw\"]\n",
    );
    run(&s, &[]).refused("helper.command: program `no-such-helper-zw` was not found in PATH");
}

#[test]
fn bad_keys_are_refused_with_the_key() {
    for (sender, want) in [
        (r#"command = ["sh"]"#, "sender.command: must contain {port}"),
        (
            &format!("command = {SILENT}\nconfig = {{ path = \"/etc/x.conf\", text = \"x\" }}")
                as &str,
            "sender.config: path `/etc/x.conf` must be in the trial's own folder",
        ),
        (
            &format!("command = {SILENT}\nconfig = {{ path = \"{{tmp}}/../x\", text = \"x\" }}"),
            "without `..`",
        ),
        (
            &format!("command = {SILENT}\nready = {{ output = \"(\" }}"),
            "sender.ready: output: not a regular expression",
        ),
        (
            &format!("command = {SILENT}\nready = 5"),
            "sender.ready: expected \"port\"",
        ),
        (
            &format!("command = {SILENT}\nport = 70000"),
            "sender.port: 70000 is out of range",
        ),
    ] {
        run(&scenario(sender, ""), &[]).refused(want);
    }
    run(
        &scenario(&format!("command = {SILENT}"), "").replace("reply = \"\"", "request = '\\q'"),
        &[],
    )
    .refused("client.request: `\\q` is not an escape");
}

#[test]
fn a_port_already_taken_is_refused_before_the_server_starts() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let s = scenario(&format!("command = {SILENT}\nport = {port}"), "");
    run(&s, &["--isolation", "host"]).refused(&format!("port {port} is already taken"));
}

#[test]
fn a_request_the_server_rejects_shows_its_answer() {
    // A server that answers every request with an error line and closes.
    let s = scenario(
        r#"command = ["python3", "-c", "import socket,sys; s=socket.socket(); s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(); c,_=s.accept(); c.recv(100); c.sendall(b'-ERR unknown command\\r\\n'); c.close()", "{host}", "{port}"]"#,
        "",
    )
    .replace("reply = \"\"", "reply = \"\"\nrequest = 'HELLO\\r\\n'")
    .replace("outcome = \"survived\"", "outcome = \"eof\"");
    let text = succeeded(&run(&s, &[]));
    assert!(
        text.contains(r#"the client sent its 7 B request after connecting; the server's first bytes: "-ERR unknown command\r\n""#),
        "{text}"
    );
}

#[test]
fn the_fault_schedule_pauses_and_kills_an_external_server() {
    let s = scenario(
        r#"command = ["python3", "{dir}/push_server.py", "{host}", "{port}", "--drain"]
label = "asyncio""#,
        "[[fault]]\nat = \"100ms\"\naction = \"pause-sender\"\n[[fault]]\nat = \"200ms\"\naction = \"resume-sender\"\n[[fault]]\nat = \"250ms\"\naction = \"kill-sender\"\n",
    )
    .replace("duration = \"300ms\"", "duration = \"2s\"")
    .replace("outcome = \"survived\"", "outcome = \"eof\"");
    let (_d, f) = beside_push_server(&s);
    // The server's process is gone, so its kernel closes its socket: nothing of the
    // client's was unread (reply = ""), so a FIN, and the client reads to EOF.
    let text = succeeded(&zerowin().arg("run").arg(&f).output().unwrap());
    assert!(
        text.contains("pause-sender at") && text.contains("kill-sender at"),
        "{text}"
    );
    assert!(
        text.contains("a kill-sender fault killed it (SIGKILL)"),
        "{text}"
    );
}

#[test]
fn compare_takes_a_scenario_files_server_beside_zerowins_own() {
    let d = tempfile::tempdir().unwrap();
    let other = file(
        d.path(),
        "mine.toml",
        &scenario(&format!("command = {SILENT}\nlabel = \"silent\""), ""),
    );
    let base = file(
        d.path(),
        "base.toml",
        "[sender]\nsndbuf = 4096\n[client]\nstrategy = \"drain\"\nreply = \"\"\n[run]\nduration = \"300ms\"\n[expect]\noutcome = \"survived\"\n",
    );
    let senders = format!("original,{}", other.display());
    let out = zerowin()
        .args(["compare", base.to_str().unwrap(), "--senders", &senders])
        .output()
        .unwrap();
    let text = succeeded(&out);
    assert!(
        text.contains("mine+drain") && text.contains("original+drain"),
        "{text}"
    );
    assert!(
        text.contains("the server `python3 -c import socket"),
        "{text}"
    );
    let missing = format!("original,{}", d.path().join("nope.toml").display());
    zerowin()
        .args(["compare", base.to_str().unwrap(), "--senders", &missing])
        .assert()
        .refused("nope.toml");
}

#[test]
fn an_external_server_is_killed_behind_a_blackhole_and_restarted() {
    // On two hosts (veth): the link goes dark, the server is killed, the link comes
    // back, and the server is started again on the same port. (Started while the
    // link is dark, its bind() fails: the sender's host has lost its address, and the
    // fault's event says so.) The killed server's FIN reaches the client once the
    // link is back: EOF.
    let s = scenario(
        r#"command = ["python3", "{dir}/push_server.py", "{host}", "{port}", "--drain"]
label = "asyncio""#,
        // The client is paused from 50 ms to 1.5 s, so the killed server's FIN, which
        // reaches it once the link is back, cannot end the trial before the restart is
        // done: a client done at its EOF halts the faults not yet applied.
        "[net]\ntopology = \"veth\"\n[[fault]]\nat = \"50ms\"\naction = \"pause-client\"\n[[fault]]\nat = \"100ms\"\naction = \"blackhole\"\n[[fault]]\nat = \"150ms\"\naction = \"kill-sender\"\n[[fault]]\nat = \"250ms\"\naction = \"heal\"\n[[fault]]\nat = \"300ms\"\naction = \"restart-sender\"\n[[fault]]\nat = \"1500ms\"\naction = \"resume-client\"\n",
    )
    .replace("duration = \"300ms\"", "duration = \"3s\"")
    .replace("outcome = \"survived\"", "outcome = \"eof\"");
    let (_d, f) = beside_push_server(&s);
    let text = succeeded(&zerowin().arg("run").arg(&f).output().unwrap());
    assert!(text.contains("it was started again 1 time(s)"), "{text}");
    assert!(
        text.contains("blackhole at")
            && text.contains("heal at")
            && text.contains("restart-sender at"),
        "{text}"
    );
    assert!(!text.contains("failed:"), "every fault was applied: {text}");
    // The pair lived in the trial's own namespaces, which died with it: the host's has
    // no end of it, and no namespace was named.
    for dev in ["zwc", "zws"] {
        assert!(
            !Path::new("/sys/class/net").join(dev).exists(),
            "{dev} left"
        );
    }
    let named = std::fs::read_dir("/run/netns").map_or(0, |d| d.count());
    assert_eq!(named, 0, "a named network namespace was left");
}

#[test]
fn zerowin_client_runs_every_built_in_strategy_and_sends_its_request() {
    // resume and threaded (framed) against the patient sender.
    for (strategy, framed) in [("resume", false), ("threaded", true)] {
        let (child, port, _out) = common::serve(&["--sender", "patient"]);
        let mut args = vec!["--duration", "500ms"];
        if framed {
            args.push("--framed");
        }
        let out = zerowin()
            .args([
                "client",
                strategy,
                "--connect",
                &format!("127.0.0.1:{port}"),
            ])
            .args(&args)
            .output()
            .unwrap();
        common::stop_group(child);
        let text = succeeded(&out);
        assert!(text.contains("survived"), "{strategy}: {text}");
    }
    // naive with a request, against a server that answers it.
    let mut py = std::process::Command::new("python3")
        .args([
            "-c",
            "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); print(s.getsockname()[1], flush=True); c,_=s.accept(); r=c.recv(100); c.sendall(b'you said ' + r); c.close()",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(py.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let out = zerowin()
        .args([
            "client",
            "naive",
            "--connect",
            &format!("127.0.0.1:{}", line.trim()),
        ])
        .args(["--request", "PING\\r\\n", "--reply", "", "--duration", "1s"])
        .output()
        .unwrap();
    let _ = py.kill();
    let _ = py.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(r#"the server's first bytes: "you said PING\r\n""#),
        "{text}"
    );
}

#[test]
fn the_plot_draws_an_external_servers_memory() {
    let s = scenario(
        r#"command = ["python3", "{dir}/push_server.py", "{host}", "{port}"]
label = "asyncio""#,
        "",
    )
    .replace("duration = \"300ms\"", "duration = \"500ms\"");
    let (d, f) = beside_push_server(&s);
    let plots = d.path().join("plots");
    succeeded(
        &zerowin()
            .arg("run")
            .arg(&f)
            .arg("--plot")
            .arg(&plots)
            .output()
            .unwrap(),
    );
    let svg: Vec<String> = walk(&plots)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(svg.len(), 1);
    // plotters escapes the apostrophe of the panel's legend.
    assert!(
        svg[0].contains("server&apos;s resident memory"),
        "no memory panel"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
