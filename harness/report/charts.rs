//! The HTML report's charts, drawn with plotters as SVG text: a sweep's curves (the
//! median time to failure with its 95% band, and the failure rate with its Wilson
//! band, each with the model's prediction on top) and the distribution of each
//! cell's times to failure. A value axis that spans more than a decade is drawn in
//! log10, with its labels in the values themselves.

use anyhow::Result;
use plotters::prelude::*;

/// One cell on a curve.
#[derive(Debug, Clone, Default)]
pub struct CurvePoint {
    pub x: f64,
    /// Median time to failure (ms) and its interval; None when too few failed.
    pub median: Option<f64>,
    pub median_lo: Option<f64>,
    pub median_hi: Option<f64>,
    /// Failure rate and its Wilson interval, 0..1.
    pub rate: f64,
    pub rate_ci: [f64; 2],
    /// The model's time to failure (ms), and whether it predicts survival.
    pub model_ttf: Option<f64>,
    pub model_survives: Option<bool>,
}

/// The cells of one group (the other swept keys fixed), along the x key.
#[derive(Debug, Clone)]
pub struct Curve {
    pub label: String,
    pub points: Vec<CurvePoint>,
}

/// An x axis: its title, its span, and its tick labels when the values are
/// categories (then x is a category's position).
pub struct XAxis {
    desc: String,
    log: bool,
    span: std::ops::Range<f64>,
    categories: Option<Vec<String>>,
}

impl XAxis {
    /// Numbers (a size, or a duration in ms), in log10 when they span decades.
    pub fn numbers(desc: &str, xs: &[f64]) -> XAxis {
        let log = wants_log(xs.iter().copied());
        XAxis {
            desc: desc.to_string(),
            log,
            span: range_of(xs.iter().map(|v| tx(log, *v)), 0.06),
            categories: None,
        }
    }

    /// Categories at positions 0, 1, 2, ...
    pub fn categories(desc: &str, labels: Vec<String>) -> XAxis {
        XAxis {
            desc: desc.to_string(),
            log: false,
            span: -0.5..labels.len() as f64 - 0.5,
            categories: Some(labels),
        }
    }
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

fn tx(log: bool, v: f64) -> f64 {
    if log { v.max(1e-9).log10() } else { v }
}

fn label_of(log: bool, v: f64) -> String {
    let v = if log { 10f64.powf(v) } else { v };
    match v.abs() {
        a if a >= 100.0 || a == 0.0 => format!("{v:.0}"),
        a if a >= 1.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    }
}

/// Whether values spanning lo..hi read better in log10.
fn wants_log(values: impl Iterator<Item = f64>) -> bool {
    let (lo, hi) = values.fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    lo > 0.0 && hi / lo > 20.0
}

fn range_of(values: impl Iterator<Item = f64>, pad: f64) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return 0.0..1.0;
    }
    let span = (hi - lo).max(hi.abs() * 0.1).max(1e-3);
    lo - span * pad..hi + span * pad
}

/// The median time to failure along x, with its band, and the model's times.
pub fn ttf_curves(curves: &[Curve], x: &XAxis) -> Result<String> {
    let ys = curves.iter().flat_map(|c| &c.points).flat_map(|p| {
        [p.median, p.median_lo, p.median_hi, p.model_ttf]
            .into_iter()
            .flatten()
    });
    let log_y = wants_log(ys.clone());
    let y = range_of(ys.map(|v| tx(log_y, v)), 0.1);
    draw(x, y, log_y, "time to failure, ms", true, |chart, xlog| {
        for (i, c) in curves.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let at = |p: &CurvePoint| tx(xlog, p.x);
            let band: Vec<(f64, f64, f64)> = c
                .points
                .iter()
                .filter_map(|p| {
                    let lo = p.median_lo.or(p.median)?;
                    let hi = p.median_hi.or(p.median)?;
                    Some((at(p), tx(log_y, lo), tx(log_y, hi)))
                })
                .collect();
            let med = c
                .points
                .iter()
                .filter_map(|p| Some((at(p), tx(log_y, p.median?))));
            let label = format!("{}: median, 95% band", c.label);
            band_line(chart, &band, med.collect(), color, label)?;
            let model = c
                .points
                .iter()
                .filter_map(|p| Some((at(p), tx(log_y, p.model_ttf?))));
            crosses(chart, model, color, format!("{}: model", c.label))?;
        }
        Ok(())
    })
}

/// The failure rate along x, with its Wilson band, and the model's survival (0 or 1).
pub fn rate_curves(curves: &[Curve], x: &XAxis) -> Result<String> {
    draw(
        x,
        -0.05..1.05,
        false,
        "failure rate",
        true,
        |chart, xlog| {
            for (i, c) in curves.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                let at = |p: &CurvePoint| tx(xlog, p.x);
                let band: Vec<(f64, f64, f64)> = c
                    .points
                    .iter()
                    .map(|p| (at(p), p.rate_ci[0], p.rate_ci[1]))
                    .collect();
                let line = c.points.iter().map(|p| (at(p), p.rate)).collect();
                let label = format!("{}: observed, Wilson 95% band", c.label);
                band_line(chart, &band, line, color, label)?;
                let model = c
                    .points
                    .iter()
                    .filter_map(|p| Some((at(p), if p.model_survives? { 0.0 } else { 1.0 })));
                let label = format!("{}: model (0 survives, 1 fails)", c.label);
                crosses(chart, model, color, label)?;
            }
            Ok(())
        },
    )
}

/// A shaded band (x, low, high), and over it a line with a dot at each point.
fn band_line(
    chart: &mut Chart,
    band: &[(f64, f64, f64)],
    line: Vec<(f64, f64)>,
    color: RGBColor,
    label: String,
) -> Result<()> {
    let mut poly: Vec<(f64, f64)> = band.iter().map(|b| (b.0, b.2)).collect();
    poly.extend(band.iter().rev().map(|b| (b.0, b.1)));
    if poly.len() >= 2 {
        chart.draw_series(std::iter::once(Polygon::new(poly, color.mix(0.18))))?;
    }
    chart
        .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
        .label(label)
        .legend(move |(a, b)| PathElement::new(vec![(a, b), (a + 20, b)], color.stroke_width(2)));
    chart.draw_series(line.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    Ok(())
}

/// The model's predictions as crosses, with a legend entry when there are any.
fn crosses(
    chart: &mut Chart,
    points: impl Iterator<Item = (f64, f64)>,
    color: RGBColor,
    label: String,
) -> Result<()> {
    let points: Vec<(f64, f64)> = points.collect();
    if points.is_empty() {
        return Ok(());
    }
    chart
        .draw_series(
            points
                .iter()
                .map(|&p| Cross::new(p, 7, color.stroke_width(2))),
        )?
        .label(label)
        .legend(move |(a, b)| Cross::new((a + 10, b), 6, color.stroke_width(2)));
    Ok(())
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A chart on x (the sweep's key) and y, its series drawn by `series`.
fn draw(
    x: &XAxis,
    y: std::ops::Range<f64>,
    log_y: bool,
    y_desc: &str,
    legend: bool,
    series: impl FnOnce(&mut Chart, bool) -> Result<()>,
) -> Result<String> {
    let xlog = x.log;
    // Room above the data for the legend, whose corner would otherwise hide points;
    // no tick labels there.
    let top = y.end;
    let y = match legend {
        true => y.start..y.end + (y.end - y.start) * 0.5,
        false => y,
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (820, 420)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(x.span.clone(), y)?;
        let cats = x.categories.clone();
        let xfmt = move |v: &f64| match &cats {
            Some(c) => c
                .get(v.round() as usize)
                .filter(|_| (v - v.round()).abs() < 1e-6)
                .cloned()
                .unwrap_or_default(),
            None => label_of(xlog, *v),
        };
        let yfmt = move |v: &f64| match *v > top + 1e-9 {
            true => String::new(),
            false => label_of(log_y, *v),
        };
        chart
            .configure_mesh()
            .x_desc(x.desc.as_str())
            .y_desc(if log_y {
                format!("{y_desc} (log)")
            } else {
                y_desc.to_string()
            })
            .x_label_formatter(&xfmt)
            .y_label_formatter(&yfmt)
            .draw()?;
        series(&mut chart, xlog)?;
        if legend {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// One cell's times to failure, and how many of its trials survived.
pub struct Spread {
    pub label: String,
    pub times_ms: Vec<f64>,
    pub survived: usize,
}

/// Every failed trial's time, one column per cell, with the median marked.
pub fn distribution(cells: &[Spread]) -> Result<String> {
    let all = cells.iter().flat_map(|c| c.times_ms.iter().copied());
    let log_y = wants_log(all.clone());
    let y = range_of(all.map(|v| tx(log_y, v)), 0.1);
    let labels = cells
        .iter()
        .map(|c| match c.survived {
            0 => c.label.clone(),
            n => format!("{} ({n} survived)", c.label),
        })
        .collect();
    let x = XAxis::categories("cell", labels);
    draw(&x, y, log_y, "time to failure, ms", false, |chart, _| {
        for (i, c) in cells.iter().enumerate() {
            let color = COLORS[0];
            let n = c.times_ms.len().max(1) as f64;
            chart.draw_series(c.times_ms.iter().enumerate().map(|(j, t)| {
                // A small spread sideways, so equal times stay visible.
                let dx = (j as f64 / n - 0.5) * 0.3;
                Circle::new((i as f64 + dx, tx(log_y, *t)), 4, color.mix(0.7).filled())
            }))?;
            if let Some(m) = crate::analysis::stats::median(c.times_ms.clone()) {
                let m = tx(log_y, m);
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(i as f64 - 0.3, m), (i as f64 + 0.3, m)],
                    RED.stroke_width(2),
                )))?;
            }
        }
        Ok(())
    })
}
