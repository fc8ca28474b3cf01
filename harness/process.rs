//! Child processes that cannot outlive the harness.
//!
//! Each sender runs in its own process group. [`Group`] kills the whole group with
//! SIGKILL and reaps every member, the forked per-connection children included,
//! when it is stopped or dropped. The live groups are also kept in a registry, so
//! the Ctrl-C handler can kill them all before the harness exits ([`kill_all`]).

use std::collections::HashSet;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
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
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {:?}", cmd.get_program()))?;
        let pgid = child.id() as i32;
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(HashSet::new)
            .insert(pgid);
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
        Err(e) => eprintln!("zerowin: warning: killpg({pgid}): {e}"),
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
}

/// How many groups are live now (for tests).
pub fn live_count() -> usize {
    LIVE.lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map_or(0, |s| s.len())
}
