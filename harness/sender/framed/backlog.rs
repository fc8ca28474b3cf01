//! The backlog of a framed sender: every message produced and not yet done with, in
//! sequence order, and where each one is.
//!
//! - In memory (`mem`), up to `queue_bytes`. The `patient` sender forgets a message
//!   once it is written to the socket; the `spool` sender keeps it until the client's
//!   acknowledgement covers it, so that a reconnecting client gets it again.
//! - In the spool (`spool` only): what did not fit in memory. Once the memory queue
//!   overflows, every new message goes to the spool ("spilling") until the sender has
//!   sent everything the spool holds; then memory takes over again. While the client
//!   keeps up, the disk is not touched.
//! - Pending: spilled, not yet committed. Not accepted, and not sent: a message leaves
//!   for the client only from memory or from a commit, so the order on the wire is
//!   the sequence order whichever way a message took.
//!
//! Sequence numbers a client may have seen must never be reused, and messages in
//! memory die with the process. So the spool durably reserves numbers in blocks
//! before memory hands them out, and a restarted sender numbers after the reserve.
//! Between the last acknowledgement it knows of and that number, what the spool does
//! not hold was never accepted: produced into memory and lost with the killed
//! process, or reserved and never produced. When the sender skips such numbers it
//! reports them as *void*, so that the client's gaps can be told apart from losses.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::OnFull;
use crate::protocol::{DEFAULT_PAYLOAD, Frame};
use crate::store::{Batch, Depth, Store, StoreSpec, Stored};
use crate::sys;

/// Sequence numbers reserved per spool commit that reserves: one small commit per
/// this many messages sent from memory.
pub const RESERVE_BLOCK: u64 = 1 << 16;
/// Messages read from the spool at a time.
const READ_AHEAD: usize = 4096;

/// A message in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msg {
    pub seq: u64,
    pub produced_ns: u64,
}

/// Where and how the spool sender spills.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub store: Arc<dyn StoreSpec>,
    /// The spool directory (redb's file; another backend's note of where it stores).
    pub dir: Option<PathBuf>,
    pub max_bytes: u64,
    /// Commit at most this often.
    pub interval: Duration,
}

impl PartialEq for SpoolConfig {
    fn eq(&self, o: &SpoolConfig) -> bool {
        *self.store == *o.store
            && (&self.dir, self.max_bytes, self.interval) == (&o.dir, o.max_bytes, o.interval)
    }
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    Done,
    /// No room, and `on_full` is `block`: try later.
    Blocked,
    /// No room, and `on_full` is `close`.
    Close,
}

/// Why a client's hello cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refuse {
    /// It asks for a sequence this sender never numbered: it talked to another
    /// sender, or to this one before it lost its state.
    Ahead,
}

/// The counts a summary line carries; cumulative over the process's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub produced: u64,
    pub dropped: u64,
    /// Committed to the spool.
    pub accepted: u64,
    /// Written to a socket for the first time, and again after a reconnect.
    pub sent_first: u64,
    pub redelivered: u64,
    pub acked: u64,
    pub queue_peak_bytes: u64,
    pub spool_peak_messages: u64,
    pub spool_peak_bytes: u64,
    /// Void sequences reported (skipped, never accepted).
    pub void: u64,
    /// Times a message found no room (the queue, or the spool, was full) and
    /// `on_full` applied.
    pub full: u64,
}

struct Spill {
    store: Box<dyn Store>,
    cfg: SpoolConfig,
    pending: Vec<Stored>,
    last_commit: Instant,
    spilling: bool,
    /// Read from the store: messages at or after the send cursor.
    ahead: VecDeque<Stored>,
    reserved: u64,
    /// What the spool said when it was opened: numbers after `acked` and before
    /// `next` that it does not hold were never accepted.
    recovered: (u64, u64),
    /// The last read found nothing where the store holds messages (see
    /// [`Spill::first_from`]).
    held: bool,
    /// The last commit took only part of what was pending, the store in reach.
    more: bool,
}

impl Spill {
    fn depth(&self) -> Depth {
        self.store.depth()
    }

    fn pending_bytes(&self) -> u64 {
        self.pending.len() as u64 * (16 + DEFAULT_PAYLOAD.len() as u64)
    }

    /// Makes sure `seq` is reserved before it lives in memory only: a commit of the
    /// next block when it is not. False when the store is out of reach: `seq` must
    /// not be handed out.
    fn reserve(&mut self, seq: u64) -> Result<bool> {
        if seq <= self.reserved {
            return Ok(true);
        }
        let want = seq + RESERVE_BLOCK - 1;
        self.store.commit(&Batch {
            reserve: want,
            ..Batch::default()
        })?;
        if self.store.depth().reserved >= want {
            self.reserved = want;
        }
        Ok(self.reserved >= seq)
    }

    /// The first stored message at or after `seq`. When the store holds one but
    /// could not give it now (a broker out of reach, or slow), `held` says so: then
    /// nothing may be sent, or a later message in memory would overtake it.
    fn first_from(&mut self, seq: u64) -> Result<Option<&Stored>> {
        while self.ahead.front().is_some_and(|m| m.seq < seq) {
            self.ahead.pop_front();
        }
        let d = self.depth();
        if self.ahead.is_empty() && d.last >= seq {
            self.ahead.extend(self.store.read(seq, READ_AHEAD)?);
        }
        self.held = self.ahead.is_empty() && d.messages > 0 && d.last >= seq;
        Ok(self.ahead.front())
    }
}

/// Every produced message not yet done with.
pub struct Backlog {
    queue_bytes: usize,
    on_full: OnFull,
    mem: VecDeque<Msg>,
    spill: Option<Spill>,
    pub next_seq: u64,
    /// The lowest sequence not yet sent on this connection.
    next_send: u64,
    highest_sent: u64,
    pub c: Counts,
    /// Void ranges skipped, and ranges committed, since they were last taken.
    voids: Vec<(u64, u64)>,
    committed: Vec<(u64, u64)>,
}

fn frame_len() -> usize {
    Frame::wire_len(DEFAULT_PAYLOAD.len())
}

impl Backlog {
    /// A backlog in memory only (`spool` None), or with a spool opened (and recovered)
    /// from its directory.
    pub fn new(queue_bytes: usize, on_full: OnFull, spool: Option<SpoolConfig>) -> Result<Self> {
        let mut b = Backlog {
            queue_bytes,
            on_full,
            mem: VecDeque::new(),
            spill: None,
            next_seq: 1,
            next_send: 1,
            highest_sent: 0,
            c: Counts::default(),
            voids: Vec::new(),
            committed: Vec::new(),
        };
        if let Some(cfg) = spool {
            let store = cfg.store.open(cfg.dir.as_deref())?;
            let d = store.depth();
            b.next_seq = d.reserved.max(d.last) + 1;
            b.c.acked = d.acked;
            b.highest_sent = d.reserved.max(d.last);
            b.spill = Some(Spill {
                store,
                cfg,
                pending: Vec::new(),
                last_commit: Instant::now(),
                spilling: false,
                ahead: VecDeque::new(),
                reserved: d.reserved,
                recovered: (d.acked, b.next_seq),
                held: false,
                more: false,
            });
            b.note_spool_depth();
        }
        Ok(b)
    }

    /// The spool's depth now, if there is one.
    pub fn spool_depth(&self) -> Option<Depth> {
        self.spill.as_ref().map(Spill::depth)
    }

    fn mem_bytes(&self) -> usize {
        self.mem.len() * frame_len()
    }

    /// Messages not yet sent on this connection (or since the last hello).
    pub fn unsent(&self) -> u64 {
        let mem = self.mem.len() - self.mem.partition_point(|m| m.seq < self.next_send);
        let spilled = self.spill.as_ref().map_or(0, |s| {
            let d = s.depth();
            let stored = if d.last >= self.next_send {
                d.last - self.next_send.max(d.first) + 1
            } else {
                0
            };
            stored.min(d.messages) + s.pending.len() as u64
        });
        mem as u64 + spilled
    }

    /// True when nothing produced is waiting to be sent (what is sent and not yet
    /// acknowledged is not a backlog: it is in flight).
    pub fn is_drained(&self) -> bool {
        self.unsent() == 0
    }

    /// Produces one message.
    pub fn push(&mut self) -> Result<Push> {
        let seq = self.next_seq;
        let ns = sys::monotonic_ns();
        let fits_mem = self.mem_bytes() + frame_len() <= self.queue_bytes;
        if let Some(s) = self.spill.as_mut() {
            if !s.spilling && fits_mem {
                if !s.reserve(seq)? {
                    return Ok(self.full());
                }
                self.mem.push_back(Msg {
                    seq,
                    produced_ns: ns,
                });
            } else {
                let room = s.depth().bytes + s.pending_bytes() + 16 + DEFAULT_PAYLOAD.len() as u64
                    <= s.cfg.max_bytes;
                // A store out of reach takes nothing: nothing more is held pending.
                if !room || s.store.outage().is_some() {
                    return Ok(self.full());
                }
                s.spilling = true;
                s.pending.push(Stored {
                    seq,
                    produced_ns: ns,
                    payload: DEFAULT_PAYLOAD.to_vec(),
                });
                if s.store.commit_each() {
                    self.commit()?;
                }
            }
        } else if !fits_mem {
            self.c.full += 1;
            match self.on_full {
                OnFull::Block => return Ok(Push::Blocked),
                OnFull::Close => return Ok(Push::Close),
                OnFull::DropOldest => {
                    // Only unsent messages are in memory without a spool.
                    self.mem.pop_front();
                    self.c.dropped += 1;
                    self.mem.push_back(Msg {
                        seq,
                        produced_ns: ns,
                    });
                }
            }
        } else {
            self.mem.push_back(Msg {
                seq,
                produced_ns: ns,
            });
        }
        self.next_seq += 1;
        self.c.produced += 1;
        self.c.queue_peak_bytes = self.c.queue_peak_bytes.max(self.mem_bytes() as u64);
        Ok(Push::Done)
    }

    /// No room (a full spool, or one out of reach): `on_full` applies.
    fn full(&mut self) -> Push {
        self.c.full += 1;
        match self.on_full {
            OnFull::Close => Push::Close,
            // drop-oldest is refused for the spool when it is configured.
            OnFull::Block | OnFull::DropOldest => Push::Blocked,
        }
    }

    /// Why the spool's store cannot take a commit now, if it cannot.
    pub fn outage(&self) -> Option<&str> {
        self.spill.as_ref().and_then(|s| s.store.outage())
    }

    /// Commits what is pending (and forgets what was acknowledged) when the fsync
    /// interval has passed, and ends a spill once everything spilled was sent.
    pub fn tick(&mut self, now: Instant) -> Result<()> {
        let room = self.queue_bytes.saturating_sub(self.mem_bytes()) / frame_len();
        let Some(s) = self.spill.as_mut() else {
            return Ok(());
        };
        // The sender has sent everything the spool holds, and what is pending fits in
        // memory: the client keeps up again. The pending messages go back to memory
        // (they were never accepted), and the spill ends.
        // Memory-only numbers must be reserved first (see the module's header).
        let last = s.pending.last().map_or(0, |m| m.seq);
        if s.spilling
            && s.depth().last < self.next_send
            && s.pending.len() <= room
            && s.reserve(last)?
        {
            let back = s.pending.drain(..).map(|m| Msg {
                seq: m.seq,
                produced_ns: m.produced_ns,
            });
            self.mem.extend(back);
            s.spilling = false;
        }
        let acks_to_forget = s.depth().messages > 0 && s.depth().first <= self.c.acked;
        // A store that took part of a long batch (and is not out of reach) takes the
        // rest on the next turn, not an interval later.
        let due = now.duration_since(s.last_commit) >= s.cfg.interval || s.more;
        if due && (!s.pending.is_empty() || acks_to_forget) {
            self.commit()?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        let acked = self.c.acked;
        let s = self.spill.as_mut().expect("spill");
        let done = s.store.commit(&Batch {
            append: &s.pending,
            ack: acked,
            reserve: s.reserved,
        })?;
        let n = done.appended.min(s.pending.len());
        // Pending messages are consecutive numbers: one range per commit, less what
        // the store voided. What a store out of reach did not take stays pending.
        if n > 0 {
            let voided: u64 = done.void.iter().map(|(a, z)| z - a + 1).sum();
            self.c.accepted += n as u64 - voided;
            self.c.void += voided;
            let mut from = s.pending[0].seq;
            for &(a, z) in &done.void {
                if a > from {
                    self.committed.push((from, a - 1));
                }
                from = z + 1;
            }
            if from <= s.pending[n - 1].seq {
                self.committed.push((from, s.pending[n - 1].seq));
            }
            self.voids.extend(done.void.iter().copied());
        }
        s.pending.drain(..n);
        s.more = !s.pending.is_empty() && done.outage.is_none();
        s.last_commit = Instant::now();
        self.note_spool_depth();
        Ok(())
    }

    fn note_spool_depth(&mut self) {
        if let Some(d) = self.spool_depth() {
            self.c.spool_peak_messages = self.c.spool_peak_messages.max(d.messages);
            self.c.spool_peak_bytes = self.c.spool_peak_bytes.max(d.bytes);
        }
    }

    /// The first message at or after `seq` that can be sent now: in memory or in the
    /// spool, whichever is lower; None when none is, or when the next is pending.
    fn first_from(&mut self, seq: u64) -> Result<Option<(Msg, Option<Vec<u8>>)>> {
        let i = self.mem.partition_point(|m| m.seq < seq);
        let in_mem = self.mem.get(i).copied();
        let Some(s) = self.spill.as_mut() else {
            return Ok(in_mem.map(|m| (m, None)));
        };
        let pending = s.pending.first().map(|m| m.seq);
        let stored = s.first_from(seq)?.map(|m| {
            (
                Msg {
                    seq: m.seq,
                    produced_ns: m.produced_ns,
                },
                Some(m.payload.clone()),
            )
        });
        if s.held {
            return Ok(None);
        }
        let best = match (in_mem, stored) {
            (Some(m), Some(st)) if st.0.seq < m.seq => Some(st),
            (Some(m), _) => Some((m, None)),
            (None, st) => st,
        };
        Ok(match (best, pending) {
            (Some(b), Some(p)) if p < b.0.seq => None,
            (b, _) => b,
        })
    }

    /// Appends the next frame to `out`; false when there is none to send now.
    pub fn next_frame(&mut self, out: &mut Vec<u8>) -> Result<bool> {
        let Some((m, payload)) = self.first_from(self.next_send)? else {
            return Ok(false);
        };
        self.skipped(self.next_send, m.seq);
        if self.spill.is_none() {
            // Forgotten once sent: it was the front.
            self.mem.pop_front();
        }
        Frame::encode_into(
            m.seq,
            m.produced_ns,
            payload.as_deref().unwrap_or(DEFAULT_PAYLOAD),
            out,
        );
        if m.seq > self.highest_sent {
            self.c.sent_first += 1;
            self.highest_sent = m.seq;
        } else {
            self.c.redelivered += 1;
        }
        self.next_send = m.seq + 1;
        Ok(true)
    }

    /// Notes that the numbers from `from` up to `to` (excluded) are being skipped. For
    /// the spool, those it recovered as never accepted are void; anything else skipped
    /// was dropped, which `dropped` counts.
    fn skipped(&mut self, from: u64, to: u64) {
        let Some(s) = &self.spill else { return };
        let (acked, next) = s.recovered;
        let lo = from.max(acked + 1);
        let hi = to.min(next);
        if lo < hi {
            self.voids.push((lo, hi - 1));
            self.c.void += hi - lo;
        }
    }

    /// The void ranges skipped since the last call.
    pub fn take_voids(&mut self) -> Vec<(u64, u64)> {
        std::mem::take(&mut self.voids)
    }

    /// The ranges committed to the spool since the last call.
    pub fn take_committed(&mut self) -> Vec<(u64, u64)> {
        std::mem::take(&mut self.committed)
    }

    /// A client's hello asks for `want` (it processed everything before): the
    /// sequence this sender starts at, and everything older is done with.
    pub fn resume(&mut self, want: u64) -> Result<Result<u64, Refuse>> {
        let want = want.max(1);
        if want > self.next_seq {
            return Ok(Err(Refuse::Ahead));
        }
        self.ack(want - 1);
        if let Some(s) = self.spill.as_mut() {
            s.ahead.clear();
        }
        let first = self.first_from(want)?.map_or(self.next_seq, |(m, _)| m.seq);
        // The store holds what comes next but cannot give it now: start at `want`,
        // and skip (and report void) only once it is known what comes first.
        if self.spill.as_ref().is_some_and(|s| s.held) {
            self.next_send = want;
            return Ok(Ok(want));
        }
        let pending = self
            .spill
            .as_ref()
            .and_then(|s| s.pending.first())
            .map_or(u64::MAX, |m| m.seq);
        let first = first.min(pending);
        self.skipped(want, first);
        self.next_send = first;
        Ok(Ok(first))
    }

    /// The client acknowledged everything up to `a`; false for a sequence never
    /// produced (the client is confused: trusting it would count messages as delivered
    /// that never were).
    pub fn ack(&mut self, a: u64) -> bool {
        if a >= self.next_seq {
            return false;
        }
        if a > self.c.acked {
            self.c.acked = a;
        }
        // Memory holds what is unacknowledged (spool) or unsent (patient): either
        // way, a processed message is done with.
        while self.mem.front().is_some_and(|m| m.seq <= a) {
            self.mem.pop_front();
        }
        true
    }

    /// Messages in memory (patient: unsent; spool: unacknowledged).
    pub fn in_memory(&self) -> u64 {
        self.mem.len() as u64
    }

    /// Fsync calls so far (0 without a spool).
    pub fn syncs(&self) -> u64 {
        self.spill.as_ref().map_or(0, |s| s.store.syncs())
    }

    /// The spool's file size, for the summary.
    pub fn disk_bytes(&self) -> u64 {
        self.spill.as_ref().map_or(0, |s| s.store.disk_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Decoder;

    fn spool(dir: &std::path::Path, max_bytes: u64) -> SpoolConfig {
        SpoolConfig {
            store: Arc::new(crate::store::redb::RedbSpec::default()),
            dir: Some(dir.to_path_buf()),
            max_bytes,
            interval: Duration::ZERO,
        }
    }

    fn sent(b: &mut Backlog, n: usize) -> Vec<u64> {
        let mut out = Vec::new();
        for _ in 0..n {
            if !b.next_frame(&mut out).unwrap() {
                break;
            }
        }
        let mut d = Decoder::default();
        d.feed(&out);
        std::iter::from_fn(|| d.next_frame())
            .map(|f| f.seq)
            .collect()
    }

    fn push(b: &mut Backlog, n: u64) {
        for _ in 0..n {
            assert_eq!(b.push().unwrap(), Push::Done);
        }
    }

    #[test]
    fn memory_first_then_the_spool_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Backlog::new(
            4 * frame_len(),
            OnFull::Block,
            Some(spool(dir.path(), 1 << 20)),
        )
        .unwrap();
        push(&mut b, 10);
        assert_eq!(b.in_memory(), 4, "4 fit in memory, 6 spilled");
        assert_eq!(sent(&mut b, 100), [1, 2, 3, 4], "pending is not sent");
        b.tick(Instant::now()).unwrap();
        assert_eq!(b.c.accepted, 6);
        assert_eq!(sent(&mut b, 100), [5, 6, 7, 8, 9, 10]);
        assert!(b.ack(7));
        b.tick(Instant::now()).unwrap();
        assert_eq!(b.spool_depth().unwrap().messages, 3);
        // Everything spilled was sent: memory takes over again.
        push(&mut b, 1);
        assert_eq!(b.in_memory(), 1);
        // A reconnect asking for 8 gets 8, 9, 10 again, then 11.
        assert_eq!(b.resume(8).unwrap(), Ok(8));
        assert_eq!(sent(&mut b, 100), [8, 9, 10, 11]);
        assert_eq!(b.c.redelivered, 3);
    }

    #[test]
    fn a_restart_numbers_after_the_reserve_and_reports_the_void() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = spool(dir.path(), 1 << 20);
        {
            let mut b = Backlog::new(2 * frame_len(), OnFull::Block, Some(cfg.clone())).unwrap();
            push(&mut b, 5); // 1, 2 in memory; 3, 4, 5 spilled
            b.tick(Instant::now()).unwrap();
            assert_eq!(sent(&mut b, 1), [1]);
            assert!(b.ack(1));
            // Killed here: 2 was only in memory.
        }
        let mut b = Backlog::new(2 * frame_len(), OnFull::Block, Some(cfg)).unwrap();
        assert_eq!(b.next_seq, RESERVE_BLOCK + 1);
        // The client processed 1 (its ack was never committed): it wants 2.
        assert_eq!(b.resume(2).unwrap(), Ok(3));
        assert_eq!(b.take_voids(), [(2, 2)]);
        push(&mut b, 1);
        assert_eq!(sent(&mut b, 10), [3, 4, 5, RESERVE_BLOCK + 1]);
        assert_eq!(b.take_voids(), [(6, RESERVE_BLOCK)]);
        assert_eq!(b.c.void, RESERVE_BLOCK - 4);
        assert_eq!(b.resume(RESERVE_BLOCK + 5).unwrap(), Err(Refuse::Ahead));
    }

    #[test]
    fn a_full_spool_blocks_or_closes() {
        let dir = tempfile::tempdir().unwrap();
        let per = 16 + DEFAULT_PAYLOAD.len() as u64;
        let mut b =
            Backlog::new(frame_len(), OnFull::Block, Some(spool(dir.path(), 3 * per))).unwrap();
        push(&mut b, 4);
        assert_eq!(b.push().unwrap(), Push::Blocked);
        b.tick(Instant::now()).unwrap();
        assert_eq!(b.spool_depth().unwrap().bytes, 3 * per);
        let dir = tempfile::tempdir().unwrap();
        let mut c = Backlog::new(frame_len(), OnFull::Close, Some(spool(dir.path(), per))).unwrap();
        push(&mut c, 2);
        assert_eq!(c.push().unwrap(), Push::Close);
    }

    #[test]
    fn without_a_spool_a_full_queue_blocks_drops_or_closes() {
        let mut b = Backlog::new(3 * frame_len(), OnFull::Block, None).unwrap();
        push(&mut b, 3);
        assert_eq!(b.push().unwrap(), Push::Blocked);
        let mut d = Backlog::new(3 * frame_len(), OnFull::DropOldest, None).unwrap();
        push(&mut d, 5);
        assert_eq!(d.c.dropped, 2);
        assert_eq!(sent(&mut d, 10), [3, 4, 5], "the newest are kept");
        let mut c = Backlog::new(3 * frame_len(), OnFull::Close, None).unwrap();
        push(&mut c, 3);
        assert_eq!(c.push().unwrap(), Push::Close);
    }

    #[test]
    fn a_patient_resume_starts_at_what_the_client_has_not_processed() {
        let mut b = Backlog::new(10 * frame_len(), OnFull::Block, None).unwrap();
        push(&mut b, 10);
        assert_eq!(b.resume(1).unwrap(), Ok(1));
        assert_eq!(b.resume(4).unwrap(), Ok(4), "1-3 were processed");
        assert_eq!(b.in_memory(), 7);
        assert_eq!(
            b.resume(11).unwrap(),
            Ok(11),
            "nothing queued: the next one"
        );
        assert_eq!(b.resume(12).unwrap(), Err(Refuse::Ahead));
    }
}

#[cfg(test)]
mod simulation {
    use super::*;
    use crate::protocol::Decoder;

    /// A slow client against a small memory queue, spilling on and off: what is sent
    /// is every sequence, once, in order.
    #[test]
    fn sending_never_skips_while_spilling_on_and_off() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SpoolConfig {
            store: Arc::new(crate::store::redb::RedbSpec {
                fsync: crate::store::Fsync::Never,
            }),
            dir: Some(dir.path().to_path_buf()),
            max_bytes: 1 << 30,
            interval: Duration::ZERO,
        };
        let mut b = Backlog::new(50 * frame_len(), OnFull::Block, Some(cfg)).unwrap();
        assert_eq!(b.resume(1).unwrap(), Ok(1));
        let mut rng = 7u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % 40
        };
        let mut expect = 1;
        let mut d = Decoder::default();
        for _ in 0..2000 {
            for _ in 0..next() {
                b.push().unwrap();
            }
            b.tick(Instant::now()).unwrap();
            let mut out = Vec::new();
            for _ in 0..next() {
                if !b.next_frame(&mut out).unwrap() {
                    break;
                }
            }
            d.feed(&out);
            while let Some(f) = d.next_frame() {
                assert_eq!(f.seq, expect, "sent out of sequence");
                expect += 1;
            }
            let lag = next();
            if expect > lag + 1 {
                assert!(b.ack(expect - 1 - lag));
            }
        }
        assert!(expect > 1000, "{expect}");
    }
}
