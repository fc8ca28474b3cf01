//! Durable message stores: where the `spool` sender keeps what overflowed its memory
//! queue until the client acknowledges it.
//!
//! The sender's loop sees only [`Store`]: append a batch, read from a sequence on,
//! forget what the client acknowledged, reserve sequence numbers. A [`Backend`] reads
//! its own keys into a [`StoreSpec`], which opens a store, and inspects one kind of
//! store; the spool sender's `store` key names one from [`BACKENDS`]. Each backend is
//! one module here and one line in [`BACKENDS`]; the sender does not change.
//! - [`redb`]: one file in the spool directory, the default;
//! - [`jetstream`]: a NATS JetStream stream, on one node or replicated over three.
//!
//! What a store holds is the part of the stream that is *accepted*: a message counts
//! as accepted once a commit that holds it has returned it as appended. Messages still
//! in the sender's memory are not accepted, and a SIGKILL loses them.
//!
//! A store on the network can be out of reach for a while (a broker that lost its
//! quorum, a partition). Its commit then appends only a prefix of the batch, or none
//! of it, and says why ([`Committed::outage`]); the sender keeps the rest pending and
//! treats the store as full until a commit succeeds again. A store on the sender's
//! own disk is never "out": its failures are errors.

pub mod jetstream;
pub mod redb;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Result;

use crate::settings::{Keys, ScenarioError};

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

/// What a commit did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Committed {
    /// How many of the batch's messages, from its first, are now accepted.
    pub appended: usize,
    /// Why the rest (or the acknowledgement, or the reservation) was not taken: the
    /// store is out of reach. None: the whole batch was committed.
    pub outage: Option<String>,
    /// Ranges among the `appended` that the store did not keep after all, and never
    /// acknowledged (a broker that dropped them in a leader change, while it kept
    /// later ones): void, never accepted.
    pub void: Vec<(u64, u64)>,
}

impl Committed {
    /// The whole batch of `n` messages.
    pub fn all(n: usize) -> Committed {
        Committed {
            appended: n,
            outage: None,
            void: Vec::new(),
        }
    }
}

/// A durable FIFO of messages keyed by sequence.
pub trait Store: Send {
    /// Appends, forgets and reserves: in one atomic commit (redb), or in order,
    /// appending a prefix of the batch when the store goes out of reach (a broker).
    fn commit(&mut self, batch: &Batch) -> Result<Committed>;
    /// Up to `max` messages with sequence `from` or above, in order; none while the
    /// store is out of reach.
    fn read(&mut self, from: u64, max: usize) -> Result<Vec<Stored>>;
    /// What it holds now.
    fn depth(&self) -> Depth;
    /// The bytes its files take on disk (a broker: the stream's bytes, as it counts).
    fn disk_bytes(&self) -> u64;
    /// Commits that forced data to the disk so far (0 where the broker decides).
    fn syncs(&self) -> u64;
    /// Why it cannot take a commit now; None while it can.
    fn outage(&self) -> Option<&str> {
        None
    }
    /// Every message is its own commit (`fsync = "always"`).
    fn commit_each(&self) -> bool {
        false
    }
}

/// One backend's settings, read from the spool's keys: where and how it stores.
pub trait StoreSpec: Send + Sync + std::fmt::Debug {
    fn backend(&self) -> &'static dyn Backend;
    /// Its keys again, as `key=value` pairs for `zerowin serve --set`.
    fn to_pairs(&self) -> Vec<String>;
    /// A few words for the scenario's description.
    fn describe(&self) -> String;
    /// Opens (or creates) the store, recovering what a killed sender left. `dir` is
    /// the spool directory: redb's file lives there; another backend leaves a note of
    /// where its store is, for `spool inspect`.
    fn open(&self, dir: Option<&Path>) -> Result<Box<dyn Store>>;
    /// It keeps its data in the spool directory, which it then needs.
    fn needs_dir(&self) -> bool;
    /// It stores in a broker it was given no address of: a scenario's `[broker]`
    /// starts one and gives it.
    fn wants_broker(&self) -> bool {
        false
    }
    /// The longest one call to the store may block the sender's loop (a broker's
    /// request timeout); zero for a store on the sender's own disk.
    fn longest_call(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

impl PartialEq for dyn StoreSpec {
    fn eq(&self, other: &dyn StoreSpec) -> bool {
        self.backend() == other.backend() && self.to_pairs() == other.to_pairs()
    }
}

/// One kind of store: its name (the spool's `store` key), its own keys, and how
/// `spool inspect` reads one without changing it.
pub trait Backend: Sync + std::fmt::Debug {
    /// The name the `store` key gives it.
    fn name(&self) -> &'static str;
    /// Its own keys, with their help lines.
    fn keys(&self) -> &'static [(&'static str, &'static str)];
    /// Reads its keys.
    fn read(&self, keys: &mut Keys) -> Result<Arc<dyn StoreSpec>, ScenarioError>;
    /// Whether `dir` holds a store of this kind (or the note of where one is).
    fn holds(&self, dir: &Path) -> bool;
    /// What the store of `dir` holds and its bytes, read without writing.
    fn inspect(&self, dir: &Path) -> Result<(Depth, u64, Inspected)>;
}

impl PartialEq for dyn Backend {
    fn eq(&self, other: &dyn Backend) -> bool {
        self.name() == other.name()
    }
}

/// Every backend; the first is the default.
pub const BACKENDS: &[&dyn Backend] = &[&redb::Redb, &jetstream::JetStream];

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

/// Reads the `store` key and the chosen backend's keys; a key of another backend is
/// an error that names the backend it belongs to.
pub fn read_spec(keys: &mut Keys) -> Result<Arc<dyn StoreSpec>, ScenarioError> {
    let backend = match keys.string("store")? {
        Some(name) => by_name(&name).map_err(|m| keys.invalid("store", m))?,
        None => default_backend(),
    };
    for other in BACKENDS.iter().filter(|b| b.name() != backend.name()) {
        if let Some((k, _)) = other.keys().iter().find(|(k, _)| keys.has(k)) {
            return Err(keys.invalid(
                k,
                format!(
                    "is a key of store = \"{}\", and this spool's store is {}",
                    other.name(),
                    backend.name()
                ),
            ));
        }
    }
    backend.read(keys)
}

/// Every backend's keys (each help line starts with its backend's name).
pub fn all_keys() -> Vec<(&'static str, &'static str)> {
    BACKENDS
        .iter()
        .flat_map(|b| b.keys().iter().copied())
        .collect()
}

/// How `spool inspect` read a spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inspected {
    /// Asked the broker, which holds it: nothing was written.
    FromBroker,
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
