//! `--plot DIR`: one SVG per trial, drawn with plotters from the TCP_INFO timeline:
//! the client's receive queue, the client's advertised window and the sender's send
//! queue over time, with the trial's events marked as vertical lines.

use std::path::Path;

use anyhow::{Context, Result, bail};
use plotters::prelude::*;

use crate::record::TrialRecord;

fn ms(us: i64) -> f64 {
    us as f64 / 1000.0
}

/// Draws `record`'s timeline to `path`. Fails when the trial has no timeline.
pub fn draw(record: &TrialRecord, path: &Path) -> Result<()> {
    let obs = record
        .observation
        .as_ref()
        .context("the trial has no observation")?;
    let Some(tl) = obs.timeline.as_ref().filter(|t| !t.samples.is_empty()) else {
        bail!("--plot needs the TCP_INFO timeline; sampling was off or took no sample");
    };
    let series = |f: &dyn Fn(&crate::observe::timeline::Sample) -> Option<u32>| -> Vec<(f64, f64)> {
        tl.samples
            .iter()
            .filter_map(|s| f(s).map(|v| (ms(s.t_us as i64), v as f64)))
            .collect()
    };
    let alive = |e: &crate::observe::timeline::End| e.state != "CLOSED";
    let recv_q = series(&|s| alive(&s.client).then_some(s.client.recv_q));
    let rcv_wnd = series(&|s| {
        if alive(&s.client) {
            s.client.rcv_wnd
        } else {
            None
        }
    });
    let send_q = series(&|s| alive(&s.sender).then_some(s.sender.send_q));
    let events = obs.events.ordered();

    let x_end = tl
        .samples
        .last()
        .map(|s| ms(s.t_us as i64))
        .into_iter()
        .chain(events.iter().map(|(_, t)| ms(*t)))
        .fold(0.1f64, f64::max)
        * 1.05;
    let top = |points: &[&Vec<(f64, f64)>]| {
        points
            .iter()
            .flat_map(|v| v.iter().map(|p| p.1))
            .fold(1.0f64, f64::max)
            * 1.15
    };

    let root = SVGBackend::new(path, (1100, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "{} trial {}: {} vs {} ({}) → {}",
        record.scenario,
        record.trial,
        record.strategy,
        record.sender,
        record.close_policy,
        record.outcome
    );
    let root = root.titled(&title, ("sans-serif", 18))?;
    // Two panels on one time axis: the sender's queue is megabytes when the client's
    // window is kilobytes, so one scale would hide the client.
    let (upper, lower) = root.split_vertically(370);
    let marks = [
        ("first zero window", RGBColor(0, 150, 0)),
        ("sender send() failed", RGBColor(200, 120, 0)),
        ("sender close", RGBColor(150, 0, 150)),
        ("RST", BLACK),
        ("client first error", RGBColor(120, 120, 120)),
    ];
    type Line<'a> = (&'a str, &'a Vec<(f64, f64)>, RGBColor);
    let panels: [(&DrawingArea<SVGBackend, plotters::coord::Shift>, Vec<Line>); 2] = [
        (&upper, vec![("sender send queue", &send_q, RED)]),
        (
            &lower,
            vec![
                ("client receive queue (unread)", &recv_q, BLUE),
                ("client advertised window", &rcv_wnd, RGBColor(0, 150, 0)),
            ],
        ),
    ];
    for (area, lines) in panels {
        let y_end = top(&lines.iter().map(|l| l.1).collect::<Vec<_>>());
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..x_end, 0f64..y_end)?;
        chart
            .configure_mesh()
            .x_desc("ms since connect")
            .y_desc("bytes")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        for (label, points, color) in lines {
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        for (name, t) in &events {
            let color = marks
                .iter()
                .find(|(n, _)| n == name)
                .map_or(BLACK, |(_, c)| *c);
            let x = ms(*t);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, 0.0), (x, y_end)],
                    color.stroke_width(1),
                )))?
                .label(format!("{name} at {x:.2} ms"))
                .legend(move |(lx, ly)| {
                    PathElement::new(vec![(lx + 10, ly - 6), (lx + 10, ly + 6)], color)
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
