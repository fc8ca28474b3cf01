//! Analysis: what a set of records says, with its uncertainty. Nothing here runs
//! or prints anything; `report` prints and exports what this computes.
//!
//! - [`estimate`] holds the estimators (Wilson, order-statistics and Kaplan–Meier
//!   medians, outliers);
//! - [`stats`] holds the arithmetic every table shares (medians, percentiles, the
//!   close routes);
//! - [`summary`] summarises one cell of a sweep;
//! - [`boundary`] searches one key for the value where the failure rate crosses 50%;
//! - [`backlog`] follows a framed sender's backlog and models it from C;
//! - [`capacity`] measures a client's capacity, in messages a second;
//! - [`model`] predicts a cell's outcome and time to failure from calibration runs.

pub mod backlog;
pub mod boundary;
pub mod capacity;
pub mod estimate;
pub mod model;
pub mod stats;
pub mod summary;
