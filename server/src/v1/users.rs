//! `/v1/users`: dashboard users, for automation (admins also manage them in the
//! dashboard). Platform keys only; passwords are write-only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::Router;
use sluice_core::ids::UserId;
use sluice_core::model::{CreateUser, PatchUser, SetPassword};

use super::json;
use super::tenants::ListQuery;
use crate::extract::{Auth, Ids, Json, Query};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", post(create).get(list))
        .route("/users/{user}", patch(update).delete(remove))
        .route("/users/{user}/password", post(set_password))
}

async fn create(State(s): State<AppState>, Auth(caller): Auth, Json(req): Json<CreateUser>) -> ApiResult<Response> {
    let user = s.sluice.create_user(&caller.platform()?, req).await?;
    Ok(json(StatusCode::CREATED, &user))
}

async fn list(State(s): State<AppState>, Auth(caller): Auth, Query(q): Query<ListQuery>) -> ApiResult<Response> {
    let page = s.sluice.list_users(&caller.platform()?, q.limit, q.cursor).await?;
    Ok(json(StatusCode::OK, &page))
}

/// Role, tenant, disabled: any change ends the user's sessions at once.
async fn update(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(user): Ids<UserId>,
    Json(req): Json<PatchUser>,
) -> ApiResult<Response> {
    let user = s.sluice.update_user(&caller.platform()?, &user, req).await?;
    Ok(json(StatusCode::OK, &user))
}

async fn remove(State(s): State<AppState>, Auth(caller): Auth, Ids(user): Ids<UserId>) -> ApiResult<Response> {
    s.sluice.delete_user(&caller.platform()?, &user).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An admin sets a user's password; the user's sessions end.
async fn set_password(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(user): Ids<UserId>,
    Json(req): Json<SetPassword>,
) -> ApiResult<Response> {
    s.sluice.reset_password(&caller.platform()?, &user, req.password).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
