//! The docs stay honest about the command line: every `zerowin ...` command written in
//! README.md and docs/ parses with the current CLI, and every subcommand and every
//! flag the CLI has is written somewhere in them.

use std::path::Path;

use clap::CommandFactory;
use zerowin::cli::Cli;

/// README.md and every chapter under docs/, with their names.
fn docs() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = vec![(
        "README.md".to_string(),
        std::fs::read_to_string(root.join("README.md")).unwrap(),
    )];
    let mut chapters: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    chapters.sort();
    for p in chapters {
        let name = format!("docs/{}", p.file_name().unwrap().to_string_lossy());
        out.push((name, std::fs::read_to_string(&p).unwrap()));
    }
    out
}

/// Words as a shell splits them, for the quoting the docs use ('...' and "...").
fn words(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quote, mut any) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => (quote, any) = (Some(c), true),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (_, c) => (cur, any) = (cur + &c.to_string(), true),
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// The zerowin command lines of a text: inline code that starts with `zerowin `, and
/// lines of code blocks that do (after a `$ ` prompt, or as `cargo run --release --`;
/// a trailing `\` joins the next line), up to a comment or a shell operator. A synopsis
/// (with `[`, `|`, `...` or a placeholder in capitals such as FILE or KEY) is not a
/// command line, and neither is a bare mention of a subcommand (`zerowin run`).
fn commands(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_block = false;
    let mut joined = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        match line.strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => joined.push(std::mem::take(&mut pending) + line),
        }
    }
    for line in &joined {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        let mut candidates: Vec<&str> = Vec::new();
        if in_block {
            candidates.push(line.trim().trim_start_matches("$ "));
        } else {
            candidates.extend(line.split('`').skip(1).step_by(2));
        }
        for c in candidates {
            let c = c.trim();
            let c = match c.strip_prefix("cargo run --release -- ") {
                Some(rest) => format!("zerowin {rest}"),
                None => c.to_string(),
            };
            if !c.starts_with("zerowin ") {
                continue;
            }
            let c = c.split(" #").next().unwrap();
            let c = c.split([';', '>', '&']).next().unwrap();
            let c = c.split(" | ").next().unwrap().trim().to_string();
            let placeholder = |w: &str| {
                w.len() > 1
                    && w.chars()
                        .all(|ch| ch.is_ascii_uppercase() || ch == '.' || ch == '_')
            };
            let w: Vec<&str> = c.split_whitespace().collect();
            if c.contains('[')
                || c.contains('|')
                || c.contains("...")
                || c.contains('…')
                || w.iter().any(|w| placeholder(w))
                || (w.len() == 2 && w[1] != "list")
            {
                continue;
            }
            found.push(c);
        }
    }
    found
}

#[test]
fn every_command_in_the_docs_parses() {
    let mut checked = 0;
    let mut bad = Vec::new();
    for (name, text) in docs() {
        for c in commands(&text) {
            checked += 1;
            if let Err(e) = Cli::command().try_get_matches_from(words(&c)) {
                let first = e.to_string().lines().next().unwrap_or("").to_string();
                bad.push(format!("{name}: `{c}`: {first}"));
            }
        }
    }
    assert!(
        checked >= 10,
        "only {checked} commands found: the scan is broken"
    );
    assert!(
        bad.is_empty(),
        "{} of {checked}:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn every_subcommand_and_flag_is_in_the_docs() {
    let all: String = docs().into_iter().map(|(_, t)| t).collect();
    let mut missing = Vec::new();
    let cli = Cli::command();
    let mut subs: Vec<(String, &clap::Command)> = Vec::new();
    for s in cli.get_subcommands() {
        subs.push((s.get_name().to_string(), s));
        for t in s.get_subcommands() {
            subs.push((format!("{} {}", s.get_name(), t.get_name()), t));
        }
    }
    for (name, s) in subs {
        if !all.contains(&format!("zerowin {name}")) {
            missing.push(format!("subcommand `zerowin {name}`"));
        }
        for a in s.get_arguments() {
            if let Some(long) = a.get_long()
                && long != "help"
                && !all.contains(&format!("--{long}"))
            {
                missing.push(format!("`zerowin {name} --{long}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not in README.md or docs/:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_scan_finds_commands_and_splits_them_as_a_shell_would() {
    let text = "Run `zerowin run repro-4k --trials 2`, or `zerowin run`.\n```sh\n$ zerowin list   # the names\ncargo run --release -- run scenarios/ -q | head -1\nzerowin run FILE --trials N\nzerowin run a.toml \\\n  --trials 3\n```\n";
    assert_eq!(
        commands(text),
        [
            "zerowin run repro-4k --trials 2",
            "zerowin list",
            "zerowin run scenarios/ -q",
            "zerowin run a.toml   --trials 3"
        ]
    );
    assert_eq!(
        words("zerowin run 'a b' --set client.reply=\"x y\""),
        ["zerowin", "run", "a b", "--set", "client.reply=x y"]
    );
}
