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

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use anyhow::{Result, bail};
use serde::Serialize;

use cause::{Cause, Finding};
use conn::Conn;
use link::{NotTcp, Packet};

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
    if p.src <= p.dst {
        (p.src, p.dst)
    } else {
        (p.dst, p.src)
    }
}

#[derive(Default)]
struct Tracker {
    live: HashMap<Key, Conn>,
    done: Vec<Diagnosed>,
    frames: Frames,
    /// The latest frame time so far.
    now_ns: u64,
}

impl Tracker {
    fn push(&mut self, p: &Packet) {
        let k = key(p);
        let mut incarnation = 1;
        if let Some(c) = self.live.get_mut(&k) {
            if !c.is_new_syn(p) {
                c.push(p);
                return;
            }
            let old = self.live.remove(&k).expect("present");
            incarnation = old.incarnation + 1;
            self.judge(old);
        }
        if self.live.len() >= LIVE_MAX {
            self.judge_oldest();
        }
        let mut c = Conn::new(p, incarnation);
        c.push(p);
        self.live.insert(k, c);
    }

    fn judge(&mut self, mut c: Conn) {
        c.finish(self.now_ns);
        let finding = cause::judge(&c);
        if self.done.len() < KEEP_MAX {
            self.done.push(Diagnosed { conn: c, finding });
        } else {
            *self.frames.not_kept.entry(finding.cause).or_default() += 1;
        }
    }

    /// Judges the least recently active half of the live connections.
    fn judge_oldest(&mut self) {
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
            self.frames.judged_early += 1;
            self.judge(c);
        }
    }

    fn finish(mut self) -> (Vec<Diagnosed>, Frames) {
        let live: Vec<Conn> = self.live.drain().map(|(_, c)| c).collect();
        for c in live {
            self.judge(c);
        }
        self.done.sort_by_key(|d| d.conn.first.number);
        (self.done, self.frames)
    }

    fn count(&mut self, e: NotTcp) {
        let f = &mut self.frames;
        match e {
            NotTcp::Other => f.other += 1,
            NotTcp::Cut => f.cut += 1,
            NotTcp::Fragment => f.fragments += 1,
            NotTcp::Link(n) => *f.unsupported_links.entry(n).or_default() += 1,
        }
    }
}

/// Reads `path` and judges every connection in it that `filter` keeps. An error in
/// the middle of the file ends the reading there: what came before is still judged
/// and `ended_early` says why. A file that gives no frame at all is an error.
pub fn diagnose(path: &Path, filter: &Filter) -> Result<Diagnosis> {
    let mut cap = read::Capture::open(path)?;
    let mut t = Tracker::default();
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
        t.frames.frames += 1;
        t.now_ns = t.now_ns.max(frame.t_ns);
        match link::packet(frame.link, frame.number, frame.t_ns, frame.data) {
            Ok(p) if filter.matches(&p) => {
                t.frames.tcp += 1;
                t.push(&p);
            }
            Ok(_) => {}
            Err(e) => t.count(e),
        }
    }
    if t.frames.frames == 0
        && let Some(e) = &ended_early
    {
        bail!("{}: {e}", path.display());
    }
    if t.frames.tcp == 0 && !t.frames.unsupported_links.is_empty() {
        let links: Vec<String> = t
            .frames
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
    let (connections, frames) = t.finish();
    Ok(Diagnosis {
        file: path.display().to_string(),
        frames,
        connections,
        ended_early,
    })
}
