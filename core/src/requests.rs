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
    #[serde(default)]
    pub success_target: Option<f64>,
    #[serde(default)]
    pub latency_target_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PatchTenant {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tier: Option<String>,
    #[serde(default)]
    pub backlog_cap: Option<i64>,
    /// Days messages are kept once delivered; a shorter one applies at the next purge.
    #[serde(default)]
    pub retention_days: Option<i64>,
    /// `null` returns the tenant to the platform's default.
    #[serde(default, deserialize_with = "double_option")]
    pub max_endpoints: Option<Option<u32>>,
    #[serde(default, deserialize_with = "double_option")]
    pub max_api_keys: Option<Option<u32>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub name: String,
    #[serde(default)]
    pub tier: Option<String>,
    #[serde(default)]
    pub retention_days: Option<i64>,
    #[serde(default)]
    pub backlog_cap: Option<i64>,
    #[serde(default)]
    pub max_endpoints: Option<u32>,
    #[serde(default)]
    pub max_api_keys: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    pub url: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub rate_limit_per_second: Option<u32>,
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    #[serde(default)]
    pub retry_schedule_seconds: Option<Vec<u32>>,
    /// Bring your own secret (`whsec_` + base64); generated when absent.
    #[serde(default)]
    pub secret: Option<String>,
}

/// A partial update: absent fields keep their value; `null` clears an optional one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PatchEndpoint {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub rate_limit_per_second: Option<Option<u32>>,
    #[serde(default, deserialize_with = "double_option")]
    pub max_concurrency: Option<Option<u32>>,
    #[serde(default, deserialize_with = "double_option")]
    pub retry_schedule_seconds: Option<Option<Vec<u32>>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DisableEndpoint {
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the previous secret keeps signing; default 24 h, at most 7 days.
    #[serde(default)]
    pub grace_period_seconds: Option<u32>,
    /// Bring your own new secret; generated when absent.
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PublishMessage {
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
    pub email: String,
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
    pub password: String,
}

/// Replay everything that failed for an endpoint in `[since, until)` (RFC 3339;
/// `until` defaults to now).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RecoverEndpoint {
    pub since: String,
    #[serde(default)]
    pub until: Option<String>,
}
