//! A streaming validator for chunked bodies (RFC 9112 §7.1).
//!
//! The proxy forwards chunked bodies as they arrive, without re-chunking or copying: the
//! scanner only walks the bytes to find where the body ends and to refuse what a smuggler
//! would rely on (bare LF, missing CRLF after data, size overflow, junk in extensions or
//! trailers). It is a byte-level state machine, so any split of the input — one byte at a
//! time included — gives the same verdict and the same end; chunk data is skipped in one step
//! per call, which is where the bytes are.
//!
//! Grammar enforced:
//!
//! ```text
//! chunked-body   = *chunk last-chunk trailer-section CRLF
//! chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! chunk-size     = 1*HEXDIG                      ; value < 2^64
//! last-chunk     = 1*("0") [ chunk-ext ] CRLF
//! chunk-ext      = *( BWS ";" BWS token *( not CTL, except HTAB ) )  ; bounded line
//! trailer-section = *( field-line CRLF )         ; token ":" field-value, bounded
//! ```

use std::fmt;
use std::ops::Range;

use super::error::{ErrorKind, HttpError, Message};
use super::head::{HeadLimits, is_field_vchar, is_tchar};

/// Longest chunk-size line (size digits, extensions) accepted. Extensions have no legitimate
/// use large enough to need more, and an unbounded line would let a client hold the proxy in
/// a state where no progress is made.
pub const MAX_CHUNK_LINE: u32 = 4096;

/// What a chunked body did wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChunkErrorKind {
    /// The chunk-size line does not start with a hex digit, or a byte after the digits is
    /// neither whitespace, `;` nor CR.
    InvalidChunkSize,
    /// The chunk size does not fit in 64 bits.
    ChunkSizeOverflow,
    /// A chunk extension with a control byte, or `;` not followed by a token.
    InvalidChunkExtension,
    /// The chunk-size line is longer than [`MAX_CHUNK_LINE`].
    ChunkLineTooLong,
    /// A line ended by LF alone (RFC 9112 §7.1 requires CRLF; lenient parsers here are how
    /// requests get smuggled).
    BareLf,
    /// A CR not followed by LF.
    BareCr,
    /// Chunk data not followed by exactly CRLF: the size was a lie.
    MissingCrlfAfterData,
    /// A trailer field that is not `token ":" field-value`, or starts with whitespace.
    InvalidTrailer,
    /// The trailer section is larger than `HeadLimits::max_head` bytes or has more than
    /// `HeadLimits::max_headers` fields.
    TrailersTooLarge,
}

/// A malformed chunked body, with its offset from the start of the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkError {
    /// What was wrong.
    pub kind: ChunkErrorKind,
    /// Offset of the offending byte from the start of the chunked body.
    pub offset: u64,
}

impl ChunkError {
    /// As an [`HttpError`] from `side`, for when the proxy can still answer (400 from a
    /// client, 502 from a server). Once part of the message was forwarded it can only abort
    /// both connections.
    pub fn into_http_error(self, side: Message) -> HttpError {
        let offset = usize::try_from(self.offset).unwrap_or(usize::MAX);
        HttpError::new(ErrorKind::InvalidChunkedBody, side, offset)
    }
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad chunked body: {:?} at byte {}",
            self.kind, self.offset
        )
    }
}

impl std::error::Error for ChunkError {}

/// What one call to [`ChunkedScanner::advance`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Advance {
    /// Bytes of the input that belong to the body; forward exactly these. Less than the input
    /// only when the body ended (the rest is the next message).
    pub consumed: usize,
    /// The body ended with its final CRLF, which is included in `consumed`.
    pub done: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Expecting the first hex digit of a chunk size.
    SizeStart,
    /// Inside the hex digits.
    Size,
    /// After the digits: BWS, then `;` or CR.
    SizeBlank,
    /// After `;`: BWS, then an extension name.
    ExtStart,
    /// Inside an extension, until CR.
    Ext,
    /// After the size line's CR.
    SizeLf,
    /// Inside chunk data.
    Data,
    /// After chunk data: CR.
    DataCr,
    /// After chunk data: LF.
    DataLf,
    /// At the start of a trailer line or of the final CRLF.
    TrailerStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value.
    TrailerValue,
    /// After a trailer line's CR.
    TrailerLf,
    /// After the final CR.
    FinalLf,
    /// The body ended.
    Done,
    /// An error was returned; it is returned again.
    Failed,
}

/// Walks a chunked body fed in arbitrary pieces. One per message body; [`reset`] to reuse.
///
/// [`reset`]: ChunkedScanner::reset
#[derive(Clone, Debug)]
pub struct ChunkedScanner {
    state: State,
    /// Chunk size being read, then data bytes left in the current chunk.
    size: u64,
    /// Bytes in the current chunk-size line.
    line_len: u32,
    trailer_bytes: usize,
    trailer_fields: usize,
    max_trailer_bytes: usize,
    max_trailer_fields: usize,
    /// Bytes of the body consumed so far.
    position: u64,
    /// Chunk data bytes seen so far (the de-chunked length).
    data_len: u64,
    /// The error once in `State::Failed` (kept out of `State` so that the state the byte loop
    /// copies is one byte).
    error: Option<ChunkError>,
}

impl ChunkedScanner {
    /// A scanner at the start of a chunked body; trailers are bounded by `limits` like a head.
    pub const fn new(limits: &HeadLimits) -> ChunkedScanner {
        ChunkedScanner {
            state: State::SizeStart,
            size: 0,
            line_len: 0,
            trailer_bytes: 0,
            trailer_fields: 0,
            max_trailer_bytes: limits.max_head,
            max_trailer_fields: limits.max_headers,
            position: 0,
            data_len: 0,
            error: None,
        }
    }

    /// Start over for a new body, keeping the limits.
    pub fn reset(&mut self) {
        let limits = HeadLimits {
            max_head: self.max_trailer_bytes,
            max_headers: self.max_trailer_fields,
            relaxed: false,
            any_method_payload: false,
        };
        *self = ChunkedScanner::new(&limits);
    }

    /// Whether the body has ended.
    pub const fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Bytes of chunk data seen so far: the body's de-chunked length (for logs and
    /// byte counters).
    pub const fn data_len(&self) -> u64 {
        self.data_len
    }

    /// Bytes of the body consumed so far, framing included.
    pub const fn position(&self) -> u64 {
        self.position
    }

    /// Walk the next piece of the body. Returns how much of `input` belongs to the body and
    /// whether it ended. After an error, every later call returns the same error.
    pub fn advance(&mut self, input: &[u8]) -> Result<Advance, ChunkError> {
        self.advance_with(input, |_| {})
    }

    /// Like [`advance`](ChunkedScanner::advance), and calls `on_data` with the range of
    /// `input` holding chunk data, for a proxy that ever needs to de-chunk (one call per
    /// contiguous run; never with an empty range).
    pub fn advance_with(
        &mut self,
        input: &[u8],
        mut on_data: impl FnMut(Range<usize>),
    ) -> Result<Advance, ChunkError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            let next = match self.state {
                State::Failed => {
                    return Err(self.error.unwrap_or(ChunkError {
                        kind: ChunkErrorKind::InvalidChunkSize,
                        offset: self.position,
                    }));
                }
                State::Done => break,
                State::Data => {
                    let avail = (input.len() - i) as u64;
                    let n = self.size.min(avail) as usize;
                    on_data(i..i + n);
                    self.size -= n as u64;
                    self.data_len += n as u64;
                    i += n;
                    if self.size == 0 {
                        // Fast path: the CRLF after the data is usually right there.
                        if input[i..].starts_with(b"\r\n") {
                            i += 2;
                            self.state = State::SizeStart;
                        } else {
                            self.state = State::DataCr;
                        }
                    }
                    continue;
                }
                State::SizeStart => {
                    // Fast path: a whole "HEX CRLF" size line in the input, the usual case.
                    // Its outcome is the slow path's; anything else (extensions, a split
                    // line, more than 16 digits) goes byte by byte.
                    if let Some((size, len)) = size_line_fast(&input[i..]) {
                        self.size = size;
                        self.state = if size == 0 {
                            State::TrailerStart
                        } else {
                            State::Data
                        };
                        i += len;
                        continue;
                    }
                    match hex(b) {
                        Some(d) => {
                            self.size = u64::from(d);
                            self.line_len = 1;
                            State::Size
                        }
                        None => return self.fail(ChunkErrorKind::InvalidChunkSize, i),
                    }
                }
                State::Size | State::SizeBlank | State::ExtStart | State::Ext => {
                    self.line_len += 1;
                    if self.line_len > MAX_CHUNK_LINE {
                        return self.fail(ChunkErrorKind::ChunkLineTooLong, i);
                    }
                    match self.size_line(b) {
                        Ok(s) => s,
                        Err(kind) => return self.fail(kind, i),
                    }
                }
                State::SizeLf => match b {
                    b'\n' if self.size == 0 => State::TrailerStart,
                    b'\n' => State::Data,
                    _ => return self.fail(ChunkErrorKind::BareCr, i),
                },
                State::DataCr => match b {
                    b'\r' => State::DataLf,
                    _ => return self.fail(ChunkErrorKind::MissingCrlfAfterData, i),
                },
                State::DataLf => match b {
                    b'\n' => State::SizeStart,
                    _ => return self.fail(ChunkErrorKind::MissingCrlfAfterData, i),
                },
                State::TrailerStart
                | State::TrailerName
                | State::TrailerValue
                | State::TrailerLf => {
                    self.trailer_bytes += 1;
                    if self.trailer_bytes > self.max_trailer_bytes {
                        return self.fail(ChunkErrorKind::TrailersTooLarge, i);
                    }
                    match self.trailer(b) {
                        Ok(s) => s,
                        Err(kind) => return self.fail(kind, i),
                    }
                }
                State::FinalLf => match b {
                    b'\n' => {
                        i += 1;
                        self.state = State::Done;
                        break;
                    }
                    _ => return self.fail(ChunkErrorKind::BareCr, i),
                },
            };
            self.state = next;
            i += 1;
        }
        self.position += i as u64;
        Ok(Advance {
            consumed: i,
            done: self.is_done(),
        })
    }

    /// One byte of a chunk-size line after its first digit.
    fn size_line(&mut self, b: u8) -> Result<State, ChunkErrorKind> {
        Ok(match (self.state, b) {
            (State::Size, _) if hex(b).is_some() => {
                if self.size >> 60 != 0 {
                    return Err(ChunkErrorKind::ChunkSizeOverflow);
                }
                self.size = self.size << 4 | u64::from(hex(b).unwrap_or(0));
                State::Size
            }
            (State::Size | State::SizeBlank, b' ' | b'\t') => State::SizeBlank,
            (State::Size | State::SizeBlank, b';') => State::ExtStart,
            (State::ExtStart, b' ' | b'\t') => State::ExtStart,
            (State::ExtStart, _) if is_tchar(b) => State::Ext,
            (State::Size | State::SizeBlank | State::Ext, b'\r') => State::SizeLf,
            (_, b'\n') => return Err(ChunkErrorKind::BareLf),
            (State::Ext, _) if is_field_vchar(b) => State::Ext,
            (State::ExtStart | State::Ext, _) => return Err(ChunkErrorKind::InvalidChunkExtension),
            _ => return Err(ChunkErrorKind::InvalidChunkSize),
        })
    }

    /// One byte of the trailer section.
    fn trailer(&mut self, b: u8) -> Result<State, ChunkErrorKind> {
        Ok(match (self.state, b) {
            (State::TrailerStart, b'\r') => State::FinalLf,
            (State::TrailerStart, _) if is_tchar(b) => {
                self.trailer_fields += 1;
                if self.trailer_fields > self.max_trailer_fields {
                    return Err(ChunkErrorKind::TrailersTooLarge);
                }
                State::TrailerName
            }
            (State::TrailerName, _) if is_tchar(b) => State::TrailerName,
            (State::TrailerName, b':') => State::TrailerValue,
            (State::TrailerValue, b'\r') => State::TrailerLf,
            (State::TrailerValue, _) if is_field_vchar(b) => State::TrailerValue,
            (State::TrailerLf, b'\n') => State::TrailerStart,
            (State::TrailerLf, _) => return Err(ChunkErrorKind::BareCr),
            (_, b'\n') => return Err(ChunkErrorKind::BareLf),
            _ => return Err(ChunkErrorKind::InvalidTrailer),
        })
    }

    fn fail(&mut self, kind: ChunkErrorKind, at: usize) -> Result<Advance, ChunkError> {
        let e = ChunkError {
            kind,
            offset: self.position + at as u64,
        };
        self.state = State::Failed;
        self.error = Some(e);
        Err(e)
    }
}

/// A complete `1*16HEXDIG CRLF` at the start of `input`: the size and the line's length.
fn size_line_fast(input: &[u8]) -> Option<(u64, usize)> {
    let mut size: u64 = 0;
    let mut digits = 0;
    while digits < 16 {
        match input.get(digits).copied().and_then(hex) {
            Some(d) => size = size << 4 | u64::from(d),
            None => break,
        }
        digits += 1;
    }
    (digits > 0 && input.get(digits..digits + 2) == Some(b"\r\n")).then_some((size, digits + 2))
}

const fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
