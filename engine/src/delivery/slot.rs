//! One endpoint's scheduling state on this node: its requests in flight, adaptive
//! concurrency limit, rate limit, circuit breaker and signing keys, and how much more
//! it may take right now.

use std::time::{Duration, Instant};

use super::breaker::{Admission, Breaker};
use super::bucket::TokenBucket;
use super::concurrency::ConcurrencyLimit;
use super::grant::Grant;
use super::keys::KeyCache;
use crate::store::DueEndpoint;

pub struct EndpointSlot {
    pub info: DueEndpoint,
    pub keys: KeyCache,
    pub breaker: Breaker,
    pub limit: ConcurrencyLimit,
    bucket: Option<TokenBucket>,
    /// The node's per-endpoint maximum, for endpoints that set none.
    default_max: usize,
    pub in_flight: usize,
    /// Listed by the latest scan and not found empty since: worth claiming for.
    pub listed: bool,
    /// The shared limits last granted less than asked, because other nodes hold the
    /// rest: claim again when one of this node's own requests ends (a slot it knows
    /// is free) or at this instant (for slots freed elsewhere), not on every wake-up.
    /// Each refused claim is a transaction holding the tenant's row lock that every
    /// node's claims queue on, so asking on every NOTIFY wasted most of them.
    crowded_until: Option<Instant>,
    /// Shared claims in a row that the other nodes left no room at all.
    refusals: u32,
    /// The room at this endpoint the other nodes count as this node's for now.
    pub grant: Option<Grant>,
}

/// When the other nodes hold the rest of an endpoint's room, how long until this node
/// asks again if none of its own requests ends first. Slots freed elsewhere are
/// usually taken again at once by the node that freed them, so asking sooner mostly
/// finds none, and each asking holds the tenant's lock every node's claims queue on.
const CROWDED_RECHECK: Duration = Duration::from_millis(5);

/// The most doublings of [`CROWDED_RECHECK`] (to 40 ms).
const MOST_DOUBLINGS: u32 = 3;

impl EndpointSlot {
    pub fn new(info: DueEndpoint, breaker: Breaker, now: Instant, default_max: usize) -> Self {
        let bucket = info.rate_limit_per_second.map(|rate| TokenBucket::new(rate, now));
        let limit = ConcurrencyLimit::new(max_of(&info, default_max));
        Self {
            info,
            keys: KeyCache::default(),
            breaker,
            limit,
            bucket,
            default_max,
            in_flight: 0,
            listed: true,
            crowded_until: None,
            refusals: 0,
            grant: None,
        }
    }

    /// The scan listed the endpoint again, perhaps edited since.
    pub fn relist(&mut self, info: DueEndpoint, now: Instant) {
        self.bucket = match (info.rate_limit_per_second, self.bucket.take()) {
            (None, _) => None,
            (Some(rate), None) => Some(TokenBucket::new(rate, now)),
            (Some(rate), Some(mut bucket)) => {
                if bucket.rate() != rate.max(1) {
                    bucket.set_rate(rate);
                }
                Some(bucket)
            }
        };
        self.limit.set_max(max_of(&info, self.default_max));
        self.info = info;
        self.listed = true;
    }

    /// How many more requests the endpoint may take now (its adaptive limit less what
    /// is in flight); when it may take none because of its breaker or rate limit, when
    /// to look again.
    pub fn room(&mut self, now: Instant) -> (usize, Option<Instant>) {
        let cap = match self.breaker.admission(now) {
            Admission::Closed => self.limit.current(),
            Admission::Probe => 1,
            Admission::OpenUntil(until) => return (0, Some(until)),
        };
        match self.crowded_until {
            Some(until) if now < until => return (0, Some(until)),
            Some(_) => self.crowded_until = None,
            None => {}
        }
        let room = cap.saturating_sub(self.in_flight);
        match self.bucket.as_ref().map(|b| b.available(now)) {
            None => (room, None),
            Some(Ok(tokens)) => (room.min(tokens), None),
            Some(Err(next_token)) if room > 0 => (0, Some(next_token)),
            Some(Err(_)) => (0, None),
        }
    }

    /// The endpoint's most requests at once: its own maximum, or the node's default.
    pub fn max_concurrency(&self) -> usize {
        max_of(&self.info, self.default_max)
    }

    /// `n` requests were claimed.
    pub fn started(&mut self, n: usize, now: Instant) {
        self.in_flight += n;
        if let Some(bucket) = &mut self.bucket {
            bucket.take(n, now);
        }
    }

    /// One of this node's requests ended: its slot is free, whatever the others hold.
    pub fn ended(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.crowded_until = None;
    }

    /// What the limits the nodes share answered a claim: `crowded` when the other
    /// nodes hold the rest of the endpoint's or its tenant's room, `refused` when they
    /// left none at all. A crowded endpoint asks again when a request of this node's
    /// ends (a slot it knows is free), or after a recheck for slots freed elsewhere:
    /// the longest one while it has requests of its own in flight, whose ends will
    /// ask anyway; otherwise the shortest, doubled by each refusal in a row.
    pub fn shared_answer(&mut self, now: Instant, crowded: bool, refused: bool) {
        self.refusals = if refused { (self.refusals + 1).min(MOST_DOUBLINGS) } else { 0 };
        let doublings = if self.in_flight > 0 { MOST_DOUBLINGS } else { self.refusals };
        self.crowded_until = crowded.then(|| now + CROWDED_RECHECK * (1 << doublings));
    }

    /// The rate limit's schedule shared by every node is `ahead` of now.
    pub fn catch_up(&mut self, now: Instant, ahead: std::time::Duration) {
        if let Some(bucket) = &mut self.bucket {
            bucket.catch_up(now, ahead);
        }
    }

    /// Whether the scan may forget this endpoint: nothing listed, nothing in flight,
    /// and no open circuit (that state must survive until it closes).
    pub fn forgettable(&self) -> bool {
        !self.listed && self.in_flight == 0 && !self.breaker.is_open()
    }
}

fn max_of(info: &DueEndpoint, default_max: usize) -> usize {
    info.max_concurrency.map_or(default_max, |n| usize::try_from(n).unwrap_or(default_max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::concurrency::Signal;
    use crate::ids::new_id;
    use std::time::Duration;

    fn slot(rate: Option<u32>, max: Option<u32>, threshold: u32, now: Instant) -> EndpointSlot {
        let info = DueEndpoint {
            id: new_id(),
            tenant_id: new_id(),
            url: "https://example.com".into(),
            version: 1,
            rate_limit_per_second: rate,
            max_concurrency: max,
            retry_schedule: None,
        };
        EndpointSlot::new(info, Breaker::new(threshold, Duration::from_secs(30)), now, 32)
    }

    #[test]
    fn room_is_the_smallest_of_slots_and_tokens() {
        let t0 = Instant::now();
        // 50 a second: a burst of 5, then one every 20 ms.
        let mut s = slot(Some(50), None, 10, t0);
        assert_eq!(s.room(t0), (4, None), "a new endpoint's 4 slots, fewer than its 5 tokens");
        s.started(3, t0);
        assert_eq!(s.room(t0), (1, None), "4 slots, 3 in flight");
        s.started(1, t0);
        assert_eq!(s.room(t0), (0, None), "every slot busy: wait for a finish, not a token");
        s.in_flight = 0;
        assert_eq!(s.room(t0), (1, None), "1 token left");
        s.started(1, t0);
        assert_eq!(s.room(t0), (0, Some(t0 + Duration::from_millis(20))), "the next token");
        s.in_flight = 0;
        s.catch_up(t0, Duration::from_millis(500));
        assert_eq!(s.room(t0), (0, Some(t0 + Duration::from_millis(420))), "other nodes spent the next 0.5 s");
    }

    #[test]
    fn an_endpoints_own_maximum_is_never_exceeded() {
        let t0 = Instant::now();
        let mut s = slot(None, Some(1), 10, t0);
        assert_eq!(s.room(t0), (1, None));
        for _ in 0..10 {
            s.limit.finished(Signal::FastSuccess, s.limit.round());
        }
        s.started(1, t0);
        assert_eq!(s.room(t0), (0, None), "one in flight is its maximum, however fast it answers");
    }

    #[test]
    fn an_open_circuit_gives_no_room_then_one_probe() {
        let t0 = Instant::now();
        let mut s = slot(None, None, 1, t0);
        s.breaker.record(false, false, t0);
        let until = s.breaker.open_until().expect("open");
        assert_eq!(s.room(t0), (0, Some(until)));
        assert_eq!(s.room(until), (1, None));
        s.listed = false;
        assert!(!s.forgettable(), "an open circuit is remembered while nothing is due");
    }

    #[test]
    fn a_crowded_endpoint_waits_for_its_own_request_or_the_recheck() {
        let t0 = Instant::now();
        let mut s = slot(None, None, 10, t0);
        let (room, _) = s.room(t0);
        assert!(room > 0);
        let recheck = t0 + CROWDED_RECHECK;
        s.shared_answer(t0, true, false);
        assert_eq!(s.room(t0), (0, Some(recheck)), "the other nodes hold the rest: no asking on every wake-up");
        assert_eq!(s.room(recheck), (room, None), "asked again at the recheck");
        s.shared_answer(recheck, false, false);
        assert_eq!(s.room(recheck), (room, None), "not crowded: ask whenever there is room");
    }

    #[test]
    fn with_requests_of_its_own_in_flight_their_ends_ask_again() {
        let t0 = Instant::now();
        let mut s = slot(None, None, 10, t0);
        s.started(2, t0);
        let (room, _) = s.room(t0);
        s.shared_answer(t0, true, false);
        let longest = t0 + CROWDED_RECHECK * (1 << MOST_DOUBLINGS);
        assert_eq!(s.room(t0), (0, Some(longest)), "its own requests' ends will ask before the recheck");
        s.ended();
        assert_eq!(s.room(t0), (room + 1, None), "a request of its own ended: a slot it knows is free");
    }

    #[test]
    fn refusals_in_a_row_double_the_recheck_up_to_eight_times() {
        let t0 = Instant::now();
        let mut s = slot(None, None, 10, t0);
        let waits: Vec<Duration> = (0..5)
            .map(|_| {
                s.shared_answer(t0, true, true);
                s.room(t0).1.map_or(Duration::ZERO, |at| at - t0)
            })
            .collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(waits, [ms(10), ms(20), ms(40), ms(40), ms(40)]);
        s.shared_answer(t0, true, false);
        assert_eq!(s.room(t0).1, Some(t0 + CROWDED_RECHECK), "a claim that got some starts again from the shortest");
    }

    #[test]
    fn relisting_applies_edited_limits() {
        let t0 = Instant::now();
        let mut s = slot(None, None, 10, t0);
        let mut info = s.info.clone();
        info.rate_limit_per_second = Some(20);
        s.relist(info.clone(), t0);
        assert_eq!(s.room(t0), (2, None), "a tenth of a second's sends at once");
        info.rate_limit_per_second = None;
        info.max_concurrency = Some(3);
        s.relist(info, t0);
        assert_eq!(s.room(t0), (3, None));
    }
}
