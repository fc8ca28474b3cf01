//! The JetStream spool, open for writing: [`JetStore`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{Context, consumer, stream};
use bytes::Bytes;
use futures_util::StreamExt;

use super::JetSpec;
use super::nats::{self, Names};
use crate::store::{Batch, Committed, Depth, Store, Stored};

/// The most publishes in flight, unacknowledged, at once.
pub const WINDOW: usize = 4096;
/// The most messages one commit publishes; the rest wait for the next.
const PER_COMMIT: usize = 4 * WINDOW;
/// How soon a store out of reach is asked again.
pub const RETRY: Duration = Duration::from_millis(250);
/// How long a read waits for its first message before it returns none: the sender's
/// loop has a connection to serve meanwhile, and asks again on its next turn.
const FIRST_WAIT: Duration = Duration::from_millis(50);
/// How often the stream's bytes are asked for (the summary's "on disk").
const INFO_EVERY: Duration = Duration::from_secs(1);
/// How often the acknowledged sequence is written down when nothing else is: it
/// only tells a restarted sender what it may forget, which the client's hello
/// tells it too.
const ACK_EVERY: Duration = Duration::from_secs(1);

/// `n` messages with consecutive sequences `our..` at consecutive stream sequences
/// `sseq..`: what one publish batch of this sender made.
#[derive(Debug, Clone, Copy)]
struct Run {
    our: u64,
    sseq: u64,
    n: u64,
}

/// Where reading goes on from.
/// Where reading goes on from: a consumer whose messages flow into the client's
/// buffer in the background (the runtime's own thread), batches of [`WINDOW`] asked
/// for ahead, so that a read takes what has arrived instead of a round trip.
struct Cursor {
    name: String,
    messages: consumer::pull::Stream,
    next_sseq: u64,
    last_our: u64,
}

/// Why a step failed: the broker out of reach (try again), or something no retry
/// mends.
enum Fail {
    Outage(String),
    Fatal(anyhow::Error),
}

type Step<T> = std::result::Result<T, Fail>;

fn outage(what: &str, e: impl std::fmt::Display) -> Fail {
    Fail::Outage(format!("{what}: {e}"))
}

/// The part of the store the async calls change.
struct Inner {
    js: Context,
    data: stream::Stream,
    names: Names,
    timeout: Duration,
    depth: Depth,
    /// The stream sequences held: `first..=last` (first = last + 1 when empty).
    first_sseq: u64,
    last_sseq: u64,
    runs: VecDeque<Run>,
    state_seq: u64,
    state_written: Instant,
    /// This process's mark on its state writes.
    writer: u64,
    /// Messages of a batch the broker dropped while it stored later ones, since the
    /// last commit returned: void, never accepted.
    voided: Vec<(u64, u64)>,
    cursor: Option<Cursor>,
    payload_len: u64,
    server_bytes: u64,
    info_at: Instant,
}

pub struct JetStore {
    rt: tokio::runtime::Runtime,
    inner: Inner,
    outage: Option<String>,
    retry_at: Instant,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("nats")
        .enable_all()
        .build()
        .map_err(|e| anyhow!("starting the NATS client's runtime: {e}"))
}

/// A stored message's body: sequence and stamp, big-endian, then the payload.
fn encode(m: &Stored) -> Bytes {
    let mut v = Vec::with_capacity(16 + m.payload.len());
    v.extend_from_slice(&m.seq.to_be_bytes());
    v.extend_from_slice(&m.produced_ns.to_be_bytes());
    v.extend_from_slice(&m.payload);
    Bytes::from(v)
}

fn decode(sseq: u64, body: &[u8]) -> Result<Stored> {
    if body.len() < 16 {
        bail!(
            "stream message {sseq} is {} bytes, shorter than a spooled message's 16-byte head: the stream holds something zerowin did not write",
            body.len()
        );
    }
    Ok(Stored {
        seq: u64::from_be_bytes(body[..8].try_into().expect("8 bytes")),
        produced_ns: u64::from_be_bytes(body[8..16].try_into().expect("8 bytes")),
        payload: body[16..].to_vec(),
    })
}

/// The state message: "ACKED RESERVED".
/// The state message: "ACKED RESERVED WRITER", the writer a number each sender
/// process draws when it opens the spool.
fn parse_state(body: &[u8]) -> Result<(u64, u64, u64)> {
    let text = std::str::from_utf8(body).unwrap_or("");
    let mut it = text.split(' ');
    let mut num = |radix| it.next().and_then(|w| u64::from_str_radix(w, radix).ok());
    match (num(10), num(10), num(16), it.next()) {
        (Some(a), Some(r), Some(w), None) => Ok((a, r, w)),
        _ => bail!(
            "the spool's state message `{}` is not `ACKED RESERVED WRITER`",
            text.escape_debug()
        ),
    }
}

/// A number for this sender process, to tell its own state writes from another's.
fn writer_id() -> u64 {
    nats::fnv(format!("{}-{}", std::process::id(), crate::sys::realtime_ns()).as_bytes())
}

async fn within<T, E: std::fmt::Display>(
    limit: Duration,
    what: &str,
    f: impl std::future::Future<Output = std::result::Result<T, E>>,
) -> Step<T> {
    match tokio::time::timeout(limit, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(outage(what, e)),
        Err(_) => Err(outage(what, format!("no answer within {limit:?}"))),
    }
}

impl JetStore {
    pub fn open(spec: &JetSpec, stream: &str) -> Result<JetStore> {
        let rt = runtime()?;
        let names = Names::new(stream);
        let inner = rt.block_on(Inner::open(spec, names))?;
        Ok(JetStore {
            rt,
            inner,
            outage: None,
            retry_at: Instant::now(),
        })
    }

    /// Not before the retry time while out of reach.
    fn waiting(&self) -> bool {
        self.outage.is_some() && Instant::now() < self.retry_at
    }

    fn settle<T>(&mut self, r: Step<T>) -> Result<Option<T>> {
        match r {
            Ok(v) => {
                self.outage = None;
                Ok(Some(v))
            }
            Err(Fail::Outage(why)) => {
                self.outage = Some(why);
                self.retry_at = Instant::now() + RETRY;
                Ok(None)
            }
            Err(Fail::Fatal(e)) => Err(e),
        }
    }
}

impl Inner {
    /// A store on `data` that knows nothing yet: [`Inner::recover`] reads what it holds.
    fn new(js: Context, data: stream::Stream, names: Names, timeout: Duration) -> Inner {
        Inner {
            js,
            data,
            names,
            timeout,
            depth: Depth::default(),
            first_sseq: 1,
            last_sseq: 0,
            runs: VecDeque::new(),
            state_seq: 0,
            state_written: Instant::now(),
            writer: writer_id(),
            voided: Vec::new(),
            cursor: None,
            payload_len: crate::protocol::DEFAULT_PAYLOAD.len() as u64,
            server_bytes: 0,
            info_at: Instant::now(),
        }
    }

    async fn open(spec: &JetSpec, names: Names) -> Result<Inner> {
        let js = nats::connect(&spec.urls, spec.publish_timeout).await?;
        let (data, state) = nats::streams(&js, &names, spec.replicas).await?;

        let mut inner = Inner::new(js, data, names, spec.publish_timeout);
        inner.recover_settled(&state).await?;
        Ok(inner)
    }

    /// [`Inner::recover`], asked again while the broker is only slow to answer (a
    /// cluster just formed, or busy), up to [`nats::SETTLE`].
    async fn recover_settled(&mut self, state: &stream::Stream) -> Result<()> {
        let until = Instant::now() + nats::SETTLE;
        loop {
            match self.recover(state).await {
                Ok(()) => return Ok(()),
                Err(Fail::Outage(_)) if Instant::now() < until => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(Fail::Outage(why)) => {
                    bail!("reading the spool `{}`: {why}", self.names.stream)
                }
                Err(Fail::Fatal(e)) => return Err(e),
            }
        }
    }

    /// What a killed sender left: the state, and the messages' bounds.
    async fn recover(&mut self, state: &stream::Stream) -> Step<()> {
        let subj = self.names.state_subject.clone();
        match state.get_last_raw_message_by_subject(&subj).await {
            Ok(m) => {
                let (a, r, _) = parse_state(&m.payload).map_err(Fail::Fatal)?;
                self.depth.acked = a;
                self.depth.reserved = r;
                self.state_seq = m.sequence;
            }
            Err(e) if e.to_string().contains("no message found") => {}
            Err(e) => return Err(outage("reading the spool's state", e)),
        }
        self.refresh_bounds().await
    }

    async fn refresh_bounds(&mut self) -> Step<()> {
        let info = within(self.timeout, "the stream's info", self.data.info()).await?;
        let st = info.state.clone();
        self.server_bytes = st.bytes;
        self.first_sseq = st.first_sequence.max(1);
        self.last_sseq = st.last_sequence;
        self.depth.messages = st.messages;
        if st.messages == 0 {
            self.first_sseq = self.last_sseq + 1;
            self.depth.first = 0;
            self.depth.last = 0;
        } else {
            let first = self.get(self.first_sseq).await?;
            let last = self.get(self.last_sseq).await?;
            self.payload_len = first.payload.len() as u64;
            self.depth.first = first.seq;
            self.depth.last = last.seq;
        }
        self.depth.bytes = self.depth.messages * (16 + self.payload_len);
        self.depth.reserved = self.depth.reserved.max(self.depth.last);
        Ok(())
    }

    async fn get(&self, sseq: u64) -> Step<Stored> {
        let m = within(
            self.timeout,
            "reading a message",
            self.data.get_raw_message(sseq),
        )
        .await?;
        decode(sseq, &m.payload).map_err(Fail::Fatal)
    }
}

impl Inner {
    /// Publishes `msgs` in order, a window of at most [`WINDOW`] unacknowledged
    /// at a time, sliding: how many the broker acknowledged, all of them unless it
    /// went out of reach.
    async fn append(&mut self, msgs: &[Stored]) -> (usize, Step<()>) {
        let base = self.last_sseq;
        let mut acks = VecDeque::with_capacity(WINDOW);
        let (mut sent, mut done) = (0, 0);
        let mut stopped = None;
        while done < msgs.len() {
            while stopped.is_none() && sent < msgs.len() && acks.len() < WINDOW {
                let msg = PublishMessage::build()
                    .payload(encode(&msgs[sent]))
                    .message_id(msgs[sent].seq.to_string())
                    .expected_last_sequence(base + sent as u64);
                match self.js.send_publish(self.names.subject.clone(), msg).await {
                    Ok(f) => acks.push_back(f),
                    Err(e) => stopped = Some(outage("publishing", e)),
                }
                sent += 1;
            }
            let Some(f) = acks.pop_front() else {
                return (
                    done,
                    Err(stopped.expect("nothing in flight: sending stopped")),
                );
            };
            if let Err((n, why)) = self.acknowledged(f.await, &msgs[done..]).await {
                return (done + n, why);
            }
            done += 1;
        }
        (done, Ok(()))
    }

    /// The broker's answer to the publish of `rest[0]`; Err: the publishing stops,
    /// with how many of `rest` are appended all the same, and why.
    async fn acknowledged(
        &mut self,
        ack: Result<
            async_nats::jetstream::publish::PublishAck,
            async_nats::jetstream::context::PublishError,
        >,
        rest: &[Stored],
    ) -> Result<(), (usize, Step<()>)> {
        let ack = match ack {
            Ok(ack) => ack,
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                return match self.adopt_landed(rest).await {
                    Ok(n) => Err((n, Err(outage("publishing", e)))),
                    Err(f) => Err((0, Err(f))),
                };
            }
            Err(e) => {
                return Err((
                    0,
                    Err(outage("waiting for the broker's acknowledgement", e)),
                ));
            }
        };
        // Late copies of this sender's own earlier messages may have landed in between.
        let next = self.last_sseq + 1;
        let copies_only = ack.sequence > next
            && self
                .skip_late_copies(ack.sequence, rest[0].seq)
                .await
                .map_err(|f| (0, Err(f)))?;
        if ack.sequence == next || copies_only {
            self.appended(&rest[0], ack.sequence);
            return Ok(());
        }
        Err((
            0,
            Err(Fail::Fatal(anyhow!(
                "the stream `{}` acknowledged message {} as stream sequence {} where {next} was next: another writer shares it",
                self.names.stream,
                rest[0].seq,
                ack.sequence,
            ))),
        ))
    }

    /// The stream holds more than this sender knows of: publishes of its own whose
    /// acknowledgements were lost while the broker was out of reach, which landed
    /// after all (a retry raced the first attempt, still in the cluster's log). Each
    /// message after the last it knows is read: one of `rest`, in order, is taken as
    /// appended; anything else was written by another sender.
    async fn adopt_landed(&mut self, rest: &[Stored]) -> Step<usize> {
        let mut n = 0;
        while n < rest.len() {
            let sseq = self.last_sseq + 1;
            let m = match self.data.get_raw_message(sseq).await {
                Ok(m) => decode(sseq, &m.payload).map_err(Fail::Fatal)?,
                // Not (yet) there: the next commit asks again.
                Err(_) => break,
            };
            if m.seq < rest[n].seq {
                self.skip_copy(sseq);
                continue;
            }
            // A later message of this sender's landed where an earlier one should be:
            // the broker dropped the earlier ones, never acknowledged. They are void
            // (never accepted; the client's gap is explained); the later one stands.
            let Some(j) = rest[n..].iter().position(|r| r.seq == m.seq).map(|j| n + j) else {
                return Err(Fail::Fatal(anyhow!(
                    "the stream `{}` holds message {} at stream sequence {sseq}, where this sender published {}: another sender writes to it; two senders cannot share a stream",
                    self.names.stream,
                    m.seq,
                    rest[n].seq
                )));
            };
            if j > n {
                self.voided.push((rest[n].seq, rest[j - 1].seq));
            }
            self.appended(&rest[j], sseq);
            n = j + 1;
        }
        Ok(n)
    }

    /// Stream sequences from `last_sseq + 1` up to (not including) `upto` that hold
    /// copies of messages this sender published before `before`: skipped, true. A
    /// message of another's there: false.
    ///
    /// Why copies: nats-server 2.9 can apply a publish whose acknowledgement was lost
    /// in a leader change after its retry was stored (seen here, with 2 of 3 nodes
    /// killed and restarted): the stream then holds it twice. The reader skips the
    /// second (it reads each sequence once, in order), so the client gets it once.
    async fn skip_late_copies(&mut self, upto: u64, before: u64) -> Step<bool> {
        while self.last_sseq + 1 < upto {
            let sseq = self.last_sseq + 1;
            if self.get(sseq).await?.seq >= before {
                return Ok(false);
            }
            self.skip_copy(sseq);
        }
        Ok(true)
    }

    /// A late copy at `sseq`, the stream's next: it takes room, and is not read.
    fn skip_copy(&mut self, sseq: u64) {
        self.last_sseq = sseq;
        if self.depth.messages == 0 {
            self.first_sseq = sseq;
            self.depth.first = self.depth.last;
        }
        self.depth.messages += 1;
        self.depth.bytes += 16 + self.payload_len;
    }

    fn appended(&mut self, m: &Stored, sseq: u64) {
        self.last_sseq = sseq;
        if self.depth.messages == 0 {
            self.first_sseq = sseq;
            self.depth.first = m.seq;
        }
        self.depth.messages += 1;
        self.depth.bytes += 16 + m.payload.len() as u64;
        self.depth.last = m.seq;
        self.depth.reserved = self.depth.reserved.max(m.seq);
        match self.runs.back_mut() {
            Some(r) if r.our + r.n == m.seq && r.sseq + r.n == sseq => r.n += 1,
            _ => self.runs.push_back(Run {
                our: m.seq,
                sseq,
                n: 1,
            }),
        }
    }

    /// Writes "ACKED RESERVED", naming the state it replaces: a second sender's write
    /// in between is refused.
    async fn write_state(&mut self, acked: u64, reserved: u64) -> Step<()> {
        match self.try_write_state(acked, reserved).await {
            // A write of ours whose acknowledgement was lost (the broker went out of
            // reach) and that landed after all: it is the last, so carry on from it.
            Err(Fail::Fatal(_)) if self.last_state_is_ours().await? => {
                self.try_write_state(acked, reserved).await
            }
            r => r,
        }
    }

    /// Whether the last state message is this sender's own (and if so, names it as
    /// the one the next write replaces).
    async fn last_state_is_ours(&mut self) -> Step<bool> {
        let subj = self.names.state_subject.clone();
        let state = within(
            self.timeout,
            "reading the spool's state",
            self.js.get_stream(&self.names.state),
        )
        .await?;
        let m = within(
            self.timeout,
            "reading the spool's state",
            state.get_last_raw_message_by_subject(&subj),
        )
        .await?;
        let (_, _, w) = parse_state(&m.payload).map_err(Fail::Fatal)?;
        if w == self.writer {
            self.state_seq = m.sequence;
        }
        Ok(w == self.writer)
    }

    async fn try_write_state(&mut self, acked: u64, reserved: u64) -> Step<()> {
        let msg = PublishMessage::build()
            .payload(Bytes::from(format!(
                "{acked} {reserved} {:016x}",
                self.writer
            )))
            .message_id(format!("{acked}-{reserved}-{:016x}", self.writer))
            .expected_last_subject_sequence(self.state_seq);
        let f = within(
            self.timeout,
            "writing the reservation",
            self.js.send_publish(self.names.state_subject.clone(), msg),
        )
        .await?;
        match f.await {
            Ok(ack) => {
                self.state_seq = self.state_seq.max(ack.sequence);
                self.depth.acked = acked;
                self.depth.reserved = reserved;
                self.state_written = Instant::now();
                Ok(())
            }
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => Err(Fail::Fatal(anyhow!(
                "the spool's state in `{}` was written by another sender ({e}); two senders cannot share a stream",
                self.names.state
            ))),
            Err(e) => Err(outage("writing the reservation", e)),
        }
    }

    /// The stream sequence of the first held message numbered `x` or more
    /// (`last_sseq + 1` when none is).
    async fn locate(&self, x: u64) -> Step<u64> {
        if self.depth.messages == 0 || x > self.depth.last {
            return Ok(self.last_sseq + 1);
        }
        if x <= self.depth.first {
            return Ok(self.first_sseq);
        }
        if self.runs.front().is_some_and(|r| x >= r.our) {
            let i = self.runs.partition_point(|r| r.our + r.n <= x);
            return Ok(match self.runs.get(i) {
                Some(r) if x >= r.our => r.sseq + (x - r.our),
                Some(r) => r.sseq,
                None => self.last_sseq + 1,
            });
        }
        // Left by a sender before this one: search the stream itself.
        let (mut lo, mut hi) = (
            self.first_sseq,
            self.runs.front().map_or(self.last_sseq + 1, |r| r.sseq),
        );
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.get(mid).await?.seq < x {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Forgets every message numbered `ack` or less.
    async fn forget(&mut self, ack: u64) -> Step<()> {
        if self.depth.messages == 0 || self.depth.first > ack {
            return Ok(());
        }
        let p = self.locate(ack + 1).await?;
        within(
            self.timeout,
            "purging what was acknowledged",
            std::future::IntoFuture::into_future(self.data.purge().sequence(p)),
        )
        .await?;
        let gone = p.saturating_sub(self.first_sseq).min(self.depth.messages);
        self.depth.messages -= gone;
        self.depth.bytes = self.depth.messages * (16 + self.payload_len);
        self.first_sseq = p;
        while let Some(r) = self.runs.front_mut() {
            if r.sseq + r.n <= p {
                self.runs.pop_front();
            } else {
                if r.sseq < p {
                    let cut = p - r.sseq;
                    r.our += cut;
                    r.sseq += cut;
                    r.n -= cut;
                }
                break;
            }
        }
        self.depth.first = match self.depth.messages {
            0 => 0,
            _ => match self.runs.front() {
                Some(r) if r.sseq == p => r.our,
                _ => self.get(p).await?.seq,
            },
        };
        Ok(())
    }

    /// Whether the broker answers for the stream now: its info, from its leader.
    async fn probe(&mut self) -> Step<()> {
        let info = within(self.timeout, "asking for the stream", self.data.info()).await?;
        self.server_bytes = info.state.bytes;
        Ok(())
    }

    async fn commit(&mut self, b: &Batch<'_>) -> (usize, Step<()>) {
        // A long batch (the producer catching up after an outage) goes over several
        // commits: the sender's loop has a connection to serve between them.
        let (n, r) = self
            .append(&b.append[..b.append.len().min(PER_COMMIT)])
            .await;
        if r.is_err() {
            return (n, r);
        }
        let reserve = b.reserve.max(self.depth.reserved);
        let ack = b.ack.max(self.depth.acked);
        let ack_due = ack > self.depth.acked && self.state_written.elapsed() >= ACK_EVERY;
        if (reserve > self.depth.reserved || ack_due)
            && let Err(f) = self.write_state(ack, reserve).await
        {
            return (n, Err(f));
        }
        if let Err(f) = self.forget(b.ack).await {
            return (n, Err(f));
        }
        if self.info_at.elapsed() >= INFO_EVERY {
            self.info_at = Instant::now();
            if let Ok(Ok(i)) = tokio::time::timeout(self.timeout, self.data.info()).await {
                self.server_bytes = i.state.bytes;
            }
        }
        (n, Ok(()))
    }
}

impl Inner {
    /// Up to `max` messages numbered `from` or more, in order, from the cursor when it
    /// is where `from` is, else from a new one.
    async fn read(&mut self, from: u64, max: usize) -> Step<Vec<Stored>> {
        if self.depth.messages == 0 || from > self.depth.last {
            return Ok(Vec::new());
        }
        let start = match &self.cursor {
            Some(c) if c.last_our + 1 == from && c.next_sseq >= self.first_sseq => c.next_sseq,
            _ => self.locate(from).await?,
        };
        let fresh = self.cursor.as_ref().is_none_or(|c| c.next_sseq != start);
        if fresh {
            self.cursor = Some(self.consumer_at(start).await?);
        }
        let mut out = Vec::new();
        // The first message may still be on its way; the rest are taken as far as
        // they have arrived.
        let mut next = self.next_message(Some(FIRST_WAIT)).await;
        // A reader idle for long may have been dropped by the broker (its heartbeats
        // missed, or it was deleted as inactive): a new one, once, before it counts
        // as an outage.
        if next.is_err() && !fresh {
            self.cursor = Some(self.consumer_at(start).await?);
            next = self.next_message(Some(FIRST_WAIT)).await;
        }
        while let Some(m) = next? {
            if m.seq >= from {
                out.push(m);
            }
            if out.len() >= max {
                break;
            }
            next = self.next_message(None).await;
        }
        Ok(out)
    }

    /// The cursor's next message: waiting up to `wait` for it, or only if it has
    /// arrived (None); Ok(None) when there is none.
    async fn next_message(&mut self, wait: Option<Duration>) -> Step<Option<Stored>> {
        let Some(c) = self.cursor.as_mut() else {
            return Ok(None);
        };
        let got = match wait {
            Some(w) => tokio::time::timeout(w, c.messages.next()).await.ok(),
            None => futures_util::FutureExt::now_or_never(c.messages.next()),
        };
        let m = match got {
            None => return Ok(None),
            Some(Some(Ok(m))) => m,
            Some(Some(Err(e))) => {
                self.cursor = None;
                return Err(outage("reading the spool", e));
            }
            Some(None) => {
                self.cursor = None;
                return Err(outage("reading the spool", "the reader ended"));
            }
        };
        let sseq = m
            .info()
            .map_err(|e| outage("reading the spool", e))?
            .stream_sequence;
        // The consumer acknowledges nothing, so what it sent to a connection that died
        // (its node killed, the client reconnecting) is not sent again: a gap. The
        // reader starts again at the first message it missed.
        if sseq > c.next_sseq.max(self.first_sseq) {
            self.cursor = None;
            return Ok(None);
        }
        let st = decode(sseq, &m.payload).map_err(Fail::Fatal)?;
        c.next_sseq = sseq + 1;
        // A late copy of a message read before it (see `skip_late_copies`).
        if st.seq <= c.last_our {
            return Box::pin(self.next_message(wait)).await;
        }
        c.last_our = st.seq;
        Ok(Some(st))
    }

    /// An ephemeral pull consumer from stream sequence `sseq`, which the broker
    /// deletes once it has been idle for a while (a killed sender's too).
    async fn consumer_at(&self, sseq: u64) -> Step<Cursor> {
        if let Some(old) = &self.cursor {
            let _ = tokio::time::timeout(self.timeout, self.data.delete_consumer(&old.name)).await;
        }
        let cfg = consumer::pull::Config {
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: sseq,
            },
            ack_policy: consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        };
        let consumer: consumer::PullConsumer = within(
            self.timeout,
            "opening a reader",
            self.data.create_consumer(cfg),
        )
        .await?;
        let messages = within(
            self.timeout,
            "opening a reader",
            consumer.stream().max_messages_per_batch(WINDOW).messages(),
        )
        .await?;
        Ok(Cursor {
            name: consumer.cached_info().name.clone(),
            messages,
            next_sseq: sseq,
            last_our: 0,
        })
    }
}

impl Store for JetStore {
    fn commit(&mut self, b: &Batch) -> Result<Committed> {
        if self.waiting() {
            return Ok(Committed {
                appended: 0,
                outage: self.outage.clone(),
                void: Vec::new(),
            });
        }
        // Out of reach: the broker must answer (the stream's leader, its info) before
        // anything counts as back; a commit with nothing to send proves nothing.
        if self.outage.is_some() {
            let probe = self.rt.block_on(self.inner.probe());
            if self.settle(probe)?.is_none() {
                return Ok(Committed {
                    appended: 0,
                    outage: self.outage.clone(),
                    void: Vec::new(),
                });
            }
        }
        let (n, r) = self.rt.block_on(self.inner.commit(b));
        self.settle(r)?;
        Ok(Committed {
            appended: n,
            outage: self.outage.clone(),
            void: std::mem::take(&mut self.inner.voided),
        })
    }

    fn read(&mut self, from: u64, max: usize) -> Result<Vec<Stored>> {
        if self.waiting() {
            return Ok(Vec::new());
        }
        // A read finds out that the broker is out of reach, never that it is back:
        // it may not have asked it at all (nothing stored past `from`).
        match self.rt.block_on(self.inner.read(from, max)) {
            Ok(v) => Ok(v),
            Err(f) => Ok(self.settle::<Vec<Stored>>(Err(f))?.unwrap_or_default()),
        }
    }

    fn depth(&self) -> Depth {
        self.inner.depth
    }

    fn disk_bytes(&self) -> u64 {
        self.inner.server_bytes
    }

    fn syncs(&self) -> u64 {
        0
    }

    fn outage(&self) -> Option<&str> {
        self.outage.as_deref()
    }
}

/// What the spool `stream` at `urls` holds, and its bytes as the broker counts them,
/// read without writing.
pub fn inspect(urls: &[String], stream: &str) -> Result<(Depth, u64)> {
    let rt = runtime()?;
    rt.block_on(async {
        let names = Names::new(stream);
        let js = nats::connect(urls, Duration::from_secs(2)).await?;
        let (data, state) = match (
            js.get_stream(&names.stream).await,
            js.get_stream(&names.state).await,
        ) {
            (Ok(d), Ok(s)) => (d, s),
            (Err(e), _) | (_, Err(e)) => {
                bail!("the spool's stream `{stream}` at {}: {e}", urls.join(","))
            }
        };
        let mut inner = Inner::new(js, data, names, Duration::from_secs(2));
        inner.recover(&state).await.map_err(|f| match f {
            Fail::Outage(why) => anyhow!("reading the spool `{stream}`: {why}"),
            Fail::Fatal(e) => e,
        })?;
        Ok((inner.depth, inner.server_bytes))
    })
}
