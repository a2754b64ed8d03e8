//! Head edits: what `http-request`/`http-response` rules and the forwarding policy change in
//! a head, recorded without touching the read buffer and applied while serializing.
//!
//! An [`Edits`] is a fixed-capacity list (no allocation) built per message on the stack.
//! Rules run in order, and so do edits: `del-header X` then `add-header X v` leaves one X,
//! `add-header X v` then `del-header X` leaves none, `set-header X v` is "delete every X then
//! add one". [`Edits::headers`] gives the fields as they stand after the edits so far — what a
//! later rule's `hdr()` must see — and the serializer writes exactly that view.
//!
//! Values are either borrowed for the edit list's lifetime `'a` (strings from the
//! configuration, or a per-connection scratch buffer of the proxy) or copied into a small
//! arena inside the list ([`Edits::copy`], [`Edits::format`]) for short values the proxy
//! computes, like a client address for `X-Forwarded-For`.
//!
//! Every name is checked to be a token and every value to hold no CR, LF or NUL when it is
//! recorded, so an edit can never inject a header line or split the message. Content-Length
//! and Transfer-Encoding cannot be edited: the body is forwarded as it came, so its framing
//! fields must be too.

use std::fmt;

use super::head::{HeaderField, KnownHeader, Span, is_tchar};

/// Bytes of copied values an [`Edits`] can hold.
pub const EDIT_ARENA: usize = 256;

/// What the serializer writes as the Connection field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionHeader {
    /// Keep the message's own Connection fields (unless hop-by-hop fields are stripped,
    /// which removes them).
    #[default]
    Unchanged,
    /// Replace them with `Connection: close`.
    Close,
    /// Replace them with `Connection: keep-alive` (needed towards HTTP/1.0 peers).
    KeepAlive,
    /// Replace them with `Connection: upgrade`, and keep the Upgrade field when stripping.
    Upgrade,
    /// Remove them and write none.
    Remove,
}

/// Why an edit was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EditError {
    /// A field index beyond what an edit can name (2^32 fields).
    Full,
    /// The value does not fit in the remaining arena ([`EDIT_ARENA`] bytes).
    ArenaFull,
    /// A field name that is empty or not a token.
    InvalidName,
    /// A value holding CR, LF or NUL (or, for request-line parts, a space or control byte).
    InvalidValue,
    /// Content-Length and Transfer-Encoding describe the forwarded body and cannot be edited.
    FramingHeader,
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EditError::Full => "too many header edits",
            EditError::ArenaFull => "edit values too large",
            EditError::InvalidName => "invalid header name",
            EditError::InvalidValue => "invalid header value",
            EditError::FramingHeader => "Content-Length and Transfer-Encoding cannot be edited",
        })
    }
}

impl std::error::Error for EditError {}

/// A value for an edit: borrowed bytes, or bytes copied into the arena of the [`Edits`] that
/// made it (use it only with that one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Val<'a>(Repr<'a>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Repr<'a> {
    Borrowed(&'a [u8]),
    Arena { start: u16, len: u16 },
}

impl<'a> From<&'a [u8]> for Val<'a> {
    fn from(b: &'a [u8]) -> Val<'a> {
        Val(Repr::Borrowed(b))
    }
}

impl<'a, const M: usize> From<&'a [u8; M]> for Val<'a> {
    fn from(b: &'a [u8; M]) -> Val<'a> {
        Val(Repr::Borrowed(b))
    }
}

impl<'a> From<&'a str> for Val<'a> {
    fn from(s: &'a str) -> Val<'a> {
        Val(Repr::Borrowed(s.as_bytes()))
    }
}

/// Which field names a `del-header NAME -m beg|end|sub|reg` removes (the proxy's rule
/// says; the framing fields are never removed, as with [`Edits::del_header`]).
pub trait NameFilter: fmt::Debug {
    fn matches(&self, name: &[u8]) -> bool;
}

#[derive(Clone, Copy, Debug)]
enum Op<'a> {
    Add(&'a [u8], Val<'a>),
    Set(&'a [u8], Val<'a>),
    Del(&'a [u8]),
    DelWhere(&'a dyn NameFilter),
    Replace(u32, Val<'a>),
}

impl Op<'_> {
    /// Whether this op removes every earlier occurrence of a field called `name`.
    fn removes(&self, name: &[u8]) -> bool {
        match *self {
            Op::Set(n, _) | Op::Del(n) => n.eq_ignore_ascii_case(name),
            Op::DelWhere(f) => check_name(name).is_ok() && f.matches(name),
            Op::Add(..) | Op::Replace(..) => false,
        }
    }
}

/// A list of head edits: the first `N` (default 16) header operations inline, any more
/// on the heap (HAProxy takes as many as the rules make; a message with more than `N`
/// is rare, so only it pays for the allocation).
#[derive(Clone, Debug)]
pub struct Edits<'a, const N: usize = 16> {
    ops: [Option<Op<'a>>; N],
    /// The operations after the first `N` (boxed: the list lives in the exchange's
    /// future, whose size is bounded).
    #[allow(clippy::box_collection)]
    spill: Option<Box<Vec<Op<'a>>>>,
    /// How many operations (inline and spilled); u32 and u16 below keep the list as small
    /// as it was with a fixed capacity.
    len: u32,
    /// Some op removes fields / replaces a value: lets the per-field checks skip the scan.
    has_removes: bool,
    has_replaces: bool,
    arena: [u8; EDIT_ARENA],
    arena_len: u16,
    pub(crate) method: Option<Val<'a>>,
    pub(crate) uri: Option<Val<'a>>,
    pub(crate) path: Option<Val<'a>>,
    pub(crate) query: Option<Option<Val<'a>>>,
    pub(crate) status: Option<(u16, Val<'a>)>,
    pub(crate) origin_form: bool,
    pub(crate) strip_hop_by_hop: bool,
    pub(crate) connection: ConnectionHeader,
}

impl<'a, const N: usize> Default for Edits<'a, N> {
    fn default() -> Self {
        Edits::new()
    }
}

fn check_name(name: &[u8]) -> Result<(), EditError> {
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(EditError::InvalidName);
    }
    match KnownHeader::classify(name) {
        KnownHeader::ContentLength | KnownHeader::TransferEncoding => Err(EditError::FramingHeader),
        _ => Ok(()),
    }
}

fn check_value(v: &[u8]) -> Result<(), EditError> {
    if v.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        Err(EditError::InvalidValue)
    } else {
        Ok(())
    }
}

/// Request-line parts: visible ASCII only, so the line stays three space-separated tokens.
fn check_line_part(v: &[u8]) -> Result<(), EditError> {
    if v.iter().all(|&b| (0x21..0x7f).contains(&b)) {
        Ok(())
    } else {
        Err(EditError::InvalidValue)
    }
}

impl<'a, const N: usize> Edits<'a, N> {
    /// No edits: serializing gives the head back as received (line endings normalized to
    /// CRLF, merged duplicates dropped).
    pub const fn new() -> Self {
        Edits {
            ops: [None; N],
            spill: None,
            len: 0,
            has_removes: false,
            has_replaces: false,
            arena: [0; EDIT_ARENA],
            arena_len: 0,
            method: None,
            uri: None,
            path: None,
            query: None,
            status: None,
            origin_form: false,
            strip_hop_by_hop: false,
            connection: ConnectionHeader::Unchanged,
        }
    }

    /// Whether nothing is edited at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
            && self.method.is_none()
            && self.uri.is_none()
            && self.path.is_none()
            && self.query.is_none()
            && self.status.is_none()
            && !self.origin_form
            && !self.strip_hop_by_hop
            && self.connection == ConnectionHeader::Unchanged
    }

    /// Copy `bytes` into the arena and return a value for them.
    pub fn copy(&mut self, bytes: &[u8]) -> Result<Val<'a>, EditError> {
        let start = usize::from(self.arena_len);
        let end = start + bytes.len();
        if end > EDIT_ARENA {
            return Err(EditError::ArenaFull);
        }
        self.arena[start..end].copy_from_slice(bytes);
        self.arena_len = end as u16;
        Ok(Val(Repr::Arena {
            start: start as u16,
            len: bytes.len() as u16,
        }))
    }

    /// Format into the arena (no allocation) and return a value for the result, e.g.
    /// `edits.format(format_args!("{}", client_ip))`.
    pub fn format(&mut self, args: fmt::Arguments<'_>) -> Result<Val<'a>, EditError> {
        struct Cursor<'x> {
            buf: &'x mut [u8],
            len: usize,
        }
        impl fmt::Write for Cursor<'_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                let end = self.len + s.len();
                let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
                dst.copy_from_slice(s.as_bytes());
                self.len = end;
                Ok(())
            }
        }
        let start = usize::from(self.arena_len);
        let mut cursor = Cursor {
            buf: &mut self.arena[start..],
            len: 0,
        };
        fmt::write(&mut cursor, args).map_err(|_| EditError::ArenaFull)?;
        let len = cursor.len;
        self.arena_len = (start + len) as u16;
        Ok(Val(Repr::Arena {
            start: start as u16,
            len: len as u16,
        }))
    }

    /// The bytes of a value made by this list (or borrowed).
    pub fn resolve<'s>(&'s self, v: Val<'a>) -> &'s [u8] {
        match v.0 {
            Repr::Borrowed(b) => b,
            Repr::Arena { start, len } => {
                let (start, len) = (usize::from(start), usize::from(len));
                debug_assert!(
                    start + len <= usize::from(self.arena_len),
                    "value from another Edits"
                );
                self.arena.get(start..start + len).unwrap_or_default()
            }
        }
    }

    fn push(&mut self, op: Op<'a>) -> Result<(), EditError> {
        match self.ops.get_mut(self.len as usize) {
            Some(slot) => *slot = Some(op),
            None => self.spill.get_or_insert_default().push(op),
        }
        self.len += 1;
        self.has_removes |= matches!(op, Op::Set(..) | Op::Del(..) | Op::DelWhere(..));
        self.has_replaces |= matches!(op, Op::Replace(..));
        Ok(())
    }

    /// `add-header`: append a field.
    pub fn add_header(
        &mut self,
        name: &'a [u8],
        value: impl Into<Val<'a>>,
    ) -> Result<(), EditError> {
        let value = value.into();
        check_name(name)?;
        check_value(self.resolve(value))?;
        self.push(Op::Add(name, value))
    }

    /// `set-header`: remove every field `name` (received or added so far) and append one.
    pub fn set_header(
        &mut self,
        name: &'a [u8],
        value: impl Into<Val<'a>>,
    ) -> Result<(), EditError> {
        let value = value.into();
        check_name(name)?;
        check_value(self.resolve(value))?;
        self.push(Op::Set(name, value))
    }

    /// `del-header`: remove every field `name` received or added so far.
    pub fn del_header(&mut self, name: &'a [u8]) -> Result<(), EditError> {
        check_name(name)?;
        self.push(Op::Del(name))
    }

    /// `del-header NAME -m METH`: remove every field received or added so far whose name
    /// `filter` picks.
    pub fn del_headers_where(&mut self, filter: &'a dyn NameFilter) -> Result<(), EditError> {
        self.push(Op::DelWhere(filter))
    }

    /// `replace-header`/`replace-value`: give the received field at `index` (in the head's
    /// [`headers`](super::RequestHead::headers)) a new value. The proxy runs the rule's regex
    /// on the current value ([`Edits::headers`] shows it) and records the result here. A later
    /// replace of the same field wins; a delete of its name removes it anyway.
    pub fn replace_value(
        &mut self,
        index: usize,
        value: impl Into<Val<'a>>,
    ) -> Result<(), EditError> {
        let value = value.into();
        check_value(self.resolve(value))?;
        let index = u32::try_from(index).map_err(|_| EditError::Full)?;
        self.push(Op::Replace(index, value))
    }

    /// `set-method`.
    pub fn set_method(&mut self, method: impl Into<Val<'a>>) -> Result<(), EditError> {
        let method = method.into();
        let m = self.resolve(method);
        if m.is_empty() || !m.iter().all(|&b| is_tchar(b)) {
            return Err(EditError::InvalidValue);
        }
        self.method = Some(method);
        Ok(())
    }

    /// `set-uri`: replace the whole request-target (wins over path and query edits).
    pub fn set_uri(&mut self, uri: impl Into<Val<'a>>) -> Result<(), EditError> {
        let uri = uri.into();
        let u = self.resolve(uri);
        if u.is_empty() {
            return Err(EditError::InvalidValue);
        }
        check_line_part(u)?;
        self.uri = Some(uri);
        Ok(())
    }

    /// `set-path`: replace the path, keeping the query (and an absolute-form target's scheme
    /// and authority). An empty path is sent as `/` in origin-form.
    pub fn set_path(&mut self, path: impl Into<Val<'a>>) -> Result<(), EditError> {
        let path = path.into();
        let p = self.resolve(path);
        check_line_part(p)?;
        if p.contains(&b'?') {
            return Err(EditError::InvalidValue);
        }
        self.path = Some(path);
        Ok(())
    }

    /// `set-query`: replace the query (without `?`); `None` removes it and its `?`.
    pub fn set_query(&mut self, query: Option<Val<'a>>) -> Result<(), EditError> {
        if let Some(q) = query {
            check_line_part(self.resolve(q))?;
        }
        self.query = Some(query);
        Ok(())
    }

    /// `set-status` (responses): status code and reason phrase.
    pub fn set_status(&mut self, status: u16, reason: impl Into<Val<'a>>) -> Result<(), EditError> {
        let reason = reason.into();
        check_value(self.resolve(reason))?;
        if !(100..=999).contains(&status) {
            return Err(EditError::InvalidValue);
        }
        self.status = Some((status, reason));
        Ok(())
    }

    /// Send an absolute-form target in origin-form (path and query only; `/` if the path is
    /// empty), for servers that do not accept absolute-form. Off by default: HAProxy forwards
    /// the target as an HTTP/1 client sent it.
    pub fn set_origin_form(&mut self, on: bool) {
        self.origin_form = on;
    }

    /// Remove hop-by-hop fields when serializing (RFC 9110 §7.6.1): Connection, Keep-Alive,
    /// Proxy-Connection, TE, Upgrade (unless [`ConnectionHeader::Upgrade`]) and every field
    /// named by a Connection option — except Host, Content-Length and Transfer-Encoding,
    /// which a client cannot make a proxy drop that way. Applies to received fields only.
    pub fn strip_hop_by_hop(&mut self, on: bool) {
        self.strip_hop_by_hop = on;
    }

    /// What to write as the Connection field; see [`ConnectionHeader`].
    pub fn set_connection(&mut self, c: ConnectionHeader) {
        self.connection = c;
    }

    fn ops(&self) -> impl Iterator<Item = &Op<'a>> {
        self.ops[..(self.len as usize).min(N)]
            .iter()
            .flatten()
            .chain(self.spill.iter().flat_map(|v| v.iter()))
    }

    /// Operation `j` (in the order they were recorded).
    fn op(&self, j: usize) -> Option<&Op<'a>> {
        match self.ops.get(j) {
            Some(op) => op.as_ref(),
            None => self.spill.as_ref()?.get(j - N),
        }
    }

    /// Whether an op removes received fields called `name`.
    fn removed(&self, name: &[u8]) -> bool {
        self.has_removes && self.ops().any(|op| op.removes(name))
    }

    /// The last replacement of received field `index`.
    fn replacement(&self, index: usize) -> Option<Val<'a>> {
        if !self.has_replaces {
            return None;
        }
        self.ops()
            .filter_map(|op| match *op {
                Op::Replace(i, v) if i as usize == index => Some(v),
                _ => None,
            })
            .last()
    }

    /// The fields of a head as they stand after these edits, in output order: received
    /// fields (minus merged and removed ones, with replaced values), then added ones. This is
    /// what later rules' fetches must see, and what the serializer writes before its
    /// forwarding policy (hop-by-hop stripping, Connection) applies.
    pub fn headers<'s>(
        &'s self,
        fields: &'s [HeaderField],
        buf: &'s [u8],
    ) -> EditedHeaders<'s, 'a, N> {
        EditedHeaders {
            edits: self,
            fields,
            buf,
            next_field: 0,
            next_op: 0,
        }
    }
}

/// Where an [`EditedHeader`] comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldSource {
    /// The received field at this index of the head's headers.
    Received(usize),
    /// Added by an `add`/`set` edit.
    Added,
}

/// One field as it stands after the edits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EditedHeader<'s> {
    /// The field name.
    pub name: &'s [u8],
    /// The value (replaced, if it was).
    pub value: &'s [u8],
    /// Received or added.
    pub origin: FieldSource,
    /// Whether the value is the received one, unchanged.
    pub unchanged: bool,
}

/// Iterator returned by [`Edits::headers`].
#[derive(Clone, Debug)]
pub struct EditedHeaders<'s, 'a, const N: usize> {
    edits: &'s Edits<'a, N>,
    fields: &'s [HeaderField],
    buf: &'s [u8],
    next_field: usize,
    next_op: usize,
}

impl<'s, 'a, const N: usize> Iterator for EditedHeaders<'s, 'a, N> {
    type Item = EditedHeader<'s>;

    fn next(&mut self) -> Option<EditedHeader<'s>> {
        let edits = self.edits;
        while let Some(f) = self.fields.get(self.next_field) {
            let index = self.next_field;
            self.next_field += 1;
            if f.dropped {
                continue;
            }
            let name = f.name.get(self.buf);
            if edits.len == 0 {
                return Some(received(f, self.buf, index));
            }
            if edits.removed(name) {
                continue;
            }
            return Some(match edits.replacement(index) {
                Some(v) => EditedHeader {
                    name,
                    value: edits.resolve(v),
                    origin: FieldSource::Received(index),
                    unchanged: false,
                },
                None => received(f, self.buf, index),
            });
        }
        while self.next_op < edits.len as usize {
            let j = self.next_op;
            self.next_op += 1;
            let (name, value) = match edits.op(j) {
                Some(&Op::Add(n, v) | &Op::Set(n, v)) => (n, v),
                _ => continue,
            };
            let removed_later = (j + 1..edits.len as usize)
                .filter_map(|k| edits.op(k))
                .any(|op| op.removes(name));
            if !removed_later {
                return Some(EditedHeader {
                    name,
                    value: edits.resolve(value),
                    origin: FieldSource::Added,
                    unchanged: false,
                });
            }
        }
        None
    }
}

fn received<'s>(f: &HeaderField, buf: &'s [u8], index: usize) -> EditedHeader<'s> {
    EditedHeader {
        name: f.name.get(buf),
        value: f.value.get(buf),
        origin: FieldSource::Received(index),
        unchanged: true,
    }
}

/// The span of a received field's line from the start of its name to the end of its value,
/// which the serializer copies in one piece when nothing changed.
pub(crate) fn field_line(f: &HeaderField) -> Span {
    Span::new(f.name.start(), f.value.end().max(f.name.end()))
}
