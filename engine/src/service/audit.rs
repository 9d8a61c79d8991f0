//! The audit trail: every security-relevant action, with its actor, tenant, time and
//! client address, kept apart from tenant retention. Admins read all of it; a tenant
//! (its partners and keys) reads its own.
//!
//! The client address comes from the request: the server runs each request inside
//! [`with_origin`], and an entry written anywhere below it names that client. Writing
//! an entry never fails the action it records (the action has happened by then); a
//! failed write is logged at ERROR, where an operator sees it.

use std::future::Future;
use std::time::Duration;

use sluice_core::ids::TenantId;
use sluice_core::model::{AuditEvent, Page};

use super::{finish_page, page_args, Platform, Sluice};
use crate::access::{AuditReach, ClientOrigin};
use crate::error::Result;
use crate::ids::now_ms;
use crate::store::AuditFilter;

tokio::task_local! {
    static ORIGIN: ClientOrigin;
}

/// Runs `work` with `origin` as the client the audit entries it writes name.
pub async fn with_origin<F: Future>(origin: ClientOrigin, work: F) -> F::Output {
    ORIGIN.scope(origin, work).await
}

/// The address of the client whose request is running, if any (see [`with_origin`]).
pub fn current_client_ip() -> Option<String> {
    ORIGIN.try_with(|o| o.ip.map(|ip| ip.to_string())).ok().flatten()
}

/// How long entries are kept when `SLUICE_AUDIT_RETENTION_DAYS` is not set.
pub const DEFAULT_AUDIT_RETENTION: Duration = Duration::from_secs(400 * 24 * 3600);

impl Sluice {
    /// Records that `actor` did `action` (to `target`, in `tenant`).
    pub(crate) async fn audit(
        &self,
        actor: &str,
        tenant: Option<&TenantId>,
        action: &str,
        target: Option<&str>,
        detail: serde_json::Value,
    ) {
        let event = AuditEvent {
            id: crate::ids::new_id(),
            at: crate::store::ms_to_dt(now_ms()),
            actor: actor.to_owned(),
            tenant_id: tenant.cloned(),
            action: action.to_owned(),
            target: target.map(str::to_owned),
            client_ip: current_client_ip(),
            detail,
        };
        if let Err(e) = self.store.insert_audit_event(&event).await {
            tracing::error!(error = %e, action, actor, "could not write an audit entry");
        }
    }

    /// The trail, newest first: everything for the platform, one tenant's for it.
    /// `action` matches a whole action (`user.disabled`) or a subject (`user`).
    pub async fn list_audit_events(
        &self,
        reach: AuditReach<'_>,
        mut filter: AuditFilter,
        limit: Option<i64>,
        cursor: Option<String>,
    ) -> Result<Page<AuditEvent>> {
        if let AuditReach::Tenant(scope) = reach {
            filter.tenant = Some(scope.id().clone());
        }
        let page = page_args(limit, cursor)?;
        let rows = self.store.list_audit_events(&filter, &page).await?;
        Ok(finish_page(rows, &page, |e| e.id.to_string()))
    }

    /// Deletes entries older than the audit retention (not the tenants' message
    /// retention: the trail must outlive what it describes).
    pub async fn purge_audit(&self, _platform: &Platform, now_ms: i64) -> Result<u64> {
        let keep = crate::ids::duration_ms(self.audit_retention);
        self.store.purge_audit_events(now_ms.saturating_sub(keep)).await
    }

    /// Deletes incidents that ended longer ago than the audit trail is kept: the
    /// record of how an integration failed and recovered lives as long as the record
    /// of what people did about it. Answers how many.
    pub async fn purge_incidents(&self, _platform: &Platform, now_ms: i64) -> Result<u64> {
        let keep = crate::ids::duration_ms(self.audit_retention);
        self.store.purge_incidents(now_ms.saturating_sub(keep)).await
    }
}
