//! The scenario file as serde reads it: each value keeps its position (`Spanned`),
//! so that every check after it can name the file, the line and the key.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub(super) description: Option<String>,
    /// Read by the sender it names: each sender owns its keys.
    pub(super) sender: Option<BTreeMap<String, Spanned<toml::Value>>>,
    /// `strategy` is read here; the rest by the strategy it names.
    pub(super) client: Spanned<BTreeMap<String, Spanned<toml::Value>>>,
    pub(super) run: Option<RawRun>,
    pub(super) observe: Option<Spanned<RawObserve>>,
    pub(super) sysctl: Option<Spanned<RawSysctl>>,
    /// Read by [`crate::net`].
    pub(super) net: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    /// Read by [`crate::broker`].
    pub(super) broker: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    pub(super) expect: Spanned<RawExpect>,
    /// The fault schedule, read by [`crate::fault`].
    pub(super) fault: Option<Vec<BTreeMap<String, Spanned<toml::Value>>>>,
    /// Helper programs, read by [`crate::helper`].
    pub(super) helper: Option<Vec<BTreeMap<String, Spanned<toml::Value>>>>,
    /// Read by [`crate::scenario::sweep`]; each cell is this file with the values written in.
    #[allow(dead_code)]
    pub(super) sweep: Option<toml::Value>,
}

/// Per-namespace kernel settings (net.ipv4.*), applied inside the trial's namespace.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSysctl {
    pub(super) tcp_rmem: Option<Spanned<String>>,
    pub(super) tcp_wmem: Option<Spanned<String>>,
    pub(super) tcp_shrink_window: Option<Spanned<i64>>,
    pub(super) tcp_retries2: Option<Spanned<i64>>,
    pub(super) tcp_keepalive_time: Option<Spanned<i64>>,
    pub(super) tcp_keepalive_intvl: Option<Spanned<i64>>,
    pub(super) tcp_keepalive_probes: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRun {
    pub(super) duration: Option<Spanned<String>>,
    pub(super) trials: Option<Spanned<i64>>,
    pub(super) deadline: Option<Spanned<String>>,
    pub(super) sample: Option<Spanned<String>>,
    pub(super) predict: Option<Spanned<bool>>,
    pub(super) capacity_of: Option<Spanned<String>>,
}

/// `[observe]`: the instruments that cost the trial time, asked for by the claims
/// that need them.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawObserve {
    pub(super) capture: Option<Spanned<bool>>,
    pub(super) tcp_probe: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    pub(super) outcome: Spanned<String>,
    pub(super) within: Option<Spanned<String>>,
    pub(super) bytes_lost: Option<Spanned<i64>>,
    pub(super) lost: Option<Spanned<toml::Value>>,
    pub(super) duplicates: Option<Spanned<i64>>,
    pub(super) reordered: Option<Spanned<i64>>,
    pub(super) max_spool_bytes: Option<Spanned<i64>>,
    pub(super) min_dropped: Option<Spanned<i64>>,
    pub(super) drained_within: Option<Spanned<String>>,
    pub(super) resume_within: Option<Spanned<String>>,
    pub(super) max_lag: Option<Spanned<String>>,
    pub(super) catches_up_within: Option<Spanned<String>>,
    pub(super) fills: Option<Spanned<bool>>,
    pub(super) store_outage: Option<Spanned<bool>>,
    pub(super) sender_bind: Option<Spanned<String>>,
    pub(super) since_fault: Option<Spanned<Vec<String>>>,
    pub(super) keepalive_probes: Option<Spanned<i64>>,
    pub(super) final_state: Option<Spanned<String>>,
    pub(super) rst_reason: Option<Spanned<String>>,
    pub(super) client_rst_reason: Option<Spanned<String>>,
    pub(super) increasing: Option<Spanned<String>>,
    pub(super) min_rss_growth: Option<Spanned<i64>>,
    pub(super) max_rss_growth: Option<Spanned<i64>>,
    /// `[[expect.cells]]`, read by [`crate::scenario::sweep`].
    #[allow(dead_code)]
    pub(super) cells: Option<toml::Value>,
}
