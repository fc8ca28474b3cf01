//! Builds the original C sender into the zerowin binary, and embeds the shipped
//! scenarios so that an installed binary can list and run them.

use std::fmt::Write as _;
use std::path::Path;

/// Where shipped scenarios name the scripts they run.
const SCRIPT_PREFIX: &str = "{dir}/../scripts/";

/// The scripts the scenarios' texts name (`{dir}/../scripts/NAME`), each once: a
/// scenario that runs a new script ships it without a list to keep.
fn scripts_named(texts: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in texts {
        for (i, _) in t.match_indices(SCRIPT_PREFIX) {
            let rest = &t[i + SCRIPT_PREFIX.len()..];
            let end = rest.find(['"', '\'', ' ']).unwrap_or(rest.len());
            let name = rest[..end].to_string();
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out.sort();
    out
}

fn main() {
    // The C sender keeps its own `main`, so `gcc c-server/original.c` still builds the
    // standalone 2014 server; inside zerowin it is renamed and called by `zerowin serve`.
    println!("cargo:rerun-if-changed=c-server/original.c");
    cc::Build::new()
        .file("c-server/original.c")
        .define("main", "zerowin_original_main")
        .flag_if_supported("-Wall")
        .flag_if_supported("-Wextra")
        .compile("zerowin_original");

    // Shipped scenarios are compiled in, so `cargo install` users get them too.
    println!("cargo:rerun-if-changed=scenarios");
    let mut names: Vec<String> = std::fs::read_dir("scenarios")
        .expect("scenarios/ must exist next to Cargo.toml")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    let texts: Vec<String> = names
        .iter()
        .map(|n| std::fs::read_to_string(Path::new("scenarios").join(n)).unwrap())
        .collect();
    let mut out = String::from("/// (file name, contents) of every file in scenarios/.\n");
    out.push_str("pub const SHIPPED: &[(&str, &str)] = &[\n");
    for n in &names {
        let abs = Path::new("scenarios").join(n).canonicalize().unwrap();
        writeln!(out, "    ({n:?}, include_str!({:?})),", abs.display()).unwrap();
    }
    out.push_str("];\n");

    // The programs shipped scenarios run through `{dir}/../scripts/`, so that those
    // scenarios also run by name from an installed binary (written out to a
    // temporary directory for the run).
    out.push_str("/// (file name, contents) of the scripts shipped scenarios run.\n");
    out.push_str("pub const SCRIPTS: &[(&str, &str)] = &[\n");
    for n in scripts_named(&texts) {
        let p = Path::new("scripts").join(&n);
        println!("cargo:rerun-if-changed={}", p.display());
        let abs = p.canonicalize().unwrap();
        writeln!(out, "    ({n:?}, include_str!({:?})),", abs.display()).unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("shipped.rs");
    std::fs::write(dest, out).unwrap();
}
