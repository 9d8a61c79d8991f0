//! `/v1/users`: dashboard users, for automation (admins also manage them in the
//! dashboard). Platform keys only; passwords are write-only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use sluice_core::model::CreateUser;

use super::json;
use super::tenants::ListQuery;
use crate::extract::{Auth, Json, Query};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/users", post(create).get(list))
}

async fn create(State(s): State<AppState>, Auth(caller): Auth, Json(req): Json<CreateUser>) -> ApiResult<Response> {
    let user = s.sluice.create_user(&caller.platform()?, req).await?;
    Ok(json(StatusCode::CREATED, &user))
}

async fn list(State(s): State<AppState>, Auth(caller): Auth, Query(q): Query<ListQuery>) -> ApiResult<Response> {
    let page = s.sluice.list_users(&caller.platform()?, q.limit, q.cursor).await?;
    Ok(json(StatusCode::OK, &page))
}
