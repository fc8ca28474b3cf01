//! `[sender]`, `[client]` and `[net]`: each table goes to the kind it names, which
//! reads and checks its own keys.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;

use super::ScenarioError;
use super::errors::Ctx;
use crate::net::NetConfig;
use crate::sender::{self, Sender};
use crate::settings::Keys;
use crate::strategy::{self, ClientParams, Strategy};

/// The sender `[sender] kind` names (the original by default), configured from the
/// rest of the table by the sender itself.
pub(super) fn configure_sender(
    cx: &Ctx,
    mut table: BTreeMap<String, Spanned<toml::Value>>,
    dir: &Path,
) -> Result<(&'static dyn Sender, sender::SenderSetup, usize), ScenarioError> {
    let src = cx.src();
    // The `store` key's line, for an error about the broker it needs.
    let store_line = table.get("store").map_or(0, |v| cx.line_of(v.span().start));
    let sender = match table.remove("kind") {
        None => sender::default_kind(),
        Some(k) => {
            let Some(name) = k.get_ref().as_str() else {
                return Err(src.err(
                    k.span(),
                    "sender.kind",
                    "expected a string, the sender's name",
                ));
            };
            sender::by_name(name).ok_or_else(|| {
                src.err(
                    k.span(),
                    "sender.kind",
                    format!("unknown sender `{name}`; known: {}", sender::names()),
                )
            })?
        }
    };
    let mut keys = Keys::new(src, "sender", table).in_dir(dir);
    let setup = sender.configure(&mut keys)?;
    keys.finish(&format!("sender `{}`", sender.name()), &sender.key_names())?;
    Ok((sender, setup, store_line))
}

/// Picks the strategy `[client] strategy` names and lets it read its own keys. Returns
/// it, whether `reply` was set, and the client's parameters.
pub(super) fn configure_client(
    cx: &Ctx,
    client: Spanned<BTreeMap<String, Spanned<toml::Value>>>,
    sender: &'static dyn Sender,
    dir: &Path,
) -> Result<(&'static dyn Strategy, bool, ClientParams), ScenarioError> {
    let span = client.span();
    let mut keys = Keys::new(cx.src(), "client", client.into_inner()).in_dir(dir);
    let Some(name) = keys.string("strategy")? else {
        return Err(cx.err(span, "client.strategy", "is required"));
    };
    let strategy = strategy::by_name(&name).ok_or_else(|| {
        keys.invalid(
            "strategy",
            format!("unknown strategy `{name}`; known: {}", strategy::names()),
        )
    })?;
    if !strategy.speaks(sender.framed()) {
        let why = match sender.framed() {
            true => "it speaks the framed protocol",
            false => "it sends bare bytes, not the framed protocol",
        };
        let use_ = speakers(sender.framed());
        return Err(keys.invalid(
            "strategy",
            format!(
                "`{name}` cannot talk to sender `{}`: {why}; use {use_}",
                sender.name()
            ),
        ));
    }
    let reply_set = keys.has("reply");
    let mut p = ClientParams {
        framed: sender.framed(),
        reply: strategy.default_reply().as_bytes().to_vec(),
        ..ClientParams::default()
    };
    strategy.configure(&mut keys, &mut p, dir)?;
    keys.finish(&format!("strategy `{name}`"), &strategy.key_names())?;
    Ok((strategy, reply_set, p))
}

/// `[net]`, read by [`crate::net`], and the line of its header.
pub(super) fn read_net(
    cx: &Ctx,
    table: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
) -> Result<(NetConfig, usize), ScenarioError> {
    let Some(t) = table else {
        return Ok((NetConfig::default(), 0));
    };
    let line = cx.line_of(t.span().start);
    let mut keys = Keys::new(cx.src(), "net", t.into_inner());
    let net = NetConfig::read(&mut keys)?;
    let known: Vec<&str> = NetConfig::KEYS.iter().map(|k| k.0).collect();
    keys.finish("[net]", &known)?;
    Ok((net, line))
}

/// The `[broker]` table, and what needs it: a spool on JetStream without `nats_url`
/// (whose `store` key is at `store_line`), and the broker's faults.
pub(super) fn read_broker(
    cx: &Ctx,
    table: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    setup: &sender::SenderSetup,
    store_line: usize,
    faults: &crate::fault::Schedule,
) -> Result<Option<crate::broker::BrokerConfig>, ScenarioError> {
    let err = |line: usize, key: &str, message: &str| ScenarioError {
        path: cx.path.to_path_buf(),
        line,
        key: Some(key.into()),
        message: message.into(),
    };
    let wants = setup.wants_broker;
    let Some(t) = table else {
        if wants {
            return Err(err(
                store_line,
                "sender.store",
                "store = \"jetstream\" needs nats_url, or a [broker] table that starts one (nodes = 1 or 3)",
            ));
        }
        if let Some(f) = faults.faults.iter().find(|f| f.action.on_broker()) {
            return Err(err(
                f.line,
                "fault.action",
                &format!(
                    "`{}` acts on the scenario's broker, and it has no [broker] table",
                    f.action.as_str()
                ),
            ));
        }
        return Ok(None);
    };
    let line = cx.line_of(t.span().start);
    if !wants {
        return Err(err(
            line,
            "broker",
            "a [broker] starts NATS JetStream for the spool sender's store = \"jetstream\" without nats_url, and this scenario's sender has none to give it",
        ));
    }
    let mut keys = Keys::new(cx.src(), "broker", t.into_inner());
    let b = crate::broker::BrokerConfig::read(&mut keys)?;
    let known: Vec<&str> = crate::broker::KEYS.iter().map(|k| k.0).collect();
    keys.finish("[broker]", &known)?;
    Ok(Some(b))
}

/// zerowin's own strategies that speak the protocol, from the registry, as "a, b or c";
/// a bare-bytes sender also takes a program of yours (`external`), the usual case.
fn speakers(framed: bool) -> String {
    let mut names: Vec<&str> = strategy::all()
        .filter(|s| s.speaks(framed) && !s.is_external())
        .map(|s| s.name())
        .collect();
    if !framed {
        names.extend(
            strategy::all()
                .filter(|s| s.is_external())
                .map(|s| s.name()),
        );
    }
    or_list(&names)
}

/// The strategies that carry out the client's faults, from the registry: zerowin's
/// own first, then a program of yours.
fn obeying() -> String {
    let mut v: Vec<&dyn Strategy> = strategy::all().filter(|s| s.obeys_faults()).collect();
    v.sort_by_key(|s| s.is_external());
    or_list(&v.iter().map(|s| s.name()).collect::<Vec<_>>())
}

/// "a, b or c".
fn or_list(names: &[&str]) -> String {
    match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => "none".into(),
    }
}

/// A fault's `strategy` must name one.
pub(super) fn check_fault_strategies(
    cx: &Ctx,
    faults: &crate::fault::Schedule,
) -> Result<(), ScenarioError> {
    for f in &faults.faults {
        if let Some(name) = &f.strategy
            && strategy::by_name(name).is_none()
        {
            return Err(ScenarioError {
                path: cx.path.to_path_buf(),
                line: f.line,
                key: Some("fault.strategy".into()),
                message: format!("unknown strategy `{name}`; known: {}", strategy::names()),
            });
        }
    }
    Ok(())
}

/// A fault the schedule's other parties cannot carry out: one on the client for a
/// strategy that does not obey faults, one on the link without a veth pair.
pub(super) fn check_faults(
    cx: &Ctx,
    faults: &crate::fault::Schedule,
    strategy: &dyn Strategy,
    net: &NetConfig,
) -> Result<(), ScenarioError> {
    let refuse = |f: &crate::fault::Fault, message: String| ScenarioError {
        path: cx.path.to_path_buf(),
        line: f.line,
        key: Some("fault.action".into()),
        message,
    };
    let pause = |a: crate::fault::Action| {
        matches!(
            a,
            crate::fault::Action::PauseClient | crate::fault::Action::ResumeClient
        )
    };
    let obeys = |a: crate::fault::Action| match pause(a) {
        true => strategy.obeys_pause(),
        false => strategy.obeys_faults(),
    };
    if let Some(f) = faults
        .faults
        .iter()
        .find(|f| f.action.on_client() && !obeys(f.action))
    {
        return Err(refuse(
            f,
            format!(
                "`{}` is carried out by the client, and strategy `{}` cannot; use {}",
                f.action.as_str(),
                strategy.name(),
                obeying()
            ),
        ));
    }
    if let Some(f) = faults.faults.iter().find(|f| f.action.on_link())
        && !net.is_veth()
    {
        return Err(refuse(
            f,
            format!(
                "`{}` acts on a link, and loopback has none; set [net] topology = \"veth\"",
                f.action.as_str()
            ),
        ));
    }
    Ok(())
}
