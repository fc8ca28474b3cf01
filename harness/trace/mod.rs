//! Bring your own trace: any tcpdump or Wireshark capture in, every TCP connection
//! rebuilt, and why each one ended, with the packets that prove it.
//!
//! The flow is one way: [`read`] streams frames from the file, [`link`] turns each
//! into a TCP segment, [`conn`] rebuilds the connections, [`cause`] judges each one,
//! and the report (`report::diagnose`) prints what was found. Memory stays bounded
//! whatever the file's size: frames are read through a fixed buffer, at most
//! [`LIVE_MAX`] connections are followed at once (the least recently active are
//! judged early beyond that), and at most [`KEEP_MAX`] judged connections are kept
//! whole; past that only their count by cause is. A connection stays followed after
//! it closed, so a new SYN on its 4-tuple is counted as its next incarnation.

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
    sink: S,
    /// The latest frame time so far.
    now_ns: u64,
    /// Connections finished early because more than LIVE_MAX were open at once.
    pub judged_early: u64,
}

impl<S: Sink> Tracker<S> {
    pub fn new(sink: S) -> Tracker<S> {
        Tracker {
            live: HashMap::new(),
            sink,
            now_ns: 0,
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
        let k = key(p);
        let mut incarnation = 1;
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
        let mut c = Conn::new(p, incarnation);
        c.push(p);
        self.live.insert(k, c);
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

/// `diagnose`'s sink: each connection judged, kept whole up to [`KEEP_MAX`].
#[derive(Default)]
struct Judged {
    done: Vec<Diagnosed>,
    not_kept: BTreeMap<Cause, u64>,
}

impl Sink for Judged {
    fn take(&mut self, c: Conn) {
        let finding = cause::judge(&c);
        if self.done.len() < KEEP_MAX {
            self.done.push(Diagnosed { conn: c, finding });
        } else {
            *self.not_kept.entry(finding.cause).or_default() += 1;
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
    let mut cap = read::Capture::open(path)?;
    let mut t = Tracker::new(Judged::default());
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
    let mut judged = t.finish();
    judged.done.sort_by_key(|d| d.conn.first.number);
    frames.not_kept = judged.not_kept;
    Ok(Diagnosis {
        file: path.display().to_string(),
        frames,
        connections: judged.done,
        ended_early,
    })
}
