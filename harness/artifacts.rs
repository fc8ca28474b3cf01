//! The files a run leaves: the HTML report's tree, one pcap and one SVG per trial.
//!
//! An output tree is held by directory handles ([`OutDir`]), not by paths. The root
//! is the directory the user named, and its own path is the user's to make: it may
//! pass through symlinks. Everything below the root is made and opened relative to
//! its parent's handle with `O_NOFOLLOW` (`O_DIRECTORY` for folders), so a symlink
//! planted anywhere inside the tree (`R/img -> /etc`) is an error naming it, never a
//! way out of the tree; and a folder renamed while the run goes on cannot redirect
//! what the run writes.
//!
//! Each run writes its trials into a fresh sub-directory (`DIR/run-20261122T031500-k3x9/`),
//! made with mkdirat(2), which fails rather than reuse anything already there. Every
//! file inside is created with `O_CREAT | O_EXCL | O_NOFOLLOW`: a name that exists, or
//! a symlink planted there, is an error, never overwritten or followed.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};

/// A directory of an output tree, held open.
#[derive(Debug, Clone)]
pub struct OutDir {
    fd: Arc<OwnedFd>,
    path: PathBuf,
}

/// What a name inside a directory is, without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Missing,
    File,
    Dir,
    Symlink,
    Other,
}

impl OutDir {
    /// The root of an output tree: `path`, made if missing, then opened.
    pub fn root(path: &Path, flag: &str) -> Result<OutDir> {
        if path.exists() && !path.is_dir() {
            bail!("{flag} {}: not a directory", path.display());
        }
        std::fs::create_dir_all(path)
            .with_context(|| format!("{flag} {}: cannot create the directory", path.display()))?;
        let fd = nix::fcntl::open(path, OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
            .with_context(|| format!("{flag} {}: cannot open the directory", path.display()))?;
        let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        Ok(OutDir {
            fd: Arc::new(fd),
            path,
        })
    }

    /// Where this directory is, for messages and links.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` inside, for messages and links.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// What `name` is, without following it.
    pub fn entry(&self, name: &str) -> Result<Entry> {
        match nix::sys::stat::fstatat(self.fd.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(
                match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
                    SFlag::S_IFREG => Entry::File,
                    SFlag::S_IFDIR => Entry::Dir,
                    SFlag::S_IFLNK => Entry::Symlink,
                    _ => Entry::Other,
                },
            ),
            Err(Errno::ENOENT) => Ok(Entry::Missing),
            Err(e) => Err(e).with_context(|| format!("{}", self.join(name).display())),
        }
    }

    /// The sub-directory `name`, made if missing; a symlink there is an error.
    pub fn sub(&self, name: &str) -> Result<OutDir> {
        match nix::sys::stat::mkdirat(self.fd.as_fd(), name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("{}: cannot create it", self.join(name).display()));
            }
        }
        self.open_sub(name)
    }

    fn open_sub(&self, name: &str) -> Result<OutDir> {
        let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        match nix::fcntl::openat(self.fd.as_fd(), name, flags, Mode::empty()) {
            Ok(fd) => Ok(OutDir {
                fd: Arc::new(fd),
                path: self.join(name),
            }),
            Err(e) => Err(self.refusal(name, e)),
        }
    }

    /// Why `name` could not be opened or replaced, naming a symlink as such.
    fn refusal(&self, name: &str, e: Errno) -> anyhow::Error {
        let path = self.join(name);
        match self.entry(name) {
            Ok(Entry::Symlink) => anyhow::anyhow!(
                "{}: is a symlink; zerowin never follows a symlink inside an output tree (remove it, or choose another directory)",
                path.display()
            ),
            Ok(Entry::Dir) => anyhow::anyhow!("{}: is a directory", path.display()),
            Ok(Entry::Other) => {
                anyhow::anyhow!("{}: is not a regular file or a directory", path.display())
            }
            _ => anyhow::Error::new(e).context(path.display().to_string()),
        }
    }

    /// A new, empty sub-directory for this run, `run-STAMP-XXXX`.
    pub fn new_run(&self) -> Result<OutDir> {
        let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        for _ in 0..100 {
            let name = format!("run-{}-{}", stamp.trim_end_matches('Z'), random_tag());
            match nix::sys::stat::mkdirat(
                self.fd.as_fd(),
                name.as_str(),
                Mode::from_bits_truncate(0o755),
            ) {
                Ok(()) => return self.open_sub(&name),
                Err(Errno::EEXIST) => continue,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "{}: cannot create a sub-directory for this run",
                            self.path.display()
                        )
                    });
                }
            }
        }
        bail!(
            "{}: no free name for this run's directory",
            self.path.display()
        )
    }

    /// Creates `name`, which must not exist yet, without following a symlink.
    pub fn create_new(&self, name: &str) -> Result<File> {
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::openat(
            self.fd.as_fd(),
            name,
            flags,
            Mode::from_bits_truncate(0o644),
        )
        .map_err(|e| match e {
            Errno::EEXIST if self.entry(name).ok() == Some(Entry::Symlink) => self.refusal(name, e),
            e => anyhow::Error::new(e).context(format!("creating {}", self.join(name).display())),
        })?;
        Ok(File::from(fd))
    }

    /// Whether `name` may be replaced by [`OutDir::write_atomically`]: missing, or a
    /// regular file. Checked before the first trial.
    pub fn check_replaceable(&self, name: &str) -> Result<()> {
        match self.entry(name)? {
            Entry::Missing | Entry::File => Ok(()),
            _ => Err(self.refusal(name, Errno::EEXIST)),
        }
    }

    /// Writes `name` whole: a new temporary file beside it, synced, then renamed over
    /// it, so a reader sees the old file or the new one. Only a missing name or a
    /// regular file is replaced.
    pub fn write_atomically(&self, name: &str, bytes: &[u8]) -> Result<()> {
        self.check_replaceable(name)?;
        let tmp = loop {
            let tmp = format!(".zerowin-{}.tmp", random_tag());
            match self.create_new(&tmp) {
                Ok(f) => break (tmp, f),
                Err(e) if e.downcast_ref::<Errno>() == Some(&Errno::EEXIST) => continue,
                Err(e) => return Err(e),
            }
        };
        let (tmp, mut f) = tmp;
        let written = f
            .write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(anyhow::Error::from)
            .and_then(|()| {
                nix::fcntl::renameat(self.fd.as_fd(), tmp.as_str(), self.fd.as_fd(), name)
                    .map_err(|e| self.refusal(name, e))
            });
        if written.is_err() {
            let _ = nix::unistd::unlinkat(
                self.fd.as_fd(),
                tmp.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
        }
        written.with_context(|| format!("writing {}", self.join(name).display()))
    }
}

/// Four random letters and digits, from the standard library's random hash keys.
pub fn random_tag() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let mut v = h.finish();
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..4)
        .map(|_| {
            let c = ALPHABET[(v % ALPHABET.len() as u64) as usize] as char;
            v /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// `STEM-NNN.EXT` for trial `n`.
pub fn trial_file(stem: &str, n: u32, ext: &str) -> String {
    format!("{stem}-{n:03}.{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_run_gets_its_own_directory() {
        let d = tempfile::tempdir().unwrap();
        let root = OutDir::root(d.path(), "--pcap").unwrap();
        let a = root.new_run().unwrap();
        let b = root.new_run().unwrap();
        assert_ne!(a.path(), b.path());
        assert!(a.path().starts_with(root.path()) && a.path().is_dir() && b.path().is_dir());
    }

    #[test]
    fn never_overwrites_or_follows_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let root = OutDir::root(d.path(), "--pcap").unwrap();
        let target = d.path().join("precious");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, d.path().join("x-001.pcap")).unwrap();
        let e = root.create_new("x-001.pcap").unwrap_err();
        assert!(format!("{e:#}").contains("is a symlink"), "{e:#}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        std::fs::write(d.path().join("y"), "old").unwrap();
        assert!(root.create_new("y").is_err());
        assert!(root.create_new("z").is_ok());
    }

    #[test]
    fn a_symlinked_folder_inside_the_tree_is_refused_by_name() {
        let d = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), d.path().join("img")).unwrap();
        let root = OutDir::root(d.path(), "--html").unwrap();
        let e = root.sub("img").unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("img: is a symlink"), "{msg}");
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }

    #[test]
    fn atomic_writes_replace_files_only() {
        let d = tempfile::tempdir().unwrap();
        let root = OutDir::root(d.path(), "--html").unwrap();
        root.write_atomically("a.html", b"one").unwrap();
        root.write_atomically("a.html", b"two").unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("a.html")).unwrap(),
            "two"
        );
        std::fs::create_dir(d.path().join("index.html")).unwrap();
        let e = root.write_atomically("index.html", b"x").unwrap_err();
        assert!(
            format!("{e:#}").contains("index.html: is a directory"),
            "{e:#}"
        );
        std::os::unix::fs::symlink(d.path().join("a.html"), d.path().join("l.html")).unwrap();
        assert!(root.write_atomically("l.html", b"x").is_err());
        assert_eq!(
            std::fs::read_to_string(d.path().join("a.html")).unwrap(),
            "two"
        );
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
