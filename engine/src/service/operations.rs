//! Operations: bulk recover of an endpoint's failed deliveries, or of every endpoint
//! of a tenant (filtered, counted first on request, also as part of enabling an
//! endpoint again), its progress, the tenant's list of them, and cancel.

use sluice_core::ids::{EndpointId, OperationId};
use sluice_core::model::{Endpoint, LifecycleKind, Operation, Page, RecoverEndpoint, RecoverPreview};
use sluice_core::validate::{self, Errors};

use super::{finish_page, page_args, parse_time, ActScope, Caller, ManageScope, Sluice, TenantScope};
use crate::error::{Error, Result};
use crate::ids::now_ms;
use crate::store::{LifecycleEvent, NewOperation};

/// The widest window one recover may span: the default retention.
const MAX_WINDOW_MS: i64 = 90 * 24 * 3600 * 1000;

/// What a recover request answers: the operation it started, or (a dry run) how
/// many deliveries it would re-queue.
#[derive(Debug, Clone, PartialEq)]
pub enum RecoverAnswer {
    Started(Box<Operation>),
    DryRun(RecoverPreview),
}

impl RecoverAnswer {
    /// The operation, for callers that never ask for a dry run.
    pub fn started(self) -> Result<Operation> {
        match self {
            Self::Started(op) => Ok(*op),
            Self::DryRun(_) => Err(Error::Internal("a dry run started no operation".into())),
        }
    }
}

impl Sluice {
    /// Re-queues everything that failed for `endpoint` in the window (of one event
    /// type and error class, when given), as one operation whose progress can be read
    /// while the workers deliver; or, as a dry run, counts it and changes nothing.
    pub async fn recover_endpoint(
        &self,
        tenant: &ActScope,
        endpoint: &EndpointId,
        req: RecoverEndpoint,
    ) -> Result<RecoverAnswer> {
        self.get_endpoint(tenant, endpoint).await?;
        self.recover(tenant, Some(endpoint), req).await
    }

    /// [`Sluice::recover_endpoint`] across every endpoint of the tenant (not the
    /// deleted ones): what a partner wants after an outage of their own that every
    /// endpoint saw, or support after a network incident, in one operation.
    pub async fn recover_tenant(&self, tenant: &ActScope, req: RecoverEndpoint) -> Result<RecoverAnswer> {
        self.get_tenant(tenant).await?;
        self.recover(tenant, None, req).await
    }

    async fn recover(
        &self,
        tenant: &ActScope,
        endpoint: Option<&EndpointId>,
        req: RecoverEndpoint,
    ) -> Result<RecoverAnswer> {
        let now = now_ms();
        let mut errors = Errors::default();
        let since = parse_time("since", Some(&req.since))?.ok_or_else(|| Error::invalid("since", "is required"))?;
        let until = parse_time("until", req.until.as_deref())?.unwrap_or(now + 1);
        if since >= until {
            errors.add("since", "must be before until");
        } else if until - since > MAX_WINDOW_MS {
            errors.add("since", "the window may span at most 90 days");
        }
        if let Some(t) = &req.event_type {
            errors.check(validate::event_type(t), "event_type");
        }
        errors.into_result().map_err(Error::Validation)?;
        let op = NewOperation {
            id: crate::ids::new_id(),
            endpoint_id: endpoint.cloned(),
            since_ms: since,
            until_ms: until,
            failed_since_ms: None,
            event_type: req.event_type,
            error_class: req.error_class,
            created_by: tenant.actor().to_owned(),
        };
        if req.dry_run {
            let deliveries = self.store.recoverable(tenant, &op).await?;
            return Ok(RecoverAnswer::DryRun(RecoverPreview { deliveries }));
        }
        self.start_recover(tenant, op, now).await.map(|op| RecoverAnswer::Started(Box::new(op)))
    }

    /// Stops a recover: what it re-queued that still waits goes back to failed (a
    /// delivery on its way finishes its attempt; cancelling again sends it back too if
    /// it was scheduled again). A recover that has finished is left as it is.
    pub async fn cancel_operation(&self, caller: &Caller, id: &OperationId) -> Result<Operation> {
        let op = self.get_operation(caller, id).await?;
        let scope = caller.tenant_act(&op.tenant_id)?;
        if op.state == "completed" {
            return Ok(op);
        }
        if let Some(stopped) = self.store.cancel_operation(&scope, id, now_ms()).await? {
            let event = LifecycleEvent::new(
                Some(scope.id()),
                LifecycleKind::RecoverCancelled,
                id.as_str(),
                scope.actor(),
                serde_json::json!({ "endpoint_id": op.endpoint_id, "deliveries_stopped": stopped }),
            );
            self.store.insert_event(&event).await?;
        }
        self.get_operation(caller, id).await
    }

    /// The tenant's operations, newest first.
    pub async fn list_operations(
        &self,
        tenant: &TenantScope,
        limit: Option<i64>,
        cursor: Option<String>,
    ) -> Result<Page<Operation>> {
        self.get_tenant(tenant).await?;
        let page = page_args(limit, cursor)?;
        let rows = self.store.list_operations(tenant, &page).await?;
        Ok(finish_page(rows, &page, |o| o.id.to_string()))
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
        let streak = self.store.failure_streaks(tenant).await?.into_iter().find(|s| &s.endpoint_id == endpoint);
        let now = now_ms();
        let failed_since = streak
            .map(|s| s.failures.since_ms)
            .or_else(|| current.disabled_at.map(|at| at.timestamp_millis()))
            .unwrap_or(now);
        // What failed for good since then, whenever it was published (a replay of an
        // old message included), as far back as a recover reaches.
        let op = NewOperation {
            id: crate::ids::new_id(),
            endpoint_id: Some(endpoint.clone()),
            since_ms: now - MAX_WINDOW_MS + 1,
            until_ms: now + 1,
            failed_since_ms: Some(failed_since),
            event_type: None,
            error_class: None,
            created_by: tenant.actor().to_owned(),
        };
        // Asked before enabling: a recover the backlog has no room for refuses the
        // whole click (429), leaving the endpoint disabled and its streak to try again.
        self.admit(tenant, self.store.recoverable(tenant, &op).await?).await?;
        let (enabled, _) = self.enable_ending_streak(tenant, endpoint).await?;
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
