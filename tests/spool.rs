//! The spool sender under the faults a durable queue must survive: SIGKILL and
//! restart again and again, a spool file cut short or with flipped bytes, and
//! directories it cannot use. Each test says what the sender must do.
//!
//! A SIGKILL leaves the page cache intact, so none of these can tell the fsync
//! policies apart: only a power cut could (docs/remedies.md says so).

mod common;
use common::{Refused, zerowin};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use zerowin::protocol::{Decoder, HELLO_LEN, Hello};

/// `zerowin serve --sender spool` on `dir` with `set`; its child and, if it listens,
/// its port. A sender that exits first gives None, and its output is in the child.
fn spool_sender(dir: &Path, set: &[&str]) -> (Child, Option<u16>) {
    let mut cmd = Command::new(common::exe());
    cmd.args(["serve", "--sender", "spool", "--port", "0"])
        .args(["--set", &format!("spool_dir={}", dir.display())]);
    for s in set {
        cmd.args(["--set", s]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port = line
        .trim()
        .strip_prefix("zerowin-port ")
        .map(|p| p.parse().unwrap());
    // Keep reading, so the sender never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (child, port)
}

fn kill(child: Child) -> Output {
    // SAFETY: plain kill of the process group we created.
    unsafe { libc::killpg(child.id() as i32, libc::SIGKILL) };
    child.wait_with_output().unwrap()
}

fn stderr_of(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What `spool inspect` says a spool holds: (messages, first, last).
fn inspect(dir: &Path) -> (u64, u64, u64) {
    let out = zerowin()
        .args(["spool", "inspect"])
        .arg(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap_or(0)
    };
    (field("depth"), field("first"), field("last"))
}

/// A spool full of unsent messages: a sender that produced for a while with no
/// client, then SIGKILL. Returns what `spool inspect` then says it holds, checked to
/// be more than its 64 KiB memory queue could have kept (about 2,100 frames).
fn filled_spool(dir: &Path) -> (u64, u64, u64) {
    let (child, port) = spool_sender(dir, &["queue_bytes=65536", "rate=200000/s"]);
    assert!(port.is_some());
    std::thread::sleep(Duration::from_millis(700));
    kill(child);
    let held = inspect(dir);
    assert!(held.0 > 10_000, "700 ms at 200,000/s spooled only {held:?}");
    assert_eq!(
        held.2 - held.1 + 1,
        held.0,
        "a spool holds a run of sequences: {held:?}"
    );
    held
}

/// Reads frames for `for_` from a sender, asking from sequence 1. Every frame must
/// carry the 13-byte payload, in increasing sequence order.
fn read_frames(port: u16, for_: Duration) -> Vec<u64> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    s.write_all(&Hello { seq: 1 }.encode()).unwrap();
    let mut got = Vec::new();
    let mut d = Decoder::default();
    let mut buf = vec![0u8; 65536];
    let mut hello = Vec::new();
    let until = Instant::now() + for_;
    while Instant::now() < until {
        let n = match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(_) => continue,
        };
        let mut data = &buf[..n];
        if hello.len() < HELLO_LEN {
            let take = (HELLO_LEN - hello.len()).min(n);
            hello.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        d.feed(data);
        while let Some(f) = d.next_frame() {
            assert_eq!(
                f.payload, b"Hello World!\0",
                "a corrupt payload at {}",
                f.seq
            );
            assert!(
                got.last().is_none_or(|l| *l < f.seq),
                "out of order at {}",
                f.seq
            );
            got.push(f.seq);
        }
    }
    got
}

/// Cut at random offsets, or with random bytes flipped, a spool either makes the
/// sender refuse with an error that names the file, or it starts and delivers only
/// whole messages in order. Never a panic.
#[test]
fn torn_and_corrupt_spools_are_refused_by_name_or_delivered_whole() {
    let base = tempfile::tempdir().unwrap();
    let (_, first, last) = filled_spool(base.path());
    let src = base.path().join("spool.redb");
    let size = std::fs::metadata(&src).unwrap().len();
    let mut rng = common::Rng::new(common::seed("torn_and_corrupt_spools"));
    let mut rand = |n: u64| rng.below(n);
    let (mut refused, mut served) = (0, 0);
    for case in 0..12 {
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("spool.redb");
        std::fs::copy(&src, &dst).unwrap();
        let damage = if case % 2 == 0 {
            let at = rand(size);
            std::fs::OpenOptions::new()
                .write(true)
                .open(&dst)
                .unwrap()
                .set_len(at)
                .unwrap();
            format!("cut at {at} of {size}")
        } else {
            let mut bytes = std::fs::read(&dst).unwrap();
            let flips: Vec<u64> = (0..1 + case / 4).map(|_| rand(size)).collect();
            for &o in &flips {
                bytes[o as usize] ^= 0xff;
            }
            std::fs::write(&dst, bytes).unwrap();
            format!("bytes flipped at {flips:?}")
        };
        let (child, port) = spool_sender(dir.path(), &["rate=10/s"]);
        match port {
            None => {
                let err = stderr_of(child);
                assert!(err.contains("spool.redb"), "{damage}: {err}");
                assert!(!err.contains("panicked"), "{damage}: {err}");
                refused += 1;
            }
            Some(port) => {
                let got = read_frames(port, Duration::from_millis(300));
                let out = kill(child);
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(!err.contains("panicked"), "{damage}: {err}");
                if got.is_empty() {
                    // It started, then met the damage when it first read: that is a
                    // refusal too, and it must name the file.
                    assert!(
                        err.contains("spool.redb"),
                        "{damage}: served nothing: {err}"
                    );
                    refused += 1;
                    continue;
                }
                // Whole messages in order (read_frames checks both), and a prefix of
                // what was committed: a run from the spool's first sequence. Past its
                // last come only what the restarted sender produced itself, at 10/s
                // for the 300 ms it was read.
                let spooled: Vec<u64> = got.iter().copied().filter(|&q| q <= last).collect();
                let want: Vec<u64> = (first..first + spooled.len() as u64).collect();
                assert_eq!(spooled, want, "{damage}: not a prefix of {first}..={last}");
                let new = got.len() - spooled.len();
                assert!(new <= 10, "{damage}: {new} frames past {last}");
                served += 1;
                eprintln!("{damage}: served {} frames", got.len());
            }
        }
    }
    eprintln!("{refused} refused, {served} served");
}

/// A second sender on the same spool directory is refused, by name.
#[test]
fn a_spool_in_use_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (first, port) = spool_sender(dir.path(), &[]);
    assert!(port.is_some());
    let (second, port2) = spool_sender(dir.path(), &[]);
    assert!(port2.is_none(), "the second sender must not start");
    let err = stderr_of(second);
    kill(first);
    assert!(
        err.contains("spool.redb: the spool is in use by another sender"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// `zerowin serve` for the spool inside a private mount namespace with a small tmpfs
/// at `dir` (mounted with `opts`): the mount goes away with the process.
fn on_tmpfs(opts: &str, set: &[&str]) -> Output {
    let exe = common::exe().display();
    let script = format!(
        "d=$(mktemp -d) && mount -t tmpfs -o {opts} zerowin-test \"$d\" && exec timeout -s KILL 5 {exe} serve --sender spool --port 0 --set spool_dir=\"$d/spool\" {}",
        set.iter()
            .map(|s| format!("--set {s}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare runs")
}

/// A read-only directory, a directory that is a file, and a full disk: each is a
/// clear error that names the spool, never a panic.
#[test]
fn bad_spool_directories_are_clear_errors() {
    on_tmpfs("ro,size=64k", &[])
        .refused("cannot create the spool directory")
        .refused("Read-only");

    let f = tempfile::NamedTempFile::new().unwrap();
    let (child, port) = spool_sender(f.path(), &[]);
    assert!(port.is_none());
    let err = stderr_of(child);
    assert!(err.contains("cannot create the spool directory"), "{err}");

    // 256 KiB fill within a second at this rate with no client.
    on_tmpfs("size=256k", &["queue_bytes=4096", "rate=100000/s"])
        .refused("spool.redb")
        .refused("No space left on device");
}

/// Runs a scenario text with `zerowin run --json -`; the JSON document.
fn run_json(text: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let file = common::scenario_file(dir.path(), "s.toml", text);
    let out = zerowin()
        .args(["run", file.to_str().unwrap(), "--json", "-"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// Crash cycles: the spool sender is SIGKILLed and restarted 20 times at random
/// moments while a resume client consumes. Nothing accepted is lost, nothing is
/// processed twice, and the order holds.
#[test]
fn twenty_crash_cycles_lose_nothing() {
    let mut rng = common::Rng::new(common::seed("twenty_crash_cycles"));
    let mut rand = |n: u64| rng.below(n);
    let mut faults = String::new();
    let mut at = 200;
    for _ in 0..20 {
        at += 100 + rand(300);
        faults += &format!("[[fault]]\nat = \"{at}ms\"\naction = \"kill-sender\"\n");
        at += 20 + rand(200);
        faults += &format!("[[fault]]\nat = \"{at}ms\"\naction = \"restart-sender\"\n");
    }
    let text = format!(
        "[sender]\nkind = \"spool\"\nrate = \"20000/s\"\nqueue_bytes = 65536\n\
         [client]\nstrategy = \"resume\"\ndelay = \"20us\"\nmax_reconnects = 10000\nreconnect_backoff = \"5ms\"\n\
         {faults}[run]\nduration = \"{}ms\"\n\
         [expect]\noutcome = \"survived\"\nlost = 0\nduplicates = 0\nreordered = 0\n",
        at + 1500
    );
    let v = run_json(&text);
    let s = &v["scenarios"][0];
    let t = &s["trials"][0];
    let m = &t["messages"];
    assert_eq!(m["sender_restarts"], 20, "{faults}\n{m}");
    assert!(
        t["faults"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["error"].is_null()),
        "{}",
        t["faults"]
    );
    assert!(m["delivered"].as_u64().unwrap() > 1000, "{m}");
    assert_eq!(s["passed"], true, "{faults}\n{}\n{m}", s["violations"]);
}

/// A spool at its `spool_max_bytes` with `on_full = "block"` stops the producer:
/// it never holds more, and nothing is lost.
#[test]
fn a_full_spool_blocks_the_producer_and_loses_nothing() {
    let v = run_json(
        "[sender]\nkind = \"spool\"\nrate = \"50000/s\"\nqueue_bytes = 4096\nspool_max_bytes = 65536\non_full = \"block\"\n\
         [client]\nstrategy = \"resume\"\nstart_after = \"1s\"\n\
         [run]\nduration = \"2s\"\n\
         [expect]\noutcome = \"survived\"\nlost = 0\nduplicates = 0\nreordered = 0\nmax_spool_bytes = 65536\n",
    );
    let s = &v["scenarios"][0];
    let m = &s["trials"][0]["messages"];
    assert_eq!(s["passed"], true, "{}\n{m}", s["violations"]);
    let peak = m["spool_peak_bytes"].as_u64().unwrap();
    assert!(peak > 60_000, "the spool filled up to its limit: {m}");
}

/// Every key the remedies added refuses a bad value with exit 2 and file:line: key.
#[test]
fn bad_values_of_the_remedy_keys_name_file_line_and_key() {
    let spool = "[sender]\nkind = \"spool\"\n";
    let resume = "[client]\nstrategy = \"resume\"\n";
    let expect = "[expect]\noutcome = \"survived\"\n";
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{spool}fsync = \"sometimes\"\n{resume}{expect}"),
            "s.toml:3: sender.fsync: unknown fsync policy `sometimes`",
        ),
        (
            format!("{spool}spool_max_bytes = 1\n{resume}{expect}"),
            "s.toml:3: sender.spool_max_bytes: 1 is out of range",
        ),
        (
            format!("{spool}fsync_interval = \"forever\"\n{resume}{expect}"),
            "s.toml:3: sender.fsync_interval:",
        ),
        (
            format!("{spool}on_full = \"drop-oldest\"\n{resume}{expect}"),
            "s.toml:3: sender.on_full: the spool keeps what it accepted",
        ),
        (
            format!("{spool}spool_dir = 5\n{resume}{expect}"),
            "s.toml:3: sender.spool_dir: expected a string",
        ),
        (
            format!("{spool}{resume}delay_per = \"week\"\n{expect}"),
            "s.toml:5: client.delay_per: unknown delay_per `week`",
        ),
        (
            format!("{spool}{resume}ack_interval = \"0ms\"\n{expect}"),
            "s.toml:5: client.ack_interval: `0ms` is out of range",
        ),
        (
            format!("{spool}{resume}start_after = 5\n{expect}"),
            "s.toml:5: client.start_after: expected a string",
        ),
        (
            format!("{spool}{resume}{expect}[[fault]]\nat = \"1s\"\naction = \"explode\"\n"),
            "s.toml:9: fault.action: unknown action `explode`",
        ),
        (
            format!("{spool}{resume}{expect}[[fault]]\naction = \"kill-sender\"\n"),
            "s.toml:8: fault.at: is required",
        ),
        (
            format!("{spool}{resume}{expect}[[fault]]\nat = \"1s\"\naction = \"restart-sender\"\n"),
            "s.toml:8: fault.action: `restart-sender` at 1s has no earlier `kill-sender`",
        ),
        (
            format!(
                "{spool}[client]\nstrategy = \"threaded\"\n{expect}[[fault]]\nat = \"1s\"\naction = \"kill-client\"\n"
            ),
            "s.toml:8: fault.action: `kill-client` is carried out by the client, and strategy `threaded` cannot",
        ),
        (
            format!("[sender]\nkind = \"patient\"\n{resume}{expect}max_spool_bytes = 5\n"),
            "s.toml:7: expect.max_spool_bytes: only the spool sender has a spool",
        ),
        (
            format!("{spool}{resume}{expect}drained_within = \"soon\"\n"),
            "s.toml:7: expect.drained_within:",
        ),
        (
            format!("{spool}{resume}{expect}sender_bind = \"ok\"\n"),
            "s.toml:7: expect.sender_bind: there is no restart-sender or second-sender fault",
        ),
        (
            format!(
                "{spool}{resume}{expect}sender_bind = \"maybe\"\n[[fault]]\nat = \"1s\"\naction = \"second-sender\"\n"
            ),
            "s.toml:7: expect.sender_bind: expected \"ok\" or an errno's name",
        ),
    ];
    for (text, want) in cases {
        common::assert_refused(&text, want);
    }
}

/// `pause-client` and `resume-client`: the resume client stops reading for a second
/// while the spool sender goes on producing; the backlog spills, and every message is
/// still delivered once, in order.
#[test]
fn a_paused_client_loses_nothing() {
    let v = run_json(
        "[sender]\nkind = \"spool\"\nrate = \"20000/s\"\nqueue_bytes = 65536\n\
         [client]\nstrategy = \"resume\"\n\
         [[fault]]\nat = \"500ms\"\naction = \"pause-client\"\n\
         [[fault]]\nat = \"1500ms\"\naction = \"resume-client\"\n\
         [run]\nduration = \"3s\"\n\
         [expect]\noutcome = \"survived\"\nlost = 0\nduplicates = 0\nreordered = 0\n",
    );
    let s = &v["scenarios"][0];
    let t = &s["trials"][0];
    let m = &t["messages"];
    assert_eq!(s["passed"], true, "{}\n{m}", s["violations"]);
    let actions: Vec<&str> = t["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["pause-client", "resume-client"]);
    assert!(
        m["spool_peak_bytes"].as_u64().unwrap() > 0,
        "a second without reading spills: {m}"
    );
    let p99 = m["latency"]["p99_us"].as_u64().unwrap();
    assert!(p99 > 500_000, "the paused second shows in the latency: {m}");
}

/// The client faults reach an external program as signals: SIGSTOP and SIGCONT for a
/// pause, SIGKILL and a new start for a kill and a restart.
#[test]
fn an_external_client_gets_its_faults_as_signals() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/resume_client.py");
    let v = run_json(&format!(
        "[sender]\nkind = \"spool\"\nrate = \"2000/s\"\n\
         [client]\nstrategy = \"external\"\ncommand = [\"python3\", \"{script}\", \"--port\", \"{{port}}\", \"--duration\", \"10\"]\n\
         [[fault]]\nat = \"300ms\"\naction = \"pause-client\"\n\
         [[fault]]\nat = \"600ms\"\naction = \"resume-client\"\n\
         [[fault]]\nat = \"900ms\"\naction = \"kill-client\"\n\
         [[fault]]\nat = \"1200ms\"\naction = \"restart-client\"\n\
         [run]\nduration = \"2s\"\n\
         [expect]\noutcome = \"survived\"\n"
    ));
    let t = &v["scenarios"][0]["trials"][0];
    let signals: Vec<&str> = t["client"]["external"]["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["signal"].as_str().unwrap())
        .collect();
    assert_eq!(
        signals[..4],
        [
            "SIGSTOP (pause-client)",
            "SIGCONT (resume-client)",
            "SIGKILL (kill-client)",
            "started again (restart-client)"
        ],
        "{t}"
    );
}

/// A run stopped by SIGINT while a client is away and the spool sender fills its spool
/// ends at once, and leaves neither a process nor the trial's spool directory behind.
#[test]
fn an_interrupted_run_removes_its_spool() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::exe())
        .args(["run", "scenarios/client-away.toml", "-q"])
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // The trials' scratch folders live under one folder, $TMPDIR/zerowin.
    let root = tmp.path().join("zerowin");
    let spooled = std::fs::read_dir(&root).unwrap().count();
    assert!(
        spooled > 0,
        "the trial's spool directory exists while it runs"
    );
    // SAFETY: a plain signal to the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let until = Instant::now() + Duration::from_secs(3);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < until, "still running 3 s after SIGINT");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(130));
    let left: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn spool_inspect(dir: &Path) -> Output {
    zerowin()
        .args(["spool", "inspect"])
        .arg(dir)
        .output()
        .unwrap()
}

/// `spool inspect` as a user runs it: a spool closed cleanly is read in place; one a
/// killed sender left is read from a repaired copy, the spool itself unchanged; a
/// folder without a spool, or with something else in its place, is refused by name.
#[test]
fn spool_inspect_reads_clean_and_killed_spools_and_refuses_others() {
    use zerowin::store::redb::RedbSpec;
    use zerowin::store::{Batch, Fsync, StoreSpec, Stored};
    // Clean: written by the store itself, then closed.
    let clean = tempfile::tempdir().unwrap();
    {
        let mut store = RedbSpec {
            fsync: Fsync::Never,
        }
        .open(Some(clean.path()))
        .unwrap();
        let append: Vec<Stored> = (1..=5)
            .map(|seq| Stored {
                seq,
                produced_ns: seq,
                payload: b"Hello World!\0".to_vec(),
            })
            .collect();
        store
            .commit(&Batch {
                append: &append,
                ack: 2,
                reserve: 7,
            })
            .unwrap();
    }
    let out = spool_inspect(clean.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for want in [
        "depth        3 messages (87 B of messages)",
        "first        3",
        "last         5",
        "acknowledged 2",
        "reserved     7",
        "read         in place, read-only",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    // Killed: what a SIGKILLed sender left; inspect repairs a copy and leaves it be.
    let killed = tempfile::tempdir().unwrap();
    let (held, first, last) = filled_spool(killed.path());
    let file = killed.path().join("spool.redb");
    let before = std::fs::read(&file).unwrap();
    let out = spool_inspect(killed.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("depth        {held} messages")),
        "{text}"
    );
    assert!(text.contains(&format!("first        {first}")), "{text}");
    assert!(text.contains(&format!("last         {last}")), "{text}");
    assert!(text.contains("read         from a repaired copy"), "{text}");
    assert!(
        std::fs::read(&file).unwrap() == before,
        "inspect changed the spool"
    );
    // Not a spool: an empty folder, and a folder whose spool.redb is something else.
    let empty = tempfile::tempdir().unwrap();
    spool_inspect(empty.path()).refused("no spool here (no spool.redb)");
    std::fs::write(empty.path().join("spool.redb"), b"not a database").unwrap();
    let out = spool_inspect(empty.path()).refused("spool.redb");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("delivered"), "{err}");
}
