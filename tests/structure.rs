//! The code's shape, kept: no cycle among the top-level modules of `harness/`, a
//! record that is plain data, a library that does not take clap's types, a thin
//! main and short functions. The graph is read from the source (`crate::x` paths,
//! outside comments and `#[cfg(test)]` items), so that a cycle fails CI the moment
//! it is written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(sources(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn harness() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("harness")
}

/// The top-level module a file belongs to: `harness/report/text.rs` → `report`.
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(harness()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The text with comments blanked, string literals emptied, and each
/// `#[cfg(test)]` item removed.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            skip_item(&mut lines);
            continue;
        }
        out.push_str(strip_line(line).as_str());
        out.push('\n');
    }
    out
}

/// The line without its `//` comment and with its string literals emptied.
fn strip_line(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        match (in_str, c) {
            (true, '\\') => {
                chars.next();
            }
            (true, '"') => {
                in_str = false;
                out.push('"');
            }
            (true, _) => {}
            (false, '"') => {
                in_str = true;
                out.push('"');
            }
            (false, '/') if chars.peek() == Some(&'/') => break,
            (false, _) => out.push(c),
        }
    }
    out
}

/// Skips the item that follows an attribute: up to its closing brace, or its `;`.
fn skip_item<'a>(lines: &mut impl Iterator<Item = &'a str>) {
    let mut depth = 0i32;
    let mut opened = false;
    for line in lines {
        let s = strip_line(line);
        for c in s.chars() {
            match c {
                '{' => (depth, opened) = (depth + 1, true),
                '}' => depth -= 1,
                _ => {}
            }
        }
        if (opened && depth <= 0) || (!opened && s.trim_end().ends_with(';')) {
            return;
        }
    }
}

/// The top-level modules a piece of code names through `crate::`.
fn uses_of(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for part in group.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.insert(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out.retain(|n| !n.is_empty() && n != "self");
    out
}

/// module → the modules it uses, with the files that do.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn graph() -> Graph {
    let mut g = Graph::new();
    for file in sources(&harness()) {
        let m = module_of(&file);
        if m == "main" || m == "lib" {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        let rel = file.strip_prefix(harness()).unwrap().display().to_string();
        let entry = g.entry(m.clone()).or_default();
        for u in uses_of(&code).into_iter().filter(|u| *u != m) {
            entry.entry(u).or_default().insert(rel.clone());
        }
    }
    g
}

/// A cycle through `start`, as the modules on it, if there is one.
fn cycle_from(g: &Graph, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((m, path)) = stack.pop() {
        for next in g.get(&m).into_iter().flat_map(|e| e.keys()) {
            if next == start {
                return Some(path.clone());
            }
            if seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    None
}

#[test]
fn the_top_level_modules_form_no_cycle() {
    let g = graph();
    assert!(g.len() > 15, "the graph was not read: {g:?}");
    for m in g.keys() {
        if let Some(path) = cycle_from(&g, m) {
            let edges: Vec<String> = path
                .iter()
                .zip(path.iter().cycle().skip(1))
                .map(|(a, b)| format!("{a} → {b} ({:?})", g[a][b]))
                .collect();
            panic!("a module cycle: {}", edges.join(", "));
        }
    }
}

#[test]
fn the_record_is_plain_data() {
    let g = graph();
    let uses = &g["record"];
    for m in [
        "observe", "fault", "sender", "strategy", "report", "analysis", "trial",
    ] {
        assert!(!uses.contains_key(m), "record uses {m}: {:?}", uses[m]);
    }
}

#[test]
fn the_library_does_not_take_the_clis_types() {
    let g = graph();
    for (m, uses) in &g {
        if m != "cli" && m != "commands" {
            assert!(!uses.contains_key("cli"), "{m} uses cli: {:?}", uses["cli"]);
        }
    }
}

#[test]
fn the_checker_sees_a_cycle_and_ignores_comments_and_tests() {
    let code = code_of(
        "use crate::{a, b::c};\n// crate::commented\nlet s = \"crate::quoted\";\n#[cfg(test)]\nmod tests {\n    use crate::tested;\n}\nuse crate::d::e;\n",
    );
    let names: Vec<String> = uses_of(&code).into_iter().collect();
    assert_eq!(names, ["a", "b", "d"]);
    let mut g = Graph::new();
    g.entry("x".into())
        .or_default()
        .entry("y".into())
        .or_default();
    g.entry("y".into())
        .or_default()
        .entry("x".into())
        .or_default();
    assert_eq!(cycle_from(&g, "x"), Some(vec!["x".into(), "y".into()]));
}

/// Every function in `harness/` with its length in lines, as (lines, file:line name).
fn functions() -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for file in sources(&harness()) {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let Some(name) = fn_name(lines[i]) else {
                i += 1;
                continue;
            };
            match body_end(&lines, i) {
                Some(end) => {
                    let rel = file.strip_prefix(harness()).unwrap().display();
                    out.push((end - i + 1, format!("{rel}:{} {name}", i + 1)));
                    i = end + 1;
                }
                None => i += 1,
            }
        }
    }
    out
}

/// The name of the function a line starts, if it starts one.
fn fn_name(line: &str) -> Option<String> {
    let code = strip_line(line);
    let words: Vec<&str> = code.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "fn")?;
    let before_ok = words[..at].iter().all(|w| {
        w.starts_with("pub") || matches!(*w, "const" | "unsafe" | "async" | "extern" | "\"C\"")
    });
    let name: String = words
        .get(at + 1)?
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (before_ok && !name.is_empty()).then_some(name)
}

/// The line that closes the body of the function starting at `start`; None for a
/// declaration without a body.
fn body_end(lines: &[&str], start: usize) -> Option<usize> {
    let mut depth = 0i32;
    let mut opened = false;
    for (i, line) in lines.iter().enumerate().skip(start) {
        let s = strip_chars(&strip_line(line));
        if !opened && s.trim_end().ends_with(';') && !s.contains('{') {
            return None;
        }
        for c in s.chars() {
            match c {
                '{' => (depth, opened) = (depth + 1, true),
                '}' => depth -= 1,
                _ => {}
            }
        }
        if opened && depth == 0 {
            return Some(i);
        }
    }
    None
}

/// The line with its character literals emptied ('{' would count as a brace).
fn strip_chars(s: &str) -> String {
    let b: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == '\'' && i + 2 < b.len() && b[i + 2] == '\'' {
            i += 3;
        } else if b[i] == '\'' && i + 3 < b.len() && b[i + 1] == '\\' && b[i + 3] == '\'' {
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// The longest a function in `harness/` may be.
const LONGEST: usize = 80;

#[test]
fn no_function_is_over_80_lines() {
    let all = functions();
    assert!(
        all.len() > 500,
        "the functions were not found: {}",
        all.len()
    );
    let long: Vec<&(usize, String)> = all.iter().filter(|(n, _)| *n > LONGEST).collect();
    assert!(long.is_empty(), "functions over {LONGEST} lines: {long:?}");
}

#[test]
fn main_only_parses_and_dispatches() {
    let main = std::fs::read_to_string(harness().join("main.rs")).unwrap();
    let lines = main.lines().count();
    assert!(lines < 100, "main.rs has {lines} lines");
}

#[test]
fn the_length_counter_sees_a_long_function() {
    let mut text = vec!["pub fn long() {"];
    text.extend(std::iter::repeat_n("    let x = '{';", 90));
    text.push("}");
    text.push("fn decl();");
    assert_eq!(fn_name(text[0]).as_deref(), Some("long"));
    assert_eq!(body_end(&text, 0), Some(91));
    assert_eq!(body_end(&text, 92), None);
}
