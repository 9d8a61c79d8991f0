//! What the canary keeps: [`CanaryStore`] and its rows. A run is a message a node
//! published to its own receiver; the receiver (on whichever node the request
//! reaches) marks it received, its publisher marks it failed once it is overdue.

use async_trait::async_trait;
use sluice_core::ids::{EndpointId, MessageId};
use sluice_core::model::Tenant;

use crate::error::Result;

/// One canary run as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanaryRunRow {
    pub message_id: MessageId,
    pub node_id: String,
    pub endpoint_id: EndpointId,
    pub published_at_ms: i64,
    pub received_at_ms: Option<i64>,
    pub failed_at_ms: Option<i64>,
}

/// The canary's rows. Takes no scope: only the engine's canary job and its receiver
/// call it, never on a caller's behalf.
#[async_trait]
pub trait CanaryStore: Send + Sync {
    /// Creates the canary's reserved tenant unless it exists.
    async fn ensure_canary_tenant(&self, tenant: &Tenant) -> Result<()>;
    /// The canary tenant's endpoint for `url` (not deleted), and whether it is enabled.
    async fn canary_endpoint(&self, url: &str) -> Result<Option<(EndpointId, bool)>>;
    /// Records a run about to be published (before it is, so a receipt cannot come
    /// first).
    async fn insert_canary_run(&self, run: &CanaryRunRow) -> Result<()>;
    async fn canary_run(&self, message_id: &MessageId) -> Result<Option<CanaryRunRow>>;
    /// Marks the run received at `at_ms`, once and only while it has not failed: true
    /// only for the receipt that did.
    async fn mark_canary_received(&self, message_id: &MessageId, at_ms: i64) -> Result<bool>;
    /// Fails every node's runs published before `before_ms` that nothing received
    /// (each once, whichever node gets there first: a node that died leaves its runs
    /// to the others), and answers how many.
    async fn fail_overdue_canaries(&self, before_ms: i64, now_ms: i64) -> Result<u64>;
    /// The canary tenant's endpoints (not deleted).
    async fn canary_endpoint_ids(&self) -> Result<Vec<EndpointId>>;
    /// The canary tenant's endpoints made before `before_ms` that no run since then
    /// used: left by nodes that went away or changed their `SLUICE_CANARY_URL`.
    async fn stale_canary_endpoints(&self, before_ms: i64) -> Result<Vec<EndpointId>>;
    /// Every node's runs published since `since_ms`, newest first.
    async fn canary_runs_since(&self, since_ms: i64) -> Result<Vec<CanaryRunRow>>;
    /// Deletes runs published before `before_ms`.
    async fn purge_canary_runs(&self, before_ms: i64) -> Result<u64>;
}
