//! Helpers the CLI test files share.
// Each test crate uses some of these helpers, not all.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// The naive client against the original sender, both with 4 KiB buffers: reset
/// within milliseconds, every trial.
pub const QUICK: &str = r#"
description = "quick"
[sender]
sndbuf = 4096
[client]
strategy = "naive"
rcvbuf = 4096
[run]
duration = "5s"
trials = 2
[expect]
outcome = "reset"
"#;

/// The zerowin binary this build made.
pub fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_zerowin"))
}

/// zerowin, to run and assert on (assert_cmd); a test that must spawn it and act
/// while it runs uses `std::process::Command::new(exe())`.
pub fn zerowin() -> assert_cmd::Command {
    assert_cmd::Command::new(exe())
}

/// A refusal, as every bad input must end: exit 2, the reason on stderr, and no panic
/// or backtrace.
pub trait Refused {
    fn refused(self, want: &str) -> Self;
}

impl Refused for assert_cmd::assert::Assert {
    fn refused(self, want: &str) -> Self {
        self.get_output().clone().refused(want);
        self
    }
}

impl Refused for std::process::Output {
    fn refused(self, want: &str) -> Self {
        let err = String::from_utf8_lossy(&self.stderr);
        assert_eq!(self.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "want {want:?}, got {err}");
        assert!(
            !err.contains("panicked") && !err.contains("stack backtrace"),
            "{err}"
        );
        self
    }
}

/// Writes a scenario file `name` with `text` into `dir`.
pub fn scenario_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    p
}

/// Processes whose environment carries `tag`: the harness's children inherit it.
pub fn processes_tagged(tag: &str) -> Vec<i32> {
    let needle = format!("ZEROWIN_TEST_TAG={tag}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// Runs `zerowin run` on a scenario file with `text`: it must exit 2, with `want` in its
/// error and no panic.
pub fn assert_refused(text: &str, want: &str) {
    let dir = tempfile::tempdir().unwrap();
    let f = scenario_file(dir.path(), "s.toml", text);
    zerowin().arg("run").arg(&f).assert().refused(want);
}

/// A random seed for a test that says it is random: a fresh one each run, printed so a
/// failure can be replayed with `ZEROWIN_TEST_SEED=N`.
pub fn seed(test: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let seed = match std::env::var("ZEROWIN_TEST_SEED") {
        Ok(s) => s.parse().expect("ZEROWIN_TEST_SEED is a whole number"),
        // The standard library's hash keys come from the operating system's randomness.
        Err(_) => {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(std::process::id() as u64);
            h.finish()
        }
    };
    eprintln!("{test}: seed {seed} (replay with ZEROWIN_TEST_SEED={seed})");
    seed
}

/// xorshift64 from a seed: small, and the same numbers for the same seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// A number in 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// `zerowin serve ARGS --port 0` in its own process group; its port, and the reader
/// of its stdout (the summary lines).
pub fn serve(
    args: &[&str],
) -> (
    std::process::Child,
    u16,
    BufReader<std::process::ChildStdout>,
) {
    let mut child = std::process::Command::new(exe())
        .arg("serve")
        .args(args)
        .args(["--port", "0"])
        .stdout(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port = line
        .trim()
        .strip_prefix("zerowin-port ")
        .unwrap_or_else(|| panic!("no port line: {line:?}"))
        .parse()
        .unwrap();
    (child, port, out)
}

pub fn stop_group(mut child: std::process::Child) {
    // SAFETY: a plain kill of the process group we created.
    unsafe { libc::killpg(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
}

/// The next `zerowin-summary` line, and the value of `key` in a line.
pub fn next_summary(out: &mut impl BufRead) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the sender ended");
        if line.starts_with("zerowin-summary ") {
            return line;
        }
    }
}

pub fn summary_value(line: &str, key: &str) -> String {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} in {line}"))
        .to_string()
}
