//! Requests as the API accepts them: the bodies of POSTs and PATCHes, each refusing
//! fields it does not know. Re-exported by `model`, beside the resources they create.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use crate::ids::*;
use crate::model::Role;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateTier {
    #[cfg_attr(feature = "openapi", schema(minimum = 0.5, exclusive_maximum = 1.0, example = 0.999))]
    #[serde(default)]
    pub success_target: Option<f64>,
    #[cfg_attr(feature = "openapi", schema(minimum = 1000, maximum = 86_400_000))]
    #[serde(default)]
    pub latency_target_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PatchTenant {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256, pattern = r"\S", example = "Acme Corp"))]
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tier: Option<String>,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000_000))]
    #[serde(default)]
    pub backlog_cap: Option<i64>,
    /// Days messages are kept once delivered; a shorter one applies at the next purge.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
    #[serde(default)]
    pub retention_days: Option<i64>,
    /// `null` returns the tenant to the platform's default.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100_000))]
    #[serde(default, deserialize_with = "double_option")]
    pub max_endpoints: Option<Option<u32>>,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10_000))]
    #[serde(default, deserialize_with = "double_option")]
    pub max_api_keys: Option<Option<u32>>,
    /// Seconds its endpoints may fail every attempt before they are disabled; `0`
    /// never, `null` the platform's default.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 31_536_000))]
    #[serde(default, deserialize_with = "double_option")]
    pub auto_disable_after_seconds: Option<Option<u32>>,
    /// Whether its endpoints get Sluice's own event types for every tenant.
    #[serde(default)]
    pub receives_all_notices: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256, pattern = r"\S", example = "Acme Corp"))]
    pub name: String,
    #[serde(default)]
    pub tier: Option<String>,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
    #[serde(default)]
    pub retention_days: Option<i64>,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000_000))]
    #[serde(default)]
    pub backlog_cap: Option<i64>,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100_000))]
    #[serde(default)]
    pub max_endpoints: Option<u32>,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10_000))]
    #[serde(default)]
    pub max_api_keys: Option<u32>,
    /// Seconds its endpoints may fail every attempt before they are disabled; `0`
    /// never; left out, the platform's default.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 31_536_000))]
    #[serde(default)]
    pub auto_disable_after_seconds: Option<u32>,
    /// Whether its endpoints get Sluice's own event types for every tenant (the
    /// platform's inbox for notices); `false` when left out.
    #[serde(default)]
    pub receives_all_notices: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256, pattern = r"\S", example = "Acme Corp"))]
    #[serde(default)]
    pub name: Option<String>,
}

/// A one-time link that signs its opener into the dashboard as the tenant's partner.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatePortalLink {
    /// The session it opens may look at everything of the tenant and change nothing:
    /// no endpoint, secret, replay, recover or test event.
    #[serde(default)]
    pub read_only: bool,
    /// How long the link waits to be opened, in seconds: 30 to 3600, 300 when left out.
    #[cfg_attr(feature = "openapi", schema(minimum = 30, maximum = 3600, example = 300))]
    #[serde(default)]
    pub expires_in_seconds: Option<u32>,
    /// How long the session it opens lasts, in seconds: 300 to 43200 (12 hours), 3600
    /// when left out. It also ends after 30 idle minutes, as every dashboard session.
    #[cfg_attr(feature = "openapi", schema(minimum = 300, maximum = 43_200, example = 3600))]
    #[serde(default)]
    pub session_seconds: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 2048,
            pattern = "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@]+([/?][^#]*)?$",
            example = "https://partner.example/webhooks"
        )
    )]
    pub url: String,
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    #[serde(default)]
    pub description: Option<String>,
    #[cfg_attr(feature = "openapi", schema(max_items = 256, example = json!(["invoice.paid", "invoice.voided"])))]
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100_000))]
    #[serde(default)]
    pub rate_limit_per_second: Option<u32>,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 64))]
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    #[cfg_attr(feature = "openapi", schema(max_items = 30, example = json!([5, 300, 1800, 7200, 18000, 36000, 36000])))]
    #[serde(default)]
    pub retry_schedule_seconds: Option<Vec<u32>>,
    /// Bring your own secret (`whsec_` + base64); generated when absent.
    #[cfg_attr(feature = "openapi", schema(pattern = "^whsec_[A-Za-z0-9+/]+={0,2}$"))]
    #[serde(default)]
    pub secret: Option<String>,
    /// Up to ten labels: keys of lower-case letters, digits, `_`, `.` and `-`, values
    /// of 1 to 64 characters.
    #[cfg_attr(feature = "openapi", schema(example = json!({ "kind": "erp" })))]
    #[serde(default)]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
}

/// A partial update: absent fields keep their value; `null` clears an optional one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PatchEndpoint {
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 2048,
            pattern = "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@]+([/?][^#]*)?$",
            example = "https://partner.example/webhooks"
        )
    )]
    #[serde(default)]
    pub url: Option<String>,
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    #[serde(default)]
    pub description: Option<String>,
    #[cfg_attr(feature = "openapi", schema(max_items = 256, example = json!(["invoice.paid", "invoice.voided"])))]
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100_000))]
    #[serde(default, deserialize_with = "double_option")]
    pub rate_limit_per_second: Option<Option<u32>>,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 64))]
    #[serde(default, deserialize_with = "double_option")]
    pub max_concurrency: Option<Option<u32>>,
    #[cfg_attr(feature = "openapi", schema(max_items = 30, example = json!([5, 300, 1800, 7200, 18000, 36000, 36000])))]
    #[serde(default, deserialize_with = "double_option")]
    pub retry_schedule_seconds: Option<Option<Vec<u32>>>,
    /// Replaces every label (`{}` removes them all).
    #[cfg_attr(feature = "openapi", schema(example = json!({ "kind": "erp" })))]
    #[serde(default)]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
}

/// Suspend a tenant: why, for its people and the audit trail.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SuspendTenant {
    #[cfg_attr(feature = "openapi", schema(max_length = 1024, example = "invoice overdue"))]
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DisableEndpoint {
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the previous secret keeps signing; default 24 h, at most 7 days.
    #[cfg_attr(feature = "openapi", schema(maximum = 604_800))]
    #[serde(default)]
    pub grace_period_seconds: Option<u32>,
    /// Bring your own new secret; generated when absent.
    #[cfg_attr(feature = "openapi", schema(pattern = "^whsec_[A-Za-z0-9+/]+={0,2}$"))]
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PublishMessage {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._:-]+$", example = "invoice.paid")
    )]
    pub event_type: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub payload: Box<RawValue>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplayMessage {
    /// Replay to this endpoint only; all of the message's endpoints when absent.
    #[serde(default)]
    pub endpoint_id: Option<EndpointId>,
}

/// The answer to a replay: which deliveries were re-queued.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayAccepted {
    pub message_id: MessageId,
    pub deliveries: Vec<DeliveryId>,
}

/// Distinguishes "field absent" (outer `None`) from "field is null" (`Some(None)`).
fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A new dashboard user. Partners need `tenant_id`; the others must not have one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub email: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 10, max_length = 1024))]
    pub password: String,
    pub role: Role,
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
}

/// Changes to a dashboard user, by an admin. `role` with `tenant_id` moves a user to
/// another role (a partner needs a tenant, the others have none); `tenant_id` alone
/// moves a partner to another tenant. Any change ends the user's sessions at once.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// A new password for a user, set by an admin; the user's sessions end.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    #[cfg_attr(feature = "openapi", schema(min_length = 10, max_length = 1024))]
    pub password: String,
}

/// Replay everything that failed for an endpoint in `[since, until)` (RFC 3339;
/// `until` defaults to now), of one event type and one error class when given.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RecoverEndpoint {
    #[cfg_attr(feature = "openapi", schema(format = DateTime, example = "2026-01-31T12:00:00Z"))]
    pub since: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime, example = "2026-01-31T12:00:00Z"))]
    #[serde(default)]
    pub until: Option<String>,
    /// Only deliveries of this event type.
    #[serde(default)]
    pub event_type: Option<String>,
    /// Only deliveries whose last attempt failed this way.
    #[serde(default)]
    pub error_class: Option<crate::model::ErrorClass>,
    /// Count what would be re-queued (200 with the count) and change nothing.
    #[serde(default)]
    pub dry_run: bool,
}
