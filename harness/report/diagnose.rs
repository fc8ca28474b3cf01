//! What `zerowin diagnose` prints: a table of connections (or, past
//! [`TABLE_MAX`](super::text::TABLE_MAX) of them, a count by cause), then each
//! abnormal connection's story in numbered steps, with the packets that prove it.

use std::collections::BTreeMap;

use super::text::{Layout, TABLE_MAX, new_table};
use crate::trace::cause::{Cause, Step};
use crate::trace::{Diagnosed, Diagnosis};
use crate::words::ms_u;

/// Abnormal connections explained in full, at most.
const EXPLAINED_MAX: usize = 10;

fn bytes(d: &Diagnosed, side: usize) -> String {
    let h = &d.conn.halves[side];
    match h.sent_bytes() {
        Some(b) => b.to_string(),
        None => format!("≥{}", h.payload_bytes),
    }
}

fn duration(d: &Diagnosed) -> String {
    ms_u((d.conn.last.t_ns.saturating_sub(d.conn.first.t_ns)) / 1000)
}

fn table(diag: &Diagnosis, layout: Layout) -> String {
    let mut t = new_table(
        vec![
            "#",
            "A",
            "B",
            "duration",
            "A→B B",
            "B→A B",
            "zero win A/B",
            "ending",
            "cause",
        ],
        layout,
    );
    for (i, d) in diag.connections.iter().enumerate() {
        let c = &d.conn;
        t.add_row(vec![
            (i + 1).to_string(),
            c.a.to_string(),
            c.b.to_string(),
            duration(d),
            bytes(d, 0),
            bytes(d, 1),
            format!("{}/{}", c.halves[0].zero_windows, c.halves[1].zero_windows),
            d.finding.cause.ending().to_string(),
            d.finding.cause.name().to_string(),
        ]);
    }
    let mut s = t.to_string();
    s.push('\n');
    if diag
        .connections
        .iter()
        .any(|d| d.conn.began_before_capture())
    {
        s.push_str("≥ began before the capture: bytes sent before it are unknown\n");
    }
    s
}

fn by_cause(diag: &Diagnosis, layout: Layout) -> String {
    let mut counts: BTreeMap<Cause, u64> = diag.frames.not_kept.clone();
    for d in &diag.connections {
        *counts.entry(d.finding.cause).or_default() += 1;
    }
    let mut t = new_table(vec!["cause", "connections", "ending"], layout);
    for (cause, n) in &counts {
        t.add_row(vec![
            cause.name().to_string(),
            n.to_string(),
            cause.ending().to_string(),
        ]);
    }
    format!("{t}\n")
}

fn step_line(n: usize, s: &Step, t0: u64) -> String {
    match s.at {
        Some(m) => format!(
            "  {n}. {} (#{}) {}\n",
            ms_u(m.t_ns.saturating_sub(t0) / 1000),
            m.number,
            s.text
        ),
        None => format!("  {n}. {}\n", s.text),
    }
}

/// One connection's story.
pub fn explain(i: usize, d: &Diagnosed) -> String {
    let c = &d.conn;
    let f = &d.finding;
    let mut s = format!(
        "Connection {i}: {} ⇄ {} (packets #{} to #{}, {}{})\n  cause: {}\n",
        c.a,
        c.b,
        c.first.number,
        c.last.number,
        duration(d),
        if c.incarnation > 1 {
            format!(", incarnation {} of this 4-tuple", c.incarnation)
        } else {
            String::new()
        },
        f.cause.name()
    );
    s.push_str("  times count from the connection's first packet in the capture\n");
    if c.began_before_capture() {
        s.push_str(
            "  it began before the capture: window scale and bytes sent before it are unknown\n",
        );
    }
    for (n, step) in f.steps.iter().enumerate() {
        s.push_str(&step_line(n + 1, step, c.first.t_ns));
    }
    for (side, h) in c.halves.iter().enumerate() {
        if h.retransmissions + h.out_of_order + h.gaps > 0 {
            s.push_str(&format!(
                "  from {}: {} retransmission(s), {} out of order, {} gap(s) (segments not captured)\n",
                c.addr(side),
                h.retransmissions,
                h.out_of_order,
                h.gaps
            ));
        }
    }
    if let Some(alt) = f.or_else {
        s.push_str(&format!("  or else: {alt}\n"));
    }
    s.push_str(&format!("  what to do: {}\n", f.advice));
    s
}

fn frames_line(diag: &Diagnosis) -> String {
    let f = &diag.frames;
    let mut s = format!(
        "{}: {} frame(s), {} TCP segment(s) in {} connection(s){}",
        diag.file,
        f.frames,
        f.tcp,
        diag.connections.len() as u64 + f.not_kept.values().sum::<u64>(),
        if f.other > 0 {
            format!("; {} other frame(s)", f.other)
        } else {
            String::new()
        }
    );
    if f.cut > 0 {
        s.push_str(&format!(
            "; {} TCP frame(s) cut inside their headers by the snap length (skipped)",
            f.cut
        ));
    }
    if f.fragments > 0 {
        s.push_str(&format!("; {} IP fragment(s) skipped", f.fragments));
    }
    for (link, n) in &f.unsupported_links {
        s.push_str(&format!(
            "; {n} frame(s) of link type {link}, which zerowin does not read"
        ));
    }
    if f.judged_early > 0 {
        s.push_str(&format!(
            "; {} connection(s) judged early (over {} open at once)",
            f.judged_early,
            crate::trace::LIVE_MAX
        ));
    }
    s.push('\n');
    if let Some(e) = &diag.ended_early {
        s.push_str(&format!(
            "the capture ends early: {e}; everything before it is judged\n"
        ));
    }
    s
}

/// The line about the frames, then the table (or, for many, the count by cause).
pub fn summary(diag: &Diagnosis, layout: Layout) -> String {
    let mut s = frames_line(diag);
    let many = diag.connections.len() > TABLE_MAX;
    s.push_str(&if many {
        by_cause(diag, layout)
    } else {
        table(diag, layout)
    });
    s
}

/// The whole report of one capture.
pub fn report(diag: &Diagnosis, layout: Layout) -> String {
    let mut s = summary(diag, layout);
    let abnormal: Vec<(usize, &Diagnosed)> = diag
        .connections
        .iter()
        .enumerate()
        .filter(|(_, d)| d.finding.cause.abnormal())
        .collect();
    for (i, d) in abnormal.iter().take(EXPLAINED_MAX) {
        s.push('\n');
        s.push_str(&explain(i + 1, d));
    }
    if abnormal.len() > EXPLAINED_MAX {
        s.push_str(&format!(
            "\n{} more abnormal connection(s) not explained here: --export-json has every one\n",
            abnormal.len() - EXPLAINED_MAX
        ));
    }
    s
}
