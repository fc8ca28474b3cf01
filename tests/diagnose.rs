//! `zerowin diagnose` on captures made by tools that are not zerowin
//! (tests/fixtures/captures, recorded by scripts/record_fixtures.sh with Debian's
//! tcpdump and tshark), on the same captures re-encoded into every link type and
//! format it reads, and on hostile files.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{Refused, zerowin};
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use zerowin::trace::cause::Cause;
use zerowin::trace::{Diagnosis, Filter, diagnose};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/captures")
        .join(name)
}

fn one(path: &Path) -> Diagnosis {
    let d = diagnose(path, &Filter::default()).unwrap();
    assert_eq!(
        d.connections.len(),
        1,
        "{}: {:#?}",
        path.display(),
        d.frames
    );
    d
}

fn cause_of(path: &Path) -> Cause {
    one(path).connections[0].finding.cause
}

#[test]
fn the_seeds_failure_captured_by_tcpdump_is_named_with_side_time_and_bytes() {
    // The 2014 naive Python client against scripts/nonblocking_sender.py, captured
    // with `tcpdump -i any` (Linux cooked v2, nanosecond pcap).
    let d = one(&fixture("naive-reset-any.pcap"));
    let c = &d.connections[0];
    let f = &c.finding;
    assert_eq!(f.cause, Cause::ZeroWindowAbort);
    let resetter = f.side.unwrap();
    let slow = 1 - resetter;
    assert_eq!(
        c.conn.addr(slow),
        c.conn.a,
        "the client (the connecting side) was slow"
    );
    assert!(c.conn.halves[slow].zero_windows > 0);
    assert_eq!(c.conn.halves[resetter].zero_windows, 0);
    assert!(c.conn.halves[resetter].rst.is_some());
    assert!(
        f.bytes_destroyed.is_some(),
        "bytes destroyed are known from the SYN on"
    );
    let zero = c.conn.halves[slow].first_zero_window.unwrap();
    let rst = c.conn.halves[resetter].rst.unwrap().at;
    assert!(zero.number < rst.number && zero.t_ns < rst.t_ns);
    // The report names the cause, the side and the time from zero window to RST.
    let out = zerowin()
        .arg("diagnose")
        .arg(fixture("naive-reset-any.pcap"))
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("abortive close after the peer's zero window"),
        "{text}"
    );
    assert!(text.contains("advertised a zero window"), "{text}");
    assert!(text.contains("after the first zero window"), "{text}");
    assert!(text.contains(&format!("#{}", rst.number)), "{text}");
}

#[test]
fn every_fixture_has_its_cause() {
    for (name, want) in [
        ("naive-reset-any.pcap", Cause::ZeroWindowAbort),
        ("linger0-lo.pcap", Cause::AbortiveClose),
        ("refused-any.pcap", Cause::Refused),
        ("fin-then-rst-lo.pcap", Cause::FinThenRstOnData),
        ("fin-queued-lo.pcap", Cause::FinThenRstOnData),
        ("keepalive-veth.pcap", Cause::KeepaliveTimeout),
        ("clean-v6.pcapng", Cause::NormalClose),
        ("stall-lo.pcapng", Cause::ZeroWindowStall),
    ] {
        assert_eq!(cause_of(&fixture(name)), want, "{name}");
    }
}

#[test]
fn the_fixtures_details_are_what_their_programs_did() {
    // linger0: the server read 10 of the client's 100 bytes, then SO_LINGER 0.
    let d = one(&fixture("linger0-lo.pcap"));
    let c = &d.connections[0];
    assert_eq!(c.finding.side, Some(1), "the server reset");
    let rst = c.conn.halves[1].rst.unwrap();
    assert!(
        rst.with_ack && !rst.answers_peer,
        "an RST of its own accord"
    );
    assert_eq!(c.conn.halves[0].payload_bytes, 100);
    // keepalive: three probes (TCP_KEEPCNT 3) unanswered, then the prober's RST.
    let d = one(&fixture("keepalive-veth.pcap"));
    let h = &d.connections[0].conn.halves[0];
    assert_eq!(h.unanswered_keepalives, 3);
    assert!(h.rst.is_some());
    // FIN then RST: the server's FIN, the client's 100 bytes, the RST answering them.
    let d = one(&fixture("fin-then-rst-lo.pcap"));
    let c = &d.connections[0].conn;
    assert!(c.halves[1].rst.unwrap().answers_peer);
    assert_eq!(c.halves[0].payload_bytes, 100);
    assert_eq!(c.halves[1].sent_bytes(), Some(0), "its FIN is not a byte");
    // The queued FIN: the sender's last data filled the client's window, no FIN from
    // it ever reached the wire, and its RST answered the client's 17-byte reply.
    let d = one(&fixture("fin-queued-lo.pcap"));
    let c = &d.connections[0];
    assert_eq!(c.finding.side, Some(1), "the sender reset");
    let s = &c.conn.halves[1];
    assert!(s.fin.is_none() && s.filled_window);
    let rst = s.rst.unwrap();
    assert!(rst.answers_peer && !rst.with_ack, "{rst:?}");
    assert_eq!(
        c.conn.halves[0].last_data.unwrap().number + 1,
        rst.at.number
    );
    assert!(
        c.finding.or_else.is_some(),
        "a vanished socket looks the same"
    );
    // IPv6 clean exchange: five 8-byte lines each way.
    let d = one(&fixture("clean-v6.pcapng"));
    let c = &d.connections[0].conn;
    assert!(c.a.is_ipv6());
    assert_eq!(c.halves[0].sent_bytes(), Some(40));
    assert_eq!(c.halves[1].sent_bytes(), Some(40));
    // stall: the reader's window closed for over a second, probed by the writer.
    let d = one(&fixture("stall-lo.pcapng"));
    let c = &d.connections[0].conn;
    assert!(c.halves[1].probes > 0);
    assert!(c.halves[0].open_zero_window_ns(c.end_ns).unwrap() >= 1_000_000_000);
}

/// Re-encodes every frame of an Ethernet pcap with `f`, into a pcap of `link`.
fn reencode(src: &Path, dst: &Path, link: DataLink, f: impl Fn(&[u8]) -> Vec<u8>) {
    let mut r = PcapReader::new(std::fs::File::open(src).unwrap()).unwrap();
    let h = PcapHeader {
        datalink: link,
        snaplen: 65535,
        ..r.header()
    };
    let mut w = PcapWriter::with_header(std::fs::File::create(dst).unwrap(), h).unwrap();
    while let Some(p) = r.next_raw_packet() {
        let p = p.unwrap();
        let data = f(&p.data);
        let ts = std::time::Duration::new(p.ts_sec as u64, p.ts_frac * 1000);
        let orig = p.orig_len as usize + data.len() - p.data.len();
        w.write_packet(&PcapPacket::new(ts, orig as u32, &data))
            .unwrap();
    }
}

/// How a frame is re-encoded.
type Recode = Box<dyn Fn(&[u8]) -> Vec<u8>>;

#[test]
fn every_link_type_gives_the_same_diagnosis() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("linger0-lo.pcap");
    let want = one(&src).connections[0].clone();
    let ip = |d: &[u8]| d[14..].to_vec();
    let cases: Vec<(&str, DataLink, Recode)> = vec![
        ("raw", DataLink::RAW, Box::new(ip)),
        (
            "null-le",
            DataLink::NULL,
            Box::new(move |d| [&2u32.to_le_bytes()[..], &ip(d)].concat()),
        ),
        (
            "null-be",
            DataLink::NULL,
            Box::new(move |d| [&2u32.to_be_bytes()[..], &ip(d)].concat()),
        ),
        (
            "vlan",
            DataLink::ETHERNET,
            Box::new(|d| [&d[..12], &[0x81, 0x00, 0x00, 0x2a][..], &d[12..]].concat()),
        ),
        (
            "qinq",
            DataLink::ETHERNET,
            Box::new(|d| {
                let tags = [0x88, 0xa8, 0x00, 0x07, 0x81, 0x00, 0x00, 0x2a];
                [&d[..12], &tags[..], &d[12..]].concat()
            }),
        ),
        (
            "sll",
            DataLink::LINUX_SLL,
            Box::new(move |d| {
                let mut h = vec![0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
                h.extend_from_slice(&ip(d));
                h
            }),
        ),
    ];
    for (name, link, f) in cases {
        let dst = dir.path().join(format!("{name}.pcap"));
        reencode(&src, &dst, link, f);
        let got = one(&dst).connections[0].clone();
        assert_eq!(got.finding, want.finding, "{name}");
        assert_eq!(got.conn.halves, want.conn.halves, "{name}");
    }
}

#[test]
fn a_frame_cut_by_the_snap_length_keeps_its_segment() {
    // tcpdump -s 96 cut every data frame of the naive fixture: the payload's length
    // comes from the IP header, so the bytes each way are the real ones.
    let d = one(&fixture("naive-reset-any.pcap"));
    let c = &d.connections[0].conn;
    let sent = c.halves[1].sent_bytes().unwrap();
    assert!(sent > 96 * 10, "{sent}");
    // Cut harder than the headers: those frames are counted and skipped.
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("cut.pcap");
    reencode(&fixture("linger0-lo.pcap"), &dst, DataLink::ETHERNET, |d| {
        d[..d.len().min(40)].to_vec()
    });
    let d = diagnose(&dst, &Filter::default()).unwrap();
    assert_eq!(d.frames.cut, d.frames.frames);
    assert!(d.connections.is_empty());
}

#[test]
fn the_filter_keeps_the_connections_of_a_host_or_a_port() {
    let path = fixture("keepalive-veth.pcap");
    let keep = |s: &str| {
        diagnose(&path, &Filter::parse(s).unwrap())
            .unwrap()
            .connections
            .len()
    };
    assert_eq!(keep("8000"), 1);
    assert_eq!(keep("10.99.0.2"), 1);
    assert_eq!(keep("10.99.0.2:8000"), 1);
    assert_eq!(keep("8001"), 0);
    assert_eq!(keep("10.99.0.3"), 0);
    zerowin()
        .args(["diagnose", "--filter", "nine"])
        .arg(&path)
        .assert()
        .refused("--filter");
}

#[test]
fn the_json_export_has_every_connection_and_its_finding() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("d.json");
    zerowin()
        .arg("diagnose")
        .arg(fixture("naive-reset-any.pcap"))
        .arg(fixture("refused-any.pcap"))
        .arg("--export-json")
        .arg(&json)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let caps = v["captures"].as_array().unwrap();
    assert_eq!(caps.len(), 2);
    assert_eq!(
        caps[0]["connections"][0]["finding"]["cause"],
        "zero-window-abort"
    );
    assert_eq!(caps[1]["connections"][0]["finding"]["cause"], "refused");
    assert!(
        caps[0]["connections"][0]["finding"]["steps"]
            .as_array()
            .unwrap()
            .len()
            >= 3
    );
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
    p
}

#[test]
fn hostile_files_are_refused_or_read_in_part() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    zerowin()
        .arg("diagnose")
        .arg(write(d, "garbage", &garbage))
        .assert()
        .refused("not a pcap or pcapng");
    zerowin()
        .arg("diagnose")
        .arg(write(d, "empty", b""))
        .assert()
        .refused("shorter than any capture");
    zerowin()
        .arg("diagnose")
        .arg(d.join("missing.pcap"))
        .assert()
        .refused("missing.pcap");
    // A pcap header, then a frame header that claims 4 GB.
    let real = std::fs::read(fixture("linger0-lo.pcap")).unwrap();
    let mut huge = real[..24].to_vec();
    huge.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ]);
    zerowin()
        .arg("diagnose")
        .arg(write(d, "huge", &huge))
        .assert()
        .refused("cut short, or a length field is wrong");
    // Snap lengths of 0 and 4 GB in the file header: the frames are still read.
    for (name, snap) in [("snap0", 0u32), ("snapmax", u32::MAX)] {
        let mut f = real.clone();
        f[16..20].copy_from_slice(&snap.to_le_bytes());
        let p = write(d, name, &f);
        assert_eq!(cause_of(&p), Cause::AbortiveClose, "{name}");
    }
    // An unsupported link type.
    let mut f = real.clone();
    f[20..24].copy_from_slice(&147u32.to_le_bytes());
    zerowin()
        .arg("diagnose")
        .arg(write(d, "link147", &f))
        .assert()
        .refused("link type 147");
    // A pcapng block whose length field lies.
    let mut ng = std::fs::read(fixture("clean-v6.pcapng")).unwrap();
    let at = ng.len() - 40;
    ng[at..at + 4].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let p = write(d, "liar.pcapng", &ng);
    let _ = diagnose(&p, &Filter::default()); // an error or a partial result, no panic
    zerowin()
        .arg("diagnose")
        .arg(&p)
        .assert()
        .code(predicates::ord::lt(3));
}

#[test]
fn a_cut_file_gives_what_came_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let real = std::fs::read(fixture("naive-reset-any.pcap")).unwrap();
    let p = write(dir.path(), "cut.pcap", &real[..real.len() / 2 + 7]);
    let d = diagnose(&p, &Filter::default()).unwrap();
    assert!(d.ended_early.is_some());
    assert_eq!(d.connections.len(), 1);
    assert!(d.frames.frames > 10);
    let out = zerowin().arg("diagnose").arg(&p).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("the capture ends early"), "{text}");
}

/// xorshift64*: the mutations are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    // A fresh seed each run, printed (ZEROWIN_TEST_SEED replays it), over every fixture.
    let mut rng = Rng(common::seed("mutated_fixtures_never_panic") | 1);
    let mut names: Vec<String> = std::fs::read_dir(fixture(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 8, "{names:?}");
    // ZEROWIN_FUZZ_ITERATIONS runs longer (docs/testing.md); 600 by default.
    let n: usize = std::env::var("ZEROWIN_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    for i in 0..n {
        let mut f = std::fs::read(fixture(&names[i % names.len()])).unwrap();
        match rng.below(4) {
            0 => f.truncate(rng.below(f.len())),
            1 => {
                for _ in 0..=rng.below(16) {
                    let at = rng.below(f.len());
                    f[at] = rng.next() as u8;
                }
            }
            2 => {
                let at = rng.below(f.len().saturating_sub(4)) & !3;
                f[at..at + 4].copy_from_slice(&(rng.next() as u32).to_le_bytes());
            }
            _ => {
                let at = rng.below(f.len());
                let n = rng.below(64);
                f.splice(at..at, (0..n).map(|_| rng.next() as u8));
            }
        }
        let p = write(dir.path(), "m", &f);
        let r = std::panic::catch_unwind(|| diagnose(&p, &Filter::default()));
        assert!(r.is_ok(), "mutation {i} panicked");
    }
}

#[test]
fn a_million_connections_of_one_packet_stay_bounded() {
    // One SYN each from a million source ports and addresses.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("million.pcap");
    let h = PcapHeader {
        datalink: DataLink::RAW,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(
        std::io::BufWriter::new(std::fs::File::create(&path).unwrap()),
        h,
    )
    .unwrap();
    let n: u32 = 1_000_000;
    for i in 0..n {
        let mut f = vec![
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 0, 10, 1, 0, 1,
        ];
        f[13..16].copy_from_slice(&i.to_be_bytes()[1..]);
        f.extend_from_slice(&((i % 50000) as u16 + 1024).to_be_bytes());
        f.extend_from_slice(&80u16.to_be_bytes());
        f.extend_from_slice(&i.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        let ts = std::time::Duration::from_micros(i as u64);
        w.write_packet(&PcapPacket::new(ts, 40, &f)).unwrap();
    }
    drop(w);
    let d = diagnose(&path, &Filter::default()).unwrap();
    let kept = d.connections.len() as u64;
    let counted: u64 = d.frames.not_kept.values().sum();
    assert_eq!(kept + counted, n as u64, "every connection is counted");
    assert!(kept <= zerowin::trace::KEEP_MAX as u64);
    assert!(d.frames.judged_early > 0);
    assert!(d.connections.iter().all(|c| c.finding.cause == Cause::Open));
}

#[test]
fn a_new_syn_on_the_same_tuple_is_a_new_connection() {
    // The linger0 fixture twice in one file: the same 4-tuple, two incarnations.
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("linger0-lo.pcap");
    let dst = dir.path().join("twice.pcap");
    let mut r = PcapReader::new(std::fs::File::open(&src).unwrap()).unwrap();
    let h = r.header();
    let mut frames = Vec::new();
    while let Some(p) = r.next_raw_packet() {
        frames.push(p.unwrap().into_owned());
    }
    let mut w = PcapWriter::with_header(std::fs::File::create(&dst).unwrap(), h).unwrap();
    for (i, p) in frames.iter().chain(frames.iter()).enumerate() {
        let mut p = p.clone();
        if i >= frames.len() {
            p.ts_sec += 10;
            // New initial sequence numbers, both ways, and the acknowledgements
            // to match.
            p.data.to_mut()[14 + 20 + 4] ^= 0x55;
            p.data.to_mut()[14 + 20 + 8] ^= 0x55;
        }
        w.write_raw_packet(&p).unwrap();
    }
    drop(w);
    let d = diagnose(&dst, &Filter::default()).unwrap();
    assert_eq!(d.connections.len(), 2, "{:#?}", d.frames);
    assert_eq!(d.connections[1].conn.incarnation, 2);
    assert_eq!(d.connections[0].finding.cause, Cause::AbortiveClose);
}

#[test]
fn plot_draws_each_explained_connection_from_its_wire() {
    let d = tempfile::tempdir().unwrap();
    let out = zerowin()
        .args(["diagnose", "--quiet", "--plot"])
        .arg(d.path())
        .arg(fixture("naive-reset-any.pcap"))
        .arg(fixture("clean-v6.pcapng"))
        .assert()
        .success();
    assert!(out.get_output().stderr.is_empty());
    let runs: Vec<PathBuf> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "one run directory: {runs:?}");
    let mut svgs: Vec<String> = std::fs::read_dir(&runs[0])
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    svgs.sort();
    // The clean close is not abnormal, so only the reset is drawn.
    assert_eq!(svgs, ["capture-1-connection-1.svg"]);
    let svg = std::fs::read_to_string(runs[0].join(&svgs[0])).unwrap();
    let c = &one(&fixture("naive-reset-any.pcap")).connections[0].conn;
    // The sender (B) wrote the data; the slow client (A) acknowledged it and closed
    // its window; the RST and the zero windows are marked.
    for want in [
        format!("{}: highest byte sent", c.b),
        format!("{}: acknowledged", c.a),
        format!("{}: advertised window", c.a),
        "first zero window".to_string(),
        "RST at".to_string(),
    ] {
        assert!(svg.contains(&want), "{want} in the SVG");
    }
    // The series behind it: the window reaches 0, and the acknowledged bytes never
    // pass the bytes sent.
    let series = zerowin::trace::series_of(&fixture("naive-reset-any.pcap"), &[c]).unwrap();
    let (s, unscaled) = &series[0];
    assert!(!unscaled, "the handshake was captured");
    assert!(s.client_window.points.iter().any(|p| p.1 == 0));
    let max = |s: &zerowin::observe::wire::Series| s.points.iter().map(|p| p.1).max().unwrap();
    assert!(max(&s.client_acked) <= max(&s.sender_sent));
    assert_eq!(
        max(&s.sender_sent),
        c.halves[1].sent_bytes().unwrap() + 1,
        "the graph counts from the SYN"
    );
}

#[test]
fn plot_and_html_are_refused_before_any_capture_is_read() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    for flag in ["--plot", "--html"] {
        zerowin()
            .arg("diagnose")
            .arg(flag)
            .arg(&file)
            .arg(fixture("naive-reset-any.pcap"))
            .assert()
            .refused(flag);
    }
}

type Raw = pcap_file::pcap::RawPcapPacket<'static>;

/// The frames of a pcap fixture, raw (they are cut by its snap length), and its header.
fn frames_of(src: &Path) -> (PcapHeader, Vec<Raw>) {
    let mut r = PcapReader::new(std::fs::File::open(src).unwrap()).unwrap();
    let h = r.header();
    let mut frames = Vec::new();
    while let Some(p) = r.next_raw_packet() {
        frames.push(p.unwrap().into_owned());
    }
    (h, frames)
}

/// A copy of an Ethernet/IPv4 fixture's frames, `shift_s` seconds later: with `port`,
/// the client (the SYN's sender) moves to that port; without, the same 4-tuple gets
/// new initial sequence numbers (its next incarnation).
fn copy_of(frames: &[Raw], shift_s: u32, port: Option<u16>) -> Vec<Raw> {
    let client = u16::from_be_bytes([frames[0].data[34], frames[0].data[35]]);
    frames
        .iter()
        .map(|p| {
            let mut p = p.clone();
            p.ts_sec += shift_s;
            let d = p.data.to_mut();
            match port {
                Some(port) => {
                    let at = if u16::from_be_bytes([d[34], d[35]]) == client {
                        34
                    } else {
                        36
                    };
                    d[at..at + 2].copy_from_slice(&port.to_be_bytes());
                }
                None => {
                    d[14 + 20 + 4] ^= 0x55;
                    d[14 + 20 + 8] ^= 0x55;
                }
            }
            p
        })
        .collect()
}

fn write_pcap(dst: &Path, h: PcapHeader, frames: impl IntoIterator<Item = Raw>) {
    let mut w = PcapWriter::with_header(std::fs::File::create(dst).unwrap(), h).unwrap();
    for p in frames {
        w.write_raw_packet(&p).unwrap();
    }
}

#[test]
fn the_report_is_the_same_whatever_is_kept_whole() {
    // 15 and 300 connections: the linger0 fixture on ports of its own, every third
    // one cut after its handshake (still open at the end). The text report from the
    // connections kept for it alone must be the report from every one kept.
    let dir = tempfile::tempdir().unwrap();
    let (h, frames) = frames_of(&fixture("linger0-lo.pcap"));
    for n in [15u16, 300] {
        let path = dir.path().join(format!("{n}.pcap"));
        let all = (0..n).flat_map(|i| {
            let mut c = copy_of(&frames, i as u32, Some(20_000 + i));
            if i % 3 == 0 {
                c.truncate(3);
            }
            c
        });
        write_pcap(&path, h, all);
        let every = diagnose(&path, &Filter::default()).unwrap();
        let some = zerowin::trace::diagnose_keeping(
            &path,
            &Filter::default(),
            zerowin::report::diagnose::KEEP,
        )
        .unwrap();
        assert_eq!(every.total(), n as u64);
        assert_eq!(some.total(), n as u64);
        let layout = zerowin::report::text::Layout { width: Some(200) };
        assert_eq!(
            zerowin::report::diagnose::report(&some, layout),
            zerowin::report::diagnose::report(&every, layout),
            "{n} connections"
        );
        assert!(some.connections.len() <= 30, "{}", some.connections.len());
    }
}

#[test]
fn a_quiet_ended_connection_keeps_its_incarnation() {
    // linger0 on one tuple, then 9,000 one-packet connections a minute later (enough
    // packets for the tracker's sweep to finish the quiet one), then linger0 again on
    // the first tuple: still its second incarnation.
    let dir = tempfile::tempdir().unwrap();
    let (h, frames) = frames_of(&fixture("linger0-lo.pcap"));
    let crowd = (0..9000u16).map(|i| copy_of(&frames[..1], 61, Some(30_000 + i)).remove(0));
    let again = copy_of(&frames, 122, None);
    let path = dir.path().join("quiet.pcap");
    write_pcap(&path, h, frames.iter().cloned().chain(crowd).chain(again));
    let d = diagnose(&path, &Filter::default()).unwrap();
    assert_eq!(d.total(), 9002);
    let first = &d.connections[0];
    let last = d.connections.last().unwrap();
    assert_eq!((first.conn.a, first.conn.b), (last.conn.a, last.conn.b));
    assert_eq!((first.conn.incarnation, last.conn.incarnation), (1, 2));
    assert_eq!(last.conn.number, 9002);
    assert_eq!(last.finding.cause, Cause::AbortiveClose);
}
