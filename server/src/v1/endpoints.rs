//! `/v1/tenants/{tenant}/endpoints`: CRUD, actions, secrets.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sluice_core::ids::*;
use sluice_core::model::{CreateEndpoint, DisableEndpoint, PatchEndpoint, RotateSecret};

use super::tenants::ListQuery;
use super::{json, json_with_etag};
use crate::extract::{Auth, Ids, Json, JsonOrEmpty, Query};
use crate::problem::{ApiError, ApiResult};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/endpoints", post(create).get(list))
        .route("/tenants/{tenant}/endpoint-health", get(health))
        .route("/tenants/{tenant}/endpoints/{endpoint}", get(read).patch(patch).delete(remove))
        .route("/tenants/{tenant}/endpoints/{endpoint}/disable", post(disable))
        .route("/tenants/{tenant}/endpoints/{endpoint}/enable", post(enable))
        .route("/tenants/{tenant}/endpoints/{endpoint}/test", post(send_test))
        .route("/tenants/{tenant}/endpoints/{endpoint}/secret", get(secret))
        .route("/tenants/{tenant}/endpoints/{endpoint}/secret/rotate", post(rotate))
}

fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

fn with_etag(mut r: Response, version: i64) -> Response {
    if let Ok(v) = etag(version).parse() {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// `If-Match: "<version>"` (a weak `W/` prefix is tolerated).
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let s = v.to_str().map_err(|_| ApiError::bad_request("If-Match must be ASCII"))?.trim();
    if s == "*" {
        return Ok(None);
    }
    s.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| ApiError::bad_request("If-Match must be the endpoint's ETag, such as \"3\""))
}

async fn create(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    Json(req): Json<CreateEndpoint>,
) -> ApiResult<Response> {
    let e = s.sluice.create_endpoint(&caller.tenant_manage(&tenant)?, req).await?;
    let version = e.version;
    Ok(with_etag(json(StatusCode::CREATED, &e), version))
}

async fn list(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let page = s.sluice.list_endpoints(&caller.tenant(&tenant)?, q.limit, q.cursor).await?;
    Ok(json(StatusCode::OK, &page))
}

/// Every endpoint with deliveries in the last 24 h, and how they went.
async fn health(State(s): State<AppState>, Auth(caller): Auth, Ids(tenant): Ids<TenantId>) -> ApiResult<Response> {
    let data = s.sluice.endpoint_health(&caller.tenant(&tenant)?).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "data": data, "window_hours": 24 })))
}

async fn read(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((t, e)): Ids<(TenantId, EndpointId)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let e = s.sluice.get_endpoint(&caller.tenant(&t)?, &e).await?;
    Ok(json_with_etag(&headers, etag(e.version), &e))
}

async fn patch(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((t, e)): Ids<(TenantId, EndpointId)>,
    headers: HeaderMap,
    Json(req): Json<PatchEndpoint>,
) -> ApiResult<Response> {
    let expected = if_match(&headers)?;
    let e = s.sluice.patch_endpoint(&caller.tenant_manage(&t)?, &e, expected, req).await?;
    let version = e.version;
    Ok(with_etag(json(StatusCode::OK, &e), version))
}

async fn remove(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((t, e)): Ids<(TenantId, EndpointId)>,
) -> ApiResult<Response> {
    s.sluice.delete_endpoint(&caller.tenant_manage(&t)?, &e).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn disable(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((t, e)): Ids<(TenantId, EndpointId)>,
    JsonOrEmpty(req): JsonOrEmpty<DisableEndpoint>,
) -> ApiResult<Response> {
    let e = s.sluice.disable_endpoint(&caller.tenant_manage(&t)?, &e, req).await?;
    let version = e.version;
    Ok(with_etag(json(StatusCode::OK, &e), version))
}

async fn enable(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((t, e)): Ids<(TenantId, EndpointId)>,
) -> ApiResult<Response> {
    let e = s.sluice.enable_endpoint(&caller.tenant_manage(&t)?, &e).await?;
    let version = e.version;
    Ok(with_etag(json(StatusCode::OK, &e), version))
}

/// A `sluice.test` event to this endpoint only: 202 with the message, whose deliveries
/// and attempts are read like any other's.
async fn send_test(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((t, e)): Ids<(TenantId, EndpointId)>,
) -> ApiResult<Response> {
    let message = s.sluice.send_test_event(&caller.tenant(&t)?, &e).await?;
    Ok(json(StatusCode::ACCEPTED, &message))
}

async fn secret(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((t, e)): Ids<(TenantId, EndpointId)>,
) -> ApiResult<Response> {
    let secrets = s.sluice.endpoint_secrets(&caller.tenant_manage(&t)?, &e).await?;
    Ok(json(StatusCode::OK, &secrets))
}

async fn rotate(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((t, e)): Ids<(TenantId, EndpointId)>,
    JsonOrEmpty(req): JsonOrEmpty<RotateSecret>,
) -> ApiResult<Response> {
    let secrets = s.sluice.rotate_secret(&caller.tenant_manage(&t)?, &e, req).await?;
    Ok(json(StatusCode::OK, &secrets))
}
