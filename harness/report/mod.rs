//! Reporting: turns records into what a person or a program reads. Nothing here runs
//! a trial.
//! - [`text`] prints the tables and the explanation, through [`output`];
//! - [`export`] writes exports, one [`export::Exporter`] per format ([`json`],
//!   [`csv`], [`markdown`]);
//! - [`sweep`] prints a sweep's table of cells;
//! - [`progress`] shows a long run's progress bar on stderr;
//! - [`plot`] draws each trial's timeline;
//! - [`html`] writes the HTML report, with [`charts`] for its sweep charts.

pub mod charts;
pub mod csv;
pub mod export;
pub mod html;
pub mod json;
pub mod markdown;
pub mod output;
pub mod plot;
pub mod progress;
pub mod sweep;
pub mod text;
