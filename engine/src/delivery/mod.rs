//! The delivery engine: claims due deliveries from the queue, sends them, records
//! what happened and decides what comes next.
//!
//! One dispatcher task per node owns all scheduling state, so it needs no locks: it
//! looks for endpoints with due work, claims for each only as many deliveries as that
//! endpoint, its tenant and the node can take right now, and spawns one task per
//! request. Endpoints are served round-robin and each has its own concurrency cap,
//! rate limit and circuit breaker, so a tenant whose endpoint hangs holds at most
//! that endpoint's slots while every other endpoint keeps flowing. Results go to a
//! recorder task that writes them in batches: one transaction per batch, not per
//! request, is what lets SQLite keep up.

mod sender;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use sluice_core::ids::{EndpointId, TenantId};
use sluice_core::model::ErrorClass;
use sluice_core::retry;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;

use crate::config::EngineConfig;
use crate::error::Result;
use crate::ids::now_ms;
use crate::store::{Claimed, DueEndpoint, LifecycleEvent, NextStep, Outcome, Store};

pub use sender::{is_blocked, parse_retry_after, Sender, MAX_RESPONSE_BODY};

/// Counters for `/metrics`, updated by the engine.
#[derive(Debug, Default)]
pub struct Stats {
    pub attempts: AtomicU64,
    pub succeeded: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub exhausted: AtomicU64,
    pub in_flight: AtomicU64,
    pub claims: AtomicU64,
    pub record_batches: AtomicU64,
    pub record_errors: AtomicU64,
    /// This node's open circuits: endpoint → (consecutive failures, next probe in
    /// Unix ms). The dispatcher owns the breaker; this copy is for people to read.
    open_circuits: std::sync::Mutex<HashMap<EndpointId, (u32, i64)>>,
}

impl Stats {
    /// When this node next probes the endpoint, and after how many consecutive
    /// failures, if its circuit is open here. Each node has its own breaker.
    pub fn open_circuit(&self, endpoint: &EndpointId) -> Option<(u32, i64)> {
        self.circuits().get(endpoint).copied()
    }

    fn circuits(&self) -> std::sync::MutexGuard<'_, HashMap<EndpointId, (u32, i64)>> {
        // A panic elsewhere while holding it leaves a plain map: still usable.
        self.open_circuits.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn note_circuit(&self, endpoint: &EndpointId, slot: &Slot, now: Instant) {
        match slot.open_until {
            Some(until) => {
                let probe_ms = now_ms() + i64::try_from(until.saturating_duration_since(now).as_millis()).unwrap_or(0);
                self.circuits().insert(endpoint.clone(), (slot.failures, probe_ms));
            }
            None => {
                self.circuits().remove(endpoint);
            }
        }
    }
}

/// An attempt's outcome plus its side effects, ready for the recorder.
#[derive(Debug)]
struct Recorded {
    outcome: Outcome,
    disable: Option<(EndpointId, String)>,
    events: Vec<LifecycleEvent>,
}

/// What the dispatcher learns when a request finishes.
struct Done {
    endpoint: EndpointId,
    tenant: TenantId,
    ok: bool,
    gone: bool,
}

/// Per-endpoint scheduling state on this node.
struct Slot {
    info: DueEndpoint,
    keys: Arc<Vec<Vec<u8>>>,
    keys_version: i64,
    /// When the soonest grace-period secret expires: reload the keys then.
    keys_expire_ms: Option<i64>,
    in_flight: usize,
    /// Listed by the latest scan and not found empty since.
    listed: bool,
    tokens: f64,
    refilled: Instant,
    failures: u32,
    /// Circuit open until then; once passed, one probe at a time (half-open).
    open_until: Option<Instant>,
    cooldown: Duration,
}

impl Slot {
    fn new(info: DueEndpoint, now: Instant, base_cooldown: Duration) -> Self {
        let tokens = info.rate_limit_per_second.map(f64::from).unwrap_or(0.0);
        Self {
            info,
            keys: Arc::new(Vec::new()),
            keys_version: -1,
            keys_expire_ms: None,
            in_flight: 0,
            listed: true,
            tokens,
            refilled: now,
            failures: 0,
            open_until: None,
            cooldown: base_cooldown,
        }
    }

    /// How many more requests this endpoint may take now, and if none, when to look again.
    fn room(&mut self, now: Instant, concurrency: usize) -> (usize, Option<Instant>) {
        let mut cap = concurrency;
        if let Some(until) = self.open_until {
            if now < until {
                return (0, Some(until));
            }
            cap = 1; // half-open: a single probe
        }
        let mut room = cap.saturating_sub(self.in_flight);
        if let Some(rate) = self.info.rate_limit_per_second {
            let rate = f64::from(rate.max(1));
            let elapsed = now.duration_since(self.refilled).as_secs_f64();
            self.tokens = (self.tokens + elapsed * rate).min(rate);
            self.refilled = now;
            let whole = self.tokens.floor() as usize;
            if whole == 0 && room > 0 {
                let wait = Duration::from_secs_f64((1.0 - self.tokens) / rate);
                return (0, Some(now + wait));
            }
            room = room.min(whole);
        }
        (room, None)
    }

    fn finished(&mut self, ok: bool, now: Instant, threshold: u32, base: Duration) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if ok {
            self.failures = 0;
            self.open_until = None;
            self.cooldown = base;
            return;
        }
        self.failures += 1;
        if self.open_until.is_some() {
            // A failed probe: stay open, and wait longer before the next one.
            self.cooldown = (self.cooldown * 2).min(Duration::from_secs(600));
            self.open_until = Some(now + self.cooldown);
        } else if self.failures >= threshold {
            self.open_until = Some(now + self.cooldown);
        }
    }
}

/// The engine of one node.
pub struct Engine {
    store: Arc<dyn Store>,
    config: EngineConfig,
    sender: Sender,
    wake: Arc<Notify>,
    stats: Arc<Stats>,
}

impl Engine {
    pub fn new(store: Arc<dyn Store>, config: EngineConfig, wake: Arc<Notify>) -> anyhow::Result<Self> {
        let sender = Sender::new(config.request_timeout, config.allow_private_targets, config.endpoint_concurrency)?;
        Ok(Self { store, config, sender, wake, stats: Arc::new(Stats::default()) })
    }

    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// One pass, for tests: everything due now is claimed (up to one batch per
    /// endpoint), sent and recorded before this returns. Returns the attempts made.
    pub async fn run_once(&self) -> Result<usize> {
        let now = now_ms();
        let mut made = 0;
        for endpoint in self.store.due_endpoints(now, 10_000).await? {
            let (keys, _) = self.load_keys(&endpoint.id).await?;
            let lease_until = now + lease_ms(&self.config);
            let batch = self.config.claim_batch.max(1) as i64;
            let claimed = self.store.claim(&endpoint.id, now, lease_until, &self.config.node_id, batch).await?;
            let sends = claimed.iter().map(|c| self.sender.send(&endpoint.url, &keys, c));
            let results = futures::future::join_all(sends).await;
            let mut outcomes = Vec::new();
            let mut disable = Vec::new();
            let mut events = Vec::new();
            for (c, result) in claimed.iter().zip(results) {
                let r = decide(c, &endpoint, result, &self.stats);
                outcomes.push(r.outcome);
                disable.extend(r.disable);
                events.extend(r.events);
            }
            made += outcomes.len();
            self.store.record(&outcomes, &disable, &events, now_ms()).await?;
        }
        Ok(made)
    }

    /// Runs the dispatcher until `stop` becomes true, then shuts down gracefully:
    /// waits up to `shutdown_grace` for requests in flight, records them, and makes
    /// whatever is still leased due again so another node (or the next start) takes it.
    pub async fn run_until_stopped(self: Arc<Self>, mut stop: watch::Receiver<bool>) -> Result<()> {
        if let Err(e) = self.store.listen_for_work(self.wake.clone()).await {
            tracing::warn!(error = %e, "cannot listen for other nodes' wake-ups; polling only");
        }
        let (rec_tx, rec_rx) = mpsc::channel::<Recorded>(4_096);
        let recorder = tokio::spawn(record_loop(self.store.clone(), rec_rx, self.wake.clone(), self.stats.clone()));
        let mut tasks: JoinSet<Done> = JoinSet::new();
        let mut slots: HashMap<EndpointId, Slot> = HashMap::new();
        let mut tenants: HashMap<TenantId, usize> = HashMap::new();
        let mut in_flight = 0usize;
        let mut rotation = 0usize;
        let mut need_scan = true;
        let mut last_scan: Option<Instant> = None;
        let min_scan_gap = Duration::from_millis(5);
        let cfg = &self.config;

        loop {
            if *stop.borrow() {
                break;
            }
            let now = Instant::now();
            let scan_due = match last_scan {
                None => true,
                Some(at) => {
                    let since = now.duration_since(at);
                    since >= cfg.poll_interval || (need_scan && since >= min_scan_gap)
                }
            };
            if scan_due {
                match self.store.due_endpoints(now_ms(), 10_000).await {
                    Ok(due) => {
                        let listed: HashSet<EndpointId> = due.iter().map(|d| d.id.clone()).collect();
                        for d in due {
                            match slots.get_mut(&d.id) {
                                Some(slot) => {
                                    slot.info = d;
                                    slot.listed = true;
                                }
                                None => {
                                    slots.insert(d.id.clone(), Slot::new(d, now, cfg.breaker_cooldown));
                                }
                            }
                        }
                        // Forget idle endpoints that have nothing due, unless their
                        // circuit is open (that state must survive).
                        slots.retain(|id, s| {
                            if !listed.contains(id) {
                                s.listed = false;
                            }
                            s.listed || s.in_flight > 0 || s.open_until.is_some()
                        });
                        need_scan = false;
                    }
                    Err(e) => tracing::warn!(error = %e, "scanning for due work failed; retrying"),
                }
                last_scan = Some(now);
            }

            // Dispatch: round-robin over listed endpoints, in passes, so that when the
            // node is saturated every endpoint gets its turn.
            let mut next_check: Option<Instant> = None;
            let mut order: Vec<EndpointId> = slots.iter().filter(|(_, s)| s.listed).map(|(id, _)| id.clone()).collect();
            order.sort();
            if !order.is_empty() {
                let len = order.len();
                order.rotate_left(rotation % len);
                rotation = rotation.wrapping_add(1);
            }
            'passes: loop {
                let mut progressed = false;
                let eligible = order.len().max(1);
                for id in &order {
                    let free_workers = cfg.workers.saturating_sub(in_flight);
                    if free_workers == 0 {
                        break 'passes;
                    }
                    let Some(slot) = slots.get_mut(id) else { continue };
                    if !slot.listed {
                        continue;
                    }
                    let (room, retry_at) = slot.room(Instant::now(), cfg.endpoint_concurrency);
                    if let Some(at) = retry_at {
                        next_check = Some(next_check.map_or(at, |n: Instant| n.min(at)));
                    }
                    let tenant_used = tenants.get(&slot.info.tenant_id).copied().unwrap_or(0);
                    let quota = (free_workers / eligible).max(1);
                    let want = room
                        .min(cfg.tenant_concurrency.saturating_sub(tenant_used))
                        .min(free_workers)
                        .min(quota)
                        .min(cfg.claim_batch.max(1));
                    if want == 0 {
                        continue;
                    }
                    if slot.keys_version != slot.info.version || slot.keys_expire_ms.is_some_and(|t| t <= now_ms()) {
                        match self.load_keys(&slot.info.id).await {
                            Ok((keys, expire)) => {
                                slot.keys = Arc::new(keys);
                                slot.keys_expire_ms = expire;
                                slot.keys_version = slot.info.version;
                            }
                            Err(e) => {
                                tracing::warn!(endpoint = %slot.info.id, error = %e, "loading signing secrets failed");
                                continue;
                            }
                        }
                    }
                    let t = now_ms();
                    let claimed =
                        match self.store.claim(&slot.info.id, t, t + lease_ms(cfg), &cfg.node_id, want as i64).await {
                            Ok(c) => c,
                            Err(e) => {
                                tracing::warn!(endpoint = %slot.info.id, error = %e, "claiming failed; will retry");
                                need_scan = true;
                                break 'passes;
                            }
                        };
                    self.stats.claims.fetch_add(1, Ordering::Relaxed);
                    if claimed.len() < want {
                        slot.listed = false;
                    }
                    for c in claimed {
                        slot.in_flight += 1;
                        if slot.info.rate_limit_per_second.is_some() {
                            slot.tokens -= 1.0;
                        }
                        *tenants.entry(slot.info.tenant_id.clone()).or_default() += 1;
                        in_flight += 1;
                        self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
                        progressed = true;
                        let sender = self.sender.clone();
                        let keys = slot.keys.clone();
                        let endpoint = slot.info.clone();
                        let rec_tx = rec_tx.clone();
                        let stats = self.stats.clone();
                        tasks.spawn(async move {
                            let result = sender.send(&endpoint.url, &keys, &c).await;
                            let recorded = decide(&c, &endpoint, result, &stats);
                            let ok = recorded.outcome.next == NextStep::Succeeded;
                            let gone = recorded.disable.is_some();
                            // Waits when the recorder is behind: that backpressure keeps
                            // this slot busy, so nothing new is claimed meanwhile.
                            if rec_tx.send(recorded).await.is_err() {
                                tracing::error!("recorder stopped; the lease will expire and the delivery be retried");
                            }
                            Done { endpoint: endpoint.id, tenant: endpoint.tenant_id, ok, gone }
                        });
                    }
                }
                if !progressed {
                    break;
                }
            }

            let mut deadline = last_scan.map_or(Instant::now(), |at| at + cfg.poll_interval);
            if need_scan {
                deadline = deadline.min(last_scan.map_or(Instant::now(), |at| at + min_scan_gap));
            }
            if let Some(at) = next_check {
                deadline = deadline.min(at);
            }
            for slot in slots.values().filter(|s| s.listed) {
                if let Some(until) = slot.open_until {
                    deadline = deadline.min(until.max(Instant::now()));
                }
            }

            tokio::select! {
                biased;
                changed = stop.changed() => {
                    if changed.is_err() {
                        break; // the owner is gone: treat as a stop
                    }
                }
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    let mut finished = vec![joined];
                    while let Some(more) = tasks.try_join_next() {
                        finished.push(more);
                    }
                    let now = Instant::now();
                    for joined in finished {
                        in_flight = in_flight.saturating_sub(1);
                        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                        let Ok(done) = joined else { continue };
                        if let Some(n) = tenants.get_mut(&done.tenant) {
                            *n = n.saturating_sub(1);
                        }
                        if let Some(slot) = slots.get_mut(&done.endpoint) {
                            slot.finished(done.ok, now, cfg.breaker_threshold, cfg.breaker_cooldown);
                            self.stats.note_circuit(&done.endpoint, slot, now);
                            if done.gone {
                                slot.listed = false;
                            }
                        }
                    }
                    tenants.retain(|_, n| *n > 0);
                }
                _ = self.wake.notified() => { need_scan = true; }
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
        }

        // Graceful shutdown: nothing new is claimed from here on.
        tracing::info!(in_flight, "stopping: waiting for requests in flight");
        let grace = tokio::time::sleep(cfg.shutdown_grace);
        tokio::pin!(grace);
        while !tasks.is_empty() {
            tokio::select! {
                _ = &mut grace => {
                    tracing::warn!(left = tasks.len(), "grace period over; abandoning requests in flight");
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    break;
                }
                _ = tasks.join_next() => {}
            }
        }
        drop(rec_tx);
        if recorder.await.is_err() {
            tracing::error!("recorder task panicked");
        }
        match self.store.release_leases(&cfg.node_id, now_ms()).await {
            Ok(n) if n > 0 => tracing::info!(released = n, "released leases for other nodes"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "releasing leases failed; they expire by themselves"),
        }
        Ok(())
    }

    /// The decoded signing keys of an endpoint and when the soonest of them expires.
    async fn load_keys(&self, endpoint: &EndpointId) -> Result<(Vec<Vec<u8>>, Option<i64>)> {
        let secrets = self.store.valid_secrets(endpoint, now_ms()).await?;
        let expire = secrets.iter().filter_map(|s| s.expires_at_ms).min();
        let keys = secrets.iter().filter_map(|s| sluice_core::signing::decode_secret(&s.secret)).collect();
        Ok((keys, expire))
    }
}

fn lease_ms(cfg: &EngineConfig) -> i64 {
    i64::try_from(cfg.lease.as_millis()).unwrap_or(60_000)
}

/// Turns an attempt into the delivery's next step and its side effects.
fn decide(c: &Claimed, endpoint: &DueEndpoint, result: sender::SendResult, stats: &Stats) -> Recorded {
    let record = result.record;
    stats.attempts.fetch_add(1, Ordering::Relaxed);
    let mut disable = None;
    let mut events = Vec::new();
    let next = match record.error_class {
        None => {
            stats.succeeded.fetch_add(1, Ordering::Relaxed);
            NextStep::Succeeded
        }
        Some(class) => {
            stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
            if class == ErrorClass::Http410 {
                let reason = "the endpoint answered 410 Gone".to_owned();
                events.push(LifecycleEvent::new(
                    Some(&c.tenant_id),
                    "endpoint.disabled",
                    endpoint.id.as_str(),
                    "engine",
                    serde_json::json!({ "reason": reason, "delivery_id": c.delivery_id }),
                ));
                disable = Some((endpoint.id.clone(), reason));
            }
            let schedule: &[u32] = endpoint.retry_schedule.as_deref().unwrap_or(&retry::DEFAULT_SCHEDULE);
            let since_base = u32::try_from(record.number - c.retry_base).unwrap_or(u32::MAX);
            let unit: f64 = rand::thread_rng().gen();
            match retry::next_delay_ms(schedule, since_base, unit) {
                None => {
                    stats.exhausted.fetch_add(1, Ordering::Relaxed);
                    events.push(LifecycleEvent::new(
                        Some(&c.tenant_id),
                        "delivery.exhausted",
                        c.delivery_id.as_str(),
                        "engine",
                        serde_json::json!({ "message_id": c.message_id, "endpoint_id": c.endpoint_id, "attempts": record.number, "last_error_class": class }),
                    ));
                    NextStep::Exhausted
                }
                Some(delay) => {
                    let delay = result.retry_after_seconds.map_or(delay, |s| s * 1000);
                    NextStep::RetryAt(now_ms() + i64::try_from(delay).unwrap_or(i64::MAX / 2))
                }
            }
        }
    };
    Recorded { outcome: Outcome { lease_token: c.lease_token, attempt: record, next }, disable, events }
}

/// Writes outcomes in batches. A failed write is retried for a while; if the database
/// stays away longer, the batch is dropped and the leases expire, so the deliveries
/// are attempted again: at least once, never lost.
async fn record_loop(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Recorded>, wake: Arc<Notify>, stats: Arc<Stats>) {
    const MAX_BATCH: usize = 512;
    let mut buf = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut buf, MAX_BATCH).await > 0 {
        let mut outcomes = Vec::with_capacity(buf.len());
        let mut disable = Vec::new();
        let mut events = Vec::new();
        for r in buf.drain(..) {
            outcomes.push(r.outcome);
            disable.extend(r.disable);
            events.extend(r.events);
        }
        let mut backoff = Duration::from_millis(50);
        let started = Instant::now();
        loop {
            match store.record(&outcomes, &disable, &events, now_ms()).await {
                Ok(()) => {
                    stats.record_batches.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(e) => {
                    stats.record_errors.fetch_add(1, Ordering::Relaxed);
                    if started.elapsed() > Duration::from_secs(60) {
                        tracing::error!(error = %e, n = outcomes.len(), "giving up recording a batch; its deliveries will be retried when their leases expire");
                        break;
                    }
                    tracing::warn!(error = %e, "recording attempts failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        // Retries due (almost) now should not wait for the next poll.
        let soon = now_ms() + 1_000;
        if outcomes.iter().any(|o| matches!(o.next, NextStep::RetryAt(at) if at <= soon)) {
            wake.notify_one();
        }
    }
}
