//! `--plot DIR`: one SVG per trial, drawn with plotters, in panels on one time axis
//! (the sender's queue is megabytes when the client's window is kilobytes):
//! - the wire's time-sequence graph: the highest byte the sender sent, the client's
//!   acknowledgement, and the window's right edge; where the edge meets the data,
//!   the window is closed;
//! - the sender's send queue, from the TCP_INFO samples (when there are any);
//! - the client: its advertised window from the wire, and its receive queue and
//!   window from the samples.
//!
//! Samples are drawn as points joined by steps, so two samples of a 2 ms trial never
//! pose as a trend.
//!
//! The wire series are exact, at packet resolution, so a 2 ms trial that the 1 ms
//! sampler saw once (or never) still gets its picture, and so does an external
//! client's trial, which is never sampled. The trial's events are vertical marks.
//! A trial with neither a capture nor samples cannot be drawn: [`draw`] says why, and
//! the session notes it in the record instead of stopping the run.

use std::io::Write;

use anyhow::{Context, Result, bail};
use plotters::prelude::*;

use crate::observe::timeline::{End, Sample};
use crate::observe::wire::Series;
use crate::record::TrialRecord;

type Points = Vec<(f64, f64)>;

fn ms(us: i64) -> f64 {
    us as f64 / 1000.0
}

/// A wire series on the trial's axis (ms since time zero), drawn as steps: a window
/// holds its value until the next segment changes it.
fn steps(s: &Series, zero_ns: u64) -> Points {
    let mut out = Vec::with_capacity(s.points.len() * 2);
    for &(t, v) in &s.points {
        let x = (t as i64 - zero_ns as i64) as f64 / 1e6;
        if let Some(&(_, prev)) = out.last() {
            out.push((x, prev));
        }
        out.push((x, v as f64));
    }
    out
}

/// A sampled field, while that end's socket was alive.
fn sampled(samples: &[Sample], f: impl Fn(&Sample) -> Option<u32>) -> Points {
    samples
        .iter()
        .filter_map(|s| f(s).map(|v| (ms(s.t_us as i64), v as f64)))
        .collect()
}

fn alive(e: &End) -> bool {
    e.state != "CLOSED"
}

/// One line of a panel.
pub struct Line {
    pub label: String,
    pub points: Points,
    pub color: RGBColor,
    /// Sampled: each point is marked.
    pub marked: bool,
}

impl Line {
    /// A wire series on an axis of ms since `zero_ns`, drawn as steps.
    pub fn wire(label: impl Into<String>, s: &Series, zero_ns: u64, color: RGBColor) -> Line {
        Line {
            label: label.into(),
            points: steps(s, zero_ns),
            color,
            marked: false,
        }
    }
}

/// One panel: lines sharing a y axis.
pub struct Panel {
    pub y_desc: &'static str,
    pub lines: Vec<Line>,
}

/// What a timeline draws: panels on one time axis (ms), and events as vertical
/// marks (µs on the same axis), named as in [`MARKS`].
pub struct Picture {
    pub title: String,
    pub x_desc: &'static str,
    pub panels: Vec<Panel>,
    pub events: Vec<(&'static str, i64)>,
}

/// The colour of the data side, its receiver's acknowledgement and window edge.
pub const SENT: RGBColor = RED;
pub const ACKED: RGBColor = BLUE;
pub const EDGE: RGBColor = RGBColor(0, 150, 0);

/// Samples as steps: each value holds until the next sample.
fn sampled_steps(points: Points) -> Points {
    let mut out: Points = Vec::with_capacity(points.len() * 2);
    for (x, y) in points {
        if let Some(&(_, prev)) = out.last() {
            out.push((x, prev));
        }
        out.push((x, y));
    }
    out
}

/// An external server's resident memory, MB, on the trial's axis.
fn rss_points(r: &TrialRecord) -> Points {
    let zero = r.client.zero_ns as i64;
    r.sender_program.as_ref().map_or_else(Vec::new, |p| {
        p.rss
            .iter()
            .map(|&(t, b)| (ms((t as i64 - zero) / 1000), b as f64 / 1e6))
            .collect()
    })
}

/// The panels with something to draw, top to bottom.
fn panels(r: &TrialRecord) -> Vec<Panel> {
    let o = r.observation.as_ref();
    let samples: &[Sample] = o
        .and_then(|o| o.timeline.as_ref())
        .map_or(&[], |t| &t.samples);
    let wire = o.and_then(|o| o.wire.as_ref());
    let zero = r.client.zero_ns;
    let wire_line = |label: &str, pick: fn(&crate::observe::wire::WireSeries) -> &Series, color| {
        let empty = Series::default();
        Line::wire(label, wire.map_or(&empty, |w| pick(&w.series)), zero, color)
    };
    let sample_line = |label: &str, points: Points, color| Line {
        label: label.into(),
        points,
        color,
        marked: true,
    };
    let all = vec![
        Panel {
            y_desc: "bytes since the SYN (wire)",
            lines: vec![
                wire_line("sender: highest byte sent", |s| &s.sender_sent, SENT),
                wire_line("client: acknowledged", |s| &s.client_acked, ACKED),
                wire_line(
                    "client: window edge (ack + window)",
                    |s| &s.window_edge,
                    EDGE,
                ),
            ],
        },
        Panel {
            y_desc: "bytes (sampled)",
            lines: vec![sample_line(
                "sender send queue",
                sampled(samples, |s| alive(&s.sender).then_some(s.sender.send_q)),
                RED,
            )],
        },
        Panel {
            y_desc: "bytes",
            lines: vec![
                wire_line(
                    "client advertised window (wire)",
                    |s| &s.client_window,
                    EDGE,
                ),
                sample_line(
                    "client advertised window (sampled)",
                    sampled(samples, |s| s.client.rcv_wnd.filter(|_| alive(&s.client))),
                    RGBColor(120, 200, 120),
                ),
                sample_line(
                    "client receive queue, unread (sampled)",
                    sampled(samples, |s| alive(&s.client).then_some(s.client.recv_q)),
                    BLUE,
                ),
            ],
        },
        Panel {
            y_desc: "MB (sampled from /proc)",
            lines: vec![sample_line(
                "server's resident memory",
                rss_points(r),
                RGBColor(150, 0, 150),
            )],
        },
    ];
    all.into_iter()
        .map(|mut p| {
            p.lines.retain(|l| !l.points.is_empty());
            p
        })
        .filter(|p| !p.lines.is_empty())
        .collect()
}

const MARKS: [(&str, RGBColor); 13] = [
    ("FIN", RGBColor(150, 0, 150)),
    ("last zero window", RGBColor(0, 90, 0)),
    ("first zero window", RGBColor(0, 150, 0)),
    ("sender send() failed", RGBColor(200, 120, 0)),
    ("sender close", RGBColor(150, 0, 150)),
    ("RST", BLACK),
    ("client first error", RGBColor(120, 120, 120)),
    ("kill-sender", RGBColor(230, 120, 0)),
    ("restart-sender", RGBColor(0, 160, 160)),
    ("kill-client", RGBColor(230, 120, 0)),
    ("restart-client", RGBColor(0, 160, 160)),
    ("pause-client", RGBColor(200, 170, 0)),
    ("resume-client", RGBColor(0, 120, 200)),
];

/// Draws `record`'s timeline into a new file `name` in `dir` (which must not exist).
pub fn draw(record: &TrialRecord, dir: &crate::artifacts::OutDir, name: &str) -> Result<()> {
    let svg = render(record)?;
    let mut f = dir.create_new(name)?;
    f.write_all(svg.as_bytes())
        .with_context(|| format!("writing {}", dir.join(name).display()))
}

/// The SVG text of `record`'s timeline.
pub fn render(record: &TrialRecord) -> Result<String> {
    let obs = record
        .observation
        .as_ref()
        .context("the trial has no observation")?;
    let panels = panels(record);
    if panels.is_empty() {
        bail!("no plot: the trial had neither a capture nor a TCP_INFO sample");
    }
    let mut events = obs.events.ordered();
    // The fault schedule's events, on the same clock.
    events.extend(record.faults.iter().map(|f| (f.action.as_str(), f.at_us)));
    // The client's keep-alive probes, from the capture, and the last answer before them.
    let zero = record.client.zero_ns as i64;
    let probes = obs.wire.iter().flat_map(|w| &w.client_keep_alive_ns);
    events.extend(probes.map(|t| ("keep-alive probe", (*t as i64 - zero) / 1000)));
    if obs
        .wire
        .as_ref()
        .is_some_and(|w| w.from_client.keep_alives > 0)
        && let Some(t) = obs.events.last_from_sender_us
    {
        events.push(("last segment from the sender", t));
    }
    let title = format!(
        "{} trial {}: {} vs {} ({}) → {}",
        crate::report::output::clean(&record.scenario),
        record.trial,
        record.strategy,
        record.sender,
        record.close_policy,
        record.outcome
    );
    svg(&Picture {
        title,
        x_desc: "ms since the SYN",
        panels,
        events,
    })
}

/// The SVG text of a picture: its panels stacked on one time axis.
pub fn svg(p: &Picture) -> Result<String> {
    let mut events = p.events.clone();
    events.sort_by_key(|(_, t)| *t);
    let all_x = p
        .panels
        .iter()
        .flat_map(|p| &p.lines)
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .chain(events.iter().map(|(_, t)| ms(*t)));
    let (x0, x1) = all_x.fold((0f64, 0.1f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let x_range = x0..x1 + (x1 - x0) * 0.05;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1100, 760)).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(&p.title, ("sans-serif", 18))?;
        let areas = root.split_evenly((p.panels.len().max(1), 1));
        for (i, (area, panel)) in areas.iter().zip(&p.panels).enumerate() {
            // The events' legend once, in the first panel; their marks in every one.
            draw_panel(area, panel, p.x_desc, &events, i == 0, x_range.clone())?;
        }
        root.present()?;
    }
    Ok(svg)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
    x_desc: &str,
    events: &[(&'static str, i64)],
    legend_events: bool,
    x: std::ops::Range<f64>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let lines = &panel.lines;
    let y_end = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(1.0f64, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(x, 0f64..y_end)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(panel.y_desc)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    for l in lines {
        let color = l.color;
        let points = if l.marked {
            sampled_steps(l.points.clone())
        } else {
            l.points.clone()
        };
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(l.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        // Marks only where they can be told apart; a dense series is its line.
        if l.marked && l.points.len() <= 200 {
            chart.draw_series(l.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
    }
    for (name, t) in events {
        let color = MARKS
            .iter()
            .find(|(n, _)| n == name)
            .map_or(BLACK, |(_, c)| *c);
        let x = ms(*t);
        let mark = chart.draw_series(std::iter::once(PathElement::new(
            vec![(x, 0.0), (x, y_end)],
            color.stroke_width(1),
        )))?;
        if legend_events {
            mark.label(format!("{name} at {x:.2} ms"))
                .legend(move |(lx, ly)| {
                    PathElement::new(vec![(lx + 10, ly - 6), (lx + 10, ly + 6)], color)
                });
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
