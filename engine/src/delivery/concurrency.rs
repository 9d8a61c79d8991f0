//! An endpoint's adaptive concurrency limit: how many requests it may have in flight,
//! earned by answering well and lost by struggling (additive increase,
//! multiplicative decrease, as TCP does with its window).
//!
//! An endpoint starts with a few slots. Each fast success adds one while below the
//! threshold (the slots double per round: slow start) and a fraction above it (one
//! more per round). A timeout, 5xx, 429 or failed connection halves the slots, at
//! most once per round: the failures of requests started before the cut are the same
//! trouble, not new evidence. So a receiver that hangs holds one or two workers, not
//! thirty-two, and one that comes back after its circuit closes starts again from
//! one slot instead of taking its whole backlog at once.

use std::time::Duration;

use sluice_core::model::ErrorClass;

/// Slots a new endpoint starts with.
pub const INITIAL_SLOTS: usize = 4;

#[derive(Debug, Clone)]
pub struct ConcurrencyLimit {
    limit: f64,
    /// Below it the limit grows by one per success; above it, by one per round.
    threshold: f64,
    max: usize,
    /// Bumped by every cut; a request carries the round it started in.
    round: u64,
}

/// How a finished request bears on the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Answered 2xx quickly: the endpoint can take more.
    FastSuccess,
    /// Answered, but slowly or with a client error: no evidence either way.
    Neutral,
    /// Timed out, answered 5xx or 429, or could not be reached: take less.
    Overloaded,
}

/// What a finished attempt says about the endpoint's capacity: `error` is its class
/// (`None` for 2xx), `took` its duration, `fast` the latency under which a success
/// earns a slot.
pub fn signal_of(error: Option<ErrorClass>, took: Duration, fast: Duration) -> Signal {
    match error {
        None if took <= fast => Signal::FastSuccess,
        None => Signal::Neutral,
        Some(
            ErrorClass::Timeout
            | ErrorClass::Connect
            | ErrorClass::Dns
            | ErrorClass::Tls
            | ErrorClass::Http5xx
            | ErrorClass::Http429,
        ) => Signal::Overloaded,
        // The receiver answered, and its answer is about the request, not its load.
        Some(
            ErrorClass::Http3xx
            | ErrorClass::Http4xx
            | ErrorClass::Http410
            | ErrorClass::BlockedTarget
            | ErrorClass::Other,
        ) => Signal::Neutral,
    }
}

/// Successes faster than this earn a slot: a tenth of the request timeout, and at
/// least a second.
pub fn fast_enough(request_timeout: Duration) -> Duration {
    (request_timeout / 10).max(Duration::from_secs(1))
}

impl ConcurrencyLimit {
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self { limit: INITIAL_SLOTS.min(max) as f64, threshold: max as f64, max, round: 0 }
    }

    /// Requests allowed in flight now: at least one, at most the maximum.
    pub fn current(&self) -> usize {
        (self.limit.floor() as usize).clamp(1, self.max)
    }

    /// The round a request started now belongs to.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// The endpoint's (or the node's) maximum changed: never exceed the new one.
    pub fn set_max(&mut self, max: usize) {
        self.max = max.max(1);
        self.limit = self.limit.min(self.max as f64);
        self.threshold = self.threshold.min(self.max as f64);
    }

    /// A request started in `round` finished with `signal`.
    pub fn finished(&mut self, signal: Signal, round: u64) {
        match signal {
            Signal::FastSuccess => {
                let step = if self.limit < self.threshold { 1.0 } else { 1.0 / self.limit };
                self.limit = (self.limit + step).min(self.max as f64);
            }
            Signal::Neutral => {}
            Signal::Overloaded if round < self.round => {}
            Signal::Overloaded => {
                self.threshold = (self.limit / 2.0).max(1.0);
                self.limit = self.threshold;
                self.round += 1;
            }
        }
    }

    /// The circuit closed after a successful probe: start again from one slot and
    /// double per round up to half of what the endpoint had.
    pub fn restart(&mut self) {
        self.threshold = (self.threshold.max(self.limit) / 2.0).max(1.0);
        self.limit = 1.0;
        self.round += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn succeed(l: &mut ConcurrencyLimit, n: usize) {
        for _ in 0..n {
            l.finished(Signal::FastSuccess, l.round());
        }
    }

    #[test]
    fn starts_small_and_doubles_per_round_of_fast_successes() {
        let mut l = ConcurrencyLimit::new(32);
        assert_eq!(l.current(), 4);
        for expected in [8, 16, 32, 32] {
            let round = l.current();
            succeed(&mut l, round);
            assert_eq!(l.current(), expected);
        }
    }

    #[test]
    fn one_cut_per_round_however_many_fail() {
        let mut l = ConcurrencyLimit::new(32);
        succeed(&mut l, 28);
        assert_eq!(l.current(), 32);
        let round = l.round();
        for _ in 0..32 {
            l.finished(Signal::Overloaded, round);
        }
        assert_eq!(l.current(), 16, "thirty-two timeouts of one round are one cut");
        l.finished(Signal::Overloaded, l.round());
        assert_eq!(l.current(), 8, "a failure in the next round cuts again");
        for _ in 0..10 {
            l.finished(Signal::Overloaded, l.round());
        }
        assert_eq!(l.current(), 1, "never below one");
    }

    #[test]
    fn above_the_threshold_it_grows_by_one_per_round() {
        let mut l = ConcurrencyLimit::new(64);
        succeed(&mut l, 28);
        l.finished(Signal::Overloaded, l.round());
        assert_eq!(l.current(), 16);
        succeed(&mut l, 17);
        assert_eq!(l.current(), 17, "a round's worth of successes earns one slot");
        l.finished(Signal::Neutral, l.round());
        assert_eq!(l.current(), 17, "slow answers and client errors earn nothing");
    }

    #[test]
    fn after_the_circuit_closes_it_starts_from_one() {
        let mut l = ConcurrencyLimit::new(32);
        succeed(&mut l, 28);
        l.restart();
        assert_eq!(l.current(), 1);
        for expected in [2, 4, 8, 16] {
            let round = l.current();
            succeed(&mut l, round);
            assert_eq!(l.current(), expected, "slow start up to half of what it had");
        }
        succeed(&mut l, 17);
        assert_eq!(l.current(), 17, "then one more per round");
    }

    #[test]
    fn signals() {
        let fast = Duration::from_secs(1);
        let ms = Duration::from_millis;
        assert_eq!(signal_of(None, ms(20), fast), Signal::FastSuccess);
        assert_eq!(signal_of(None, ms(5_000), fast), Signal::Neutral, "slow success");
        for class in [ErrorClass::Timeout, ErrorClass::Connect, ErrorClass::Http5xx, ErrorClass::Http429] {
            assert_eq!(signal_of(Some(class), ms(20), fast), Signal::Overloaded, "{class:?}");
        }
        for class in [ErrorClass::Http4xx, ErrorClass::Http410, ErrorClass::Http3xx] {
            assert_eq!(signal_of(Some(class), ms(20), fast), Signal::Neutral, "{class:?}");
        }
        assert_eq!(fast_enough(Duration::from_secs(30)), Duration::from_secs(3));
        assert_eq!(fast_enough(Duration::from_secs(2)), Duration::from_secs(1));
    }

    #[test]
    fn a_lower_maximum_is_never_exceeded() {
        let mut l = ConcurrencyLimit::new(32);
        succeed(&mut l, 28);
        l.set_max(2);
        assert_eq!(l.current(), 2);
        succeed(&mut l, 10);
        assert_eq!(l.current(), 2);
        assert_eq!(ConcurrencyLimit::new(1).current(), 1);
    }
}
