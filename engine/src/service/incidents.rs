//! Incidents, the use cases: the detector job (one node at a time, under a lease),
//! the listings for a tenant and for support's triage (worst first), a person
//! acknowledging what they were shown, and time to detect and recover.

use std::sync::Arc;
use std::time::Duration;

use sluice_core::ids::{EndpointId, IncidentId};
use sluice_core::model::{Incident, IncidentState, IncidentStats, IncidentTimes, Page, Percentiles};
use tokio::sync::watch;

use super::{finish_page, page_args, Operator, Reach, Sluice, TenantScope};
use crate::error::{Error, Result};
use crate::ids::now_ms;
use crate::store::incidents::decide;
use crate::store::{IncidentFilter, IncidentTimesRow, PageArgs};

/// The detector's name in `job_leases`.
const INCIDENT_JOB: &str = "incidents";

/// Open incidents support's triage lists at most.
const TRIAGE_INCIDENTS: i64 = 100;

const DAY_MS: i64 = 86_400_000;

/// A listing's filters as the caller wrote them, before they are checked.
#[derive(Debug, Clone, Default)]
pub struct IncidentQuery {
    /// `open` or `resolved`.
    pub state: Option<String>,
    pub endpoint_id: Option<String>,
}

impl IncidentQuery {
    fn filter(self) -> Result<IncidentFilter> {
        let state = match self.state.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => {
                Some(IncidentState::parse(s).ok_or_else(|| Error::invalid("state", "must be open or resolved"))?)
            }
        };
        let endpoint = match self.endpoint_id.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(e) => Some(EndpointId::parse(e).map_err(|e| Error::invalid("endpoint_id", e.to_string()))?),
        };
        Ok(IncidentFilter { tenant: None, state, endpoint, worst_first: false })
    }
}

/// What a person is shown of a tenant's incidents.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentsShown {
    /// Open, oldest first: acknowledged by the viewer if theirs was the first look.
    pub open: Vec<Incident>,
    /// The latest fifty that ended.
    pub ended: Vec<Incident>,
    pub stats: IncidentStats,
}

impl Sluice {
    /// The tenant's incidents as a person sees them. `looked`: the viewer chose to
    /// look (not a page another site sent them to), so the open ones nobody had
    /// acknowledged are acknowledged by them, and shown so.
    pub async fn show_incidents(&self, tenant: &TenantScope, looked: bool) -> Result<IncidentsShown> {
        let of = |state: &str| IncidentQuery { state: Some(state.into()), ..IncidentQuery::default() };
        let mut open = self.list_incidents(Reach::Tenant(tenant), of("open"), Some(250), None).await?.data;
        let unseen: Vec<IncidentId> =
            open.iter().filter(|i| i.acknowledged_at.is_none()).map(|i| i.id.clone()).collect();
        if looked && !self.acknowledge_incidents(tenant, &unseen).await?.is_empty() {
            open = self.list_incidents(Reach::Tenant(tenant), of("open"), Some(250), None).await?.data;
        }
        open.reverse();
        let ended = self.list_incidents(Reach::Tenant(tenant), of("resolved"), Some(50), None).await?.data;
        let stats = self.incident_stats(Reach::Tenant(tenant)).await?;
        Ok(IncidentsShown { open, ended, stats })
    }

    /// One look at the window's attempts: opens incidents for endpoints failing past
    /// the threshold, ends those whose success held for the resolve period, and
    /// those of deleted endpoints. Answers how many opened and ended.
    pub async fn detect_incidents(&self, now_ms: i64) -> Result<(u64, u64)> {
        let started = std::time::Instant::now();
        let policy = self.incident_policy;
        let windows = self.store.attempt_windows(now_ms - policy.window_ms).await?;
        let open = self.store.open_incidents().await?;
        let changes = decide(&policy, now_ms, &windows, &open);
        let done = self.store.apply_incident_changes(&changes, now_ms).await?;
        // Its cost grows with the attempts in the window: worth a graph.
        self.telemetry.detected_incidents(started.elapsed());
        Ok(done)
    }

    /// Every `every`, on whichever node holds the lease: [`Sluice::detect_incidents`].
    /// Errors are logged and the next look tries again: a late look makes a detection
    /// later, and one later than the window can miss a short stretch of failures.
    pub async fn run_incidents_until_stopped(
        self: Arc<Self>,
        owner: String,
        every: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let lease_ms = i64::try_from(every.saturating_mul(3).as_millis()).unwrap_or(i64::MAX / 2);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            match self.store.take_job_lease(INCIDENT_JOB, &owner, now_ms(), now_ms() + lease_ms).await {
                Ok(true) => match self.detect_incidents(now_ms()).await {
                    Ok((0, 0)) => {}
                    Ok((opened, resolved)) => tracing::info!(opened, resolved, "incidents changed"),
                    Err(e) => tracing::warn!(error = %e, "incident detection failed; looking again next time"),
                },
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "could not take the incident lease; retrying next time"),
            }
        }
    }

    /// Incidents, newest first: one tenant's, or every tenant's for operators.
    pub async fn list_incidents(
        &self,
        reach: Reach<'_>,
        query: IncidentQuery,
        limit: Option<i64>,
        cursor: Option<String>,
    ) -> Result<Page<Incident>> {
        let mut filter = query.filter()?;
        if let Reach::Tenant(scope) = reach {
            self.get_tenant(scope).await?;
            filter.tenant = Some(scope.id().clone());
        }
        let page = page_args(limit, cursor)?;
        let rows = self.store.list_incidents(&filter, &page).await?;
        Ok(finish_page(rows, &page, |i| i.id.to_string()))
    }

    pub async fn get_incident(&self, tenant: &TenantScope, id: &IncidentId) -> Result<Incident> {
        self.store.get_incident(tenant, id).await?.ok_or_else(|| Error::not_found("incident", id))
    }

    /// Every tenant's open incidents, worst first: those nobody has looked at before
    /// those someone has, then the longest open. At most a hundred.
    pub async fn open_incidents_worst_first(&self, _operator: &Operator) -> Result<Vec<Incident>> {
        let filter =
            IncidentFilter { state: Some(IncidentState::Open), worst_first: true, ..IncidentFilter::default() };
        let page = PageArgs { limit: TRIAGE_INCIDENTS, before: None };
        self.store.list_incidents(&filter, &page).await
    }

    /// A person looked at these of the tenant's incidents: the open ones nobody had
    /// acknowledged are now acknowledged by them. Answers those.
    pub async fn acknowledge_incidents(&self, tenant: &TenantScope, ids: &[IncidentId]) -> Result<Vec<IncidentId>> {
        self.store.acknowledge_incidents(tenant, ids, tenant.actor(), now_ms()).await
    }

    /// `POST …/incidents/{id}/acknowledge`: one incident, as it now is. Acknowledging
    /// twice, or a resolved incident, changes nothing and is not an error.
    pub async fn acknowledge_incident(&self, tenant: &TenantScope, id: &IncidentId) -> Result<Incident> {
        self.get_incident(tenant, id).await?;
        self.acknowledge_incidents(tenant, std::slice::from_ref(id)).await?;
        self.get_incident(tenant, id).await
    }

    /// Time to detect and to recover over the incidents opened in the last 7 and 30
    /// days: one tenant's, or every tenant's for operators.
    pub async fn incident_stats(&self, reach: Reach<'_>) -> Result<IncidentStats> {
        if let Reach::Tenant(scope) = reach {
            self.get_tenant(scope).await?;
        }
        let now = now_ms();
        let (rows, open_now) = self.store.incident_times(reach, now - 30 * DAY_MS).await?;
        Ok(IncidentStats { last_7_days: times(&rows, 7, now), last_30_days: times(&rows, 30, now), open_now })
    }
}

/// The incidents of `rows` opened in the last `days`, summarised.
fn times(rows: &[IncidentTimesRow], days: i64, now_ms: i64) -> IncidentTimes {
    let since = now_ms - days * DAY_MS;
    let window: Vec<&IncidentTimesRow> = rows.iter().filter(|r| r.opened_at >= since).collect();
    let seconds = |ms: i64| ms as f64 / 1000.0;
    let detect: Vec<f64> = window.iter().map(|r| seconds(r.opened_at - r.first_failure_at)).collect();
    let recover: Vec<f64> =
        window.iter().filter_map(|r| r.recovered_at.map(|at| seconds(at - r.first_failure_at))).collect();
    IncidentTimes {
        days,
        opened: i64::try_from(window.len()).unwrap_or(i64::MAX),
        recovered: i64::try_from(recover.len()).unwrap_or(i64::MAX),
        time_to_detect: Percentiles::of(detect),
        time_to_recover: Percentiles::of(recover),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_windows_count_what_opened_in_them_and_recover_only_what_recovered() {
        let now = 100 * DAY_MS;
        let row = |days_ago: i64, detect_s: i64, recover_s: Option<i64>| {
            let first_failure_at = now - days_ago * DAY_MS;
            IncidentTimesRow {
                first_failure_at,
                opened_at: first_failure_at + detect_s * 1000,
                recovered_at: recover_s.map(|s| first_failure_at + s * 1000),
            }
        };
        let rows = [row(1, 10, Some(600)), row(2, 30, None), row(20, 90, Some(7200))];
        let week = times(&rows, 7, now);
        assert_eq!((week.opened, week.recovered), (2, 1));
        assert_eq!(week.time_to_detect.median_seconds, Some(10.0));
        assert_eq!(week.time_to_detect.p90_seconds, Some(30.0));
        assert_eq!(week.time_to_recover.median_seconds, Some(600.0));
        let month = times(&rows, 30, now);
        assert_eq!((month.opened, month.recovered), (3, 2));
        assert_eq!(month.time_to_recover.p90_seconds, Some(7200.0));
        assert_eq!(times(&[], 7, now).time_to_detect, Percentiles::default());
    }

    #[test]
    fn the_filters_are_checked() {
        let q = |state: &str, endpoint: &str| IncidentQuery {
            state: Some(state.into()),
            endpoint_id: Some(endpoint.into()),
        };
        assert!(q("open", "").filter().is_ok());
        assert!(q("closed", "").filter().is_err());
        assert!(q("", "msg_01ARZ3NDEKTSV4RRFFQ69G5FAV").filter().is_err(), "an endpoint id");
        assert!(q("", "ep_01ARZ3NDEKTSV4RRFFQ69G5FAV").filter().is_ok());
    }
}
