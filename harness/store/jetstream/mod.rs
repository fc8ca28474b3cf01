//! The spool on NATS JetStream: a stream of the spool's messages, on one broker node
//! or replicated over three (Raft), for a sender whose own disk or machine may fail.
//!
//! How the [`Store`](super::Store) maps onto JetStream ([`store`]):
//! - appending is publishing to the stream's subject, each message with its sequence
//!   as `Nats-Msg-Id` (the broker drops a retried one it already holds, within the
//!   duplicate window) and `Nats-Expected-Last-Sequence` (the broker refuses a message
//!   that would not come right after the one before it). Publishes go out pipelined, at
//!   most [`store::WINDOW`] unacknowledged at a time; a message is *accepted* when
//!   the broker acknowledges it, which with `replicas = 3` means a quorum holds it.
//!   Because each publish names the stream sequence it follows, what is acknowledged
//!   is always a prefix of what was sent, in order, and a retry after a lost
//!   acknowledgement can never store a message twice or out of order;
//! - reading from a sequence on is an ephemeral pull consumer from the stream
//!   sequence that holds it (found by the runs this sender appended, or by a binary
//!   search over the messages a killed one left);
//! - forgetting what the client acknowledged is a purge up to that stream sequence;
//! - the reserved numbers (and the acknowledged one) live in a second stream, one
//!   message per subject: what a key-value bucket is. (async-nats 0.52's key-value
//!   API could not read nats-server 2.9's reply to creating a bucket, seen here;
//!   this is the same thing by hand.) Its writes name the last one too, so a second
//!   sender on the same stream is refused, as redb refuses a second sender by its
//!   file lock.
//!
//! The async client runs in a small runtime of its own (one worker thread), and the
//! sender's loop stays synchronous: each call blocks for at most `publish_timeout`.
//! A broker that does not answer in time (no quorum, a partition, every node down)
//! is an *outage*, not an error: the commit takes what was acknowledged, the store
//! says why it takes nothing more, and it tries again every [`store::RETRY`].

mod nats;
pub mod store;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::{Backend, Depth, Inspected, Store, StoreSpec};
use crate::limits::Dur;
use crate::settings::{Keys, ScenarioError};

pub use nats::{Names, connect, stream_leader, wait_ready};

#[derive(Debug)]
pub struct JetStream;

const KEYS: &[(&str, &str)] = &[
    (
        "nats_url",
        "jetstream: the NATS servers, comma-separated (a scenario's [broker] fills it in)",
    ),
    (
        "stream",
        "jetstream: the stream's name (zerowin-HASH of spool_dir; zerowin-spool without one)",
    ),
    ("replicas", "jetstream: copies of each message, 1 or 3 (1)"),
    (
        "publish_timeout",
        "jetstream: how long the broker may take to acknowledge, before it counts as out of reach (2s)",
    ),
];

const TIMEOUT: Dur = Dur::new(Duration::from_millis(10), Duration::from_secs(60));

/// The note a JetStream spool leaves in its spool directory, for `spool inspect`.
const NOTE: &str = "jetstream.json";

/// Where a JetStream spool is, and how it publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JetSpec {
    /// The servers; empty until a scenario's broker fills them in.
    pub urls: Vec<String>,
    pub stream: Option<String>,
    pub replicas: usize,
    pub publish_timeout: Duration,
}

/// What [`NOTE`] holds.
#[derive(Debug, Serialize, Deserialize)]
struct Note {
    nats_url: Vec<String>,
    stream: String,
}

fn read_urls(keys: &mut Keys) -> Result<Vec<String>, ScenarioError> {
    let Some(text) = keys.string("nats_url")? else {
        return Ok(Vec::new());
    };
    let urls: Vec<String> = text.split(',').map(|u| u.trim().to_string()).collect();
    for u in &urls {
        nats::parse_url(u).map_err(|m| keys.invalid("nats_url", m))?;
    }
    Ok(urls)
}

impl Backend for JetStream {
    fn name(&self) -> &'static str {
        "jetstream"
    }

    fn keys(&self) -> &'static [(&'static str, &'static str)] {
        KEYS
    }

    fn read(&self, keys: &mut Keys) -> Result<Arc<dyn StoreSpec>, ScenarioError> {
        let urls = read_urls(keys)?;
        let stream = keys.string("stream")?;
        if let Some(s) = &stream {
            nats::check_name(s).map_err(|m| keys.invalid("stream", m))?;
        }
        let replicas = match keys.int("replicas", crate::limits::Int::new(1, 3))? {
            None | Some(1) => 1,
            Some(3) => 3,
            Some(n) => return Err(keys.invalid("replicas", format!("is {n}; expected 1 or 3"))),
        };
        let publish_timeout = keys
            .duration("publish_timeout", TIMEOUT)?
            .unwrap_or(Duration::from_secs(2));
        Ok(Arc::new(JetSpec {
            urls,
            stream,
            replicas,
            publish_timeout,
        }))
    }

    fn holds(&self, dir: &Path) -> bool {
        std::fs::symlink_metadata(dir.join(NOTE)).is_ok()
    }

    fn inspect(&self, dir: &Path) -> Result<(Depth, u64, Inspected)> {
        let file = dir.join(NOTE);
        let text = read_note(&file)?;
        let note: Note = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a JetStream spool's note", file.display()))?;
        let (depth, bytes) = store::inspect(&note.nats_url, &note.stream)?;
        Ok((depth, bytes, Inspected::FromBroker))
    }
}

impl JetSpec {
    /// The stream's name: the `stream` key, else one derived from the spool directory
    /// (each trial has its own), else `zerowin-spool`.
    pub fn stream_name(&self, dir: Option<&Path>) -> String {
        if let Some(s) = &self.stream {
            return s.clone();
        }
        match dir {
            Some(d) => format!("zerowin-{:016x}", nats::fnv(d.to_string_lossy().as_bytes())),
            None => "zerowin-spool".into(),
        }
    }
}

/// Leaves the note of where the spool is, never through a symlink.
fn write_note(dir: &Path, urls: &[String], stream: &str) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create the spool directory", dir.display()))?;
    let note = Note {
        nats_url: urls.to_vec(),
        stream: stream.to_string(),
    };
    let text = serde_json::to_string_pretty(&note)?;
    let file = dir.join(NOTE);
    let mut f = no_follow(&file, true)?;
    std::io::Write::write_all(&mut f, text.as_bytes())
        .with_context(|| format!("{}: cannot write", file.display()))
}

/// Opens the note never through a symlink (it would write outside the spool
/// directory, or read what is not a note).
fn no_follow(file: &Path, write: bool) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(!write)
        .write(write)
        .create(write)
        .truncate(write)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(file)
        .with_context(|| {
            format!(
                "{}: cannot open (a symlink is never followed)",
                file.display()
            )
        })
}

/// The note's text: a few hundred bytes; anything past 64 KiB is not a note.
fn read_note(file: &Path) -> Result<String> {
    use std::io::Read;
    let mut text = String::new();
    no_follow(file, false)?
        .take(64 * 1024)
        .read_to_string(&mut text)
        .with_context(|| format!("{}: cannot read", file.display()))?;
    Ok(text)
}

impl StoreSpec for JetSpec {
    fn backend(&self) -> &'static dyn Backend {
        &JetStream
    }

    fn to_pairs(&self) -> Vec<String> {
        let mut v = vec![
            "store=jetstream".to_string(),
            format!("replicas={}", self.replicas),
            format!(
                "publish_timeout={}",
                humantime::format_duration(self.publish_timeout)
            ),
        ];
        if !self.urls.is_empty() {
            v.push(format!("nats_url={}", self.urls.join(",")));
        }
        if let Some(s) = &self.stream {
            v.push(format!("stream={s}"));
        }
        v
    }

    fn describe(&self) -> String {
        format!("JetStream R{}", self.replicas)
    }

    fn open(&self, dir: Option<&Path>) -> Result<Box<dyn Store>> {
        if self.urls.is_empty() {
            bail!(
                "store = jetstream needs nats_url (--set nats_url=nats://HOST:PORT, or a [broker] table in a scenario)"
            );
        }
        let stream = self.stream_name(dir);
        if let Some(d) = dir {
            write_note(d, &self.urls, &stream)?;
        }
        Ok(Box::new(store::JetStore::open(self, &stream)?))
    }

    fn needs_dir(&self) -> bool {
        false
    }

    fn wants_broker(&self) -> bool {
        self.urls.is_empty()
    }

    fn longest_call(&self) -> Duration {
        self.publish_timeout
    }
}
