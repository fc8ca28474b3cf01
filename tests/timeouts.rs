//! The socket-options document's claims about timeouts, and the outcome classes that
//! say which guard fired.

mod common;

use std::process::Command;

fn zerowin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zerowin"))
}

/// A client with `recv_timeout = "500ms"` gives up 450-800 ms after the last byte of a
/// peer that went silent (timeout-silent-peer, 3 trials).
#[test]
fn a_receive_timeout_fires_half_a_second_after_the_last_byte() {
    let out = zerowin()
        .args(["run", "scenarios/timeout-silent-peer.toml", "--json", "-"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let trials = v["scenarios"][0]["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 3);
    for t in trials {
        assert_eq!(t["outcome"], "call-timeout", "{t}");
        let quiet = t["silence_before_failure_us"].as_i64().unwrap();
        assert!(
            (450_000..=800_000).contains(&quiet),
            "{quiet} µs of silence before the timeout"
        );
        assert_eq!(t["client"]["socket"]["recv_timeout_us"], 500_000);
    }
}

/// connect() to a port nothing listens on is `refused`, not an error of the harness.
#[test]
fn a_closed_port_is_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = zerowin()
        .args(["client", "naive", "--connect", &format!("127.0.0.1:{port}")])
        .args(["--duration", "1s", "--expect", "refused"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("connect() → ECONNREFUSED (111)"),
        "{stdout}"
    );
}

/// The socket options' bad values name file, line and key.
#[test]
fn bad_socket_options_name_file_line_and_key() {
    let head = "[sender]\nkind = \"trickle\"\n[client]\nstrategy = \"naive\"\n";
    let tail = "[expect]\noutcome = \"survived\"\n";
    for (key, want) in [
        (
            "keepidle = \"1s\"",
            "s.toml:5: client.keepidle: keepidle, keepintvl and keepcnt need keepalive = true",
        ),
        (
            "keepalive = true\nkeepidle = \"1500ms\"",
            "s.toml:6: client.keepidle: the kernel takes whole seconds",
        ),
        (
            "nodelay = \"yes\"",
            "s.toml:5: client.nodelay: expected true or false",
        ),
        (
            "recv_timeout = \"0s\"",
            "s.toml:5: client.recv_timeout: `0s` is out of range",
        ),
        (
            "keepalive = true\nkeepcnt = 0",
            "s.toml:6: client.keepcnt: 0 is out of range",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let f = common::scenario_file(dir.path(), "s.toml", &format!("{head}{key}\n{tail}"));
        let out = zerowin()
            .args(["run", f.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "want {want:?}, got {err}");
    }
}
