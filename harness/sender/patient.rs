//! `patient`: remedy 1 of the 2014 post, "a way to handle the buffer overflow when the
//! client is very slow". The same job as the original (produce messages, send them as
//! fast as the client takes them), minus the mistakes that turned a slow client into
//! an RST; the engine in [`super::framed`] says which.
//!
//! What it cannot do is keep what it sent: a message in the kernel's buffers when the
//! connection dies is gone, and a reconnecting client sees the gap. The `spool`
//! sender (remedies 2 and 3) is the one that keeps messages until acknowledged. Nor
//! does it remember anything across a restart: a client that asks a restarted patient
//! sender for message N > 1 is refused (`end=client-ahead`).

use anyhow::Result;

use super::framed::{self, Common, Engine};
use super::{Sender, SenderSetup};
use crate::settings::{Keys, ScenarioError};

pub struct Patient;

impl Sender for Patient {
    fn name(&self) -> &'static str {
        "patient"
    }

    fn summary(&self) -> &'static str {
        "remedy 1: waits with poll() on EAGAIN, reads acks, bounded memory queue, clean close (framed)"
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        Common::keys()
    }

    fn framed(&self) -> bool {
        true
    }

    fn configure(&self, keys: &mut Keys) -> Result<SenderSetup, ScenarioError> {
        let s = Common::read(keys)?;
        Ok(SenderSetup {
            args: s.serve_args("patient", vec![]),
            describe: format!(
                "patient (queue {} B, on_full {}, stall {:?}); sndbuf {}; {}",
                s.queue_bytes,
                s.on_full.as_str(),
                s.stall_timeout,
                s.sndbuf.map_or("default".into(), |b| b.to_string()),
                s.pace.text()
            ),
            policy: format!("patient/{}", s.on_full.as_str()),
            own: Default::default(),
            wants_broker: false,
            summary_wait: super::SUMMARY_WAIT,
            scratch_dir: None,
            pace: Some(s.pace.clone()),
            store_messages: Some(
                (s.queue_bytes
                    / crate::protocol::Frame::wire_len(crate::protocol::DEFAULT_PAYLOAD.len()))
                    as u64,
            ),
            load: super::Load::NotModelled(
                "the patient sender queues what the socket will not take, so the client's speed sets its queue's depth, not a reset",
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
        let s = Common::read(&mut keys)?;
        keys.finish("sender `patient`", &self.key_names())?;
        framed::serve(Engine::new("patient", s, None)?, port, bind)
    }
}
