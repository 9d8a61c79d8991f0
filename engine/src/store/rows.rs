//! Rows as selected and their mapping to the API's resources and the store's records:
//! the `FromRow` structs, the column lists that select them, the row→record mappers and
//! the small SQL helpers the statements in `sql/` share. Nothing here depends on the
//! backend, so it is compiled once.

use chrono::{DateTime, TimeZone, Utc};
use sluice_core::ids::*;
use sluice_core::model::*;

use super::{DueEndpoint, SecretRecord};
use crate::error::{Error, Result};

#[derive(Debug, sqlx::FromRow)]
pub(super) struct TenantRow {
    pub id: String,
    pub name: String,
    pub tier: String,
    pub retention_days: i64,
    pub backlog_cap: i64,
    pub max_endpoints: Option<i64>,
    pub max_api_keys: Option<i64>,
    pub auto_disable_after_seconds: Option<i64>,
    pub receives_all_notices: bool,
    pub suspended_at: Option<i64>,
    pub suspended_reason: Option<String>,
    pub created_at: i64,
    pub version: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct AuditRow {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub tenant_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub client_ip: Option<String>,
    pub detail: String,
}

/// A user with their password hash (sign-in).
#[derive(Debug, sqlx::FromRow)]
pub(super) struct UserWithHash {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub password_hash: String,
}

/// A user with the session that names them.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct UserWithSession {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub csrf_token: String,
    pub last_seen_at: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct UserRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub tenant_id: Option<String>,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
    pub version: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct ApiKeyRow {
    pub id: String,
    pub tenant_id: Option<String>,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct EndpointRow {
    pub id: String,
    pub tenant_id: String,
    pub url: String,
    pub description: String,
    pub event_types: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<i64>,
    pub rate_limit_per_second: Option<i64>,
    pub max_concurrency: Option<i64>,
    pub retry_schedule: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub labels: String,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct SecretRow {
    pub id: String,
    pub secret: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct MessageRow {
    pub id: String,
    pub tenant_id: String,
    pub event_type: String,
    pub payload: String,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct DeliveryRow {
    pub id: String,
    pub message_id: String,
    pub endpoint_id: String,
    pub tenant_id: String,
    pub event_type: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub lease_owner: Option<String>,
    pub last_error_class: Option<String>,
    pub last_response_status: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub operation_id: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct AttemptRow {
    pub id: String,
    pub delivery_id: String,
    pub message_id: String,
    pub endpoint_id: String,
    pub number: i64,
    pub trigger: String,
    pub url: String,
    pub started_at: i64,
    pub duration_ms: i64,
    pub request_headers: String,
    pub response_status: Option<i64>,
    pub response_headers: Option<String>,
    pub response_body: Option<String>,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    pub retry_after_seconds: Option<i64>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct DueEndpointRow {
    pub id: String,
    pub tenant_id: String,
    pub url: String,
    pub version: i64,
    pub rate_limit_per_second: Option<i64>,
    pub max_concurrency: Option<i64>,
    pub retry_schedule: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct ClaimedRow {
    pub id: String,
    pub message_id: String,
    pub endpoint_id: String,
    pub tenant_id: String,
    pub event_type: String,
    pub attempts: i64,
    pub retry_base: i64,
    pub lease_token: i64,
    pub next_trigger: String,
}

impl ClaimedRow {
    /// The claimed delivery, with its message's payload and creation time.
    pub fn into_claimed(self, payload: String, message_created_at_ms: i64) -> Result<super::Claimed> {
        Ok(super::Claimed {
            delivery_id: parse_id(self.id)?,
            message_id: parse_id(self.message_id)?,
            endpoint_id: parse_id(self.endpoint_id)?,
            tenant_id: parse_id(self.tenant_id)?,
            event_type: self.event_type,
            payload,
            message_created_at_ms,
            attempts: self.attempts,
            retry_base: self.retry_base,
            lease_token: self.lease_token,
            trigger: AttemptTrigger::parse(&self.next_trigger).unwrap_or(AttemptTrigger::Scheduled),
        })
    }
}

/// A claimed delivery with its message, as PostgreSQL's claim answers in one statement
/// (the message joined from the left, so a missing one is an error, not a row lost).
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ClaimedWithMessage {
    #[sqlx(flatten)]
    pub row: ClaimedRow,
    pub payload: Option<String>,
    pub message_created_at: Option<i64>,
}

impl ClaimedWithMessage {
    pub fn into_claimed(self) -> Result<super::Claimed> {
        match (self.payload, self.message_created_at) {
            (Some(payload), Some(created)) => self.row.into_claimed(payload, created),
            _ => Err(Error::Internal(format!(
                "delivery {} points at missing message {}",
                self.row.id, self.row.message_id
            ))),
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct EventRow {
    pub id: String,
    pub tenant_id: Option<String>,
    pub kind: String,
    pub subject_id: String,
    pub actor: String,
    pub detail: String,
    pub created_at: i64,
}

pub(super) const API_KEY_COLUMNS: &str = "id, tenant_id, name, prefix, created_at, last_used_at, revoked_at";
pub(super) const USER_COLUMNS: &str =
    "users.id, users.email, users.role, users.tenant_id, users.created_at, users.disabled_at, users.version";
pub(super) const ENDPOINT_COLUMNS: &str = "id, tenant_id, url, description, event_types, enabled, disabled_reason, \
     disabled_at, rate_limit_per_second, max_concurrency, retry_schedule, version, created_at, updated_at, labels";
pub(super) const MESSAGE_COLUMNS: &str =
    "id, tenant_id, event_type, payload, idempotency_key, request_hash, created_at";
pub(super) const DELIVERY_COLUMNS: &str = "id, message_id, endpoint_id, tenant_id, event_type, state, attempts, \
     next_attempt_at, lease_owner, last_error_class, last_response_status, created_at, updated_at, operation_id";
/// The condition that the tenant bound as `$1` is not deleted: a primary-key probe,
/// so a deleted tenant's endpoints, messages and deliveries are "not found" from the
/// request on, not only once the purge reaches them.
pub(super) const LIVE_TENANT: &str =
    "NOT EXISTS (SELECT 1 FROM tenants live WHERE live.id = $1 AND live.deleted_at IS NOT NULL)";

/// The condition that `column` (a tenant id) is not the canary's reserved tenant, for
/// the listings across tenants, which must never show it: no caller can reach it.
/// A row with no tenant (a platform-wide audit entry) passes.
pub(super) fn not_canary(column: &str) -> String {
    format!("({column} IS NULL OR {column} <> '{}')", TenantId::canary())
}

pub(super) const TENANT_COLUMNS: &str =
    "id, name, tier, retention_days, backlog_cap, max_endpoints, max_api_keys, auto_disable_after_seconds, \
     receives_all_notices, suspended_at, suspended_reason, created_at, version";

pub(super) const ATTEMPT_COLUMNS: &str = "id, delivery_id, message_id, endpoint_id, number, trigger, url, started_at, \
     duration_ms, request_headers, response_status, response_headers, response_body, error_class, error_message, \
     retry_after_seconds";

/// The SLO rule, written once for every query that applies it (arguments are SQL
/// expressions): a delivery counts once it finished, or while still pending past the
/// target (already late); it is good when its first success came within the target.
pub(super) fn slo_counted(late_before: &str) -> String {
    format!("(state IN ('succeeded', 'failed') OR (state = 'pending' AND created_at <= {late_before}))")
}

pub(super) fn slo_good(latency_target: &str) -> String {
    format!("(state = 'succeeded' AND succeeded_at - created_at <= {latency_target})")
}

/// Whether an endpoint subscribed to `types` (a JSON array; empty = all) gets `event_type`.
pub(super) fn subscribes(types_json: &str, event_type: &str) -> bool {
    let types: Vec<String> = serde_json::from_str(types_json).unwrap_or_default();
    sluice_core::validate::subscribes(&types, event_type)
}

pub(crate) fn ms_to_dt(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

pub(super) fn parse_id<K: IdKind>(s: String) -> Result<Id<K>> {
    Id::parse(&s).map_err(|e| Error::Internal(format!("stored id is invalid: {e}")))
}

pub(super) fn opt_id<K: IdKind>(s: Option<String>) -> Result<Option<Id<K>>> {
    s.map(parse_id).transpose()
}

pub(super) fn json_map(s: &str) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str(s).unwrap_or_default()
}

pub(super) fn schedule_from(s: Option<String>) -> Result<Option<Vec<u32>>> {
    Ok(s.map(|s| serde_json::from_str(&s)).transpose()?)
}

pub(super) fn tenant_from(r: TenantRow) -> Result<Tenant> {
    Ok(Tenant {
        id: parse_id(r.id)?,
        name: r.name,
        tier: r.tier,
        retention_days: r.retention_days,
        backlog_cap: r.backlog_cap,
        max_endpoints: r.max_endpoints.and_then(|v| u32::try_from(v).ok()),
        max_api_keys: r.max_api_keys.and_then(|v| u32::try_from(v).ok()),
        auto_disable_after_seconds: r.auto_disable_after_seconds.and_then(|v| u32::try_from(v).ok()),
        receives_all_notices: r.receives_all_notices,
        suspended_at: r.suspended_at.map(ms_to_dt),
        suspended_reason: r.suspended_reason,
        created_at: ms_to_dt(r.created_at),
        version: r.version,
    })
}

/// The columns `tier_from` reads, in its order.
pub(super) const TIER_COLUMNS: &str = "name, success_target, latency_target_ms, updated_at, version";

pub(super) fn tier_from(
    (name, success_target, latency_target_ms, updated_at, version): (String, f64, i64, i64, i64),
) -> Tier {
    Tier { name, success_target, latency_target_ms, updated_at: ms_to_dt(updated_at), version }
}

pub(super) fn api_key_from(r: ApiKeyRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: parse_id(r.id)?,
        tenant_id: opt_id(r.tenant_id)?,
        name: r.name,
        prefix: r.prefix,
        created_at: ms_to_dt(r.created_at),
        last_used_at: r.last_used_at.map(ms_to_dt),
        revoked_at: r.revoked_at.map(ms_to_dt),
    })
}

pub(super) fn audit_from(r: AuditRow) -> Result<AuditEvent> {
    Ok(AuditEvent {
        id: parse_id(r.id)?,
        at: ms_to_dt(r.at),
        actor: r.actor,
        tenant_id: opt_id(r.tenant_id)?,
        action: r.action,
        target: r.target,
        client_ip: r.client_ip,
        detail: serde_json::from_str(&r.detail)?,
    })
}

pub(super) fn user_from(r: UserRow) -> Result<User> {
    Ok(User {
        id: parse_id(r.id)?,
        email: r.email,
        role: Role::parse(&r.role)
            .ok_or_else(|| Error::Internal(format!("unknown role {:?} in the database", r.role)))?,
        tenant_id: opt_id(r.tenant_id)?,
        created_at: ms_to_dt(r.created_at),
        disabled_at: r.disabled_at.map(ms_to_dt),
        version: r.version,
    })
}

pub(super) fn endpoint_from(r: EndpointRow) -> Result<Endpoint> {
    Ok(Endpoint {
        id: parse_id(r.id)?,
        tenant_id: parse_id(r.tenant_id)?,
        url: r.url,
        description: r.description,
        event_types: serde_json::from_str(&r.event_types)?,
        status: if r.enabled { EndpointStatus::Enabled } else { EndpointStatus::Disabled },
        disabled_reason: r.disabled_reason,
        disabled_at: r.disabled_at.map(ms_to_dt),
        rate_limit_per_second: r.rate_limit_per_second.and_then(|v| u32::try_from(v).ok()),
        max_concurrency: r.max_concurrency.and_then(|v| u32::try_from(v).ok()),
        retry_schedule_seconds: schedule_from(r.retry_schedule)?,
        labels: serde_json::from_str(&r.labels)?,
        version: r.version,
        created_at: ms_to_dt(r.created_at),
        updated_at: ms_to_dt(r.updated_at),
    })
}

pub(super) fn secret_from(r: SecretRow) -> Result<SecretRecord> {
    Ok(SecretRecord { id: parse_id(r.id)?, secret: r.secret, created_at_ms: r.created_at, expires_at_ms: r.expires_at })
}

pub(super) fn message_from(r: MessageRow) -> Result<Message> {
    Ok(Message {
        id: parse_id(r.id)?,
        tenant_id: parse_id(r.tenant_id)?,
        event_type: r.event_type,
        payload: serde_json::value::RawValue::from_string(r.payload)?,
        idempotency_key: r.idempotency_key,
        created_at: ms_to_dt(r.created_at),
    })
}

pub(super) fn delivery_from(r: DeliveryRow) -> Result<Delivery> {
    let status = DeliveryStatus::parse(&r.state)
        .ok_or_else(|| Error::Internal(format!("unknown delivery state {}", r.state)))?;
    Ok(Delivery {
        id: parse_id(r.id)?,
        message_id: parse_id(r.message_id)?,
        endpoint_id: parse_id(r.endpoint_id)?,
        tenant_id: parse_id(r.tenant_id)?,
        event_type: r.event_type,
        status,
        attempts: r.attempts,
        // A leased row's next_attempt_at is its lease expiry: show it as "now".
        next_attempt_at: match (status, r.lease_owner) {
            (DeliveryStatus::Pending, Some(_)) => r.next_attempt_at.map(|_| ms_to_dt(r.updated_at)),
            _ => r.next_attempt_at.map(ms_to_dt),
        },
        last_error_class: r.last_error_class.as_deref().and_then(ErrorClass::parse),
        last_response_status: r.last_response_status,
        created_at: ms_to_dt(r.created_at),
        updated_at: ms_to_dt(r.updated_at),
        operation_id: opt_id(r.operation_id)?,
    })
}

pub(super) fn attempt_from(r: AttemptRow) -> Result<Attempt> {
    Ok(Attempt {
        id: parse_id(r.id)?,
        delivery_id: parse_id(r.delivery_id)?,
        message_id: parse_id(r.message_id)?,
        endpoint_id: parse_id(r.endpoint_id)?,
        number: r.number,
        trigger: AttemptTrigger::parse(&r.trigger).unwrap_or(AttemptTrigger::Scheduled),
        url: r.url,
        started_at: ms_to_dt(r.started_at),
        duration_ms: r.duration_ms,
        request_headers: json_map(&r.request_headers),
        response_status: r.response_status,
        response_headers: r.response_headers.as_deref().map(json_map),
        response_body: r.response_body,
        error_class: r.error_class.as_deref().and_then(ErrorClass::parse),
        error_message: r.error_message,
        retry_after_seconds: r.retry_after_seconds,
    })
}

pub(super) fn due_endpoint_from(r: DueEndpointRow) -> Result<DueEndpoint> {
    Ok(DueEndpoint {
        id: parse_id(r.id)?,
        tenant_id: parse_id(r.tenant_id)?,
        url: r.url,
        version: r.version,
        rate_limit_per_second: r.rate_limit_per_second.and_then(|v| u32::try_from(v).ok()),
        max_concurrency: r.max_concurrency.and_then(|v| u32::try_from(v).ok()),
        retry_schedule: schedule_from(r.retry_schedule)?,
    })
}

pub(super) fn event_from(r: EventRow) -> Result<ActivityEvent> {
    let kind = LifecycleKind::parse(&r.kind)
        .ok_or_else(|| Error::Internal(format!("lifecycle event {} has an unknown kind {}", r.id, r.kind)))?;
    Ok(ActivityEvent {
        id: parse_id(r.id)?,
        tenant_id: r.tenant_id.map(parse_id).transpose()?,
        kind,
        subject_id: r.subject_id,
        actor: r.actor,
        detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
        created_at: ms_to_dt(r.created_at),
    })
}
