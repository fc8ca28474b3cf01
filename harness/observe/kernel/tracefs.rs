//! The kernel's tracing file system: an ftrace instance of zerowin's own, with the
//! TCP and socket tracepoints enabled in it, read as text after the race.
//!
//! An instance (`instances/zerowin-PID-N`) has its own ring buffer, its own events
//! and its own clock, so nothing another tracer on the host set up is touched, and
//! two runs never share a buffer. It is removed when dropped; the ones a killed run
//! left (their PID gone) are removed by the next.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where tracefs is, or is mounted by zerowin.
const MOUNTS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The events zerowin always enables, by `system/event`.
pub const EVENTS: [&str; 5] = [
    "tcp/tcp_send_reset",
    "tcp/tcp_receive_reset",
    "sock/inet_sock_set_state",
    "sock/sock_rcvqueue_full",
    "tcp/tcp_retransmit_skb",
];

/// The per-packet event, only when asked for.
pub const PROBE: &str = "tcp/tcp_probe";

/// Why there are no kernel events: one line, for the record and for `watch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The tracefs root, mounting it when it is not mounted; with what was done.
pub fn root() -> Result<(PathBuf, Option<String>), Unavailable> {
    let mounted = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if let Some(m) = mount_point(&mounted) {
        return match m.join("instances").is_dir() {
            true => Ok((m, None)),
            false => Err(Unavailable(format!(
                "no kernel events: tracefs at {} is not open to this user (it needs root)",
                m.display()
            ))),
        };
    }
    let m = Path::new(MOUNTS[0]);
    if !m.is_dir() {
        return Err(Unavailable(format!(
            "no kernel events: {} does not exist (a kernel without tracefs)",
            m.display()
        )));
    }
    nix::mount::mount(
        Some("tracefs"),
        m,
        Some("tracefs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|e| {
        Unavailable(format!(
            "no kernel events: tracefs is not mounted, and mounting it on {} failed ({e}; it needs root)",
            m.display()
        ))
    })?;
    Ok((
        m.to_path_buf(),
        Some(format!("mounted tracefs on {}", m.display())),
    ))
}

/// Where tracefs is mounted, from /proc/self/mountinfo: one of the usual places.
fn mount_point(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let point = left.split(' ').nth(4)?;
        (right.split(' ').next() == Some("tracefs") && MOUNTS.contains(&point))
            .then(|| PathBuf::from(point))
    })
}

/// Checks that the kernel has every event, and that `tcp_send_reset` carries the
/// reset's reason (Linux 6.10 and later).
pub fn check_events(root: &Path) -> Result<(), Unavailable> {
    for e in EVENTS {
        if !root.join("events").join(e).join("format").is_file() {
            return Err(Unavailable(format!(
                "no kernel events: this kernel has no tracepoint {e}"
            )));
        }
    }
    let format =
        fs::read_to_string(root.join("events/tcp/tcp_send_reset/format")).map_err(|e| {
            Unavailable(format!(
                "no kernel events: reading tcp_send_reset's format: {e}"
            ))
        })?;
    if !format.contains("reason=") {
        return Err(Unavailable(
            "no kernel events: this kernel's tcp_send_reset has no reason (Linux 6.10 added it)"
                .into(),
        ));
    }
    Ok(())
}

/// One ftrace instance, removed when dropped.
#[derive(Debug)]
pub struct Instance {
    dir: PathBuf,
}

/// The prefix of every instance zerowin makes.
const PREFIX: &str = "zerowin-";

impl Instance {
    /// Makes `instances/zerowin-PID-N` with a buffer of `kb` KiB per CPU, the
    /// monotonic clock (the trials' clock), the task's TGID on every line, and
    /// `events` enabled; tracing starts off.
    pub fn create(root: &Path, n: u32, kb: u32, events: &[&str]) -> io::Result<Instance> {
        sweep(root);
        let dir = root
            .join("instances")
            .join(format!("{PREFIX}{}-{n}", std::process::id()));
        fs::create_dir(&dir)?;
        let inst = Instance { dir };
        inst.write("tracing_on", "0")?;
        inst.write("buffer_size_kb", &kb.to_string())?;
        inst.write("trace_clock", "mono")?;
        inst.write("options/record-tgid", "1")?;
        for e in events {
            inst.write(&format!("events/{e}/enable"), "1")?;
        }
        Ok(inst)
    }

    pub fn write(&self, file: &str, value: &str) -> io::Result<()> {
        fs::write(self.dir.join(file), value).map_err(|e| {
            io::Error::new(e.kind(), format!("{}: {e}", self.dir.join(file).display()))
        })
    }

    /// Starts recording. The buffer is not emptied here: writing `trace` resets the
    /// ring buffer (an RCU grace period), and a trial that began after it took the
    /// FIN route in 2% of its races instead of 16-27% (docs/benchmarks.md). Reading
    /// `trace_pipe` empties it instead, and events older than the trial are dropped by
    /// their time.
    pub fn start(&self) -> io::Result<()> {
        self.write("tracing_on", "1")
    }

    pub fn stop(&self) -> io::Result<()> {
        self.write("tracing_on", "0")
    }

    /// The buffer's bytes in use and the events lost to a full buffer, summed over
    /// the CPUs.
    pub fn fill(&self) -> (u64, u64) {
        let mut bytes = 0;
        let mut lost = 0;
        let Ok(cpus) = fs::read_dir(self.dir.join("per_cpu")) else {
            return (0, 0);
        };
        for c in cpus.flatten() {
            let stats = fs::read_to_string(c.path().join("stats")).unwrap_or_default();
            for line in stats.lines() {
                let mut kv = line.splitn(2, ':');
                let (k, v) = (kv.next().unwrap_or(""), kv.next().unwrap_or("").trim());
                let v: u64 = v.parse().unwrap_or(0);
                match k {
                    "bytes" => bytes += v,
                    "overrun" | "dropped events" => lost += v,
                    _ => {}
                }
            }
        }
        (bytes, lost)
    }

    /// The buffer's size in bytes, over every CPU.
    pub fn size_bytes(&self) -> u64 {
        fs::read_to_string(self.dir.join("buffer_total_size_kb"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// Takes everything the buffer holds now (consuming it), without waiting.
    pub fn drain(&self, into: &mut String) -> io::Result<()> {
        let mut f = self.pipe()?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match f.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(k) => into.push_str(&String::from_utf8_lossy(&buf[..k])),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// `trace_pipe`, opened without blocking: a read returns what there is.
    pub fn pipe(&self) -> io::Result<fs::File> {
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(self.dir.join("trace_pipe"))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.write("tracing_on", "0");
        // The kernel refuses to remove an instance whose trace_pipe is still open;
        // every reader here has closed its file by now.
        let _ = fs::remove_dir(&self.dir);
    }
}

/// Removes the instances that runs no longer alive left behind.
fn sweep(root: &Path) {
    let Ok(entries) = fs::read_dir(root.join("instances")) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_point_is_read_from_mountinfo() {
        let info = "23 1 0:21 / /sys rw - sysfs sysfs rw\n45 23 0:13 / /sys/kernel/tracing rw,relatime - tracefs nodev rw\n";
        assert_eq!(
            mount_point(info),
            Some(PathBuf::from("/sys/kernel/tracing"))
        );
        assert_eq!(mount_point("23 1 0:21 / /sys rw - sysfs sysfs rw\n"), None);
    }

    #[test]
    fn a_kernel_without_the_reason_is_said_in_one_line() {
        let d = tempfile::tempdir().unwrap();
        for e in EVENTS {
            let dir = d.path().join("events").join(e);
            fs::create_dir_all(&dir).unwrap();
            fs::write(
                dir.join("format"),
                "print fmt: \"src=%pISpc dest=%pISpc state=%s\"",
            )
            .unwrap();
        }
        let e = check_events(d.path()).unwrap_err();
        assert!(e.0.contains("has no reason (Linux 6.10 added it)"), "{e}");
        fs::remove_dir_all(d.path().join("events/tcp/tcp_retransmit_skb")).unwrap();
        let e = check_events(d.path()).unwrap_err();
        assert!(e.0.contains("no tracepoint tcp/tcp_retransmit_skb"), "{e}");
    }
}
