//! `original`: the 2014 non-blocking C sender (c-server/original.c), linked into this
//! binary by build.rs with its `main` renamed. `zerowin serve` calls that main in
//! process; a trial starts it by running this same executable as `zerowin serve`, so
//! an installed binary needs no file from the build tree.

use std::ffi::{CString, c_char, c_int};
use std::process::Command;

use anyhow::Result;

use super::{RunningSender, Sender, SenderConfig};

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
}

impl ServeArgs {
    /// The argv the C main parses (without argv[0]).
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
        v
    }
}

/// Runs the C sender in this process until it is killed; returns its exit code.
pub fn serve_in_process(args: &ServeArgs) -> i32 {
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

impl Sender for Original {
    fn name(&self) -> &'static str {
        "original"
    }

    fn summary(&self) -> &'static str {
        "the 2014 C server: non-blocking sendmsg() of 13-byte messages; close() on EAGAIN"
    }

    fn start(&self, cfg: &SenderConfig) -> Result<RunningSender> {
        let args = ServeArgs {
            port: 0,
            bind: Some(cfg.bind.to_string()),
            sndbuf: cfg.sndbuf,
            close_policy: cfg.close_policy,
            log: None,
            drain_timeout_ms: cfg.drain_timeout.as_millis() as u64,
        };
        let mut cmd = Command::new(&cfg.exe);
        // `zerowin serve` takes exactly the C sender's flags.
        cmd.arg("serve").args(args.to_argv());
        RunningSender::spawn(cmd, cfg.bind, cfg.start_timeout)
    }
}
