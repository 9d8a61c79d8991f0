//! Operations: start a bulk recover of an endpoint's failures, and read its progress.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use sluice_core::ids::*;
use sluice_core::model::{Operation, RecoverEndpoint};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json;
use crate::extract::{Auth, Ids, Json};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(recover)).routes(routes!(read))
}

/// Recover an endpoint: re-queue every delivery to it that failed in a time window.
/// Answers with the operation, whose progress is read at its `Location`.
#[utoipa::path(post, path = "/tenants/{tenant}/endpoints/{endpoint}/recover", operation_id = "recover_endpoint", tag = "Operations",
    request_body = RecoverEndpoint,
    responses((status = 202, description = "The operation, started", body = Operation,
        headers(("Location" = String, description = "The operation's URL")))))]
async fn recover(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((tenant, endpoint)): Ids<(TenantId, EndpointId)>,
    Json(req): Json<RecoverEndpoint>,
) -> ApiResult<Response> {
    let op = s.sluice.recover_endpoint(&caller.tenant_act(&tenant)?, &endpoint, req).await?;
    let mut r = json(StatusCode::ACCEPTED, &op);
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/operations/{}", op.id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// Read an operation and its progress.
#[utoipa::path(get, path = "/operations/{operation}", operation_id = "get_operation", tag = "Operations",
    responses((status = 200, description = "The operation", body = Operation)))]
async fn read(State(s): State<AppState>, Auth(caller): Auth, Ids(id): Ids<OperationId>) -> ApiResult<Response> {
    let op = s.sluice.get_operation(&caller, &id).await?;
    Ok(json(StatusCode::OK, &op))
}
