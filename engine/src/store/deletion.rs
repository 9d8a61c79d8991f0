//! Deleting a tenant: the request, which hides the tenant at once and stops all its
//! traffic in one transaction, and the purge, which then removes its data a batch at
//! a time on whichever node runs the retention job.

use async_trait::async_trait;
use sluice_core::ids::TenantId;

use super::PurgeCounts;
use crate::access::Platform;
use crate::error::Result;

/// Where a tenant's deletion stands, as stored on its row (which stays, as a
/// tombstone, once its data is gone).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeletionRow {
    pub requested_at: i64,
    pub requested_by: String,
    pub purged_at: Option<i64>,
    /// Its messages not yet purged.
    pub messages_left: i64,
}

#[async_trait]
pub trait TenantDeletionStore: Send + Sync {
    /// In one transaction, if the tenant exists, is not deleted, and its version is
    /// `expected` (any, for `None`): marks it deleted, so that no read finds it any
    /// more; suspends it, so nothing is queued or sent; ends its being a notice inbox;
    /// revokes its API keys; disables its partner users and ends their sessions and
    /// its portal sessions. False when it was not there or was stale.
    async fn request_tenant_deletion(
        &self,
        platform: &Platform,
        id: &TenantId,
        expected: Option<i64>,
        actor: &str,
        now_ms: i64,
    ) -> Result<bool>;
    /// The deletion of a tenant whose deletion was requested.
    async fn tenant_deletion(&self, platform: &Platform, id: &TenantId) -> Result<Option<DeletionRow>>;
    /// Removes up to `limit` messages of the tenant deleted first, with their
    /// deliveries and attempts; once it has none left, everything else of it (events,
    /// operations, endpoints and their secrets, portal links, users, API keys) and
    /// marks it purged. Its audit trail stays: the platform's record of what was done.
    async fn purge_deleted_tenant(&self, now_ms: i64, limit: i64) -> Result<PurgeCounts>;
}
