//! The framed protocol of the remedy senders: a message stream with identity.
//!
//! The original sender writes bare 13-byte messages, so a client can count bytes but
//! never say which message it lost. The remedy senders number every message, and the
//! client acknowledges what it has processed, so that "no message lost, none twice,
//! none out of order" can be proven message by message. docs/remedies.md has the byte table; a
//! client can be written from it alone (`scripts/resume_client.py` was).
//!
//! All integers are big-endian. Sequence numbers start at 1.
//! - Each side opens with a 16-byte hello: magic `ZWIN`, version 1, two zero bytes,
//!   and a sequence: the client's is the next one it wants (1 on its first
//!   connection), the sender's is the one it will send first. A sender whose oldest
//!   message is newer than what the client asks for (it dropped the rest) says so
//!   with a higher number, and the client counts the difference as lost.
//! - Then the sender sends frames: seq (8), the CLOCK_MONOTONIC nanoseconds when the
//!   message was produced (8), the payload length (2), the payload.
//! - The client sends acknowledgements: 8 bytes, the highest sequence it has
//!   processed, cumulative. They take the place of the 2014 reply.
//!
//! A peer whose hello has another magic or version is refused: the sender closes with a
//! FIN and says why in its summary; it never sends it a frame.

use std::fmt;

/// The magic that opens every hello.
pub const MAGIC: [u8; 4] = *b"ZWIN";
/// The protocol version this build speaks.
pub const VERSION: u16 = 1;
/// Bytes in a hello.
pub const HELLO_LEN: usize = 16;
/// Bytes in a frame's header, before the payload.
pub const FRAME_HEADER: usize = 18;
/// Bytes in an acknowledgement.
pub const ACK_LEN: usize = 8;
/// The original's message, the default payload: "Hello World!\0".
pub const DEFAULT_PAYLOAD: &[u8; 13] = b"Hello World!\0";

/// A hello, from either side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// Client: the next sequence it wants. Sender: the first sequence it will send.
    pub seq: u64,
}

/// Why bytes are not a hello of this protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloError {
    /// The first four bytes are not `ZWIN`: the peer speaks something else.
    Magic([u8; 4]),
    /// A version this build does not speak.
    Version(u16),
}

impl fmt::Display for HelloError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HelloError::Magic(m) => write!(
                f,
                "the peer does not speak the zerowin framed protocol (its first bytes are {:?}, not \"ZWIN\")",
                String::from_utf8_lossy(m)
            ),
            HelloError::Version(v) => write!(
                f,
                "the peer speaks version {v} of the zerowin framed protocol; this build speaks {VERSION}"
            ),
        }
    }
}

impl std::error::Error for HelloError {}

impl Hello {
    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut b = [0u8; HELLO_LEN];
        b[..4].copy_from_slice(&MAGIC);
        b[4..6].copy_from_slice(&VERSION.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    pub fn decode(b: &[u8; HELLO_LEN]) -> Result<Hello, HelloError> {
        let magic: [u8; 4] = b[..4].try_into().expect("4 bytes");
        if magic != MAGIC {
            return Err(HelloError::Magic(magic));
        }
        let version = u16::from_be_bytes([b[4], b[5]]);
        if version != VERSION {
            return Err(HelloError::Version(version));
        }
        Ok(Hello {
            seq: u64::from_be_bytes(b[8..].try_into().expect("8 bytes")),
        })
    }
}

/// One message as it travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub seq: u64,
    /// CLOCK_MONOTONIC ns when the sender produced it.
    pub produced_ns: u64,
    pub payload: Vec<u8>,
}

impl Frame {
    /// Appends the frame's bytes to `out`.
    pub fn encode_into(seq: u64, produced_ns: u64, payload: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&produced_ns.to_be_bytes());
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        out.extend_from_slice(payload);
    }

    /// The bytes one frame with this payload takes on the wire.
    pub fn wire_len(payload_len: usize) -> usize {
        FRAME_HEADER + payload_len
    }
}

/// Cuts frames out of a byte stream that arrives in pieces of any size.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed.
    start: usize,
}

impl Decoder {
    /// Adds bytes as they were read.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, if one has arrived.
    pub fn next_frame(&mut self) -> Option<Frame> {
        let b = &self.buf[self.start..];
        if b.len() < FRAME_HEADER {
            return None;
        }
        let len = u16::from_be_bytes([b[16], b[17]]) as usize;
        if b.len() < FRAME_HEADER + len {
            return None;
        }
        let frame = Frame {
            seq: u64::from_be_bytes(b[..8].try_into().expect("8 bytes")),
            produced_ns: u64::from_be_bytes(b[8..16].try_into().expect("8 bytes")),
            payload: b[FRAME_HEADER..FRAME_HEADER + len].to_vec(),
        };
        self.start += FRAME_HEADER + len;
        Some(frame)
    }

    /// Bytes received that do not make a whole frame yet.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}

/// An acknowledgement: the highest sequence processed.
pub fn encode_ack(seq: u64) -> [u8; ACK_LEN] {
    seq.to_be_bytes()
}

/// Cuts acknowledgements out of a byte stream; returns the highest one in `bytes`
/// (with `carry` holding a partial one between calls).
pub fn decode_acks(carry: &mut Vec<u8>, bytes: &[u8]) -> Option<u64> {
    carry.extend_from_slice(bytes);
    let whole = carry.len() / ACK_LEN * ACK_LEN;
    let highest = carry[..whole]
        .chunks_exact(ACK_LEN)
        .map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes")))
        .max();
    carry.drain(..whole);
    highest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_round_trips_and_a_stranger_is_refused() {
        let h = Hello { seq: 42 };
        let b = h.encode();
        assert_eq!(&b[..4], b"ZWIN");
        assert_eq!(&b[4..8], &[0, 1, 0, 0]);
        assert_eq!(Hello::decode(&b), Ok(h));
        let mut http = [0u8; HELLO_LEN];
        http.copy_from_slice(b"GET / HTTP/1.1\r\n");
        assert!(matches!(Hello::decode(&http), Err(HelloError::Magic(_))));
        let mut v2 = b;
        v2[5] = 2;
        assert_eq!(Hello::decode(&v2), Err(HelloError::Version(2)));
        assert!(HelloError::Magic(*b"GET ").to_string().contains("\"GET \""));
    }

    #[test]
    fn frames_are_cut_out_of_any_split_of_the_stream() {
        let mut wire = Vec::new();
        for seq in 1..=50u64 {
            Frame::encode_into(seq, seq * 1000, DEFAULT_PAYLOAD, &mut wire);
        }
        assert_eq!(wire.len(), 50 * Frame::wire_len(13));
        for piece in [1, 7, 31, 1000] {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for chunk in wire.chunks(piece) {
                d.feed(chunk);
                while let Some(f) = d.next_frame() {
                    got.push(f);
                }
            }
            assert_eq!(got.len(), 50, "pieces of {piece}");
            assert!(got.iter().enumerate().all(|(i, f)| f.seq == i as u64 + 1
                && f.produced_ns == f.seq * 1000
                && f.payload == DEFAULT_PAYLOAD));
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn acks_are_cumulative_and_may_arrive_split() {
        let mut carry = Vec::new();
        let mut wire = Vec::new();
        for s in [3u64, 9, 12] {
            wire.extend_from_slice(&encode_ack(s));
        }
        assert_eq!(decode_acks(&mut carry, &wire[..13]), Some(3));
        assert_eq!(decode_acks(&mut carry, &wire[13..]), Some(12));
        assert_eq!(decode_acks(&mut carry, &[]), None);
    }
}
