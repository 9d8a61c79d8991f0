//! Operations: start a bulk recover of an endpoint's failures, and read its progress.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use sluice_core::ids::*;
use sluice_core::model::RecoverEndpoint;

use super::json;
use crate::extract::{Auth, Ids, Json};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/endpoints/{endpoint}/recover", post(recover))
        .route("/operations/{operation}", get(read))
}

async fn recover(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((tenant, endpoint)): Ids<(TenantId, EndpointId)>,
    Json(req): Json<RecoverEndpoint>,
) -> ApiResult<Response> {
    let op = s.sluice.recover_endpoint(&caller.tenant(&tenant)?, &endpoint, req).await?;
    let mut r = json(StatusCode::ACCEPTED, &op);
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/operations/{}", op.id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

async fn read(State(s): State<AppState>, Auth(caller): Auth, Ids(id): Ids<OperationId>) -> ApiResult<Response> {
    let op = s.sluice.get_operation(&caller, &id).await?;
    Ok(json(StatusCode::OK, &op))
}
