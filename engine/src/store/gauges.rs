//! What the metrics read from the database when scraped: [`GaugeStore`] and its rows.

use async_trait::async_trait;
use sluice_core::ids::TenantId;

use crate::access::Operator;
use crate::error::Result;

/// One tenant's waiting deliveries at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantQueue {
    pub tenant_id: TenantId,
    /// Due now (a lease that ran out counts: its delivery is due again).
    pub due: i64,
    /// Waiting for a retry's time.
    pub scheduled: i64,
    /// Leased to a node that is sending it.
    pub in_flight: i64,
    /// For an endpoint that is disabled (or deleted): nothing is sent until it is
    /// enabled, so these are not the queue failing to drain.
    pub paused: i64,
    /// When the oldest due delivery (of an enabled endpoint) came due, in Unix ms.
    pub oldest_due_ms: Option<i64>,
}

/// Endpoints that are not deleted, by whether they are enabled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointCounts {
    pub enabled: i64,
    pub disabled: i64,
}

/// One connection pool's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolState {
    /// `write` or `read` (SQLite has one of each; PostgreSQL one, `write`).
    pub pool: &'static str,
    pub idle: u64,
    pub size: u64,
    pub max: u64,
}

/// Attempts of one minute and one error class (none: succeeded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptMinute {
    /// Whole minutes after the window's start.
    pub minute: i64,
    pub error_class: Option<String>,
    pub attempts: i64,
}

/// Reads across every tenant, for an operator's scrape.
#[async_trait]
pub trait GaugeStore: Send + Sync {
    /// Every tenant with a delivery waiting, as of `now_ms`.
    async fn queue_depths(&self, operator: &Operator, now_ms: i64) -> Result<Vec<TenantQueue>>;
    async fn endpoint_counts(&self, operator: &Operator) -> Result<EndpointCounts>;
    /// Every tenant's attempts (the canary's left out) that started since `since_ms`,
    /// by minute and error class: one pass over the window's range of attempt ids.
    async fn attempt_minutes(&self, operator: &Operator, since_ms: i64) -> Result<Vec<AttemptMinute>>;
    /// Endpoints whose circuit is open for every node (PostgreSQL's shared breaker);
    /// SQLite has one node, which knows its own.
    async fn shared_open_circuit_count(&self, operator: &Operator) -> Result<i64>;
    /// No query: what the pools know of themselves.
    fn pool_states(&self) -> Vec<PoolState>;
    /// The tenant's SLO tier, for the delivery latency metric's label. Takes no
    /// scope: the engine asks it for a delivery it has just made, outside any caller.
    async fn tenant_tier(&self, tenant: &TenantId) -> Result<Option<String>>;
}
