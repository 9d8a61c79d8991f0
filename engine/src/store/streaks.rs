//! Failure streaks: what a batch of recorded attempts does to each endpoint's run of
//! failed attempts, the fact auto-disable is decided on.
//!
//! Folded here, without a database, so the rules (a success ends a streak; failures
//! after it start a new one; failures alone extend it) are checked by plain tests.
//! The store writes the result in the transaction that records the attempts.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sluice_core::ids::EndpointId;

use super::Outcome;
use crate::access::TenantScope;
use crate::error::Result;

/// When an endpoint is disabled for failing: how long every attempt must have failed,
/// and how many attempts that must have been. `after_ms` of 0 never disables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoDisable {
    /// The platform's default; a tenant's `auto_disable_after_seconds` overrides it.
    pub after_ms: i64,
    pub min_attempts: i64,
}

impl AutoDisable {
    /// Never disables (stores driven directly by tests that are not about it).
    pub const NEVER: Self = Self { after_ms: 0, min_attempts: i64::MAX };
}

/// A run of failed attempts, as this batch saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    /// When the first failed attempt of the run started.
    pub since_ms: i64,
    pub count: i64,
    /// When the last one started.
    pub last_ms: i64,
}

/// An endpoint whose every attempt has failed since `failures.since_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureStreak {
    pub endpoint_id: EndpointId,
    pub failures: Failures,
}

/// Reading and ending streaks; the recorder writes them (`QueueStore::record`).
#[async_trait]
pub trait StreakStore: Send + Sync {
    /// The tenant's endpoints that are failing every attempt, with their streaks.
    async fn failure_streaks(&self, tenant: &TenantScope) -> Result<Vec<FailureStreak>>;
    /// Ends the endpoint's streak (it was enabled again: a fresh period starts),
    /// answering the streak it had.
    async fn end_failure_streak(&self, tenant: &TenantScope, endpoint: &EndpointId) -> Result<Option<FailureStreak>>;
    /// Ends every streak of the tenant's endpoints (it is being resumed: a
    /// suspension's pause is not failing), answering how many there were.
    async fn end_tenant_streaks(&self, tenant: &TenantScope) -> Result<u64>;
}

/// A batch's run of failures for one endpoint, with the deliveries they were for:
/// one message failing on its own (a payload the receiver rejects, retried through
/// its whole schedule) must not disable an endpoint, so a streak counts only once it
/// holds failures of two deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run<'a> {
    pub failures: Failures,
    /// The delivery of the run's first failure.
    pub first_delivery: &'a str,
    /// Whether the run holds failures of any other delivery.
    pub several_deliveries: bool,
}

/// What one batch does to one endpoint's streak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreakChange<'a> {
    /// Its last attempt in the batch succeeded: no streak.
    Clear,
    /// A success, then failures: the streak starts over with these.
    Restart(Run<'a>),
    /// Only failures: they add to the streak there is, or start one.
    Extend(Run<'a>),
}

/// One endpoint's attempts in a batch so far: its tenant, when its last success
/// started, and the failures after it in start order, with their deliveries.
type Seen<'a> = (&'a str, Option<i64>, Vec<(i64, &'a str)>);

/// Each endpoint's change (with its tenant), in endpoint id order: the order rows are
/// written in, so two nodes' recorders lock them alike and cannot deadlock.
pub fn fold(outcomes: &[Outcome]) -> BTreeMap<&str, (&str, StreakChange<'_>)> {
    let mut seen: BTreeMap<&str, Seen<'_>> = BTreeMap::new();
    let mut ordered: Vec<&Outcome> = outcomes.iter().collect();
    ordered.sort_by_key(|o| o.attempt.started_at_ms);
    for o in ordered {
        let a = &o.attempt;
        let entry = seen.entry(a.endpoint_id.as_str()).or_insert((a.tenant_id.as_str(), None, Vec::new()));
        if a.error_class.is_none() {
            entry.1 = Some(a.started_at_ms);
            entry.2.clear();
        } else {
            entry.2.push((a.started_at_ms, a.delivery_id.as_str()));
        }
    }
    seen.into_iter()
        .map(|(endpoint, (tenant, success, failed))| {
            let failures = match (failed.first(), failed.last()) {
                (Some(&(since_ms, first_delivery)), Some(&(last_ms, _))) => Some(Run {
                    failures: Failures { since_ms, count: i64::try_from(failed.len()).unwrap_or(i64::MAX), last_ms },
                    first_delivery,
                    several_deliveries: failed.iter().any(|(_, d)| *d != first_delivery),
                }),
                _ => None,
            };
            let change = match (success, failures) {
                (_, None) => StreakChange::Clear,
                (Some(_), Some(f)) => StreakChange::Restart(f),
                (None, Some(f)) => StreakChange::Extend(f),
            };
            (endpoint, (tenant, change))
        })
        .collect()
}

/// A period in the largest whole unit that fits: "3 days", "90 minutes".
pub fn describe_period(seconds: i64) -> String {
    let (n, unit) = match seconds {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3_600 && s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::new_id;
    use crate::store::{AttemptRecord, NextStep};
    use sluice_core::ids::{DeliveryId, EndpointId, TenantId};
    use sluice_core::model::{AttemptTrigger, ErrorClass};

    fn attempt(endpoint: &EndpointId, tenant: &TenantId, at: i64, ok: bool) -> Outcome {
        of_delivery(endpoint, tenant, &new_id(), at, ok)
    }

    fn of_delivery(endpoint: &EndpointId, tenant: &TenantId, delivery: &DeliveryId, at: i64, ok: bool) -> Outcome {
        Outcome {
            lease_token: 1,
            attempt: AttemptRecord {
                id: new_id(),
                delivery_id: delivery.clone(),
                message_id: new_id(),
                endpoint_id: endpoint.clone(),
                tenant_id: tenant.clone(),
                number: 1,
                trigger: AttemptTrigger::Scheduled,
                url: "https://example.com/".into(),
                started_at_ms: at,
                duration_ms: 1,
                request_headers: "{}".into(),
                response_status: Some(if ok { 200 } else { 500 }),
                response_headers: None,
                response_body: None,
                error_class: (!ok).then_some(ErrorClass::Http5xx),
                error_message: None,
                retry_after_seconds: None,
            },
            next: if ok { NextStep::Succeeded } else { NextStep::RetryAt(at + 1_000) },
        }
    }

    #[test]
    fn a_success_ends_the_streak_and_later_failures_start_a_new_one() {
        let (t, a, b, c) = (new_id(), new_id(), new_id(), new_id());
        // Recorded out of start order, as concurrent sends finish: the fold sorts.
        let batch = [
            attempt(&a, &t, 30, false),
            attempt(&a, &t, 10, false),
            attempt(&a, &t, 20, true),
            attempt(&b, &t, 15, false),
            attempt(&b, &t, 5, false),
            attempt(&c, &t, 5, false),
            attempt(&c, &t, 9, true),
        ];
        let folded = fold(&batch);
        let run = |change: StreakChange<'_>| match change {
            StreakChange::Restart(r) | StreakChange::Extend(r) => Some(r.failures),
            StreakChange::Clear => None,
        };
        assert!(matches!(folded[a.as_str()].1, StreakChange::Restart(_)));
        assert_eq!(run(folded[a.as_str()].1), Some(Failures { since_ms: 30, count: 1, last_ms: 30 }));
        assert!(matches!(folded[b.as_str()].1, StreakChange::Extend(_)));
        assert_eq!(run(folded[b.as_str()].1), Some(Failures { since_ms: 5, count: 2, last_ms: 15 }));
        assert_eq!(folded[c.as_str()].1, StreakChange::Clear);
        assert_eq!(folded[c.as_str()].0, t.as_str());
        let order: Vec<&str> = folded.keys().copied().collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, sorted, "rows are written in id order");
    }

    #[test]
    fn a_run_knows_whether_more_than_one_delivery_failed() {
        let (t, e, one, two) = (new_id(), new_id(), new_id(), new_id());
        let alone = [of_delivery(&e, &t, &one, 10, false), of_delivery(&e, &t, &one, 20, false)];
        let StreakChange::Extend(run) = fold(&alone)[e.as_str()].1 else { panic!("a run") };
        assert_eq!((run.first_delivery, run.several_deliveries), (one.as_str(), false));
        let both = [of_delivery(&e, &t, &two, 30, false), of_delivery(&e, &t, &one, 10, false)];
        let StreakChange::Extend(run) = fold(&both)[e.as_str()].1 else { panic!("a run") };
        assert_eq!((run.first_delivery, run.several_deliveries), (one.as_str(), true), "first by start time");
    }

    #[test]
    fn periods_read_in_their_largest_whole_unit() {
        assert_eq!(describe_period(259_200), "3 days");
        assert_eq!(describe_period(3_600), "1 hour");
        assert_eq!(describe_period(5_400), "90 minutes");
        assert_eq!(describe_period(2), "2 seconds");
    }
}
