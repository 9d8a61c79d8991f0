//! `/v1/nodes`: the nodes sharing the database, with version, start, work in flight
//! and last heartbeat (operators: platform keys).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use sluice_core::model::Page;
use sluice_engine::ids::now_ms;

use super::json;
use crate::extract::Auth;
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/nodes", get(list))
}

async fn list(State(s): State<AppState>, Auth(caller): Auth) -> ApiResult<Response> {
    let operator = caller.operator()?;
    let data = s.sluice.list_nodes(&operator, s.sluice.node_id(), now_ms()).await?;
    Ok(json(StatusCode::OK, &Page { data, next_cursor: None }))
}
