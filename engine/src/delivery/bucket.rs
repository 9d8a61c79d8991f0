//! A token bucket: an endpoint's `rate_limit_per_second`, kept by the dispatcher.
//!
//! Time is passed in, never read, so the arithmetic is tested with a made-up clock.

use std::time::{Duration, Instant};

/// Holds at most one second's worth of tokens, so an endpoint that was idle gets at
/// most `rate` requests at once, never a burst saved up over minutes.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u32,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate` requests a second (0 is treated as 1: an endpoint is
    /// slowed, never silenced, by its limit).
    pub fn new(rate: u32, now: Instant) -> Self {
        let rate = rate.max(1);
        Self { rate, tokens: f64::from(rate), refilled: now }
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Changes the rate (the endpoint was edited); tokens saved up stay, capped.
    pub fn set_rate(&mut self, rate: u32, now: Instant) {
        self.refill(now);
        self.rate = rate.max(1);
        self.tokens = self.tokens.min(f64::from(self.rate));
    }

    /// Whole requests allowed now; when none, the instant the next one is.
    pub fn available(&mut self, now: Instant) -> Result<usize, Instant> {
        self.refill(now);
        let whole = self.tokens.floor();
        if whole >= 1.0 {
            return Ok(whole as usize);
        }
        let rate = f64::from(self.rate);
        Err(now + Duration::from_secs_f64((1.0 - self.tokens) / rate))
    }

    /// Spends `n` tokens (one per request claimed).
    pub fn take(&mut self, n: usize) {
        self.tokens -= n as f64;
    }

    fn refill(&mut self, now: Instant) {
        let rate = f64::from(self.rate);
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.refilled = self.refilled.max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_full_and_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, t0);
        assert_eq!(b.available(t0), Ok(10));
        b.take(10);
        // Empty: the next token comes after 1/10 s.
        assert_eq!(b.available(t0), Err(t0 + Duration::from_millis(100)));
        assert_eq!(b.available(t0 + Duration::from_millis(350)), Ok(3));
    }

    #[test]
    fn never_saves_up_more_than_one_second() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(5, t0);
        b.take(5);
        assert_eq!(b.available(t0 + Duration::from_secs(3600)), Ok(5));
    }

    #[test]
    fn zero_rate_is_one_per_second_and_rate_changes_cap_saved_tokens() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(0, t0);
        assert_eq!(b.rate(), 1);
        assert_eq!(b.available(t0), Ok(1));
        let mut b = TokenBucket::new(100, t0);
        b.set_rate(2, t0);
        assert_eq!(b.available(t0), Ok(2));
    }

    #[test]
    fn a_clock_that_goes_backwards_adds_nothing() {
        let t1 = Instant::now() + Duration::from_secs(5);
        let mut b = TokenBucket::new(4, t1);
        b.take(4);
        assert!(b.available(t1 - Duration::from_secs(1)).is_err());
        assert!(b.available(t1).is_err());
    }
}
