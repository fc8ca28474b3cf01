//! `zerowin client STRATEGY --connect HOST:PORT`: one client against a sender that
//! is already running.

use std::net::ToSocketAddrs;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cli::ClientArgs;
use crate::record::TrialRecord;
use crate::report::export::{Export, ExportTarget, Sink};
use crate::report::json::Json;
use crate::report::output::Out;
use crate::report::text::{self, Layout};
use crate::strategy::{self, ClientParams};

pub fn client(a: ClientArgs) -> Result<ExitCode> {
    let addr = a
        .connect
        .to_socket_addrs()
        .with_context(|| format!("--connect {}: not a HOST:PORT", a.connect))?
        .next()
        .with_context(|| format!("--connect {}: no address", a.connect))?;
    let export = a
        .json
        .as_deref()
        .map(|p| ExportTarget::open(Box::new(Json), p, &[]))
        .transpose()?;
    let to_stdout = export.as_ref().is_some_and(|e| e.is_stdout());
    let out = Out::beside(to_stdout);
    let params = params(&a)?;
    let started = Instant::now();
    let rec = a.strategy.drive(addr, &params, &mut strategy::NoHooks)?;
    let r = TrialRecord::assemble(
        "client",
        1,
        "external",
        "unknown",
        rec,
        Default::default(),
        started.elapsed().as_micros() as u64,
    );
    let layout = Layout { width: out.width() };
    let mut report = format!("{} against {addr}\n", a.strategy.name());
    report.push_str(&text::trial_table(std::slice::from_ref(&r), layout));
    report.push_str(&text::explain(&r));
    let violations: Vec<String> = match a.expect {
        Some(want) if want != r.outcome => vec![format!("expected {want}, got {}", r.outcome)],
        _ => vec![],
    };
    for v in &violations {
        report.push_str(&format!("{v}\n"));
    }
    out.print(&report)?;
    if let Some(e) = export {
        let what = format!(
            "zerowin client {} --connect {}",
            a.strategy.name(),
            a.connect
        );
        let expect = a.expect.map(|o| o.as_str());
        e.finish(&Export::single(&r, &what, expect, &violations))?;
    }
    Ok(if violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The client's parameters from its flags.
fn params(a: &ClientArgs) -> Result<ClientParams> {
    let deadline = a.deadline.unwrap_or(a.duration + Duration::from_secs(5));
    if deadline <= a.duration {
        bail!("--deadline must be longer than --duration");
    }
    let mut params = own_settings(a)?;
    let reply = a
        .reply
        .clone()
        .unwrap_or_else(|| a.strategy.default_reply().to_string());
    params.reply = crate::words::unescape(&reply).map_err(|m| anyhow::anyhow!("--reply: {m}"))?;
    params.request = match &a.request {
        Some(r) => crate::words::unescape(r).map_err(|m| anyhow::anyhow!("--request: {m}"))?,
        None => Vec::new(),
    };
    if !params.request.is_empty() && !a.strategy.key_names().contains(&"request") {
        bail!(
            "--request: strategy {} does not send one",
            a.strategy.name()
        );
    }
    params.framed = a.framed || !a.strategy.speaks(false);
    if params.framed && !a.strategy.speaks(true) {
        bail!(
            "--framed: strategy {} reads bare bytes only",
            a.strategy.name()
        );
    }
    params.delay = a.delay;
    params.rcvbuf = a.rcvbuf;
    params.duration = a.duration;
    params.deadline = deadline;
    // Like Python's settimeout: every call of the client gets the same timeout.
    params.sock = crate::sockopts::SocketOptions {
        connect_timeout: a.call_timeout,
        recv_timeout: a.call_timeout,
        send_timeout: a.call_timeout,
        ..Default::default()
    };
    Ok(params)
}

/// The strategy's own settings from its flags (`--recv-size`, `--chunk`), read by the
/// strategy as the keys they stand for.
fn own_settings(a: &ClientArgs) -> Result<ClientParams> {
    let known = a.strategy.key_names();
    let pairs: Vec<String> = [("recv_size", a.recv_size), ("chunk", a.chunk)]
        .into_iter()
        .filter(|(k, _)| known.contains(k))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let flags = std::path::Path::new("--recv-size/--chunk");
    let mut keys = crate::settings::Keys::from_pairs(flags, "client", &pairs)?;
    let mut params = ClientParams::default();
    a.strategy
        .configure(&mut keys, &mut params, std::path::Path::new("."))?;
    Ok(params)
}
