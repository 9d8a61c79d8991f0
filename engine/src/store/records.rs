//! The records the store takes and gives back, beside the API's resources
//! (`sluice_core::model`): new rows to write, filters and pages to read by, and the
//! shapes of reports.

use sluice_core::ids::*;
use sluice_core::model::*;

/// Cursor pagination, newest first: rows with ids below `before`, at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    pub limit: i64,
    pub before: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub event_type: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub endpoint_id: Option<EndpointId>,
    pub message_id: Option<MessageId>,
    pub event_type: Option<String>,
    pub since_ms: Option<i64>,
}

/// A signing secret as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretRecord {
    pub id: SecretId,
    pub secret: String,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
}

/// A message about to be published.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub tenant_id: TenantId,
    pub event_type: String,
    pub payload: String,
    pub idempotency_key: Option<String>,
    /// Hash of the request, to tell a retry from a different request with the same key.
    pub request_hash: Option<String>,
    pub created_at_ms: i64,
    /// Deliver to this endpoint only (a test event), instead of every subscriber.
    pub only_endpoint: Option<EndpointId>,
}

#[derive(Debug, Clone)]
pub enum PublishResult {
    /// Stored, with this many deliveries queued.
    Created { message: Message, deliveries: usize },
    /// A message with the same idempotency key exists; nothing was written.
    Existing { message: Message, request_hash: Option<String> },
}

/// An attempt as stored.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub id: AttemptId,
    pub delivery_id: DeliveryId,
    pub message_id: MessageId,
    pub endpoint_id: EndpointId,
    pub tenant_id: TenantId,
    pub number: i64,
    pub trigger: AttemptTrigger,
    pub url: String,
    pub started_at_ms: i64,
    pub duration_ms: i64,
    pub request_headers: String,
    pub response_status: Option<i64>,
    pub response_headers: Option<String>,
    pub response_body: Option<String>,
    pub error_class: Option<ErrorClass>,
    pub error_message: Option<String>,
    /// The wait a 429 or 503 asked for with `Retry-After`, clamped, in seconds.
    pub retry_after_seconds: Option<i64>,
}

/// Something that happened, for the audit trail and the dashboard's timeline.
#[derive(Debug, Clone)]
pub struct LifecycleEvent {
    pub id: EventId,
    pub tenant_id: Option<TenantId>,
    pub kind: LifecycleKind,
    pub subject_id: String,
    pub actor: String,
    pub detail: serde_json::Value,
    pub created_at_ms: i64,
}

impl LifecycleEvent {
    pub fn new(
        tenant_id: Option<&TenantId>,
        kind: LifecycleKind,
        subject_id: &str,
        actor: &str,
        detail: serde_json::Value,
    ) -> Self {
        Self {
            id: crate::ids::new_id(),
            tenant_id: tenant_id.cloned(),
            kind,
            subject_id: subject_id.into(),
            actor: actor.into(),
            detail,
            created_at_ms: crate::ids::now_ms(),
        }
    }
}

/// Which lifecycle events a listing wants: a tenant's (or all), of one kind or every
/// kind of one subject (`endpoint`), about one resource, in a time range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub tenant: Option<TenantId>,
    /// A whole kind (`endpoint.disabled`).
    pub kind: Option<LifecycleKind>,
    /// Every kind of a subject (`endpoint`).
    pub subject_kind: Option<String>,
    pub subject_id: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

/// One tenant's health, as triage ranks it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TenantHealth {
    pub tenant_id: String,
    pub name: String,
    pub tier: String,
    pub succeeded: i64,
    pub failed: i64,
    pub backlog: i64,
    pub disabled_endpoints: i64,
    /// Deliveries counted for the SLO in the window, and those that were good
    /// (see [`SloHour`]), against the tenant's tier: [`sluice_core::slo::burn_rate`]
    /// turns them into the rate its error budget burns at.
    pub slo_counted: i64,
    pub slo_good: i64,
    pub success_target: f64,
}

/// What one purge pass deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct PurgeCounts {
    pub messages: u64,
    pub deliveries: u64,
    pub attempts: u64,
    pub events: u64,
    /// Deleted tenants whose last data went.
    pub tenants: u64,
}

/// One hour of a tenant's deliveries, by creation time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SloHour {
    /// Hours since the Unix epoch.
    pub hour: i64,
    pub counted: i64,
    pub good: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Succeeded deliveries whose publish-to-success latency is at or under each of
    /// [`sluice_core::slo::LATENCY_BOUNDS_MS`] (cumulative).
    pub latency_le: Vec<i64>,
}

impl SloHour {
    /// An hour with no deliveries (and a histogram of the right shape).
    pub fn empty(hour: i64) -> Self {
        Self { hour, latency_le: vec![0; sluice_core::slo::LATENCY_BOUNDS_MS.len()], ..Default::default() }
    }
}

/// One endpoint's recent deliveries, counted (see `ReportStore::endpoint_health`).
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointHealthRow {
    pub endpoint_id: EndpointId,
    pub succeeded: i64,
    pub failed: i64,
    pub last_error_class: Option<ErrorClass>,
    pub last_response_status: Option<i64>,
}

/// Something support searched for and where it lives.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchHit {
    /// `message` or `endpoint`.
    pub kind: String,
    pub id: String,
    pub tenant_id: String,
    /// The event type or URL, to tell hits apart.
    pub label: String,
}

/// A recover operation to run and store.
#[derive(Debug, Clone)]
pub struct NewOperation {
    pub id: OperationId,
    /// The endpoint it recovers; `None`: every endpoint of the tenant.
    pub endpoint_id: Option<EndpointId>,
    pub since_ms: i64,
    pub until_ms: i64,
    /// Only deliveries that failed for good at or after this (Unix ms).
    pub failed_since_ms: Option<i64>,
    /// Only deliveries of this event type, whose last attempt failed this way.
    pub event_type: Option<String>,
    pub error_class: Option<ErrorClass>,
    pub created_by: String,
}

/// A live session as stored: its user, its CSRF token, when it was last used.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSession {
    pub user: User,
    pub csrf_token: String,
    pub last_seen_ms: i64,
}

/// A session to store: the hash of the cookie's token, never the token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token_hash: String,
    pub user_id: UserId,
    pub csrf_token: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

/// One sign-in limit: its key, the attempts a window allows freely, and the wait
/// before each attempt beyond those (doubling from `first_delay_ms` to `max_delay_ms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleLimit {
    pub key: String,
    pub free: i64,
    pub first_delay_ms: i64,
    pub max_delay_ms: i64,
}

/// Which audit entries a reading covers, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this tenant's (a tenant caller always has this set to its own).
    pub tenant: Option<TenantId>,
    pub actor: Option<String>,
    /// A whole action (`user.disabled`) or a subject (`user`).
    pub action: Option<String>,
    pub since_ms: Option<i64>,
}
