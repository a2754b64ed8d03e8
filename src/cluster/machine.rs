//! HAProxy's health state machine, pure: a health counter in `[0, rise + fall - 1]`. A server
//! is up while the counter is at least `rise`; `fall` consecutive failures from full health
//! take it down (the counter drops to 0), `rise` consecutive successes bring it back up (the
//! counter jumps to full). Between the two, checks run at `fastinter`.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    WentUp,
    WentDown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    pub health: u32,
    pub rise: u32,
    pub fall: u32,
    pub up: bool,
}

impl Health {
    /// A server starts up with its health at `rise`, as in HAProxy 2.6 (server.c sets
    /// `check.health = check.rise`): up, but one failure takes it down, so a server that
    /// is dead at start leaves at the first check rather than after `fall` of them; once a
    /// check passed it is fully healthy and takes `fall` failures.
    pub fn new(rise: u32, fall: u32) -> Health {
        Health {
            health: rise,
            rise,
            fall,
            up: true,
        }
    }

    pub fn max(&self) -> u32 {
        self.rise + self.fall - 1
    }

    pub fn success(&mut self) -> Option<Transition> {
        if self.health < self.max() {
            self.health += 1;
        }
        if !self.up && self.health >= self.rise {
            self.up = true;
            self.health = self.max();
            return Some(Transition::WentUp);
        }
        None
    }

    pub fn failure(&mut self) -> Option<Transition> {
        if self.health > self.rise {
            self.health -= 1;
            return None;
        }
        self.health = 0;
        if self.up {
            self.up = false;
            return Some(Transition::WentDown);
        }
        None
    }

    /// `on-error sudden-death`: one more failure takes the server down.
    pub fn sudden_death(&mut self) {
        if self.up {
            self.health = self.rise;
        }
    }

    /// Down at once (`on-error mark-down`).
    pub fn mark_down(&mut self) -> Option<Transition> {
        self.health = 0;
        if self.up {
            self.up = false;
            return Some(Transition::WentDown);
        }
        None
    }

    /// Fully up or fully down: the steady states; anything else is a transition.
    pub fn steady(&self) -> bool {
        (self.up && self.health == self.max()) || (!self.up && self.health == 0)
    }

    /// HAProxy's "status" string of log-health-checks: "2/3 UP", "1/2 DOWN".
    pub fn status(&self) -> String {
        if self.up {
            format!("{}/{} UP", self.health + 1 - self.rise, self.fall)
        } else {
            format!("{}/{} DOWN", self.health, self.rise)
        }
    }

    /// The delay before the next check.
    pub fn interval(
        &self,
        inter: Duration,
        fastinter: Option<Duration>,
        downinter: Option<Duration>,
    ) -> Duration {
        if self.steady() {
            if self.up {
                inter
            } else {
                downinter.unwrap_or(inter)
            }
        } else {
            fastinter.unwrap_or(inter)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From start, full health after `fall - 1` successes.
    fn healthy(rise: u32, fall: u32) -> Health {
        let mut h = Health::new(rise, fall);
        for _ in 1..fall {
            assert_eq!(h.success(), None);
        }
        assert!(h.steady());
        h
    }

    #[test]
    fn a_failure_at_start_takes_it_down() {
        let mut h = Health::new(2, 3);
        assert!(h.up);
        assert_eq!(h.health, 2);
        assert!(!h.steady());
        assert_eq!(h.failure(), Some(Transition::WentDown));
        let mut h = Health::new(2, 3);
        assert_eq!(h.success(), None);
        assert_eq!(h.health, 3);
        assert_eq!(h.success(), None);
        assert!(h.steady());
    }

    #[test]
    fn fall_failures_take_it_down_rise_successes_bring_it_back() {
        let mut h = healthy(2, 3);
        assert!(h.up);
        assert_eq!(h.failure(), None);
        assert_eq!(h.failure(), None);
        assert_eq!(h.failure(), Some(Transition::WentDown));
        assert_eq!(h.failure(), None);
        assert_eq!(h.success(), None);
        assert_eq!(h.success(), Some(Transition::WentUp));
        assert_eq!(h.health, 4);
    }

    #[test]
    fn a_success_in_between_restores_health() {
        let mut h = healthy(2, 3);
        h.failure();
        h.failure();
        h.success();
        h.success();
        assert_eq!(h.failure(), None);
        assert_eq!(h.failure(), None);
        assert_eq!(h.failure(), Some(Transition::WentDown));
    }

    #[test]
    fn a_failure_while_rising_starts_over() {
        let mut h = Health::new(3, 2);
        h.mark_down();
        h.success();
        h.success();
        assert_eq!(h.failure(), None);
        assert_eq!(h.success(), None);
        assert_eq!(h.success(), None);
        assert_eq!(h.success(), Some(Transition::WentUp));
    }

    #[test]
    fn intervals() {
        let (i, f, d) = (
            Duration::from_secs(2),
            Some(Duration::from_millis(500)),
            Some(Duration::from_secs(5)),
        );
        // At start (health `rise`), fastinter, as HAProxy's srv_getinter().
        assert_eq!(Health::new(2, 3).interval(i, f, d), f.unwrap());
        assert_eq!(Health::new(2, 1).interval(i, f, d), i);
        let mut h = healthy(2, 3);
        assert_eq!(h.interval(i, f, d), i);
        h.failure();
        assert_eq!(h.interval(i, f, d), f.unwrap());
        h.mark_down();
        assert_eq!(h.interval(i, f, d), d.unwrap());
        h.success();
        assert_eq!(h.interval(i, f, d), f.unwrap());
        assert_eq!(h.interval(i, None, None), i);
    }

    #[test]
    fn sudden_death_needs_one_more_failure() {
        let mut h = healthy(2, 3);
        h.sudden_death();
        assert_eq!(h.failure(), Some(Transition::WentDown));
    }

    #[test]
    fn status_strings() {
        assert_eq!(Health::new(2, 3).status(), "1/3 UP");
        let mut h = healthy(2, 3);
        assert_eq!(h.status(), "3/3 UP");
        h.failure();
        assert_eq!(h.status(), "2/3 UP");
        h.mark_down();
        h.success();
        assert_eq!(h.status(), "1/2 DOWN");
    }
}
