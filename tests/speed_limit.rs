//! The speed-limit tools (docs/speed-limit.md): `zerowin capacity`, rates as
//! multiples of a measured capacity, and `predict`'s backlog model. Each test checks
//! a relation or a refusal, never an absolute rate.

mod common;

use common::{Refused, zerowin};

/// A bare client that keeps up with the tight loop has only a lower bound; the
/// table says how it was measured.
#[test]
fn capacity_measures_a_client_and_marks_a_lower_bound() {
    let out = stdout_of(&[
        "capacity",
        "drain-survives",
        "--duration",
        "1s",
        "--warmup",
        "200ms",
        "--trials",
        "1",
    ]);
    assert!(out.contains("drain-survives"), "{out}");
    assert!(out.contains("≥ "), "kept up, so at least: {out}");
    assert!(
        out.contains("read a second against the tight loop"),
        "{out}"
    );
}

#[test]
fn a_warmup_longer_than_the_run_is_refused() {
    zerowin()
        .args([
            "capacity",
            "drain-survives",
            "--duration",
            "1s",
            "--warmup",
            "2s",
        ])
        .assert()
        .refused("--warmup");
}

/// A rate of the capacity is for scenarios, which measure C first: a sender started
/// by hand with one refuses it.
#[test]
fn a_sender_started_with_a_rate_of_the_capacity_refuses_it() {
    for sender in ["patient", "original"] {
        let out = zerowin()
            .args([
                "serve",
                "--sender",
                sender,
                "--port",
                "0",
                "--set",
                "rate=0.5C",
            ])
            .timeout(std::time::Duration::from_secs(10))
            .assert()
            .failure()
            .get_output()
            .clone();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("measure C first"), "{sender}: {err}");
    }
}

/// predict measures C and shows the backlog model for a framed scenario: above
/// capacity the backlog grows by R - C, here a third of the rate (R = 1.5C).
#[test]
fn predict_shows_the_backlog_model_above_capacity() {
    let out = stdout_of(&["predict", "python-over-capacity"]);
    let c = number_after(&out, "C = ");
    let g = number_after(&out, "above C: grows by ");
    assert!((g - c / 2.0).abs() <= 1.0, "R - C = 0.5C: {out}");
    assert!(out.contains("its store is full after"), "{out}");
}

/// What a command that succeeds prints.
fn stdout_of(args: &[&str]) -> String {
    let out = zerowin().args(args).assert().code(0);
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

/// The first number after `label`, thousands separators dropped.
fn number_after(text: &str, label: &str) -> f64 {
    let rest = &text[text
        .find(label)
        .unwrap_or_else(|| panic!("{label} in {text}"))
        + label.len()..];
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("a number after {label}: {text}"))
}
