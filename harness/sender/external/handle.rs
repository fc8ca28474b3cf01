//! A started external sender: its per-trial folder with its config files, its port,
//! and its program ([`Program`]), which the fault schedule may kill, restart or
//! pause like one of zerowin's own senders.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Ready, Settings};
use crate::program::{Program, Spec, describe, fill, fill_one};
use crate::record::SenderReport;
use crate::record::program::ProgramRun;
use crate::scratch::Scratch;
use crate::sender::{SenderConfig, SenderHandle};

/// How often readiness is checked.
const POLL: Duration = Duration::from_millis(5);

pub struct ProgramSender {
    settings: Settings,
    addr: SocketAddr,
    /// Its `{tmp}`, removed when the handle goes.
    _tmp: Arc<Scratch>,
    program: Program,
    seconds: Vec<Program>,
    started_ns: u64,
    ready_ns: Option<u64>,
}

impl ProgramSender {
    pub fn start(config: &SenderConfig) -> Result<ProgramSender> {
        let settings = config
            .setup
            .own
            .get::<Settings>()
            .context("the external sender's settings are missing")?
            .clone();
        let tmp = match &config.tmp {
            Some(t) => t.clone(),
            None => Arc::new(Scratch::new()?),
        };
        let port = match settings.port {
            Some(p) => p,
            None => free_port(config)?,
        };
        let addr = SocketAddr::new(config.bind, port);
        write_configs(&settings, addr, &tmp)?;
        let spec = Spec {
            argv: fill(&settings.command, addr, Some(tmp.path())),
            netns: config.netns.clone(),
            ready: match &settings.ready {
                Ready::Output(re) => Some(re.clone()),
                Ready::Port => None,
            },
            rss: true,
        };
        if settings.port.is_some() && taken(port, &config.netns) {
            bail!("port {port} is already taken: something listens on it before the server starts");
        }
        let started_ns = crate::sys::monotonic_ns();
        let program = Program::spawn(spec)?;
        let mut s = ProgramSender {
            settings,
            addr,
            _tmp: tmp,
            program,
            seconds: Vec::new(),
            started_ns,
            ready_ns: None,
        };
        s.wait_ready()?;
        s.ready_ns = Some(crate::sys::monotonic_ns());
        Ok(s)
    }

    /// Waits until it is ready; if it exits first or takes too long, stops it and
    /// says why, with the last of what it printed.
    fn wait_ready(&mut self) -> Result<()> {
        let until = Instant::now() + self.settings.ready_timeout;
        let port = self.addr.port();
        loop {
            if let Some(st) = self.program.try_wait()? {
                // Reaped first, so its pipes have reached their end: all it said is in.
                self.program.kill()?;
                let said = self.said();
                bail!(
                    "the server `{}` {} before it was ready{}",
                    self.settings.label,
                    describe(Some(st)).0,
                    said_note(&said)
                );
            }
            let ready = match &self.settings.ready {
                Ready::Port => self.program.pid().is_some_and(|pid| listening(pid, port)),
                Ready::Output(_) => self.program.said_ready(),
            };
            if ready {
                return Ok(());
            }
            if Instant::now() >= until {
                self.program.terminate(self.settings.stop_grace)?;
                let said = self.said();
                let what = match &self.settings.ready {
                    Ready::Port => format!("port {port} did not listen"),
                    Ready::Output(re) => format!("its output never matched `{}`", re.as_str()),
                };
                bail!(
                    "the server `{}` was not ready within {:?}: {what}{}",
                    self.settings.label,
                    self.settings.ready_timeout,
                    said_note(&said)
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// The last lines of what the stopped program printed.
    fn said(&mut self) -> String {
        let (out, err, _) = self.program.take_output();
        crate::program::last_lines(&format!("{out}\n{err}"), 8)
    }

    /// Stops it (SIGTERM, grace, SIGKILL) and returns what is known of its run.
    fn stop(&mut self) -> Result<ProgramRun> {
        for s in &mut self.seconds {
            s.terminate(self.settings.stop_grace)?;
        }
        let killed_by_fault = !self.program.running();
        let ended = self.program.terminate(self.settings.stop_grace)?;
        let restarts = self.program.lives().saturating_sub(1);
        let command = self.program.spec().argv.clone();
        let (stdout_tail, stderr_tail, rss) = self.program.take_output();
        let (exit, code) = describe(ended.status);
        Ok(ProgramRun {
            command,
            started_ns: self.started_ns,
            ready_ns: self.ready_ns,
            exit,
            code,
            exited_early: ended.by_itself,
            needed_sigkill: ended.needed_sigkill,
            killed_by_fault: killed_by_fault && !ended.by_itself,
            restarts,
            stdout_tail,
            stderr_tail,
            peak_rss_bytes: rss.peak_bytes,
            rss: rss.points,
        })
    }
}

fn said_note(said: &str) -> String {
    match said.is_empty() {
        true => "; it printed nothing".into(),
        false => format!("; its last output: {said}"),
    }
}

/// Writes its config files into its folder, placeholders filled, never through a
/// symlink and never over a file.
fn write_configs(s: &Settings, addr: SocketAddr, tmp: &Scratch) -> Result<()> {
    let dir = crate::artifacts::OutDir::root(tmp.path(), "the server's folder")?;
    for c in &s.configs {
        use std::io::Write;
        let mut f = dir.create_new(&c.name)?;
        f.write_all(fill_one(&c.text, addr, Some(tmp.path())).as_bytes())
            .with_context(|| format!("writing {}", tmp.path().join(&c.name).display()))?;
    }
    Ok(())
}

/// A port nothing listens on in the sender's namespace: bound, read and released.
fn free_port(config: &SenderConfig) -> Result<u16> {
    let bind = config.bind;
    let pick = move || TcpListener::bind((bind, 0))?.local_addr().map(|a| a.port());
    let port = match &config.netns {
        Some(ns) => ns.run(pick),
        None => pick(),
    };
    port.context("choosing a free port for the external server")
}

/// Whether a socket in LISTEN holds `port` in the network namespace of process
/// `pid` (`/proc/PID/net/tcp` and `tcp6`, whatever address it bound).
fn listening(pid: i32, port: u16) -> bool {
    listens_at(&format!("/proc/{pid}/net"), port)
}

/// Whether something listens on `port` in the sender's namespace (`netns`, or this
/// thread's): read from a thread there, through `/proc/thread-self`.
fn taken(port: u16, netns: &Option<Arc<crate::sys::netns::Netns>>) -> bool {
    let look = || Ok(listens_at("/proc/thread-self/net", port));
    match netns {
        Some(ns) => ns.run(look).unwrap_or(false),
        None => look().unwrap_or(false),
    }
}

fn listens_at(net: &str, port: u16) -> bool {
    ["tcp", "tcp6"].iter().any(|f| {
        let text = std::fs::read_to_string(format!("{net}/{f}")).unwrap_or_default();
        listens_in(&text, port)
    })
}

/// Whether a `/proc/net/tcp` table has a LISTEN (state 0A) socket on `port`.
fn listens_in(table: &str, port: u16) -> bool {
    table.lines().skip(1).any(|l| {
        let mut f = l.split_whitespace();
        let local = f.nth(1).unwrap_or("");
        let state = f.nth(1).unwrap_or("");
        state == "0A"
            && local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                == Some(port)
    })
}

impl SenderHandle for ProgramSender {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn kill(&mut self) -> Result<()> {
        self.program.kill()
    }

    fn restart(&mut self) -> Result<()> {
        self.program.kill()?;
        self.program.start()?;
        self.wait_ready()
    }

    fn signal(&mut self, sig: nix::sys::signal::Signal) -> Result<()> {
        self.program.signal(sig)
    }

    fn start_second(&mut self) -> Result<()> {
        let mut second = Program::spawn(Spec {
            rss: false,
            ..self.program.spec().clone()
        })?;
        // A second instance that cannot bind exits; give it a moment to.
        std::thread::sleep(Duration::from_millis(200));
        if let Some(st) = second.try_wait()? {
            second.kill()?;
            let (out, err, _) = second.take_output();
            let said = crate::program::last_lines(&format!("{out}\n{err}"), 8);
            bail!(
                "a second `{}` {}{}",
                self.settings.label,
                describe(Some(st)).0,
                said_note(&said)
            );
        }
        self.seconds.push(second);
        Ok(())
    }

    fn finish(&mut self, _connections: u32, _wait: Duration) -> Result<SenderReport> {
        let run = self.stop()?;
        Ok(SenderReport {
            restarts: run.restarts,
            program: Some(run),
            ..SenderReport::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_listener_by_its_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n   1: 0100007F:1F91 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n";
        assert!(listens_in(table, 8080));
        assert!(!listens_in(table, 8081), "established, not listening");
        assert!(!listens_in(table, 80));
    }
}
