//! Incidents: when an endpoint's failures become one, when it is over, and the store
//! that keeps them.
//!
//! [`decide`] is a plain function of what the attempts of the last window say and
//! which incidents are open, so the rules (a failure rate over the threshold opens
//! one; a success that no failure follows for the resolve period ends it, dated at
//! that success; a deleted endpoint's ends without counting as recovered) are checked
//! by plain tests. The detector job runs it on one node at a time; a circuit that
//! opens opens an incident directly, in the transaction that records the circuit.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use sluice_core::ids::{EndpointId, IncidentId, TenantId};
use sluice_core::model::{Incident, IncidentCause, IncidentResolution, IncidentState};

use super::rows::parse_id;
use super::{ms_to_dt, PageArgs};
use crate::access::{Reach, TenantScope};
use crate::error::{Error, Result};

/// When attempts make an incident and when success ends one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IncidentPolicy {
    /// The window the failure rate is measured over.
    pub window_ms: i64,
    /// The share of failed attempts in the window that opens an incident (0 to 1].
    pub failure_rate: f64,
    /// Attempts the window must hold before its rate means anything.
    pub min_attempts: i64,
    /// How long a success must go without a failure after it for the incident to
    /// end. Never shorter than the window, so the failures that opened an incident
    /// have left the window by the time it ends and cannot open it again.
    pub resolve_after_ms: i64,
}

/// One endpoint's attempts that started in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointWindow {
    pub endpoint_id: EndpointId,
    pub tenant_id: TenantId,
    pub attempts: i64,
    pub failed: i64,
    pub first_failure_at: Option<i64>,
    /// The first success after the window's last failure (its first success, if no
    /// attempt in it failed).
    pub first_success_after_failures: Option<i64>,
}

/// An incident still open, as the detector needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenIncident {
    pub id: IncidentId,
    pub tenant_id: TenantId,
    pub endpoint_id: EndpointId,
    pub recovering_since: Option<i64>,
    /// The endpoint was deleted.
    pub endpoint_gone: bool,
}

/// What the detector does.
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentChange {
    Open {
        tenant_id: TenantId,
        endpoint_id: EndpointId,
        cause: IncidentCause,
        first_failure_at: i64,
        failed_attempts: i64,
        attempts: i64,
    },
    /// The run of successes that would end it began (`Some`), or a failure broke it.
    Recovering { id: IncidentId, since: Option<i64> },
    Resolve {
        id: IncidentId,
        tenant_id: TenantId,
        endpoint_id: EndpointId,
        resolved_at: i64,
        resolution: IncidentResolution,
    },
}

/// The changes the window's attempts call for at `now_ms`.
pub fn decide(
    policy: &IncidentPolicy,
    now_ms: i64,
    windows: &[EndpointWindow],
    open: &[OpenIncident],
) -> Vec<IncidentChange> {
    let by_endpoint: HashMap<&EndpointId, &EndpointWindow> = windows.iter().map(|w| (&w.endpoint_id, w)).collect();
    let mut changes = Vec::new();
    for incident in open {
        if incident.endpoint_gone {
            changes.push(IncidentChange::Resolve {
                id: incident.id.clone(),
                tenant_id: incident.tenant_id.clone(),
                endpoint_id: incident.endpoint_id.clone(),
                resolved_at: now_ms,
                resolution: IncidentResolution::EndpointDeleted,
            });
            continue;
        }
        let recovering = match by_endpoint.get(&incident.endpoint_id) {
            // A failure in the window: only successes after the last one count.
            Some(w) if w.failed > 0 => w.first_success_after_failures,
            Some(w) => incident.recovering_since.or(w.first_success_after_failures),
            // Nothing was tried (a circuit waiting, a quiet endpoint): as it was.
            None => incident.recovering_since,
        };
        match recovering {
            Some(since) if now_ms - since >= policy.resolve_after_ms => changes.push(IncidentChange::Resolve {
                id: incident.id.clone(),
                tenant_id: incident.tenant_id.clone(),
                endpoint_id: incident.endpoint_id.clone(),
                resolved_at: since,
                resolution: IncidentResolution::Recovered,
            }),
            _ if recovering != incident.recovering_since => {
                changes.push(IncidentChange::Recovering { id: incident.id.clone(), since: recovering })
            }
            _ => {}
        }
    }
    let already: HashSet<&EndpointId> = open.iter().map(|i| &i.endpoint_id).collect();
    for w in windows {
        // Failing now: past the threshold, and no success since the last failure. A
        // stretch that had already mended when the detector looked is not something
        // anyone can act on, and would end before it was detected.
        let failing = w.failed > 0
            && w.first_success_after_failures.is_none()
            && w.attempts >= policy.min_attempts.max(1)
            && w.failed as f64 >= policy.failure_rate * w.attempts as f64;
        if !failing || already.contains(&w.endpoint_id) {
            continue;
        }
        let Some(first_failure_at) = w.first_failure_at else { continue };
        changes.push(IncidentChange::Open {
            tenant_id: w.tenant_id.clone(),
            endpoint_id: w.endpoint_id.clone(),
            cause: IncidentCause::FailureRate,
            first_failure_at,
            failed_attempts: w.failed,
            attempts: w.attempts,
        });
    }
    changes
}

/// Which incidents a listing wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    pub tenant: Option<TenantId>,
    pub state: Option<IncidentState>,
    pub endpoint: Option<EndpointId>,
    /// Those nobody acknowledged first, then the longest open (one page: no cursor),
    /// instead of newest first.
    pub worst_first: bool,
}

/// The times of an incident, for time to detect and recover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentTimesRow {
    pub first_failure_at: i64,
    pub opened_at: i64,
    /// Set when it ended by recovering.
    pub recovered_at: Option<i64>,
}

#[async_trait]
pub trait IncidentStore: Send + Sync {
    /// Per endpoint with attempts that started at or after `since_ms`: their count,
    /// failures, and the times [`decide`] needs. One pass over the window's attempts
    /// by their time-ordered ids.
    async fn attempt_windows(&self, since_ms: i64) -> Result<Vec<EndpointWindow>>;
    /// Every open incident of tenants that are not deleted.
    async fn open_incidents(&self) -> Result<Vec<OpenIncident>>;
    /// Applies the detector's changes in one transaction, with an `incident.opened`
    /// or `incident.resolved` event (and its operational notices) for each incident
    /// that opened or ended by it: none for one another node or the circuit opened
    /// first, or ended first. Answers how many opened and ended.
    async fn apply_incident_changes(&self, changes: &[IncidentChange], now_ms: i64) -> Result<(u64, u64)>;
    /// Incidents matching `filter`, newest first.
    async fn list_incidents(&self, filter: &IncidentFilter, page: &PageArgs) -> Result<Vec<Incident>>;
    async fn get_incident(&self, tenant: &TenantScope, id: &IncidentId) -> Result<Option<Incident>>;
    /// Marks the tenant's open incidents among `ids` that nobody acknowledged yet
    /// acknowledged by `by`, with an `incident.acknowledged` event each; answers those.
    async fn acknowledge_incidents(
        &self,
        tenant: &TenantScope,
        ids: &[IncidentId],
        by: &str,
        now_ms: i64,
    ) -> Result<Vec<IncidentId>>;
    /// The times of the incidents opened at or after `since_ms` (one tenant's, or
    /// every live tenant's), and how many are open now, whenever they opened.
    async fn incident_times(&self, reach: Reach<'_>, since_ms: i64) -> Result<(Vec<IncidentTimesRow>, i64)>;
    /// Deletes incidents that ended before `before_ms`; answers how many.
    async fn purge_incidents(&self, before_ms: i64) -> Result<u64>;
}

pub(super) const INCIDENT_COLUMNS: &str = "id, tenant_id, endpoint_id, cause, failed_attempts, attempts, \
     first_failure_at, opened_at, acknowledged_at, acknowledged_by, resolved_at, resolution";

/// An incident's row as selected with [`INCIDENT_COLUMNS`].
#[derive(Debug, sqlx::FromRow)]
pub(super) struct IncidentRow {
    pub id: String,
    pub tenant_id: String,
    pub endpoint_id: String,
    pub cause: String,
    pub failed_attempts: i64,
    pub attempts: i64,
    pub first_failure_at: i64,
    pub opened_at: i64,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<i64>,
    pub resolution: Option<String>,
}

impl TryFrom<IncidentRow> for Incident {
    type Error = Error;

    fn try_from(r: IncidentRow) -> Result<Self> {
        let unknown =
            |what: &str, value: &str| Error::Internal(format!("incident {} has an unknown {what} {value}", r.id));
        let cause = IncidentCause::parse(&r.cause).ok_or_else(|| unknown("cause", &r.cause))?;
        let resolution = match r.resolution.as_deref() {
            None => None,
            Some(s) => Some(IncidentResolution::parse(s).ok_or_else(|| unknown("resolution", s))?),
        };
        let seconds = |ms: i64| ms as f64 / 1000.0;
        Ok(Incident {
            id: parse_id(r.id)?,
            tenant_id: parse_id(r.tenant_id)?,
            endpoint_id: parse_id(r.endpoint_id)?,
            state: if resolution.is_some() { IncidentState::Resolved } else { IncidentState::Open },
            cause,
            failed_attempts: r.failed_attempts,
            attempts: r.attempts,
            first_failure_at: ms_to_dt(r.first_failure_at),
            opened_at: ms_to_dt(r.opened_at),
            acknowledged_at: r.acknowledged_at.map(ms_to_dt),
            acknowledged_by: r.acknowledged_by,
            resolved_at: r.resolved_at.map(ms_to_dt),
            time_to_detect_seconds: seconds(r.opened_at - r.first_failure_at),
            time_to_recover_seconds: match resolution {
                Some(IncidentResolution::Recovered) => r.resolved_at.map(|at| seconds(at - r.first_failure_at)),
                _ => None,
            },
            resolution,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::new_id;

    const MIN: i64 = 60_000;
    const POLICY: IncidentPolicy =
        IncidentPolicy { window_ms: 5 * MIN, failure_rate: 0.5, min_attempts: 10, resolve_after_ms: 5 * MIN };

    fn window(endpoint: &EndpointId, attempts: i64, failed: i64, success_after: Option<i64>) -> EndpointWindow {
        EndpointWindow {
            endpoint_id: endpoint.clone(),
            tenant_id: TenantId::lower_bound_at(0),
            attempts,
            failed,
            first_failure_at: (failed > 0).then_some(1_000),
            first_success_after_failures: success_after,
        }
    }

    fn open(endpoint: &EndpointId, recovering_since: Option<i64>) -> OpenIncident {
        OpenIncident {
            id: new_id(),
            tenant_id: TenantId::lower_bound_at(0),
            endpoint_id: endpoint.clone(),
            recovering_since,
            endpoint_gone: false,
        }
    }

    #[test]
    fn the_rate_opens_only_past_the_threshold_with_enough_attempts() {
        let (a, b, c) = (new_id(), new_id(), new_id());
        let windows = [window(&a, 10, 5, None), window(&b, 9, 9, None), window(&c, 10, 4, None)];
        let changes = decide(&POLICY, 10 * MIN, &windows, &[]);
        assert_eq!(changes.len(), 1, "{changes:?}");
        let IncidentChange::Open { endpoint_id, first_failure_at, failed_attempts, attempts, .. } = &changes[0] else {
            panic!("{changes:?}")
        };
        assert_eq!((endpoint_id, *first_failure_at, *failed_attempts, *attempts), (&a, 1_000, 5, 10));
        assert!(decide(&POLICY, 10 * MIN, &windows, &[open(&a, None)]).is_empty(), "one open incident per endpoint");
    }

    #[test]
    fn only_success_no_failure_follows_for_the_period_resolves_and_is_dated_at_that_success() {
        let e = new_id();
        let t = 100 * MIN;
        // Successes after the last failure: the period starts at the first of them.
        let changes = decide(&POLICY, t, &[window(&e, 12, 3, Some(t - MIN))], &[open(&e, None)]);
        assert!(matches!(&changes[..], [IncidentChange::Recovering { since: Some(s), .. }] if *s == t - MIN));
        // Nothing tried since: still recovering, not yet resolved.
        assert!(decide(&POLICY, t + MIN, &[], &[open(&e, Some(t - MIN))]).is_empty());
        // A new failure breaks the run.
        let changes = decide(&POLICY, t + MIN, &[window(&e, 2, 1, None)], &[open(&e, Some(t - MIN))]);
        assert!(matches!(&changes[..], [IncidentChange::Recovering { since: None, .. }]), "{changes:?}");
        // The period passed with no failure: resolved at the run's first success.
        let changes = decide(&POLICY, t + 4 * MIN, &[window(&e, 30, 0, Some(t))], &[open(&e, Some(t - MIN))]);
        assert!(
            matches!(&changes[..], [IncidentChange::Resolve { resolved_at, resolution: IncidentResolution::Recovered, .. }] if *resolved_at == t - MIN),
            "{changes:?}"
        );
        // A circuit that stays open (no attempts, no success) never resolves.
        assert!(decide(&POLICY, t + 100 * MIN, &[], &[open(&e, None)]).is_empty());
    }

    #[test]
    fn a_deleted_endpoints_incident_ends_without_recovering() {
        let e = new_id();
        let gone = OpenIncident { endpoint_gone: true, ..open(&e, None) };
        let changes = decide(&POLICY, 7, &[], &[gone]);
        assert!(matches!(
            &changes[..],
            [IncidentChange::Resolve { resolved_at: 7, resolution: IncidentResolution::EndpointDeleted, .. }]
        ));
    }

    #[test]
    fn an_outage_over_before_it_was_seen_opens_nothing() {
        let e = new_id();
        assert!(decide(&POLICY, 10 * MIN, &[window(&e, 20, 12, Some(9 * MIN))], &[]).is_empty());
    }
}
