//! The HTTP/1.1 codec (sans-IO), used by mode http (`proxy::http`), the ACL samples (`acl`),
//! the stats page (`stats`) and the capture of rejected requests (`cluster::errors`); it uses
//! nothing of corelb.
//!
//! This module is the codec: pure functions over byte slices, no I/O, no async, no shared
//! state. A connection task owns everything it passes in (its read buffer, a reusable
//! [`RequestHead`]/[`ResponseHead`], a [`ChunkedScanner`]) and no shard shares any of it.
//!
//! # Driving it
//!
//! ```text
//! read into buf ──► parse_request(&buf, &limits, &mut req)
//!                     Ok(Incomplete)          → read more (same buf, parse again from 0)
//!                     Err(e)                  → write_error(out, e.status(), true); close
//!                     Ok(Complete{head_len})  → decide: ACLs on req + buf (lookup helpers),
//!                                               rules record Edits, pick a backend
//! serialize_request(&req, &buf, &edits, &mut server_out)   (head, edits applied)
//! stream the body by req.body_kind():
//!     ContentLength(n) → forward n bytes from buf[head_len..] on
//!     Chunked          → forward what ChunkedScanner::advance says is body, until done
//!     None             → nothing; buf[head_len..] is the next pipelined request
//! read the response into rbuf ──► parse_response(&rbuf, &limits, &mut res)
//!     Err(e)           → 502 (e.status()), close the server connection
//!     res.is_interim() → forward it, parse the next head (100 Continue, 103)
//!     else             → serialize_response, stream by res.body_kind(req.method()):
//!                        Tunnel → splice both ways; CloseDelimited → until server EOF
//! keep-alive: req.keep_alive() && res.keep_alive(req.method()) and the proxy's mode
//! ```
//!
//! # Allocation
//!
//! Parsing writes spans into the head's header vector, which keeps its capacity across
//! requests ([`RequestHead::with_capacity`] pre-sizes it); httparse's scratch lives on the
//! stack (up to 128 fields; a larger `tune.http.maxhdr` allocates it per parse). [`Edits`]
//! is a fixed-capacity list on the stack with a 256-byte arena for computed values.
//! Serializing appends to the caller's output vector, which allocates only when its capacity
//! is short. Nothing else allocates.
//!
//! # API choices
//!
//! - **Spans, not slices.** Heads record [`Span`]s into the buffer rather than borrowing it,
//!   so the proxy can hold a head while it keeps reading into (and growing) the same buffer,
//!   and store it in its connection state without a self-referential struct.
//! - **The head is filled in place** (`&mut RequestHead`) instead of returned as
//!   `Complete(head, len)`: one head per connection is reused and its field vector keeps its
//!   capacity, where returning a head by value would allocate a vector (or move a 2 KiB
//!   inline array of 100 fields) on every request.
//! - **Re-parse from the start on more data**, as httparse (and HAProxy's `h1_headers_to_hdr_list`)
//!   do. Heads usually arrive in one read; a client trickling bytes costs O(n²) on at most
//!   `max_head` bytes, bounded by the limit and `timeout http-request`.
//! - **Errors are values with a side and a status** ([`HttpError`]): the proxy never maps
//!   kinds to statuses itself.
//!
//! # Rejections
//!
//! Requests (status; all close the connection):
//!
//! | what | status |
//! |---|---|
//! | bad method token, bad target (missing, spaces, CTL, non-ASCII, `#`, form vs method, userinfo, bad authority) | 400 |
//! | version not `HTTP/1.0`/`HTTP/1.1`: malformed (`http/1.1`, HTTP/0.9) 400; well-formed other (`HTTP/2.0`, `HTTP/1.2`) | 505 |
//! | request line longer than `max_head` | 414 |
//! | head longer than `max_head` (`tune.bufsize - tune.maxrewrite` = 15360) | 431 |
//! | more than `max_headers` fields (`tune.http.maxhdr - 1` = 100) | 400 |
//! | obs-fold or whitespace before the first field, space/tab before the colon, empty name, non-token name, CTL/NUL/DEL in a value, CR without LF | 400 |
//! | Content-Length and Transfer-Encoding together | 400 |
//! | Content-Length empty, signed, non-digit, overflowing, or differing values (lists or fields) | 400 |
//! | Transfer-Encoding: empty (element), `chunked` twice, anything after `chunked`, no `chunked` (`gzip`, `identity`) | 400 |
//! | Transfer-Encoding with another coding before a final `chunked` (`gzip, chunked`) | 422 |
//! | Transfer-Encoding in an HTTP/1.0 request | 400 |
//! | HTTP/1.0 GET/HEAD/DELETE with a body | 413 |
//! | HTTP/1.1 origin-form without Host, several different Host, invalid Host, Host ≠ target authority | 400 |
//! | WebSocket upgrade without a 24-byte Sec-WebSocket-Key | 400 |
//!
//! With [`HeadLimits::relaxed`] (`option accept-invalid-http-request|response`) a field name
//! may hold any byte but CR, LF and `:`, and a request target non-ASCII bytes and `#`.
//!
//! Responses: every rejection is [`Message::Response`] and answers 502 — invalid status line
//! (including status outside 100..=599 and HTTP/0.9 or HTTP/2 status lines), the field
//! syntax errors above, head too large, too many fields, bad or differing Content-Length,
//! Transfer-Encoding with an empty element or `chunked` twice, and any coding other than
//! `chunked` (HAProxy: "only chunked is supported").
//!
//! # HAProxy and the RFCs
//!
//! Where RFC 9110/9112 leave room, this follows HAProxy (src/h1.c, src/h1_htx.c,
//! src/mux_h1.c):
//!
//! - Identical duplicate Content-Length (`5, 5` or two fields) and Host fields are merged;
//!   the later ones are marked [`HeaderField::dropped`] and not forwarded.
//! - Leading zeros in Content-Length are accepted and forwarded as plain digits.
//! - `gzip, chunked` in a request is 422, not forwarded: HAProxy implements only chunked.
//! - Transfer-Encoding + Content-Length in a **response**: Transfer-Encoding wins,
//!   Content-Length is dropped and the connection closes afterwards (RFC 9112 §6.3 and §6.1).
//!   Transfer-Encoding in an HTTP/1.0 response also forces a close.
//! - An absolute-form target's authority must agree with Host (same host; same port, or one
//!   side a default port) — HAProxy's `h1_validate_mismatch_authority`; CONNECT likewise.
//! - Too many fields: 400 (HAProxy's documented and actual answer; RFC 6585 would allow 431).
//! - Head too large: 414 while still in the request line, else 431 (HAProxy's
//!   `h1_parse_msg_hdrs`).
//! - HTTP/1.0 GET/HEAD/DELETE with a body: 413.
//! - 1xx interim responses: `100` and `102..=199` are interim; 101 switches to a tunnel.
//!
//! Where corelb is stricter or differs, on purpose:
//!
//! - Requests with both Content-Length and Transfer-Encoding are rejected (RFC 9112 §6.1
//!   allows it); HAProxy instead drops Content-Length and closes after the response.
//! - Transfer-Encoding in an HTTP/1.0 request is rejected (RFC 9112 §6.1: the framing is
//!   faulty); HAProxy processes it and closes.
//! - Only `HTTP/1.0` and `HTTP/1.1` are accepted (httparse's rule); other well-formed versions
//!   get 505 where HAProxy would treat `HTTP/1.2` as 1.1 (RFC 9112 §2.3 suggests that too).
//! - HTTP/1.1 without Host is rejected (RFC 9112 §3.2 MUST; HAProxy lets it through), except
//!   in absolute-form and CONNECT where the target carries the authority.
//! - Userinfo in an absolute-form target is rejected (RFC 9110 §4.2.4); HAProxy skips it.
//! - Host values are checked against `uri-host [":" port]` (RFC 9112 §3.2).
//! - Bare LF ends lines in heads, as in httparse and HAProxy (RFC 9112 §2.2 MAY), but never in
//!   chunked framing, where the scanner requires CRLF.
//! - Chunk extensions are bounded to a 4 KiB line; trailers to `max_head` bytes and
//!   `max_headers` fields.
//! - A Connection option naming Host, Content-Length or Transfer-Encoding does not make the
//!   proxy strip those fields.

#![forbid(unsafe_code)]

mod chunked;
mod diagnose;
mod edit;
mod error;
mod framing;
mod head;
mod htx_size;
mod lookup;
mod normalize;
mod pages;
mod relaxed;
mod request;
mod response;
mod serialize;

#[cfg(test)]
mod tests;

pub use chunked::{Advance, ChunkError, ChunkErrorKind, ChunkedScanner, MAX_CHUNK_LINE};
pub use edit::{
    ConnectionHeader, EDIT_ARENA, EditError, EditedHeader, EditedHeaders, Edits, FieldSource,
    NameFilter, Val,
};
pub use error::{ErrorKind, HttpError, Message};
pub use framing::BodyKind;
pub use head::{
    ConnectionOptions, HeadLimits, HeaderField, KnownHeader, Method, Parsed, Span, Version,
    split_list,
};
pub use htx_size::{htx_answer_size, htx_head_size};
pub use lookup::{cookie_pairs, find_url_param, split_elements};
pub use normalize::{Invalid, UriNormalizer, UriPart};
pub use pages::{
    CONTINUE_100, error_page, reason_phrase, redirect_reason, write_error, write_response,
};
pub use request::{RequestHead, TargetForm, parse_request, request_from_tokens};
pub use response::{ResponseHead, parse_response};
pub use serialize::{adjust_name_case, serialize_request, serialize_response};
