//! The files a run leaves beside its report: one pcap and one SVG per trial.
//!
//! Each run writes into a fresh sub-directory of the directory the user named
//! (`DIR/run-20261122T031500-k3x9/`), made with mkdir(2), which fails rather than
//! reuse anything already there. Two runs into one directory, even at the same time,
//! therefore never meet. Every file inside is created with `O_CREAT | O_EXCL |
//! O_NOFOLLOW`: a name that exists, or a symlink planted there, is an error, never
//! overwritten or followed. File names carry the scenario's stem, which the session
//! makes unique within a run, and the trial number.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Makes `parent` if needed, then a new, empty sub-directory of it for this run.
pub fn run_dir(parent: &Path, flag: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(parent)
        .with_context(|| format!("{flag} {}: cannot create the directory", parent.display()))?;
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let dir = tempfile::Builder::new()
        .prefix(&format!("run-{}-", stamp.trim_end_matches('Z')))
        .rand_bytes(4)
        .tempdir_in(parent)
        .with_context(|| {
            format!(
                "{flag} {}: cannot create a sub-directory for this run",
                parent.display()
            )
        })?;
    Ok(dir.keep())
}

/// Creates `path`, which must not exist yet, without following a symlink.
pub fn create_new(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

/// `DIR/STEM-NNN.EXT` for trial `n`.
pub fn trial_file(dir: &Path, stem: &str, n: u32, ext: &str) -> PathBuf {
    dir.join(format!("{stem}-{n:03}.{ext}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_run_gets_its_own_directory() {
        let d = tempfile::tempdir().unwrap();
        let a = run_dir(d.path(), "--pcap").unwrap();
        let b = run_dir(d.path(), "--pcap").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(d.path()) && a.is_dir() && b.is_dir());
    }

    #[test]
    fn never_overwrites_or_follows_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("precious");
        std::fs::write(&target, "keep").unwrap();
        let link = d.path().join("x-001.pcap");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(create_new(&link).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        std::fs::write(d.path().join("y"), "old").unwrap();
        assert!(create_new(&d.path().join("y")).is_err());
        assert!(create_new(&d.path().join("z")).is_ok());
    }
}
