//! The lease protocol's records: what the dispatcher scans for ([`DueEndpoint`]),
//! what a claim hands it ([`Claimed`]) and what it writes back ([`Outcome`]).

use sluice_core::ids::*;
use sluice_core::model::AttemptTrigger;

use super::AttemptRecord;

/// An endpoint with due work, as the dispatcher needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueEndpoint {
    pub id: EndpointId,
    pub tenant_id: TenantId,
    pub url: String,
    pub version: i64,
    pub rate_limit_per_second: Option<u32>,
    pub max_concurrency: Option<u32>,
    pub retry_schedule: Option<Vec<u32>>,
    /// The queue head's version when scanned, for [`QueueStore::settle_head`].
    ///
    /// [`QueueStore::settle_head`]: super::QueueStore::settle_head
    pub due_version: i64,
}

/// A delivery leased to this node, with what it takes to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: DeliveryId,
    pub message_id: MessageId,
    pub endpoint_id: EndpointId,
    pub tenant_id: TenantId,
    pub event_type: String,
    pub payload: String,
    pub message_created_at_ms: i64,
    /// Attempts made before this one.
    pub attempts: i64,
    /// `attempts` when the schedule last started over (a replay restarts it).
    pub retry_base: i64,
    /// Fencing token: the outcome is recorded only if the lease is still ours.
    pub lease_token: i64,
    pub trigger: AttemptTrigger,
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Succeeded,
    RetryAt(i64),
    Exhausted,
}

/// The result of one attempt, to be written with others in one transaction.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub lease_token: i64,
    pub attempt: AttemptRecord,
    pub next: NextStep,
}
