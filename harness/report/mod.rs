//! Reporting: turns records into what a person reads. Nothing here runs a trial.
//! [`text`] prints the tables and the explanation; [`json`] writes the full records;
//! [`stats`] holds the arithmetic the comparisons share.

pub mod json;
pub mod plot;
pub mod stats;
pub mod text;
