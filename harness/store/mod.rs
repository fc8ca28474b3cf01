//! Durable message stores: where the `spool` sender keeps what overflowed its memory
//! queue until the client acknowledges it.
//!
//! The sender's loop sees only [`Store`]: append a batch, read from a sequence on,
//! forget what the client acknowledged, reserve sequence numbers. A [`Backend`] opens
//! and inspects one kind of store; the spool sender's `store` key names one from
//! [`BACKENDS`]. A replicated broker (NATS JetStream, Redis Streams) is one more
//! module here and one more line in [`BACKENDS`]; the sender does not change.
//! [`redb`] is the one backend today, and the default.
//!
//! What a store holds is the part of the stream that is *accepted*: a message counts
//! as accepted once a commit that holds it has returned. Messages still in the sender's
//! memory are not accepted, and a SIGKILL loses them.

pub mod redb;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Result;

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub seq: u64,
    /// CLOCK_MONOTONIC ns when it was produced (meaningful only to the process that
    /// produced it; a recovered message's latency spans the restart).
    pub produced_ns: u64,
    pub payload: Vec<u8>,
}

/// What one commit does, atomically.
#[derive(Debug, Default)]
pub struct Batch<'a> {
    /// Messages to append, in sequence order, all above what the store holds.
    pub append: &'a [Stored],
    /// Forget every message up to this sequence: the client acknowledged it.
    pub ack: u64,
    /// The highest sequence number the sender may have handed out. A restarted
    /// sender numbers after it, so no sequence a client may have seen is used twice.
    pub reserve: u64,
}

/// What a store holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Depth {
    /// Messages held.
    pub messages: u64,
    /// Their bytes (sequence, stamp and payload), as counted against `spool_max_bytes`.
    pub bytes: u64,
    /// The first and last sequence held; 0 when empty.
    pub first: u64,
    pub last: u64,
    /// The highest acknowledged sequence, and the highest reserved one.
    pub acked: u64,
    pub reserved: u64,
}

/// When a commit forces its data to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fsync {
    /// Every message is its own commit, synced before the next is produced.
    Always,
    /// One synced commit per batch, at most one per `fsync_interval`.
    #[default]
    Batch,
    /// Commits per batch reach the page cache and are never synced: they survive a
    /// killed process, not a power cut.
    Never,
}

impl Fsync {
    pub const ALL: [Fsync; 3] = [Fsync::Always, Fsync::Batch, Fsync::Never];

    pub fn as_str(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Batch => "batch",
            Fsync::Never => "never",
        }
    }
}

impl FromStr for Fsync {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Fsync::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown fsync policy `{s}`; expected always, batch or never"))
    }
}

/// A durable FIFO of messages keyed by sequence.
pub trait Store: Send {
    /// Appends, forgets and reserves in one atomic commit.
    fn commit(&mut self, batch: &Batch) -> Result<()>;
    /// Up to `max` messages with sequence `from` or above, in order.
    fn read(&self, from: u64, max: usize) -> Result<Vec<Stored>>;
    /// What it holds now.
    fn depth(&self) -> Depth;
    /// The bytes its files take on disk.
    fn disk_bytes(&self) -> u64;
    /// Commits that forced data to the disk so far.
    fn syncs(&self) -> u64;
}

/// One kind of store: its name (the spool's `store` key), how it opens a store, and
/// how `spool inspect` reads one without changing it.
pub trait Backend: Sync + std::fmt::Debug {
    /// The name the `store` key gives it.
    fn name(&self) -> &'static str;
    /// Opens (or creates) the store in `dir`, recovering what a killed sender left.
    fn open(&self, dir: &Path, fsync: Fsync) -> Result<Box<dyn Store>>;
    /// Whether `dir` holds a store of this kind.
    fn holds(&self, dir: &Path) -> bool;
    /// What the store in `dir` holds and its bytes on disk, read without writing.
    fn inspect(&self, dir: &Path) -> Result<(Depth, u64, Inspected)>;
}

impl PartialEq for dyn Backend {
    fn eq(&self, other: &dyn Backend) -> bool {
        self.name() == other.name()
    }
}

/// Every backend; the first is the default.
pub const BACKENDS: &[&dyn Backend] = &[&redb::Redb];

/// The backend a spool uses when its `store` key says nothing.
pub fn default_backend() -> &'static dyn Backend {
    BACKENDS[0]
}

/// The backend with this name.
pub fn by_name(name: &str) -> Result<&'static dyn Backend, String> {
    BACKENDS
        .iter()
        .copied()
        .find(|b| b.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = BACKENDS.iter().map(|b| b.name()).collect();
            format!(
                "unknown store `{name}`; expected one of {}",
                names.join(", ")
            )
        })
}

/// The file a spool directory's redb store lives in.
pub fn spool_file(dir: &Path) -> PathBuf {
    dir.join("spool.redb")
}

/// How `spool inspect` read a spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inspected {
    /// Read-only, where it is: it was closed cleanly.
    InPlace,
    /// A killed sender left it needing repair, which writes: a copy was repaired and
    /// read, and the spool itself left as it was.
    RepairedCopy,
}

/// Reads a spool without writing to it, for `zerowin spool inspect`: the backend
/// whose store `dir` holds reads it.
pub fn inspect(dir: &Path) -> Result<(Depth, u64, Inspected)> {
    match BACKENDS.iter().find(|b| b.holds(dir)) {
        Some(b) => b.inspect(dir),
        // Each backend's own words for an empty place (redb: "no spool.redb").
        None => default_backend().inspect(dir),
    }
}
