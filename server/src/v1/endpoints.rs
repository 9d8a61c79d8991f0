//! `/v1/tenants/{tenant}/endpoints`: CRUD, actions, secrets.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sluice_core::ids::*;
use sluice_core::model::{
    CreateEndpoint, DisableEndpoint, Endpoint, EndpointHealthReport, EndpointSecrets, Message, Page, PatchEndpoint,
    RotateSecret,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json;
use super::tenants::ListQuery;
use crate::conditional::{with_version as with_etag, IfMatch};
use crate::extract::{Auth, Ids, Json, JsonOrEmpty, Query};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(health))
        .routes(routes!(health_at_first_name))
        .routes(routes!(read, patch, remove))
        .routes(routes!(disable))
        .routes(routes!(enable))
        .routes(routes!(send_test))
        .routes(routes!(secret))
        .routes(routes!(rotate))
}

/// Create an endpoint. Its signing secret is generated unless one is given.
#[utoipa::path(post, path = "/tenants/{tenant}/endpoints", operation_id = "create_endpoint", tag = "Endpoints", request_body = CreateEndpoint,
    responses((status = 201, description = "The new endpoint", body = Endpoint,
        headers(("ETag" = String, description = "The endpoint's version")))))]
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

/// List a tenant's endpoints.
#[utoipa::path(get, path = "/tenants/{tenant}/endpoints", operation_id = "list_endpoints", tag = "Endpoints", params(ListQuery),
    responses((status = 200, description = "A page of endpoints", body = Page<Endpoint>)))]
async fn list(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let page = s.sluice.list_endpoints(&caller.tenant(&tenant)?, q.limit, q.cursor).await?;
    Ok(json(StatusCode::OK, &page))
}

/// How each endpoint's deliveries went: every endpoint with deliveries in the last
/// 24 h, and the circuits open now.
#[utoipa::path(get, path = "/tenants/{tenant}/endpoints/health", operation_id = "get_endpoints_health", tag = "Endpoints",
    responses((status = 200, description = "Health of the tenant's endpoints", body = EndpointHealthReport)))]
async fn health(State(s): State<AppState>, Auth(caller): Auth, Ids(tenant): Ids<TenantId>) -> ApiResult<Response> {
    let data = s.sluice.endpoint_health(&caller.tenant(&tenant)?).await?;
    Ok(json(StatusCode::OK, &EndpointHealthReport { data, window_hours: 24 }))
}

/// How each endpoint's deliveries went, at the route's first name (deprecated: see
/// `deprecation::DEPRECATED`, which marks its answers and retires it at its sunset).
#[utoipa::path(get, path = "/tenants/{tenant}/endpoint-health", operation_id = "get_endpoint_health", tag = "Endpoints",
    responses((status = 200, description = "Health of the tenant's endpoints", body = EndpointHealthReport)))]
async fn health_at_first_name(state: State<AppState>, auth: Auth, tenant: Ids<TenantId>) -> ApiResult<Response> {
    health(state, auth, tenant).await
}

/// Read an endpoint. Its ETag is its version.
#[utoipa::path(get, path = "/tenants/{tenant}/endpoints/{endpoint}", operation_id = "get_endpoint", tag = "Endpoints",
    responses((status = 200, description = "The endpoint", body = Endpoint)))]
async fn read(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((t, e)): Ids<(TenantId, EndpointId)>,
) -> ApiResult<Response> {
    let e = s.sluice.get_endpoint(&caller.tenant(&t)?, &e).await?;
    let version = e.version;
    Ok(with_etag(json(StatusCode::OK, &e), version))
}

/// Change an endpoint. Absent fields keep their value; `null` clears an optional one.
#[utoipa::path(patch, path = "/tenants/{tenant}/endpoints/{endpoint}", operation_id = "update_endpoint", tag = "Endpoints",
    request_body = PatchEndpoint,
    responses((status = 200, description = "The changed endpoint", body = Endpoint)))]
async fn patch(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((t, e)): Ids<(TenantId, EndpointId)>,
    IfMatch(expected): IfMatch,
    Json(req): Json<PatchEndpoint>,
) -> ApiResult<Response> {
    let e = s.sluice.patch_endpoint(&caller.tenant_manage(&t)?, &e, expected, req).await?;
    let version = e.version;
    Ok(with_etag(json(StatusCode::OK, &e), version))
}

/// Delete an endpoint. Its pending deliveries are cancelled.
#[utoipa::path(delete, path = "/tenants/{tenant}/endpoints/{endpoint}", operation_id = "delete_endpoint", tag = "Endpoints",
    responses((status = 204, description = "Deleted")))]
async fn remove(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((t, e)): Ids<(TenantId, EndpointId)>,
    IfMatch(expected): IfMatch,
) -> ApiResult<Response> {
    s.sluice.delete_endpoint(&caller.tenant_manage(&t)?, &e, expected).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Disable an endpoint: nothing is sent to it until it is enabled again.
#[utoipa::path(post, path = "/tenants/{tenant}/endpoints/{endpoint}/disable", operation_id = "disable_endpoint", tag = "Endpoints",
    request_body(content = Option<DisableEndpoint>, description = "May be left out"),
    responses((status = 200, description = "The disabled endpoint", body = Endpoint)))]
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

/// Enable an endpoint again.
#[utoipa::path(post, path = "/tenants/{tenant}/endpoints/{endpoint}/enable", operation_id = "enable_endpoint", tag = "Endpoints",
    responses((status = 200, description = "The enabled endpoint", body = Endpoint)))]
async fn enable(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((t, e)): Ids<(TenantId, EndpointId)>,
) -> ApiResult<Response> {
    let e = s.sluice.enable_endpoint(&caller.tenant_manage(&t)?, &e).await?;
    let version = e.version;
    Ok(with_etag(json(StatusCode::OK, &e), version))
}

/// Send a `sluice.test` event to this endpoint only.
///
/// 202 with the message, whose deliveries and attempts are read like any other's.
#[utoipa::path(post, path = "/tenants/{tenant}/endpoints/{endpoint}/test", operation_id = "send_test_event", tag = "Endpoints",
    responses((status = 202, description = "The test message, queued", body = Message)))]
async fn send_test(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((t, e)): Ids<(TenantId, EndpointId)>,
) -> ApiResult<Response> {
    let message = s.sluice.send_test_event(&caller.tenant_act(&t)?, &e).await?;
    Ok(json(StatusCode::ACCEPTED, &message))
}

/// Reveal an endpoint's signing secrets: the active one and those still in their
/// grace period. Recorded as `secret.revealed`.
#[utoipa::path(get, path = "/tenants/{tenant}/endpoints/{endpoint}/secret", operation_id = "get_endpoint_secret", tag = "Endpoints",
    responses((status = 200, description = "The signing secrets", body = EndpointSecrets)))]
async fn secret(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((t, e)): Ids<(TenantId, EndpointId)>,
) -> ApiResult<Response> {
    let secrets = s.sluice.endpoint_secrets(&caller.tenant_manage(&t)?, &e).await?;
    Ok(json(StatusCode::OK, &secrets))
}

/// Rotate an endpoint's signing secret. The previous one keeps signing (both
/// signatures are sent) for the grace period.
#[utoipa::path(post, path = "/tenants/{tenant}/endpoints/{endpoint}/secret/rotate", operation_id = "rotate_endpoint_secret", tag = "Endpoints",
    request_body(content = Option<RotateSecret>, description = "May be left out"),
    responses((status = 200, description = "The signing secrets after the rotation", body = EndpointSecrets)))]
async fn rotate(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((t, e)): Ids<(TenantId, EndpointId)>,
    JsonOrEmpty(req): JsonOrEmpty<RotateSecret>,
) -> ApiResult<Response> {
    let secrets = s.sluice.rotate_secret(&caller.tenant_manage(&t)?, &e, req).await?;
    Ok(json(StatusCode::OK, &secrets))
}
