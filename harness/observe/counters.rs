//! The kernel's own TCP counters for a trial: deltas of /proc/net/netstat (TcpExt) and
//! /proc/net/snmp (Tcp) across the trial, read in the trial's namespace.

use std::collections::BTreeMap;

use crate::sys::netns;

pub use crate::record::observation::{ABORTS, Counters, Kernels, STORY};

impl Counters {
    /// Both kernels' counts added, as one kernel shared by both would have them.
    fn plus(&self, o: &Counters) -> Counters {
        let add = |a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>| {
            let mut m = a.clone();
            for (k, v) in b {
                *m.entry(k.clone()).or_insert(0) += v;
            }
            m
        };
        Counters {
            isolated: self.isolated && o.isolated,
            story: add(&self.story, &o.story),
            other: add(&self.other, &o.other),
        }
    }
}

/// The counters a record shows: with one kernel, its own; with two, their sum, and
/// each apart.
pub fn split(
    client: Option<Counters>,
    sender: Option<Counters>,
) -> (Option<Counters>, Option<Kernels>) {
    match (client, sender) {
        (Some(c), Some(s)) => (
            Some(c.plus(&s)),
            Some(Kernels {
                client: c,
                sender: s,
            }),
        ),
        (c, _) => (c, None),
    }
}

/// A snapshot to subtract from later.
pub struct Snapshot(BTreeMap<String, u64>);

pub fn snapshot() -> std::io::Result<Snapshot> {
    netns::tcp_counters().map(Snapshot)
}

impl Snapshot {
    /// The deltas from this snapshot to now.
    pub fn delta(&self, isolated: bool) -> std::io::Result<Counters> {
        Ok(diff(&self.0, &netns::tcp_counters()?, isolated))
    }
}

fn diff(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, isolated: bool) -> Counters {
    let mut story = BTreeMap::new();
    let mut other = BTreeMap::new();
    for (k, a) in after {
        let d = a.saturating_sub(before.get(k).copied().unwrap_or(0));
        if STORY.contains(&k.as_str()) {
            story.insert(k.clone(), d);
        } else if d > 0 && !k.starts_with("Tcp.") {
            other.insert(k.clone(), d);
        }
    }
    for k in STORY {
        story.entry(k.to_string()).or_insert(0);
    }
    Counters {
        isolated,
        story,
        other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_keep_the_story_and_what_moved() {
        let b: BTreeMap<String, u64> = [
            ("TCPAbortOnClose".into(), 5),
            ("DelayedACKs".into(), 1),
            ("X".into(), 3),
        ]
        .into();
        let a: BTreeMap<String, u64> = [
            ("TCPAbortOnClose".into(), 6),
            ("DelayedACKs".into(), 4),
            ("X".into(), 3),
        ]
        .into();
        let c = diff(&b, &a, true);
        assert_eq!(c.get("TCPAbortOnClose"), 1);
        assert_eq!(
            c.get("TCPToZeroWindowAdv"),
            0,
            "absent story counters read 0"
        );
        assert_eq!(c.other.get("DelayedACKs"), Some(&3));
        assert!(!c.other.contains_key("X"), "unmoved counters are left out");
        assert_eq!(c.aborts(), vec![("TCPAbortOnClose", 1)]);
    }
}
