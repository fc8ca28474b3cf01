//! `zerowin serve`: runs a sender in the foreground.

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::cli::ServeArgs;

/// Runs a sender in the foreground, with its keys from `--set KEY=VALUE` (checked by
/// the sender itself) and the original's own flags, aliases of its keys.
pub fn serve(a: &ServeArgs) -> Result<ExitCode> {
    let known = a.sender.key_names();
    let mut set = Vec::new();
    for (flag, pair) in a.alias_pairs() {
        let key = pair.split_once('=').map_or("", |p| p.0);
        if !known.contains(&key) {
            bail!(
                "{flag} is the original sender's flag for its key `{key}`, which sender `{}` does not take; use --set KEY=VALUE with its own keys (zerowin list)",
                a.sender.name()
            );
        }
        set.push(pair);
    }
    set.extend(a.set.iter().cloned());
    let code = a.sender.serve(a.port, &a.bind, &set)?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
