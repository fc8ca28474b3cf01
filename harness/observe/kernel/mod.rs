//! The kernel's own word on a trial: the TCP and socket tracepoints, recorded in an
//! ftrace instance of zerowin's own ([`tracefs`]), read as text ([`parse`]) after the
//! race, and matched to the trial's connections ([`attribute`]).
//!
//! One instance serves a whole run (made at its first trial, removed when the run
//! ends); each trial turns recording on, off again, and reads the buffer back through
//! `trace_pipe`, which empties it (events older than the trial are dropped by time).
//! Nothing wakes during the trial but a check of the buffer's fill every [`CHECK`],
//! which takes the text out only once the buffer is half full.

pub mod attribute;
pub mod live;
pub mod parse;
pub mod tracefs;

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

pub use tracefs::Unavailable;

/// How often a trial's recorder looks at the buffer's fill.
pub const CHECK: Duration = Duration::from_millis(200);

/// The buffer per CPU: a trial's rare events (resets, state changes, retransmits)
/// fit many times over; with `tcp_probe`, the recorder empties it as it fills.
const KB_RARE: u32 = 1024;
const KB_PROBE: u32 = 8192;

/// What a run asks of the kernel's events, and the instance once made. Clones share
/// the instance; it is made at the first trial that asks for it.
#[derive(Debug, Clone)]
pub struct KernelEvents {
    pub on: bool,
    /// Also `tcp_probe`: every segment a trial's sockets send.
    pub probe: bool,
    tracer: Arc<OnceLock<Result<Arc<Tracer>, Unavailable>>>,
}

impl KernelEvents {
    pub fn new(on: bool, probe: bool) -> KernelEvents {
        KernelEvents {
            on,
            probe,
            tracer: Arc::new(OnceLock::new()),
        }
    }

    /// The run's instance, made now if it is not yet; or why there is none.
    pub fn tracer(&self) -> Option<Result<Arc<Tracer>, Unavailable>> {
        if !self.on {
            return None;
        }
        Some(
            self.tracer
                .get_or_init(|| Tracer::open(self.probe).map(Arc::new))
                .clone(),
        )
    }
}

/// The run's ftrace instance.
#[derive(Debug)]
pub struct Tracer {
    inst: tracefs::Instance,
    /// Whether `tcp_probe` is on now.
    probe: std::sync::Mutex<bool>,
    /// "mounted tracefs on ...", when zerowin did; said once, by the first trial.
    mounted: std::sync::Mutex<Option<String>>,
}

/// Instances made by this process, to name each uniquely.
static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Tracer {
    pub fn open(probe: bool) -> Result<Tracer, Unavailable> {
        let (root, mounted) = tracefs::root()?;
        tracefs::check_events(&root)?;
        let mut events: Vec<&'static str> = tracefs::EVENTS.to_vec();
        if probe {
            events.push(tracefs::PROBE);
        }
        let kb = if probe { KB_PROBE } else { KB_RARE };
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let inst = tracefs::Instance::create(&root, n, kb, &events).map_err(|e| {
            Unavailable(format!("no kernel events: making an ftrace instance: {e}"))
        })?;
        Ok(Tracer {
            inst,
            probe: std::sync::Mutex::new(probe),
            mounted: std::sync::Mutex::new(mounted),
        })
    }

    /// The events a trial records.
    pub fn events(&self, probe: bool) -> Vec<&'static str> {
        let mut v = tracefs::EVENTS.to_vec();
        if probe {
            v.push(tracefs::PROBE);
        }
        v
    }

    /// `tcp_probe` on or off for the next trial, with a buffer to match.
    fn set_probe(&self, probe: bool) -> std::io::Result<()> {
        let mut now = self
            .probe
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        if *now == probe {
            return Ok(());
        }
        let kb = if probe { KB_PROBE } else { KB_RARE };
        self.inst.write("buffer_size_kb", &kb.to_string())?;
        self.inst.write(
            &format!("events/{}/enable", tracefs::PROBE),
            if probe { "1" } else { "0" },
        )?;
        *now = probe;
        Ok(())
    }

    /// What making the instance did that is worth a note, the first time asked.
    pub fn first_note(&self) -> Option<String> {
        self.mounted.lock().ok()?.take()
    }

    /// Empties the buffer and starts recording, with a recorder that takes the text
    /// out whenever the buffer is half full.
    pub fn begin(self: &Arc<Tracer>, probe: bool) -> std::io::Result<Recording> {
        self.set_probe(probe)?;
        let since_ns = crate::sys::monotonic_ns();
        let lost_before = self.inst.fill().1;
        self.inst.start()?;
        let (stop, stopped) = mpsc::channel::<()>();
        let t = self.clone();
        let thread = std::thread::Builder::new()
            .name("kernel-events".into())
            .spawn(move || t.record(&stopped))?;
        Ok(Recording {
            tracer: self.clone(),
            stop: Some(stop),
            thread: Some(thread),
            since_ns,
            lost_before,
        })
    }

    /// The recorder's loop: waits, and drains only a buffer over half full. Its wait
    /// ends at once when the trial stops it: a trial that waited out the check would
    /// leave the CPU idle between trials, and the next race would start on a CPU
    /// that had slowed down (measured: docs/benchmarks.md).
    fn record(&self, stopped: &mpsc::Receiver<()>) -> Collected {
        let mut got = Collected::default();
        let half = self.inst.size_bytes() / 2;
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECK) {
            if self.inst.fill().0 > half {
                got.take(&self.inst);
            }
        }
        got
    }
}

/// A trial's recording, until [`Recording::finish`].
pub struct Recording {
    tracer: Arc<Tracer>,
    /// Dropped to stop the recorder at once.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<Collected>>,
    /// When it began (CLOCK_MONOTONIC): older events are another trial's.
    since_ns: u64,
    /// The buffer's count of lost events then.
    lost_before: u64,
}

impl Recording {
    /// Stops recording and reads what is left: every event line, and the count of
    /// events the buffer lost.
    pub fn finish(mut self) -> Collected {
        let _ = self.tracer.inst.stop();
        self.stop = None;
        let mut got = self
            .thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        got.lost += self.tracer.inst.fill().1.saturating_sub(self.lost_before);
        got.take(&self.tracer.inst);
        // The text has µs: an event in the trial's first µs prints as its start.
        let since = self.since_ns / 1000 * 1000;
        got.lines.retain(|l| l.ts_ns >= since);
        got
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.stop = None;
        let _ = self.tracer.inst.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The events taken out of the buffer, parsed, with a bound on `tcp_probe`: only a
/// probe whose window turned zero or non-zero is kept; the others are counted.
#[derive(Debug, Default)]
pub struct Collected {
    pub lines: Vec<parse::Line>,
    pub unparsed: u64,
    pub lost: u64,
    /// Every `tcp_probe` per (local, remote), and whether the last kept one had a
    /// zero window.
    pub probes:
        std::collections::HashMap<(std::net::SocketAddr, std::net::SocketAddr), (u64, bool)>,
}

impl Collected {
    fn take(&mut self, inst: &tracefs::Instance) {
        let mut text = String::new();
        if inst.drain(&mut text).is_err() {
            // What could not be read is lost, and counted.
            self.lost += 1;
        }
        for l in text.lines() {
            self.add(l);
        }
    }

    pub fn add(&mut self, text: &str) {
        // The kernel's `[LOST N EVENTS]` notes are comments here: the lost events
        // are counted once, from the buffer's own statistics.
        if parse::is_comment(text) {
            return;
        }
        let Some(line) = parse::line(text) else {
            self.unparsed += 1;
            return;
        };
        if let parse::Event::Probe {
            local,
            remote,
            snd_wnd,
            ..
        } = line.event
        {
            let e = self.probes.entry((local, remote)).or_insert((0, false));
            e.0 += 1;
            let zero = snd_wnd == 0;
            if zero == e.1 && e.0 > 1 {
                return;
            }
            e.1 = zero;
        }
        self.lines.push(line);
    }
}
