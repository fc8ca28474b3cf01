//! The spool on NATS JetStream (`store = "jetstream"`), against real nats-server
//! processes the tests start (one node, or three joined by routes): crash cycles of
//! the sender and of broker nodes, a cluster that loses its quorum, and the bad
//! inputs and outages a user meets: no server, a server without JetStream, a stream
//! made with other settings. Each says what must happen, and that nothing is left.

mod common;
use common::{Refused, zerowin};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A nats-server of the test's own on a free port, with or without JetStream; killed
/// (its whole group) when dropped.
struct Nats {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nats {
    fn start(jetstream: bool) -> Nats {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new("nats-server");
        cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
        if jetstream {
            cmd.args(["-js", "-sd"]).arg(dir.path());
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("nats-server (Debian's package) is installed");
        let n = Nats {
            child,
            port,
            _dir: dir,
        };
        for _ in 0..500 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return n;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("nats-server did not listen on {port}");
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// One request to the server's JetStream API in NATS's own text protocol, as
    /// another program of the user's would make it; the reply's JSON.
    fn api(&self, subject: &str, body: &str) -> serde_json::Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap(); // INFO
        write!(
            s,
            "CONNECT {{\"verbose\":false}}\r\nSUB _INBOX.t 1\r\nPUB {subject} _INBOX.t {}\r\n{body}\r\nPING\r\n",
            body.len()
        )
        .unwrap();
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            if let Some(rest) = line.strip_prefix("MSG ") {
                let len: usize = rest.split_whitespace().last().unwrap().parse().unwrap();
                let mut buf = vec![0; len + 2];
                r.read_exact(&mut buf).unwrap();
                return serde_json::from_slice(&buf[..len]).unwrap();
            }
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        // SAFETY: a plain kill of the process group we created.
        unsafe { libc::killpg(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// One broker's run at a time: three clusters of three nodes at once on two cores
/// starve each other's elections, and the claims here are about the spool, not
/// about a machine that is out of CPU.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs a scenario with `text`; its JSON export. Every process the run started
/// carries a tag of this run's, and none may be left once it is done.
fn run_json(text: &str) -> serde_json::Value {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let file = common::scenario_file(dir.path(), "s.toml", text);
    let tag = format!("jetstream-{}", common::seed("tag"));
    let out = zerowin()
        .env("ZEROWIN_TEST_TAG", &tag)
        .args(["run", file.to_str().unwrap(), "--json", "-"])
        .output()
        .unwrap();
    let left = common::processes_tagged(&tag);
    assert!(left.is_empty(), "processes left running: {left:?}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

const SPOOL: &str = "[sender]\nkind = \"spool\"\nstore = \"jetstream\"\n";
const CLAIMS: &str = "[expect]\noutcome = \"survived\"\nlost = 0\nduplicates = 0\nreordered = 0\n";

/// Checks a crash-cycle run: every fault applied, the claims held, and enough
/// delivered for the claims to mean something.
fn check_cycles(v: &serde_json::Value, what: &str) {
    let s = &v["scenarios"][0];
    let t = &s["trials"][0];
    let m = &t["messages"];
    let faults = t["faults"].as_array().unwrap();
    assert!(
        faults.iter().all(|f| f["error"].is_null()),
        "{what}: {faults:?}"
    );
    assert!(m["delivered"].as_u64().unwrap() > 1000, "{what}: {m}");
    assert!(
        m["accepted"].as_u64().unwrap() > 0,
        "{what}: the spool was used: {m}"
    );
    assert_eq!(s["passed"], true, "{what}\n{}\n{m}", s["violations"]);
}

/// The 20 SIGKILL cycles of tests/spool.rs, with the spool on JetStream (one node).
#[test]
fn twenty_sender_crash_cycles_on_jetstream_lose_nothing() {
    let mut rng = common::Rng::new(common::seed("twenty_sender_crash_cycles_on_jetstream"));
    let mut faults = String::new();
    let mut at = 200;
    for _ in 0..20 {
        at += 100 + rng.below(300);
        faults += &format!("[[fault]]\nat = \"{at}ms\"\naction = \"kill-sender\"\n");
        at += 20 + rng.below(200);
        faults += &format!("[[fault]]\nat = \"{at}ms\"\naction = \"restart-sender\"\n");
    }
    let text = format!(
        "{SPOOL}rate = \"20000/s\"\nqueue_bytes = 65536\n[broker]\nnodes = 1\n\
         [client]\nstrategy = \"resume\"\ndelay = \"20us\"\nmax_reconnects = 10000\nreconnect_backoff = \"5ms\"\n\
         {faults}[run]\nduration = \"{}ms\"\n{CLAIMS}",
        at + 1500
    );
    let v = run_json(&text);
    assert_eq!(
        v["scenarios"][0]["trials"][0]["messages"]["sender_restarts"], 20,
        "{faults}"
    );
    check_cycles(&v, &faults);
}

/// 10 cycles in which a random one of 3 nodes is SIGKILLed and started again while
/// the sender spills (replicas = 3) and a resume client consumes.
#[test]
fn ten_broker_node_crash_cycles_on_three_nodes_lose_nothing() {
    let mut rng = common::Rng::new(common::seed("ten_broker_node_crash_cycles"));
    let mut faults = String::new();
    let mut at = 300;
    for _ in 0..10 {
        let node = 1 + rng.below(3);
        at += 300 + rng.below(400);
        faults +=
            &format!("[[fault]]\nat = \"{at}ms\"\naction = \"kill-broker-node\"\nnode = {node}\n");
        at += 100 + rng.below(300);
        faults += &format!(
            "[[fault]]\nat = \"{at}ms\"\naction = \"restart-broker-node\"\nnode = {node}\n"
        );
    }
    let text = format!(
        "{SPOOL}replicas = 3\npublish_timeout = \"1s\"\nrate = \"10000/s\"\nqueue_bytes = 65536\n[broker]\nnodes = 3\n\
         [client]\nstrategy = \"resume\"\ndelay = \"150us\"\nmax_reconnects = 10000\nreconnect_backoff = \"5ms\"\n\
         {faults}[run]\nduration = \"{}ms\"\n{CLAIMS}",
        at + 3000
    );
    check_cycles(&run_json(&text), &faults);
}

/// A trial in which two of three nodes are killed at 1 s and started again at 2.5 s,
/// with `on_full`: the trial's record, once its claims (0 lost, an outage that ended)
/// held. 20 s: nats-server 2.9's stream took 1 to 7 s after the restart to elect a
/// leader again here, and once more than 9.5 s.
fn quorum_loss(on_full: &str) -> serde_json::Value {
    let text = format!(
        "{SPOOL}replicas = 3\npublish_timeout = \"500ms\"\nrate = \"10000/s\"\nqueue_bytes = 65536\non_full = \"{on_full}\"\n[broker]\nnodes = 3\n\
         [client]\nstrategy = \"resume\"\ndelay = \"200us\"\nmax_reconnects = 100\n\
         [[fault]]\nat = \"1s\"\naction = \"kill-broker-node\"\nnode = 1\n\
         [[fault]]\nat = \"1s\"\naction = \"kill-broker-node\"\nnode = 2\n\
         [[fault]]\nat = \"2500ms\"\naction = \"restart-broker-node\"\n\
         [run]\nduration = \"20s\"\n{CLAIMS}store_outage = true\n"
    );
    let v = run_json(&text);
    let s = &v["scenarios"][0];
    let t = s["trials"][0].clone();
    assert_eq!(
        s["passed"], true,
        "{}\n{}",
        s["violations"], t["store_outages"]
    );
    let o = &t["store_outages"][0];
    assert!(o["from_us"].as_i64().unwrap() >= 1_000_000, "{o}");
    assert!(
        o["to_us"].as_i64().unwrap() >= 2_500_000,
        "back only after the restart: {o}"
    );
    assert!(
        t["sender_summary"]["remedy"]["full"].as_u64().unwrap_or(0) > 0,
        "on_full applied: {}",
        t["sender_summary"]
    );
    t
}

/// Two of three nodes killed: the stream has no quorum, nothing is acknowledged, and
/// the producer blocks (on_full = "block"), saying why in the record; with the nodes
/// back it resumes, and nothing was lost.
#[test]
fn a_cluster_that_loses_its_quorum_blocks_the_producer_until_it_is_back() {
    let t = quorum_loss("block");
    let o = &t["store_outages"][0];
    let outage_s = (o["to_us"].as_i64().unwrap() - o["from_us"].as_i64().unwrap()) as f64 / 1e6;
    assert!(outage_s > 1.0, "{o}");
    // Blocked: from the progress lines, nothing more went into the spool while the
    // store was out of reach, and the producer fell well behind its 10,000/s (it went
    // on only as far as memory let it: the client took messages from memory at its
    // own pace, 5,000/s at most; it catches up on what was due once the store is back).
    let (from, to) = (o["from_us"].as_i64().unwrap(), o["to_us"].as_i64().unwrap());
    let during: Vec<(u64, u64)> = t["backlog"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| (from + 100_000..to).contains(&p["t_us"].as_i64().unwrap()))
        .map(|p| {
            (
                p["produced"].as_u64().unwrap(),
                p["spool_messages"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        during.len() >= 2,
        "progress lines during the outage: {during:?}"
    );
    let (first, last) = (during[0], during[during.len() - 1]);
    let spool_grew = during.iter().map(|p| p.1).max().unwrap() > first.1;
    assert!(
        !spool_grew,
        "the spool took nothing while out of reach: {during:?}"
    );
    let made = last.0 - first.0;
    let span_s = (to - from - 100_000) as f64 / 1e6;
    assert!(
        (made as f64) < 0.6 * 10_000.0 * span_s,
        "{made} produced during {span_s:.1} s of outage at 10,000/s: {during:?}"
    );
}

/// The same with on_full = "close": while the broker is out of reach, the sender closes
/// its connection cleanly each time it would produce; the client reconnects, and nothing
/// is lost.
#[test]
fn a_cluster_that_loses_its_quorum_closes_the_connection_with_on_full_close() {
    let t = quorum_loss("close");
    let reconnects = t["messages"]["reconnects"].as_u64().unwrap();
    assert!(reconnects > 0, "closed at least once: {}", t["messages"]);
}

/// No server at nats_url: exit 2, naming the URL; no panic.
#[test]
fn no_server_at_the_url_is_refused_naming_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    zerowin()
        .args(["serve", "--sender", "spool", "--port", "0"])
        .args([
            "--set",
            "store=jetstream",
            "--set",
            &format!("nats_url={url}"),
        ])
        .timeout(Duration::from_secs(30))
        .assert()
        .refused(&format!("no NATS server answered at {url}"));
    zerowin()
        .args(["serve", "--sender", "spool", "--port", "0"])
        .args(["--set", "store=jetstream", "--set", "nats_url=http://x"])
        .assert()
        .refused("--set: sender.nats_url:");
}

/// A NATS server without JetStream: a clear error, not a hang.
#[test]
fn a_server_without_jetstream_is_a_clear_error() {
    let n = Nats::start(false);
    zerowin()
        .args(["serve", "--sender", "spool", "--port", "0"])
        .args([
            "--set",
            "store=jetstream",
            "--set",
            &format!("nats_url={}", n.url()),
        ])
        .timeout(Duration::from_secs(60))
        .assert()
        .refused("JetStream is not enabled on this NATS server");
}

/// A stream of the name the spool would use, made by someone else with other
/// settings: refused, and left as it was.
#[test]
fn a_stream_with_other_settings_is_refused_and_left_alone() {
    let n = Nats::start(true);
    let made = n.api(
        "$JS.API.STREAM.CREATE.orders",
        r#"{"name":"orders","subjects":["orders.>"],"storage":"file","num_replicas":1}"#,
    );
    assert!(made.get("error").is_none(), "{made}");
    zerowin()
        .args(["serve", "--sender", "spool", "--port", "0"])
        .args(["--set", "store=jetstream", "--set", "stream=orders"])
        .args(["--set", &format!("nats_url={}", n.url())])
        .timeout(Duration::from_secs(60))
        .assert()
        .refused("the stream `orders` exists with other settings (subjects is [\"orders.>\"]");
    let info = n.api("$JS.API.STREAM.INFO.orders", "");
    assert_eq!(info["config"]["subjects"][0], "orders.>", "{info}");
}

/// `spool inspect` on a JetStream spool asks the broker through the note in the spool
/// directory, and writes nothing.
#[test]
fn spool_inspect_reads_a_jetstream_spool_through_the_broker() {
    let n = Nats::start(true);
    let dir = tempfile::tempdir().unwrap();
    let (child, port, _out) = common::serve(&[
        "--sender",
        "spool",
        "--set",
        "store=jetstream",
        "--set",
        &format!("nats_url={}", n.url()),
        "--set",
        &format!("spool_dir={}", dir.path().display()),
        "--set",
        "queue_bytes=4096",
        "--set",
        "rate=20000/s",
    ]);
    // No client: after half a second, thousands of messages are in the stream.
    std::thread::sleep(Duration::from_millis(700));
    let _ = port;
    common::stop_group(child);
    let out = zerowin()
        .args(["spool", "inspect"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("from the broker that holds it"), "{text}");
    let depth: u64 = text
        .lines()
        .find(|l| l.trim_start().starts_with("depth"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(depth > 1000, "{text}");
}

/// A scenario that needs a broker and has none, or a broker fault without one: the
/// file, line and key.
#[test]
fn a_jetstream_scenario_without_a_broker_names_its_line_and_key() {
    let client = "[client]\nstrategy = \"resume\"\n[expect]\noutcome = \"survived\"\n";
    common::assert_refused(
        &format!("{SPOOL}{client}"),
        "s.toml:3: sender.store: store = \"jetstream\" needs nats_url, or a [broker] table",
    );
    common::assert_refused(
        &format!("{SPOOL}[broker]\nnodes = 2\n{client}"),
        "s.toml:5: broker.nodes: is 2; expected 1 or 3",
    );
    common::assert_refused(
        &format!(
            "[sender]\nkind = \"spool\"\n{client}[[fault]]\nat = \"1s\"\naction = \"kill-broker-leader\"\n"
        ),
        "fault.action: `kill-broker-leader` acts on the scenario's broker, and it has no [broker] table",
    );
    common::assert_refused(
        &format!("[sender]\nkind = \"spool\"\nreplicas = 3\n{client}"),
        "s.toml:3: sender.replicas: is a key of store = \"jetstream\", and this spool's store is redb",
    );
}

/// The processes tagged `tag` whose command is nats-server: the broker's nodes.
fn nodes_tagged(tag: &str) -> usize {
    common::processes_tagged(tag)
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "nats-server")
        })
        .count()
}

/// Ctrl-C in the middle of a trial on a 3-node broker: exit 130, and every node is
/// killed and reaped with the sender.
#[test]
fn ctrl_c_mid_trial_kills_every_broker_node() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tag = format!("js-sigint-{}", std::process::id());
    let mut child = Command::new(common::exe())
        .args([
            "run",
            "scenarios/client-away-jetstream.toml",
            "--trials",
            "1",
        ])
        .env("ZEROWIN_TEST_TAG", &tag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while nodes_tagged(&tag) < 3 && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(nodes_tagged(&tag), 3, "the broker started");
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: plain kill(2) of the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let until = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < until,
            "zerowin exits after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    assert_eq!(common::processes_tagged(&tag), Vec::<i32>::new());
}

/// `zerowin broker up` as a user runs it: three nodes answering on the URLs it
/// prints, a node killed and started again from stdin, and nothing left after
/// `--duration`.
#[test]
fn broker_up_starts_three_nodes_obeys_stdin_and_leaves_nothing() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tag = format!("js-up-{}", std::process::id());
    let mut child = Command::new(common::exe())
        .args(["broker", "up", "--nodes", "3", "--duration", "8s"])
        .env("ZEROWIN_TEST_TAG", &tag)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    let urls = loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "{text}");
        text += &line;
        if let Some(u) = line.trim().strip_prefix("nats_url=") {
            break u.to_string();
        }
    };
    let ports: Vec<u16> = urls
        .split(',')
        .map(|u| u.rsplit(':').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ports.len(), 3, "{text}");
    for p in &ports {
        TcpStream::connect(("127.0.0.1", *p)).unwrap();
    }
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "kill 2").unwrap();
    writeln!(stdin, "restart 2").unwrap();
    writeln!(stdin, "kill 9").unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{text}{rest}");
    assert!(rest.contains("killed broker node zw2"), "{rest}");
    assert!(rest.contains("started broker node zw2 again"), "{rest}");
    assert!(rest.contains("there is no broker node 9"), "{rest}");
    assert!(rest.contains("broker: stopped"), "{rest}");
    assert_eq!(common::processes_tagged(&tag), Vec::<i32>::new());
}
