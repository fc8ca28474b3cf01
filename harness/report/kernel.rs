//! The kernel's word in the report: each RST with its reason, state and process,
//! each socket's states, and which instruments saw the trial.

use crate::observe::Observation;
use crate::record::kernel::{KernelReset, KernelWord, Side, SocketStates};

/// Sockets whose states an explanation lists; the JSON has them all.
const SOCKETS_SHOWN: usize = 2;

fn ms(us: i64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

/// The reason without the kernel's `TCP_` prefix, for a table's narrow cell.
fn short(r: &KernelReset) -> &str {
    r.reason_name.strip_prefix("TCP_").unwrap_or(&r.reason_name)
}

/// The trial table's RST cell: each side's resets with their reasons
/// ("sender ABORT_ON_CLOSE", "client ABORT_ON_CLOSE ×3"); "none" when the kernel saw
/// none.
pub fn cell(k: &KernelWord) -> String {
    let mut parts: Vec<String> = Vec::new();
    for side in [Side::Sender, Side::Client] {
        let mut seen: Vec<(&str, usize)> = Vec::new();
        for r in k.resets_from(side) {
            match seen.iter_mut().find(|(n, _)| *n == short(r)) {
                Some((_, c)) => *c += 1,
                None => seen.push((short(r), 1)),
            }
        }
        for (name, n) in seen {
            parts.push(match n {
                1 => format!("{side} {name}"),
                n => format!("{side} {name} ×{n}"),
            });
        }
    }
    match parts.is_empty() {
        true => "none".into(),
        false => parts.join(", "),
    }
}

/// One reset, in words.
fn reset_line(r: &KernelReset) -> String {
    let task = match (r.in_softirq, r.tgid) {
        (true, _) => format!(
            "from an interrupt (a segment or a timer; {}-{} was on the CPU)",
            r.comm, r.pid
        ),
        (false, Some(t)) if t != r.pid => {
            format!("in process {} (pid {t}, thread {})", r.comm, r.pid)
        }
        (false, _) => format!("in process {} (pid {})", r.comm, r.pid),
    };
    let meaning = r
        .reason
        .map_or("a reason zerowin does not know", |x| x.meaning());
    let to = match r.from_listener() {
        true => format!("{}, its listening socket, to a segment's sender", r.src),
        false => format!("{} → {}", r.src, r.dest),
    };
    format!(
        "the {}'s kernel sent RST at {} ({to}), reason {}: {meaning}; state {}, {task}",
        r.side,
        ms(r.at_us),
        r.reason_name,
        r.state
    )
}

/// A socket's states: "client 127.0.0.1:55966: SYN_SENT 0.01 ms → ESTABLISHED ...".
fn states_line(s: &SocketStates) -> String {
    let path: Vec<String> = s
        .changes
        .iter()
        .map(|c| {
            let to = c.to.strip_prefix("TCP_").unwrap_or(&c.to);
            format!("{to} {}", ms(c.at_us))
        })
        .collect();
    format!("{} {}: {}", s.side, s.local, path.join(" → "))
}

/// The explanation's lines from the kernel's events.
pub fn evidence(k: &KernelWord) -> Vec<String> {
    let mut out = Vec::new();
    let mut resets: Vec<&KernelReset> = k.resets.iter().collect();
    resets.sort_by_key(|r| r.at_us);
    if resets.is_empty() {
        out.push("kernel events: neither side's kernel sent an RST".into());
    }
    out.extend(resets.iter().map(|r| reset_line(r)));
    let shown: Vec<String> = k
        .sockets
        .iter()
        .take(SOCKETS_SHOWN)
        .map(states_line)
        .collect();
    if !shown.is_empty() {
        let more = k.sockets.len().saturating_sub(SOCKETS_SHOWN);
        out.push(format!(
            "socket states (the kernel's): {}{}",
            shown.join("; "),
            match more {
                0 => String::new(),
                n => format!("; and {n} more socket(s) in the JSON"),
            }
        ));
    }
    let mut counts = Vec::new();
    if k.retransmits > 0 {
        counts.push(format!("{} retransmitted segment(s)", k.retransmits));
    }
    if k.rcvqueue_full > 0 {
        counts.push(format!("{} receive queue full event(s)", k.rcvqueue_full));
    }
    if let Some(p) = k.probes {
        counts.push(format!("{p} segment(s) seen by tcp_probe"));
    }
    if !counts.is_empty() {
        out.push(format!("kernel events: {}", counts.join(", ")));
    }
    if k.lost > 0 || k.unparsed > 0 {
        out.push(format!(
            "kernel events lost: {} (the ring buffer was full), {} line(s) that could not be read: the account above may miss them",
            k.lost, k.unparsed
        ));
    }
    out
}

/// Which instruments saw the trial: "instruments: kernel events, counters, TCP_INFO
/// samples; no packet capture".
pub fn instruments(o: &Observation) -> String {
    let mut on = Vec::new();
    let mut off = Vec::new();
    let mut put = |yes: bool, name: &'static str| match yes {
        true => on.push(name),
        false => off.push(name),
    };
    put(o.kernel.is_some(), "kernel events");
    put(o.counters.is_some() || o.kernels.is_some(), "counters");
    put(o.timeline.is_some(), "TCP_INFO samples");
    put(o.wire.is_some(), "packet capture");
    let mut s = format!("instruments: {}", on.join(", "));
    if !off.is_empty() {
        s.push_str(&format!("; not: {}", off.join(", ")));
    }
    s
}
