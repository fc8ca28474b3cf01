//! The spool on redb: one file, `spool.redb`, in the spool directory.
//!
//! Why redb: pure Rust, a stable file format, copy-on-write B-trees whose pages are
//! checksummed, and two commit slots, so that a crash leaves the last whole commit
//! readable and never half of one. One write transaction is one batch.
//!
//! Layout: table `messages` maps a sequence (u64) to the message's production stamp
//! (8 bytes, big-endian) followed by its payload; table `meta` holds `acked`,
//! `reserved`, `messages` and `bytes`, updated in the same commit as the messages, so
//! the counts can never disagree with the table after a crash.
//!
//! redb has two durability levels: `Immediate` (the commit is on disk when it returns)
//! and `None` (not persisted at all until a later `Immediate` commit: a killed process
//! loses it). Neither is "written to the file but not synced", which is what
//! `fsync = "never"` means. So every commit here is `Immediate`, and the policy lives
//! in [`SyncPolicy`], a file backend whose `sync_data` does nothing under `never`: the
//! commit reaches the page cache, which outlives a killed process but not the machine.
//!
//! Two senders on one directory: redb locks the file, and the second open fails with
//! `DatabaseAlreadyOpen`, which becomes a clear error here. A file damaged outside
//! redb is checked on open (`set_check_integrity_on_open`), so that damage is an error
//! naming the file, never a panic and never a corrupt message delivered.

use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use redb::backends::FileBackend;
use redb::{
    BackendError, Builder, Database, DatabaseError, Durability, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, StorageBackend, TableDefinition,
};

use super::{Batch, Committed, Depth, Fsync, Inspected, Store, StoreSpec, Stored, spool_file};
use crate::settings::{Keys, ScenarioError};

const MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("messages");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// A redb file backend that syncs, or not, as the fsync policy says, and counts syncs.
#[derive(Debug)]
struct SyncPolicy {
    inner: FileBackend,
    sync: bool,
    syncs: Arc<AtomicU64>,
}

impl StorageBackend for SyncPolicy {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        if !self.sync {
            return Ok(());
        }
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.inner.write(offset, data)
    }
    fn close(&self) -> io::Result<()> {
        self.inner.close()
    }
    fn try_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(s, e)
    }
    fn try_lock_shared_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(s, e)
    }
    fn lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(s, e)
    }
    fn lock_shared_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(s, e)
    }
    fn unlock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(s, e)
    }
    fn query_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(s, e)
    }
}

/// The spool of one directory, open for writing.
pub struct RedbStore {
    db: Database,
    file: PathBuf,
    depth: Depth,
    syncs: Arc<AtomicU64>,
    fsync: Fsync,
}

/// Turns redb's open errors into ones a user can act on.
fn open_error(file: &Path, e: DatabaseError) -> anyhow::Error {
    match e {
        DatabaseError::DatabaseAlreadyOpen => anyhow!(
            "{}: the spool is in use by another sender (the file is locked); two senders cannot share a spool_dir",
            file.display()
        ),
        DatabaseError::Storage(redb::StorageError::Corrupted(why)) => anyhow!(
            "{}: the spool is corrupt ({why}); none of it can be trusted. Move it away to start a new spool",
            file.display()
        ),
        e => anyhow!("{}: cannot open the spool: {e}", file.display()),
    }
}

/// Runs `f`, turning a panic inside redb (it panics on some damage in debug builds)
/// into an error that names the file.
fn guarded<T>(file: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        bail!(
            "{}: the spool is damaged beyond what redb could read; move it away to start a new spool",
            file.display()
        )
    })
}

/// Opens the spool file, never through a symlink: a `spool.redb` that is one would
/// put the spool, and what it writes, outside `spool_dir`.
fn open_file(file: &Path, write: bool) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    if std::fs::symlink_metadata(file).is_ok_and(|m| m.is_symlink()) {
        bail!(
            "{}: is a symlink; the spool never follows one (it would write outside spool_dir)",
            file.display()
        );
    }
    OpenOptions::new()
        .read(true)
        .write(write)
        .create(write)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(file)
        .with_context(|| format!("{}: cannot open the spool file", file.display()))
}

/// The redb backend: one file, `spool.redb`, in the spool directory.
#[derive(Debug)]
pub struct Redb;

const KEYS: &[(&str, &str)] = &[("fsync", "redb: always, batch or never (batch)")];

/// redb's settings: when a commit is synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RedbSpec {
    pub fsync: Fsync,
}

impl StoreSpec for RedbSpec {
    fn backend(&self) -> &'static dyn super::Backend {
        &Redb
    }

    fn to_pairs(&self) -> Vec<String> {
        vec![
            "store=redb".into(),
            format!("fsync={}", self.fsync.as_str()),
        ]
    }

    fn describe(&self) -> String {
        format!("redb, fsync {}", self.fsync.as_str())
    }

    fn open(&self, dir: Option<&Path>) -> Result<Box<dyn Store>> {
        let Some(dir) = dir else {
            bail!("the redb spool needs a directory: --set spool_dir=DIR");
        };
        Ok(Box::new(RedbStore::open(dir, self.fsync)?))
    }

    fn needs_dir(&self) -> bool {
        true
    }
}

impl super::Backend for Redb {
    fn name(&self) -> &'static str {
        "redb"
    }

    fn keys(&self) -> &'static [(&'static str, &'static str)] {
        KEYS
    }

    fn read(&self, keys: &mut Keys) -> Result<Arc<dyn StoreSpec>, ScenarioError> {
        let fsync = keys.parse("fsync")?.unwrap_or_default();
        Ok(Arc::new(RedbSpec { fsync }))
    }

    fn holds(&self, dir: &Path) -> bool {
        std::fs::symlink_metadata(spool_file(dir)).is_ok()
    }

    fn inspect(&self, dir: &Path) -> Result<(Depth, u64, Inspected)> {
        RedbStore::inspect(dir)
    }
}

impl RedbStore {
    /// Opens or creates the spool in `dir` (made if missing), recovering a killed
    /// sender's last commit.
    pub fn open(dir: &Path, fsync: Fsync) -> Result<RedbStore> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the spool directory", dir.display()))?;
        let file = spool_file(dir);
        let syncs = Arc::new(AtomicU64::new(0));
        let backend = SyncPolicy {
            inner: FileBackend::new(open_file(&file, true)?).map_err(|e| open_error(&file, e))?,
            sync: fsync != Fsync::Never,
            syncs: syncs.clone(),
        };
        let db = guarded(&file, || {
            Builder::new()
                .set_check_integrity_on_open(true)
                .create_with_backend(backend)
                .map_err(|e| open_error(&file, e))
        })?;
        let depth = guarded(&file, || read_depth(&db, &file))?;
        Ok(RedbStore {
            db,
            file,
            depth,
            syncs,
            fsync,
        })
    }

    /// The depth of a spool and its bytes on disk, read without writing to it. A
    /// spool closed cleanly is opened read-only where it is. One a killed sender left
    /// needs redb's repair, which writes: so the file is checked for a running owner,
    /// then copied, and the copy is repaired and read; the third value says so.
    pub fn inspect(dir: &Path) -> Result<(Depth, u64, Inspected)> {
        let file = spool_file(dir);
        if !std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file() || m.is_symlink()) {
            bail!("{}: no spool here (no spool.redb)", dir.display());
        }
        let f = open_file(&file, false)?;
        let bytes = f.metadata()?.len();
        let read_only = guarded(&file, || {
            let backend = FileBackend::new(f).map_err(|e| open_error(&file, e))?;
            match Builder::new().open_read_only_with_backend(backend) {
                Ok(db) => read_depth(&db, &file).map(Some),
                Err(DatabaseError::RepairAborted) => Ok(None),
                Err(e) => Err(open_error(&file, e)),
            }
        })?;
        if let Some(depth) = read_only {
            return Ok((depth, bytes, Inspected::InPlace));
        }
        let copy = crate::scratch::Scratch::new()?;
        std::fs::copy(&file, spool_file(copy.path()))
            .with_context(|| format!("{}: copying the spool to repair it", file.display()))?;
        let copied = spool_file(copy.path());
        let store = RedbStore::open(copy.path(), Fsync::Never).map_err(|e| {
            // The copy's name means nothing to the user: the errors name the spool.
            let text = format!("{e:#}");
            anyhow!(
                "{}",
                text.replace(&copied.display().to_string(), &file.display().to_string())
            )
        })?;
        Ok((store.depth, bytes, Inspected::RepairedCopy))
    }

    fn try_commit(&mut self, b: &Batch) -> Result<Depth, redb::Error> {
        let mut d = self.depth;
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::Immediate)
            .map_err(|e| redb::Error::from(redb::StorageError::Io(io::Error::other(e))))?;
        {
            let mut t = tx.open_table(MESSAGES)?;
            let mut value = Vec::new();
            for m in b.append {
                value.clear();
                value.extend_from_slice(&m.produced_ns.to_be_bytes());
                value.extend_from_slice(&m.payload);
                t.insert(m.seq, value.as_slice())?;
                d.messages += 1;
                d.bytes += message_bytes(m.payload.len());
                d.last = m.seq;
            }
            if b.ack > d.acked {
                let (mut n, mut bytes) = (0u64, 0u64);
                t.retain_in(..=b.ack, |_, v: &[u8]| {
                    n += 1;
                    bytes += message_bytes(v.len().saturating_sub(8));
                    false
                })?;
                d.messages -= n;
                d.bytes -= bytes;
                d.acked = b.ack;
            }
            d.first = t.first()?.map_or(0, |(k, _)| k.value());
            d.last = t.last()?.map_or(0, |(k, _)| k.value());
            d.reserved = d.reserved.max(b.reserve).max(d.last);
            let mut meta = tx.open_table(META)?;
            meta.insert("acked", d.acked)?;
            meta.insert("reserved", d.reserved)?;
            meta.insert("messages", d.messages)?;
            meta.insert("bytes", d.bytes)?;
        }
        tx.commit()?;
        Ok(d)
    }
}

/// What a message costs the spool: its sequence, its stamp and its payload.
fn message_bytes(payload: usize) -> u64 {
    16 + payload as u64
}

fn read_depth(db: &impl ReadableDatabase, file: &Path) -> Result<Depth> {
    let ctx = || format!("{}: reading the spool", file.display());
    let tx = db.begin_read().with_context(ctx)?;
    let t = match tx.open_table(MESSAGES) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Depth::default()),
        Err(e) => return Err(e).with_context(ctx),
    };
    let meta = tx.open_table(META).with_context(ctx)?;
    let get =
        |k: &str| -> Result<u64> { Ok(meta.get(k).with_context(ctx)?.map_or(0, |v| v.value())) };
    let d = Depth {
        messages: get("messages")?,
        bytes: get("bytes")?,
        first: t.first().with_context(ctx)?.map_or(0, |(k, _)| k.value()),
        last: t.last().with_context(ctx)?.map_or(0, |(k, _)| k.value()),
        acked: get("acked")?,
        reserved: get("reserved")?,
    };
    if d.messages != t.len().with_context(ctx)? {
        bail!(
            "{}: the spool's count ({}) disagrees with its table ({}); it was changed outside zerowin",
            file.display(),
            d.messages,
            t.len().with_context(ctx)?
        );
    }
    Ok(d)
}

impl Store for RedbStore {
    fn commit(&mut self, b: &Batch) -> Result<Committed> {
        let file = self.file.clone();
        self.depth = guarded(&file, || {
            self.try_commit(b)
                .with_context(|| format!("{}: committing to the spool", file.display()))
        })?;
        Ok(Committed::all(b.append.len()))
    }

    fn commit_each(&self) -> bool {
        self.fsync == Fsync::Always
    }

    fn read(&mut self, from: u64, max: usize) -> Result<Vec<Stored>> {
        guarded(&self.file, || {
            let ctx = || format!("{}: reading the spool", self.file.display());
            let tx = self.db.begin_read().with_context(ctx)?;
            let t = match tx.open_table(MESSAGES) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(e).with_context(ctx),
            };
            let mut out = Vec::new();
            for entry in t.range(from..).with_context(ctx)?.take(max) {
                let (k, v) = entry.with_context(ctx)?;
                let v = v.value();
                if v.len() < 8 {
                    bail!(
                        "{}: message {} is {} bytes, shorter than its stamp",
                        self.file.display(),
                        k.value(),
                        v.len()
                    );
                }
                out.push(Stored {
                    seq: k.value(),
                    produced_ns: u64::from_be_bytes(v[..8].try_into().expect("8 bytes")),
                    payload: v[8..].to_vec(),
                });
            }
            Ok(out)
        })
    }

    fn depth(&self) -> Depth {
        self.depth
    }

    fn disk_bytes(&self) -> u64 {
        std::fs::metadata(&self.file).map_or(0, |m| m.len())
    }

    fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(seqs: std::ops::RangeInclusive<u64>) -> Vec<Stored> {
        seqs.map(|seq| Stored {
            seq,
            produced_ns: seq * 10,
            payload: b"Hello World!\0".to_vec(),
        })
        .collect()
    }

    #[test]
    fn appends_reads_forgets_and_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = RedbStore::open(dir.path(), Fsync::Batch).unwrap();
        assert_eq!(s.depth(), Depth::default());
        s.commit(&Batch {
            append: &msgs(1..=10),
            ack: 0,
            reserve: 100,
        })
        .unwrap();
        let d = s.depth();
        assert_eq!((d.messages, d.first, d.last, d.reserved), (10, 1, 10, 100));
        assert_eq!(d.bytes, 10 * 29);
        let got = s.read(4, 3).unwrap();
        assert_eq!(got, msgs(4..=6));
        s.commit(&Batch {
            append: &msgs(11..=12),
            ack: 5,
            reserve: 0,
        })
        .unwrap();
        assert!(s.syncs() >= 2, "batch syncs each commit");
        drop(s);
        let s = RedbStore::open(dir.path(), Fsync::Batch).unwrap();
        let d = s.depth();
        assert_eq!(
            (d.messages, d.first, d.last, d.acked, d.reserved),
            (7, 6, 12, 5, 100)
        );
        assert!(
            format!("{:#}", RedbStore::inspect(dir.path()).err().unwrap()).contains("in use"),
            "a running sender's spool is not read behind its back"
        );
        drop(s);
        assert_eq!(RedbStore::inspect(dir.path()).unwrap().0, d);
    }

    #[test]
    fn a_second_open_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let _first = RedbStore::open(dir.path(), Fsync::Never).unwrap();
        let e = RedbStore::open(dir.path(), Fsync::Never).err().unwrap();
        let msg = format!("{e:#}");
        assert!(msg.contains("in use by another sender"), "{msg}");
        assert!(msg.contains("spool.redb"), "{msg}");
    }

    #[test]
    fn never_does_not_sync() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = RedbStore::open(dir.path(), Fsync::Never).unwrap();
        s.commit(&Batch {
            append: &msgs(1..=3),
            ack: 0,
            reserve: 0,
        })
        .unwrap();
        assert_eq!(s.syncs(), 0);
    }
}
