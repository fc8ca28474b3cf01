//! `zerowin broker up`: a NATS JetStream broker of zerowin's own, started by hand for
//! `zerowin serve --sender spool --set store=jetstream`, until Ctrl-C.

use std::io::BufRead;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::broker::{Broker, BrokerConfig};
use crate::cli::BrokerUpArgs;
use crate::report::output::{Out, Stream};

pub fn up(a: &BrokerUpArgs) -> Result<ExitCode> {
    let cfg = BrokerConfig { nodes: a.nodes };
    let broker = Broker::start(cfg, Ipv4Addr::LOCALHOST)?;
    let urls = broker.urls().join(",");
    let replicas = if a.nodes == 3 {
        " --set replicas=3"
    } else {
        ""
    };
    let out = Out::new(Stream::Stdout, true);
    out.print(&format!(
        "broker: {}, ready\n  nats_url={urls}\n  serve a spool on it:  zerowin serve --sender spool --port 8000 --set store=jetstream{replicas} --set nats_url={urls}\n  on stdin: kill N, restart N, kill-leader, status, stop; Ctrl-C stops it and removes its storage\n",
        cfg.describe()
    ))?;
    let lines = stdin_lines();
    let until = a.duration.map(|d| Instant::now() + d);
    loop {
        if crate::process::interrupted().is_some() || until.is_some_and(|u| Instant::now() >= u) {
            break;
        }
        match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(line) if line.trim() == "stop" => break,
            Ok(line) => out.print(&format!("{}\n", obey(&broker, line.trim())))?,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // stdin closed: go on until Ctrl-C or the duration.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                std::thread::sleep(Duration::from_millis(100))
            }
        }
    }
    drop(broker);
    out.print("broker: stopped; its nodes are reaped and its storage removed\n")?;
    Ok(ExitCode::SUCCESS)
}

/// stdin's lines, read on a thread of their own.
fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let _ = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    rx
}

/// One line of stdin, carried out; what was done, or why not.
fn obey(broker: &Broker, line: &str) -> String {
    let mut words = line.split_whitespace();
    let (verb, n) = (
        words.next().unwrap_or(""),
        words.next().map(str::parse::<usize>),
    );
    let done = match (verb, n) {
        ("", _) => return String::new(),
        ("kill", Some(Ok(n))) => broker.kill(n),
        ("restart", Some(Ok(n))) => broker.restart(Some(n)),
        ("restart", None) => broker.restart(None),
        ("kill-leader", None) => broker.kill_leader(),
        ("status", None) => Ok(format!("nats_url={}", broker.urls().join(","))),
        _ => {
            return format!(
                "broker: `{line}`? expected kill N, restart N, kill-leader, status or stop"
            );
        }
    };
    match done {
        Ok(said) => format!("broker: {said}"),
        Err(e) => format!("broker: {e:#}"),
    }
}
