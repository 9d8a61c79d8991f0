//! The dispatcher's requests: claiming an endpoint's deliveries (under the limits
//! the nodes share, when they do) and starting one send task per delivery, and taking
//! in each task's end: its slots freed, its endpoint's breaker and concurrency limit
//! told, a circuit change passed on to the other nodes.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::Rng;
use sluice_core::ids::EndpointId;
use tokio::task::JoinError;
use tracing::Instrument as _;

use super::super::breaker::Admission;
use super::super::concurrency::{fast_enough, signal_of, Signal};
use super::super::decide::decide;
use super::super::grant;
use super::super::recorder::ToRecorder;
use super::super::shared;
use super::super::stats::observe;
use super::Dispatcher;
use crate::error::{Error, Result};
use crate::ids::now_ms;
use crate::store::{CircuitRecord, Claimed};
use crate::telemetry::{joined_ids, TRACE_TARGET};

/// What a send task reports when its request is done.
pub(super) struct Finished {
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

impl Dispatcher {
    /// Claims up to `want` deliveries of one endpoint and starts a request for each;
    /// returns how many started.
    pub(super) async fn claim_and_send(&mut self, id: &EndpointId, want: usize) -> Result<usize> {
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
        let (t, asked_at) = (now_ms(), Instant::now());
        let may_hold_grants = self.granted_at.is_some_and(|at| asked_at < at + grant::GRANT_FOR + grant::CLOCK_MARGIN);
        let lease_until = t + i64::try_from(cfg.lease.as_millis()).unwrap_or(60_000);
        let tenant = slot.info.tenant_id.clone();
        let claim_span = tracing::info_span!(target: TRACE_TARGET, "delivery.claim",
            endpoint.id = %id, tenant.id = %tenant, claimed = tracing::field::Empty,
            message.ids = tracing::field::Empty);
        let tenant_here = self.tenant_in_flight.get(&tenant).copied().unwrap_or(0);
        // A rate limit's schedule is always shared; the other limits once another
        // node is there to share them with, through a grant while this node holds
        // one (a rate limit or a circuit not closed asks the database every time).
        let peers = usize::try_from(engine.stats.peers.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        let rate_limited = slot.info.rate_limit_per_second.is_some();
        let closed = matches!(slot.breaker.admission(asked_at), Admission::Closed);
        let granted_room = (peers > 0 && !rate_limited && closed)
            .then(|| {
                grant::room(
                    slot.grant,
                    self.tenant_grants.get(&tenant).copied(),
                    (slot.in_flight, tenant_here),
                    asked_at,
                )
            })
            .flatten();
        let (claimed, granted) = if let Some(room) = granted_room {
            let asked = want.min(room);
            if asked == 0 {
                // The grant is full: one of this node's own requests ends first.
                return Ok(0);
            }
            let margin = i64::try_from(grant::CLOCK_MARGIN.as_millis()).unwrap_or(250);
            let clocks = (t, lease_until, cfg.node_id.as_str());
            let claiming = engine.store.claim_granted(id, &tenant, margin, clocks, asked as i64);
            let claimed = claiming.instrument(claim_span.clone()).await?;
            // Fewer than asked: drained, or the shared circuit is not closed. Either
            // way the grant is kept: dropping it at every drain of a queue that
            // publishing keeps refilling would send most claims back to the shared
            // one, and a circuit opened elsewhere is learnt from the shared claim
            // once the grant ends, no request sent meanwhile.
            slot.started(claimed.len(), Instant::now());
            (claimed, asked)
        } else if rate_limited || peers > 0 || may_hold_grants {
            // A node that has just stopped counting peers may still hold grants the
            // others count instead of its leases (until a grant's whole length and
            // the margin after its last ask): its shared claims,
            // asking for none, end them before it claims the plain way beyond them.
            let ask = (peers > 0).then(|| grant::ask(slot.max_concurrency(), cfg.tenant_cap(), peers));
            if ask.is_some() {
                // Before the answer: a call that commits and then fails still grants.
                self.granted_at = Some(asked_at);
            }
            let lease = (t, lease_until, cfg.node_id.as_str());
            let store = engine.store.as_ref();
            let claiming = shared::claim(store, slot, tenant_here, cfg.tenant_cap(), want, ask, asked_at, lease);
            let answer = claiming.instrument(claim_span.clone()).await;
            if answer.is_err() {
                // The call may have committed with its answer lost, writing grants
                // smaller than those held here: hold none until the next answer.
                slot.grant = None;
                self.tenant_grants.remove(&tenant);
            }
            let shared = match answer {
                Ok(claimed) => claimed,
                // Another node holds the tenant's lock too long: skip this endpoint
                // this pass, the others go on.
                Err(Error::Unavailable(why)) => {
                    tracing::warn!(endpoint = %id, %why, "claiming under the shared limits timed out");
                    return Ok(0);
                }
                Err(e) => return Err(e),
            };
            match shared {
                Some(shared) => {
                    if shared.circuit_changed {
                        engine.circuits.show(id, &slot.breaker, Instant::now());
                    }
                    match shared.tenant_grant {
                        Some(g) => self.tenant_grants.insert(tenant.clone(), g),
                        None => self.tenant_grants.remove(&tenant),
                    };
                    (shared.claimed, shared.granted)
                }
                None => self.claim_plain(id, want, (t, lease_until), &claim_span).await?,
            }
        } else {
            self.claim_plain(id, want, (t, lease_until), &claim_span).await?
        };
        // Nothing forgets an endpoint while it is being claimed for.
        let slot = self.endpoints.get_mut(id).ok_or_else(|| Error::Internal(format!("endpoint {id} vanished")))?;
        engine.stats.claims.fetch_add(1, Ordering::Relaxed);
        if !claim_span.is_disabled() {
            claim_span.record("claimed", claimed.len());
            claim_span.record("message.ids", joined_ids(claimed.iter().map(|c| c.message_id.as_str())));
        }
        if claimed.len() < granted {
            // Drained: wait for the next scan, and have the queue head moved to the
            // next pending delivery (see `settle_drained`).
            slot.listed = false;
            self.unsettled.insert(id.clone());
        }
        let started = claimed.len();
        self.started += started;
        *self.tenant_in_flight.entry(tenant.clone()).or_default() += claimed.len();
        let round = slot.limit.round();
        let probe = matches!(slot.breaker.admission(Instant::now()), Admission::Probe);
        let fast = fast_enough(cfg.request_timeout);
        for claim in claimed {
            engine.stats.in_flight.fetch_add(1, Ordering::Relaxed);
            let sender = if claim.tenant_id.is_canary() { &engine.canary_sender } else { &engine.sender }.clone();
            let stats = engine.stats.clone();
            let telemetry = engine.telemetry.clone();
            let (tiers, store) = (engine.tiers.clone(), engine.store.clone());
            let keys = slot.keys.keys();
            let endpoint = slot.info.clone();
            let inbox = self.recorder.inbox();
            let send_span = tracing::info_span!(target: TRACE_TARGET, parent: &claim_span, "delivery.send",
                otel.kind = "client", message.id = %claim.message_id, delivery.id = %claim.delivery_id,
                endpoint.id = %claim.endpoint_id, tenant.id = %claim.tenant_id, attempt = claim.attempts + 1,
                http.response.status_code = tracing::field::Empty, error.class = tracing::field::Empty);
            let task = self.tasks.spawn(
                async move {
                    let result = sender.send(&endpoint.url, &keys, &claim).await;
                    let span = tracing::Span::current();
                    if let Some(status) = result.record.response_status {
                        span.record("http.response.status_code", status);
                    }
                    if let Some(class) = result.record.error_class {
                        span.record("error.class", class.as_str());
                    }
                    let jitter: f64 = rand::thread_rng().gen();
                    let attempt = &result.record;
                    let took = Duration::from_millis(u64::try_from(attempt.duration_ms).unwrap_or(0));
                    let signal = signal_of(attempt.error_class, took, fast);
                    let now = now_ms();
                    let verdict = decide(&claim, &endpoint, result, now, jitter);
                    stats.count(&verdict);
                    let latency = observe(&telemetry, &claim, &verdict, took, now);
                    let finished =
                        Finished { ok: verdict.succeeded(), gone: verdict.disable.is_some(), signal, round, probe };
                    // Waits when the recorder is behind: that backpressure keeps this
                    // slot busy, so nothing new is claimed meanwhile.
                    if inbox.send(ToRecorder::Verdict(verdict)).await.is_err() {
                        tracing::error!("recorder stopped; the lease will expire and the delivery be retried");
                    }
                    // After the outcome is on its way: a tier not yet known costs this
                    // task one read, never the recorder or the dispatcher's loop.
                    // The canary's loopback deliveries would flatter its tier's latency.
                    if let Some(latency) = latency.filter(|_| !claim.tenant_id.is_canary()) {
                        let tier = tiers.tier(store.as_ref(), &claim.tenant_id).await;
                        telemetry.delivery_latency(&tier, latency);
                    }
                    finished
                }
                .instrument(send_span),
            );
            self.task_owner.insert(task.id(), (id.clone(), tenant.clone()));
        }
        Ok(started)
    }

    /// Claims up to `want` the way one node alone does, with nobody to share with.
    async fn claim_plain(
        &mut self,
        id: &EndpointId,
        want: usize,
        (t, lease_until): (i64, i64),
        span: &tracing::Span,
    ) -> Result<(Vec<Claimed>, usize)> {
        let engine = self.engine.clone();
        let claiming = engine.store.claim(id, t, lease_until, &engine.config.node_id, want as i64);
        let claimed = claiming.instrument(span.clone()).await?;
        if let Some(slot) = self.endpoints.get_mut(id) {
            slot.started(claimed.len(), Instant::now());
        }
        Ok((claimed, want))
    }

    /// A send task ended: free its slots and tell its endpoint's breaker.
    pub(super) fn finished(&mut self, joined: Result<(tokio::task::Id, Finished), JoinError>, now: Instant) {
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
        slot.ended();
        let Some(finished) = finished else { return };
        let was_open = slot.breaker.is_open();
        slot.breaker.record(finished.ok, finished.probe, now);
        let change = shared::circuit_change(was_open, &slot.breaker, finished.probe && !finished.ok);
        if let Some(change) = change {
            // The other nodes hear of it through the recorder, after the outcomes
            // before it; a full inbox drops it (they then find out by themselves).
            let record = CircuitRecord { endpoint: endpoint.clone(), tenant: tenant.clone(), change };
            if self.recorder.inbox().try_send(ToRecorder::Circuit(record)).is_err() {
                tracing::warn!(%endpoint, "the recorder is behind; this circuit change stays on this node");
            }
        }
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
}
