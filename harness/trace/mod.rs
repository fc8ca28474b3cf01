//! Bring your own trace: any tcpdump or Wireshark capture in, every TCP connection
//! rebuilt, and why each one ended, with the packets that prove it.
//!
//! The flow is one way: [`read`] streams frames from the file, [`link`] turns each
//! into a TCP segment, [`conn`] rebuilds the connections, [`cause`] judges each one,
//! and the report (`report::diagnose`) prints what was found. Memory stays bounded
//! whatever the file's size: frames are read through a fixed buffer; a connection
//! stays followed after it ended, so that a new SYN on its 4-tuple counts as its next
//! incarnation, until it has been quiet for [`QUIET_NS`] of the capture's time (the
//! tuple then keeps only its incarnation number); at most [`LIVE_MAX`] are followed at
//! once (the least recently active are judged early beyond that); and judged
//! connections are kept whole as [`Keep`] says (every one up to [`KEEP_MAX`], or only
//! what the text report shows), the others counted by cause.

pub mod cause;
pub mod conn;
pub mod link;
pub mod read;
pub mod series;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::record::observation::WireSeries;
use cause::{Cause, Finding};
use conn::Conn;
use link::{NotTcp, Packet};
use series::Follow;

/// Connections followed at once.
pub const LIVE_MAX: usize = 50_000;
/// Judged connections kept whole.
pub const KEEP_MAX: usize = 50_000;
/// A connection that ended (an RST, or a FIN each way) and has been silent this long
/// in the capture's own time is finished at once: Linux's TIME_WAIT lasts 60 s, after
/// which the 4-tuple is free. Until then a new SYN on it is its next incarnation.
pub const QUIET_NS: u64 = 60_000_000_000;
/// Packets between two sweeps for quiet connections, at the least (a sweep looks at
/// every live connection, so the gap grows with them).
const SWEEP_EVERY: u64 = 8192;

/// A connection and how it ended.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosed {
    #[serde(flatten)]
    pub conn: Conn,
    pub finding: Finding,
}

/// Which connections to keep: those with an endpoint matching every given part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub host: Option<IpAddr>,
    pub port: Option<u16>,
}

impl Filter {
    /// "10.0.0.1", "8000", "10.0.0.1:8000" or "[::1]:8000".
    pub fn parse(s: &str) -> Result<Filter, String> {
        if let Ok(port) = s.parse::<u16>() {
            return Ok(Filter {
                host: None,
                port: Some(port),
            });
        }
        if let Ok(host) = s.parse::<IpAddr>() {
            return Ok(Filter {
                host: Some(host),
                port: None,
            });
        }
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(Filter {
                host: Some(a.ip()),
                port: Some(a.port()),
            });
        }
        Err(format!("{s:?} is not a host, a port, or host:port"))
    }

    fn matches_addr(&self, a: &SocketAddr) -> bool {
        self.host.is_none_or(|h| h == a.ip()) && self.port.is_none_or(|p| p == a.port())
    }

    fn matches(&self, p: &Packet) -> bool {
        self.matches_addr(&p.src) || self.matches_addr(&p.dst)
    }
}

/// What the frames were.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Frames {
    pub frames: u64,
    pub tcp: u64,
    pub other: u64,
    /// TCP frames whose headers the snap length cut.
    pub cut: u64,
    pub fragments: u64,
    /// Frames of link types zerowin does not decode, by link type number.
    pub unsupported_links: BTreeMap<u32, u64>,
    /// Connections judged early because more than LIVE_MAX were open at once.
    pub judged_early: u64,
    /// Judged connections not kept whole (past KEEP_MAX), by cause.
    pub not_kept: BTreeMap<Cause, u64>,
}

/// Everything `diagnose` found in one capture.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub file: String,
    pub frames: Frames,
    pub connections: Vec<Diagnosed>,
    /// The error that ended the file early, if one did: what came before it stands.
    pub ended_early: Option<String>,
}

impl Diagnosis {
    /// Every connection found, kept whole or only counted, by cause.
    pub fn by_cause(&self) -> BTreeMap<Cause, u64> {
        let mut counts = self.frames.not_kept.clone();
        for d in &self.connections {
            *counts.entry(d.finding.cause).or_default() += 1;
        }
        counts
    }

    /// Every connection found.
    pub fn total(&self) -> u64 {
        self.by_cause().values().sum()
    }

    /// The abnormal connections found.
    pub fn abnormal(&self) -> u64 {
        let counts = self.by_cause();
        counts
            .iter()
            .filter(|(c, _)| c.abnormal())
            .map(|(_, n)| n)
            .sum()
    }
}

type Key = (SocketAddr, SocketAddr);

fn key(p: &Packet) -> Key {
    key_of(p.src, p.dst)
}

fn key_of(x: SocketAddr, y: SocketAddr) -> Key {
    if x <= y { (x, y) } else { (y, x) }
}

/// Where a connection goes once it is finished: judged by `diagnose`, or summed
/// into a trial's record (`observe::wire`).
pub trait Sink {
    fn take(&mut self, c: Conn);
}

/// The connection table: every packet to its connection, by 4-tuple and
/// incarnation, with at most [`LIVE_MAX`] followed at once. A connection is handed
/// to the sink, finished, when a new SYN replaces it on its tuple, when it is judged
/// early, or at the end.
pub struct Tracker<S: Sink> {
    live: HashMap<Key, Conn>,
    /// The 4-tuples of quiet connections finished by a sweep, with their incarnation,
    /// so that a later SYN on one still counts as the next (at most LIVE_MAX; past
    /// that the list starts again, and so do the incarnations it held).
    finished: HashMap<Key, u32>,
    sink: S,
    /// The latest frame time so far.
    now_ns: u64,
    /// Connections made so far: the next one's number is this + 1.
    made: u64,
    packets: u64,
    next_sweep: u64,
    /// Connections finished early because more than LIVE_MAX were open at once.
    pub judged_early: u64,
}

impl<S: Sink> Tracker<S> {
    pub fn new(sink: S) -> Tracker<S> {
        Tracker {
            live: HashMap::new(),
            finished: HashMap::new(),
            sink,
            now_ns: 0,
            made: 0,
            packets: 0,
            next_sweep: SWEEP_EVERY,
            judged_early: 0,
        }
    }

    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// The capture's clock moved to `t_ns` (a frame, TCP or not).
    pub fn saw(&mut self, t_ns: u64) {
        self.now_ns = self.now_ns.max(t_ns);
    }

    pub fn push(&mut self, p: &Packet) {
        self.saw(p.t_ns);
        self.packets += 1;
        if self.packets >= self.next_sweep {
            self.sweep();
        }
        let k = key(p);
        let mut incarnation = self.finished.remove(&k).map_or(1, |n| n + 1);
        if let Some(c) = self.live.get_mut(&k) {
            if !c.is_new_syn(p) {
                c.push(p);
                return;
            }
            let old = self.live.remove(&k).expect("present");
            incarnation = old.incarnation + 1;
            self.hand_over(old);
        }
        if self.live.len() >= LIVE_MAX {
            self.finish_oldest();
        }
        self.made += 1;
        let mut c = Conn::new(p, self.made, incarnation);
        c.push(p);
        self.live.insert(k, c);
    }

    /// Finishes the connections that ended and have been quiet for [`QUIET_NS`].
    fn sweep(&mut self) {
        let now = self.now_ns;
        let quiet: Vec<Key> = self
            .live
            .iter()
            .filter(|(_, c)| c.ended() && now.saturating_sub(c.last.t_ns) >= QUIET_NS)
            .map(|(k, _)| *k)
            .collect();
        for k in quiet {
            let c = self.live.remove(&k).expect("present");
            if self.finished.len() >= LIVE_MAX {
                self.finished.clear();
            }
            self.finished.insert(k, c.incarnation);
            self.hand_over(c);
        }
        self.next_sweep = self.packets + SWEEP_EVERY.max(self.live.len() as u64);
    }

    fn hand_over(&mut self, mut c: Conn) {
        c.finish(self.now_ns);
        self.sink.take(c);
    }

    /// Finishes the least recently active half of the live connections.
    fn finish_oldest(&mut self) {
        let mut lasts: Vec<u64> = self.live.values().map(|c| c.last.number).collect();
        let mid = lasts.len() / 2;
        let (_, cut, _) = lasts.select_nth_unstable(mid);
        let cut = *cut;
        let old: Vec<Key> = self
            .live
            .iter()
            .filter(|(_, c)| c.last.number <= cut)
            .map(|(k, _)| *k)
            .collect();
        for k in old {
            let c = self.live.remove(&k).expect("present");
            self.judged_early += 1;
            self.hand_over(c);
        }
    }

    /// Hands every live connection over, in the order they began, and returns the sink.
    pub fn finish(mut self) -> S {
        let mut live: Vec<Conn> = self.live.drain().map(|(_, c)| c).collect();
        live.sort_by_key(|c| c.first.number);
        for c in live {
            self.hand_over(c);
        }
        self.sink
    }
}

/// Which judged connections `diagnose` keeps whole; the others are counted by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Every one, up to [`KEEP_MAX`] (the lowest numbers): for `--export-json` and
    /// `--html`.
    All,
    /// What the text report shows: the first `table` connections (its table, when
    /// there are no more than that) and the first `explained` abnormal ones (its
    /// stories), by their numbers. Memory then stays flat whatever the capture holds.
    Report { table: usize, explained: usize },
}

/// `diagnose`'s sink: each connection judged, and kept as [`Keep`] says.
struct Judged {
    /// How many of the lowest numbers are kept, and how many abnormal ones beside them.
    table: usize,
    explained: usize,
    /// Kept whole, by number.
    first: BTreeMap<u64, Diagnosed>,
    /// Abnormal ones kept beside `first` (with [`Keep::Report`]), by number.
    abnormal: BTreeMap<u64, Diagnosed>,
    not_kept: BTreeMap<Cause, u64>,
}

impl Judged {
    fn new(keep: Keep) -> Judged {
        let (table, explained) = match keep {
            Keep::All => (KEEP_MAX, 0),
            Keep::Report { table, explained } => (table, explained),
        };
        Judged {
            table,
            explained,
            first: BTreeMap::new(),
            abnormal: BTreeMap::new(),
            not_kept: BTreeMap::new(),
        }
    }

    /// Keeps `d` in `map` if it is among the `most` lowest numbers; returns the one
    /// that no longer fits, if any.
    fn bounded(map: &mut BTreeMap<u64, Diagnosed>, most: usize, d: Diagnosed) -> Option<Diagnosed> {
        map.insert(d.conn.number, d);
        (map.len() > most).then(|| map.pop_last().expect("over the bound").1)
    }

    fn drop_one(&mut self, d: &Diagnosed) {
        *self.not_kept.entry(d.finding.cause).or_default() += 1;
    }

    /// Everything kept, by number.
    fn into_kept(mut self) -> (Vec<Diagnosed>, BTreeMap<Cause, u64>) {
        self.first.append(&mut self.abnormal);
        (self.first.into_values().collect(), self.not_kept)
    }
}

impl Sink for Judged {
    fn take(&mut self, c: Conn) {
        let finding = cause::judge(&c);
        let d = Diagnosed { conn: c, finding };
        let Some(out) = Self::bounded(&mut self.first, self.table, d) else {
            return;
        };
        if !out.finding.cause.abnormal() {
            return self.drop_one(&out);
        }
        if let Some(out) = Self::bounded(&mut self.abnormal, self.explained, out) {
            self.drop_one(&out);
        }
    }
}

impl Frames {
    fn count(&mut self, e: NotTcp) {
        match e {
            NotTcp::Other => self.other += 1,
            NotTcp::Cut => self.cut += 1,
            NotTcp::Fragment => self.fragments += 1,
            NotTcp::Link(n) => *self.unsupported_links.entry(n).or_default() += 1,
        }
    }
}

/// The plot's series of each of `conns` (connections of `path`), from a second
/// read of the file: each connection's busier side is its data side. The first read
/// already said whether and where the file ends early; this one stops there.
pub fn series_of(path: &Path, conns: &[&Conn]) -> Result<Vec<(WireSeries, bool)>> {
    let mut cap = read::Capture::open(path)?;
    let mut follows: Vec<Follow> = conns.iter().map(|_| Follow::without_syn()).collect();
    let data: Vec<SocketAddr> = conns.iter().map(|c| c.addr(c.busier_side())).collect();
    let keys: Vec<Key> = conns.iter().map(|c| key_of(c.a, c.b)).collect();
    while let Some(Ok(frame)) = cap.next_frame() {
        let Ok(p) = link::packet(frame.link, frame.number, frame.t_ns, frame.data) else {
            continue;
        };
        let k = key(&p);
        for (i, c) in conns.iter().enumerate() {
            if keys[i] == k && (c.first.number..=c.last.number).contains(&p.number) {
                follows[i].push(&p, p.src == data[i]);
            }
        }
    }
    Ok(follows
        .into_iter()
        .map(|f| {
            let unscaled = f.unscaled;
            (f.finish(), unscaled)
        })
        .collect())
}

/// Reads `path` and judges every connection in it that `filter` keeps. An error in
/// the middle of the file ends the reading there: what came before is still judged
/// and `ended_early` says why. A file that gives no frame at all is an error.
pub fn diagnose(path: &Path, filter: &Filter) -> Result<Diagnosis> {
    diagnose_keeping(path, filter, Keep::All)
}

/// [`diagnose`], keeping whole only the connections `keep` says.
pub fn diagnose_keeping(path: &Path, filter: &Filter, keep: Keep) -> Result<Diagnosis> {
    let mut cap = read::Capture::open(path)?;
    let mut t = Tracker::new(Judged::new(keep));
    let mut frames = Frames::default();
    let mut ended_early = None;
    loop {
        let frame = match cap.next_frame() {
            None => break,
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                ended_early = Some(format!("{e:#}"));
                break;
            }
        };
        frames.frames += 1;
        t.saw(frame.t_ns);
        match link::packet(frame.link, frame.number, frame.t_ns, frame.data) {
            Ok(p) if filter.matches(&p) => {
                frames.tcp += 1;
                t.push(&p);
            }
            Ok(_) => {}
            Err(e) => frames.count(e),
        }
    }
    if frames.frames == 0
        && let Some(e) = &ended_early
    {
        bail!("{}: {e}", path.display());
    }
    if frames.tcp == 0 && !frames.unsupported_links.is_empty() {
        let links: Vec<String> = frames
            .unsupported_links
            .keys()
            .map(|n| n.to_string())
            .collect();
        bail!(
            "{}: link type {} is not one zerowin reads (Ethernet, Linux cooked v1/v2, raw IP, BSD loopback)",
            path.display(),
            links.join(", ")
        );
    }
    frames.judged_early = t.judged_early;
    let (connections, not_kept) = t.finish().into_kept();
    frames.not_kept = not_kept;
    Ok(Diagnosis {
        file: path.display().to_string(),
        frames,
        connections,
        ended_early,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use link::Flags;

    impl Sink for Vec<Conn> {
        fn take(&mut self, c: Conn) {
            self.push(c);
        }
    }

    fn packet(t_s: u64, port: u16, syn: bool, rst: bool) -> Packet {
        Packet {
            number: 0,
            t_ns: t_s * 1_000_000_000,
            src: format!("127.0.0.1:{port}").parse().unwrap(),
            dst: "127.0.0.1:80".parse().unwrap(),
            seq: 1000,
            ack: 0,
            window: 100,
            payload: 0,
            flags: Flags {
                syn,
                rst,
                ..Flags::default()
            },
            wscale: None,
            ttl: 64,
            ip_id: None,
        }
    }

    #[test]
    fn a_quiet_ended_connection_is_finished_before_the_end() {
        let mut t = Tracker::new(Vec::new());
        t.push(&packet(0, 1, true, false));
        t.push(&packet(0, 1, false, true)); // ended: an RST
        t.push(&packet(0, 2, true, false)); // open, never ended
        for _ in 0..SWEEP_EVERY {
            t.push(&packet(61, 3, false, false));
        }
        assert_eq!(t.sink_mut().len(), 1, "the quiet ended one was finished");
        assert_eq!(t.sink_mut()[0].a.port(), 1);
        t.push(&packet(62, 1, true, false));
        let done = t.finish();
        let again = done
            .iter()
            .find(|c| c.a.port() == 1 && c.number == 4)
            .unwrap();
        assert_eq!(again.incarnation, 2, "the tuple kept its count");
        assert_eq!(done.len(), 4);
    }
}
