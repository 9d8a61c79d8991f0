//! `/v1/users`: dashboard users, for automation (admins also manage them in the
//! dashboard). Platform keys only; passwords are write-only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sluice_core::ids::UserId;
use sluice_core::model::{CreateUser, Page, PatchUser, SetPassword, User};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json;
use super::tenants::ListQuery;
use crate::conditional::{with_version, IfMatch};
use crate::extract::{Auth, Ids, Json, Query};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(read, update, remove))
        .routes(routes!(set_password))
}

/// Create a dashboard user (platform keys only).
#[utoipa::path(post, path = "/users", operation_id = "create_user", tag = "Users", request_body = CreateUser,
    responses((status = 201, description = "The new user", body = User)))]
async fn create(State(s): State<AppState>, Auth(caller): Auth, Json(req): Json<CreateUser>) -> ApiResult<Response> {
    let user = s.sluice.create_user(&caller.platform()?, req).await?;
    Ok(with_version(json(StatusCode::CREATED, &user), user.version))
}

/// List the dashboard users (platform keys only).
#[utoipa::path(get, path = "/users", operation_id = "list_users", tag = "Users", params(ListQuery),
    responses((status = 200, description = "A page of users", body = Page<User>)))]
async fn list(State(s): State<AppState>, Auth(caller): Auth, Query(q): Query<ListQuery>) -> ApiResult<Response> {
    let page = s.sluice.list_users(&caller.platform()?, q.limit, q.cursor).await?;
    Ok(json(StatusCode::OK, &page))
}

/// Read a dashboard user (platform keys only). Its ETag is its version.
#[utoipa::path(get, path = "/users/{user}", operation_id = "get_user", tag = "Users",
    responses((status = 200, description = "The user", body = User)))]
async fn read(State(s): State<AppState>, Auth(caller): Auth, Ids(user): Ids<UserId>) -> ApiResult<Response> {
    let user = s.sluice.get_user(&caller.platform()?, &user).await?;
    Ok(with_version(json(StatusCode::OK, &user), user.version))
}

/// Change a user's role, tenant or disabled state (platform keys only). Any change
/// ends the user's sessions at once.
#[utoipa::path(patch, path = "/users/{user}", operation_id = "update_user", tag = "Users", request_body = PatchUser,
    responses((status = 200, description = "The changed user", body = User)))]
async fn update(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(user): Ids<UserId>,
    IfMatch(expected): IfMatch,
    Json(req): Json<PatchUser>,
) -> ApiResult<Response> {
    let user = s.sluice.update_user(&caller.platform()?, &user, expected, req).await?;
    Ok(with_version(json(StatusCode::OK, &user), user.version))
}

/// Delete a user (platform keys only); their sessions end.
#[utoipa::path(delete, path = "/users/{user}", operation_id = "delete_user", tag = "Users",
    responses((status = 204, description = "Deleted")))]
async fn remove(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(user): Ids<UserId>,
    IfMatch(expected): IfMatch,
) -> ApiResult<Response> {
    s.sluice.delete_user(&caller.platform()?, &user, expected).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Set a user's password (platform keys only); the user's sessions end.
#[utoipa::path(post, path = "/users/{user}/password", operation_id = "set_user_password", tag = "Users", request_body = SetPassword,
    responses((status = 204, description = "Set")))]
async fn set_password(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(user): Ids<UserId>,
    Json(req): Json<SetPassword>,
) -> ApiResult<Response> {
    s.sluice.reset_password(&caller.platform()?, &user, req.password).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
