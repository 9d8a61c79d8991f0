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
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_core::ids::{EndpointId, TenantId};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};

use super::breaker::{Admission, Breaker};
use super::grant::Grant;
use super::recorder::Recorder;
use super::slot::EndpointSlot;
use super::Engine;
use crate::error::Result;
use crate::ids::now_ms;
use crate::wake::Announced;

mod requests;
mod upkeep;

use requests::Finished;

/// The shortest gap between two scans when woken repeatedly.
const MIN_SCAN_GAP: Duration = Duration::from_millis(5);

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
    /// The room for each tenant the other nodes count as this node's for now (each
    /// endpoint's is on its slot).
    tenant_grants: HashMap<TenantId, Grant>,
    /// When a shared claim last handed this node a grant.
    granted_at: Option<Instant>,
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
    /// Drained endpoints whose queue heads are to be settled.
    unsettled: HashSet<EndpointId>,
    /// The background task settling the previous batch, if it is still running.
    settling: Option<tokio::task::JoinHandle<()>>,
    /// When the other live nodes were last counted (the count is `Stats::peers`):
    /// while there are any, every claim goes through the limits the nodes share.
    peers_seen: Option<Instant>,
}

impl Dispatcher {
    pub(super) fn new(engine: Arc<Engine>) -> Self {
        let recorder = Recorder::start(
            engine.store.clone(),
            engine.wake.clone(),
            engine.stats.clone(),
            engine.config.auto_disable(),
        );
        Self {
            engine,
            recorder,
            endpoints: HashMap::new(),
            tenant_in_flight: HashMap::new(),
            tenant_grants: HashMap::new(),
            granted_at: None,
            task_owner: HashMap::new(),
            tasks: JoinSet::new(),
            rotation: 0,
            started: 0,
            scans: 0,
            need_scan: true,
            last_scan: None,
            unsettled: HashSet::new(),
            settling: None,
            peers_seen: None,
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
            // A stop is heard even while the database keeps a scan or a claim waiting
            // (a pool timeout is seconds): the shutdown's grace counts from the stop.
            // Both may be dropped halfway. A scan only reads; a claim that committed
            // unheard leaves leases that the shutdown hands back, or that expire.
            if self.scan_due(now) {
                let scanned = tokio::select! {
                    biased;
                    _ = stop.wait_for(|stopping| *stopping) => break,
                    scanned = self.scan(now) => scanned,
                };
                if let Err(e) = scanned {
                    tracing::warn!(error = %e, "scanning for due work failed; retrying");
                }
            }
            let started_before = self.started;
            let dispatched = tokio::select! {
                biased;
                _ = stop.wait_for(|stopping| *stopping) => break,
                dispatched = self.dispatch() => dispatched,
            };
            let next_check = match dispatched {
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
                Wakeup::Work => self.heard(engine.wake.take()),
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
        self.engine.telemetry.scanned(now.elapsed());
        result
    }

    async fn scan_untimed(&mut self, now: Instant) -> Result<()> {
        // Whatever was announced before the scan is committed and the scan sees it.
        let _covered = self.engine.wake.take();
        self.settle_drained();
        self.count_peers(now).await;
        self.last_scan = Some(now);
        self.scans += 1;
        let cfg = &self.engine.config;
        let cap = cfg.tenant_cap();
        let skip: Vec<TenantId> =
            self.tenant_in_flight.iter().filter(|(_, n)| **n >= cap).map(|(t, _)| t.clone()).collect();
        // Circuits still cooling down keep their listing in memory and stay out of
        // the window, where their unmoving heads would crowd out their tenant's other
        // endpoints. Half-open ones are scanned like any other: a probe that found
        // nothing due unlisted its endpoint, and only a scan lists it again when its
        // next delivery falls due.
        let open: Vec<EndpointId> = self
            .endpoints
            .iter()
            .filter(|(_, s)| matches!(s.breaker.admission(now), Admission::OpenUntil(_)))
            .map(|(id, _)| id.clone())
            .collect();
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
        self.tenant_grants.retain(|_, grant| grant.room(0, now).is_some());
        self.need_scan = false;
        Ok(())
    }

    /// Takes in what woke the loop: endpoints this node already holds are listed
    /// again at once (their queue has work: the publish that named them committed);
    /// anything else asks for a scan. Nothing at all was announced when a scan since
    /// covered it.
    fn heard(&mut self, announced: Announced) {
        let mut unknown = announced.scan;
        for id in &announced.endpoints {
            match EndpointId::parse(id).ok().and_then(|id| self.endpoints.get_mut(&id)) {
                Some(slot) => slot.listed = true,
                None => unknown = true,
            }
        }
        self.need_scan |= unknown;
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
}
