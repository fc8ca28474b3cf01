//! Where a trial's traffic runs: a fresh network namespace of its own, or the host's
//! loopback. The choice and its reason go into every record.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use crate::names::names;
use crate::sys::netns;

pub use crate::record::observation::{Isolation, RanIn};

names! {
    /// `--isolation`: what the user asked for.
    #[derive(Default)]
    pub enum IsolationMode ("isolation") {
        /// A namespace when the process may create one, else the host's loopback.
        #[default]
        Auto => "auto",
        /// A namespace, or an error.
        Netns => "netns",
        /// Always the host's loopback; scenarios with `[sysctl]` are refused.
        Host => "host",
    }
}

/// Puts the calling thread where the trial should run. Call it on the trial's own
/// thread: a namespace entered here holds for that thread and what it spawns.
pub fn enter(mode: IsolationMode, sysctls: &BTreeMap<String, String>) -> Result<Isolation> {
    if mode == IsolationMode::Host {
        if !sysctls.is_empty() {
            bail!(
                "this scenario sets [sysctl], which needs a network namespace; --isolation host never touches the host's settings"
            );
        }
        return Ok(Isolation {
            mode: RanIn::Host,
            reason: "--isolation host".into(),
            netns_id: netns::namespace_id().ok(),
            sysctls: BTreeMap::new(),
        });
    }
    if let Err(e) = netns::unshare_net() {
        let why = format!(
            "unshare(CLONE_NEWNET) failed: {} (needs root, or a user namespace)",
            crate::sys::errno_name(e.raw_os_error().unwrap_or(0))
        );
        if mode == IsolationMode::Netns {
            bail!("--isolation netns: {why}");
        }
        if !sysctls.is_empty() {
            bail!("this scenario sets [sysctl], which needs a network namespace, and {why}");
        }
        return Ok(Isolation {
            mode: RanIn::Host,
            reason: format!("auto: {why}; using the host's loopback"),
            netns_id: netns::namespace_id().ok(),
            sysctls: BTreeMap::new(),
        });
    }
    netns::set_loopback_up()?;
    let mut applied = BTreeMap::new();
    for (k, v) in sysctls {
        netns::write_sysctl(k, v)?;
        applied.insert(k.clone(), netns::read_sysctl(k)?);
    }
    Ok(Isolation {
        mode: RanIn::Netns,
        reason: format!("{mode}: a fresh network namespace for this trial"),
        netns_id: netns::namespace_id().ok(),
        sysctls: applied,
    })
}

/// At start-up, before any thread exists: an unprivileged process becomes root of a
/// user namespace so it may create network namespaces. Failure is not an error here:
/// `auto` then falls back to the host, `netns` reports why.
pub fn prepare_process(mode: IsolationMode) {
    // SAFETY: geteuid cannot fail.
    if mode != IsolationMode::Host && unsafe { libc::geteuid() } != 0 {
        let _ = netns::enter_user_namespace();
    }
}
