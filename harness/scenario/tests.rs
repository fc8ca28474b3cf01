use super::*;
use crate::record::Outcome;
use crate::strategy;

const GOOD: &str = r#"
description = "test"
[sender]
sndbuf = 4096
[client]
strategy = "naive"
rcvbuf = 4096
delay = "1ms"
[run]
duration = "2s"
trials = 3
[expect]
outcome = "reset"
within = "1s"
"#;

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse(Path::new("x.toml"), text, Path::new("/bin/false"))
}

fn error_of(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn parses_a_full_scenario_with_defaults() {
    let s = parse(GOOD).unwrap();
    assert_eq!(s.name, "x");
    assert_eq!(s.sender.name(), "original");
    assert_eq!(s.sender_config.setup.policy, "close");
    assert_eq!(
        s.sender_config.setup.args,
        [
            "--sender",
            "original",
            "--set",
            "close_policy=close",
            "--set",
            "drain_timeout=30000ms",
            "--set",
            "sndbuf=4096",
        ]
    );
    assert_eq!(
        s.sender_config.setup.describe,
        "original (close); sndbuf 4096"
    );
    assert_eq!(s.strategy.name(), "naive");
    assert_eq!(
        s.client.own::<crate::strategy::naive::Settings>().recv_size,
        10
    );
    assert_eq!(
        s.client.own::<crate::strategy::drain::Settings>().chunk,
        1024
    );
    assert_eq!(s.client.reply, b"Hi i got the data");
    assert_eq!(s.client.delay, Duration::from_millis(1));
    assert_eq!(s.client.duration, Duration::from_secs(2));
    assert_eq!(s.client.deadline, Duration::from_secs(7));
    assert_eq!(s.trials, 3);
    assert_eq!(s.expect.outcome, Outcome::Reset);
    assert_eq!(s.expect.within, Some(Duration::from_secs(1)));
}

#[test]
fn durations_need_a_unit() {
    assert_eq!(parse_duration("10ms").unwrap(), Duration::from_millis(10));
    assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
    assert!(parse_duration("10").unwrap_err().contains("`10`"));
    assert!(parse_duration("fast").is_err());
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let e =
        error_of("[client]\nstrategy = \"naive\"\nrecv_sze = 10\n[expect]\noutcome = \"reset\"\n");
    assert!(
        e.starts_with("x.toml:3: client.recv_sze: unknown key"),
        "{e}"
    );
    assert!(e.contains("recv_size"), "lists the known keys: {e}");
}

#[test]
fn out_of_range_values_name_file_line_and_key() {
    let e =
        error_of("[client]\nstrategy = \"naive\"\nrecv_size = 0\n[expect]\noutcome = \"reset\"\n");
    assert!(
        e.starts_with("x.toml:3: client.recv_size: 0 is out of range"),
        "{e}"
    );
    let e = error_of(
        "[sender]\nsndbuf = 1\n[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"reset\"\n",
    );
    assert!(e.starts_with("x.toml:2: sender.sndbuf:"), "{e}");
    let e = error_of(
        "[client]\nstrategy = \"naive\"\n[run]\ntrials = 0\n[expect]\noutcome = \"reset\"\n",
    );
    assert!(e.starts_with("x.toml:4: run.trials:"), "{e}");
}

#[test]
fn bad_durations_name_the_key() {
    let e = error_of(
        "[client]\nstrategy = \"naive\"\ndelay = \"soon\"\n[expect]\noutcome = \"reset\"\n",
    );
    assert!(
        e.starts_with("x.toml:3: client.delay: `soon` is not a duration"),
        "{e}"
    );
    let e = error_of(
        "[client]\nstrategy = \"naive\"\n[run]\nduration = \"2s\"\ndeadline = \"1s\"\n[expect]\noutcome = \"reset\"\n",
    );
    assert!(
        e.starts_with("x.toml:5: run.deadline: 1s must be longer"),
        "{e}"
    );
}

#[test]
fn unknown_names_list_the_known_ones() {
    let e = error_of("[client]\nstrategy = \"fast\"\n[expect]\noutcome = \"reset\"\n");
    assert!(
        e.starts_with("x.toml:2: client.strategy: unknown strategy `fast`; known: naive, drain"),
        "{e}"
    );
    let e = error_of("[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"boom\"\n");
    assert!(
        e.starts_with("x.toml:4: expect.outcome: unknown outcome `boom`"),
        "{e}"
    );
    let e = error_of(
        "[sender]\nkind = \"nginx\"\n[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"eof\"\n",
    );
    assert!(
        e.starts_with("x.toml:2: sender.kind: unknown sender `nginx`"),
        "{e}"
    );
    let e = error_of(
        "[sender]\nclose_policy = \"rst\"\n[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"eof\"\n",
    );
    assert!(
        e.starts_with("x.toml:2: sender.close_policy: unknown close policy"),
        "{e}"
    );
}

#[test]
fn missing_sections_and_wrong_types_are_errors() {
    let e = error_of("[client]\nstrategy = \"naive\"\n");
    // The section is named alone, not as a key of the table before it.
    assert!(e.contains("expect: missing section `[expect]`"), "{e}");
    assert!(!e.contains("client.expect"), "{e}");
    let e = error_of(
        "[client]\nstrategy = \"naive\"\nrecv_size = \"ten\"\n[expect]\noutcome = \"reset\"\n",
    );
    assert_eq!(
        e,
        "x.toml:3: client.recv_size: expected an integer, got the string \"ten\""
    );
    let e = error_of("[client]\nstrategy = \"naive\"\ndelay = 5\n[expect]\noutcome = \"reset\"\n");
    assert!(
        e.starts_with("x.toml:3: client.delay: expected a string (durations are written"),
        "{e}"
    );
    let e = error_of(
        "[client]\nstrategy = \"external\"\ncommand = \"c.py\"\n[expect]\noutcome = \"reset\"\n",
    );
    assert!(
        e.starts_with("x.toml:3: client.command: expected an array of strings"),
        "{e}"
    );
    let e = error_of("[client\n");
    assert!(e.starts_with("x.toml:1:"), "{e}");
}

#[test]
fn an_unknown_section_is_named_as_one() {
    let e = error_of(
        "[client]\nstrategy = \"naive\"\n[clinet]\nx = 1\n[expect]\noutcome = \"reset\"\n",
    );
    assert!(
        e.starts_with(
            "x.toml:3: unknown section `[clinet]`; known sections are [sender], [client]"
        ),
        "{e}"
    );
    let e = error_of(
        "descripton = \"x\"\n[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"reset\"\n",
    );
    assert!(e.starts_with("x.toml:1: descripton: unknown key"), "{e}");
}

#[test]
fn each_sender_checks_its_own_keys() {
    let base = "[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"reset\"\n";
    let framed = "[client]\nstrategy = \"resume\"\n[expect]\noutcome = \"survived\"\n";
    let e = error_of(&format!(
        "[sender]\nkind = \"patient\"\nclose_policy = \"close\"\n{framed}"
    ));
    assert!(
        e.starts_with("x.toml:3: sender.close_policy: unknown key for sender `patient`; its keys are queue_bytes, on_full"),
        "{e}"
    );
    let e = error_of(&format!("[sender]\nqueue_bytes = 4096\n{base}"));
    assert!(
        e.starts_with(
            "x.toml:2: sender.queue_bytes: unknown key for sender `original`; its keys are sndbuf"
        ),
        "{e}"
    );
    let e = error_of(&format!(
        "[sender]\nkind = \"patient\"\non_full = \"spill\"\n{framed}"
    ));
    assert!(
        e.starts_with("x.toml:3: sender.on_full: unknown on_full `spill`"),
        "{e}"
    );
    let e = error_of(&format!(
        "[sender]\nkind = \"patient\"\nqueue_bytes = \"big\"\n{framed}"
    ));
    assert!(
        e.starts_with("x.toml:3: sender.queue_bytes: expected an integer, got the string \"big\""),
        "{e}"
    );
    let ok = parse(&format!(
        "[sender]\nkind = \"patient\"\nqueue_bytes = 4096\nphases = [\"1s unlimited\"]\nrate = \"1000/s\"\n{framed}"
    ))
    .unwrap();
    assert_eq!(ok.sender.name(), "patient");
    assert!(
        ok.sender_config
            .setup
            .args
            .contains(&"queue_bytes=4096".to_string())
    );
}

#[test]
fn message_claims_need_a_client_that_counts_messages() {
    let framed = "[sender]\nkind = \"patient\"\n[client]\nstrategy = \"resume\"\n[expect]\noutcome = \"survived\"\n";
    let s = parse(&format!("{framed}lost = \"dropped\"\nduplicates = 0\n")).unwrap();
    assert_eq!(s.expect.lost, Some(Lost::Dropped));
    assert_eq!(s.expect.duplicates, Some(0));
    let s = parse(&format!("{framed}lost = 3\n")).unwrap();
    assert_eq!(s.expect.lost, Some(Lost::Exactly(3)));
    let e = error_of(&format!("{framed}lost = \"some\"\n"));
    assert!(
        e.starts_with("x.toml:7: expect.lost: expected a count of messages"),
        "{e}"
    );
    let e = error_of(&format!("{framed}reordered = -1\n"));
    assert!(
        e.starts_with("x.toml:7: expect.reordered: -1 is out of range"),
        "{e}"
    );
    let e = error_of(
        "[client]\nstrategy = \"threaded\"\n[expect]\noutcome = \"call-timeout\"\nlost = 0\n",
    );
    assert!(
        e.contains("expect: lost, duplicates, reordered and drained_within count messages, which only a framed client of a framed sender sees, not `threaded` with `original`"),
        "{e}"
    );
}

#[test]
fn a_client_must_speak_its_senders_protocol() {
    let e = error_of(
        "[sender]\nkind = \"patient\"\n[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"eof\"\n",
    );
    assert!(
        e.starts_with("x.toml:4: client.strategy: `naive` cannot talk to sender `patient`: it speaks the framed protocol; use resume or threaded"),
        "{e}"
    );
    let e = error_of("[client]\nstrategy = \"resume\"\n[expect]\noutcome = \"eof\"\n");
    assert!(
        e.contains("`resume` cannot talk to sender `original`"),
        "{e}"
    );
    for st in ["threaded", "resume"] {
        let s = parse(&format!(
            "[sender]\nkind = \"patient\"\n[client]\nstrategy = \"{st}\"\n[expect]\noutcome = \"survived\"\n"
        ))
        .unwrap();
        assert!(s.client.framed);
    }
    assert!(
        !parse("[client]\nstrategy = \"threaded\"\n[expect]\noutcome = \"call-timeout\"\n")
            .unwrap()
            .client
            .framed
    );
}

#[test]
fn within_is_refused_for_survived() {
    let e = error_of(
        "[client]\nstrategy = \"drain\"\n[expect]\noutcome = \"survived\"\nwithin = \"1s\"\n",
    );
    assert!(
        e.starts_with("x.toml:5: expect.within: bounds the time to the first failure"),
        "{e}"
    );
}

#[test]
fn programs_are_resolved_when_the_scenario_is_loaded() {
    assert!(resolve_program("sh").is_ok());
    assert!(resolve_program("/bin/sh").is_ok());
    assert!(
        resolve_program("no-such-program-here")
            .unwrap_err()
            .contains("not found in PATH")
    );
    let d = tempfile::tempdir().unwrap();
    let plain = d.path().join("plain");
    std::fs::write(&plain, "not a program").unwrap();
    assert!(
        resolve_program(plain.to_str().unwrap())
            .unwrap_err()
            .contains("not an executable")
    );
    assert!(
        resolve_program("/nonexistent/x")
            .unwrap_err()
            .contains("does not exist")
    );
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let e = Scenario::load(Path::new("/nonexistent/s.toml"), Path::new("/bin/false")).unwrap_err();
    assert_eq!(e.line, 0);
    assert!(
        e.to_string()
            .starts_with("/nonexistent/s.toml: cannot read the scenario"),
        "{e}"
    );
}

#[test]
fn compare_swaps_the_default_reply_but_keeps_a_set_one() {
    let s = parse(GOOD).unwrap();
    let d = s
        .with_strategy(strategy::by_name("drain").unwrap())
        .unwrap();
    assert!(d.client.reply.is_empty());
    let set = parse(&GOOD.replace("delay", "reply = \"ok\"\ndelay")).unwrap();
    assert_eq!(
        set.with_strategy(strategy::by_name("drain").unwrap())
            .unwrap()
            .client
            .reply,
        b"ok"
    );
}

#[test]
fn overrides_keep_the_deadline_slack() {
    let s = parse(GOOD)
        .unwrap()
        .with_overrides(Some(9), Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(s.trials, 9);
    assert_eq!(s.client.deadline, Duration::from_secs(15));
}

#[test]
fn sysctls_and_sampling_are_checked() {
    let base = "[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"reset\"\n";
    let s = parse(&format!(
        "{base}[sysctl]\ntcp_rmem = \"4096 8192 16384\"\ntcp_shrink_window = 1\n"
    ))
    .unwrap();
    assert_eq!(s.sysctls.get("tcp_rmem").unwrap(), "4096 8192 16384");
    assert_eq!(s.sysctls.get("tcp_shrink_window").unwrap(), "1");
    assert_eq!(s.sysctl_line, 5);
    assert_eq!(s.sample, Some(DEFAULT_SAMPLE));
    let e = error_of(&format!("{base}[sysctl]\ntcp_rmem = \"16384 8192 4096\"\n"));
    assert!(e.starts_with("x.toml:6: sysctl.tcp_rmem:"), "{e}");
    let e = error_of(&format!("{base}[sysctl]\ntcp_retries2 = 0\n"));
    assert!(
        e.starts_with("x.toml:6: sysctl.tcp_retries2: 0 is out of range"),
        "{e}"
    );
    let e = error_of(&format!("{base}[sysctl]\ntcp_mem = \"1 2 3\"\n"));
    assert!(
        e.starts_with("x.toml:6: sysctl.tcp_mem: unknown key"),
        "{e}"
    );
    let off = parse(&base.replace("[expect]", "[run]\nsample = \"off\"\n[expect]")).unwrap();
    assert_eq!(off.sample, None);
    assert!(parse_sample("10ns").is_err());
}

#[test]
fn external_needs_a_command_with_a_port() {
    let ok = "[client]\nstrategy = \"external\"\ncommand = [\"python3\", \"{dir}/c.py\", \"{port}\"]\n[expect]\noutcome = \"reset\"\n";
    let s = Scenario::parse(Path::new("sc/x.toml"), ok, Path::new("/bin/false")).unwrap();
    assert_eq!(
        s.client
            .own::<crate::strategy::external::Settings>()
            .command,
        ["python3", "sc/c.py", "{port}"]
    );
    let e = error_of(&ok.replace(", \"{port}\"", ""));
    assert!(
        e.starts_with("x.toml:3: client.command: must contain {port}"),
        "{e}"
    );
    let e = error_of("[client]\nstrategy = \"external\"\n[expect]\noutcome = \"reset\"\n");
    assert!(
        e.starts_with("x.toml:2: client.command: strategy external needs a command"),
        "{e}"
    );
    let e = error_of(&ok.replace("external", "naive"));
    assert!(
        e.starts_with(
            "x.toml:3: client.command: unknown key for strategy `naive`; its keys are recv_size"
        ),
        "{e}"
    );
}

/// Run by name, a shipped scenario finds every script it names in the written-out
/// copy (`keepalive-dead-peer-python` once did not: its script was left off a list).
#[test]
fn every_script_a_shipped_scenario_names_is_shipped() {
    let d = tempfile::tempdir().unwrap();
    let dir = shipped::materialize(d.path()).unwrap();
    for (file, text) in shipped::SHIPPED {
        for (i, _) in text.match_indices("{dir}/../scripts/") {
            let rest = &text[i + "{dir}/../".len()..];
            let name = &rest[..rest.find('"').unwrap()];
            assert!(dir.join("..").join(name).is_file(), "{file}: {name}");
        }
    }
}

#[test]
fn every_shipped_scenario_parses() {
    assert!(!shipped::SHIPPED.is_empty());
    // Written out as `run` does, so that a capacity_of finds its file.
    let d = tempfile::tempdir().unwrap();
    let dir = shipped::materialize(d.path()).unwrap();
    for (file, text) in shipped::SHIPPED {
        Scenario::parse_in(&dir.join(file), text, Path::new("/bin/true"), &dir)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[test]
fn a_fault_for_one_strategy_follows_the_strategy_of_each_variant() {
    let text = r#"
[client]
strategy = "drain"
[[fault]]
at = "100ms"
action = "pause-client"
strategy = "naive"
[[fault]]
at = "200ms"
action = "resume-client"
strategy = "naive"
[expect]
outcome = "survived"
"#;
    let s = parse(text).unwrap();
    assert!(s.faults.is_empty(), "drain is not paused: {:?}", s.faults);
    let naive = s
        .with_strategy(strategy::by_name("naive").unwrap())
        .unwrap();
    assert_eq!(naive.faults.faults.len(), 2);
    let back = naive
        .with_strategy(strategy::by_name("drain").unwrap())
        .unwrap();
    assert!(back.faults.is_empty());
    let bad = text.replace(
        "strategy = \"naive\"\n[[fault]]",
        "strategy = \"nope\"\n[[fault]]",
    );
    assert!(
        error_of(&bad).contains("fault.strategy: unknown strategy `nope`"),
        "{}",
        error_of(&bad)
    );
}

#[test]
fn a_server_of_yours_supports_only_the_clients_own_message_claims() {
    let server =
        "[sender]\nkind = \"external\"\ncommand = [\"sh\", \"-c\", \"sleep 9 # {port}\"]\n";
    let client = "[client]\nstrategy = \"external\"\ncommand = [\"sh\", \"-c\", \"true {port}\"]\n";
    let ok = format!("{server}{client}[expect]\noutcome = \"survived\"\nlost = 0\nreordered = 0\n");
    assert!(parse(&ok).is_ok(), "{}", error_of(&ok));
    let sender_claim = ok.replace("reordered = 0", "fills = true");
    assert!(error_of(&sender_claim).contains("with an external sender"));
    let naive = format!(
        "{server}[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"survived\"\nlost = 0\n"
    );
    assert!(error_of(&naive).contains("count messages"));
    let rss = "[client]\nstrategy = \"naive\"\n[expect]\noutcome = \"reset\"\nmin_rss_growth = 1\n";
    assert!(
        error_of(rss).contains("only an external sender's memory is sampled"),
        "{}",
        error_of(rss)
    );
}
