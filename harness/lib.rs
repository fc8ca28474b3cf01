//! zerowin: reproduces the TCP zero-window / connection-reset failure with the real
//! 2014 C sender and the real kernel, and records which call got which errno.
//!
//! The data moves one way: scenario → trial → record → report.
//! - [`scenario`] reads and checks scenario files, and turns a sweep into the cells of
//!   a grid ([`scenario::sweep`]), each checked as a file;
//! - [`sender`] and [`strategy`] are the two sides of a connection, one module per kind;
//! - [`fault`] is the fault schedule, the one place faults live;
//! - [`trial`] runs one trial and [`runner`] runs a scenario's trials and checks them;
//! - [`record`] holds what a trial leaves behind and classifies it;
//! - [`analysis`] summarises records with their uncertainty, and models them;
//! - [`report`] prints and exports records;
//! - [`session`] runs a command's scenarios: report, exports and artifacts;
//! - [`limits`] holds the allowed range of every key and flag, and [`settings`] reads
//!   a table's keys for the module that owns them;
//! - [`store`] is the durable queue behind the `spool` sender, and [`broker`] starts
//!   the NATS JetStream broker one of its backends stores in;
//! - [`sockopts`] holds the socket options either side sets (timeouts, keepalive, ...);
//! - [`protocol`] is the framed message stream of the remedy senders;
//! - [`artifacts`] makes the files a run leaves (pcaps, plots, the HTML tree), by
//!   directory handles; [`scratch`] keeps the per-trial scratch folders;
//! - [`process`] keeps child processes from outliving the harness;
//! - [`sys`] is the one place that talks to the kernel below std and socket2.

pub mod analysis;
pub mod artifacts;
pub mod broker;
pub mod calibrate;
pub mod cli;
pub mod commands;

pub mod fault;
pub mod helper;
pub mod limits;
pub mod names;
pub mod net;
pub mod observe;
pub mod process;
pub mod program;
pub mod protocol;
pub mod record;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod scratch;
pub mod sender;
pub mod session;
pub mod settings;
pub mod sockopts;
pub mod store;
pub mod strategy;
pub mod sys;
pub mod trace;
pub mod trial;
pub mod words;
