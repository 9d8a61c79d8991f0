//! `/v1/tenants/{tenant}/messages`: publish (queue-first, idempotent), read, replay.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use sluice_core::ids::*;
use sluice_core::model::{PublishMessage, ReplayMessage};
use sluice_engine::service::parse_time;
use sluice_engine::store::MessageFilter;

use super::{json, json_with_etag};
use crate::extract::{Auth, Ids, Json, JsonOrEmpty, Query};
use crate::problem::{ApiError, ApiResult};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/messages", post(publish).get(list))
        .route("/tenants/{tenant}/messages/{message}", get(read))
        .route("/tenants/{tenant}/messages/{message}/replay", post(replay))
        .route("/tenants/{tenant}/messages/{message}/deliveries", get(deliveries))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str().map(str::to_owned).map_err(|_| ApiError::invalid("Idempotency-Key", "must be printable ASCII"))
        })
        .transpose()
}

/// Accepted means queued, not delivered: the answer comes before any request to an
/// endpoint is made.
async fn publish(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    headers: HeaderMap,
    Json(req): Json<PublishMessage>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let published = s.sluice.publish(&caller.tenant_manage(&tenant)?, req, key).await?;
    let mut r = json(StatusCode::ACCEPTED, &published.message);
    let location = format!("/v1/tenants/{tenant}/messages/{}", published.message.id);
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if published.replayed {
        r.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<i64>,
    cursor: Option<String>,
    event_type: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

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

/// The message's deliveries, each with its endpoint's URL and every attempt.
async fn deliveries(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((tenant, message)): Ids<(TenantId, MessageId)>,
) -> ApiResult<Response> {
    let data = s.sluice.message_deliveries(&caller.tenant(&tenant)?, &message).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "data": data })))
}

async fn read(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((tenant, message)): Ids<(TenantId, MessageId)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let m = s.sluice.get_message(&caller.tenant(&tenant)?, &message).await?;
    // Messages never change, so their id is a perfect validator.
    let mut r = json_with_etag(&headers, format!("\"{}\"", m.id), &m);
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400, immutable"));
    Ok(r)
}

async fn replay(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((tenant, message)): Ids<(TenantId, MessageId)>,
    JsonOrEmpty(req): JsonOrEmpty<ReplayMessage>,
) -> ApiResult<Response> {
    let accepted = s.sluice.replay_message(&caller.tenant(&tenant)?, &message, req).await?;
    Ok(json(StatusCode::ACCEPTED, &accepted))
}
