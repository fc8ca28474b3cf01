//! The NATS side of the JetStream spool: connecting, the two streams' names and
//! settings, making them (or refusing one made with other settings), and the
//! questions a broker's starter asks (is JetStream ready, who leads a stream).

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use async_nats::jetstream::{self, Context, stream};

/// The most publishes the client keeps waiting for acknowledgements, given up on
/// ones included: twice the spool's window.
const IN_FLIGHT: usize = 2 * super::store::WINDOW;

/// How long a broker may be "temporarily unavailable" (a cluster electing its
/// leaders) before opening the spool fails.
pub const SETTLE: Duration = Duration::from_secs(15);

/// The names one spool uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The messages' stream, and its one subject.
    pub stream: String,
    pub subject: String,
    /// The reservation's stream (one message per subject), and its subject.
    pub state: String,
    pub state_subject: String,
}

impl Names {
    pub fn new(stream: &str) -> Names {
        Names {
            stream: stream.to_string(),
            subject: format!("zerowin.{stream}.m"),
            state: format!("{stream}-state"),
            state_subject: format!("zerowin.{stream}.state"),
        }
    }
}

/// FNV-1a, 64 bits: a stable name from a path.
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A stream name JetStream takes, that leaves room for `-state`.
pub fn check_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 48
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a stream name zerowin uses: 1 to 48 of A-Z a-z 0-9 - _"
        ))
    }
}

pub fn parse_url(u: &str) -> Result<async_nats::ServerAddr, String> {
    u.parse::<async_nats::ServerAddr>()
        .map_err(|e| format!("`{u}` is not a NATS server address ({e}); expected nats://HOST:PORT"))
}

/// Connects to any of `urls`, within `timeout`; a server lost later is reconnected
/// to in the background, for ever (an outage, not an error).
pub async fn connect(urls: &[String], timeout: Duration) -> Result<Context> {
    let addrs = urls
        .iter()
        .map(|u| parse_url(u).map_err(|m| anyhow!(m)))
        .collect::<Result<Vec<_>>>()?;
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(timeout)
        .request_timeout(Some(timeout))
        .max_reconnects(None)
        .reconnect_delay_callback(|n| Duration::from_millis((50 * n as u64).min(500)))
        .connect(addrs)
        .await
        .map_err(|e| anyhow!("no NATS server answered at {}: {e}", urls.join(",")))?;
    // Without backpressure, a publish past the window fails at once instead of
    // waiting for a permit with no bound: the permits of publishes given up on are
    // held until their acknowledgement's time is up (`ack_timeout`).
    Ok(jetstream::ContextBuilder::new()
        .timeout(timeout)
        .ack_timeout(timeout)
        .max_ack_inflight(IN_FLIGHT)
        .backpressure_on_inflight(false)
        .build(client))
}

/// Waits until JetStream answers (a cluster has elected its meta leader), up to
/// `limit`; its last answer is the error.
pub async fn wait_ready(js: &Context, limit: Duration) -> Result<()> {
    let until = Instant::now() + limit;
    loop {
        let why = match account_info(js).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if why.contains("not enabled") || Instant::now() >= until {
            bail!("{}", jetstream_error(&why));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asks `$JS.API.INFO` and reads the reply as plain JSON: async-nats 0.52's typed
/// answer cannot parse nats-server 2.9's (seen here), and all this needs is whether
/// JetStream answered without an error.
async fn account_info(js: &Context) -> std::result::Result<(), String> {
    let reply = js
        .client()
        .request("$JS.API.INFO", "".into())
        .await
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_slice(&reply.payload)
        .map_err(|e| format!("an answer that is not JSON ({e})"))?;
    match v.get("error") {
        None => Ok(()),
        Some(err) => Err(err
            .get("description")
            .and_then(|d| d.as_str())
            .unwrap_or("an error without a description")
            .to_string()),
    }
}

/// The broker's words, with what they mean for the spool.
fn jetstream_error(why: &str) -> String {
    if why.contains("not enabled") || why.contains("no responders") {
        format!(
            "JetStream is not enabled on this NATS server ({why}); start it with -js, or `zerowin broker up`"
        )
    } else {
        format!("JetStream did not answer: {why}")
    }
}

fn data_config(n: &Names, replicas: usize) -> stream::Config {
    stream::Config {
        name: n.stream.clone(),
        subjects: vec![n.subject.clone()],
        num_replicas: replicas,
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    }
}

fn state_config(n: &Names, replicas: usize) -> stream::Config {
    stream::Config {
        name: n.state.clone(),
        subjects: vec![n.state_subject.clone()],
        num_replicas: replicas,
        storage: stream::StorageType::File,
        max_messages_per_subject: 1,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    }
}

/// A limit as the broker keeps it: 0 (unset) and -1 both mean none.
fn limit(n: i64) -> String {
    match n {
        ..=0 => "unlimited".into(),
        n => n.to_string(),
    }
}

/// What must match for an existing stream to be this spool's.
fn differs(have: &stream::Config, want: &stream::Config) -> Option<String> {
    let checks = [
        (
            "subjects",
            format!("{:?}", have.subjects),
            format!("{:?}", want.subjects),
        ),
        (
            "replicas",
            have.num_replicas.to_string(),
            want.num_replicas.to_string(),
        ),
        (
            "storage",
            format!("{:?}", have.storage),
            format!("{:?}", want.storage),
        ),
        (
            "retention",
            format!("{:?}", have.retention),
            format!("{:?}", want.retention),
        ),
        (
            "max_msgs_per_subject",
            limit(have.max_messages_per_subject),
            limit(want.max_messages_per_subject),
        ),
        (
            "max_msgs",
            limit(have.max_messages),
            limit(want.max_messages),
        ),
        ("max_bytes", limit(have.max_bytes), limit(want.max_bytes)),
        (
            "max_age",
            format!("{:?}", have.max_age),
            format!("{:?}", want.max_age),
        ),
    ];
    checks
        .iter()
        .find(|(_, h, w)| h != w)
        .map(|(k, h, w)| format!("{k} is {h}, the spool needs {w}"))
}

/// The stream `want` names: made if missing; if it exists with other settings,
/// refused and left as it is.
async fn ensure(js: &Context, want: stream::Config) -> Result<stream::Stream> {
    let until = Instant::now() + SETTLE;
    loop {
        match js.get_stream(&want.name).await {
            Ok(mut s) => {
                let have = s.info().await?.config.clone();
                if let Some(d) = differs(&have, &want) {
                    bail!(
                        "the stream `{}` exists with other settings ({d}); zerowin does not change or delete it: name another with --set stream=NAME",
                        want.name
                    );
                }
                return Ok(s);
            }
            Err(e) if e.to_string().contains("not found") => {}
            Err(e) if Instant::now() < until => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(e) => return Err(anyhow!("{}", jetstream_error(&e.to_string()))),
        }
        match js.create_stream(want.clone()).await {
            Ok(s) => return Ok(s),
            // A cluster still electing, or a create racing ours: ask again.
            Err(_) if Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => {
                return Err(anyhow!("creating the stream `{}`: {e}", want.name));
            }
        }
    }
}

/// Both streams of a spool, made or checked.
pub async fn streams(
    js: &Context,
    n: &Names,
    replicas: usize,
) -> Result<(stream::Stream, stream::Stream)> {
    wait_ready(js, SETTLE).await?;
    let data = ensure(js, data_config(n, replicas)).await?;
    let state = ensure(js, state_config(n, replicas)).await?;
    Ok((data, state))
}

/// The node that leads the spool's stream, once it has one (a cluster that lost its
/// leader elects another within seconds), waiting up to `limit`.
pub async fn stream_leader(js: &Context, limit: Duration) -> Result<String> {
    let until = Instant::now() + limit;
    loop {
        match leader_now(js).await {
            Ok(l) => return Ok(l),
            Err(e) if Instant::now() >= until => {
                return Err(e.context(format!("no leader of the spool's stream within {limit:?}")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// The node that leads the spool's stream now (the first one not a `-state` stream,
/// in a broker of zerowin's own, which holds one spool).
async fn leader_now(js: &Context) -> Result<String> {
    use futures_util::TryStreamExt;
    let names: Vec<String> = js
        .stream_names()
        .try_collect()
        .await
        .context("listing the broker's streams")?;
    let Some(name) = names.iter().find(|n| !n.ends_with("-state")) else {
        bail!("the broker holds no spool stream yet: no leader to kill");
    };
    let mut s = js.get_stream(name).await?;
    let info = s.info().await?;
    info.cluster
        .as_ref()
        .and_then(|c| c.leader.clone())
        .ok_or_else(|| anyhow!("the stream `{name}` has no leader now"))
}
