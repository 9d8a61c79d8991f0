//! Operations: bulk recover of an endpoint's failed deliveries, and reading progress.

use sluice_core::ids::{EndpointId, OperationId};
use sluice_core::model::{LifecycleKind, Operation, RecoverEndpoint};

use super::{parse_time, ActScope, Caller, Sluice};
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
            created_by: tenant.actor().to_owned(),
        };
        // Refused whole (429) rather than run in part: a recover larger than the room
        // left is a request to narrow the window or wait for the backlog to drain.
        self.admit(tenant, self.store.recoverable(tenant, &op).await?).await?;
        let total = self.store.recover(tenant, &op, now).await?;
        let event = LifecycleEvent::new(
            Some(tenant.id()),
            LifecycleKind::RecoverRequested,
            op.id.as_str(),
            tenant.actor(),
            serde_json::json!({ "endpoint_id": endpoint, "since": since, "until": until, "deliveries": total }),
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
