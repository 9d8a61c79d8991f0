//! One endpoint's scheduling state on this node: its requests in flight, rate limit,
//! circuit breaker and signing keys, and how much more it may take right now.

use std::time::Instant;

use super::breaker::{Admission, Breaker};
use super::bucket::TokenBucket;
use super::keys::KeyCache;
use crate::store::DueEndpoint;

pub struct EndpointSlot {
    pub info: DueEndpoint,
    pub keys: KeyCache,
    pub breaker: Breaker,
    bucket: Option<TokenBucket>,
    pub in_flight: usize,
    /// Listed by the latest scan and not found empty since: worth claiming for.
    pub listed: bool,
}

impl EndpointSlot {
    pub fn new(info: DueEndpoint, breaker: Breaker, now: Instant) -> Self {
        let bucket = info.rate_limit_per_second.map(|rate| TokenBucket::new(rate, now));
        Self { info, keys: KeyCache::default(), breaker, bucket, in_flight: 0, listed: true }
    }

    /// The scan listed the endpoint again, perhaps edited since.
    pub fn relist(&mut self, info: DueEndpoint, now: Instant) {
        self.bucket = match (info.rate_limit_per_second, self.bucket.take()) {
            (None, _) => None,
            (Some(rate), None) => Some(TokenBucket::new(rate, now)),
            (Some(rate), Some(mut bucket)) => {
                if bucket.rate() != rate.max(1) {
                    bucket.set_rate(rate, now);
                }
                Some(bucket)
            }
        };
        self.info = info;
        self.listed = true;
    }

    /// How many more requests the endpoint may take now, at most `concurrency` at a
    /// time; when it may take none because of its breaker or rate limit, when to look
    /// again.
    pub fn room(&mut self, now: Instant, concurrency: usize) -> (usize, Option<Instant>) {
        let cap = match self.breaker.admission(now) {
            Admission::Closed => concurrency,
            Admission::Probe => 1,
            Admission::OpenUntil(until) => return (0, Some(until)),
        };
        let room = cap.saturating_sub(self.in_flight);
        match self.bucket.as_mut().map(|b| b.available(now)) {
            None => (room, None),
            Some(Ok(tokens)) => (room.min(tokens), None),
            Some(Err(next_token)) if room > 0 => (0, Some(next_token)),
            Some(Err(_)) => (0, None),
        }
    }

    /// `n` requests were claimed.
    pub fn started(&mut self, n: usize) {
        self.in_flight += n;
        if let Some(bucket) = &mut self.bucket {
            bucket.take(n);
        }
    }

    /// Whether the scan may forget this endpoint: nothing listed, nothing in flight,
    /// and no open circuit (that state must survive until it closes).
    pub fn forgettable(&self) -> bool {
        !self.listed && self.in_flight == 0 && !self.breaker.is_open()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::new_id;
    use std::time::Duration;

    fn slot(rate: Option<u32>, threshold: u32, now: Instant) -> EndpointSlot {
        let info = DueEndpoint {
            id: new_id(),
            tenant_id: new_id(),
            url: "https://example.com".into(),
            version: 1,
            rate_limit_per_second: rate,
            retry_schedule: None,
            due_version: 0,
        };
        EndpointSlot::new(info, Breaker::new(threshold, Duration::from_secs(30)), now)
    }

    #[test]
    fn room_is_the_smallest_of_concurrency_and_tokens() {
        let t0 = Instant::now();
        let mut s = slot(Some(5), 10, t0);
        assert_eq!(s.room(t0, 32), (5, None));
        s.started(3);
        assert_eq!(s.room(t0, 4), (1, None), "4 allowed, 3 in flight");
        assert_eq!(s.room(t0, 32), (2, None), "2 tokens left");
        s.started(2);
        assert_eq!(s.room(t0, 32), (0, Some(t0 + Duration::from_millis(200))));
    }

    #[test]
    fn a_full_endpoint_waits_for_a_finish_not_a_token() {
        let t0 = Instant::now();
        let mut s = slot(Some(1), 10, t0);
        s.started(1);
        assert_eq!(s.room(t0, 1), (0, None));
    }

    #[test]
    fn an_open_circuit_gives_no_room_then_one_probe() {
        let t0 = Instant::now();
        let mut s = slot(None, 1, t0);
        s.breaker.record(false, t0);
        let until = s.breaker.open_until().expect("open");
        assert_eq!(s.room(t0, 32), (0, Some(until)));
        assert_eq!(s.room(until, 32), (1, None));
        s.listed = false;
        assert!(!s.forgettable(), "an open circuit is remembered while nothing is due");
    }

    #[test]
    fn relisting_applies_an_edited_rate_limit() {
        let t0 = Instant::now();
        let mut s = slot(None, 10, t0);
        let mut info = s.info.clone();
        info.rate_limit_per_second = Some(2);
        s.relist(info.clone(), t0);
        assert_eq!(s.room(t0, 32), (2, None));
        info.rate_limit_per_second = None;
        s.relist(info, t0);
        assert_eq!(s.room(t0, 32), (32, None));
    }
}
