//! Exports: what a run leaves for programs to read. Each format is an [`Exporter`]
//! (one file per format, as hyperfine does); an [`ExportTarget`] puts its bytes where
//! the user asked.
//!
//! A file is checked before the first trial (its directory must take a new file, and
//! it must not be one of the run's inputs), then rewritten atomically after
//! every scenario: a temporary file in the same directory, then rename(2). An
//! interrupted run, or one that fails in a later scenario, leaves a valid file with
//! every scenario that finished, marked `"complete": false`; until the first
//! scenario finishes, the previous file is kept. `-` means stdout, written once at
//! the end, with nothing else on stdout.
//!
//! A target that exists and is not a regular file is never renamed over: a
//! character device (`/dev/null`) or a FIFO (a named pipe, `/dev/fd/63`) is written
//! through, once, at the end, as stdout is; `/dev/stdout` and `/dev/stderr` in any
//! form are stdout and stderr. A stream cannot be atomic: its reader sees the
//! document as it is written. A block device or a socket is refused.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::output::Stream;
use crate::analysis::summary::CellSummary;
use crate::record::TrialRecord;
use crate::runner::ScenarioResult;

/// One kind of output a run writes, chosen by its flag. [`super::FORMATS`] lists them:
/// the CLI declares each one's flag from it, and the session opens what was asked for.
pub trait Format: Sync {
    /// The flag's long name, without its dashes ("export-json").
    fn flag(&self) -> &'static str;
    /// Other names of the flag, shown in `--help`.
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// The flag's value, for `--help`.
    fn value_name(&self) -> &'static str {
        "FILE"
    }
    /// The flag's help text.
    fn help(&self) -> &'static str;
    /// Checks `path` now, before the first trial, and returns what writes there.
    fn open(&self, path: &Path, inputs: &[PathBuf]) -> Result<Box<dyn Sink>>;
}

/// An output the user asked for, and its path.
pub type Chosen = (&'static dyn Format, PathBuf);

/// What a run has so far, for every output to write.
pub struct Snapshot<'a> {
    pub results: &'a [ScenarioResult],
    pub doc: &'a Export<'a>,
}

/// An output, opened: rewritten after every scenario, and once more at the end.
pub trait Sink {
    /// The flag that chose it, for messages ("--export-json").
    fn flag(&self) -> String;
    /// True when it goes to stdout, which the report must then leave alone.
    fn is_stdout(&self) -> bool {
        false
    }
    /// Where the trials' timelines go, for an output that shows them.
    fn plot_dir(&self) -> Option<crate::artifacts::OutDir> {
        None
    }
    /// After each scenario or cell.
    fn update(&self, now: &Snapshot) -> Result<()>;
    /// At the end of the run.
    fn finish(&self, now: &Snapshot) -> Result<()>;
}

/// One format of the exported document, written to one file (or stream).
pub trait Exporter: Sync {
    /// The flag's long name ("export-json").
    fn flag(&self) -> &'static str;
    /// Other names of the flag.
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// The flag's help text.
    fn help(&self) -> &'static str;
    /// The whole document in this format.
    fn serialize(&self, doc: &Export) -> Result<Vec<u8>>;
}

impl<E: Exporter + Copy + 'static> Format for E {
    fn flag(&self) -> &'static str {
        Exporter::flag(self)
    }
    fn aliases(&self) -> &'static [&'static str] {
        Exporter::aliases(self)
    }
    fn help(&self) -> &'static str {
        Exporter::help(self)
    }
    fn open(&self, path: &Path, inputs: &[PathBuf]) -> Result<Box<dyn Sink>> {
        Ok(Box::new(ExportTarget::open(Box::new(*self), path, inputs)?))
    }
}

/// The version of the exported document's shape. It changes when a documented
/// field is renamed, removed or changes type; adding a field does not change it.
/// `tests/golden/export-shape.json` pins the shape of this version.
pub const SCHEMA_VERSION: u32 = 2;

/// The exported document.
#[derive(Serialize)]
pub struct Export<'a> {
    /// The shape's version, [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// zerowin's version.
    pub zerowin: &'static str,
    /// False while the run was still going: an interrupted run's file holds every
    /// scenario that finished, and says so here.
    pub complete: bool,
    pub scenarios: Vec<ScenarioExport<'a>>,
}

/// One scenario, or one cell of a sweep, in the export.
#[derive(Serialize)]
pub struct ScenarioExport<'a> {
    pub name: &'a str,
    /// The cell's values, swept and set, by key path; empty for a scenario run as
    /// written. Every trial carries them too.
    pub params: BTreeMap<String, String>,
    /// The keys the sweep varies; empty for a scenario run as written.
    pub swept: &'a [String],
    /// The cell's place in its sweep (0-based) and the sweep's size; null when
    /// nothing is swept.
    pub cell_index: Option<usize>,
    pub cells: Option<usize>,
    /// The cell's statistics: outcome counts, the failure rate and its interval, the
    /// time to failure, losses, close routes, outliers.
    pub summary: CellSummary,
    pub path: String,
    pub description: &'a str,
    /// The expected outcome, and the optional bounds.
    pub expect_outcome: Option<&'a str>,
    pub expect_within_us: Option<u64>,
    pub expect_bytes_lost: Option<i64>,
    /// Whether every trial met the expectation (null when not checked, as in `compare`).
    pub passed: Option<bool>,
    pub violations: &'a [String],
    pub trials: &'a [TrialRecord],
}

impl<'a> Export<'a> {
    pub fn new(results: &'a [ScenarioResult], checked: bool, complete: bool) -> Export<'a> {
        Export {
            schema_version: SCHEMA_VERSION,
            zerowin: env!("CARGO_PKG_VERSION"),
            complete,
            scenarios: results
                .iter()
                .map(|r| ScenarioExport {
                    name: &r.scenario.name,
                    params: r.scenario.params.iter().cloned().collect(),
                    swept: &r.scenario.swept,
                    cell_index: r.scenario.cell_of.as_ref().map(|c| c.index),
                    cells: r.scenario.cell_of.as_ref().map(|c| c.total),
                    summary: r.summary(),
                    path: r.scenario.path.display().to_string(),
                    description: &r.scenario.description,
                    expect_outcome: Some(r.scenario.expect.outcome.as_str()),
                    expect_within_us: r.scenario.expect.within.map(|d| d.as_micros() as u64),
                    expect_bytes_lost: r.scenario.expect.bytes_lost,
                    passed: checked.then(|| r.passed()),
                    violations: &r.violations,
                    trials: &r.records,
                })
                .collect(),
        }
    }

    /// `zerowin client`'s one trial, as a scenario of one.
    pub fn single(
        record: &'a TrialRecord,
        description: &'a str,
        expect: Option<&'a str>,
        violations: &'a [String],
    ) -> Export<'a> {
        Export {
            schema_version: SCHEMA_VERSION,
            zerowin: env!("CARGO_PKG_VERSION"),
            complete: true,
            scenarios: vec![ScenarioExport {
                name: &record.scenario,
                params: record.params.clone(),
                swept: &[],
                cell_index: None,
                cells: None,
                summary: CellSummary::of(&record.scenario, std::slice::from_ref(record)),
                path: String::new(),
                description,
                expect_outcome: expect,
                expect_within_us: None,
                expect_bytes_lost: None,
                passed: expect.map(|_| violations.is_empty()),
                violations,
                trials: std::slice::from_ref(record),
            }],
        }
    }
}

/// Where an export goes.
enum Dest {
    Stdout,
    /// `/dev/stderr` or its `/proc/self/fd/2` form: written through our own stderr.
    Stderr,
    /// A character device or a FIFO (`/dev/null`, a named pipe, `/dev/fd/63`):
    /// written through, once, at the end, never renamed over.
    Stream(PathBuf),
    /// A regular file, or a name not taken yet: rewritten atomically.
    File(PathBuf),
}

impl Dest {
    /// Where `path` leads. A device node or a FIFO is never replaced: an export is
    /// written through it. Stdout and stderr are recognised in every form
    /// (`/dev/stdout`, `/proc/self/fd/1`, or any other name of the same file).
    fn of(path: &Path, flag: &str) -> Result<Dest> {
        use std::os::fd::AsFd;
        use std::os::unix::fs::FileTypeExt;
        if path == Path::new("-") {
            return Ok(Dest::Stdout);
        }
        let shown = path.display();
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok(Dest::File(path.to_path_buf()));
        };
        if is_fd(&meta, std::io::stdout().as_fd()) {
            return Ok(Dest::Stdout);
        }
        if is_fd(&meta, std::io::stderr().as_fd()) {
            return Ok(Dest::Stderr);
        }
        let t = meta.file_type();
        if t.is_file() {
            Ok(Dest::File(path.to_path_buf()))
        } else if t.is_dir() {
            bail!("{flag} {shown}: that is a directory")
        } else if t.is_char_device() || t.is_fifo() {
            nix::unistd::access(path, nix::unistd::AccessFlags::W_OK)
                .with_context(|| format!("{flag} {shown}: cannot write there"))?;
            Ok(Dest::Stream(path.to_path_buf()))
        } else {
            bail!(
                "{flag} {shown}: that is a {}; an export goes to a regular file, a character device or a FIFO",
                if t.is_block_device() {
                    "block device"
                } else {
                    "socket"
                }
            )
        }
    }
}

/// Whether `meta` is the file open on `fd`.
fn is_fd(meta: &std::fs::Metadata, fd: std::os::fd::BorrowedFd) -> bool {
    use std::os::unix::fs::MetadataExt;
    nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_dev == meta.dev() && st.st_ino == meta.ino())
}

/// How long a FIFO may wait for its reader, and a stream for room to write.
const STREAM_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Writes `bytes` through `path` (a character device or a FIFO), bounded: a FIFO with
/// no reader, or a reader that stops reading, is an error after [`STREAM_WAIT`].
fn write_stream(path: &Path, bytes: &[u8]) -> Result<()> {
    use nix::fcntl::OFlag;
    use nix::poll::{PollFd, PollFlags, PollTimeout};
    let until = std::time::Instant::now() + STREAM_WAIT;
    let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
    let fd = loop {
        match nix::fcntl::open(path, flags, nix::sys::stat::Mode::empty()) {
            Ok(fd) => break fd,
            // A FIFO with no reader yet.
            Err(nix::errno::Errno::ENXIO) if std::time::Instant::now() < until => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(nix::errno::Errno::ENXIO) => bail!("no reader came within {STREAM_WAIT:?}"),
            Err(e) => return Err(e.into()),
        }
    };
    let mut rest = bytes;
    while !rest.is_empty() {
        match nix::unistd::write(&fd, rest) {
            Ok(n) => rest = &rest[n..],
            Err(nix::errno::Errno::EAGAIN) => {
                let left = until.saturating_duration_since(std::time::Instant::now());
                let ms = PollTimeout::try_from(left).unwrap_or(PollTimeout::ZERO);
                let mut p = [PollFd::new(
                    std::os::fd::AsFd::as_fd(&fd),
                    PollFlags::POLLOUT,
                )];
                if nix::poll::poll(&mut p, ms)? == 0 {
                    bail!("the reader took nothing for {STREAM_WAIT:?}");
                }
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A destination for bytes, checked before anything runs: `-` is stdout; a file
/// must not be one of `inputs`, and its directory must take a new file; a device or
/// a FIFO must be writable, and is written through, never replaced.
pub struct Target {
    flag: String,
    dest: Dest,
}

impl Target {
    pub fn open(flag: &str, path: &Path, inputs: &[PathBuf]) -> Result<Target> {
        if inputs.iter().any(|i| same_file(i, path)) {
            bail!(
                "{flag} {}: that is one of the inputs; choose another file",
                path.display()
            );
        }
        let dest = Dest::of(path, flag)?;
        if let Dest::File(p) = &dest {
            tempfile::Builder::new()
                .prefix(".zerowin-check-")
                .tempfile_in(parent_of(p))
                .with_context(|| format!("{flag} {}: cannot write a file there", p.display()))?;
        }
        Ok(Target {
            flag: flag.to_string(),
            dest,
        })
    }

    pub fn is_stdout(&self) -> bool {
        matches!(self.dest, Dest::Stdout)
    }

    /// Rewrites a file atomically; a stream waits for [`Target::finish`].
    pub fn update(&self, bytes: &[u8]) -> Result<()> {
        match &self.dest {
            Dest::File(p) => {
                write_atomically(p, bytes).with_context(|| format!("{} {}", self.flag, p.display()))
            }
            Dest::Stdout | Dest::Stderr | Dest::Stream(_) => Ok(()),
        }
    }

    /// The last write.
    pub fn finish(&self, bytes: &[u8]) -> Result<()> {
        match &self.dest {
            Dest::File(_) => self.update(bytes),
            Dest::Stdout => Stream::Stdout.write(bytes),
            Dest::Stderr => Stream::Stderr.write(bytes),
            Dest::Stream(p) => {
                write_stream(p, bytes).with_context(|| format!("{} {}", self.flag, p.display()))
            }
        }
    }
}

/// An export format and its destination, checked before the first trial.
pub struct ExportTarget {
    exporter: Box<dyn Exporter>,
    target: Target,
}

impl ExportTarget {
    /// Checks `path` now, so a bad one fails before any trial (see [`Target::open`]).
    pub fn open(
        exporter: Box<dyn Exporter>,
        path: &Path,
        inputs: &[PathBuf],
    ) -> Result<ExportTarget> {
        let flag = format!("--{}", exporter.flag());
        let target = Target::open(&flag, path, inputs)?;
        Ok(ExportTarget { exporter, target })
    }

    /// After each scenario: rewrites a file atomically. A stream waits for [`finish`].
    ///
    /// [`finish`]: ExportTarget::finish
    pub fn update(&self, doc: &Export) -> Result<()> {
        if matches!(self.target.dest, Dest::File(_)) {
            self.target.update(&self.exporter.serialize(doc)?)?;
        }
        Ok(())
    }

    /// At the end of the run.
    pub fn finish(&self, doc: &Export) -> Result<()> {
        self.target.finish(&self.exporter.serialize(doc)?)
    }
}

impl Sink for ExportTarget {
    fn flag(&self) -> String {
        format!("--{}", self.exporter.flag())
    }

    fn is_stdout(&self) -> bool {
        self.target.is_stdout()
    }

    fn update(&self, now: &Snapshot) -> Result<()> {
        ExportTarget::update(self, now.doc)
    }

    fn finish(&self, now: &Snapshot) -> Result<()> {
        ExportTarget::finish(self, now.doc)
    }
}

fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Whether two paths name one file (by device and inode once both exist).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// A temporary file beside `path`, written and synced, then renamed over it: a
/// reader sees the old file or the new one, never a part. rename(2) replaces a
/// symlink at `path` rather than writing through it; a target that is neither a
/// regular file nor a symlink to one (it became a device or a FIFO since the run
/// began) is refused, never replaced.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path)
        && !m.is_file()
    {
        bail!("no longer a regular file; it is not replaced");
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".zerowin-")
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(parent_of(path))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::json::Json;

    #[test]
    fn an_empty_export_is_valid_json() {
        let doc = Export::new(&[], true, false);
        let v: serde_json::Value = serde_json::from_slice(&Json.serialize(&doc).unwrap()).unwrap();
        assert_eq!(v["scenarios"].as_array().unwrap().len(), 0);
        assert_eq!(v["complete"], false);
        assert_eq!(v["zerowin"], env!("CARGO_PKG_VERSION"));
    }

    /// The document's shape: every leaf replaced by its JSON type, every array by
    /// the shape of its first element.
    fn shape(v: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value as V;
        match v {
            V::Object(m) => V::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
            V::Array(a) => V::Array(a.first().map(shape).into_iter().collect()),
            V::Number(_) => V::String("number".into()),
            V::String(_) => V::String("string".into()),
            V::Bool(_) => V::String("bool".into()),
            V::Null => V::String("null".into()),
        }
    }

    /// The JSON's shape is pinned by tests/golden/export-shape.json: a change to a
    /// documented field fails here, and must come with a new SCHEMA_VERSION when it
    /// renames, removes or retypes one. `UPDATE_GOLDEN=1` rewrites the file.
    #[test]
    fn the_json_keeps_its_documented_shape() {
        use crate::record::testing::{failed, record};
        let mut r = record(failed("send", libc::ECONNRESET, 2500), Some(13_000), 9_000);
        r.params.insert("client.rcvbuf".into(), "4096".into());
        let violations = vec![];
        let mut doc = Export::single(&r, "golden", Some("reset"), &violations);
        // With the model's prediction beside the cell, so that its shape is pinned too.
        let s = &mut doc.scenarios[0].summary;
        *s = s
            .clone()
            .with_forecast(Some(&crate::analysis::model::testing::forecast()));
        let v: serde_json::Value = serde_json::from_slice(&Json.serialize(&doc).unwrap()).unwrap();
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
        let got = serde_json::to_string_pretty(&shape(&v)).unwrap() + "\n";
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/export-shape.json");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            got, want,
            "the export's shape changed; see the test's comment"
        );
    }

    #[test]
    fn a_bad_path_fails_before_any_trial() {
        let e = ExportTarget::open(Box::new(Json), Path::new("/nonexistent-dir/out.json"), &[])
            .err()
            .unwrap();
        assert!(
            format!("{e:#}").contains("--export-json /nonexistent-dir/out.json"),
            "{e:#}"
        );
    }

    #[test]
    fn an_input_is_never_overwritten() {
        let d = tempfile::tempdir().unwrap();
        let input = d.path().join("s.toml");
        std::fs::write(&input, "x").unwrap();
        let e = ExportTarget::open(
            Box::new(Json),
            &d.path().join("./s.toml"),
            std::slice::from_ref(&input),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("that is one of the inputs"), "{e}");
        assert_eq!(std::fs::read_to_string(&input).unwrap(), "x");
    }

    #[test]
    fn a_symlink_is_replaced_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("precious");
        std::fs::write(&target, "keep").unwrap();
        let link = d.path().join("out.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomically(&link, b"{}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "{}\n");
        assert!(!std::fs::symlink_metadata(&link).unwrap().is_symlink());
    }

    fn doc_bytes() -> Vec<u8> {
        Json.serialize(&Export::new(&[], true, true)).unwrap()
    }

    /// `c 1 3` is /dev/null's device number: a node of our own, in a temporary
    /// directory, so a failure here destroys nothing of the system's.
    #[test]
    fn a_device_node_is_written_through_never_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let d = tempfile::tempdir().unwrap();
        let node = d.path().join("null");
        nix::sys::stat::mknod(
            &node,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, 3),
        )
        .expect("mknod needs root, as the suite does");
        let t = ExportTarget::open(Box::new(Json), &node, &[]).unwrap();
        let doc = Export::new(&[], true, true);
        t.update(&doc).unwrap();
        t.finish(&doc).unwrap();
        let m = std::fs::symlink_metadata(&node).unwrap();
        assert!(m.file_type().is_char_device(), "{m:?}");
        // A link to it is followed, and the node behind it stays too.
        let link = d.path().join("out.json");
        std::os::unix::fs::symlink(&node, &link).unwrap();
        ExportTarget::open(Box::new(Json), &link, &[])
            .unwrap()
            .finish(&doc)
            .unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert!(
            std::fs::metadata(&node)
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }

    #[test]
    fn a_fifo_reader_gets_the_whole_document() {
        use std::os::unix::fs::FileTypeExt;
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("pipe");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let t = ExportTarget::open(Box::new(Json), &fifo, &[]).unwrap();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        let doc = Export::new(&[], true, true);
        t.update(&doc).unwrap();
        t.finish(&doc).unwrap();
        drop(t);
        let got = reader.join().unwrap();
        assert_eq!(got, doc_bytes());
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

    #[test]
    fn stdout_in_any_form_is_stdout() {
        for p in ["/dev/stdout", "/proc/self/fd/1"] {
            let t = ExportTarget::open(Box::new(Json), Path::new(p), &[]).unwrap();
            assert!(t.is_stdout(), "{p}");
        }
    }

    #[test]
    fn a_block_device_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let node = d.path().join("blk");
        nix::sys::stat::mknod(
            &node,
            nix::sys::stat::SFlag::S_IFBLK,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            nix::sys::stat::makedev(7, 200),
        )
        .unwrap();
        let e = ExportTarget::open(Box::new(Json), &node, &[])
            .err()
            .unwrap();
        assert!(e.to_string().contains("block device"), "{e}");
    }
}
