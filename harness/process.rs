//! Child processes that cannot outlive the harness.
//!
//! Each sender runs in its own process group. [`Group`] kills the whole group with
//! SIGKILL and reaps every member, the forked per-connection children included,
//! when it is stopped or dropped. The live groups are also kept in a registry, so
//! the Ctrl-C handler can kill them all before the harness exits ([`kill_all`]).
//!
//! [`stop_on_signals`] handles SIGINT and SIGTERM: the first one kills and reaps every
//! group at once, refuses new ones, and lets the main thread finish what it was doing
//! (the trial in progress ends as soon as its sender is gone) so that it can keep
//! what finished and exit with 128 + the signal. A main thread that does not finish
//! within a grace period is not waited for.

use std::collections::HashSet;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use crate::sys;

static LIVE: Mutex<Option<HashSet<i32>>> = Mutex::new(None);
static SUBREAPER: Once = Once::new();
/// Why the run was stopped early: 0 while it was not, the signal's number after
/// SIGINT or SIGTERM, [`OUTPUT_CLOSED`] when stdout's reader went away.
static STOPPED: AtomicI32 = AtomicI32::new(0);
const OUTPUT_CLOSED: i32 = -1;

/// The run was stopped early, and why. `main` turns it into an exit code: 128 + the
/// signal, or 0 for a closed output (as `| head` expects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    Signal(i32),
    OutputClosed,
}

impl Interrupted {
    pub fn exit_code(self) -> u8 {
        match self {
            Interrupted::Signal(sig) => (128 + sig) as u8,
            Interrupted::OutputClosed => 0,
        }
    }
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Interrupted::Signal(sig) => write!(
                f,
                "interrupted by {}; every sender and client was stopped and reaped",
                sys::signal_name(*sig)
            ),
            Interrupted::OutputClosed => f.write_str("the output's reader has gone"),
        }
    }
}

impl std::error::Error for Interrupted {}

/// Why the run was stopped early, if it was.
pub fn interrupted() -> Option<Interrupted> {
    match STOPPED.load(Ordering::SeqCst) {
        0 => None,
        OUTPUT_CLOSED => Some(Interrupted::OutputClosed),
        sig => Some(Interrupted::Signal(sig)),
    }
}

/// Err(Interrupted) once the run has been stopped: checked between trials.
pub fn check_interrupted() -> Result<()> {
    match interrupted() {
        Some(i) => Err(i.into()),
        None => Ok(()),
    }
}

/// Marks the run stopped (the first reason wins) and kills and reaps every group;
/// the trial in progress then ends within milliseconds, its sender gone.
fn stop(reason: i32) {
    {
        // Under the registry's lock, so that no group is spawned after it.
        let _live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        let _ = STOPPED.compare_exchange(0, reason, Ordering::SeqCst, Ordering::SeqCst);
    }
    kill_all();
}

/// Watches `fd` (stdout) on a thread: once its reader has gone (`| head -1`), the run
/// stops as it would for a signal, without waiting for its next line of output.
pub fn stop_when_closed(fd: std::os::fd::RawFd) {
    let _ = std::thread::Builder::new()
        .name("output-watch".into())
        .spawn(move || {
            while interrupted().is_none() {
                if sys::write_end_closed(fd) {
                    stop(OUTPUT_CLOSED);
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
}

/// On SIGINT or SIGTERM: mark the run interrupted, kill and reap every group, then
/// give the main thread `grace` to return by itself before exiting from here with
/// 128 + the signal. A second signal exits at once.
pub fn stop_on_signals(grace: Duration) -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("installing the SIGINT and SIGTERM handlers")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Some(sig) = signals.forever().next() else {
                return;
            };
            stop(sig);
            let until = Instant::now() + grace;
            while Instant::now() < until {
                if signals.pending().next().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            kill_all();
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "zerowin: {}", Interrupted::Signal(sig));
            std::process::exit(128 + sig);
        })
        .context("starting the signal thread")?;
    Ok(())
}

/// A process and everything it forks, in one process group.
pub struct Group {
    child: Child,
    pgid: i32,
    stopped: bool,
}

impl Group {
    /// Spawns `cmd` as the leader of a new process group. The child is killed by
    /// the kernel if the spawning thread dies (PR_SET_PDEATHSIG).
    pub fn spawn(cmd: &mut Command) -> Result<Group> {
        // Orphaned grandchildren come back to us to be reaped (see sys::become_subreaper).
        SUBREAPER.call_once(|| {
            let _ = sys::become_subreaper();
        });
        cmd.process_group(0);
        // SAFETY: the closure only calls prctl, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(sys::die_with_parent);
        }
        // Spawned under the registry's lock: after a signal, nothing new starts, and
        // whatever started before it is in the registry for kill_all to find.
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        check_interrupted()?;
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {:?}", cmd.get_program()))?;
        let pgid = child.id() as i32;
        live.get_or_insert_with(HashSet::new).insert(pgid);
        drop(live);
        Ok(Group {
            child,
            pgid,
            stopped: false,
        })
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends SIGTERM to the whole group and waits up to `grace` for the leader to
    /// exit; returns its status if it did. [`Group::stop`] still has to follow.
    pub fn terminate(&mut self, grace: Duration) -> Result<Option<std::process::ExitStatus>> {
        match killpg(Pid::from_raw(self.pgid), Signal::SIGTERM) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => return Err(e.into()),
        }
        let until = Instant::now() + grace;
        loop {
            if let Some(st) = self.child.try_wait()? {
                return Ok(Some(st));
            }
            if Instant::now() >= until {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Sends `sig` to the whole group (SIGSTOP, SIGCONT for the client's faults).
    pub fn signal(&mut self, sig: Signal) -> Result<()> {
        match killpg(Pid::from_raw(self.pgid), sig) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Kills the whole group and reaps all of it. Idempotent.
    pub fn stop(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        kill_group(self.pgid);
        // The leader first, through std, so Child's own bookkeeping stays right.
        let _ = self.child.wait();
        reap_group(self.pgid, Duration::from_secs(5))
            .with_context(|| format!("reaping process group {}", self.pgid))?;
        forget(self.pgid);
        Ok(())
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn kill_group(pgid: i32) {
    match killpg(Pid::from_raw(pgid), Signal::SIGKILL) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "zerowin: warning: killpg({pgid}): {e}");
        }
    }
}

/// Waits for every remaining member of the group: the forked children are reparented
/// to us (subreaper) once the leader dies. Bounded by `limit`.
fn reap_group(pgid: i32, limit: Duration) -> Result<()> {
    let until = Instant::now() + limit;
    loop {
        match waitpid(Pid::from_raw(-pgid), Some(WaitPidFlag::WNOHANG)) {
            Ok(nix::sys::wait::WaitStatus::StillAlive) => {
                if Instant::now() >= until {
                    anyhow::bail!("members still alive after {limit:?}");
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(_) => continue,
            Err(Errno::ECHILD) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

fn forget(pgid: i32) {
    if let Some(set) = LIVE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        set.remove(&pgid);
    }
}

/// Kills and reaps every live group. For the Ctrl-C / SIGTERM handler.
pub fn kill_all() {
    let groups: Vec<i32> = LIVE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
        .map(|s| s.drain().collect())
        .unwrap_or_default();
    for pgid in &groups {
        kill_group(*pgid);
    }
    for pgid in groups {
        let _ = reap_group(pgid, Duration::from_secs(2));
    }
    reap_strays(Duration::from_secs(2));
}

/// Kills and reaps the processes that escaped their group (`setsid`, a double
/// fork) and came back to us as orphans, since the harness is a child subreaper:
/// our children whose process group is none of the live groups and not our own.
/// A child that a program of the library's user spawned without a group of its own
/// (a test's `tshark`) shares our group and is left alone; a process that left its
/// group, as these have, is in another. Bounded by `limit`; returns how many it
/// killed. Called after every trial, so that a helper an
/// external program left running cannot outlive the trial or hold its namespace.
pub fn reap_strays(limit: Duration) -> usize {
    let until = Instant::now() + limit;
    let mut killed = HashSet::new();
    loop {
        let live: HashSet<i32> = LIVE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default();
        let ours = nix::unistd::getpgrp().as_raw();
        let strays: Vec<i32> = children()
            .into_iter()
            .filter(|(_, pgid)| !live.contains(pgid) && *pgid != ours)
            .map(|(pid, _)| pid)
            .collect();
        if strays.is_empty() || Instant::now() >= until {
            return killed.len();
        }
        for pid in strays {
            // Its own group too: a setsid'd helper leads one, and its children are in it.
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            if let Ok(nix::sys::wait::WaitStatus::StillAlive) =
                waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG))
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            killed.insert(pid);
        }
    }
}

/// Our children, as (pid, process group), from /proc.
fn children() -> Vec<(i32, i32)> {
    let me = std::process::id() as i32;
    processes()
        .filter(|(_, ppid, _)| *ppid == me)
        .map(|(pid, _, pgid)| (pid, pgid))
        .collect()
}

/// The processes of group `pgid`, from /proc.
pub fn group_members(pgid: i32) -> Vec<i32> {
    processes()
        .filter(|(_, _, g)| *g == pgid)
        .map(|(pid, _, _)| pid)
        .collect()
}

/// Every process, as (pid, parent, process group), from /proc.
fn processes() -> impl Iterator<Item = (i32, i32, i32)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (ppid, pgid) = parent_and_group(&stat)?;
            Some((pid, ppid, pgid))
        })
}

/// The parent and the process group from a /proc/PID/stat line: the fields after
/// the command name, which is in parentheses and may hold any character.
fn parent_and_group(stat: &str) -> Option<(i32, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(1);
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

/// How many groups are live now (for tests).
pub fn live_count() -> usize {
    LIVE.lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map_or(0, |s| s.len())
}

/// Runs a short helper program (`tc`) to its end, at most `limit`: killed and reaped
/// after that. A failure carries what it wrote to stderr.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Result<()> {
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut g = Group::spawn(cmd)?;
    let stderr = PipeTail::spawn(g.child_mut().stderr.take(), 2048);
    let until = Instant::now() + limit;
    let status = loop {
        if let Some(st) = g.child_mut().try_wait()? {
            break Some(st);
        }
        if Instant::now() >= until {
            break None;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    g.stop()?;
    let said = stderr.finish(Duration::from_millis(200));
    match status {
        Some(st) if st.success() => Ok(()),
        Some(st) => anyhow::bail!("{:?} {st}: {}", cmd.get_program(), said.trim()),
        None => anyhow::bail!("{:?} did not finish within {limit:?}", cmd.get_program()),
    }
}

/// The last bytes a child wrote to a pipe, read on a thread of its own.
pub struct PipeTail {
    buf: std::sync::Arc<Mutex<Vec<u8>>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl PipeTail {
    /// Reads `pipe` to its end, keeping the last `keep` bytes.
    pub fn spawn(pipe: Option<impl std::io::Read + Send + 'static>, keep: usize) -> PipeTail {
        PipeTail::watching(pipe, keep, None)
    }

    /// [`PipeTail::spawn`], and when `watch` is given, sets its flag once the text
    /// read so far (its last `keep` bytes, so a line cut across two reads still
    /// counts) matches its pattern: a server saying it is ready.
    pub fn watching(
        pipe: Option<impl std::io::Read + Send + 'static>,
        keep: usize,
        watch: Option<(regex::Regex, std::sync::Arc<std::sync::atomic::AtomicBool>)>,
    ) -> PipeTail {
        use std::sync::atomic::Ordering;
        let buf = std::sync::Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = std::sync::mpsc::channel();
        if let Some(mut p) = pipe {
            let sink = std::sync::Arc::clone(&buf);
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = p.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    let mut b = sink.lock().unwrap_or_else(|e| e.into_inner());
                    b.extend_from_slice(&chunk[..n]);
                    let cut = b.len().saturating_sub(keep);
                    b.drain(..cut);
                    if let Some((re, seen)) = &watch
                        && !seen.load(Ordering::SeqCst)
                        && re.is_match(&String::from_utf8_lossy(&b))
                    {
                        seen.store(true, Ordering::SeqCst);
                    }
                }
                let _ = tx.send(());
            });
        }
        PipeTail { buf, done }
    }

    /// Waits for the end of the pipe (it comes once the group is stopped), at most
    /// `limit`: a grandchild that left the group may hold the pipe open forever.
    pub fn finish(self, limit: Duration) -> String {
        let _ = self.done.recv_timeout(limit);
        let b = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&b).into_owned()
    }
}

/// Where a program named by a command would be run from: a path is checked as it
/// is, a bare name is looked up in PATH. It must be an executable file.
pub fn resolve_program(name: &str) -> Result<std::path::PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let p = std::path::Path::new(name);
        return if executable(p) {
            Ok(p.to_path_buf())
        } else if p.exists() {
            Err(format!("`{name}` is not an executable file"))
        } else {
            Err(format!("`{name}` does not exist"))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| executable(p))
        .ok_or_else(|| format!("program `{name}` was not found in PATH"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parent_and_group_past_any_command_name() {
        assert_eq!(parent_and_group("42 (a) b) S 7 42 42 0 -1"), Some((7, 42)));
        assert_eq!(parent_and_group("garbage"), None);
    }
}
