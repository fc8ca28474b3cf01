//! `spool`: remedies 2 and 3 of the 2014 post: "writing the overflowed data to a
//! durable queue or the file system" and, "when the client comes back, delivering the
//! pending messages automatically, in FIFO order".
//!
//! Like `patient` (the engine in [`super::framed`]), plus a durable queue in
//! `spool_dir` ([`crate::store`]) for what overflows the memory queue:
//! - while the client keeps up, messages go from memory to the socket and the disk is
//!   not touched (but for one tiny commit per 65,536 sequence numbers reserved);
//! - a message counts as accepted once a commit holds it, and is deleted only after
//!   the client's acknowledgement covers it; until then a reconnecting client gets it
//!   again, from the sequence its hello asks for, in order;
//! - with no client, it keeps accepting into the spool up to `spool_max_bytes`;
//!   beyond that `on_full` applies: `block` or `close`. `drop-oldest` is refused: it
//!   would delete messages the spool has accepted;
//! - killed and restarted on the same `spool_dir`, it numbers after what it reserved
//!   and delivers everything unacknowledged again. What was only in its memory died
//!   with it: those numbers are reported void when skipped, never reused.
//!
//! Without `spool_dir` in a scenario, each trial gets a fresh directory of its own,
//! removed after the trial. `zerowin serve --sender spool` needs one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};

use super::framed::backlog::SpoolConfig;
use super::framed::{self, Common, Engine, OnFull};
use super::{Sender, SenderSetup};
use crate::limits::{self, Dur};
use crate::settings::{Keys, ScenarioError};
use crate::store::{self, StoreSpec};

pub struct Spool;

const SPOOL_KEYS: &[(&str, &str)] = &[
    (
        "store",
        "the storage backend: redb or jetstream (redb); each has keys of its own below",
    ),
    (
        "spool_dir",
        "directory of the durable queue (a fresh one per trial)",
    ),
    (
        "spool_max_bytes",
        "the most the spool holds, bytes of messages (16 + payload each; the file on disk is about twice that); then on_full (536870912: about 1 GiB of file)",
    ),
    (
        "fsync_interval",
        "commit at most this often (redb: fsync batch and never; jetstream: each publish batch) (10ms)",
    ),
];

const INTERVAL: Dur = Dur::new(Duration::ZERO, Duration::from_secs(10));

/// The spool's own settings.
#[derive(Debug, Clone)]
struct Settings {
    store: Arc<dyn StoreSpec>,
    dir: Option<PathBuf>,
    max_bytes: u64,
    interval: Duration,
}

impl PartialEq for Settings {
    fn eq(&self, o: &Settings) -> bool {
        *self.store == *o.store
            && (&self.dir, self.max_bytes, self.interval) == (&o.dir, o.max_bytes, o.interval)
    }
}

impl Settings {
    fn read(keys: &mut Keys, on_full: OnFull) -> Result<Settings, ScenarioError> {
        if on_full == OnFull::DropOldest {
            return Err(keys.invalid(
                "on_full",
                "the spool keeps what it accepted: drop-oldest would delete accepted messages; use block or close",
            ));
        }
        Ok(Settings {
            store: store::read_spec(keys)?,
            dir: keys.string("spool_dir")?.map(PathBuf::from),
            max_bytes: keys
                .int("spool_max_bytes", limits::SPOOL_BYTES)?
                // redb's file measured 1.99 times what it held at 13-byte payloads
                // (docs/outputs.md): 512 MiB held is about 1 GiB of file.
                .unwrap_or(1 << 29) as u64,
            interval: keys
                .duration("fsync_interval", INTERVAL)?
                .unwrap_or(Duration::from_millis(10)),
        })
    }

    fn to_pairs(&self) -> Vec<String> {
        let mut v = self.store.to_pairs();
        v.extend([
            format!("spool_max_bytes={}", self.max_bytes),
            format!(
                "fsync_interval={}",
                humantime::format_duration(self.interval)
            ),
        ]);
        if let Some(d) = &self.dir {
            v.push(format!("spool_dir={}", d.display()));
        }
        v
    }
}

impl Sender for Spool {
    fn name(&self) -> &'static str {
        "spool"
    }

    fn summary(&self) -> &'static str {
        "remedies 2+3: patient, plus a durable queue (redb, or NATS JetStream) for the overflow, replayed from the client's hello (framed)"
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        Common::keys()
            .into_iter()
            .chain(SPOOL_KEYS.iter().copied())
            .chain(store::all_keys())
            .collect()
    }

    fn has_spool(&self) -> bool {
        true
    }

    fn framed(&self) -> bool {
        true
    }

    fn configure(&self, keys: &mut Keys) -> Result<SenderSetup, ScenarioError> {
        let c = Common::read(keys)?;
        let s = Settings::read(keys, c.on_full)?;
        Ok(SenderSetup {
            args: c.serve_args("spool", s.to_pairs()),
            describe: format!(
                "spool (memory {} B, spool up to {} B on {}, commits every {:?}, on_full {}); sndbuf {}; {}",
                c.queue_bytes,
                s.max_bytes,
                s.store.describe(),
                s.interval,
                c.on_full.as_str(),
                c.sndbuf.map_or("default".into(), |b| b.to_string()),
                c.pace.text()
            ),
            policy: format!("spool/{}", c.on_full.as_str()),
            own: Default::default(),
            wants_broker: s.store.wants_broker(),
            // A call to the store may be under way when the client goes: a publish's
            // acknowledgement, then one more request, each bounded by its timeout.
            summary_wait: super::SUMMARY_WAIT + 2 * s.store.longest_call(),
            scratch_dir: s.dir.is_none().then_some("spool_dir"),
            pace: Some(c.pace.clone()),
            // Each message in the spool: sequence, stamp and payload.
            store_messages: Some(
                s.max_bytes / (16 + crate::protocol::DEFAULT_PAYLOAD.len() as u64),
            ),
            load: super::Load::NotModelled(
                "the spool sender keeps its overflow on disk, so the client's speed sets the spool's depth, not a reset",
            ),
        })
    }

    fn explain(&self, _r: &crate::record::TrialRecord, s: &crate::record::SenderSummary) -> String {
        framed::explain(s)
    }

    fn table_cell(
        &self,
        _r: &crate::record::TrialRecord,
        s: &crate::record::SenderSummary,
    ) -> String {
        framed::table_cell(s)
    }

    fn serve(&self, port: u16, bind: &str, set: &[String]) -> Result<i32> {
        let mut keys = Keys::from_pairs(std::path::Path::new("--set"), "sender", set)?;
        let c = Common::read(&mut keys)?;
        let s = Settings::read(&mut keys, c.on_full)?;
        keys.finish("sender `spool`", &self.key_names())?;
        if s.dir.is_none() && s.store.needs_dir() {
            bail!(
                "--set spool_dir=DIR is required to serve the spool sender on {}",
                s.store.backend().name()
            );
        }
        let spool = SpoolConfig {
            store: s.store,
            dir: s.dir,
            max_bytes: s.max_bytes,
            interval: s.interval,
        };
        framed::serve(Engine::new("spool", c, Some(spool))?, port, bind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_settings_survive_serve_arguments_and_refuse_drop_oldest() {
        let s = Settings {
            store: Arc::new(store::redb::RedbSpec {
                fsync: store::Fsync::Never,
            }),
            dir: Some(PathBuf::from("/tmp/x")),
            max_bytes: 1 << 20,
            interval: Duration::from_millis(5),
        };
        let pairs = s.to_pairs();
        let mut keys = Keys::from_pairs(std::path::Path::new("--set"), "sender", &pairs).unwrap();
        assert_eq!(Settings::read(&mut keys, OnFull::Block).unwrap(), s);
        let mut keys = Keys::from_pairs(std::path::Path::new("--set"), "sender", &[]).unwrap();
        let e = Settings::read(&mut keys, OnFull::DropOldest).unwrap_err();
        assert!(e.to_string().contains("drop-oldest"), "{e}");
        let pairs = ["store=sqlite".to_string()];
        let mut keys = Keys::from_pairs(std::path::Path::new("--set"), "sender", &pairs).unwrap();
        let e = Settings::read(&mut keys, OnFull::Block).unwrap_err();
        assert!(
            e.to_string()
                .contains("sender.store: unknown store `sqlite`; expected one of redb, jetstream"),
            "{e}"
        );
    }
}
