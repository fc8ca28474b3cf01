//! What `zerowin diagnose` prints: a table of connections (or, past
//! [`TABLE_MAX`](super::text::TABLE_MAX) of them, a count by cause), then each
//! abnormal connection's story in numbered steps, with the packets that prove it.

use super::plot::{ACKED, EDGE, Line, Panel, Picture, SENT};
use super::text::{Layout, TABLE_MAX, new_table};
use crate::record::observation::WireSeries;
use crate::trace::cause::Step;
use crate::trace::{Diagnosed, Diagnosis};
use crate::words::ms_u;

/// Abnormal connections explained in full (and drawn by `--plot`), at most.
pub const EXPLAINED_MAX: usize = 10;

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

/// The table's columns, and one connection's row.
pub(super) const COLUMNS: [&str; 9] = [
    "#",
    "A",
    "B",
    "duration",
    "A→B B",
    "B→A B",
    "zero win A/B",
    "ending",
    "cause",
];

pub(super) fn row(d: &Diagnosed) -> Vec<String> {
    let c = &d.conn;
    vec![
        c.number.to_string(),
        c.a.to_string(),
        c.b.to_string(),
        duration(d),
        bytes(d, 0),
        bytes(d, 1),
        format!("{}/{}", c.halves[0].zero_windows, c.halves[1].zero_windows),
        d.finding.cause.ending().to_string(),
        d.finding.cause.name().to_string(),
    ]
}

fn table(diag: &Diagnosis, layout: Layout) -> String {
    let mut t = new_table(COLUMNS.to_vec(), layout);
    for d in &diag.connections {
        t.add_row(row(d));
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
    let counts = diag.by_cause();
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
pub fn explain(i: u64, d: &Diagnosed) -> String {
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

pub(super) fn frames_line(diag: &Diagnosis) -> String {
    let f = &diag.frames;
    let mut s = format!(
        "{}: {} frame(s), {} TCP segment(s) in {} connection(s){}",
        diag.file,
        f.frames,
        f.tcp,
        diag.total(),
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
    let many = diag.total() > TABLE_MAX as u64;
    s.push_str(&if many {
        by_cause(diag, layout)
    } else {
        table(diag, layout)
    });
    s
}

/// The abnormal connections the report explains (at most [`EXPLAINED_MAX`]), with
/// their numbers.
pub fn explained(diag: &Diagnosis) -> Vec<(u64, &Diagnosed)> {
    diag.connections
        .iter()
        .filter(|d| d.finding.cause.abnormal())
        .map(|d| (d.conn.number, d))
        .take(EXPLAINED_MAX)
        .collect()
}

/// The abnormal connections found but not explained.
pub fn unexplained(diag: &Diagnosis) -> u64 {
    diag.abnormal() - explained(diag).len() as u64
}

/// What the text report needs kept whole (`trace::Keep::Report`).
pub const KEEP: crate::trace::Keep = crate::trace::Keep::Report {
    table: TABLE_MAX,
    explained: EXPLAINED_MAX,
};

/// The whole report of one capture.
pub fn report(diag: &Diagnosis, layout: Layout) -> String {
    let mut s = summary(diag, layout);
    for (i, d) in explained(diag) {
        s.push('\n');
        s.push_str(&explain(i, d));
    }
    let more = unexplained(diag);
    if more > 0 {
        s.push_str(&format!(
            "\n{more} more abnormal connection(s) not explained here: --export-json has every one\n"
        ));
    }
    s
}

/// Connection `i`'s timeline, drawn from its wire series (`trace::series_of`): the
/// busier side's data against its peer's acknowledgement and window, with the
/// zero windows, FINs and RSTs marked. `unscaled`: the handshake was not captured.
pub fn picture(file: &str, i: u64, d: &Diagnosed, s: &WireSeries, unscaled: bool) -> Picture {
    let c = &d.conn;
    let data = c.busier_side();
    let (tx, rx) = (c.addr(data), c.addr(1 - data));
    let zero = c.first.t_ns;
    let window = if unscaled {
        format!("{rx}: advertised window (the raw field: no handshake, scale unknown)")
    } else {
        format!("{rx}: advertised window")
    };
    let panels = vec![
        Panel {
            y_desc: "bytes since the SYN (wire)",
            lines: vec![
                Line::wire(
                    format!("{tx}: highest byte sent"),
                    &s.sender_sent,
                    zero,
                    SENT,
                ),
                Line::wire(format!("{rx}: acknowledged"), &s.client_acked, zero, ACKED),
                Line::wire(
                    format!("{rx}: window edge (ack + window)"),
                    &s.window_edge,
                    zero,
                    EDGE,
                ),
            ],
        },
        Panel {
            y_desc: "bytes",
            lines: vec![Line::wire(window, &s.client_window, zero, EDGE)],
        },
    ];
    let at = |t_ns: u64| (t_ns.saturating_sub(zero) / 1000) as i64;
    let mut events = Vec::new();
    let h = &c.halves[1 - data];
    if let (Some(first), Some(last)) = (h.first_zero_window, h.last_zero_window) {
        events.push(("first zero window", at(first.t_ns)));
        if last != first {
            events.push(("last zero window", at(last.t_ns)));
        }
    }
    for h in &c.halves {
        events.extend(h.fin.map(|m| ("FIN", at(m.t_ns))));
        events.extend(h.rst.map(|r| ("RST", at(r.at.t_ns))));
    }
    Picture {
        title: format!(
            "{}: connection {i}, {} ⇄ {}: {}",
            super::output::clean(file),
            c.a,
            c.b,
            d.finding.cause
        ),
        x_desc: "ms since the connection's first packet",
        panels: panels
            .into_iter()
            .map(|mut p| {
                p.lines.retain(|l| !l.points.is_empty());
                p
            })
            .filter(|p| !p.lines.is_empty())
            .collect(),
        events,
    }
}
