//! A capture file as a stream of frames, read in bounded memory: pcap (micro- and
//! nanosecond, either byte order) and pcapng (every section, every interface, each
//! with its own link type and timestamp resolution).
//!
//! pcap-file reads through a fixed 8 MB buffer, so a frame or a block whose length
//! field claims more is an error, not an allocation. Its pcap packet check refuses a
//! frame whose original length exceeds the snap length, which is every frame cut by
//! `tcpdump -s`; so frames are read raw here, and checked here.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{Context, Result, bail};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::PcapNgReader;
use pcap_file::pcapng::blocks::Block;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::{PcapError, TsResolution};

use super::link::Link;

/// The most bytes of one frame that are looked at: more than any header chain.
pub const MAX_FRAME: usize = 256 * 1024;

/// One frame of a capture.
#[derive(Debug)]
pub struct Frame<'a> {
    /// 1-based, in file order, as Wireshark numbers them.
    pub number: u64,
    /// ns since the epoch, as the capture says.
    pub t_ns: u64,
    pub link: Link,
    /// What was captured: at most the snap length.
    pub data: &'a [u8],
}

enum Format {
    Pcap {
        reader: PcapReader<BufReader<File>>,
        link: Link,
        nanos: bool,
    },
    PcapNg {
        reader: PcapNgReader<BufReader<File>>,
        /// The current section's interfaces: link type and ns per tick.
        interfaces: Vec<(Link, Resolution)>,
    },
}

/// A pcapng interface's timestamp unit (`if_tsresol`): 10^-n or 2^-n seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Decimal(u8),
    Binary(u8),
}

impl Resolution {
    fn of(options: &[InterfaceDescriptionOption]) -> Resolution {
        let r = options.iter().find_map(|o| match o {
            InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
            _ => None,
        });
        match r {
            None => Resolution::Decimal(6),
            Some(r) if r & 0x80 == 0 => Resolution::Decimal(r),
            Some(r) => Resolution::Binary(r & 0x7f),
        }
    }

    /// `ticks` of this unit in ns, saturating.
    pub fn ns(self, ticks: u64) -> u64 {
        let t = ticks as u128;
        let ns = match self {
            Resolution::Decimal(n) if n <= 9 => t * 10u128.pow(9 - n as u32),
            Resolution::Decimal(n) => t / 10u128.pow((n as u32 - 9).min(38)),
            Resolution::Binary(n) => (t * 1_000_000_000) >> n.min(127),
        };
        ns.min(u64::MAX as u128) as u64
    }
}

/// A capture being read, frame by frame.
pub struct Capture {
    format: Format,
    number: u64,
    buf: Vec<u8>,
}

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];

fn pcap_error(e: PcapError) -> anyhow::Error {
    match e {
        PcapError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            anyhow::anyhow!(
                "the file ends inside a frame or a block (cut short, or a length field is wrong)"
            )
        }
        e => anyhow::anyhow!("{e}"),
    }
}

impl Capture {
    pub fn open(path: &Path) -> Result<Capture> {
        let name = path.display();
        let mut file = File::open(path).with_context(|| format!("{name}: opening"))?;
        let mut magic = [0u8; 4];
        file.read_exact(&mut magic)
            .map_err(|_| anyhow::anyhow!("{name}: shorter than any capture's header"))?;
        file.seek(SeekFrom::Start(0))
            .with_context(|| format!("{name}: reading"))?;
        let buf = BufReader::with_capacity(1 << 16, file);
        let format = if magic == PCAPNG_MAGIC {
            let reader = PcapNgReader::new(buf)
                .map_err(pcap_error)
                .with_context(|| format!("{name}: not a readable pcapng file"))?;
            let interfaces = Vec::new();
            Format::PcapNg { reader, interfaces }
        } else if PCAP_MAGICS.contains(&magic) {
            let reader = PcapReader::new(buf)
                .map_err(pcap_error)
                .with_context(|| format!("{name}: not a readable pcap file"))?;
            let h = reader.header();
            Format::Pcap {
                link: Link::of(h.datalink),
                nanos: h.ts_resolution == TsResolution::NanoSecond,
                reader,
            }
        } else {
            bail!(
                "{name}: not a pcap or pcapng capture (it begins {magic:02x?}; tcpdump -w and tshark -w write those)"
            );
        };
        Ok(Capture {
            format,
            number: 0,
            buf: Vec::with_capacity(MAX_FRAME),
        })
    }

    fn keep(buf: &mut Vec<u8>, data: &[u8]) {
        buf.clear();
        buf.extend_from_slice(&data[..data.len().min(MAX_FRAME)]);
    }

    /// Reads the next frame into `buf`: its time and link, None at the end.
    fn advance(&mut self) -> Option<Result<(u64, Link)>> {
        loop {
            match &mut self.format {
                Format::Pcap {
                    reader,
                    link,
                    nanos,
                } => {
                    let p = match reader.next_raw_packet()? {
                        Ok(p) => p,
                        Err(e) => return Some(Err(pcap_error(e))),
                    };
                    self.number += 1;
                    let frac = p.ts_frac as u64 * if *nanos { 1 } else { 1000 };
                    Self::keep(&mut self.buf, &p.data);
                    let t_ns = (p.ts_sec as u64) * 1_000_000_000 + frac.min(999_999_999);
                    return Some(Ok((t_ns, *link)));
                }
                Format::PcapNg { reader, interfaces } => {
                    let block = match reader.next_block()? {
                        Ok(b) => b,
                        Err(e) => return Some(Err(pcap_error(e))),
                    };
                    match block {
                        Block::SectionHeader(_) => interfaces.clear(),
                        Block::InterfaceDescription(i) => {
                            interfaces.push((Link::of(i.linktype), Resolution::of(&i.options)))
                        }
                        // Numbered as Wireshark does, but without a time: skipped.
                        Block::SimplePacket(_) | Block::Packet(_) => self.number += 1,
                        Block::EnhancedPacket(p) => {
                            self.number += 1;
                            let Some(&(link, res)) = interfaces.get(p.interface_id as usize) else {
                                return Some(Err(anyhow::anyhow!(
                                    "frame {}: interface {} was never described",
                                    self.number,
                                    p.interface_id
                                )));
                            };
                            Self::keep(&mut self.buf, &p.data);
                            let ticks = p.timestamp.as_nanos().min(u64::MAX as u128) as u64;
                            return Some(Ok((res.ns(ticks), link)));
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// The next frame, None at the end, or the error that ends the file.
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>>> {
        let (t_ns, link) = match self.advance()? {
            Ok(m) => m,
            Err(e) => return Some(Err(e.context(format!("after frame {}", self.number)))),
        };
        Some(Ok(Frame {
            number: self.number,
            t_ns,
            link,
            data: &self.buf,
        }))
    }
}
