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
    // A ```text block is a program's output, not commands.
    let mut output = false;
    for line in &joined {
        if let Some(lang) = line.trim_start().strip_prefix("```") {
            in_block = !in_block;
            output = in_block && lang.trim() == "text";
            continue;
        }
        let mut candidates: Vec<&str> = Vec::new();
        if output {
            continue;
        }
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

/// The synopsis of each subcommand in docs/usage.md's usage block: its name, and the
/// `--flags` its lines name (a "[same options as run]" names run's).
fn usage_block() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/usage.md"))
        .unwrap();
    let block = text
        .split("```")
        .nth(1)
        .expect("docs/usage.md opens with its usage block");
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in block.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("zerowin ") {
            let name: Vec<&str> = rest
                .split_whitespace()
                .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase()))
                .collect();
            out.push((name.join(" "), Vec::new()));
        }
        let Some((_, flags)) = out.last_mut() else {
            continue;
        };
        for w in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if w.starts_with("--") && w.len() > 2 {
                flags.push(w.to_string());
            }
        }
        if line.contains("same options as run") {
            flags.push("<run>".into());
        }
    }
    out
}

/// The usage block is checked against clap: every subcommand is there, each names
/// exactly the flags its subcommand has (aliases count), no more and no fewer.
#[test]
fn the_usage_block_matches_the_cli() {
    let block = usage_block();
    let cli = Cli::command();
    let flags_of = |path: &str| -> Vec<String> {
        let mut cmd = &cli;
        for part in path.split(' ') {
            cmd = cmd
                .find_subcommand(part)
                .unwrap_or_else(|| panic!("no `{path}`"));
        }
        let mut v: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long().map(|l| (l, a)))
            .filter(|(l, _)| *l != "help")
            .flat_map(|(l, a)| {
                let aliases = a.get_visible_aliases().unwrap_or_default();
                std::iter::once(format!("--{l}"))
                    .chain(aliases.into_iter().map(|x| format!("--{x}")))
            })
            .collect();
        v.sort();
        v
    };
    let run_flags = flags_of("run");
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for (name, named) in &block {
        seen.push(name.clone());
        let want = flags_of(name);
        let mut got: Vec<String> = named
            .iter()
            .flat_map(|f| match f.as_str() {
                "<run>" => run_flags.clone(),
                _ => vec![f.clone()],
            })
            .collect();
        got.sort();
        got.dedup();
        for f in want.iter().filter(|f| !got.contains(f)) {
            problems.push(format!("`zerowin {name}`: the block lacks {f}"));
        }
        for f in got.iter().filter(|f| !want.contains(f)) {
            // "[same options as run]" may bring flags run has and this one has not.
            if !named.contains(&"<run>".to_string()) || !run_flags.contains(f) {
                problems.push(format!("`zerowin {name}`: the CLI has no {f}"));
            }
        }
    }
    for s in cli.get_subcommands() {
        let leaves: Vec<String> = match s.get_subcommands().count() {
            0 => vec![s.get_name().to_string()],
            _ => s
                .get_subcommands()
                .map(|t| format!("{} {}", s.get_name(), t.get_name()))
                .collect(),
        };
        for l in leaves {
            if !seen.contains(&l) {
                problems.push(format!("`zerowin {l}` is not in the usage block"));
            }
        }
    }
    assert!(block.len() >= 8, "the block was not read: {block:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
