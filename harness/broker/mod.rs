//! A NATS JetStream broker of zerowin's own, for the spool's `store = "jetstream"`:
//! one `nats-server` node, or three joined by cluster routes, on ports chosen free,
//! with their storage in a temporary directory. A scenario's `[broker]` table starts
//! one per trial, in the trial's namespace (the client's side of a veth pair, so that
//! a `blackhole` cuts the sender off from it); `zerowin broker up` starts one by hand.
//!
//! Every node runs in a process group of its own, owned by one thread ([`Broker`]),
//! which kills and reaps them when the broker is finished or dropped, and on Ctrl-C
//! with every other group ([`crate::process`]). Faults reach the nodes through that
//! thread: `kill-broker-node N` (SIGKILL), `restart-broker-node N` (the same ports and
//! storage: it rejoins and catches up), and `kill-broker-leader` (the node that leads
//! the spool's stream, asked of the broker itself).

mod node;

use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Result, anyhow};

use crate::limits::Int;
use crate::record::program::ProgramRun;
use crate::settings::{Keys, ScenarioError};

/// How long a broker may take to be ready: its nodes listening, and JetStream
/// answering (a cluster has elected its meta leader).
pub const READY: Duration = Duration::from_secs(30);
const NODES: Int = Int::new(1, 3);

/// A scenario's `[broker]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerConfig {
    /// 1, or 3 joined by routes.
    pub nodes: usize,
}

pub const KEYS: &[(&str, &str)] = &[("nodes", "1, or 3 joined by cluster routes (1)")];

impl BrokerConfig {
    pub fn read(keys: &mut Keys) -> Result<BrokerConfig, ScenarioError> {
        let nodes = match keys.int("nodes", NODES)? {
            None | Some(1) => 1,
            Some(3) => 3,
            Some(n) => return Err(keys.invalid("nodes", format!("is {n}; expected 1 or 3"))),
        };
        Ok(BrokerConfig { nodes })
    }

    pub fn describe(&self) -> String {
        match self.nodes {
            1 => "a NATS JetStream broker of 1 node".into(),
            n => format!("a NATS JetStream cluster of {n} nodes"),
        }
    }
}

/// What the broker's thread is told to do; each answer says what was done.
enum Order {
    Kill(usize),
    Restart(Option<usize>),
    KillLeader,
}

type Reply = mpsc::Sender<Result<String>>;

/// A running broker.
pub struct Broker {
    urls: Vec<String>,
    orders: Mutex<mpsc::Sender<(Order, Reply)>>,
    thread: Option<JoinHandle<Result<Vec<ProgramRun>>>>,
}

impl Broker {
    /// Starts `cfg.nodes` nodes listening on `host`, on a thread that owns them, and
    /// waits until JetStream answers.
    pub fn start(cfg: BrokerConfig, host: Ipv4Addr) -> Result<Broker> {
        let (orders, inbox) = mpsc::channel();
        let (up, ready) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("broker".into())
            .spawn(move || node::run(cfg, host, inbox, up))?;
        match ready.recv() {
            Ok(Ok(urls)) => Ok(Broker {
                urls,
                orders: Mutex::new(orders),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(anyhow!(
                    "the broker's thread ended before its nodes were ready"
                ))
            }
        }
    }

    /// The nodes' client URLs, as `nats_url` takes them.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    fn order(&self, o: Order) -> Result<String> {
        let (tx, rx) = mpsc::channel();
        self.orders
            .lock()
            .map_err(|_| anyhow!("the broker's lock is poisoned"))?
            .send((o, tx))
            .map_err(|_| anyhow!("the broker has stopped"))?;
        rx.recv()
            .map_err(|_| anyhow!("the broker stopped before answering"))?
    }

    /// SIGKILL to node `n` (1-based).
    pub fn kill(&self, n: usize) -> Result<String> {
        self.order(Order::Kill(n))
    }

    /// Starts node `n` again, or every killed node.
    pub fn restart(&self, n: Option<usize>) -> Result<String> {
        self.order(Order::Restart(n))
    }

    /// SIGKILL to the node that leads the spool's stream.
    pub fn kill_leader(&self) -> Result<String> {
        self.order(Order::KillLeader)
    }

    /// Stops every node and says what each did.
    pub fn finish(mut self) -> Result<Vec<ProgramRun>> {
        self.stop()
    }

    fn stop(&mut self) -> Result<Vec<ProgramRun>> {
        // Closing the channel tells the thread to stop its nodes.
        drop(std::mem::replace(
            &mut self.orders,
            Mutex::new(mpsc::channel().0),
        ));
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| anyhow!("the broker's thread panicked"))?,
            None => Ok(Vec::new()),
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
