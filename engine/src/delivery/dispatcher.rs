//! The dispatcher: the one loop that decides what this node sends next.
//!
//! It owns all scheduling state, so it needs no locks: it looks for endpoints with
//! due work, claims for each only as many deliveries as that endpoint, its tenant and
//! the node can take right now, and spawns one task per request. Tenants are served
//! round-robin in passes, then each tenant's endpoints, so when the node is saturated
//! every tenant gets its share however many endpoints the others have, and a tenant
//! whose endpoint hangs holds at most that endpoint's slots.
//!
//! Split as `run_until_stopped → step` (the zero2prod worker shape): tests drive
//! [`Dispatcher::step`], which is the real scheduler's pass, not a simplified copy.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use sluice_core::ids::{EndpointId, TenantId};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};

use super::breaker::{Admission, Breaker};
use super::concurrency::{fast_enough, signal_of, Signal};
use super::decide::decide;
use super::recorder::{Recorder, ToRecorder};
use super::shared_rate::{self, Reservation};
use super::slot::EndpointSlot;
use super::Engine;
use crate::error::Result;
use crate::ids::now_ms;

/// The shortest gap between two scans when woken repeatedly.
const MIN_SCAN_GAP: Duration = Duration::from_millis(5);

/// What a send task reports when its request is done.
struct Finished {
    ok: bool,
    /// The endpoint answered 410 Gone and is being disabled.
    gone: bool,
    /// What the attempt says about the endpoint's capacity.
    signal: Signal,
    /// The concurrency limit's round when the request started.
    round: u64,
    /// Sent as the open circuit's probe.
    probe: bool,
}

/// Why the loop woke up.
enum Wakeup {
    Stop,
    Finished(Result<(tokio::task::Id, Finished), JoinError>),
    Work,
    Timer,
}

pub struct Dispatcher {
    engine: Arc<Engine>,
    recorder: Recorder,
    endpoints: HashMap<EndpointId, EndpointSlot>,
    tenant_in_flight: HashMap<TenantId, usize>,
    /// Which endpoint and tenant each running send task belongs to.
    task_owner: HashMap<tokio::task::Id, (EndpointId, TenantId)>,
    tasks: JoinSet<Finished>,
    rotation: usize,
    /// Requests started since this dispatcher was made.
    started: usize,
    /// Scans started since this dispatcher was made.
    scans: u64,
    need_scan: bool,
    last_scan: Option<Instant>,
    /// Drained endpoints whose queue heads are to be settled, with the version read.
    unsettled: HashMap<EndpointId, i64>,
    /// The background task settling the previous batch, if it is still running.
    settling: Option<tokio::task::JoinHandle<()>>,
}

impl Dispatcher {
    pub(super) fn new(engine: Arc<Engine>) -> Self {
        let recorder = Recorder::start(engine.store.clone(), engine.wake.clone(), engine.stats.clone());
        Self {
            engine,
            recorder,
            endpoints: HashMap::new(),
            tenant_in_flight: HashMap::new(),
            task_owner: HashMap::new(),
            tasks: JoinSet::new(),
            rotation: 0,
            started: 0,
            scans: 0,
            need_scan: true,
            last_scan: None,
            unsettled: HashMap::new(),
            settling: None,
        }
    }

    /// One pass of the scheduler, for tests: looks for due work, claims and sends as
    /// much as every limit allows right now, waits for those requests and records
    /// them. Returns the attempts made.
    pub async fn step(&mut self) -> Result<usize> {
        let before = self.started;
        self.scan(Instant::now()).await?;
        self.dispatch().await?;
        while let Some(joined) = self.tasks.join_next_with_id().await {
            self.finished(joined, Instant::now());
        }
        self.recorder.flush().await;
        self.settle_drained();
        if let Some(settling) = self.settling.take() {
            let _ = settling.await;
        }
        Ok(self.started - before)
    }

    /// Runs until `stop` becomes true, then shuts down gracefully: waits up to
    /// `shutdown_grace` for requests in flight, records them, and makes whatever is
    /// still leased due again so another node (or the next start) takes it.
    pub async fn run_until_stopped(mut self, mut stop: watch::Receiver<bool>) -> Result<()> {
        let engine = self.engine.clone();
        if let Err(e) = engine.store.listen_for_work(engine.wake.clone()).await {
            tracing::warn!(error = %e, "cannot listen for other nodes' wake-ups; polling only");
        }
        loop {
            if *stop.borrow() {
                break;
            }
            let now = Instant::now();
            if self.scan_due(now) {
                if let Err(e) = self.scan(now).await {
                    tracing::warn!(error = %e, "scanning for due work failed; retrying");
                }
            }
            let started_before = self.started;
            let next_check = match self.dispatch().await {
                Ok(at) => at,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming failed; will retry");
                    None
                }
            };
            let idle = self.tasks.is_empty() && self.started == started_before && !self.need_scan;
            engine.quiet.send_if_modified(|q| {
                let now = super::Quiet { scans: self.scans, idle };
                std::mem::replace(q, now) != now
            });
            let deadline = self.deadline(next_check);
            let wakeup = tokio::select! {
                biased;
                changed = stop.changed() => if changed.is_err() { Wakeup::Stop } else { Wakeup::Timer },
                Some(joined) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => Wakeup::Finished(joined),
                _ = engine.wake.notified() => Wakeup::Work,
                _ = tokio::time::sleep_until(deadline.into()) => Wakeup::Timer,
            };
            match wakeup {
                Wakeup::Stop => break, // the owner is gone: treat as a stop
                Wakeup::Finished(joined) => {
                    let now = Instant::now();
                    self.finished(joined, now);
                    while let Some(more) = self.tasks.try_join_next_with_id() {
                        self.finished(more, now);
                    }
                }
                Wakeup::Work => self.need_scan = true,
                Wakeup::Timer => {}
            }
        }
        self.shutdown().await;
        Ok(())
    }

    fn scan_due(&self, now: Instant) -> bool {
        self.last_scan.is_none_or(|at| {
            let since = now.duration_since(at);
            since >= self.engine.config.poll_interval || (self.need_scan && since >= MIN_SCAN_GAP)
        })
    }

    /// Lists endpoints with due work and forgets idle ones. Tenants at their cap are
    /// left out of the query (their endpoints keep whatever they were listed as), so
    /// their due endpoints cannot take the window from anyone else's.
    async fn scan(&mut self, now: Instant) -> Result<()> {
        let result = self.scan_untimed(now).await;
        let micros = u64::try_from(now.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.engine.stats.scans.fetch_add(1, Ordering::Relaxed);
        self.engine.stats.scan_micros.fetch_add(micros, Ordering::Relaxed);
        result
    }

    async fn scan_untimed(&mut self, now: Instant) -> Result<()> {
        self.settle_drained();
        self.last_scan = Some(now);
        self.scans += 1;
        let cfg = &self.engine.config;
        let cap = cfg.tenant_cap();
        let skip: Vec<TenantId> =
            self.tenant_in_flight.iter().filter(|(_, n)| **n >= cap).map(|(t, _)| t.clone()).collect();
        // Open circuits keep their listing in memory (the probe goes from there) and
        // stay out of the window, where their unmoving heads would crowd out their
        // tenant's other endpoints.
        let open: Vec<EndpointId> =
            self.endpoints.iter().filter(|(_, s)| s.breaker.is_open()).map(|(id, _)| id.clone()).collect();
        let per_tenant = i64::try_from(cap).unwrap_or(i64::MAX);
        let limit = i64::try_from(cfg.scan_limit).unwrap_or(i64::MAX);
        let due = self.engine.store.due_endpoints(now_ms(), per_tenant, limit, &skip, &open).await?;
        let listed: HashSet<EndpointId> = due.iter().map(|d| d.id.clone()).collect();
        for d in due {
            match self.endpoints.get_mut(&d.id) {
                Some(slot) => slot.relist(d, now),
                None => {
                    let breaker = Breaker::new(cfg.breaker_threshold, cfg.breaker_cooldown);
                    let slot = EndpointSlot::new(d, breaker, now, cfg.endpoint_concurrency);
                    self.endpoints.insert(slot.info.id.clone(), slot);
                }
            }
        }
        for (id, slot) in &mut self.endpoints {
            if !listed.contains(id) && !skip.contains(&slot.info.tenant_id) && !slot.breaker.is_open() {
                slot.listed = false;
            }
        }
        self.endpoints.retain(|_, slot| !slot.forgettable());
        self.need_scan = false;
        Ok(())
    }

    /// The listed endpoints grouped by tenant: tenants in a rotating order, and each
    /// tenant's endpoints rotating too, so nobody is always first.
    fn rotation_order(&mut self) -> Vec<Vec<EndpointId>> {
        let mut by_tenant: BTreeMap<&TenantId, Vec<EndpointId>> = BTreeMap::new();
        for (id, slot) in self.endpoints.iter().filter(|(_, s)| s.listed) {
            by_tenant.entry(&slot.info.tenant_id).or_default().push(id.clone());
        }
        let turn = self.rotation;
        self.rotation = self.rotation.wrapping_add(1);
        let mut order: Vec<Vec<EndpointId>> = by_tenant
            .into_values()
            .map(|mut endpoints| {
                endpoints.sort();
                let len = endpoints.len();
                endpoints.rotate_left(turn % len);
                endpoints
            })
            .collect();
        if !order.is_empty() {
            let len = order.len();
            order.rotate_left(turn % len);
        }
        order
    }

    /// Claims and sends round-robin over tenants and their listed endpoints, in
    /// passes, until nothing more can start. Returns when a rate limit or breaker next
    /// allows more.
    async fn dispatch(&mut self) -> Result<Option<Instant>> {
        let mut next_check: Option<Instant> = None;
        let order = self.rotation_order();
        let tenants = order.len().max(1);
        loop {
            // Requests that finished since the last pass free their slots and tell
            // their breakers first: an endpoint that just failed or answered 410
            // must not be claimed for again in the same round.
            let now = Instant::now();
            while let Some(joined) = self.tasks.try_join_next_with_id() {
                self.finished(joined, now);
            }
            // Each pass splits the workers free at its start evenly between tenants,
            // and a tenant's share between its endpoints, so neither the first in the
            // rotation nor the tenant with the most endpoints takes the others' share.
            let free_at_start = self.engine.config.workers.saturating_sub(self.task_owner.len());
            let tenant_share = (free_at_start / tenants).max(1);
            let mut progressed = false;
            for endpoints in &order {
                let mut budget = tenant_share;
                let endpoint_share = (tenant_share / endpoints.len().max(1)).max(1);
                for id in endpoints {
                    let free_workers = self.engine.config.workers.saturating_sub(self.task_owner.len());
                    if free_workers == 0 {
                        return Ok(next_check);
                    }
                    if budget == 0 {
                        break;
                    }
                    let (want, retry_at) = self.want(id, free_workers, endpoint_share.min(budget));
                    if let Some(at) = retry_at {
                        next_check = Some(next_check.map_or(at, |n| n.min(at)));
                    }
                    if want > 0 {
                        match self.claim_and_send(id, want).await {
                            Ok(started) => {
                                progressed |= started > 0;
                                budget = budget.saturating_sub(started);
                                if started == 0 {
                                    // Perhaps refused by the shared rate limit: look
                                    // again when the endpoint's bucket says.
                                    if let (_, Some(at)) = self.want(id, free_workers, 1) {
                                        next_check = Some(next_check.map_or(at, |n| n.min(at)));
                                    }
                                }
                            }
                            Err(e) => {
                                self.need_scan = true;
                                return Err(e);
                            }
                        }
                    }
                }
            }
            if !progressed {
                return Ok(next_check);
            }
        }
    }

    /// How many deliveries to claim for endpoint `id` now: the least of its own room,
    /// its tenant's, the node's free workers, its fair share of them, and one batch.
    fn want(&mut self, id: &EndpointId, free_workers: usize, fair_share: usize) -> (usize, Option<Instant>) {
        let cfg = &self.engine.config;
        let Some(slot) = self.endpoints.get_mut(id).filter(|s| s.listed) else { return (0, None) };
        let (room, retry_at) = slot.room(Instant::now());
        let tenant_used = self.tenant_in_flight.get(&slot.info.tenant_id).copied().unwrap_or(0);
        let want = room
            .min(cfg.tenant_cap().saturating_sub(tenant_used))
            .min(free_workers)
            .min(fair_share)
            .min(cfg.claim_batch.max(1));
        (want, retry_at)
    }

    /// Claims up to `want` deliveries of one endpoint and starts a request for each;
    /// returns how many started.
    async fn claim_and_send(&mut self, id: &EndpointId, want: usize) -> Result<usize> {
        let engine = self.engine.clone();
        let cfg = &engine.config;
        let Some(slot) = self.endpoints.get_mut(id) else { return Ok(0) };
        if !slot.keys.is_fresh(slot.info.version, now_ms()) {
            match engine.store.valid_secrets(id, now_ms()).await {
                Ok(secrets) => slot.keys.fill(&secrets, slot.info.version),
                Err(e) => {
                    // Skip this endpoint this pass; the others go on.
                    tracing::warn!(endpoint = %id, error = %e, "loading signing secrets failed");
                    return Ok(0);
                }
            }
        }
        // A rate limit holds across every node on the database: the sends are
        // reserved there first.
        let (want, shared_schedule) = match shared_rate::reserve(engine.store.as_ref(), id, slot, want).await {
            Reservation::Granted { sends, shared_schedule } => (sends, shared_schedule),
            Reservation::Refused => return Ok(0),
        };
        let t = now_ms();
        let lease_until = t + i64::try_from(cfg.lease.as_millis()).unwrap_or(60_000);
        let claimed = engine.store.claim(id, t, lease_until, &cfg.node_id, want as i64).await?;
        engine.stats.claims.fetch_add(1, Ordering::Relaxed);
        if claimed.len() < want {
            // Drained: wait for the next scan, and have the queue head moved to the
            // next pending delivery (see `settle_drained`).
            slot.listed = false;
            self.unsettled.insert(id.clone(), slot.info.due_version);
        }
        let started = claimed.len();
        let now = Instant::now();
        slot.started(started, now);
        if let Some(ahead) = shared_schedule {
            // After `started`: the shared schedule already counts these sends.
            slot.catch_up(now, ahead);
        }
        self.started += started;
        let tenant = slot.info.tenant_id.clone();
        *self.tenant_in_flight.entry(tenant.clone()).or_default() += claimed.len();
        let round = slot.limit.round();
        let probe = matches!(slot.breaker.admission(Instant::now()), Admission::Probe);
        let fast = fast_enough(cfg.request_timeout);
        for claim in claimed {
            engine.stats.in_flight.fetch_add(1, Ordering::Relaxed);
            let sender = engine.sender.clone();
            let stats = engine.stats.clone();
            let keys = slot.keys.keys();
            let endpoint = slot.info.clone();
            let inbox = self.recorder.inbox();
            let task = self.tasks.spawn(async move {
                let result = sender.send(&endpoint.url, &keys, &claim).await;
                let jitter: f64 = rand::thread_rng().gen();
                let attempt = &result.record;
                let took = Duration::from_millis(u64::try_from(attempt.duration_ms).unwrap_or(0));
                let signal = signal_of(attempt.error_class, took, fast);
                let verdict = decide(&claim, &endpoint, result, now_ms(), jitter);
                stats.count(&verdict);
                let finished =
                    Finished { ok: verdict.succeeded(), gone: verdict.disable.is_some(), signal, round, probe };
                // Waits when the recorder is behind: that backpressure keeps this
                // slot busy, so nothing new is claimed meanwhile.
                if inbox.send(ToRecorder::Verdict(verdict)).await.is_err() {
                    tracing::error!("recorder stopped; the lease will expire and the delivery be retried");
                }
                finished
            });
            self.task_owner.insert(task.id(), (id.clone(), tenant.clone()));
        }
        Ok(started)
    }

    /// Moves the queue heads of drained endpoints on, in a background task: off the
    /// path of the next claim and send (on PostgreSQL each is a commit), one batch at
    /// a time. A head left early meanwhile costs an empty claim, never a delivery.
    fn settle_drained(&mut self) {
        if self.unsettled.is_empty() || self.settling.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let batch = std::mem::take(&mut self.unsettled);
        let store = self.engine.store.clone();
        self.settling = Some(tokio::spawn(async move {
            for (endpoint, seen_version) in batch {
                if let Err(e) = store.settle_head(&endpoint, seen_version).await {
                    tracing::warn!(%endpoint, error = %e, "settling a queue head failed; it stays early");
                }
            }
        }));
    }

    /// A send task ended: free its slots and tell its endpoint's breaker.
    fn finished(&mut self, joined: Result<(tokio::task::Id, Finished), JoinError>, now: Instant) {
        let (task, finished) = match joined {
            Ok((task, finished)) => (task, Some(finished)),
            Err(e) => {
                tracing::error!(error = %e, "a send task failed; its lease will expire and it is retried");
                (e.id(), None)
            }
        };
        self.engine.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        let Some((endpoint, tenant)) = self.task_owner.remove(&task) else { return };
        if let Some(n) = self.tenant_in_flight.get_mut(&tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.tenant_in_flight.remove(&tenant);
            }
        }
        let Some(slot) = self.endpoints.get_mut(&endpoint) else { return };
        slot.in_flight = slot.in_flight.saturating_sub(1);
        let Some(finished) = finished else { return };
        let was_open = slot.breaker.is_open();
        slot.breaker.record(finished.ok, finished.probe, now);
        slot.limit.finished(finished.signal, finished.round);
        if was_open && !slot.breaker.is_open() {
            // Back after an outage: ramp up from one slot, not straight into its
            // whole backlog at full concurrency.
            slot.limit.restart();
        }
        // Only an open (or just closed) circuit changes what people are shown.
        if was_open || slot.breaker.is_open() {
            self.engine.circuits.show(&endpoint, &slot.breaker, now);
        }
        if finished.gone {
            slot.listed = false;
        }
    }

    /// When the loop must look again even if nothing wakes it.
    fn deadline(&self, next_check: Option<Instant>) -> Instant {
        let now = Instant::now();
        let poll = self.engine.config.poll_interval;
        let mut deadline = self.last_scan.map_or(now, |at| at + poll);
        if self.need_scan {
            deadline = deadline.min(self.last_scan.map_or(now, |at| at + MIN_SCAN_GAP));
        }
        if let Some(at) = next_check {
            deadline = deadline.min(at);
        }
        for slot in self.endpoints.values().filter(|s| s.listed) {
            if let Some(until) = slot.breaker.open_until() {
                deadline = deadline.min(until.max(now));
            }
        }
        deadline
    }

    async fn shutdown(mut self) {
        let engine = self.engine.clone();
        let cfg = &engine.config;
        tracing::info!(in_flight = self.tasks.len(), "stopping: waiting for requests in flight");
        let grace = tokio::time::sleep(cfg.shutdown_grace);
        tokio::pin!(grace);
        while !self.tasks.is_empty() {
            tokio::select! {
                _ = &mut grace => {
                    tracing::warn!(left = self.tasks.len(), "grace period over; abandoning requests in flight");
                    self.tasks.abort_all();
                    while self.tasks.join_next().await.is_some() {}
                    break;
                }
                Some(joined) = self.tasks.join_next_with_id() => self.finished(joined, Instant::now()),
            }
        }
        self.recorder.stop().await;
        match engine.store.release_leases(&cfg.node_id, now_ms()).await {
            Ok(n) if n > 0 => tracing::info!(released = n, "released leases for other nodes"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "releasing leases failed; they expire by themselves"),
        }
    }
}
