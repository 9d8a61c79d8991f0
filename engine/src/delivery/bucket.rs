//! An endpoint's `rate_limit_per_second` as this node keeps it: the schedule of
//! [`Pace`](crate::pacing::Pace) on the node's monotonic clock. Where several nodes
//! share the database, each claim first reserves its sends there and the bucket
//! catches up with what the others sent ([`TokenBucket::catch_up`]).
//!
//! Time is passed in, never read, so the arithmetic is tested with a made-up clock.

use std::time::{Duration, Instant};

use crate::pacing::Pace;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u32,
    pace: Pace,
    /// The clock's zero: instants become microseconds since it.
    origin: Instant,
    /// The theoretical time of the next send, in microseconds since `origin`.
    tat: i64,
}

impl TokenBucket {
    /// A bucket for `rate` requests a second, idle (0 is treated as 1).
    pub fn new(rate: u32, now: Instant) -> Self {
        let rate = rate.max(1);
        Self { rate, pace: Pace::per_second(rate), origin: now, tat: 0 }
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Changes the rate (the endpoint was edited); the schedule stays where it is.
    pub fn set_rate(&mut self, rate: u32) {
        self.rate = rate.max(1);
        self.pace = Pace::per_second(self.rate);
    }

    fn micros(&self, at: Instant) -> i64 {
        i64::try_from(at.saturating_duration_since(self.origin).as_micros()).unwrap_or(i64::MAX / 2)
    }

    fn instant(&self, micros: i64) -> Instant {
        self.origin + Duration::from_micros(u64::try_from(micros).unwrap_or(0))
    }

    /// Whole requests allowed now; when none, the instant the next one is.
    pub fn available(&self, now: Instant) -> Result<usize, Instant> {
        let now_us = self.micros(now);
        match self.pace.grant(self.tat, now_us, usize::MAX) {
            (0, _) => Err(self.instant(self.pace.next_at(self.tat, now_us))),
            (n, _) => Ok(n),
        }
    }

    /// Spends `n` requests (claimed now).
    pub fn take(&mut self, n: usize, now: Instant) {
        self.tat = self.pace.spend(self.tat, self.micros(now), n);
    }

    /// The cluster's schedule is `ahead` of now (other nodes sent too): never let this
    /// node's run behind it.
    pub fn catch_up(&mut self, now: Instant, ahead: Duration) {
        let ahead = i64::try_from(ahead.as_micros()).unwrap_or(i64::MAX / 4);
        self.tat = self.tat.max(self.micros(now).saturating_add(ahead));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_with_a_tenth_of_a_second_and_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, t0);
        assert_eq!(b.available(t0), Ok(1), "a tenth of 10 a second, at least one");
        b.take(1, t0);
        // The next comes after 1/10 s.
        assert_eq!(b.available(t0), Err(t0 + Duration::from_millis(100)));
        assert_eq!(b.available(t0 + Duration::from_millis(350)), Ok(1), "never more than the burst");
        let mut b = TokenBucket::new(100, t0);
        assert_eq!(b.available(t0), Ok(10));
        b.take(10, t0);
        assert_eq!(b.available(t0 + Duration::from_millis(35)), Ok(3));
    }

    #[test]
    fn never_saves_up_more_than_the_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(50, t0);
        b.take(5, t0);
        assert_eq!(b.available(t0 + Duration::from_secs(3600)), Ok(5));
    }

    #[test]
    fn zero_rate_is_one_per_second_and_rate_changes_keep_the_schedule() {
        let t0 = Instant::now();
        let b = TokenBucket::new(0, t0);
        assert_eq!(b.rate(), 1);
        assert_eq!(b.available(t0), Ok(1));
        let mut b = TokenBucket::new(100, t0);
        b.set_rate(20);
        assert_eq!(b.available(t0), Ok(2));
    }

    #[test]
    fn a_clock_that_goes_backwards_adds_nothing() {
        let t1 = Instant::now() + Duration::from_secs(5);
        let mut b = TokenBucket::new(40, t1);
        b.take(4, t1);
        assert!(b.available(t1 - Duration::from_secs(1)).is_err());
        assert!(b.available(t1).is_err());
    }

    #[test]
    fn other_nodes_sends_push_the_schedule_on() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(50, t0);
        b.catch_up(t0, Duration::from_millis(300));
        assert_eq!(b.available(t0), Err(t0 + Duration::from_millis(220)), "300 ms ahead less the 100 ms burst");
        b.catch_up(t0, Duration::from_millis(10));
        assert!(b.available(t0 + Duration::from_millis(219)).is_err(), "an older view never moves it back");
    }
}
