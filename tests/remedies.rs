//! The remedy senders, driven from outside as a user would: `zerowin serve --sender
//! patient`, a client written from the protocol table (docs/remedies.md) alone
//! (`scripts/resume_client.py`), and a peer that speaks something else.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command};
use std::time::Duration;

/// `zerowin serve --sender patient` with `set`, in its own process group; its port and
/// its stdout, from which the summary lines come.
fn patient(set: &[&str]) -> (Child, u16, BufReader<std::process::ChildStdout>) {
    let mut args = vec!["--sender", "patient"];
    for s in set {
        args.extend(["--set", s]);
    }
    common::serve(&args)
}

use common::{next_summary, stop_group as stop, summary_value};

/// The "Done when" of the remedies, for the patient sender: a client written from the
/// protocol table, disconnecting at random, sees every message at most once and in
/// order. What the patient sender had handed to the kernel when a connection died is
/// gone: the client counts it as gaps, exactly (processed + gaps = last sequence).
#[test]
fn a_client_from_the_table_resumes_against_the_patient_sender() {
    let (child, port, _out) = patient(&["rate=20000/s"]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/resume_client.py");
    let out = Command::new("python3")
        .arg(script)
        .args(["--port", &port.to_string(), "--duration", "2"])
        .args(["--disconnect-every", "0.25"])
        .output()
        .expect("python3 is installed by .ci/run");
    stop(child);
    // Its last line is the JSON; the zerowin-processed lines come before it.
    let last = out
        .stdout
        .split(|b| *b == b'\n')
        .rev()
        .find(|l| !l.is_empty());
    let v: serde_json::Value = serde_json::from_slice(last.unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let n = |k: &str| v[k].as_u64().unwrap();
    assert!(n("reconnects") >= 2, "it disconnected and came back: {v}");
    assert!(n("processed") > 1000, "{v}");
    assert_eq!(n("duplicates"), 0, "{v}");
    assert_eq!(n("reordered"), 0, "{v}");
    assert_eq!(
        n("processed") + n("gaps"),
        n("last"),
        "every sequence accounted for: {v}"
    );
}

/// A peer that speaks something else gets no frame and a clean close (a FIN), and
/// the sender says why.
#[test]
fn a_stranger_gets_a_clean_close_and_no_garbage() {
    let (child, port, mut out) = patient(&[]);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let r = s.read_to_end(&mut got);
    assert!(r.is_ok(), "EOF, not a reset: {r:?}");
    assert!(got.is_empty(), "no bytes at all: {got:?}");
    let line = next_summary(&mut out);
    stop(child);
    assert_eq!(summary_value(&line, "end"), "bad-hello-magic");
    assert_eq!(summary_value(&line, "messages"), "0");
}

/// A client that acknowledges a message never sent is refused with a clean close: its
/// acknowledgements would count messages as delivered that never were.
#[test]
fn an_acknowledgement_of_nothing_sent_is_refused() {
    let (child, port, mut out) = patient(&["rate=10/s"]);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let hello = zerowin::protocol::Hello { seq: 1 }.encode();
    s.write_all(&hello).unwrap();
    s.write_all(&zerowin::protocol::encode_ack(1_000_000))
        .unwrap();
    let mut rest = Vec::new();
    assert!(s.read_to_end(&mut rest).is_ok(), "a FIN, not a reset");
    let line = next_summary(&mut out);
    stop(child);
    assert_eq!(summary_value(&line, "end"), "bad-ack");
    assert_eq!(summary_value(&line, "acked"), "0");
}

/// `compare --senders` shows which remedy holds, and what it costs: one row per
/// sender, each with a client that speaks its protocol.
#[test]
fn compare_shows_which_sender_holds() {
    let out = common::zerowin()
        .args([
            "compare",
            "scenarios/spike-original.toml",
            "--senders",
            "original,patient,spool",
        ])
        .args(["--trials", "1", "--duration", "1s"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        stdout.contains("patient speaks the framed protocol: its client is resume"),
        "{stdout}"
    );
    let row = |sender: &str| {
        stdout
            .lines()
            .find(|l| {
                l.trim_start().starts_with(sender) && l.contains(" B")
                    || l.contains("msg") && l.contains(sender)
            })
            .unwrap_or_else(|| panic!("a row for {sender}: {stdout}"))
            .to_string()
    };
    assert!(row("original").contains("1 reset"), "{stdout}");
    for remedy in ["patient", "spool"] {
        let r = row(remedy);
        assert!(r.contains("1 survived") && r.contains(" 0 msg"), "{stdout}");
    }
}

/// Connects to the patient sender started with `set`, lets `peer` do what it does with
/// the connection, and returns the summary line of that connection.
fn end_of(set: &[&str], peer: impl FnOnce(TcpStream)) -> String {
    let (child, port, mut out) = patient(set);
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    peer(s);
    let line = next_summary(&mut out);
    stop(child);
    line
}

fn hello(seq: u64) -> [u8; zerowin::protocol::HELLO_LEN] {
    zerowin::protocol::Hello { seq }.encode()
}

/// Every way a framed connection ends, each provoked by a peer, as its summary says.
#[test]
fn each_end_of_a_framed_connection_is_provoked_and_named() {
    // The right magic, a version this build does not speak.
    let line = end_of(&[], |mut s| {
        let mut h = hello(1);
        h[4..6].copy_from_slice(&9u16.to_be_bytes());
        s.write_all(&h).unwrap();
        let _ = s.read_to_end(&mut Vec::new());
    });
    assert_eq!(summary_value(&line, "end"), "bad-hello-version", "{line}");
    // A client asking for a sequence the sender never numbered.
    let line = end_of(&["rate=10/s"], |mut s| {
        s.write_all(&hello(1_000_000)).unwrap();
        let _ = s.read_to_end(&mut Vec::new());
    });
    assert_eq!(summary_value(&line, "end"), "client-ahead", "{line}");
    // A peer that says nothing for the sender's 2 s hello wait.
    let line = end_of(&[], |mut s| {
        let _ = s.read_to_end(&mut Vec::new());
    });
    assert_eq!(summary_value(&line, "end"), "no-hello", "{line}");
    // Half a hello, then EOF.
    let line = end_of(&[], |mut s| {
        s.write_all(&hello(1)[..5]).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let _ = s.read_to_end(&mut Vec::new());
    });
    assert_eq!(summary_value(&line, "end"), "eof-before-hello", "{line}");
    // A client that reads nothing and acknowledges nothing while messages wait (a
    // 4 KiB send buffer, so that the sender is soon waiting, not writing).
    let line = end_of(
        &["rate=100000/s", "sndbuf=4096", "stall_timeout=300ms"],
        |mut s| {
            s.write_all(&hello(1)).unwrap();
            std::thread::sleep(Duration::from_secs(1));
            drop(s);
        },
    );
    assert_eq!(summary_value(&line, "end"), "stalled", "{line}");
    // The same client against a small queue that closes when full, before a stall.
    let line = end_of(
        &[
            "rate=100000/s",
            "sndbuf=4096",
            "queue_bytes=4096",
            "on_full=close",
            "stall_timeout=30s",
        ],
        |mut s| {
            s.write_all(&hello(1)).unwrap();
            std::thread::sleep(Duration::from_secs(1));
            drop(s);
        },
    );
    assert_eq!(summary_value(&line, "end"), "queue-full", "{line}");
    // A client that aborts (SO_LINGER 0: an RST) while the sender has data waiting to
    // be written: its next send() fails.
    let line = end_of(&["rate=100000/s", "sndbuf=4096"], |mut s| {
        s.write_all(&hello(1)).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s);
    });
    assert_eq!(summary_value(&line, "end"), "send-failed", "{line}");
    let errno = summary_value(&line, "errno");
    assert!(
        errno == libc::ECONNRESET.to_string() || errno == libc::EPIPE.to_string(),
        "{line}"
    );
}
