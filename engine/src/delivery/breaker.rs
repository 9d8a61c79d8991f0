//! The circuit breaker of one endpoint: stop sending to an endpoint that keeps
//! failing, probe it now and then, close on the first success.
//!
//! Held back deliveries keep their attempts: an open circuit claims nothing, so
//! nothing is attempted and nothing of the schedule is burnt while it is open.
//! Time is passed in, so the transitions are tested with a made-up clock.

use std::time::{Duration, Instant};

/// The longest wait between probes of an endpoint that keeps failing them.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(600);

/// What the breaker allows right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: as many requests as the other limits allow.
    Closed,
    /// The cooldown is over: one request at a time, a probe.
    Probe,
    /// Open: nothing until then.
    OpenUntil(Instant),
}

#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    base_cooldown: Duration,
    cooldown: Duration,
    failures: u32,
    open_until: Option<Instant>,
}

impl Breaker {
    /// Opens after `threshold` failures in a row and first probes after `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self { threshold: threshold.max(1), base_cooldown: cooldown, cooldown, failures: 0, open_until: None }
    }

    pub fn admission(&self, now: Instant) -> Admission {
        match self.open_until {
            None => Admission::Closed,
            Some(until) if now < until => Admission::OpenUntil(until),
            Some(_) => Admission::Probe,
        }
    }

    /// Whether the circuit is open (or half-open, probing).
    pub fn is_open(&self) -> bool {
        self.open_until.is_some()
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When the next probe may go, while open.
    pub fn open_until(&self) -> Option<Instant> {
        self.open_until
    }

    /// The wait before the next probe once open.
    pub fn cooldown(&self) -> Duration {
        self.cooldown
    }

    /// Another node has the circuit open (or is probing it): send nothing here until
    /// `until`. The failures this node counted are kept.
    pub fn hold_until(&mut self, until: Instant) {
        self.open_until = Some(self.open_until.map_or(until, |at| at.max(until)));
    }

    /// Another node's request succeeded: closed, as after a success here.
    pub fn close(&mut self) {
        self.failures = 0;
        self.open_until = None;
        self.cooldown = self.base_cooldown;
    }

    /// A request finished: a success closes the circuit; a failure counts and opens it
    /// at the threshold. Only a failed `probe` doubles the wait before the next one:
    /// requests already in flight when the circuit opened fail late, and each of them
    /// pushing the probe back would keep a recovered receiver waiting for minutes.
    pub fn record(&mut self, ok: bool, probe: bool, now: Instant) {
        if ok {
            self.close();
            return;
        }
        self.failures = self.failures.saturating_add(1);
        if self.open_until.is_some() {
            if probe {
                self.cooldown = (self.cooldown * 2).min(MAX_COOLDOWN.max(self.base_cooldown));
                self.open_until = Some(now + self.cooldown);
            }
        } else if self.failures >= self.threshold {
            self.open_until = Some(now + self.cooldown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(30);

    #[test]
    fn opens_at_the_threshold_and_not_before() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, COOL);
        b.record(false, false, t0);
        b.record(false, false, t0);
        assert_eq!(b.admission(t0), Admission::Closed);
        b.record(false, false, t0);
        assert_eq!(b.admission(t0), Admission::OpenUntil(t0 + COOL));
        assert_eq!(b.failures(), 3);
    }

    #[test]
    fn a_success_in_between_resets_the_count() {
        let t0 = Instant::now();
        let mut b = Breaker::new(2, COOL);
        b.record(false, false, t0);
        b.record(true, false, t0);
        b.record(false, false, t0);
        assert_eq!(b.admission(t0), Admission::Closed);
    }

    #[test]
    fn probes_after_the_cooldown_and_a_success_closes() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, COOL);
        b.record(false, false, t0);
        assert_eq!(b.admission(t0 + COOL), Admission::Probe);
        b.record(true, true, t0 + COOL);
        assert_eq!(b.admission(t0 + COOL), Admission::Closed);
        assert!(!b.is_open());
    }

    #[test]
    fn failed_probes_back_off_up_to_the_cap_and_success_restores_the_base() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, COOL);
        b.record(false, false, t0);
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..6 {
            now = b.open_until().expect("open");
            b.record(false, true, now);
            waits.push(b.open_until().expect("open") - now);
        }
        assert_eq!(waits[0], COOL * 2);
        assert_eq!(waits[1], COOL * 4);
        assert_eq!(*waits.last().expect("waits"), MAX_COOLDOWN);
        b.record(true, true, now);
        b.record(false, false, now);
        assert_eq!(b.admission(now), Admission::OpenUntil(now + COOL), "threshold 1 reopens with the base cooldown");
    }

    #[test]
    fn another_nodes_open_circuit_is_held_then_probed_and_its_success_closes_it() {
        let t0 = Instant::now();
        let mut b = Breaker::new(5, COOL);
        b.record(false, false, t0);
        b.hold_until(t0 + COOL);
        assert_eq!(b.admission(t0), Admission::OpenUntil(t0 + COOL));
        b.hold_until(t0 + Duration::from_secs(1));
        assert_eq!(b.open_until(), Some(t0 + COOL), "holding never shortens the wait");
        assert_eq!(b.admission(t0 + COOL), Admission::Probe);
        b.close();
        assert_eq!((b.admission(t0), b.failures()), (Admission::Closed, 0));
    }

    #[test]
    fn late_failures_of_requests_sent_before_it_opened_do_not_push_the_probe_back() {
        let t0 = Instant::now();
        let mut b = Breaker::new(2, COOL);
        for _ in 0..32 {
            b.record(false, false, t0 + Duration::from_millis(5));
        }
        assert_eq!(b.open_until(), Some(t0 + Duration::from_millis(5) + COOL), "opened once, at the threshold");
        assert_eq!(b.failures(), 32);
    }
}
