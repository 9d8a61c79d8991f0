//! `/v1/nodes`: the nodes sharing the database, with version, start, work in flight
//! and last heartbeat (operators: platform keys).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use sluice_core::model::{NodeInfo, Page};
use sluice_engine::ids::now_ms;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json;
use crate::extract::Auth;
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// The nodes sharing the database, as their heartbeats tell (platform keys only).
#[utoipa::path(get, path = "/nodes", operation_id = "list_nodes", tag = "Nodes",
    responses((status = 200, description = "Every node seen lately, in one page", body = Page<NodeInfo>)))]
async fn list(State(s): State<AppState>, Auth(caller): Auth) -> ApiResult<Response> {
    let operator = caller.operator()?;
    let data = s.sluice.list_nodes(&operator, s.sluice.node_id(), now_ms()).await?;
    Ok(json(StatusCode::OK, &Page { data, next_cursor: None }))
}
