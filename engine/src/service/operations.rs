//! Operations: bulk recover of an endpoint's failed deliveries (also as part of
//! enabling it again), and reading progress.

use sluice_core::ids::{EndpointId, OperationId};
use sluice_core::model::{Endpoint, LifecycleKind, Operation, RecoverEndpoint};
use sluice_core::retry;

use super::{parse_time, ActScope, Caller, ManageScope, Sluice};
use crate::error::{Error, Result};
use crate::ids::now_ms;
use crate::store::{LifecycleEvent, NewOperation};

/// The widest window one recover may span: the default retention.
const MAX_WINDOW_MS: i64 = 90 * 24 * 3600 * 1000;

impl Sluice {
    /// Re-queues everything that failed for `endpoint` in the window, as one operation
    /// whose progress can be read while the workers deliver.
    pub async fn recover_endpoint(
        &self,
        tenant: &ActScope,
        endpoint: &EndpointId,
        req: RecoverEndpoint,
    ) -> Result<Operation> {
        self.get_endpoint(tenant, endpoint).await?;
        let now = now_ms();
        let since = parse_time("since", Some(&req.since))?.ok_or_else(|| Error::invalid("since", "is required"))?;
        let until = parse_time("until", req.until.as_deref())?.unwrap_or(now + 1);
        if since >= until {
            return Err(Error::invalid("since", "must be before until"));
        }
        if until - since > MAX_WINDOW_MS {
            return Err(Error::invalid("since", "the window may span at most 90 days"));
        }
        let op = NewOperation {
            id: crate::ids::new_id(),
            endpoint_id: endpoint.clone(),
            since_ms: since,
            until_ms: until,
            failed_since_ms: None,
            created_by: tenant.actor().to_owned(),
        };
        self.start_recover(tenant, op, now).await
    }

    /// Enables a disabled endpoint and, in the same click, re-queues every delivery
    /// that failed for good since the endpoint began failing every attempt (or, if it
    /// was not failing, since it was disabled): what a partner whose endpoint was
    /// disabled for failing wants back once it is fixed. Deliveries that were still
    /// being retried were paused, not failed, and resume by themselves.
    pub async fn enable_and_recover(
        &self,
        tenant: &ManageScope,
        endpoint: &EndpointId,
    ) -> Result<(Endpoint, Operation)> {
        let current = self.get_endpoint(tenant, endpoint).await?;
        let (enabled, streak) = self.enable_ending_streak(tenant, endpoint).await?;
        let now = now_ms();
        let failed_since =
            streak.map(|f| f.since_ms).or_else(|| current.disabled_at.map(|at| at.timestamp_millis())).unwrap_or(now);
        // Published before the streak began but still being retried then: a
        // delivery fails for good at most one retry schedule after it was published.
        let schedule: &[u32] = current.retry_schedule_seconds.as_deref().unwrap_or(&retry::DEFAULT_SCHEDULE);
        let span_ms = schedule.iter().map(|&s| i64::from(s) * 1000).sum::<i64>();
        let since = failed_since.saturating_sub(span_ms).max(now - MAX_WINDOW_MS + 1);
        let op = NewOperation {
            id: crate::ids::new_id(),
            endpoint_id: endpoint.clone(),
            since_ms: since,
            until_ms: now + 1,
            failed_since_ms: Some(failed_since),
            created_by: tenant.actor().to_owned(),
        };
        let operation = self.start_recover(tenant, op, now).await?;
        Ok((enabled, operation))
    }

    async fn start_recover(&self, tenant: &ActScope, op: NewOperation, now: i64) -> Result<Operation> {
        // Refused whole (429) rather than run in part: a recover larger than the room
        // left is a request to narrow the window or wait for the backlog to drain.
        self.admit(tenant, self.store.recoverable(tenant, &op).await?).await?;
        let total = self.store.recover(tenant, &op, now).await?;
        let event = LifecycleEvent::new(
            Some(tenant.id()),
            LifecycleKind::RecoverRequested,
            op.id.as_str(),
            tenant.actor(),
            serde_json::json!({
                "endpoint_id": op.endpoint_id, "since": op.since_ms, "until": op.until_ms,
                "failed_since": op.failed_since_ms, "deliveries": total,
            }),
        );
        self.store.insert_event(&event).await?;
        if total > 0 {
            self.add_backlog(tenant.id(), usize::try_from(total).unwrap_or(usize::MAX));
            self.wake.notify_one();
        }
        self.store.get_operation(&op.id).await?.ok_or_else(|| Error::not_found("operation", &op.id))
    }

    /// An operation of a tenant the caller may see; another tenant's is "not found".
    pub async fn get_operation(&self, caller: &Caller, id: &OperationId) -> Result<Operation> {
        let op = self.store.get_operation(id).await?.ok_or_else(|| Error::not_found("operation", id))?;
        caller.tenant(&op.tenant_id).map_err(|_| Error::not_found("operation", id))?;
        Ok(op)
    }
}
