//! `/v1/tenants/{tenant}/messages`: publish (queue-first, idempotent), read, replay.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use sluice_core::ids::*;
use sluice_core::model::{Message, MessageDeliveries, Page, PublishMessage, ReplayAccepted, ReplayMessage};
use sluice_engine::service::parse_time;
use sluice_engine::store::MessageFilter;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{accepted_at, json};
use crate::extract::{Auth, Ids, JsonOrEmpty, PayloadJson, Query};
use crate::problem::{ApiError, ApiResult};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(publish, list))
        .routes(routes!(read))
        .routes(routes!(replay))
        .routes(routes!(deliveries))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str().map(str::to_owned).map_err(|_| ApiError::invalid("Idempotency-Key", "must be printable ASCII"))
        })
        .transpose()
}

/// Publish an event to every endpoint of the tenant subscribed to its type.
///
/// Accepted means queued, not delivered: the answer comes once the message and its
/// deliveries are committed, before any request to an endpoint is made. With an
/// `Idempotency-Key`, a retry within the tenant's retention answers the first
/// message again (`Idempotent-Replayed: true`) and queues nothing.
#[utoipa::path(post, path = "/tenants/{tenant}/messages", operation_id = "publish_message", tag = "Messages", request_body = PublishMessage,
    responses(
        (status = 202, description = "Queued", body = Message, headers(
            ("Location" = String, description = "The message's URL"),
            ("Idempotent-Replayed" = Option<String>, description = "`true` when the key had published before"))),
    ))]
async fn publish(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    headers: HeaderMap,
    PayloadJson(req): PayloadJson<PublishMessage>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let published = s.sluice.publish(&caller.tenant_manage(&tenant)?, req, key).await?;
    let location = format!("/v1/tenants/{tenant}/messages/{}", published.message.id);
    let mut r = accepted_at(&published.message, &location);
    if published.replayed {
        r.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(r)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// How many to return, 1 to 250 (default 50).
    #[param(minimum = 1, maximum = 250)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_]{1,64}$")]
    cursor: Option<String>,
    /// Only messages of this event type.
    event_type: Option<String>,
    /// Only messages published at or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Only messages published before this time (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
}

/// List a tenant's messages, newest first.
#[utoipa::path(get, path = "/tenants/{tenant}/messages", operation_id = "list_messages", tag = "Messages", params(ListQuery),
    responses((status = 200, description = "A page of messages", body = Page<Message>)))]
async fn list(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let filter = MessageFilter {
        event_type: q.event_type,
        since_ms: parse_time("since", q.since.as_deref())?,
        until_ms: parse_time("until", q.until.as_deref())?,
    };
    let page = s.sluice.list_messages(&caller.tenant(&tenant)?, filter, q.limit, q.cursor).await?;
    Ok(json(StatusCode::OK, &page))
}

/// A message's deliveries, each with its endpoint's URL and every attempt.
#[utoipa::path(get, path = "/tenants/{tenant}/messages/{message}/deliveries", operation_id = "list_message_deliveries", tag = "Messages",
    responses((status = 200, description = "Every delivery of the message", body = MessageDeliveries)))]
async fn deliveries(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((tenant, message)): Ids<(TenantId, MessageId)>,
) -> ApiResult<Response> {
    let data = s.sluice.message_deliveries(&caller.tenant(&tenant)?, &message).await?;
    Ok(json(StatusCode::OK, &MessageDeliveries { data }))
}

/// Read a message. Messages never change: cache them as long as you like.
#[utoipa::path(get, path = "/tenants/{tenant}/messages/{message}", operation_id = "get_message", tag = "Messages",
    responses((status = 200, description = "The message", body = Message)))]
async fn read(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((tenant, message)): Ids<(TenantId, MessageId)>,
) -> ApiResult<Response> {
    let m = s.sluice.get_message(&caller.tenant(&tenant)?, &message).await?;
    let mut r = json(StatusCode::OK, &m);
    // Messages never change, so their id is a perfect (strong) validator.
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", m.id)) {
        r.headers_mut().insert(header::ETAG, etag);
    }
    Ok(r)
}

/// Send a message again: to every endpoint it went to, or to one.
#[utoipa::path(post, path = "/tenants/{tenant}/messages/{message}/replay", operation_id = "replay_message", tag = "Messages",
    request_body(content = Option<ReplayMessage>, description = "May be left out"),
    responses((status = 202, description = "The deliveries re-queued", body = ReplayAccepted)))]
async fn replay(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((tenant, message)): Ids<(TenantId, MessageId)>,
    JsonOrEmpty(req): JsonOrEmpty<ReplayMessage>,
) -> ApiResult<Response> {
    let accepted = s.sluice.replay_message(&caller.tenant_act(&tenant)?, &message, req).await?;
    Ok(json(StatusCode::ACCEPTED, &accepted))
}
