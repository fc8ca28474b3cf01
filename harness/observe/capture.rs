//! Packet capture of a trial: an AF_PACKET socket on the namespace's `lo`, or on the
//! client's end of the veth pair, read on a thread of its own. Each packet is kept once, analysed as it arrives
//! ([`wire::Analyzer`]) and, with `--pcap`, written straight to a pcap file that tshark
//! and Wireshark read. Nothing is held in memory, so a trial of millions of segments
//! costs no more memory than one of ten.
//!
//! # Notes
//! Of the two copies `lo` shows, the arriving one (PACKET_HOST) is kept: it is
//! stamped with CLOCK_REALTIME when the receive path takes it. The leaving copy
//! carries TCP's departure time (EDT) or no stamp at all, so its times come late.
//! Only segments to or from the sender's port are kept: in host mode `lo` carries
//! other traffic too.
//!
//! A veth end shows each packet once: leaving (PACKET_OUTGOING, stamped when it is
//! handed to the device, after any qdisc) or arriving. Both copies are kept there.
//!
//! The pcap file is created new (never through a symlink; see [`crate::artifacts`]),
//! and it ends at a record boundary whenever it is read: each record is assembled
//! whole before it reaches the file's buffer, which is flushed only between records.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};

use super::wire::{self, Analyzer, Wire};
use crate::sys::{self, packet::PacketSocket};

/// Bytes kept of each frame: Ethernet 14 + IPv4 up to 60 + TCP up to 60.
pub const SNAPLEN: usize = 134;
/// The capture thread wakes at most once per BATCH.
const BATCH: Duration = Duration::from_millis(1);

/// The bytes pcap-file writes for one record, collected before they go to the file.
#[derive(Clone, Default)]
struct Pending(Rc<RefCell<Vec<u8>>>);

impl Write for Pending {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A pcap file written whole record by whole record.
struct PcapOut {
    pcap: PcapWriter<Pending>,
    pending: Pending,
    file: BufWriter<File>,
}

impl PcapOut {
    fn new(file: File) -> Result<PcapOut> {
        let pending = Pending::default();
        let header = PcapHeader {
            snaplen: SNAPLEN as u32,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::NanoSecond,
            endianness: Endianness::native(),
            ..PcapHeader::default()
        };
        let pcap = PcapWriter::with_header(pending.clone(), header)?;
        let mut out = PcapOut {
            pcap,
            pending,
            file: BufWriter::with_capacity(256 * 1024, file),
        };
        out.commit()?;
        Ok(out)
    }

    /// Hands what pcap-file wrote to the file's buffer in one write_all.
    fn commit(&mut self) -> std::io::Result<()> {
        let mut p = self.pending.0.borrow_mut();
        self.file.write_all(&p)?;
        p.clear();
        Ok(())
    }

    fn write(&mut self, ts: Duration, orig_len: u32, data: &[u8]) -> Result<()> {
        self.pcap
            .write_packet(&PcapPacket::new(ts, orig_len, data))?;
        self.commit()?;
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.file.flush().context("writing the pcap")?;
        self.file
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()
            .context("writing the pcap")
    }
}

/// The client ports whose connections the analysis keeps, once told to keep only
/// them: a trial with helpers has other connections to the sender's port (a
/// publisher's), which the pcap keeps and the record's sums must not.
#[derive(Default)]
pub struct Peers {
    only: std::sync::atomic::AtomicBool,
    ports: std::sync::Mutex<Vec<u16>>,
}

impl Peers {
    /// From now on, only the connections of the ports [`Peers::add`] names.
    pub fn only(&self) {
        self.only.store(true, Ordering::Release);
    }

    /// A port of the client's (bound before its connect(), so its SYN is kept too).
    pub fn add(&self, port: u16) {
        self.ports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(port);
    }

    fn keeps(&self, port: u16) -> bool {
        !self.only.load(Ordering::Acquire)
            || self
                .ports
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&port)
    }
}

/// A running capture.
pub struct Capture {
    /// Made readable to stop the reader at once, whatever it is waiting for.
    wake: OwnedFd,
    port: Arc<AtomicU16>,
    /// Whose connections the analysis keeps.
    pub peers: Arc<Peers>,
    handle: JoinHandle<Result<Wire>>,
}

impl Capture {
    /// Opens the socket on the calling thread (so in its namespace) and starts
    /// reading. `offset_ns` is CLOCK_REALTIME - CLOCK_MONOTONIC, to put packet times
    /// on the monotonic axis. Segments are kept once [`Capture::watch`] names the port.
    pub fn start(offset_ns: i64, pcap: Option<std::fs::File>, device: &str) -> Result<Capture> {
        let sock = PacketSocket::open(device)
            .with_context(|| format!("opening an AF_PACKET socket on {device}"))?;
        // `lo` shows each packet twice; a veth end once, leaving or arriving.
        let keep_outgoing = device != "lo";
        let file = pcap;
        let wake = sys::eventfd()?;
        let woken = wake.as_raw_fd();
        let port = Arc::new(AtomicU16::new(0));
        let watched = Arc::clone(&port);
        let peers = Arc::new(Peers::default());
        let kept = Arc::clone(&peers);
        let handle = std::thread::spawn(move || -> Result<Wire> {
            let mut writer = file.map(PcapOut::new).transpose()?;
            let mut analyzer = Analyzer::default();
            let mut stopping = false;
            loop {
                // Take everything queued, then wait for more, or for the stop signal.
                while let Some(frame) = sock.recv(SNAPLEN, Duration::ZERO)? {
                    if frame.outgoing && !keep_outgoing {
                        continue; // the arriving copy of the same packet is kept
                    }
                    let port = watched.load(Ordering::Acquire);
                    let mono = (frame.realtime_ns as i64 - offset_ns).max(0) as u64;
                    let Some(seg) = wire::segment(&frame.data, mono, port).filter(|_| port != 0)
                    else {
                        continue;
                    };
                    let peer = match seg.src.port() == port {
                        true => seg.dst.port(),
                        false => seg.src.port(),
                    };
                    if kept.keeps(peer) {
                        analyzer.push(&seg, port);
                    }
                    if let Some(w) = writer.as_mut() {
                        let ts = Duration::from_nanos(frame.realtime_ns);
                        w.write(ts, frame.orig_len, &frame.data)?;
                    }
                }
                if stopping {
                    break;
                }
                // Wake on a plain timer, once per BATCH, not on packets: the
                // capture then takes as little CPU from the client under test as it
                // can, and never right when the connection starts. The kernel keeps
                // each packet's own timestamp meanwhile; the 64 MiB buffer holds them.
                stopping = sys::poll_readable(woken, BATCH)?;
            }
            if let Some(w) = writer {
                w.finish()?;
            }
            let mut wire = analyzer.finish();
            wire.dropped_frames = sock.stats()?.1 as u64;
            // Closing an AF_PACKET socket waits for an RCU grace period
            // (synchronize_net in packet_release), 10-20 ms: let it close off the
            // trial's path.
            std::thread::spawn(move || drop(sock));
            Ok(wire)
        });
        Ok(Capture {
            wake,
            port,
            peers,
            handle,
        })
    }

    /// Keeps the segments to and from this port (the sender's) from now on.
    pub fn watch(&self, sender_port: u16) {
        self.port.store(sender_port, Ordering::Release);
    }

    /// Stops reading and returns the connection's analysis.
    pub fn stop(self) -> Result<Wire> {
        sys::eventfd_signal(self.wake.as_raw_fd()).context("waking the capture thread")?;
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("the capture thread panicked"))?
            .context("capturing packets")
    }
}
