//! The lines zerowin's own senders print on stdout, one each: `zerowin-port N` once
//! it listens; `zerowin-bind-error ERRNO` if it cannot; `zerowin-accepted` for each
//! connection (framed senders); `zerowin-summary key=value ...` when a connection
//! ends (the C sender's `report_summary`, the framed engine's `summary`);
//! `zerowin-progress ...` now and then (framed senders, so that a killed one's counts
//! are known); `zerowin-void A B` and `zerowin-committed A B` for sequences a spool
//! skipped as never accepted, and committed; `zerowin-outage NS REASON` when its
//! store goes out of reach and `zerowin-outage-end NS` when it is back. A sender that is not zerowin's own
//! prints none of these, and its handle does not read them.

use crate::record::{SenderMessages, SenderSummary, SpoolCounts};
use crate::sys::errno_name;

/// One line a sender printed.
/// One line a sender printed.
#[derive(Debug)]
pub enum Line {
    Port(u16),
    Accepted,
    Summary(Box<SenderSummary>),
    /// The counts, and when they were counted (CLOCK_MONOTONIC ns).
    Progress(Option<u64>, SenderMessages),
    Void(u64, u64),
    Committed(u64, u64),
    BindError(i32),
    Takeover(u64),
    /// The spool's store went out of reach (CLOCK_MONOTONIC ns), and why.
    Outage(u64, String),
    OutageEnd(u64),
}

impl Line {
    pub fn parse(line: &str) -> Option<Line> {
        if let Some(p) = line.strip_prefix("zerowin-port ") {
            return p.trim().parse().ok().map(Line::Port);
        }
        if let Some(e) = line.strip_prefix("zerowin-bind-error ") {
            return e.trim().parse().ok().map(Line::BindError);
        }
        if let Some(ns) = line.strip_prefix("zerowin-takeover ") {
            return ns.trim().parse().ok().map(Line::Takeover);
        }
        if let Some(rest) = line.strip_prefix("zerowin-outage ") {
            let (ns, why) = rest.split_once(' ').unwrap_or((rest, ""));
            return ns.parse().ok().map(|ns| Line::Outage(ns, why.to_string()));
        }
        if let Some(ns) = line.strip_prefix("zerowin-outage-end ") {
            return ns.trim().parse().ok().map(Line::OutageEnd);
        }
        if line == "zerowin-accepted" {
            return Some(Line::Accepted);
        }
        if let Some(rest) = line.strip_prefix("zerowin-progress ") {
            let t_ns = rest
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix("t_ns=")?.parse().ok());
            return SenderMessages::parse(rest).map(|m| Line::Progress(t_ns, m));
        }
        let range = |rest: &str| -> Option<(u64, u64)> {
            let (a, z) = rest.split_once(' ')?;
            Some((a.parse().ok()?, z.trim().parse().ok()?))
        };
        if let Some(rest) = line.strip_prefix("zerowin-void ") {
            return range(rest).map(|(a, z)| Line::Void(a, z));
        }
        if let Some(rest) = line.strip_prefix("zerowin-committed ") {
            return range(rest).map(|(a, z)| Line::Committed(a, z));
        }
        SenderSummary::parse(line).map(|s| Line::Summary(Box::new(s)))
    }
}

impl SenderSummary {
    /// Parses `zerowin-summary key=value ...`; None if the line is not a summary.
    pub fn parse(line: &str) -> Option<SenderSummary> {
        let rest = line.strip_prefix("zerowin-summary ")?;
        let mut s = SenderSummary {
            pid: 0,
            messages: 0,
            bytes: 0,
            partial: 0,
            errno: 0,
            errno_name: String::new(),
            sndbuf_effective: 0,
            fail_ns: 0,
            close_start_ns: 0,
            close_ns: 0,
            policy: String::new(),
            drained: 0,
            remedy: None,
            last_message_ns: None,
            socket: None,
        };
        for kv in rest.split_whitespace() {
            let (k, v) = kv.split_once('=')?;
            match k {
                "pid" => s.pid = v.parse().ok()?,
                "messages" => s.messages = v.parse().ok()?,
                "bytes" => s.bytes = v.parse().ok()?,
                "partial" => s.partial = v.parse().ok()?,
                "errno" => s.errno = v.parse().ok()?,
                "sndbuf" => s.sndbuf_effective = v.parse().ok()?,
                "fail_ns" => s.fail_ns = v.parse().ok()?,
                "close_start_ns" => s.close_start_ns = v.parse().ok()?,
                "close_ns" => s.close_ns = v.parse().ok()?,
                "policy" => s.policy = v.to_string(),
                "drained" => s.drained = v.parse().ok()?,
                "last_message_ns" => s.last_message_ns = v.parse().ok().filter(|n| *n > 0),
                "sockopts" => s.socket = serde_json::from_str(v).ok(),
                _ => {} // a remedy sender's counts, or newer keys
            }
        }
        s.errno_name = errno_name(s.errno);
        s.remedy = SenderMessages::parse(rest);
        Some(s)
    }
}

impl SenderMessages {
    /// Parses the counts of a summary or progress line (`key=value ...`).
    pub fn parse(rest: &str) -> Option<SenderMessages> {
        let mut m = SenderMessages::default();
        let mut sp = SpoolCounts::default();
        let mut has_spool = false;
        for kv in rest.split_whitespace() {
            let (k, v) = kv.split_once('=')?;
            let n = || v.parse::<u64>().ok();
            match k {
                "produced" => m.produced = n()?,
                "dropped" => m.dropped = n()?,
                "acked" => m.acked = n()?,
                "queue_peak" => m.queue_peak_bytes = n()?,
                "queued" => m.queued = n()?,
                "sent_first" => m.sent_first = n()?,
                "redelivered" => m.redelivered = n()?,
                "full" => m.full = n()?,
                "drained_ns" => m.drained_ns = Some(n()?),
                "phases_end_ns" => m.phases_end_ns = Some(n()?),
                "end" => m.end = v.parse().unwrap_or_default(),
                "accepted" => (sp.accepted, has_spool) = (n()?, true),
                "spool_messages" => sp.messages = n()?,
                "spool_bytes" => sp.bytes = n()?,
                "spool_peak_messages" => sp.peak_messages = n()?,
                "spool_peak_bytes" => sp.peak_bytes = n()?,
                "spool_disk_bytes" => sp.disk_bytes = n()?,
                "void" => sp.void = n()?,
                "syncs" => sp.syncs = n()?,
                _ => {} // the summary's own keys, or newer ones
            }
        }
        m.spool = has_spool.then_some(sp);
        rest.contains("produced=").then_some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_sender_summary_line() {
        let s = SenderSummary::parse(
            "zerowin-summary pid=42 messages=10 bytes=130 errno=11 sndbuf=8192 fail_ns=5 close_start_ns=6 close_ns=7 policy=close drained=0",
        )
        .unwrap();
        assert_eq!((s.pid, s.messages, s.bytes, s.errno), (42, 10, 130, 11));
        assert_eq!(s.errno_name, "EAGAIN");
        assert_eq!(
            (s.sndbuf_effective, s.fail_ns, s.close_start_ns, s.close_ns),
            (8192, 5, 6, 7)
        );
        assert_eq!(s.policy, "close");
        assert!(SenderSummary::parse("server: got connection").is_none());
        assert!(SenderSummary::parse("zerowin-summary messages=x").is_none());
    }
}
