//! After a failed attempt on a server: retry it, move to another one, or give up.
//!
//! This is HAProxy's rule, the same in mode tcp and mode http: `back_handle_st_cer()` and
//! `stream_choose_redispatch()` for a failed connection, `do_l7_retry()` for a layer-7 retry
//! (`retry-on` a response). In short:
//!
//! - `retries N` bounds the retries after the first attempt; then the failure is final.
//! - Without `option redispatch`, every retry goes to the same server.
//! - With it, the retry goes to another server (the balancing picks, avoiding this one) when
//!   the server is no longer up, on the retries the interval names (`option redispatch` alone:
//!   the last one; `P > 0`: every P-th; `N < 0`: the N-th before the last), or at once when
//!   the balancing is not hash-based, the server was not chosen by a persistence cookie and
//!   more than one active server is up: then nothing ties the request to this server.
//! - After a connection error (refused, reset, a failed TLS handshake — not a connect
//!   timeout, whose time is already spent, nor a layer-7 retry), the retry waits a
//!   turn-around delay of min(`timeout connect`, 1 s) when it goes to the same server, or
//!   when at most one active server is up (a redispatch would most likely land on it again).
//!
//! (HAProxy 2.6 also waits when redispatching under a balancing that is not round-robin;
//! later versions dropped that, and this follows them.)
//!
//! The function is pure: the caller reads the server states, sleeps the delay and connects.

use std::time::Duration;

/// The turn-around delay when `timeout connect` is unset or longer.
const MAX_TURN_AROUND: Duration = Duration::from_secs(1);

/// How a backend retries.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// `retries`: attempts allowed after the first one.
    pub retries: u32,
    /// `option redispatch [interval]`: `None` when off; the interval otherwise (`-1` for
    /// the option alone: redispatch on the last retry).
    pub redispatch: Option<i32>,
    /// Whether the balancing hashes something of the request (`balance source|uri|
    /// url_param|hdr`): the same request belongs on the same server, so it is not moved at
    /// once.
    pub hash_balancing: bool,
    /// `timeout connect`, which bounds the turn-around delay.
    pub connect_timeout: Option<Duration>,
}

/// How an attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The connection reported an error before anything was exchanged: refused, reset, a
    /// failed TLS handshake, a failed write of the request.
    Error,
    /// `timeout connect` struck.
    Timeout,
    /// A layer-7 retry: `retry-on` matched the response (a status, an empty or junk
    /// response, a response timeout).
    Response,
}

/// What the caller knows when the attempt failed.
#[derive(Clone, Copy, Debug)]
pub struct Attempt {
    /// Retries already made before this failure (0 after the first attempt).
    pub retries: u32,
    pub failure: Failure,
    /// The server is up (neither down nor in maintenance).
    pub server_up: bool,
    /// Active (non-backup) servers that take traffic now (HAProxy's `srv_act`).
    pub active_servers: usize,
    /// The server came from a persistence cookie, not from the balancing.
    pub persistent: bool,
}

/// The decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The retries are used up: the failure is final.
    GiveUp,
    /// Try again after `delay` (zero: at once): on the same server, or, with `redispatch`,
    /// on the server the balancing picks while avoiding this one.
    Retry { redispatch: bool, delay: Duration },
}

/// Decides what follows a failed attempt.
pub fn decide(p: &Policy, a: &Attempt) -> Decision {
    if a.retries >= p.retries {
        return Decision::GiveUp;
    }
    // The retry about to be made, counted from 1.
    let n = i64::from(a.retries) + 1;
    let redispatch = match p.redispatch {
        None => false,
        Some(after) => {
            let every = if after > 0 {
                i64::from(after)
            } else {
                // N < 0: the N-th retry before the last, then every that many. A value
                // below -retries-1 names no retry (HAProxy would divide by zero or less).
                i64::from(p.retries) + 1 + i64::from(after)
            };
            let interval = every > 0 && n % every == 0;
            let free = !p.hash_balancing && !a.persistent && a.active_servers > 1;
            !a.server_up || interval || free
        }
    };
    let turn_around = a.failure == Failure::Error && (!redispatch || a.active_servers <= 1);
    let delay = if turn_around {
        p.connect_timeout
            .map_or(MAX_TURN_AROUND, |t| t.min(MAX_TURN_AROUND))
    } else {
        Duration::ZERO
    };
    Decision::Retry { redispatch, delay }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS100: Duration = Duration::from_millis(100);

    fn policy(retries: u32, redispatch: Option<i32>, hash_balancing: bool) -> Policy {
        Policy {
            retries,
            redispatch,
            hash_balancing,
            connect_timeout: Some(MS100),
        }
    }

    fn failed(retries: u32) -> Attempt {
        Attempt {
            retries,
            failure: Failure::Error,
            server_up: true,
            active_servers: 2,
            persistent: false,
        }
    }

    fn same(delay: Duration) -> Decision {
        Decision::Retry {
            redispatch: false,
            delay,
        }
    }

    fn elsewhere(delay: Duration) -> Decision {
        Decision::Retry {
            redispatch: true,
            delay,
        }
    }

    /// The decisions for the retries 1..=retries, then the one after.
    fn sequence(p: &Policy, a: Attempt) -> Vec<Decision> {
        (0..=p.retries)
            .map(|r| decide(p, &Attempt { retries: r, ..a }))
            .collect()
    }

    #[test]
    fn retries_are_bounded() {
        assert_eq!(
            decide(&policy(0, Some(-1), false), &failed(0)),
            Decision::GiveUp
        );
        assert_eq!(
            decide(&policy(3, None, false), &failed(3)),
            Decision::GiveUp
        );
        assert_ne!(
            decide(&policy(3, None, false), &failed(2)),
            Decision::GiveUp
        );
    }

    #[test]
    fn without_redispatch_the_same_server_after_the_turn_around() {
        let p = policy(3, None, false);
        // Even when the server went down or other servers are up.
        let down = Attempt {
            server_up: false,
            active_servers: 5,
            ..failed(0)
        };
        assert_eq!(
            sequence(&p, down),
            vec![same(MS100), same(MS100), same(MS100), Decision::GiveUp]
        );
    }

    #[test]
    fn the_turn_around_is_min_of_timeout_connect_and_one_second() {
        let mut p = policy(1, None, false);
        assert_eq!(decide(&p, &failed(0)), same(MS100));
        p.connect_timeout = Some(Duration::from_secs(5));
        assert_eq!(decide(&p, &failed(0)), same(Duration::from_secs(1)));
        p.connect_timeout = None;
        assert_eq!(decide(&p, &failed(0)), same(Duration::from_secs(1)));
    }

    #[test]
    fn no_turn_around_after_a_connect_timeout_or_a_layer7_retry() {
        let p = policy(2, None, false);
        for failure in [Failure::Timeout, Failure::Response] {
            let a = Attempt {
                failure,
                ..failed(0)
            };
            assert_eq!(decide(&p, &a), same(Duration::ZERO), "{failure:?}");
        }
    }

    #[test]
    fn non_hash_balancing_redispatches_at_once_when_another_active_server_is_up() {
        let p = policy(3, Some(-1), false);
        assert_eq!(
            sequence(&p, failed(0)),
            vec![
                elsewhere(Duration::ZERO),
                elsewhere(Duration::ZERO),
                elsewhere(Duration::ZERO),
                Decision::GiveUp
            ]
        );
    }

    #[test]
    fn hash_balancing_retries_the_same_server_and_redispatches_on_the_last_retry() {
        let p = policy(3, Some(-1), true);
        assert_eq!(
            sequence(&p, failed(0)),
            vec![
                same(MS100),
                same(MS100),
                elsewhere(Duration::ZERO),
                Decision::GiveUp
            ]
        );
        // The case of tests/tcp_mode.rs, as Debian's HAProxy 2.6 logged it (`+2`).
        let p = policy(2, Some(-1), true);
        assert_eq!(
            sequence(&p, failed(0)),
            vec![same(MS100), elsewhere(Duration::ZERO), Decision::GiveUp]
        );
    }

    #[test]
    fn a_persistence_cookie_keeps_the_server_like_hashing() {
        let p = policy(2, Some(-1), false);
        let a = Attempt {
            persistent: true,
            ..failed(0)
        };
        assert_eq!(
            sequence(&p, a),
            vec![same(MS100), elsewhere(Duration::ZERO), Decision::GiveUp]
        );
    }

    #[test]
    fn a_server_that_is_no_longer_up_is_left_at_once() {
        let p = policy(3, Some(-1), true);
        let a = Attempt {
            server_up: false,
            ..failed(0)
        };
        assert_eq!(decide(&p, &a), elsewhere(Duration::ZERO));
    }

    #[test]
    fn with_one_active_server_a_redispatch_waits_too() {
        // Roundrobin over one active server (or only backups: none active).
        for active_servers in [1, 0] {
            let p = policy(2, Some(-1), false);
            let a = Attempt {
                active_servers,
                ..failed(0)
            };
            assert_eq!(
                sequence(&p, a),
                vec![same(MS100), elsewhere(MS100), Decision::GiveUp]
            );
        }
    }

    #[test]
    fn redispatch_intervals() {
        let kinds = |p: &Policy| -> Vec<Option<bool>> {
            sequence(p, failed(0))
                .into_iter()
                .map(|d| match d {
                    Decision::Retry { redispatch, .. } => Some(redispatch),
                    Decision::GiveUp => None,
                })
                .collect()
        };
        let (t, f) = (Some(true), Some(false));
        // Every retry; every 2nd.
        assert_eq!(kinds(&policy(3, Some(1), true)), vec![t, t, t, None]);
        assert_eq!(kinds(&policy(4, Some(2), true)), vec![f, t, f, t, None]);
        // -2 with 3 retries: the one before the last (every 2nd from it).
        assert_eq!(kinds(&policy(3, Some(-2), true)), vec![f, t, f, None]);
        // -1 with 4 retries: the last only.
        assert_eq!(kinds(&policy(4, Some(-1), true)), vec![f, f, f, t, None]);
        // An interval before the first retry names none.
        assert_eq!(kinds(&policy(2, Some(-5), true)), vec![f, f, None]);
    }
}
