//! `original`: the 2014 non-blocking C sender (c-server/original.c), linked into this
//! binary by build.rs with its `main` renamed. `zerowin serve` calls that main in
//! process; a trial starts it by running this same executable as `zerowin serve`, so
//! an installed binary needs no file from the build tree.

use std::ffi::{CString, c_char, c_int};
use std::time::Duration;

use super::framed::schedule::{Pace, Rate};
use super::{ClosePolicy, Load, Sender, SenderSetup};
use crate::analysis::stats::{self, Route};
use crate::limits;
use crate::record::{SenderSummary, TrialRecord};
use crate::settings::{Keys, ScenarioError};
use crate::words::{ms, ms_u};

unsafe extern "C" {
    /// `main` of c-server/original.c.
    fn zerowin_original_main(argc: c_int, argv: *const *const c_char) -> c_int;
}

/// The C sender's own command-line flags.
#[derive(Debug, Clone, Default)]
pub struct ServeArgs {
    pub port: u16,
    pub bind: Option<String>,
    pub sndbuf: Option<usize>,
    pub close_policy: super::ClosePolicy,
    pub log: Option<String>,
    pub drain_timeout_ms: u64,
    /// Its phases and rate; an unlimited rate is the original tight loop.
    pub pace: Pace,
}

impl ServeArgs {
    /// Its keys as `--set` pairs, which [`Original::read`] reads back.
    pub fn to_pairs(&self) -> Vec<String> {
        let mut v = vec![
            format!("close_policy={}", self.close_policy),
            format!("drain_timeout={}ms", self.drain_timeout_ms),
        ];
        if let Some(s) = self.sndbuf {
            v.push(format!("sndbuf={s}"));
        }
        // The tight loop is the default: a scenario without `rate` reads as it did.
        v.extend(
            self.pace
                .to_pairs()
                .into_iter()
                .filter(|p| p != "rate=unlimited"),
        );
        if let Some(l) = &self.log {
            v.push(format!("log={}", toml::Value::String(l.clone())));
        }
        v
    }

    /// The argv the C main parses (without argv[0]): built once, here.
    pub fn to_argv(&self) -> Vec<String> {
        let mut v = vec!["--port".to_string(), self.port.to_string()];
        if let Some(b) = &self.bind {
            v.extend(["--bind".into(), b.clone()]);
        }
        if let Some(s) = self.sndbuf {
            v.extend(["--sndbuf".into(), s.to_string()]);
        }
        v.extend(["--close-policy".into(), self.close_policy.as_str().into()]);
        if let Some(l) = &self.log {
            v.extend(["--log".into(), l.clone()]);
        }
        v.extend([
            "--drain-timeout-ms".into(),
            self.drain_timeout_ms.to_string(),
        ]);
        if let Rate::PerSecond(r) = self.pace.rate {
            v.extend(["--rate".into(), r.to_string()]);
        }
        for p in &self.pace.phases {
            let r = match p.rate {
                Rate::PerSecond(r) => r,
                _ => 0.0,
            };
            let ms = p.duration.as_millis().max(1);
            v.extend(["--phase".into(), format!("{ms}:{r}")]);
        }
        v
    }

    /// The one rate the model covers: None for the tight loop; Err with phases, or
    /// with a rate of the capacity.
    fn modelled_rate(&self) -> Result<Option<f64>, &'static str> {
        match (self.pace.rate, self.pace.phases.is_empty()) {
            (_, false) => Err("the model covers one rate, not phases"),
            (Rate::Unlimited, true) => Ok(None),
            (Rate::PerSecond(r), true) => Ok(Some(r)),
            (Rate::OfCapacity(_), true) => Err("a rate of the capacity is resolved at run time"),
        }
    }
}

/// Runs the C sender in this process until it is killed; returns its exit code.
pub fn serve_in_process(args: &ServeArgs) -> i32 {
    if args.pace.unresolved() {
        eprintln!(
            "a rate of the client's capacity (\"0.5C\") is for scenarios, which measure C first; here give N/s"
        );
        return 2;
    }
    let owned: Vec<CString> = std::iter::once("zerowin-serve".to_string())
        .chain(args.to_argv())
        .map(|a| CString::new(a).expect("arguments have no NUL"))
        .collect();
    let mut argv: Vec<*const c_char> = owned.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: argv is a NULL-terminated array of valid C strings that outlive the call.
    unsafe { zerowin_original_main(owned.len() as c_int, argv.as_ptr()) }
}

pub struct Original;

impl Original {
    /// Its keys, read and checked, as the C sender's own flags.
    fn read(keys: &mut Keys) -> Result<ServeArgs, ScenarioError> {
        // The 2014 code sets none of the socket options, and zerowin keeps it as it was.
        if let Some((k, _)) = crate::sockopts::SERVER_KEYS
            .iter()
            .find(|(k, _)| keys.has(k))
        {
            return Err(keys.invalid(
                k,
                format!(
                    "the original C sender keeps its own socket settings (the 2014 code sets no {k}); the patient, spool and trickle senders take it"
                ),
            ));
        }
        let sndbuf = keys.int("sndbuf", limits::BUF)?.map(|v| v as usize);
        let close_policy = keys
            .parse::<ClosePolicy>("close_policy")?
            .unwrap_or_default();
        let drain = keys
            .duration("drain_timeout", limits::DRAIN_TIMEOUT)?
            .unwrap_or(DEFAULT_DRAIN_TIMEOUT);
        let pace = Pace::read(keys, crate::record::MESSAGE_LEN as usize)?;
        if let Some(r) = pace.rates().find_map(|r| match r {
            Rate::PerSecond(v) if v > MAX_RATE => Some(v),
            _ => None,
        }) {
            let key = if pace.rate == Rate::PerSecond(r) {
                "rate"
            } else {
                "phases"
            };
            return Err(keys.invalid(
                key,
                format!("{r}/s: at most {MAX_RATE}/s; use \"unlimited\" for the tight loop"),
            ));
        }
        let log = keys.string("log")?;
        Ok(ServeArgs {
            port: 0,
            bind: None,
            sndbuf,
            close_policy,
            log,
            drain_timeout_ms: drain.as_millis() as u64,
            pace,
        })
    }
}

/// Defaults for the keys a scenario leaves out.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The fastest paced rate; beyond it, use the tight loop.
const MAX_RATE: f64 = 10_000_000.0;

const KEYS: &[(&str, &str)] = &[
    ("sndbuf", "SO_SNDBUF per connection, bytes (kernel default)"),
    (
        "rate",
        "unlimited (the original tight loop), N/s messages, NKB/s payload, or a multiple of the client's capacity (\"0.5C\"): a paced sender (unlimited)",
    ),
    (
        "phases",
        "[\"1s 30000/s\", \"4s 5000/s\"]: rates for a while each, before `rate` (none)",
    ),
    (
        "close_policy",
        "close (the original), linger0 or shutdown-drain",
    ),
    (
        "drain_timeout",
        "bound on shutdown-drain's read until EOF (30s)",
    ),
    (
        "log",
        "a file to log every message to, as the 2014 server.log (none; hundreds of MB at full rate)",
    ),
];

impl Sender for Original {
    fn name(&self) -> &'static str {
        "original"
    }

    fn summary(&self) -> &'static str {
        "the 2014 C server: non-blocking sendmsg() of 13-byte messages; close() on EAGAIN"
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        KEYS.to_vec()
    }

    fn configure(&self, keys: &mut Keys) -> Result<SenderSetup, ScenarioError> {
        let a = Original::read(keys)?;
        Ok(SenderSetup {
            args: std::iter::once(["--sender".to_string(), self.name().to_string()])
                .chain(a.to_pairs().into_iter().map(|p| ["--set".to_string(), p]))
                .flatten()
                .collect(),
            describe: format!(
                "original ({}); sndbuf {}{}",
                a.close_policy,
                a.sndbuf.map_or("default".into(), |b| b.to_string()),
                rate_text(&a)
            ),
            policy: a.close_policy.as_str().to_string(),
            own: Default::default(),
            wants_broker: false,
            summary_wait: super::SUMMARY_WAIT,
            scratch_dir: None,
            load: match (a.close_policy, a.modelled_rate()) {
                (ClosePolicy::ShutdownDrain, _) => Load::NotModelled(
                    "with shutdown-drain the original sender reads the client's replies before it closes",
                ),
                (_, Err(why)) => Load::NotModelled(why),
                (policy, Ok(rate)) => Load::ClosesWhenFull {
                    rate,
                    sndbuf: a.sndbuf,
                    policy,
                },
            },
            pace: Some(a.pace.clone()),
            store_messages: None,
        })
    }

    fn explain(&self, r: &TrialRecord, s: &SenderSummary) -> String {
        explain_original(r, s)
    }

    fn serve(&self, port: u16, bind: &str, set: &[String]) -> anyhow::Result<i32> {
        let mut keys = Keys::from_pairs(std::path::Path::new("--set"), "sender", set)?;
        let mut a = Original::read(&mut keys)?;
        keys.finish("the original sender", &self.key_names())?;
        a.port = port;
        a.bind = Some(bind.to_string());
        Ok(serve_in_process(&a))
    }
}

/// "" for the tight loop, else "; 2000/s" or "; phases 1s 30000/s, then 5000/s".
fn rate_text(a: &ServeArgs) -> String {
    match a.pace == Pace::default() {
        true => String::new(),
        false => format!("; {}", a.pace.text()),
    }
}

/// The sender's line: what its send() accepted, how it failed, and its close.
fn explain_original(r: &TrialRecord, s: &SenderSummary) -> String {
    // The summary names the policy it ran; the C code prints one of the three.
    let policy: ClosePolicy = s.policy.parse().unwrap_or_default();
    let at = |ns: u64| (ns > 0).then(|| ms((ns as i64 - r.client.zero_ns as i64) / 1000));
    let mut line = format!(
        "the sender's send() accepted {} messages ({} B) into a {} B send buffer",
        s.messages, s.bytes, s.sndbuf_effective
    );
    let failed_at = at(s.fail_ns).map_or(String::new(), |t| format!(" at {t}"));
    if s.errno == libc::EAGAIN {
        line.push_str(&format!(
            ", then returned EAGAIN{failed_at}: the buffer was full"
        ));
    } else {
        line.push_str(&format!(
            ", then returned {} ({}){failed_at}: the connection had already ended, from the client's side",
            s.errno_name, s.errno
        ));
    }
    if let Some(t) = r.sender_close_at_us {
        let what = match policy {
            ClosePolicy::Close => "close()",
            ClosePolicy::Linger0 => "close() with SO_LINGER 0",
            ClosePolicy::ShutdownDrain => "shutdown(SHUT_WR), drain and close()",
        };
        line.push_str(&format!("; its {what} started at {}", ms(t)));
    }
    if s.errno == libc::EAGAIN {
        match policy {
            ClosePolicy::Close => line.push_str(&close_route(r)),
            ClosePolicy::Linger0 => line.push_str(": SO_LINGER 0 always sends RST"),
            ClosePolicy::ShutdownDrain => line.push_str(&format!(
                " after reading {} B of replies: a clean FIN{}",
                s.drained,
                match fin_on_wire(r) {
                    Some(false) => " (though none was seen on the wire)",
                    _ => "",
                }
            )),
        }
    }
    if s.partial > 0 {
        line.push_str(&format!(
            "; {} send() took only part of a 13-byte message, so the last message is truncated",
            s.partial
        ));
    }
    line
}

/// Whether the sender's FIN was seen on the wire: Some(true/false) with a capture.
fn fin_on_wire(r: &TrialRecord) -> Option<bool> {
    let w = r.observation.as_ref()?.wire.as_ref()?;
    Some(w.from_sender.fins > 0)
}

/// Why the original close() became an RST or a FIN. The kernel's own counters
/// decide when they are the trial's alone (a namespace); without them, the client's
/// reply times are compared with the close on the shared clock.
fn close_route(r: &TrialRecord) -> String {
    const UNREAD: &str = ", with the client's replies in its receive queue, never read: so the kernel sent RST, not FIN";
    let fin = match fin_on_wire(r) {
        Some(true) => "close() sent a FIN",
        Some(false) => {
            "close() queued a FIN behind the unsent data (it never went out: no FIN from the sender on the wire)"
        }
        None => "close() queued a FIN",
    };
    match stats::route(r) {
        Some(Route::RstAtClose) => return format!("{UNREAD} (TCPAbortOnClose)"),
        Some(Route::FinThenRstOnData) => {
            return format!(
                ": nothing was unread, so {fin}; data the client sent after that reached a closed socket, and the kernel answers that with RST (TCPAbortOnData)"
            );
        }
        Some(Route::Linger0) => {
            return ": nothing was unread, and SO_LINGER 0 made close() an RST at once, with no FIN (the kernel counts it as TCPAbortOnData)".into();
        }
        Some(Route::NoAbort) => {
            return format!(": nothing was unread, so {fin} (the sender sent no RST)");
        }
        None => {}
    }
    if r.client.external.is_some() {
        return ": whether as RST or FIN, only a capture or the counters can tell for an external client".into();
    }
    let close_at = r.sender_close_at_us.unwrap_or(i64::MAX);
    match r.client.first_reply_us {
        Some(t) if (t as i64) < close_at => {
            format!("{UNREAD} (inferred: a reply was sent before the close)")
        }
        Some(t) => format!(
            ": no reply had been sent yet, so {fin}; the client's first reply at {} then reached a closed socket, and the kernel answers that with RST (inferred from the reply times)",
            ms_u(t)
        ),
        None => format!(": no reply was ever sent, so nothing was unread and {fin}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn its_keys_survive_the_trip_through_serve_arguments() {
        let a = ServeArgs {
            sndbuf: Some(4096),
            close_policy: ClosePolicy::ShutdownDrain,
            log: Some("/tmp/a log=1.txt".into()),
            drain_timeout_ms: 300,
            pace: Pace {
                phases: vec![
                    super::super::framed::schedule::Phase::parse("1s unlimited", 13).unwrap(),
                ],
                rate: Rate::PerSecond(2500.5),
            },
            ..ServeArgs::default()
        };
        let pairs = a.to_pairs();
        let mut keys = Keys::from_pairs(std::path::Path::new("--set"), "sender", &pairs).unwrap();
        let back = Original::read(&mut keys).unwrap();
        keys.finish("original", &Original.key_names()).unwrap();
        assert_eq!(format!("{back:?}"), format!("{a:?}"));
    }
}
