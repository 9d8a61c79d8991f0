//! What this node's engine has done, for `/metrics` and the node status page: plain
//! counters, and which circuits are open here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sluice_core::ids::EndpointId;

use super::breaker::Breaker;
use super::decide::Verdict;
use crate::ids::now_ms;
use crate::store::{Claimed, NextStep};
use crate::telemetry::Telemetry;

/// Counters updated by the engine.
#[derive(Debug, Default)]
pub struct Stats {
    pub attempts: AtomicU64,
    pub succeeded: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub exhausted: AtomicU64,
    pub in_flight: AtomicU64,
    pub claims: AtomicU64,
    pub record_batches: AtomicU64,
    /// Verdicts the recorder has written, or given up on: once it equals `attempts`,
    /// every attempt made so far is in the database (or will be retried).
    pub recorded: AtomicU64,
    pub record_errors: AtomicU64,
    /// Successes whose outcome was fenced off because another claim had taken the
    /// lease over: the receiver got (or gets) that delivery twice.
    pub duplicate_sends: AtomicU64,
    /// Other live nodes on the database as this node last counted them: while any
    /// are, every claim goes through the limits the nodes share.
    pub peers: AtomicU64,
}

impl Stats {
    /// Counts one attempt by its verdict.
    pub(super) fn count(&self, verdict: &Verdict) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        match verdict.outcome.next {
            NextStep::Succeeded => self.succeeded.fetch_add(1, Ordering::Relaxed),
            NextStep::RetryAt(_) => self.failed_attempts.fetch_add(1, Ordering::Relaxed),
            NextStep::Exhausted => {
                self.exhausted.fetch_add(1, Ordering::Relaxed);
                self.failed_attempts.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// Counts one attempt in the metrics and, when it finished its delivery, the
/// delivery: `took` is the request's time, `now_ms` the moment it ended. Returns the
/// delivery's latency since publishing when it has one, for the caller to record
/// under the tenant's tier (which takes a lookup this function does not do).
///
/// Attempts are numbered within their run (a replay or recover starts the schedule
/// over, and its first try is attempt 1 again), and only the first run's success is
/// latency since publishing: a replay days later says nothing about delivery speed.
pub(super) fn observe(
    telemetry: &Telemetry,
    claim: &Claimed,
    verdict: &Verdict,
    took: Duration,
    now_ms: i64,
) -> Option<Duration> {
    let attempt = &verdict.outcome.attempt;
    let number_in_run = attempt.number - claim.retry_base;
    telemetry.attempt(&claim.tenant_id, number_in_run, verdict.succeeded(), attempt.error_class, took);
    match verdict.outcome.next {
        NextStep::Succeeded => {
            telemetry.delivered(&claim.tenant_id);
            let since_publish = now_ms.saturating_sub(claim.message_created_at_ms).max(0).unsigned_abs();
            (claim.retry_base == 0).then(|| Duration::from_millis(since_publish))
        }
        NextStep::Exhausted => {
            telemetry.exhausted(&claim.tenant_id);
            None
        }
        NextStep::RetryAt(_) => None,
    }
}

/// An endpoint whose circuit is open on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenCircuit {
    /// Consecutive failures so far.
    pub failures: u32,
    /// When this node next probes it, in Unix ms.
    pub next_probe_ms: i64,
}

/// The open circuits of this node, for people to read. The dispatcher owns the
/// breakers and writes here only when a circuit opens, changes or closes.
#[derive(Debug, Default)]
pub struct OpenCircuits(Mutex<HashMap<EndpointId, OpenCircuit>>);

impl OpenCircuits {
    pub fn get(&self, endpoint: &EndpointId) -> Option<OpenCircuit> {
        self.map().get(endpoint).copied()
    }

    /// How many circuits are open on this node.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }

    pub(super) fn show(&self, endpoint: &EndpointId, breaker: &Breaker, now: Instant) {
        match breaker.open_until() {
            Some(until) => {
                let wait_ms = i64::try_from(until.saturating_duration_since(now).as_millis()).unwrap_or(i64::MAX / 2);
                let open =
                    OpenCircuit { failures: breaker.failures(), next_probe_ms: now_ms().saturating_add(wait_ms) };
                self.map().insert(endpoint.clone(), open);
            }
            None => {
                self.map().remove(endpoint);
            }
        }
    }

    fn map(&self) -> MutexGuard<'_, HashMap<EndpointId, OpenCircuit>> {
        // A panic elsewhere while holding it leaves a plain map: still usable.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
