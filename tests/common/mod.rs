//! Helpers the CLI test files share.
// Each test crate uses some of these helpers, not all.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

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
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zerowin"))
        .args(["run", f.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}\n{err}");
    assert!(err.contains(want), "want {want:?} for\n{text}\ngot {err}");
    assert!(!err.contains("panicked"), "{err}");
}
