//! The broker's thread and its nodes.

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use super::{BrokerConfig, Order, READY, Reply};
use crate::program::{Program, Spec, describe, last_lines};
use crate::record::program::ProgramRun;

/// How long a node may take to exit after SIGTERM.
const GRACE: Duration = Duration::from_secs(2);

/// One node.
struct Node {
    name: String,
    url: String,
    program: Program,
    started_ns: u64,
    /// Killed by a fault, and not started again.
    killed: bool,
}

/// The nodes of one broker.
struct Nodes {
    nodes: Vec<Node>,
}

/// A port free on `host` now (the node binds it a moment later).
fn free_port(host: Ipv4Addr) -> Result<u16> {
    let l =
        TcpListener::bind((host, 0)).with_context(|| format!("finding a free port on {host}"))?;
    Ok(l.local_addr()?.port())
}

/// The command lines of `n` nodes: client ports on `host`, cluster routes on loopback.
fn commands(n: usize, host: Ipv4Addr, dir: &Path) -> Result<Vec<(String, Vec<String>)>> {
    let exe = crate::process::resolve_program("nats-server").map_err(|e| {
        anyhow!("{e}: the broker is NATS's own server (Debian's package nats-server)")
    })?;
    let ports = (0..n)
        .map(|_| free_port(host))
        .collect::<Result<Vec<_>>>()?;
    let routes = (0..n)
        .map(|_| free_port(Ipv4Addr::LOCALHOST))
        .collect::<Result<Vec<_>>>()?;
    let all_routes: Vec<String> = routes
        .iter()
        .map(|p| format!("nats://127.0.0.1:{p}"))
        .collect();
    let mut out = Vec::new();
    for i in 0..n {
        let name = format!("zw{}", i + 1);
        let store = dir.join(&name);
        let mut argv = vec![
            exe.display().to_string(),
            "-js".into(),
            "-a".into(),
            host.to_string(),
            "-p".into(),
            ports[i].to_string(),
            "-sd".into(),
            store.display().to_string(),
            "-n".into(),
            name.clone(),
        ];
        if n > 1 {
            argv.extend([
                "--cluster_name".into(),
                "zerowin".into(),
                "--cluster".into(),
                all_routes[i].clone(),
                "--routes".into(),
                all_routes.join(","),
            ]);
        }
        out.push((format!("nats://{host}:{}", ports[i]), argv));
    }
    Ok(out)
}

impl Nodes {
    fn start(cfg: BrokerConfig, host: Ipv4Addr, dir: &Path) -> Result<Nodes> {
        let mut nodes = Nodes { nodes: Vec::new() };
        let ready = regex::Regex::new("Server is ready").expect("a valid pattern");
        for (i, (url, argv)) in commands(cfg.nodes, host, dir)?.into_iter().enumerate() {
            let spec = Spec {
                argv,
                netns: None,
                ready: Some(ready.clone()),
                rss: false,
            };
            nodes.nodes.push(Node {
                name: format!("zw{}", i + 1),
                url,
                program: Program::spawn(spec)?,
                started_ns: crate::sys::monotonic_ns(),
                killed: false,
            });
        }
        for i in 0..nodes.nodes.len() {
            nodes.wait_listening(i)?;
        }
        Ok(nodes)
    }

    fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url.clone()).collect()
    }

    /// Waits until node `i` says it is ready; its exit, or [`READY`] passing, is an
    /// error with its last words.
    fn wait_listening(&mut self, i: usize) -> Result<()> {
        let until = Instant::now() + READY;
        let n = &mut self.nodes[i];
        loop {
            if n.program.said_ready() {
                return Ok(());
            }
            let exited = n.program.try_wait()?;
            if exited.is_some() || Instant::now() >= until {
                n.program.kill()?;
                let (out, err, _) = n.program.take_output();
                let (how, _) = describe(exited);
                let words = last_lines(&format!("{out}\n{err}"), 4);
                bail!(
                    "broker node {} ({}) {}{}",
                    n.name,
                    n.url,
                    match exited {
                        Some(_) => format!("{how} before it was ready"),
                        None => format!("was not ready within {READY:?}"),
                    },
                    match words.is_empty() {
                        true => String::new(),
                        false => format!("; its last output: {words}"),
                    }
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until JetStream answers through any node.
    fn wait_jetstream(&self) -> Result<()> {
        let urls = self.urls();
        in_runtime(async move {
            let js = crate::store::jetstream::connect(&urls, Duration::from_secs(2)).await?;
            crate::store::jetstream::wait_ready(&js, READY).await
        })
        .context("the broker's JetStream")
    }

    fn index(&self, n: usize) -> Result<usize> {
        match n {
            1.. if n <= self.nodes.len() => Ok(n - 1),
            _ => bail!(
                "there is no broker node {n}: the broker has {} (1 to {0})",
                self.nodes.len()
            ),
        }
    }

    fn kill(&mut self, i: usize) -> Result<String> {
        let n = &mut self.nodes[i];
        n.program.kill()?;
        n.killed = true;
        Ok(format!("killed broker node {} ({})", n.name, n.url))
    }

    fn restart(&mut self, i: usize) -> Result<String> {
        // Killed from outside (`kill -9` by hand): reaped, and so killed here too.
        if !self.nodes[i].killed && self.nodes[i].program.try_wait()?.is_some() {
            self.nodes[i].program.kill()?;
            self.nodes[i].killed = true;
        }
        if !self.nodes[i].killed {
            bail!(
                "broker node {} is running: only a killed node is started again",
                self.nodes[i].name
            );
        }
        self.nodes[i].program.start()?;
        self.nodes[i].killed = false;
        self.wait_listening(i)?;
        Ok(format!(
            "started broker node {} again ({})",
            self.nodes[i].name, self.nodes[i].url
        ))
    }

    fn kill_leader(&mut self) -> Result<String> {
        let urls: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| !n.killed)
            .map(|n| n.url.clone())
            .collect();
        let leader = in_runtime(async move {
            let js = crate::store::jetstream::connect(&urls, Duration::from_secs(2)).await?;
            crate::store::jetstream::stream_leader(&js, READY).await
        })?;
        let i = self
            .nodes
            .iter()
            .position(|n| n.name == leader)
            .ok_or_else(|| {
                anyhow!("the stream's leader `{leader}` is not a node of this broker")
            })?;
        Ok(format!(
            "{}, the leader of the spool's stream",
            self.kill(i)?
        ))
    }

    fn apply(&mut self, order: Order) -> Result<String> {
        match order {
            Order::Kill(n) => {
                let i = self.index(n)?;
                self.kill(i)
            }
            Order::Restart(Some(n)) => {
                let i = self.index(n)?;
                self.restart(i)
            }
            Order::Restart(None) => {
                let dead: Vec<usize> = (0..self.nodes.len())
                    .filter(|i| self.nodes[*i].killed)
                    .collect();
                let said = dead
                    .into_iter()
                    .map(|i| self.restart(i))
                    .collect::<Result<Vec<_>>>()?;
                match said.is_empty() {
                    true => Ok("no broker node was down".into()),
                    false => Ok(said.join("; ")),
                }
            }
            Order::KillLeader => self.kill_leader(),
        }
    }

    /// Stops every node; a node that had exited by itself makes it an error.
    fn finish(self) -> Result<Vec<ProgramRun>> {
        let mut runs = Vec::new();
        for mut n in self.nodes {
            let ended = n.program.terminate(GRACE)?;
            let (stdout_tail, stderr_tail, _) = n.program.take_output();
            let (exit, code) = describe(ended.status);
            runs.push(ProgramRun {
                command: n.program.spec().argv.clone(),
                started_ns: n.started_ns,
                ready_ns: None,
                exit,
                code,
                exited_early: ended.by_itself && !n.killed,
                needed_sigkill: ended.needed_sigkill,
                killed_by_fault: n.killed,
                restarts: n.program.lives().saturating_sub(1),
                stdout_tail,
                stderr_tail,
                peak_rss_bytes: None,
                rss: Vec::new(),
            });
        }
        if let Some(r) = runs.iter().find(|r| r.exited_early) {
            let words = last_lines(&format!("{}\n{}", r.stdout_tail, r.stderr_tail), 4);
            bail!(
                "broker node `{}` {} before the trial ended; its last output: {words}",
                r.command_line(),
                r.exit
            );
        }
        Ok(runs)
    }
}

/// Runs `f` on a small runtime of its own, for the broker's questions.
fn in_runtime<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow!("starting a runtime: {e}"))?
        .block_on(f)
}

/// The broker's thread: starts the nodes, says when they are ready (or why not),
/// carries out orders until the channel closes, then stops them.
pub(super) fn run(
    cfg: BrokerConfig,
    host: Ipv4Addr,
    inbox: mpsc::Receiver<(Order, Reply)>,
    up: mpsc::Sender<Result<Vec<String>>>,
) -> Result<Vec<ProgramRun>> {
    let dir = crate::scratch::Scratch::new()?;
    let started = Nodes::start(cfg, host, dir.path()).and_then(|n| {
        n.wait_jetstream()?;
        Ok(n)
    });
    let mut nodes = match started {
        Ok(n) => n,
        Err(e) => {
            let _ = up.send(Err(e));
            return Ok(Vec::new());
        }
    };
    let _ = up.send(Ok(nodes.urls()));
    while let Ok((order, reply)) = inbox.recv() {
        let _ = reply.send(nodes.apply(order));
    }
    nodes.finish()
}
