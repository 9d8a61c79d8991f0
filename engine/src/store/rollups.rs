//! What the SLO roll-ups keep: [`RollupStore`], each tenant's deliveries counted by
//! the hour they were published in, and the marks that say an hour changed since.
//!
//! The rule that keeps them exact: every transaction that changes a delivery of an
//! hour that is over also marks that hour (see [`mark_cutoff_ms`]), taking the mark's
//! row lock; the job counts a marked hour again and clears its mark in one
//! transaction, whose delete waits for that lock. So a change is either seen by the
//! count or leaves a mark behind.

use async_trait::async_trait;
use sluice_core::ids::{DeliveryId, EndpointId, MessageId, TenantId};

use super::{SloHour, TenantScope};
use crate::error::Result;

pub const HOUR_MS: i64 = 3_600_000;

/// How long after an hour ends the job first counts it: longer than a transaction
/// that read its clock before the hour ended takes to commit, plus the clock skew
/// between nodes. Writers mark only hours that are over by their clock, so a change
/// made in the hour's last moments is in the first count instead.
pub const SETTLE_MS: i64 = 5 * 60_000;

/// How much later than its `created_at` a delivery's id may be minted: a publish
/// waits for its group commit, which fails fast when the database is away (see
/// `publish_queue.rs`) rather than queueing for minutes.
pub const ID_SLACK_MS: i64 = 15 * 60_000;

/// Deliveries created before this (as of a writer's `now_ms`: the hour it is in
/// began) are in hours the job may already have counted, so a change to them must
/// mark their hour.
pub fn mark_cutoff_ms(now_ms: i64) -> i64 {
    now_ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// One tenant's hour as counted.
#[derive(Debug, Clone, PartialEq)]
pub struct RolledHour {
    pub hour: i64,
    /// The tier's latency target `good` was measured against.
    pub target_ms: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub pending: i64,
    pub good: i64,
    /// Cumulative counts at each of [`sluice_core::slo::LATENCY_BOUNDS_MS`].
    pub latency_le: Vec<i64>,
}

impl RolledHour {
    /// The hour as the overview counts it, for an hour whose every pending delivery is
    /// already late (it ended at least a latency target ago): all of them count.
    pub fn settled(&self) -> SloHour {
        SloHour {
            hour: self.hour,
            counted: self.succeeded + self.failed + self.pending,
            good: self.good,
            succeeded: self.succeeded,
            failed: self.failed,
            latency_le: self.latency_le.clone(),
        }
    }
}

/// A delivery as if published long ago, for [`RollupStore::insert_history`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastDelivery {
    pub tenant_id: TenantId,
    pub endpoint_id: EndpointId,
    pub created_at_ms: i64,
    pub outcome: PastOutcome,
}

/// Where a [`PastDelivery`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PastOutcome {
    /// Due since its creation, never attempted.
    Pending,
    /// Succeeded this long after its creation.
    SucceededAfter(i64),
    Failed,
}

/// The roll-ups and their marks. Takes no scope for the job's calls: only the engine's
/// roll-up job makes them, never on a caller's behalf.
#[async_trait]
pub trait RollupStore: Send + Sync {
    /// The first hour not counted yet for every tenant; `None` before the first run.
    async fn rollup_next_hour(&self) -> Result<Option<i64>>;
    /// The hour of the oldest delivery created at or after `since_ms`, if any.
    async fn oldest_delivery_hour(&self, since_ms: i64) -> Result<Option<i64>>;
    /// Counts `hour` for every tenant (replacing what was there) and moves the next
    /// hour on to `hour + 1`, only if it was `expected` (`None`: not started). False
    /// when another node got there first; nothing is written then.
    async fn roll_hour(&self, hour: i64, expected: Option<i64>, now_ms: i64) -> Result<bool>;
    /// Up to `limit` marked (tenant, hour)s before `before_hour`, oldest first.
    async fn marked_hours(&self, before_hour: i64, limit: i64) -> Result<Vec<(TenantId, i64)>>;
    /// Counts an hour again for one tenant (or all) and clears its marks, in one
    /// transaction.
    async fn reroll(&self, tenant: Option<&TenantId>, hour: i64, now_ms: i64) -> Result<()>;
    /// A tenant's counted hours in `[from_hour, to_hour)`.
    async fn rolled_hours(&self, tenant: &TenantScope, from_hour: i64, to_hour: i64) -> Result<Vec<RolledHour>>;
    /// Writes one message and its delivery per row, with ids minted at their creation
    /// time as a publish then would have, and no attempts, marking their hours:
    /// history for benchmarks and tests, bypassing the queue. Never called by Sluice
    /// itself.
    async fn insert_history(&self, rows: &[PastDelivery]) -> Result<Vec<(MessageId, DeliveryId)>>;
    /// Deletes counted hours and marks before `before_hour`.
    async fn purge_rollups(&self, before_hour: i64) -> Result<u64>;
}
