//! The result stream `attack` writes and `report` reads.
//!
//! Binary and compact (≈12–16 bytes a request), written as results arrive and readable
//! incrementally, so `attack … | tee results.bin | report` works and a file cut short by a
//! killed attack still reports everything before the cut.
//!
//! ```text
//! stream  = header *item                  (several streams may be concatenated: `cat a b`)
//! header  = "CLBRES1\n"                   resets the timestamp base and the error table
//! item    = result / error
//! result  = tag zigzag(timestamp − previous timestamp)    ns since the Unix epoch; the first
//!               varint(latency_ns)                        delta of a stream is from 0
//!               varint(status)                            0 = no response (see error)
//!               varint(bytes_out) varint(bytes_in)        request / response body bytes
//!               varint(error)                             0 = none, else an id defined before
//! tag     = 'R'   HTTP/1.1 (h2 not asked for), or no response at all
//!         / 'H'   HTTP/2
//!         / 'F'   HTTP/1.1 although h2 was offered: the server did not select it (ALPN)
//! error   = 'E' varint(id) varint(len) UTF-8[len]         defines an error message once
//! varint  = LEB128, unsigned, ≤ 10 bytes
//! ```
//!
//! `timestamp` is when the request was *due* (open loop), so `timestamp + latency` is when it
//! completed. Records are in completion order per shard, not globally sorted.

use std::collections::HashMap;
use std::io::{self, Read, Write};

pub const MAGIC: &[u8; 8] = b"CLBRES1\n";

/// The protocol a response came over (the result's tag). A stream written before HTTP/2 has
/// only `Http1` ('R'), so old files read the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
pub enum Proto {
    /// HTTP/1.1 as asked, or no response (the status then says 0).
    #[default]
    Http1,
    Http2,
    /// HTTP/1.1 on a connection that offered h2, which the server did not select.
    Http1Fallback,
}

impl Proto {
    fn tag(self) -> u8 {
        match self {
            Proto::Http1 => b'R',
            Proto::Http2 => b'H',
            Proto::Http1Fallback => b'F',
        }
    }

    /// How the reports name it.
    pub fn label(self) -> &'static str {
        match self {
            Proto::Http1 => "HTTP/1.1",
            Proto::Http2 => "HTTP/2.0",
            Proto::Http1Fallback => "HTTP/1.1 (h2 not negotiated)",
        }
    }
}

/// One request's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Record {
    /// When the request was due, ns since the Unix epoch.
    pub timestamp: u64,
    pub latency: u64,
    pub status: u16,
    pub bytes_out: u64,
    pub bytes_in: u64,
    /// 0 = no error; else an id the stream defined with an error item.
    pub error: u32,
    pub proto: Proto,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Writes a stream. Error messages are interned: each distinct message is written once.
pub struct Encoder<W: Write> {
    out: W,
    buf: Vec<u8>,
    prev_ts: u64,
    errors: HashMap<String, u32>,
}

impl<W: Write> Encoder<W> {
    pub fn new(out: W) -> Encoder<W> {
        let mut buf = Vec::with_capacity(64 * 1024);
        buf.extend_from_slice(MAGIC);
        Encoder {
            out,
            buf,
            prev_ts: 0,
            errors: HashMap::new(),
        }
    }

    /// The id of `message`, defining it in the stream the first time.
    pub fn error_id(&mut self, message: &str) -> u32 {
        if let Some(&id) = self.errors.get(message) {
            return id;
        }
        let id = self.errors.len() as u32 + 1;
        self.errors.insert(message.to_string(), id);
        self.buf.push(b'E');
        put_varint(&mut self.buf, u64::from(id));
        put_varint(&mut self.buf, message.len() as u64);
        self.buf.extend_from_slice(message.as_bytes());
        id
    }

    /// Appends a record whose `error` is 0 or an id from [`Encoder::error_id`].
    pub fn push(&mut self, r: &Record) {
        self.buf.push(r.proto.tag());
        let delta = r.timestamp.wrapping_sub(self.prev_ts) as i64;
        self.prev_ts = r.timestamp;
        put_varint(&mut self.buf, zigzag(delta));
        put_varint(&mut self.buf, r.latency);
        put_varint(&mut self.buf, u64::from(r.status));
        put_varint(&mut self.buf, r.bytes_out);
        put_varint(&mut self.buf, r.bytes_in);
        put_varint(&mut self.buf, u64::from(r.error));
    }

    /// Writes what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        self.out.flush()
    }
}

/// What one item of a stream decodes to.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Header,
    Result {
        proto: Proto,
        delta: i64,
        latency: u64,
        status: u64,
        bytes_out: u64,
        bytes_in: u64,
        error: u64,
    },
    Error {
        id: u64,
        message: &'a [u8],
    },
}

/// Why a stream cannot be decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a results stream (or corrupt): the byte found where an item starts.
    Tag(u8),
    Varint,
    Header,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Tag(b) => write!(
                f,
                "not a corelb-bench results stream (unexpected byte 0x{b:02x}; is this the output of `corelb-bench attack`?)"
            ),
            DecodeError::Varint => write!(f, "corrupt results stream (bad varint)"),
            DecodeError::Header => write!(
                f,
                "not a corelb-bench results stream (bad header; expected \"CLBRES1\")"
            ),
        }
    }
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Result<Option<u64>, DecodeError> {
    let mut v: u64 = 0;
    for shift in (0..70).step_by(7) {
        let Some(&b) = buf.get(*pos) else {
            return Ok(None);
        };
        *pos += 1;
        if shift == 63 && b > 1 {
            return Err(DecodeError::Varint);
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(Some(v));
        }
    }
    Err(DecodeError::Varint)
}

/// Decodes the item at the start of `buf`: `Ok(None)` when `buf` holds only part of it.
pub fn decode_item(buf: &[u8]) -> Result<Option<(Item<'_>, usize)>, DecodeError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    let mut pos = 1;
    macro_rules! varint {
        () => {
            match get_varint(buf, &mut pos)? {
                Some(v) => v,
                None => return Ok(None),
            }
        };
    }
    match tag {
        b'C' => {
            if buf.len() < MAGIC.len() {
                return if MAGIC.starts_with(buf) {
                    Ok(None)
                } else {
                    Err(DecodeError::Header)
                };
            }
            if &buf[..MAGIC.len()] != MAGIC {
                return Err(DecodeError::Header);
            }
            Ok(Some((Item::Header, MAGIC.len())))
        }
        b'R' | b'H' | b'F' => {
            let proto = match tag {
                b'H' => Proto::Http2,
                b'F' => Proto::Http1Fallback,
                _ => Proto::Http1,
            };
            let delta = unzigzag(varint!());
            let latency = varint!();
            let status = varint!();
            let bytes_out = varint!();
            let bytes_in = varint!();
            let error = varint!();
            Ok(Some((
                Item::Result {
                    proto,
                    delta,
                    latency,
                    status,
                    bytes_out,
                    bytes_in,
                    error,
                },
                pos,
            )))
        }
        b'E' => {
            let id = varint!();
            let len = varint!() as usize;
            if buf.len() - pos < len {
                return Ok(None);
            }
            let message = &buf[pos..pos + len];
            Ok(Some((Item::Error { id, message }, pos + len)))
        }
        other => Err(DecodeError::Tag(other)),
    }
}

/// Reads records from any number of concatenated streams. Error ids in the records it returns
/// index [`Decoder::errors`] (1-based), which is shared by all the streams it read.
pub struct Decoder<R: Read> {
    input: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    seen_header: bool,
    prev_ts: u64,
    /// Stream-local id → index into `errors` + 1.
    local: Vec<u32>,
    errors: Vec<String>,
    interned: HashMap<String, u32>,
    /// Bytes left undecoded at the end of input (a stream cut short).
    pub truncated: usize,
}

impl<R: Read> Decoder<R> {
    pub fn new(input: R) -> Decoder<R> {
        Decoder {
            input,
            buf: vec![0; 256 * 1024],
            start: 0,
            end: 0,
            eof: false,
            seen_header: false,
            prev_ts: 0,
            local: Vec::new(),
            errors: Vec::new(),
            interned: HashMap::new(),
            truncated: 0,
        }
    }

    /// Distinct error messages, in order of first appearance.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Only an error message longer than the buffer gets here.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            self.eof = true;
        }
        self.end += n;
        Ok(())
    }

    /// The next record, `None` at the end of input.
    pub fn next_record(&mut self) -> io::Result<Option<Record>> {
        loop {
            // Refuse other input at its first byte rather than after reading all of it.
            if !self.seen_header && self.start < self.end && self.buf[self.start] != MAGIC[0] {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    DecodeError::Header.to_string(),
                ));
            }
            let decoded = decode_item(&self.buf[self.start..self.end])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let Some((item, used)) = decoded else {
                if self.eof {
                    self.truncated = self.end - self.start;
                    return Ok(None);
                }
                self.fill()?;
                continue;
            };
            let record = match item {
                Item::Header => {
                    self.seen_header = true;
                    self.prev_ts = 0;
                    self.local.clear();
                    None
                }
                _ if !self.seen_header => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        DecodeError::Header.to_string(),
                    ));
                }
                Item::Error { id, message } => {
                    let message = String::from_utf8_lossy(message).into_owned();
                    let global = match self.interned.get(&message) {
                        Some(&g) => g,
                        None => {
                            self.errors.push(message.clone());
                            let g = self.errors.len() as u32;
                            self.interned.insert(message, g);
                            g
                        }
                    };
                    let id = id as usize;
                    if self.local.len() <= id {
                        self.local.resize(id + 1, 0);
                    }
                    self.local[id] = global;
                    None
                }
                Item::Result {
                    proto,
                    delta,
                    latency,
                    status,
                    bytes_out,
                    bytes_in,
                    error,
                } => {
                    self.prev_ts = self.prev_ts.wrapping_add(delta as u64);
                    let error = match error {
                        0 => 0,
                        id => match self.local.get(id as usize) {
                            Some(&g) if g != 0 => g,
                            _ => {
                                return Err(io::Error::new(
                                    io::ErrorKind::InvalidData,
                                    format!("corrupt results stream (undefined error id {id})"),
                                ));
                            }
                        },
                    };
                    Some(Record {
                        timestamp: self.prev_ts,
                        latency,
                        status: u16::try_from(status).unwrap_or(u16::MAX),
                        bytes_out,
                        bytes_in,
                        error,
                        proto,
                    })
                }
            };
            self.start += used;
            if let Some(r) = record {
                return Ok(Some(r));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<(Record, Option<&'static str>)> {
        vec![
            (
                Record {
                    timestamp: 1_700_000_000_000_000_000,
                    latency: 1_234_567,
                    status: 200,
                    bytes_out: 0,
                    bytes_in: 64,
                    error: 0,
                    proto: Proto::Http2,
                },
                None,
            ),
            (
                Record {
                    // Earlier than the previous one: deltas may be negative.
                    timestamp: 1_699_999_999_999_000_000,
                    latency: 30_000_000_000,
                    status: 0,
                    bytes_out: 12,
                    bytes_in: 0,
                    error: 0,
                    proto: Proto::Http1,
                },
                Some("GET http://x/: timeout"),
            ),
            (
                Record {
                    timestamp: 1_700_000_000_002_000_000,
                    latency: u64::MAX,
                    status: 503,
                    bytes_out: u64::MAX,
                    bytes_in: 1,
                    error: 0,
                    proto: Proto::Http1Fallback,
                },
                Some("503 Service Unavailable"),
            ),
            (
                Record {
                    timestamp: 1_700_000_000_003_000_000,
                    latency: 5,
                    status: 0,
                    bytes_out: 0,
                    bytes_in: 0,
                    error: 0,
                    proto: Proto::Http1,
                },
                Some("GET http://x/: timeout"),
            ),
        ]
    }

    fn encode(items: &[(Record, Option<&str>)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = Encoder::new(&mut out);
        for (r, e) in items {
            let mut r = *r;
            r.error = e.map_or(0, |m| enc.error_id(m));
            enc.push(&r);
        }
        enc.flush().unwrap();
        out
    }

    fn decode_all(bytes: &[u8]) -> (Vec<Record>, Vec<String>, usize) {
        let mut d = Decoder::new(bytes);
        let mut out = Vec::new();
        while let Some(r) = d.next_record().unwrap() {
            out.push(r);
        }
        (out, d.errors().to_vec(), d.truncated)
    }

    #[test]
    fn round_trips_and_interns_errors() {
        let items = sample();
        let bytes = encode(&items);
        let (records, errors, truncated) = decode_all(&bytes);
        assert_eq!(truncated, 0);
        assert_eq!(
            errors,
            vec!["GET http://x/: timeout", "503 Service Unavailable"]
        );
        assert_eq!(records.len(), items.len());
        for (got, (want, err)) in records.iter().zip(&items) {
            assert_eq!(got.timestamp, want.timestamp);
            assert_eq!(got.latency, want.latency);
            assert_eq!(got.status, want.status);
            assert_eq!(
                (got.bytes_out, got.bytes_in),
                (want.bytes_out, want.bytes_in)
            );
            assert_eq!(got.error == 0, err.is_none());
            if let Some(e) = err {
                assert_eq!(errors[got.error as usize - 1], *e);
            }
        }
        // The repeated error is defined once.
        assert_eq!(bytes.windows(5).filter(|w| w == b"GET h").count(), 1);
    }

    #[test]
    fn concatenated_streams_share_one_error_table() {
        let a = encode(&sample()[1..2]);
        let b = encode(&sample()[2..4]);
        let (records, errors, _) = decode_all(&[a, b].concat());
        assert_eq!(records.len(), 3);
        assert_eq!(errors.len(), 2);
        // The second stream's id 1 is "503 …", which is the decoder's id 2.
        assert_eq!(
            errors[records[1].error as usize - 1],
            "503 Service Unavailable"
        );
        assert_eq!(
            errors[records[2].error as usize - 1],
            "GET http://x/: timeout"
        );
        assert_eq!(records[2].timestamp, 1_700_000_000_003_000_000);
    }

    #[test]
    fn a_cut_stream_keeps_what_is_complete() {
        let bytes = encode(&sample());
        let (records, _, truncated) = decode_all(&bytes[..bytes.len() - 2]);
        assert_eq!(records.len(), 3);
        assert!(truncated > 0);
    }

    #[test]
    fn decoding_is_resumable_at_every_split() {
        let bytes = encode(&sample());
        // Every prefix is either incomplete or decodes the first item: never an error.
        for cut in 0..bytes.len() {
            assert!(decode_item(&bytes[..cut]).is_ok());
        }
    }

    #[test]
    fn rejects_other_input() {
        let mut d = Decoder::new(&b"GET http://x/\n"[..]);
        assert!(d.next_record().is_err());
        let mut d = Decoder::new(&b"R\x00"[..]);
        assert!(d.next_record().is_err());
        let mut d = Decoder::new(&b""[..]);
        assert!(d.next_record().unwrap().is_none());
    }

    #[test]
    fn records_are_small() {
        let r = Record {
            timestamp: 1_700_000_000_000_000_000,
            latency: 800_000,
            status: 200,
            bytes_out: 0,
            bytes_in: 64,
            error: 0,
            proto: Proto::Http1,
        };
        let mut out = Vec::new();
        let mut enc = Encoder::new(&mut out);
        enc.push(&r);
        let first = out_len(&mut enc);
        let mut r2 = r;
        r2.timestamp += 1_000_000;
        enc.push(&r2);
        let second = out_len(&mut enc) - first;
        assert!(second <= 12, "{second} bytes");
    }

    fn out_len<W: Write>(enc: &mut Encoder<W>) -> usize {
        enc.buf.len()
    }
}
