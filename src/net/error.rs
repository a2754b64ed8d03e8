//! The one error of the proxy path: a stream's attempt failed, and the error carries what
//! its callers decide on (STYLE.md §3) — which side failed, whether and how the request
//! may go to a server again, the termination state for the log and the counters, and the
//! HTTP status to answer. Built only on failure: the success path never makes one.
//!
//! The `retry-on` keyword and the retry rule (`cluster::retry`) read it: [`ProxyError::again`]
//! says whether a request may go again at all, [`ProxyError::failure`] how the rule counts
//! it.

use crate::cluster::retry::Failure;
use crate::config::retry_on;
use crate::log::term::{Cause, Phase, Term};
use std::{fmt, io};

/// Where a failure is attributed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Side {
    /// The client: it went away, timed out, or sent something invalid.
    Client,
    /// A server: it refused, reset, timed out, or answered something invalid.
    Server,
    /// corelb itself: no server could take the request.
    Internal,
}

/// Whether the request may go to a server again after the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retry {
    /// Never: the client is gone, or the request cannot be served at all.
    Never,
    /// Nothing of the request reached a server (a failed connect): any request may go
    /// again, through the retry rule.
    Always,
    /// Through the retry rule, when the request is replayable (whole in corelb's buffer,
    /// no `Expect: 100-continue`, no `disable-l7-retry`).
    IfReplayable,
    /// Only as a fresh connection to the same server (not counted as a retry) when the
    /// failed connection was reused from the idle pool — the server closed it as the
    /// request arrived — and what was sent can be sent again; otherwise as
    /// [`Retry::IfReplayable`].
    IfReused,
}

/// What went wrong, for `retry-on`, the retry rule and the debug log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// No server could take the request: none usable, or the queue timed out.
    NoServer,
    /// The connection to the server failed: refused, reset, the PROXY header or the TLS
    /// handshake (`conn-failure`).
    Connect,
    /// `timeout connect` struck (`conn-failure`).
    ConnectTimeout,
    /// Writing the request to the server failed.
    Send,
    /// The server closed before answering (`empty-response`).
    EmptyResponse,
    /// The server's answer is not HTTP, or stopped mid-head (`junk-response`).
    JunkResponse,
    /// `timeout server` before the response head (`response-timeout`).
    ResponseTimeout,
    /// The client went away while its request or the answer was moving.
    ClientAbort,
    /// `timeout http-request` (or `client`) before the request head was complete.
    RequestTimeout,
    /// The client's request is invalid.
    BadRequest,
}

/// A failed attempt on the proxy path (see the module's doc).
#[derive(Debug)]
pub struct ProxyError {
    pub kind: Kind,
    pub side: Side,
    pub retry: Retry,
    /// The log's termination state; its phase is the error's.
    pub term: Term,
    /// The status to answer the client with (0: none, nothing is sent).
    pub status: u16,
    /// The system's error, when one caused it (for the debug log).
    pub io: Option<io::Error>,
    /// A connect whose TLS handshake with the server failed: the connection was TLS
    /// (`ssl_bc`), and HAProxy's `bc_err` names the failure unless it was a timeout.
    pub tls_handshake: bool,
}

/// What may follow an error on the server side of a request (see [`ProxyError::again`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Again {
    /// The error is final.
    No,
    /// A fresh connection to the same server, not counted as a retry.
    Fresh,
    /// What the retry rule decides (when `retry-on` covers the error, in mode http).
    Rule,
}

impl ProxyError {
    fn new(kind: Kind, side: Side, retry: Retry, term: (Cause, Phase), status: u16) -> Self {
        ProxyError {
            kind,
            side,
            retry,
            term: Term::new(term.0, term.1),
            status,
            io: None,
            tls_handshake: false,
        }
    }

    /// No usable server, or the queue timed out (503, `SC`).
    pub fn no_server() -> Self {
        let t = (Cause::Server, Phase::Connect);
        Self::new(Kind::NoServer, Side::Internal, Retry::Never, t, 503)
    }

    /// A request for one server in particular (persistence) found its queue full
    /// (`maxqueue`, `SQ`) or waited there past `timeout queue` (`sQ`): 503.
    pub fn server_queue(timed_out: bool) -> Self {
        let cause = if timed_out {
            Cause::ServerTimeout
        } else {
            Cause::Server
        };
        Self::new(
            Kind::NoServer,
            Side::Internal,
            Retry::Never,
            (cause, Phase::Queue),
            503,
        )
    }

    /// The request was answered by corelb itself at connect time (`redir`): nothing more
    /// to send, logged `LC`.
    pub fn answered_locally() -> Self {
        let t = (Cause::Local, Phase::Connect);
        Self::new(Kind::NoServer, Side::Internal, Retry::Never, t, 0)
    }

    /// A failed connect (503; `sC` for a timeout, else `SC`).
    pub fn connect(e: io::Error) -> Self {
        let (kind, cause) = if e.kind() == io::ErrorKind::TimedOut {
            (Kind::ConnectTimeout, Cause::ServerTimeout)
        } else {
            (Kind::Connect, Cause::Server)
        };
        let t = (cause, Phase::Connect);
        Self::new(kind, Side::Server, Retry::Always, t, 503).with_io(e)
    }

    /// Writing the request to the server failed (503, `SC`).
    pub fn send(e: io::Error) -> Self {
        let t = (Cause::Server, Phase::Connect);
        Self::new(Kind::Send, Side::Server, Retry::IfReused, t, 503).with_io(e)
    }

    /// The server closed without answering (502, `SH`).
    pub fn empty_response() -> Self {
        let t = (Cause::Server, Phase::Headers);
        Self::new(Kind::EmptyResponse, Side::Server, Retry::IfReused, t, 502)
    }

    /// The server's answer is not HTTP (502, `PH`: the proxy refused it).
    pub fn junk_response() -> Self {
        let t = (Cause::Proxy, Phase::Headers);
        Self::new(
            Kind::JunkResponse,
            Side::Server,
            Retry::IfReplayable,
            t,
            502,
        )
    }

    /// `timeout server` before the response head (504, `sH`).
    pub fn response_timeout() -> Self {
        let t = (Cause::ServerTimeout, Phase::Headers);
        Self::new(
            Kind::ResponseTimeout,
            Side::Server,
            Retry::IfReplayable,
            t,
            504,
        )
    }

    /// The client went away while the request or its answer was moving (no answer, `CD`).
    pub fn client_abort() -> Self {
        let t = (Cause::Client, Phase::Data);
        Self::new(Kind::ClientAbort, Side::Client, Retry::Never, t, 0)
    }

    /// The client closed before its request head was complete (400, `CR`: HAProxy answers
    /// a half-closed client and counts the request as invalid).
    pub fn client_closed_request() -> Self {
        let t = (Cause::Client, Phase::Request);
        Self::new(Kind::ClientAbort, Side::Client, Retry::Never, t, 400)
    }

    /// The client closed while its request waited for a server, in a queue (`CQ`) or for
    /// the connection (`CC`), under `option abortonclose`: nothing is answered.
    pub fn client_abort_waiting(phase: Phase) -> Self {
        let t = (Cause::Client, phase);
        Self::new(Kind::ClientAbort, Side::Client, Retry::Never, t, 0)
    }

    /// The request head did not come in time (408, `cR`).
    pub fn request_timeout() -> Self {
        let t = (Cause::ClientTimeout, Phase::Request);
        Self::new(Kind::RequestTimeout, Side::Client, Retry::Never, t, 408)
    }

    /// An invalid request, answered with `status` (`PR`: the proxy refused it).
    pub fn bad_request(status: u16) -> Self {
        let t = (Cause::Proxy, Phase::Request);
        Self::new(Kind::BadRequest, Side::Client, Retry::Never, t, status)
    }

    fn with_io(mut self, e: io::Error) -> Self {
        self.io = Some(e);
        self
    }

    /// The phase the stream was in.
    pub fn phase(&self) -> Phase {
        self.term.phase
    }

    /// Whether the request may go to a server again: `reused`, the failed connection came
    /// from the idle pool; `sent`, the request went out before the failure (a failed
    /// write did not); `replayable`, it can go again from corelb's buffers.
    pub fn again(&self, reused: bool, sent: bool, replayable: bool) -> Again {
        match self.retry {
            Retry::Never => Again::No,
            Retry::Always => Again::Rule,
            Retry::IfReused if reused && (!sent || replayable) => Again::Fresh,
            Retry::IfReused | Retry::IfReplayable if replayable => Again::Rule,
            Retry::IfReused | Retry::IfReplayable => Again::No,
        }
    }

    /// Whether mode http's `retry-on` (the bits of `config::retry_on`) lets the retry rule
    /// have this error; a failed write of the request needs no keyword.
    pub fn retry_on(&self, bits: u32) -> bool {
        let bit = match self.kind {
            Kind::Connect | Kind::ConnectTimeout => retry_on::CONN_FAILURE,
            Kind::EmptyResponse => retry_on::EMPTY_RESPONSE,
            Kind::JunkResponse => retry_on::JUNK_RESPONSE,
            Kind::ResponseTimeout => retry_on::RESPONSE_TIMEOUT,
            Kind::Send => return true,
            Kind::NoServer | Kind::ClientAbort | Kind::RequestTimeout | Kind::BadRequest => 0,
        };
        bits & bit != 0
    }

    /// How the retry rule counts the failure.
    pub fn failure(&self) -> Failure {
        match self.kind {
            Kind::ConnectTimeout => Failure::Timeout,
            Kind::EmptyResponse | Kind::JunkResponse | Kind::ResponseTimeout => Failure::Response,
            _ => Failure::Error,
        }
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({})", self.kind, self.term)?;
        match &self.io {
            Some(e) => write!(f, ": {e}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ProxyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io.as_ref().map(|e| e as _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_carries_its_status_and_termination_state() {
        let refused = ProxyError::connect(io::ErrorKind::ConnectionRefused.into());
        assert_eq!((refused.status, refused.term.bytes()), (503, *b"SC"));
        assert_eq!(refused.failure(), Failure::Error);
        let late = ProxyError::connect(io::ErrorKind::TimedOut.into());
        assert_eq!((late.status, late.term.bytes()), (503, *b"sC"));
        assert_eq!(late.failure(), Failure::Timeout);
        let junk = ProxyError::junk_response();
        assert_eq!(
            (junk.status, junk.term.bytes(), junk.side),
            (502, *b"PH", Side::Server)
        );
        assert_eq!(ProxyError::response_timeout().term.bytes(), *b"sH");
        assert_eq!(ProxyError::empty_response().term.bytes(), *b"SH");
        let gone = ProxyError::client_abort();
        assert_eq!((gone.status, gone.term.bytes()), (0, *b"CD"));
        assert_eq!(ProxyError::request_timeout().term.bytes(), *b"cR");
        assert_eq!(ProxyError::bad_request(431).phase(), Phase::Request);
    }

    #[test]
    fn what_may_follow_an_error() {
        // (reused, sent, replayable)
        let send = ProxyError::send(io::ErrorKind::BrokenPipe.into());
        assert_eq!(send.again(true, false, false), Again::Fresh);
        assert_eq!(send.again(false, false, true), Again::Rule);
        assert_eq!(send.again(false, false, false), Again::No);
        let empty = ProxyError::empty_response();
        assert_eq!(empty.again(true, true, true), Again::Fresh);
        assert_eq!(empty.again(true, true, false), Again::No);
        assert_eq!(empty.again(false, true, true), Again::Rule);
        let junk = ProxyError::junk_response();
        assert_eq!(junk.again(true, true, true), Again::Rule);
        assert_eq!(junk.again(false, true, false), Again::No);
        let refused = ProxyError::connect(io::ErrorKind::ConnectionRefused.into());
        assert_eq!(refused.again(false, false, false), Again::Rule);
        assert_eq!(
            ProxyError::client_abort().again(true, false, true),
            Again::No
        );
        assert_eq!(ProxyError::no_server().again(false, false, true), Again::No);
        // retry-on: a failed connect needs conn-failure; a failed write needs nothing.
        assert!(refused.retry_on(retry_on::CONN_FAILURE));
        assert!(!refused.retry_on(retry_on::EMPTY_RESPONSE));
        assert!(send.retry_on(0));
        assert!(!junk.retry_on(retry_on::S503));
    }
}
