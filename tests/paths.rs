//! User paths that had no test of their own, each run end to end as a user would:
//! the faults that undo others (resume-sender, heal) and the link rate, the linger0
//! close, `serve`'s and `client`'s flags, `boundary --scale log`, a run without
//! capture, and the cells CSV and Markdown exports read back against the JSON.

mod common;
use common::zerowin;

use common::{
    next_summary as summary, scenario_file, serve, stop_group as stop, summary_value as value,
};

fn json_of(out: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&out.get_output().stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.get_output().stderr)))
}

// ---- faults

/// pause-sender then resume-sender, blackhole then heal, then a link rate, in one
/// trial on two hosts: each is applied, and each shows in what was delivered.
#[test]
fn resume_heal_and_rate_faults_take_effect_in_a_trial() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(
        d.path(),
        "f.toml",
        r#"
[sender]
kind = "patient"
rate = "1000/s"
[client]
strategy = "resume"
[net]
topology = "veth"
[[fault]]
at = "300ms"
action = "pause-sender"
[[fault]]
at = "700ms"
action = "resume-sender"
[[fault]]
at = "1s"
action = "blackhole"
[[fault]]
at = "1500ms"
action = "heal"
[[fault]]
at = "2200ms"
action = "rate"
direction = "sender"
rate = "50kbit"
[run]
duration = "3s"
trials = 1
[expect]
outcome = "survived"
lost = 0
duplicates = 0
reordered = 0
"#,
    );
    let v = json_of(&zerowin().arg("run").arg(&f).arg("--json").arg("-").assert());
    let s = &v["scenarios"][0];
    assert_eq!(s["passed"], true, "{}", s["violations"]);
    let t = &s["trials"][0];
    let faults = t["faults"].as_array().unwrap();
    let actions: Vec<&str> = faults
        .iter()
        .map(|f| f["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["pause-sender", "resume-sender", "blackhole", "heal", "rate"]
    );
    for f in faults {
        assert!(f["error"].is_null(), "{f}");
    }
    assert_eq!(faults[4]["detail"], "sender 50kbit", "{}", faults[4]);
    let m = &t["messages"];
    let (produced, delivered, pending) = (
        m["produced"].as_u64().unwrap(),
        m["delivered"].as_u64().unwrap(),
        m["pending"].as_u64().unwrap(),
    );
    // Resumed: the producer ran again after 700 ms (a sender left stopped produces
    // about 300 messages in all).
    assert!(produced > 2000, "{m}");
    // Healed: about 1000 messages could pass before the blackhole at 1 s; delivery
    // went on after the heal.
    assert!(delivered > 1800, "{m}");
    // Rated: 50 kbit/s carries about 200 of the 31-byte frames a second, against the
    // 1000 produced: a backlog builds in the last 800 ms.
    assert!(pending > 200, "{m}");
}

// ---- the linger0 close

/// `close_policy = "linger0"`, as the kernel runs it (net/ipv4/tcp.c, `__tcp_close`):
/// unread data is checked first, so with the client's replies unread the close is an
/// RST at close (TCPAbortOnClose) whatever the linger; only with nothing unread does
/// the zero linger abort the connection, which the kernel counts as TCPAbortOnData
/// (not TCPAbortOnLinger, the FIN_WAIT2 timeout's counter). Both on the wire: an RST
/// from the sender and no FIN.
#[test]
fn linger0_closes_with_an_rst_and_the_record_says_so() {
    let d = tempfile::tempdir().unwrap();
    let text = |reply: &str| {
        format!(
            "[sender]\nsndbuf = 4096\nclose_policy = \"linger0\"\n[client]\nstrategy = \"naive\"\nrcvbuf = 4096\n{reply}[run]\nduration = \"5s\"\ntrials = 2\n[expect]\noutcome = \"reset\"\n"
        )
    };
    // With replies, a trial can still meet EAGAIN before the first reply arrives (as
    // the original's two routes do): each trial's route follows its own counter.
    // Without replies nothing is ever unread: every trial is the zero-linger abort.
    for (name, reply, always_linger) in [
        ("replies.toml", "", false),
        ("silent.toml", "reply = \"\"\n", true),
    ] {
        let f = scenario_file(d.path(), name, &text(reply));
        let run = zerowin()
            .arg("run")
            .arg(&f)
            .args(["--capture", "--json", "-"])
            .assert();
        let v = json_of(&run);
        let s = &v["scenarios"][0];
        assert_eq!(s["passed"], true, "{}", s["violations"]);
        let (mut on_close, mut on_data) = (0, 0);
        for t in s["trials"].as_array().unwrap() {
            assert_eq!(t["sender_summary"]["policy"], "linger0");
            let w = &t["observation"]["wire"];
            // One abort, and no FIN. A segment of the client's that reaches the
            // closed socket later (a window update, a delayed ACK) is answered with
            // another RST, as any segment to no socket is (seen once in a fresh-clone
            // CI run: a second RST 20 ms after the first, with no payload from the
            // client): so the first RST is the abort, and any other comes after it.
            let rsts = w["from_sender"]["rsts"].as_u64().unwrap();
            assert!(rsts >= 1, "{w}");
            if rsts > 1 {
                let first = w["first_rst_from_sender_ns"].as_u64().unwrap();
                let last = w["last_from_sender_ns"].as_u64().unwrap();
                assert!(last > first, "the later RSTs come after the abort: {w}");
            }
            assert_eq!(w["from_sender"]["fins"], 0, "{w}");
            // One kernel here (loopback): every RST on the wire is counted once.
            let on_wire = rsts + w["from_client"]["rsts"].as_u64().unwrap();
            let out_rsts = t["observation"]["counters"]["story"]["Tcp.OutRsts"].as_u64();
            assert_eq!(out_rsts, Some(on_wire), "{w}");
            let story = &t["observation"]["counters"]["story"];
            let (c, d) = (
                story["TCPAbortOnClose"].as_u64().unwrap(),
                story["TCPAbortOnData"].as_u64().unwrap(),
            );
            assert_eq!(c + d, 1, "{name}: one abort: {story}");
            assert_eq!(story["TCPAbortOnLinger"], 0, "{name}: {story}");
            // The kernel's own reason for the abort, the sender's first RST from its
            // connection: unread data first (TCP_ABORT_ON_CLOSE), else the zero
            // linger's tcp_disconnect(), which names the RST by the state it resets
            // (TCP_STATE). Not the listener's answer (TCP_FLAGS, peer 0.0.0.0:0) to a
            // segment of the client's that raced the close: seen first in a CI run,
            // 53 µs before the abort's own.
            let k = &t["observation"]["kernel"];
            let first = k["resets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| !r["dest"].as_str().unwrap().ends_with(":0"))
                .unwrap_or_else(|| panic!("no abort: {k}"));
            assert_eq!(first["side"], "sender", "{k}");
            let want = if c == 1 {
                "TCP_ABORT_ON_CLOSE"
            } else {
                "TCP_STATE"
            };
            assert_eq!(first["reason"], want, "{name}: {k}");
            (on_close, on_data) = (on_close + c, on_data + d);
        }
        let routes = &s["summary"]["close_routes"];
        let count = |k: &str| routes[k].as_u64().unwrap_or(0);
        assert_eq!(count("sender RST at close"), on_close, "{name}: {routes}");
        assert_eq!(
            count("sender RST by SO_LINGER 0"),
            on_data,
            "{name}: {routes}"
        );
        if always_linger {
            assert_eq!(on_data, 2, "{name}: {routes}");
        }
    }
    let f = d.path().join("silent.toml");
    let out = zerowin().arg("run").arg(&f).assert().code(0);
    let out = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        out.contains("its close() with SO_LINGER 0 started at")
            && out.contains("SO_LINGER 0 always sends RST"),
        "{out}"
    );
}

// ---- serve's flags

#[test]
fn serve_takes_its_bind_log_rate_and_close_flags() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("server.log");
    let (child, port, mut out) = serve(&[
        "--bind",
        "127.0.0.2",
        "--sndbuf",
        "4096",
        "--rate",
        "2000",
        "--close-policy",
        "shutdown-drain",
        "--drain-timeout-ms",
        "300",
        "--log",
        log.to_str().unwrap(),
    ]);
    // --bind: only that address listens.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    let client = zerowin()
        .args(["client", "naive", "--connect", &format!("127.0.0.2:{port}")])
        .args(["--rcvbuf", "4096", "--delay", "5ms", "--duration", "5s"])
        .args(["--json", "-"])
        .assert();
    let rec = json_of(&client);
    let line = summary(&mut out);
    stop(child);
    assert_eq!(value(&line, "policy"), "shutdown-drain", "{line}");
    // --drain-timeout-ms: the naive client never sends EOF (it replies to every
    // read), so the drain runs to the bound: at least 300 ms, nowhere near the default
    // 30 s. The FIN still waited behind unsent data then, so the close found replies
    // unread and the client was reset: a short drain cuts shutdown-drain short.
    let t = &rec["scenarios"][0]["trials"][0];
    assert_eq!(t["outcome"], "reset", "{t}");
    let ns = |k: &str| value(&line, k).parse::<u64>().unwrap();
    // The C code polls for the time left in whole milliseconds, rounded down, so the
    // drain may end up to 1 ms before its bound.
    let drain_us = (ns("close_ns") - ns("close_start_ns")) / 1_000;
    assert!(
        (299_000..5_000_000).contains(&drain_us),
        "{drain_us} µs: {line}"
    );
    assert!(ns("drained") > 0, "the client's replies were read: {line}");
    // --rate: paced, the buffers fill in about a second of 2000 messages a second
    // (the tight loop fills them within milliseconds: repro-4k's median is 2.6 ms).
    let first_error_us = t["time_to_failure_us"].as_u64().unwrap();
    assert!(first_error_us > 200_000, "{first_error_us} µs: {line}");
    // --log: one line per message sent, as the 2014 server.log.
    let logged = std::fs::read_to_string(&log).unwrap();
    let sent = logged
        .lines()
        .filter(|l| l.starts_with("Server sending the msg no:"))
        .count() as u64;
    assert_eq!(sent, ns("messages"), "{line}");
    assert!(
        logged.contains("Kernel sending buffer is full."),
        "{logged}"
    );
}

// ---- client's flags

#[test]
fn client_drain_takes_its_chunk_reply_json_and_deadline() {
    let d = tempfile::tempdir().unwrap();
    let (child, port, _out) = serve(&["--rate", "1000"]);
    let json = d.path().join("rec.json");
    zerowin()
        .args(["client", "drain", "--connect", &format!("127.0.0.1:{port}")])
        .args(["--chunk", "512", "--reply", "ok", "--duration", "1s"])
        .arg("--json")
        .arg(&json)
        .assert()
        .code(0);
    stop(child);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let t = &v["scenarios"][0]["trials"][0];
    assert_eq!(t["outcome"], "survived", "{t}");
    let c = &t["client"];
    assert_eq!(c["strategy"], "drain");
    let (read, reads) = (
        c["bytes_read"].as_u64().unwrap(),
        c["reads"].as_u64().unwrap(),
    );
    assert!(read > 5_000 && reads > 0, "{c}");
    assert!(
        read <= reads * 512,
        "--chunk 512: {read} B in {reads} reads"
    );
    // --reply "ok": two bytes a reply.
    assert_eq!(
        c["reply_bytes"].as_u64().unwrap(),
        2 * c["replies"].as_u64().unwrap(),
        "{c}"
    );
    // --deadline: a server that goes silent holds a client without a timeout until
    // the deadline, not the default (duration + 5 s).
    let (child, port, _out) = serve(&[
        "--sender",
        "trickle",
        "--set",
        "rate=10/s",
        "--set",
        "stall_after=200ms",
    ]);
    let out = zerowin()
        .args(["client", "naive", "--connect", &format!("127.0.0.1:{port}")])
        .args(["--duration", "1s", "--deadline", "1500ms", "--json", "-"])
        .assert();
    stop(child);
    let v = json_of(&out);
    let t = &v["scenarios"][0]["trials"][0];
    assert_eq!(t["outcome"], "hung", "{t}");
    let ended = t["active_us"].as_u64().unwrap();
    assert!(ended < 6_000_000, "ended at {ended} µs: past --deadline");
}

// ---- boundary --scale log, and a run without capture

#[test]
fn boundary_halves_a_bracket_in_log_scale() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(
        d.path(),
        "p.toml",
        "[sender]\nsndbuf = 4096\nrate = \"1000/s\"\n[client]\nstrategy = \"naive\"\nrcvbuf = 4096\n[run]\nduration = \"1500ms\"\ntrials = 2\n[expect]\noutcome = \"survived\"\n",
    );
    let out = zerowin()
        .arg("boundary")
        .arg(&f)
        .args(["--param", "client.delay", "--range", "200us..5ms"])
        .args(["--budget", "6", "--scale", "log"])
        .assert()
        .code(0);
    let out = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(out.contains("log scale"), "{out}");
    // Both ends, then the geometric middle: sqrt(200 µs x 5 ms) = 1 ms (the linear
    // one would be 2.6 ms).
    assert_eq!(out.matches("failed, ").count(), 3, "{out}");
    assert!(out.contains("client.delay = 1ms"), "{out}");
    assert!(!out.contains("client.delay = 2600us"), "{out}");
}

#[test]
fn a_run_without_capture_has_counters_and_no_wire() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(
        d.path(),
        "q.toml",
        "[sender]\nsndbuf = 4096\n[client]\nstrategy = \"naive\"\nrcvbuf = 4096\n[run]\nduration = \"5s\"\ntrials = 2\n[expect]\noutcome = \"reset\"\n",
    );
    let run = |flags: &[&str]| {
        let a = zerowin()
            .arg("run")
            .arg(&f)
            .args(["--no-capture", "--json", "-"])
            .args(flags)
            .assert();
        json_of(&a)["scenarios"][0].clone()
    };
    let s = run(&["--no-kernel-events"]);
    assert_eq!(s["passed"], true);
    for t in s["trials"].as_array().unwrap() {
        let o = &t["observation"];
        assert!(o["wire"].is_null() && o["kernel"].is_null(), "{o}");
        assert!(o["events"]["rst_us"].is_null(), "{o}");
        assert!(o["counters"]["story"]["TCPAbortOnClose"].is_u64(), "{o}");
    }
    // Without the wire or the kernel's events, who sent an RST in a shared
    // namespace is unknown.
    assert!(
        s["summary"]["close_routes"].as_object().unwrap().is_empty(),
        "{}",
        s["summary"]
    );
    // With the kernel's events (the default), every trial's RST has its side, its
    // reason and its time, and the close route comes from the reason.
    let s = run(&[]);
    assert_eq!(s["passed"], true);
    let mut routes = 0;
    for t in s["trials"].as_array().unwrap() {
        let o = &t["observation"];
        assert!(o["wire"].is_null(), "{o}");
        let first = &o["kernel"]["resets"][0];
        assert_eq!(first["side"], "sender", "{o}");
        let reason = first["reason"].as_str().unwrap();
        assert!(
            ["TCP_ABORT_ON_CLOSE", "TCP_ABORT_ON_DATA"].contains(&reason),
            "{o}"
        );
        assert_eq!(o["events"]["rst_us"], first["at_us"], "{o}");
        routes += 1;
    }
    let counted: u64 = s["summary"]["close_routes"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(counted, routes, "{}", s["summary"]);
}

// ---- exports read back

#[test]
fn the_cells_csv_and_markdown_agree_with_the_json_field_by_field() {
    let d = tempfile::tempdir().unwrap();
    let f = scenario_file(
        d.path(),
        "q.toml",
        "description = \"q\"\n[sender]\nsndbuf = 4096\n[client]\nstrategy = \"naive\"\nrcvbuf = 4096\n[run]\nduration = \"5s\"\ntrials = 3\n[expect]\noutcome = \"reset\"\n[sweep]\nclient.rcvbuf = [4096, 8192]\n",
    );
    let (json, csv_file, md) = (
        d.path().join("x.json"),
        d.path().join("cells.csv"),
        d.path().join("x.md"),
    );
    zerowin()
        .arg("run")
        .arg(&f)
        .arg("--quiet")
        .arg("--export-json")
        .arg(&json)
        .arg("--export-cells-csv")
        .arg(&csv_file)
        .arg("--export-markdown")
        .arg(&md)
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let cells = v["scenarios"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    let mut rd = csv::Reader::from_path(&csv_file).unwrap();
    let header = rd.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    let md = std::fs::read_to_string(&md).unwrap();
    let md_rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| q ")).collect();
    assert_eq!(md_rows.len(), 2, "{md}");
    // The CSV writes three decimals with the trailing zeros cut ("0.75").
    let f3 = |x: &serde_json::Value| {
        let s = format!("{:.3}", x.as_f64().unwrap());
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    for ((cell, row), md_row) in cells.iter().zip(&rows).zip(&md_rows) {
        let col = |name: &str| &row[header.iter().position(|h| h == name).unwrap()];
        let s = &cell["summary"];
        let t = &s["time_to_failure"];
        assert_eq!(col("client.rcvbuf"), cell["params"]["client.rcvbuf"]);
        assert_eq!(col("sender"), s["sender"]);
        assert_eq!(col("strategy"), s["strategy"]);
        assert_eq!(col("trials"), s["trials"].to_string());
        assert_eq!(col("failures"), s["failures"].to_string());
        assert_eq!(
            col("failure_rate"),
            format!("{:.4}", s["failure_rate"].as_f64().unwrap())
        );
        assert_eq!(
            col("failure_rate_lo95"),
            format!("{:.4}", s["failure_rate_ci95"][0].as_f64().unwrap())
        );
        assert_eq!(
            col("failure_rate_hi95"),
            format!("{:.4}", s["failure_rate_ci95"][1].as_f64().unwrap())
        );
        assert_eq!(col("ttf_method"), t["method"]);
        assert_eq!(col("ttf_min_ms"), f3(&t["min_ms"]));
        assert_eq!(col("ttf_median_ms"), f3(&t["median_ms"]));
        assert_eq!(col("ttf_median_lo_ms"), f3(&t["median_ci95_ms"][0]));
        assert_eq!(col("ttf_median_hi_ms"), f3(&t["median_ci95_ms"][1]));
        assert_eq!(col("ttf_median_ci_coverage"), f3(&t["median_ci_coverage"]));
        assert_eq!(col("ttf_p90_ms"), f3(&t["p90_ms"]));
        assert_eq!(col("ttf_max_ms"), f3(&t["max_ms"]));
        assert_eq!(col("outcomes"), "reset=3");
        assert_eq!(col("passed"), cell["passed"].to_string());
        // The Markdown row: scenario, cell, sender, strategy, trials, outcomes, ...,
        // verdict.
        let md_cells: Vec<&str> = md_row.split(" | ").map(str::trim).collect();
        assert_eq!(
            md_cells[1],
            format!(
                "client.rcvbuf={}",
                cell["params"]["client.rcvbuf"].as_str().unwrap()
            )
        );
        assert_eq!(md_cells[2], s["sender"]);
        assert_eq!(md_cells[3], s["strategy"]);
        assert_eq!(md_cells[4], s["trials"].to_string());
        assert_eq!(md_cells[5], "3 reset");
        assert!(md_cells[7].contains("covers 75.0%"), "{md_row}");
        assert!(md_row.ends_with("| PASS |"), "{md_row}");
    }
}
