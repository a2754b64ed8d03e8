//! HAProxy's termination state ("stream state at disconnection", its configuration manual
//! §8.5): two letters, what ended a stream and in which phase it was. mode tcp and mode
//! http set it, the access log prints it (`%ts`, and the `tcplog`/`httplog` lines) and the
//! counters classify aborts and errors by it. One type for both modes, so that a code one of
//! them can log the other can too.

use std::fmt;

/// What ended a stream: the first letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum Cause {
    /// `-`: nothing abnormal; both sides closed with nothing left in flight.
    Normal = b'-',
    /// `C`: the client aborted.
    Client = b'C',
    /// `S`: the server aborted, or refused the connection.
    Server = b'S',
    /// `P`: the proxy ended it early: a limit, a deny rule, an invalid message.
    Proxy = b'P',
    /// `L`: processed locally.
    Local = b'L',
    /// `R`: a resource of the proxy ran out (memory, sockets, ports).
    Resource = b'R',
    /// `I`: an internal error (a bug).
    Internal = b'I',
    /// `D`: killed because its server went down (`on-marked-down shutdown-sessions`).
    Down = b'D',
    /// `U`: killed on a backup server because an active one came up.
    Up = b'U',
    /// `K`: killed by an administrator (`shutdown session(s)`).
    Killed = b'K',
    /// `c`: the client-side timeout struck.
    ClientTimeout = b'c',
    /// `s`: the server-side timeout struck.
    ServerTimeout = b's',
}

/// Where the stream was when it ended: the second letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum Phase {
    /// `-`: it ended after the end of its data transfer.
    Done = b'-',
    /// `R`: waiting for a complete, valid request (nothing was sent to a server).
    Request = b'R',
    /// `Q`: waiting in a queue for a server slot.
    Queue = b'Q',
    /// `C`: waiting for the connection to the server (TCP, PROXY header, TLS).
    Connect = b'C',
    /// `H`: waiting for complete, valid response headers.
    Headers = b'H',
    /// `D`: moving data.
    Data = b'D',
    /// `L`: sending the last data to the client after the server finished.
    Last = b'L',
    /// `T`: tarpitted.
    Tarpit = b'T',
}

/// A termination state: who or what ended the stream, and in which phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Term {
    pub cause: Cause,
    pub phase: Phase,
}

impl Term {
    /// `--`: a normal end.
    pub const NORMAL: Term = Term::new(Cause::Normal, Phase::Done);

    pub const fn new(cause: Cause, phase: Phase) -> Term {
        Term { cause, phase }
    }

    /// The two letters as the log writes them.
    pub const fn bytes(self) -> [u8; 2] {
        [self.cause as u8, self.phase as u8]
    }
}

impl Default for Term {
    fn default() -> Term {
        Term::NORMAL
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b] = self.bytes();
        write!(f, "{}{}", a as char, b as char)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_letters_are_haproxys() {
        assert_eq!(Term::NORMAL.bytes(), *b"--");
        assert_eq!(
            Term::new(Cause::ServerTimeout, Phase::Queue).bytes(),
            *b"sQ"
        );
        assert_eq!(Term::new(Cause::Proxy, Phase::Headers).to_string(), "PH");
        assert_eq!(Term::new(Cause::Killed, Phase::Data).to_string(), "KD");
        assert_eq!(Term::default(), Term::NORMAL);
    }
}
