//! Per-trial scratch folders (the spool sender's `spool_dir` when a scenario gives
//! none), all under one folder of the temporary directory: `$TMPDIR/zerowin/`.
//!
//! A folder is removed when its trial ends. A harness killed with SIGKILL cannot do
//! that, so each folder holds a `lock` file that its owner keeps locked (flock(2))
//! for as long as it lives; the kernel drops the lock when the owner dies, however
//! it dies. The first scratch folder a run makes first removes every folder whose
//! lock is free, and says so in one line. A folder without a lock file is one being
//! made right now, unless it is older than [`UNLOCKED_GRACE`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::fcntl::{Flock, FlockArg};

/// The folder every run's scratch folders live in.
pub fn root() -> PathBuf {
    std::env::temp_dir().join("zerowin")
}

/// How old a folder with no lock file must be before it counts as abandoned.
const UNLOCKED_GRACE: Duration = Duration::from_secs(60);

static SWEPT: Once = Once::new();

/// One trial's scratch folder, removed (with its lock) when dropped.
pub struct Scratch {
    // Field order is drop order: the lock goes before the folder is removed.
    _lock: Flock<File>,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Scratch").field(&self.path()).finish()
    }
}

impl Scratch {
    /// A new folder under [`root`], locked by this process; the first one of a run
    /// removes the folders that killed runs left.
    pub fn new() -> Result<Scratch> {
        let root = root();
        make_root(&root)?;
        sweep_once();
        let dir = tempfile::Builder::new()
            .prefix("trial-")
            .tempdir_in(&root)
            .with_context(|| format!("{}: cannot make a scratch folder", root.display()))?;
        let lock = crate::artifacts::OutDir::root(dir.path(), "scratch")?.create_new("lock")?;
        let lock = Flock::lock(lock, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| e)
            .with_context(|| format!("{}: locking the scratch folder", dir.path().display()))?;
        Ok(Scratch { _lock: lock, dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Once a process: removes the scratch folders that killed runs left, and says so
/// in one line. Every command that runs trials calls it as it starts.
pub fn sweep_once() {
    SWEPT.call_once(|| {
        let root = root();
        if std::fs::symlink_metadata(&root).is_ok_and(|m| m.is_dir())
            && make_root(&root).is_ok()
            && let Some(line) = sweep(&root)
        {
            // Straight to stderr: scratch sits below the report in the module map. The
            // one user string, the temporary directory's path, has its control
            // characters replaced.
            let line: String = line
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            eprintln!("{line}");
        }
    });
}

/// Makes the root (mode 0700), and refuses one that is a symlink or someone else's:
/// the temporary directory is shared.
fn make_root(root: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::DirBuilder::new().mode(0o700).create(root) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("{}: cannot create it", root.display())),
    }
    let m = std::fs::symlink_metadata(root)?;
    if !m.is_dir() || m.uid() != nix::unistd::geteuid().as_raw() {
        bail!(
            "{}: not a directory of this user's; zerowin keeps its scratch folders there (move it away, or set TMPDIR)",
            root.display()
        );
    }
    Ok(())
}

/// Removes the folders under `root` that no live process holds; one line saying
/// what was removed, or None.
fn sweep(root: &Path) -> Option<String> {
    let (mut n, mut bytes) = (0u64, 0u64);
    for e in std::fs::read_dir(root).ok()?.filter_map(|e| e.ok()) {
        let path = e.path();
        if !e.file_type().is_ok_and(|t| t.is_dir()) || !abandoned(&path) {
            continue;
        }
        let size = du(&path);
        if std::fs::remove_dir_all(&path).is_ok() {
            n += 1;
            bytes += size;
        }
    }
    (n > 0).then(|| {
        format!(
            "zerowin: removed {n} scratch folder(s) ({:.1} MB) in {} that killed runs left",
            bytes as f64 / 1e6,
            root.display()
        )
    })
}

/// Whether no live process holds the folder's lock.
fn abandoned(dir: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.join("lock"));
    match lock {
        Ok(f) => Flock::lock(f, FlockArg::LockExclusiveNonblock).is_ok(),
        Err(_) => std::fs::symlink_metadata(dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > UNLOCKED_GRACE),
    }
}

/// The bytes the regular files under `dir` take, not following symlinks.
fn du(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match std::fs::symlink_metadata(e.path()) {
            Ok(m) if m.is_dir() => du(&e.path()),
            Ok(m) if m.is_file() => m.blocks() * 512,
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_whose_owner_is_gone_is_swept_and_a_held_one_is_kept() {
        let root = tempfile::tempdir().unwrap();
        let held = tempfile::Builder::new()
            .prefix("trial-")
            .tempdir_in(root.path())
            .unwrap();
        let f = File::create(held.path().join("lock")).unwrap();
        let _lock = Flock::lock(f, FlockArg::LockExclusiveNonblock).unwrap();
        let gone = root.path().join("trial-gone");
        std::fs::create_dir(&gone).unwrap();
        File::create(gone.join("lock")).unwrap();
        std::fs::write(gone.join("spool.redb"), vec![0u8; 100_000]).unwrap();
        let line = sweep(root.path()).expect("one folder swept");
        assert!(line.contains("removed 1 scratch folder"), "{line}");
        assert!(!gone.exists());
        assert!(held.path().exists());
        // A folder being made (no lock yet) is young, and kept.
        let young = root.path().join("trial-young");
        std::fs::create_dir(&young).unwrap();
        assert_eq!(sweep(root.path()), None);
        assert!(young.exists());
    }
}
