//! Deleting a tenant: from the request on it is gone for every caller and all its
//! traffic stops; the retention job then removes its data, a batch at a time, and the
//! deletion's progress can be read until it is done.

use sluice_core::ids::TenantId;
use sluice_core::model::TenantDeletion;

use super::{lock, Platform, Sluice};
use crate::error::{Error, Result};
use crate::ids::now_ms;
use crate::store::{ms_to_dt, DeletionRow, PurgeCounts};

/// Messages per transaction, as for the retention purge: the single SQLite writer is
/// never held for long.
const PURGE_BATCH: i64 = 500;
/// Batches per run of the job, so one huge tenant does not hold up the other purges;
/// the next run goes on where this one stopped.
const BATCHES_PER_RUN: usize = 200;

fn deletion_of(id: &TenantId, row: DeletionRow) -> TenantDeletion {
    TenantDeletion {
        tenant_id: id.clone(),
        state: if row.purged_at.is_some() { "deleted" } else { "deleting" }.to_owned(),
        requested_at: ms_to_dt(row.requested_at),
        requested_by: row.requested_by,
        finished_at: row.purged_at.map(ms_to_dt),
        messages_left: row.messages_left,
    }
}

impl Sluice {
    /// Deletes a tenant (platform callers only). In one transaction: the tenant is
    /// gone for every caller (404), nothing more is queued for it or sent, its API
    /// keys are revoked, its partners disabled and signed out, its portal sessions
    /// ended. Its data (messages, deliveries, attempts, events, operations,
    /// endpoints, secrets, links, users, keys) is then removed by the retention job;
    /// its audit trail stays. `if_match` is the version the caller last saw (412 when
    /// it changed since). Asking again answers where the deletion stands.
    pub async fn delete_tenant(
        &self,
        platform: &Platform,
        id: &TenantId,
        if_match: Option<i64>,
    ) -> Result<TenantDeletion> {
        // The scope is the check that the tenant is one a caller may reach at all.
        let scope = platform.tenant(id)?;
        let id = scope.id();
        if let Some(row) = self.store.tenant_deletion(platform, id).await? {
            return Ok(deletion_of(id, row));
        }
        if !self.store.request_tenant_deletion(platform, id, if_match, platform.actor(), now_ms()).await? {
            // Deleted meanwhile by another request, not there (404), or stale (412).
            if let Some(row) = self.store.tenant_deletion(platform, id).await? {
                return Ok(deletion_of(id, row));
            }
            let current = self.get_tenant(&scope).await?;
            return Err(Error::PreconditionFailed { current: current.version });
        }
        self.forget_tenant_facts(id);
        // Its keys were revoked; the cache is keyed by hashes not at hand (as on a
        // revocation). Other nodes' caches hold them for at most 30 s, during which the
        // tenant is already "not found" to them.
        lock(&self.auth_cache).clear();
        self.audit(platform.actor(), Some(id), "tenant.deleted", Some(id.as_str()), serde_json::json!({})).await;
        self.tenant_deletion(platform, id).await
    }

    /// Where a tenant's deletion stands (platform callers only).
    pub async fn tenant_deletion(&self, platform: &Platform, id: &TenantId) -> Result<TenantDeletion> {
        let id = platform.tenant(id)?.id().clone();
        let id = &id;
        let row = self.store.tenant_deletion(platform, id).await?;
        row.map(|r| deletion_of(id, r)).ok_or_else(|| Error::not_found("tenant deletion", id))
    }

    /// Removes deleted tenants' data, a batch at a time (the retention job's part).
    pub async fn purge_deleted_tenants(&self, _platform: &Platform, now_ms: i64) -> Result<PurgeCounts> {
        let mut total = PurgeCounts::default();
        for _ in 0..BATCHES_PER_RUN {
            let n = self.store.purge_deleted_tenant(now_ms, PURGE_BATCH).await?;
            if n == PurgeCounts::default() {
                break;
            }
            total.messages += n.messages;
            total.deliveries += n.deliveries;
            total.attempts += n.attempts;
            total.events += n.events;
            total.tenants += n.tenants;
        }
        Ok(total)
    }
}
