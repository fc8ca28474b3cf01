//! The readable report: a table per scenario, an explanation of one trial in plain
//! words, a verdict, and the summary and comparison tables.

use comfy_table::{Table, presets};

use super::stats::{median_of, outcome_counts};
use crate::observe::Observation;
use crate::record::{Ending, Outcome, TrialRecord};
use crate::runner::ScenarioResult;
use crate::scenario::Scenario;

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn ms_opt(us: Option<f64>) -> String {
    us.map_or("-".into(), |u| format!("{:.2} ms", u / 1000.0))
}

fn new_table(header: Vec<&str>) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_HORIZONTAL_ONLY)
        .set_header(header);
    t
}

/// "naive vs original (close); sndbuf 4096, rcvbuf default; delay 0ns".
pub fn setup(sc: &Scenario) -> String {
    let buf = |b: Option<usize>| b.map_or("default".to_string(), |v| v.to_string());
    let c = &sc.client;
    let reads = match sc.strategy.name() {
        "naive" => format!("recv({})", c.recv_size),
        "drain" => format!("recv({}) until EAGAIN", c.chunk),
        _ => format!("`{}`", c.command.join(" ")),
    };
    if sc.strategy.is_external() {
        return format!(
            "{} vs {} ({}); `{}`; sndbuf {}; {} trial(s) of up to {:?}",
            sc.strategy.name(),
            sc.sender.name(),
            sc.sender_config.close_policy,
            c.command.join(" "),
            buf(sc.sender_config.sndbuf),
            sc.trials,
            c.duration,
        );
    }
    let reply = if c.reply.is_empty() {
        "no reply".to_string()
    } else {
        format!("reply {:?}", String::from_utf8_lossy(&c.reply))
    };
    format!(
        "{} vs {} ({}); {reads}, delay {:?}, {reply}; sndbuf {}, rcvbuf {}; {} trial(s) of up to {:?}",
        sc.strategy.name(),
        sc.sender.name(),
        sc.sender_config.close_policy,
        c.delay,
        buf(sc.sender_config.sndbuf),
        buf(c.rcvbuf),
        sc.trials,
        c.duration,
    )
}

fn first_failure(r: &TrialRecord) -> String {
    match &r.client.ending {
        Ending::Failed { error } => error.to_string(),
        Ending::Eof { .. } => "recv() → 0 (EOF)".into(),
        Ending::Survived { .. } => "-".into(),
        Ending::Timeout { call, .. } => format!("{call}: timed out"),
        Ending::Exited { status, .. } => match &r.classified_from {
            Some(_) => format!("{} (from the wire); it {status}", r.outcome),
            None => format!("it {status}"),
        },
    }
}

/// One row per trial.
pub fn trial_table(records: &[TrialRecord]) -> String {
    let mut t = new_table(vec![
        "#",
        "outcome",
        "first failure",
        "at",
        "read B",
        "sent B",
        "lost B",
        "sender",
        "zero win",
        "RST",
        "iso",
        "trial",
    ]);
    for r in records {
        let sender = match &r.sender_summary {
            Some(s) => format!(
                "{}; close at {}",
                s.errno_name,
                r.sender_close_at_us
                    .map_or("?".into(), |u| ms(u.max(0) as u64))
            ),
            None => "no summary".into(),
        };
        t.add_row(vec![
            r.trial.to_string(),
            r.outcome.to_string(),
            first_failure(r),
            r.time_to_failure_us.map_or("-".into(), ms),
            r.bytes_read.to_string(),
            r.bytes_sent.map_or("?".into(), |b| b.to_string()),
            r.bytes_lost.map_or("?".into(), |b| b.to_string()),
            sender,
            zero_windows(r),
            r.observation
                .as_ref()
                .and_then(|o| o.wire.as_ref())
                .map_or("-".into(), |w| w.rst_direction.to_string()),
            r.observation
                .as_ref()
                .map_or("-".into(), |o| o.isolation.mode.to_string()),
            ms(r.trial_us),
        ]);
    }
    t.to_string()
}

/// Zero-window advertisements from the client: counted on the wire when there is a
/// capture, else the kernel's TCPToZeroWindowAdv (marked `*` outside a namespace,
/// where other traffic moves it too).
fn zero_windows(r: &TrialRecord) -> String {
    let Some(o) = &r.observation else {
        return "-".into();
    };
    match (&o.wire, &o.counters) {
        (Some(w), _) => w.from_client.zero_windows.to_string(),
        (None, Some(c)) => format!(
            "{}{}",
            c.get("TCPToZeroWindowAdv"),
            if c.isolated { "" } else { "*" }
        ),
        (None, None) => "-".into(),
    }
}

/// What the observers saw, as lines of the explanation.
fn evidence(o: &Observation) -> Vec<String> {
    let mut out = vec![format!(
        "isolation: {} ({})",
        o.isolation.mode, o.isolation.reason
    )];
    if !o.isolation.sysctls.is_empty() {
        let s: Vec<String> = o
            .isolation
            .sysctls
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        out.push(format!("sysctls in the namespace: {}", s.join(", ")));
    }
    if let Some(w) = &o.wire {
        out.push(format!(
            "on the wire: the client advertised a zero window {} time(s) and the sender {}; window updates {}/{} (client/sender); zero-window probes {}/{}; RST {} ({} from the sender, {} from the client); FIN {}/{}{}",
            w.from_client.zero_windows,
            w.from_sender.zero_windows,
            w.from_client.window_updates,
            w.from_sender.window_updates,
            w.from_sender.zero_window_probes,
            w.from_client.zero_window_probes,
            w.rst_direction,
            w.from_sender.rsts,
            w.from_client.rsts,
            w.from_client.fins,
            w.from_sender.fins,
            if w.dropped_frames > 0 {
                format!("; {} frames dropped by the capture", w.dropped_frames)
            } else {
                String::new()
            }
        ));
    }
    if let Some(c) = &o.counters {
        let moved: Vec<String> = c
            .story
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        out.push(format!(
            "kernel counters{}: {}",
            if c.isolated {
                ""
            } else {
                " (host: not isolated)"
            },
            if moved.is_empty() {
                "none of the story's moved".into()
            } else {
                moved.join(", ")
            }
        ));
    }
    let ev = o.events.ordered();
    if !ev.is_empty() {
        let s: Vec<String> = ev
            .iter()
            .map(|(n, t)| format!("{n} {:.2} ms", *t as f64 / 1000.0))
            .collect();
        out.push(format!("timeline: {}", s.join(" → ")));
    }
    out.extend(o.notes.iter().cloned());
    for (what, f) in [("pcap", &o.pcap_file), ("plot", &o.plot_file)] {
        if let Some(p) = f {
            out.push(format!("{what}: {}", p.display()));
        }
    }
    out
}

/// Why the original close() became an RST or a FIN. The kernel's own counters decide
/// when they are the trial's alone (a namespace): TCPAbortOnClose means unread data at
/// close(), TCPAbortOnData means data that arrived after it. Without them, the
/// client's reply times are compared with the close on the shared clock.
fn close_route(r: &TrialRecord) -> String {
    const UNREAD: &str = ", with the client's replies in its receive queue, never read: so the kernel sent RST, not FIN";
    const FIN_THEN_DATA: &str = ", with nothing unread, so close() sent FIN; data the client sent after that hit a closed socket, and the kernel answers data there with RST";
    let counters = r
        .observation
        .as_ref()
        .and_then(|o| o.counters.as_ref())
        .filter(|c| c.isolated);
    if let Some(c) = counters {
        return if c.get("TCPAbortOnClose") > 0 {
            format!("{UNREAD} (TCPAbortOnClose)")
        } else if c.get("TCPAbortOnData") > 0 {
            format!("{FIN_THEN_DATA} (TCPAbortOnData)")
        } else {
            ", with nothing unread: a FIN (no abort counter moved)".into()
        };
    }
    if r.sender_summary.is_some() && r.client.external.is_some() {
        return ": whether as RST or FIN, only a capture or the counters can tell for an external client".into();
    }
    let close_at = r.sender_close_at_us.unwrap_or(i64::MAX);
    match r.client.first_reply_us {
        Some(t) if (t as i64) < close_at => {
            format!("{UNREAD} (inferred: a reply was sent before the close)")
        }
        Some(t) => format!(
            ", before any reply had been sent, so close() sent FIN; the client's first reply at {} then hit a closed socket, and the kernel answers data there with RST (inferred from the reply times)",
            ms(t)
        ),
        None => ", with no reply ever sent: nothing unread, so the kernel sent FIN".into(),
    }
}

/// The chain of events of one trial, in plain words, from the records alone.
pub fn explain(r: &TrialRecord) -> String {
    let mut out = Vec::new();
    let client_left_first = matches!(r.outcome, Outcome::Survived | Outcome::Timeout);
    if let Some(s) = r.sender_summary.as_ref().filter(|_| client_left_first) {
        // The sender never filled up: the client ended the connection, and the
        // sender's next send() found it gone.
        out.push(format!(
            "the sender's send() accepted {} messages ({} B) and never returned EAGAIN; after the client ended the connection at {}, its next send() got {}",
            s.messages,
            s.bytes,
            ms(r.client.ending.at_us()),
            s.errno_name
        ));
    } else if let Some(s) = &r.sender_summary {
        let mut line = format!(
            "the sender's send() accepted {} messages ({} B) into a {} B send buffer, then returned {}",
            s.messages, s.bytes, s.sndbuf_effective, s.errno_name
        );
        if let Some(at) = r.sender_close_at_us {
            line.push_str(&format!(
                "; its {} came at {}",
                match s.policy.as_str() {
                    "close" => "close()",
                    "linger0" => "close() with SO_LINGER 0",
                    _ => "shutdown(SHUT_WR), drain and close()",
                },
                ms(at.max(0) as u64)
            ));
        }
        match s.policy.as_str() {
            "close" => line.push_str(&close_route(r)),
            "linger0" => line.push_str(": SO_LINGER 0 always sends RST"),
            _ => line.push_str(&format!(
                " after reading {} B of replies: a clean FIN",
                s.drained
            )),
        }
        if s.partial > 0 {
            line.push_str(&format!(
                "; {} send() took only part of a 13-byte message, so the last message is truncated",
                s.partial
            ));
        }
        out.push(line);
    } else if r.sender == "external" {
        out.push("the server is external: zerowin does not know what its send() accepted, so bytes lost are unknown".into());
    } else {
        out.push(
            "the sender gave no summary (its send() had not failed when the trial ended)".into(),
        );
    }
    let c = &r.client;
    out.push(match &c.ending {
        Ending::Failed { error } => format!(
            "the client had read {} B in {} reads when {error} at {}",
            c.bytes_read,
            c.reads,
            ms(error.at_us)
        ),
        Ending::Eof { at_us } => format!(
            "the client read {} B, then recv() returned 0 (EOF) at {}",
            c.bytes_read,
            ms(*at_us)
        ),
        Ending::Survived { at_us } => format!(
            "the client read {} B ({:.1} MB/s) with no failure for {}",
            c.bytes_read,
            r.read_mb_s,
            ms(*at_us)
        ),
        Ending::Timeout { call, at_us } => {
            format!("the client's {call} timed out at {}", ms(*at_us))
        }
        Ending::Exited { status, at_us, .. } => {
            let cmd = c
                .external
                .as_ref()
                .map_or(String::new(), |e| e.command.join(" "));
            let mut s = format!("the external client `{cmd}` {status} at {}", ms(*at_us));
            if let Some(why) = &r.classified_from {
                s.push_str(&format!("; classified {} because {why}", r.outcome));
            }
            if let Some(err) = c
                .external
                .as_ref()
                .map(|e| e.stderr_tail.trim())
                .filter(|t| !t.is_empty())
            {
                let last = err.lines().last().unwrap_or(err);
                s.push_str(&format!("; its last words: {last:?}"));
            }
            s
        }
    });
    if let Some(p) = &c.postmortem {
        out.push(format!(
            "after that: recv() still returned {} B then {}; {}; {}; {}; SO_ERROR = {}",
            p.recv_bytes,
            match (&p.recv_end.error, p.recv_end.value) {
                (Some(e), _) if e == "EAGAIN" => "EAGAIN (queue empty, connection up)".into(),
                (Some(e), _) => e.clone(),
                (None, Some(0)) => "0 (EOF)".to_string(),
                (None, _) => "stopped at the deadline".to_string(),
            },
            p.send,
            p.shutdown,
            p.getpeername,
            p.so_error.error.as_deref().unwrap_or("0"),
        ));
    }
    if let Some(o) = &r.observation {
        out.extend(evidence(o));
    }
    if let Some(lost) = r.bytes_lost {
        out.push(format!(
            "{lost} B that send() accepted never reached the client{}",
            if lost == 0 {
                ""
            } else {
                " (they died in the kernel's buffers)"
            }
        ));
    }
    out.iter().map(|l| format!("  - {l}\n")).collect()
}

/// "PASS expected reset within 1s: 5 reset; median time to failure 2.31 ms; ..."
pub fn verdict(res: &ScenarioResult) -> String {
    let e = &res.scenario.expect;
    let mut want = format!("expected {}", e.outcome);
    if let Some(w) = e.within {
        want.push_str(&format!(" within {w:?}"));
    }
    if let Some(b) = e.bytes_lost {
        want.push_str(&format!(" with {b} B lost"));
    }
    let mut s = format!(
        "{} {want}: {}; median time to failure {}, median trial {}",
        if res.passed() { "PASS" } else { "FAIL" },
        outcome_counts(&res.records),
        ms_opt(median_of(&res.records, |r| r
            .time_to_failure_us
            .map(|u| u as f64))),
        ms_opt(median_of(&res.records, |r| Some(r.trial_us as f64))),
    );
    for v in &res.violations {
        s.push_str(&format!("\n  ✗ {v}"));
    }
    s
}

/// Everything printed for one scenario.
pub fn scenario_report(res: &ScenarioResult) -> String {
    let sc = &res.scenario;
    let mut s = format!("\n== {} ({})\n", sc.name, sc.path.display());
    if !sc.description.is_empty() {
        s.push_str(&format!("   {}\n", sc.description.trim()));
    }
    s.push_str(&format!("   {}\n", setup(sc)));
    s.push_str(&trial_table(&res.records));
    s.push('\n');
    if let Some(first) = res.records.first() {
        s.push_str(&format!("What happened in trial {}:\n", first.trial));
        s.push_str(&explain(first));
    }
    s.push_str(&verdict(res));
    s.push('\n');
    s
}

/// One row per scenario, after a `run`.
pub fn summary_table(results: &[ScenarioResult]) -> String {
    let mut t = new_table(vec![
        "scenario",
        "strategy",
        "expected",
        "got",
        "median t_fail",
        "median trial",
        "verdict",
    ]);
    for r in results {
        t.add_row(vec![
            r.scenario.name.clone(),
            r.scenario.strategy.name().to_string(),
            r.scenario.expect.outcome.to_string(),
            outcome_counts(&r.records),
            ms_opt(median_of(&r.records, |x| {
                x.time_to_failure_us.map(|u| u as f64)
            })),
            ms_opt(median_of(&r.records, |x| Some(x.trial_us as f64))),
            if r.passed() { "PASS" } else { "FAIL" }.to_string(),
        ]);
    }
    t.to_string()
}

/// One row per strategy, for `compare`.
pub fn compare_table(results: &[ScenarioResult]) -> String {
    let mut t = new_table(vec![
        "strategy",
        "outcomes",
        "median t_fail",
        "median read B",
        "median lost B",
        "read MB/s",
        "sent MB/s",
    ]);
    for r in results {
        let med = |f: &dyn Fn(&TrialRecord) -> Option<f64>| median_of(&r.records, f);
        let num = |v: Option<f64>, prec: usize| v.map_or("-".into(), |x| format!("{x:.prec$}"));
        t.add_row(vec![
            r.scenario.strategy.name().to_string(),
            outcome_counts(&r.records),
            ms_opt(med(&|x| x.time_to_failure_us.map(|u| u as f64))),
            num(med(&|x| Some(x.bytes_read as f64)), 0),
            num(med(&|x| x.bytes_lost.map(|b| b as f64)), 0),
            num(med(&|x| Some(x.read_mb_s)), 2),
            num(med(&|x| x.sent_mb_s), 2),
        ]);
    }
    t.to_string()
}
