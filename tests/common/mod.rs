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
