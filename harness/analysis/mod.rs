//! Analysis: what a set of records says, with its uncertainty. Nothing here runs
//! or prints anything; `report` prints and exports what this computes.
//!
//! - [`estimate`] holds the estimators (Wilson, order-statistics and Kaplan–Meier
//!   medians, outliers);
//! - [`summary`] summarises one cell of a sweep.

pub mod estimate;
pub mod summary;
