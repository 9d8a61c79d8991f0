//! Resources as the API returns them and requests as the API accepts them.
//!
//! These are the wire contract of API v1: fields may be added, never renamed or
//! removed (docs/api-versioning.md). Clients must ignore fields they do not know.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::ids::*;

pub use crate::incidents::{
    Incident, IncidentCause, IncidentResolution, IncidentState, IncidentStats, IncidentTimes, Percentiles,
};
pub use crate::requests::*;
pub use crate::views::{
    ActivityEvent, DeliveryDetail, EndpointHealth, EndpointHealthReport, FailingStreak, LifecycleKind,
    MessageDeliveries, NodeInfo, NodeState, NodeStatus, OpenCircuitInfo,
};

/// A page of a list, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub tier: String,
    pub retention_days: i64,
    pub backlog_cap: i64,
    /// Quotas set for this tenant; `null` means the platform's default
    /// (`SLUICE_TENANT_MAX_ENDPOINTS`, `SLUICE_TENANT_MAX_API_KEYS`).
    pub max_endpoints: Option<u32>,
    pub max_api_keys: Option<u32>,
    /// How long its endpoints may fail every attempt before they are disabled, in
    /// seconds: `null` means the platform's default (`SLUICE_AUTO_DISABLE_AFTER_SECONDS`,
    /// three days unless set), `0` never.
    pub auto_disable_after_seconds: Option<u32>,
    /// Its endpoints that subscribe to Sluice's own event types
    /// (`sluice.endpoint.disabled`, …) get them for every tenant: the platform's inbox
    /// for notices about its customers' endpoints.
    pub receives_all_notices: bool,
    /// Set while the platform has suspended the tenant: its publishes, test events,
    /// replays and recovers are refused (409 `tenant_suspended`) and nothing is
    /// delivered; what waited is delivered once it is resumed.
    pub suspended_at: Option<DateTime<Utc>>,
    /// Why, as the platform said when suspending it.
    pub suspended_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Goes up with every change: the tenant's ETag, and what `If-Match` names.
    pub version: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    pub id: ApiKeyId,
    /// `null` for a platform key, which reaches every tenant.
    pub tenant_id: Option<TenantId>,
    pub name: String,
    /// The first characters of the key, to recognise it; the key itself is never stored.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    /// When it last authenticated a request (to the minute), if ever.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The tier a tenant is put on when none is named (a seeded row of the `tiers` table).
pub const DEFAULT_TIER: &str = "standard";

/// An SLO class: what a tenant on it is promised. A delivery is good when it
/// succeeded within `latency_target_ms` of its message being published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tier {
    pub name: String,
    /// Share of deliveries that must be good, e.g. 0.999.
    pub success_target: f64,
    pub latency_target_ms: i64,
    pub updated_at: DateTime<Utc>,
    /// Goes up with every change: the tier's ETag, and what `If-Match` names.
    pub version: i64,
}

/// Where a tenant's deletion stands. The tenant is gone for every caller from the
/// request on; its data goes soon after, a batch at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantDeletion {
    pub tenant_id: TenantId,
    /// `deleting` while its data is being removed, then `deleted`.
    pub state: String,
    pub requested_at: DateTime<Utc>,
    /// Who asked: a platform key (`key_…`) or an admin (`usr_…`).
    pub requested_by: String,
    /// When the last of its data went.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its messages not removed yet (each with its deliveries and attempts).
    pub messages_left: i64,
}

/// SLO attainment over one window ending now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SloWindow {
    pub label: String,
    pub hours: i64,
    /// Deliveries whose outcome counts: finished, or still pending past the latency
    /// target (already late, so already bad). Cancelled ones do not count.
    pub counted: i64,
    pub good: i64,
    pub attainment: Option<f64>,
    /// 1.0 untouched, 0.0 spent, negative overspent.
    pub budget_remaining: Option<f64>,
}

/// One hour of a tenant's deliveries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LatencyPoint {
    pub start: DateTime<Utc>,
    pub succeeded: i64,
    pub failed: i64,
    /// Publish to first success, estimated from a histogram; `null` without successes.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorClassCount {
    pub error_class: String,
    pub deliveries: i64,
}

/// Everything the tenant overview shows: SLO windows, latency over the last 24 hours,
/// backlog now, and why deliveries failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantOverview {
    pub tenant: Tenant,
    pub tier: Tier,
    /// 24 h, 7 d, 30 d.
    pub windows: Vec<SloWindow>,
    /// Hourly, oldest first, the last 24 hours (the current hour included).
    pub latency: Vec<LatencyPoint>,
    /// Percentiles over the whole last 24 hours.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub backlog: i64,
    /// Last error class of deliveries not (yet) succeeded over the last 24 hours.
    pub error_classes: Vec<ErrorClassCount>,
    /// Its endpoints' incidents: time to detect and recover over 7 and 30 days.
    #[serde(default)]
    pub incidents: IncidentStats,
    /// Deliveries finished over the last 24 hours by endpoint label (`kind=erp`), for
    /// the endpoints that have labels; most deliveries first.
    #[serde(default)]
    pub by_label: Vec<LabelSuccess>,
}

/// Deliveries to the endpoints with one label, over the last 24 hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LabelSuccess {
    /// `key=value`.
    pub label: String,
    /// Endpoints with the label.
    pub endpoints: i64,
    pub succeeded: i64,
    /// Used up their retries.
    pub failed: i64,
}

/// The answer to creating an API key: the only time the key is shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    pub key: String,
}

/// The answer to creating a portal link: the only time its URL is shown. Hand it to
/// the partner (a redirect, a button in your product); it works once, until
/// `expires_at`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PortalLink {
    pub id: PortalLinkId,
    pub tenant_id: TenantId,
    /// Opens a page whose button signs the browser in (the link alone changes nothing,
    /// so a chat preview or a mail scanner fetching it does not use it up).
    #[cfg_attr(
        feature = "openapi",
        schema(example = "https://sluice.example/portal/q7Xo2fJp0vN4cR9sLk1mHw6tYb3eDz8uAi5gVnE0QxM")
    )]
    pub url: String,
    pub read_only: bool,
    pub expires_at: DateTime<Utc>,
    pub session_seconds: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EndpointStatus {
    Enabled,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Endpoint {
    pub id: EndpointId,
    pub tenant_id: TenantId,
    pub url: String,
    pub description: String,
    /// Event types this endpoint receives; empty means all.
    pub event_types: Vec<String>,
    pub status: EndpointStatus,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub rate_limit_per_second: Option<u32>,
    /// Requests in flight at most (1–64); `null` means the node's default. Within it
    /// the engine adapts: a few slots at first, more for fast successes, fewer after
    /// timeouts and 5xx.
    pub max_concurrency: Option<u32>,
    /// Delays in seconds between attempts; `null` means the default schedule.
    pub retry_schedule_seconds: Option<Vec<u32>>,
    /// Small key/value labels for grouping endpoints (`{"kind": "erp"}`); the tenant
    /// overview shows delivery success by label.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Bumped on every change: the ETag, and the `If-Match` value for PATCH.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One signing secret of an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SigningSecret {
    pub key: String,
    pub created_at: DateTime<Utc>,
    /// `null` for the active secret; previous secrets stay valid until then.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The signing secrets of an endpoint: the active one and those in their grace period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointSecrets {
    /// The active secret.
    pub key: String,
    /// Previous secrets that are still valid (and still sign deliveries) until expiry.
    pub previous: Vec<SigningSecret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: MessageId,
    pub tenant_id: TenantId,
    pub event_type: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub payload: Box<RawValue>,
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
    Cancelled,
}

impl DeliveryStatus {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Succeeded, Self::Failed, Self::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: DeliveryId,
    pub message_id: MessageId,
    pub endpoint_id: EndpointId,
    pub tenant_id: TenantId,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error_class: Option<ErrorClass>,
    pub last_response_status: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The recover operation that last queued it again, if one did.
    #[serde(default)]
    pub operation_id: Option<OperationId>,
}

/// Why an attempt was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AttemptTrigger {
    /// The first attempt or a retry from the schedule.
    Scheduled,
    /// A replay asked for by a person or an API call.
    Manual,
    /// Part of a bulk recover operation.
    BulkRecover,
}

impl AttemptTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Manual => "manual",
            Self::BulkRecover => "bulk_recover",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Scheduled, Self::Manual, Self::BulkRecover].into_iter().find(|v| v.as_str() == s)
    }
}

/// Why an attempt failed, coarse enough to aggregate and chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    Timeout,
    Connect,
    Dns,
    Tls,
    Http3xx,
    Http4xx,
    Http410,
    Http429,
    Http5xx,
    BlockedTarget,
    Other,
}

impl ErrorClass {
    pub const ALL: [Self; 11] = [
        Self::Timeout,
        Self::Connect,
        Self::Dns,
        Self::Tls,
        Self::Http3xx,
        Self::Http4xx,
        Self::Http410,
        Self::Http429,
        Self::Http5xx,
        Self::BlockedTarget,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Dns => "dns",
            Self::Tls => "tls",
            Self::Http3xx => "http_3xx",
            Self::Http4xx => "http_4xx",
            Self::Http410 => "http_410",
            Self::Http429 => "http_429",
            Self::Http5xx => "http_5xx",
            Self::BlockedTarget => "blocked_target",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The class of a completed HTTP response, or `None` for success (2xx).
    pub fn of_status(status: u16) -> Option<Self> {
        match status {
            200..=299 => None,
            300..=399 => Some(Self::Http3xx),
            410 => Some(Self::Http410),
            429 => Some(Self::Http429),
            400..=499 => Some(Self::Http4xx),
            500..=599 => Some(Self::Http5xx),
            _ => Some(Self::Other),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attempt {
    pub id: AttemptId,
    pub delivery_id: DeliveryId,
    pub message_id: MessageId,
    pub endpoint_id: EndpointId,
    /// 1 for the first attempt of the delivery.
    pub number: i64,
    pub trigger: AttemptTrigger,
    pub url: String,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub request_headers: serde_json::Map<String, serde_json::Value>,
    pub response_status: Option<i64>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub response_headers: Option<serde_json::Map<String, serde_json::Value>>,
    /// The start of the response body (at most 8 KiB).
    pub response_body: Option<String>,
    pub error_class: Option<ErrorClass>,
    pub error_message: Option<String>,
    /// The wait the receiver asked for with `Retry-After` on a 429 or 503, clamped
    /// to 1 s to 1 h. It can lengthen the schedule's next wait, never shorten it.
    pub retry_after_seconds: Option<i64>,
}

/// What a dashboard user may do. Admins everything; support reads every tenant and
/// replays, but changes no secrets or users; a partner sees one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Support,
    Partner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Support => "support",
            Self::Partner => "partner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "support" => Some(Self::Support),
            "partner" => Some(Self::Partner),
            _ => None,
        }
    }
}

/// A person who signs in to the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: UserId,
    /// Lower-cased; unique.
    pub email: String,
    pub role: Role,
    /// The one tenant a partner belongs to; `null` for admin and support.
    pub tenant_id: Option<TenantId>,
    pub created_at: DateTime<Utc>,
    /// Set while the user is disabled: no sign-in, no session.
    #[serde(default)]
    pub disabled_at: Option<DateTime<Utc>>,
    /// Goes up with every change of role, tenant or disabled state: the user's ETag,
    /// and what `If-Match` names.
    pub version: i64,
}

/// One entry of the audit trail: who did what to what, when, from where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub id: AuditId,
    pub at: DateTime<Utc>,
    /// A user (`usr_…`), an API key (`key_…`), an email (a failed sign-in), or the
    /// engine itself (`retention@…`).
    pub actor: String,
    /// The tenant it concerns; `null` for platform-wide actions.
    pub tenant_id: Option<TenantId>,
    /// What was done, `subject.verb`: `user.disabled`, `api_key.created`, …
    pub action: String,
    /// The id acted on, if any.
    pub target: Option<String>,
    /// The client's address, as the server's trusted-proxy rules decided.
    pub client_ip: Option<String>,
    /// What else matters (the new role, the grace period, …).
    pub detail: serde_json::Value,
}

/// A long-running action on a tenant's behalf. So far one kind: `recover`, which
/// re-queues the failed deliveries of one endpoint, or of every endpoint of the
/// tenant, from a time window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Operation {
    pub id: OperationId,
    pub tenant_id: TenantId,
    pub kind: String,
    /// The endpoint it recovers; null for a recover across every endpoint of the
    /// tenant (`POST /v1/tenants/{tenant}/recover`).
    pub endpoint_id: Option<EndpointId>,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The filters it was started with, if any.
    pub event_type: Option<String>,
    pub error_class: Option<ErrorClass>,
    /// `running` while any of its deliveries is pending, then `completed`;
    /// `cancelled` once cancelled (what was still waiting went back to failed).
    pub state: String,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Deliveries it re-queued, and where they are now.
    pub total: i64,
    pub pending: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// What a recover would re-queue (`dry_run`), without re-queueing anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoverPreview {
    pub deliveries: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_distinguishes_absent_from_null() {
        let p: PatchEndpoint = serde_json::from_str(r#"{"rate_limit_per_second": null}"#).expect("parse");
        assert_eq!(p.rate_limit_per_second, Some(None));
        assert_eq!(p.retry_schedule_seconds, None);
        let p: PatchEndpoint = serde_json::from_str(r#"{"rate_limit_per_second": 5}"#).expect("parse");
        assert_eq!(p.rate_limit_per_second, Some(Some(5)));
    }

    #[test]
    fn error_class_of_status() {
        assert_eq!(ErrorClass::of_status(204), None);
        assert_eq!(ErrorClass::of_status(301), Some(ErrorClass::Http3xx));
        assert_eq!(ErrorClass::of_status(410), Some(ErrorClass::Http410));
        assert_eq!(ErrorClass::of_status(429), Some(ErrorClass::Http429));
        assert_eq!(ErrorClass::of_status(404), Some(ErrorClass::Http4xx));
        assert_eq!(ErrorClass::of_status(503), Some(ErrorClass::Http5xx));
    }
}
