//! Reporting: turns records into what a person or a program reads. Nothing here runs
//! a trial.
//! - [`text`] prints the tables and the explanation, through [`output`];
//! - [`export`] writes exports, one [`export::Exporter`] per format ([`json`],
//!   [`csv`], [`markdown`]);
//! - [`sweep`] prints a sweep's table of cells;
//! - [`progress`] shows a long run's progress bar on stderr;
//! - [`plot`] draws each trial's timeline;
//! - [`html`] writes the HTML report, with [`charts`] for its sweep charts.

pub mod backlog;
pub mod charts;
pub mod csv;
pub mod diagnose;
pub mod diagnose_html;
pub mod export;
pub mod html;
pub mod json;
pub mod kernel;
pub mod markdown;
pub mod output;
pub mod plot;
pub mod progress;
pub mod sweep;
pub mod text;

/// Every output a run can write, one line each, in the order of `--help`: adding one
/// is a module with an [`export::Exporter`] (or an [`export::Format`]) and a line here.
pub const FORMATS: &[&dyn export::Format] = &[
    &json::Json,
    &csv::CsvTrials,
    &csv::CsvCells,
    &markdown::Markdown,
    &html::Html,
];
