//! The readable report: a table per scenario (or a distribution summary for many
//! trials), an explanation of one trial in plain words, a verdict, and the summary
//! and comparison tables.
//!
//! Every sentence of an explanation is derived from the record's own fields: the
//! send-buffer story appears only when the sender's summary says its send() failed
//! with EAGAIN, a FIN is said to have gone out only when the wire saw one, and every
//! time is signed, because an event can come before time zero.

use comfy_table::{ContentArrangement, Table, TableComponent, presets};

use super::output::clean;
use crate::analysis::stats::{self, median_of, outcome_counts, percentile};
use crate::observe::Observation;
use crate::record::{Ending, TrialRecord};
use crate::runner::ScenarioResult;
use crate::scenario::Scenario;

/// Up to this many trials, the report shows one row per trial; beyond, a summary.
pub const TABLE_MAX: usize = 20;
/// With a summary: how many of the first and of the slowest trials are shown.
const SHOWN: usize = 3;

/// How tables are laid out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Layout {
    /// The terminal's width, when the report goes to one.
    pub width: Option<u16>,
}

pub use crate::words::{ms, ms_u};

fn ms_opt(us: Option<f64>) -> String {
    us.map_or("-".into(), |u| format!("{:.2} ms", u / 1000.0))
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or("?".into(), |x| x.to_string())
}

pub(crate) fn new_table(header: Vec<&str>, layout: Layout) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_HORIZONTAL_ONLY)
        .remove_style(TableComponent::HorizontalLines)
        .remove_style(TableComponent::MiddleIntersections)
        .remove_style(TableComponent::LeftBorderIntersections)
        .remove_style(TableComponent::RightBorderIntersections)
        .set_header(header);
    if let Some(w) = layout.width {
        t.set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(w);
    }
    t
}

/// What every strategy of a scenario shares: "original (close); sndbuf 4096,
/// rcvbuf default; 20 trial(s) of up to 5s".
fn setup_shared(sc: &Scenario) -> String {
    format!(
        "{}, rcvbuf {}; {} trial(s) of up to {:?}",
        sc.sender_config.setup.describe,
        sc.client
            .rcvbuf
            .map_or("default".to_string(), |v| v.to_string()),
        sc.trials,
        sc.client.duration,
    )
}

/// "naive: recv(10), then delay 0ns, reply "..."; vs original (close); sndbuf ...".
pub fn setup(sc: &Scenario) -> String {
    format!(
        "{}: {}; vs {}",
        sc.strategy.name(),
        sc.strategy.describe(&sc.client),
        setup_shared(sc)
    )
}

/// The header of `compare`: which sender+strategy pairs the rows are, and what they share.
pub fn compare_header(sc: &Scenario, variants: &[String]) -> String {
    format!(
        "compare {}: {}; the scenario's own setup: {}\n",
        clean(&sc.name),
        variants.join(", "),
        setup(sc)
    )
}

fn first_failure(r: &TrialRecord) -> String {
    match &r.client.ending {
        Ending::Failed { error } => error.to_string(),
        Ending::Eof { .. } => "recv() → 0 (EOF)".into(),
        Ending::Survived { .. } => "-".into(),
        Ending::Hung { call, .. } => format!("still in {call}() at the deadline"),
        Ending::Timeout { call, .. } => format!("{call}() timed out"),
        Ending::Exited { status, .. } => match &r.classified_from {
            Some(_) => format!("{} (from the wire); it {status}", r.outcome),
            None => format!("it {status}"),
        },
    }
}

/// Zero-window advertisements from the client: counted on the wire when there is a
/// capture, else the kernel's TCPToZeroWindowAdv, marked `*` outside a namespace,
/// where other traffic moves it too (the table then says so under it).
fn zero_windows(r: &TrialRecord) -> (String, bool) {
    let Some(o) = &r.observation else {
        return ("-".into(), false);
    };
    match (&o.wire, &o.counters) {
        (Some(w), _) => (w.from_client.zero_windows.to_string(), false),
        (None, Some(c)) if !c.isolated => (format!("{}*", c.get("TCPToZeroWindowAdv")), true),
        (None, Some(c)) => (c.get("TCPToZeroWindowAdv").to_string(), false),
        (None, None) => ("-".into(), false),
    }
}

/// The trial table's sender column: what the sender's kind says of its summary.
fn sender_cell(r: &TrialRecord) -> String {
    match (&r.sender_summary, crate::sender::by_name(&r.sender)) {
        (Some(s), Some(kind)) => kind.table_cell(r, s),
        (None, Some(kind)) => kind.cell_without_summary(r),
        (_, None) => "no summary".into(),
    }
}

/// One row per trial, then a footnote for any mark a row carries.
pub fn trial_table(records: &[TrialRecord], layout: Layout) -> String {
    let mut t = new_table(
        vec![
            "#",
            "outcome",
            "first failure",
            "at",
            "read B",
            "sent B",
            "lost B",
            "sender",
            "zero win",
            "RST",
            "iso",
            "trial",
        ],
        layout,
    );
    let mut starred = false;
    for r in records {
        let (zw, star) = zero_windows(r);
        starred |= star;
        t.add_row(vec![
            r.trial.to_string(),
            r.outcome.to_string(),
            first_failure(r),
            r.time_to_failure_us.map_or("-".into(), ms_u),
            opt(r.bytes_read),
            opt(r.bytes_sent),
            match &r.messages {
                Some(m) => format!("{} msg", m.lost),
                None => opt(r.bytes_lost),
            },
            sender_cell(r),
            zw,
            rst_cell(r),
            r.observation
                .as_ref()
                .map_or("-".into(), |o| o.isolation.mode.to_string()),
            ms_u(r.trial_us),
        ]);
    }
    let mut s = t.to_string();
    s.push('\n');
    if starred {
        s.push_str("* no capture: the kernel's TCPToZeroWindowAdv on the host, which other traffic moves too\n");
    }
    if records.iter().any(|r| r.bytes_read.is_none()) {
        s.push_str("? unknown: zerowin cannot see what an external program read\n");
    }
    s
}

/// The RST cell: the kernel's reasons when its events saw the trial, else the wire's
/// direction.
fn rst_cell(r: &TrialRecord) -> String {
    let Some(o) = r.observation.as_ref() else {
        return "-".into();
    };
    match (&o.kernel, &o.wire) {
        (Some(k), _) => super::kernel::cell(k),
        (None, Some(w)) => w.rst_direction.to_string(),
        (None, None) => "-".into(),
    }
}

/// For many trials: the distribution, then the first and the slowest few trials.
pub fn distribution(records: &[TrialRecord], layout: Layout) -> String {
    let mut s = format!("{} trials: {}\n", records.len(), outcome_counts(records));
    let t: Vec<f64> = records
        .iter()
        .filter_map(|r| r.time_to_failure_us.map(|u| u as f64))
        .collect();
    if !t.is_empty() {
        let q = |p| ms_opt(percentile(&t, p));
        s.push_str(&format!(
            "  time to failure ({} trials): min {}, median {}, p90 {}, max {}\n",
            t.len(),
            q(0.0),
            ms_opt(stats::median(t.clone())),
            q(90.0),
            q(100.0)
        ));
    }
    let lost: Vec<f64> = records
        .iter()
        .filter_map(|r| r.bytes_lost.map(|b| b as f64))
        .collect();
    if !lost.is_empty() {
        let q = |p| percentile(&lost, p).map_or("-".into(), |v| format!("{v:.0}"));
        s.push_str(&format!(
            "  bytes lost ({} trials): min {}, median {}, p90 {}, max {}\n",
            lost.len(),
            q(0.0),
            stats::median(lost.clone()).map_or("-".into(), |v| format!("{v:.0}")),
            q(90.0),
            q(100.0)
        ));
    }
    if let Some(mix) = stats::route_mix(records) {
        s.push_str(&format!(
            "  close route (the kernel's reason; without it, who sent RST from the wire and which abort from the sender's counters): {mix}\n"
        ));
    }
    if let Some(mix) = stats::reason_mix(records) {
        s.push_str(&format!("  RSTs by the kernel's reason: {mix}\n"));
    }
    let mut slow: Vec<&TrialRecord> = records.iter().collect();
    slow.sort_by_key(|r| std::cmp::Reverse(r.time_to_failure_us.unwrap_or(r.active_us)));
    let mut shown: Vec<TrialRecord> = records.iter().take(SHOWN).cloned().collect();
    for r in slow.into_iter().take(SHOWN) {
        if !shown.iter().any(|x| x.trial == r.trial) {
            shown.push(r.clone());
        }
    }
    s.push_str(&format!(
        "The first {SHOWN} trials and the {SHOWN} slowest to end (JSON has them all):\n"
    ));
    s.push_str(&trial_table(&shown, layout));
    s
}

/// "NAME: Counter n, ..." for the story counters that moved.
fn counter_line(name: &str, c: &crate::observe::counters::Counters) -> String {
    let moved: Vec<String> = c
        .story
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    format!(
        "{name}: {}",
        if moved.is_empty() {
            "none of the story's counters moved".into()
        } else {
            moved.join(", ")
        }
    )
}

/// What the observers saw, as lines of the explanation.
fn evidence(o: &Observation) -> Vec<String> {
    let mut out = vec![format!(
        "isolation: {} ({})",
        o.isolation.mode, o.isolation.reason
    )];
    if !o.isolation.sysctls.is_empty() {
        let s: Vec<String> = o
            .isolation
            .sysctls
            .iter()
            .map(|(k, v)| format!("{k} = {}", clean(v)))
            .collect();
        out.push(format!("sysctls in the namespace: {}", s.join(", ")));
    }
    out.push(super::kernel::instruments(o));
    if let Some(k) = &o.kernel {
        out.extend(super::kernel::evidence(k));
    }
    if let Some(w) = &o.wire {
        out.push(format!(
            "on the wire: the client advertised a zero window {} time(s) and the sender {}; window updates {}/{} (client/sender); zero-window probes {}/{} (sender/client); RST {} ({} from the sender, {} from the client){}; FIN {}/{} (client/sender){}",
            w.from_client.zero_windows,
            w.from_sender.zero_windows,
            w.from_client.window_updates,
            w.from_sender.window_updates,
            w.from_sender.zero_window_probes,
            w.from_client.zero_window_probes,
            w.rst_direction,
            w.from_sender.rsts,
            w.from_client.rsts,
            match w.sender_rst_unacked_bytes {
                Some(b) => format!("; the sender's RST destroyed {b} B it had sent, unacknowledged"),
                None => String::new(),
            },
            w.from_client.fins,
            w.from_sender.fins,
            if w.dropped_frames > 0 {
                format!("; {} frames dropped by the capture", w.dropped_frames)
            } else {
                String::new()
            }
        ));
    }
    if let Some(l) = &o.link {
        out.push(format!(
            "link: {}; client {} and sender {} in two namespaces (the host's has neither)",
            l.config.describe(),
            l.client_addr,
            l.sender_addr
        ));
    }
    match (&o.kernels, &o.counters) {
        (Some(k), _) => {
            out.push(counter_line("the client's kernel", &k.client));
            out.push(counter_line("the sender's kernel", &k.sender));
        }
        (None, Some(c)) if c.isolated => out.push(counter_line("kernel counters", c)),
        (None, Some(c)) => out.push(counter_line("kernel counters (host: not isolated)", c)),
        (None, None) => {}
    }
    if let Some(w) = o.wire.as_ref().filter(|w| w.from_client.keep_alives > 0) {
        let last = o.events.last_from_sender_us.map_or("?".into(), ms);
        out.push(format!(
            "keep-alive probes from the client: {}, of which {} after the sender's last segment at {last} (unanswered)",
            w.from_client.keep_alives, w.unanswered_keep_alives
        ));
    }
    let ev = o.events.ordered();
    if !ev.is_empty() {
        let s: Vec<String> = ev.iter().map(|(n, t)| format!("{n} {}", ms(*t))).collect();
        out.push(format!("timeline: {}", s.join(" → ")));
    }
    out.extend(o.notes.iter().map(|n| clean(n)));
    for (what, f) in [("pcap", &o.pcap_file), ("plot", &o.plot_file)] {
        if let Some(p) = f {
            out.push(format!("{what}: {}", clean(&p.display().to_string())));
        }
    }
    out
}

/// The trial's messages, one by one.
fn messages_line(m: &crate::record::MessageAccounting) -> String {
    if m.client_alone {
        return format!(
            "message by message, from the client's own count (the server's are unknown): {} delivered (each once), {} lost (gaps between the first and the last sequence it saw), {} duplicates, {} reordered, {} reconnects",
            m.delivered, m.lost, m.duplicates, m.reordered, m.reconnects
        );
    }
    let pending = m.pending.map_or(
        "pending at the end unknown (the sender was restarted)".to_string(),
        |p| format!("{p} pending at the end (queued or in flight)"),
    );
    let mut line = format!(
        "message by message: {} produced, {} delivered (each once), {} lost, {} duplicates, {} reordered, {pending}, {} reconnects",
        m.produced, m.delivered, m.lost, m.duplicates, m.reordered, m.reconnects
    );
    if m.sent_first + m.redelivered > 0 {
        line.push_str(&format!(
            "; the sender sent {} for the first time and {} again",
            m.sent_first, m.redelivered
        ));
    }
    if let Some(a) = m.accepted {
        line.push_str(&format!(
            "; {a} were committed to the spool (accepted), which held at most {} messages ({} B)",
            m.spool_peak_messages.unwrap_or(0),
            m.spool_peak_bytes.unwrap_or(0)
        ));
    }
    if m.sender_restarts > 0 {
        line.push_str(&format!(
            "; the sender was restarted {} time(s), and the client skipped {} numbers it declared void (never accepted: only in a killed sender's memory, or reserved and never used)",
            m.sender_restarts, m.void
        ));
    }
    if let Some(d) = m.drained_after_us {
        line.push_str(&format!(
            "; its backlog was empty {} after the producer's phases ended",
            ms_u(d)
        ));
    }
    if let Some(l) = m.latency {
        line.push_str(&format!(
            "; latency from production to processing: p50 {}, p99 {}, max {}",
            ms_u(l.p50_us),
            ms_u(l.p99_us),
            ms_u(l.max_us)
        ));
    }
    line
}

/// When the spool's store was out of reach, and why, on the trial's clock.
fn outages_line(outages: &[crate::record::OutageSpan]) -> String {
    let each: Vec<String> = outages
        .iter()
        .map(|o| {
            let until = o.to_us.map_or("the end".to_string(), |t| ms(t).to_string());
            format!("from {} to {until} ({})", ms(o.from_us), clean(&o.reason))
        })
        .collect();
    format!(
        "the spool's store was out of reach {}: nothing more was accepted meanwhile, and on_full applied",
        each.join(", ")
    )
}

/// The faults the schedule applied, on the trial's clock.
fn faults_line(faults: &[crate::fault::FaultEvent]) -> String {
    let each: Vec<String> = faults
        .iter()
        .map(|f| {
            let mut s = match &f.error {
                None => format!("{} at {}", f.action, ms(f.at_us)),
                Some(e) => format!("{} at {} failed: {}", f.action, ms(f.at_us), clean(e)),
            };
            if f.action.on_broker()
                && let Some(d) = &f.detail
            {
                s.push_str(&format!(" ({})", clean(d)));
            }
            if let (Some(b), Some(tw)) = (&f.bind, f.time_wait) {
                s.push_str(&format!(
                    " ({tw} socket(s) in TIME_WAIT on its port; the new listener's bind(): {b})"
                ));
            }
            s
        })
        .collect();
    format!("faults: {}", each.join(", "))
}

fn postmortem_line(p: &crate::record::PostMortem) -> String {
    let end = match (&p.recv_end.error, p.recv_end.value) {
        (Some(e), _) if e == "EAGAIN" => "EAGAIN (queue empty, connection up)".into(),
        (Some(e), _) => format!("{e} ({})", p.recv_end.errno.unwrap_or(0)),
        (None, Some(0)) => "0 (EOF)".to_string(),
        (None, _) => "stopped at the deadline".to_string(),
    };
    format!(
        "after that: recv() still returned {} B, then {end}; {}; {}; {}; SO_ERROR = {}",
        p.recv_bytes,
        p.send,
        p.shutdown,
        p.getpeername,
        p.so_error.error.as_deref().unwrap_or("0"),
    )
}

/// A helper's line: its command, its start, and how it ended.
fn helper_line(r: &TrialRecord, n: usize, h: &crate::record::program::ProgramRun) -> String {
    let at = crate::words::ms((h.started_ns as i64 - r.client.zero_ns as i64) / 1000);
    let end = match h.exited_early {
        true => format!("it {} by itself", h.exit),
        false => format!("stopped at the end, it {}", h.exit),
    };
    format!("helper {n} `{}` started at {at}; {end}", h.command_line())
}

/// The chain of events of one trial, in plain words, from the record alone.
pub fn explain(r: &TrialRecord) -> String {
    let mut out = Vec::new();
    out.push(format!(
        "time zero is {}; every time below counts from it",
        r.client.zero.describe()
    ));
    out.push(match (&r.sender_summary, crate::sender::by_name(&r.sender)) {
        (Some(s), Some(kind)) => kind.explain(r, s),
        (_, None) => "the server is external: zerowin does not know what its send() accepted, so bytes lost are unknown".into(),
        (None, Some(kind)) => kind.explain_without_summary(r),
    });
    for (i, h) in r.helpers.iter().enumerate() {
        out.push(helper_line(r, i + 1, h));
    }
    if !r.faults.is_empty() {
        out.push(faults_line(&r.faults));
    }
    out.push(match crate::strategy::by_name(&r.strategy) {
        Some(kind) => kind.explain(r),
        None => crate::strategy::explain_client(r),
    });
    if r.client.request_bytes > 0 {
        out.push(format!(
            "the client sent its {} B request after connecting; the server's first bytes: \"{}\"",
            r.client.request_bytes, r.client.first_bytes
        ));
    }
    if let Some(m) = &r.messages {
        out.push(messages_line(m));
    }
    if !r.store_outages.is_empty() {
        out.push(outages_line(&r.store_outages));
    }
    if let Some(e) = &r.sender_exited {
        out.push(format!(
            "the sender exited by itself before the trial stopped it: {}",
            clean(e)
        ));
    }
    if let Some(p) = &r.client.postmortem {
        out.push(postmortem_line(p));
    }
    if let Some(o) = &r.observation {
        out.extend(evidence(o));
    }
    for d in stats::disagreements(r) {
        out.push(format!("the instruments disagree: {d}"));
    }
    if let Some(lost) = r.bytes_lost {
        out.push(match lost {
            0 => "every byte that send() accepted reached the client".into(),
            l if l > 0 => format!(
                "{l} B that send() accepted never reached the client (they died in the kernel's buffers)"
            ),
            l => format!("the client read {} B more than the sender's summary counts", -l),
        });
    }
    out.iter().map(|l| format!("  - {l}\n")).collect()
}

/// "PASS expected reset within 1s: 5 reset; median time to failure 2.31 ms; ..."
pub fn verdict(res: &ScenarioResult) -> String {
    let e = &res.scenario.expect;
    let mut want = format!("expected {}", e.outcome);
    if let Some(w) = e.within {
        want.push_str(&format!(" within {w:?}"));
    }
    if let Some(b) = e.bytes_lost {
        want.push_str(&format!(" with {b} B lost"));
    }
    let mut s = format!(
        "{} {want}: {}; median time to failure {}, median trial {}",
        if res.passed() { "PASS" } else { "FAIL" },
        outcome_counts(&res.records),
        ms_opt(median_of(&res.records, |r| r
            .time_to_failure_us
            .map(|u| u as f64))),
        ms_opt(median_of(&res.records, |r| Some(r.trial_us as f64))),
    );
    for v in &res.violations {
        s.push_str(&format!("\n  ✗ {v}"));
    }
    s
}

/// Before a sweep's first cell: what is swept and how much will run.
pub fn sweep_header(sc: &Scenario, cells: usize) -> String {
    let mut s = format!(
        "\n== {} ({}): a sweep of {cells} cell(s) over {}\n",
        clean(&sc.name),
        clean(&sc.path.display().to_string()),
        clean(&sc.swept.join(" x "))
    );
    if !sc.description.is_empty() {
        s.push_str(&format!("   {}\n", clean(sc.description.trim())));
    }
    s.push_str(&format!("   first cell: {}\n", setup(sc)));
    s
}

/// Everything printed for one scenario.
pub fn scenario_report(res: &ScenarioResult, layout: Layout) -> String {
    let sc = &res.scenario;
    let mut s = format!(
        "\n== {} ({})\n",
        clean(&sc.name),
        clean(&sc.path.display().to_string())
    );
    if !sc.description.is_empty() {
        s.push_str(&format!("   {}\n", clean(sc.description.trim())));
    }
    s.push_str(&format!("   {}\n", setup(sc)));
    if res.records.len() <= TABLE_MAX {
        s.push_str(&trial_table(&res.records, layout));
    } else {
        s.push_str(&distribution(&res.records, layout));
    }
    if let Some(first) = res.records.first() {
        s.push_str(&format!("What happened in trial {}:\n", first.trial));
        s.push_str(&explain(first));
    }
    s.push_str(&super::backlog::block(res));
    s.push_str(&verdict(res));
    s.push('\n');
    s
}

/// One row per scenario, after a `run`.
pub fn summary_table(results: &[ScenarioResult], layout: Layout) -> String {
    let mut t = new_table(
        vec![
            "scenario",
            "strategy",
            "expected",
            "got",
            "median t_fail",
            "median trial",
            "read msg/s",
            "verdict",
        ],
        layout,
    );
    for r in results {
        t.add_row(vec![
            clean(&format!("{}{}", r.scenario.name, r.scenario.cell_label())),
            r.scenario.strategy.name().to_string(),
            r.scenario.expect.outcome.to_string(),
            outcome_counts(&r.records),
            ms_opt(median_of(&r.records, |x| {
                x.time_to_failure_us.map(|u| u as f64)
            })),
            ms_opt(median_of(&r.records, |x| Some(x.trial_us as f64))),
            median_of(&r.records, |x| {
                x.messages_read
                    .map(|m| m as f64 / x.active_us.max(1) as f64 * 1e6)
            })
            .map_or("-".into(), crate::analysis::capacity::thousands),
            if r.passed() { "PASS" } else { "FAIL" }.to_string(),
        ]);
    }
    t.to_string() + "\n"
}

/// One row per sender and strategy, for `compare`: what holds, and what it costs.
pub fn compare_table(results: &[ScenarioResult], layout: Layout) -> String {
    let mut t = new_table(
        vec![
            "sender",
            "strategy",
            "outcomes",
            "median t_fail",
            "lost (median)",
            "duplicates",
            "queue peak B",
            "spool peak B",
            "latency p99",
            "read MB/s",
        ],
        layout,
    );
    for r in results {
        let med = |f: &dyn Fn(&TrialRecord) -> Option<f64>| median_of(&r.records, f);
        let num = |v: Option<f64>, prec: usize| v.map_or("-".into(), |x| format!("{x:.prec$}"));
        let framed = r.records.iter().any(|x| x.messages.is_some());
        let lost = if framed {
            num(med(&|x| x.messages.as_ref().map(|m| m.lost as f64)), 0) + " msg"
        } else {
            num(med(&|x| x.bytes_lost.map(|b| b as f64)), 0) + " B"
        };
        let most = |f: &dyn Fn(&crate::record::MessageAccounting) -> Option<u64>| {
            r.records
                .iter()
                .filter_map(|x| x.messages.as_ref().and_then(f))
                .max()
                .map_or("-".into(), |v| v.to_string())
        };
        t.add_row(vec![
            r.scenario.sender_label(),
            r.scenario.strategy.name().to_string(),
            outcome_counts(&r.records),
            ms_opt(med(&|x| x.time_to_failure_us.map(|u| u as f64))),
            lost,
            most(&|m| Some(m.duplicates)),
            most(&|m| Some(m.queue_peak_bytes)),
            most(&|m| m.spool_peak_bytes),
            ms_opt(med(&|x| {
                x.messages
                    .as_ref()
                    .and_then(|m| m.latency)
                    .map(|l| l.p99_us as f64)
            })),
            num(med(&|x| x.read_mb_s), 2),
        ]);
    }
    t.to_string() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::counters::Counters;
    use crate::observe::isolation::Isolation;
    use crate::observe::wire::Wire;
    use crate::observe::{Events, Observation};
    use crate::record::testing::{client, failed, summary};
    use crate::record::{Ending, ExternalRun, Outcome, PostMortem, ProbeResult, SignalSent};

    /// A trial of the original sender: it sent `sent` B and failed with `errno`.
    fn trial(ending: Ending, errno: i32) -> TrialRecord {
        let s = summary(20_000, errno, 2_000, 2_100);
        TrialRecord::assemble(
            "s",
            1,
            "original",
            "close",
            client(ending, 15_000),
            crate::record::SenderReport {
                summary: Some(s),
                ..Default::default()
            },
            9_000,
        )
    }

    /// The same, observed in a namespace whose counters moved as given, with
    /// `fins` FINs from the sender on the wire.
    fn observed(mut r: TrialRecord, moved: &[&str], fins: u64) -> TrialRecord {
        let mut story = std::collections::BTreeMap::new();
        for name in crate::observe::counters::STORY {
            story.insert(name.to_string(), moved.contains(name) as u64);
        }
        let mut wire = Wire::default();
        wire.from_sender.fins = fins;
        // An abort counter that moved sent an RST from the sender.
        if !moved.is_empty() {
            wire.from_sender.rsts = 1;
            wire.rst_direction = crate::observe::wire::RstDirection::SenderToClient;
        }
        r.observation = Some(Observation {
            isolation: Isolation {
                mode: crate::observe::isolation::RanIn::Netns,
                reason: "auto: a fresh network namespace for this trial".into(),
                netns_id: None,
                sysctls: Default::default(),
            },
            link: None,
            kernels: None,
            counters: Some(Counters {
                isolated: true,
                story,
                other: Default::default(),
            }),
            timeline: None,
            wire: Some(wire),
            kernel: None,
            pcap_file: None,
            plot_file: None,
            events: Events::default(),
            notes: vec![],
        });
        r
    }

    fn says(r: &TrialRecord, want: &[&str], never: &[&str]) {
        let text = explain(r);
        for w in want {
            assert!(text.contains(w), "missing {w:?} in:\n{text}");
        }
        for n in never {
            assert!(!text.contains(n), "{n:?} contradicts the record:\n{text}");
        }
    }

    #[test]
    fn reset_at_close() {
        let r = observed(
            trial(failed("send", libc::ECONNRESET, 2_300), libc::EAGAIN),
            &["TCPAbortOnClose"],
            0,
        );
        assert_eq!(r.outcome, Outcome::Reset);
        says(
            &r,
            &[
                "returned EAGAIN at 2.00 ms: the buffer was full",
                "close() started at 2.10 ms",
                "never read: so the kernel sent RST, not FIN (TCPAbortOnClose)",
                "when send() → ECONNRESET (104) at 2.30 ms",
            ],
            &["FIN then"],
        );
    }

    #[test]
    fn fin_then_rst_on_data_says_whether_the_fin_went_out() {
        let r = trial(failed("send", libc::ECONNRESET, 2_300), libc::EAGAIN);
        let unsent = observed(r.clone(), &["TCPAbortOnData"], 0);
        says(
            &unsent,
            &[
                "it never went out: no FIN from the sender on the wire",
                "(TCPAbortOnData)",
            ],
            &["close() sent a FIN"],
        );
        let sent = observed(r, &["TCPAbortOnData"], 1);
        says(
            &sent,
            &["close() sent a FIN;", "(TCPAbortOnData)"],
            &["never went out"],
        );
    }

    #[test]
    fn linger0_and_a_clean_close() {
        let r = trial(failed("recv", libc::ECONNRESET, 2_300), libc::EAGAIN);
        // The kernel counts a zero-linger abort as TCPAbortOnData (measured: no FIN,
        // one RST, TCPAbortOnData 1, in tests/paths.rs); the policy tells it apart.
        let mut linger = r.clone();
        linger.close_policy = "linger0".into();
        says(
            &observed(linger, &["TCPAbortOnData"], 0),
            &["SO_LINGER 0 made close() an RST at once, with no FIN"],
            &["TCPAbortOnClose", "FIN then"],
        );
        // With the policy close, the same counter is a FIN then an RST on data.
        says(
            &observed(r.clone(), &["TCPAbortOnData"], 0),
            &["(TCPAbortOnData)"],
            &["SO_LINGER 0"],
        );
        says(
            &observed(r, &[], 1),
            &["nothing was unread, so close() sent a FIN (the sender sent no RST)"],
            &["RST, not FIN"],
        );
    }

    #[test]
    fn without_counters_the_route_is_inferred_from_the_reply_times() {
        let mut r = trial(failed("send", libc::ECONNRESET, 2_300), libc::EAGAIN);
        says(
            &r,
            &["(inferred: a reply was sent before the close)"],
            &["TCPAbort"],
        );
        r.client.first_reply_us = Some(2_200);
        says(
            &r,
            &[
                "no reply had been sent yet",
                "first reply at 2.20 ms",
                "(inferred",
            ],
            &[],
        );
        r.client.first_reply_us = None;
        says(&r, &["no reply was ever sent"], &["RST, not FIN"]);
    }

    #[test]
    fn broken_pipe_and_not_connected() {
        let r = trial(failed("send", libc::EPIPE, 2_300), libc::EAGAIN);
        assert_eq!(r.outcome, Outcome::BrokenPipe);
        says(&r, &["when send() → EPIPE (32) at 2.30 ms"], &[]);
        let r = trial(failed("recv", libc::ENOTCONN, 2_300), libc::EAGAIN);
        assert_eq!(r.outcome, Outcome::NotConnected);
        says(&r, &["when recv() → ENOTCONN (107) at 2.30 ms"], &[]);
    }

    #[test]
    fn eof_with_a_postmortem_that_reads_as_bytes() {
        let mut r = trial(Ending::Eof { at_us: 2_400 }, libc::EAGAIN);
        r.client.postmortem = Some(PostMortem {
            recv_bytes: 0,
            recv_end: ProbeResult::ok("recv", 0),
            send: ProbeResult::ok("send", 17),
            shutdown: ProbeResult::ok("shutdown", 0),
            getpeername: ProbeResult::err("getpeername", libc::ENOTCONN),
            so_error: ProbeResult::ok("SO_ERROR", 0),
        });
        assert_eq!(r.outcome, Outcome::Eof);
        says(
            &r,
            &[
                "recv() returned 0 (EOF) at 2.40 ms",
                "send() accepted 17 B",
                "shutdown() succeeded",
            ],
            &["send() → 17"],
        );
    }

    #[test]
    fn survived_tells_no_send_buffer_story() {
        // The client left at the end of the duration; the sender's next send() found
        // the connection gone (EPIPE), not a full buffer.
        let r = trial(Ending::Survived { at_us: 2_000_000 }, libc::EPIPE);
        assert_eq!(r.outcome, Outcome::Survived);
        says(
            &r,
            &[
                "then returned EPIPE (32) at 2.00 ms: the connection had already ended",
                "no failure until the duration ended",
            ],
            &["EAGAIN", "buffer was full", "RST, not FIN"],
        );
    }

    #[test]
    fn timeout_and_the_deadline_are_told_apart() {
        let own = Ending::Timeout {
            call: "recv".into(),
            at_us: 2_500,
        };
        let r = trial(own, libc::EAGAIN);
        assert_eq!(r.outcome, Outcome::CallTimeout);
        says(
            &r,
            &["its own timeout fired in recv() at 2.50 ms"],
            &["hung"],
        );
        let hung = Ending::Hung {
            call: "recv".into(),
            at_us: 2_500,
        };
        let r = trial(hung, libc::EAGAIN);
        assert_eq!(r.outcome, Outcome::Hung);
        says(
            &r,
            &[
                "waited in recv() with no timeout of its own until the trial's deadline at 2.50 ms: it hung",
            ],
            &["own timeout fired"],
        );
    }

    #[test]
    fn error_and_a_sender_that_never_reported() {
        let mut r = trial(failed("send", libc::EAGAIN, 2_300), libc::EAGAIN);
        r.sender_summary = None;
        assert_eq!(r.outcome, Outcome::Error);
        says(
            &r,
            &["send() → EAGAIN (11)", "the sender printed no summary"],
            &["buffer was full"],
        );
    }

    #[test]
    fn negative_times_stay_negative() {
        let mut r = trial(failed("send", libc::ECONNRESET, 2_300), libc::EAGAIN);
        r.sender_close_at_us = Some(-180);
        r.sender_summary.as_mut().unwrap().fail_ns = 1_000_000 - 200_000;
        says(
            &r,
            &["EAGAIN at -0.20 ms", "started at -0.18 ms"],
            &["0.00 ms"],
        );
        assert!(
            trial_table(std::slice::from_ref(&r), Layout::default()).contains("close at -0.18 ms")
        );
    }

    #[test]
    fn an_external_client_on_the_wire_clock() {
        let mut c = client(
            Ending::Exited {
                status: "was killed by SIGTERM".into(),
                code: None,
                stopped_at_end: true,
                timed_out: false,
                at_us: 2_000_400,
            },
            0,
        );
        c.external = Some(ExternalRun {
            command: vec!["python3".into(), "c.py".into()],
            started_us: -9_000,
            exited_us: Some(2_000_400),
            signals: vec![SignalSent {
                signal: "SIGTERM".into(),
                at_us: 2_000_100,
            }],
            stdout_tail: String::new(),
            stderr_tail: "Traceback\nConnectionResetError: [Errno 104]\u{1b}[0m\n".into(),
            said_read: false,
        });
        // The external strategy's own record: it explains itself.
        c.strategy = "external".into();
        let r = TrialRecord::assemble("s", 1, "original", "close", c, Default::default(), 9_000);
        assert_eq!(r.bytes_read, None, "what a program read is unknown");
        says(
            &r,
            &[
                "started at -9.00 ms, got SIGTERM at 2000.10 ms and was killed by SIGTERM at 2000.40 ms",
                "its last words: \"ConnectionResetError: [Errno 104]\\u{1b}[0m\"",
            ],
            &["it was killed", "\u{1b}"],
        );
        let table = trial_table(std::slice::from_ref(&r), Layout::default());
        assert!(
            table.contains("? unknown: zerowin cannot see what an external program read"),
            "{table}"
        );
    }

    #[test]
    fn the_star_is_explained_where_it_appears() {
        let mut r = observed(
            trial(failed("send", libc::ECONNRESET, 2_300), libc::EAGAIN),
            &[],
            0,
        );
        let o = r.observation.as_mut().unwrap();
        o.wire = None;
        o.counters.as_mut().unwrap().isolated = false;
        let t = trial_table(std::slice::from_ref(&r), Layout::default());
        assert!(t.contains("0*") && t.contains("* no capture:"), "{t}");
    }

    #[test]
    fn a_table_fits_the_terminal() {
        let r = trial(failed("send", libc::ECONNRESET, 2_300), libc::EAGAIN);
        let t = trial_table(std::slice::from_ref(&r), Layout { width: Some(80) });
        for line in t
            .lines()
            .filter(|l| !l.starts_with('?') && !l.starts_with('*'))
        {
            assert!(
                line.chars().count() <= 80,
                "{} columns: {line}",
                line.chars().count()
            );
        }
    }
}
