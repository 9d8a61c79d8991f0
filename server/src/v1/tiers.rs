//! `/v1/tiers`: the SLO classes tenants are on and their targets (admins change them).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use sluice_core::model::{Page, Tier, UpdateTier};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json;
use crate::conditional::{with_version, IfMatch};
use crate::extract::{Auth, Json};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(read, update))
}

/// List the tiers.
///
/// Any authenticated caller may read the tiers: they are targets, not secrets.
#[utoipa::path(get, path = "/tiers", operation_id = "list_tiers", tag = "Tiers",
    responses((status = 200, description = "Every tier, in one page", body = Page<Tier>)))]
async fn list(State(s): State<AppState>, _: Auth) -> ApiResult<Response> {
    let tiers = s.sluice.list_tiers().await?;
    Ok(json(StatusCode::OK, &Page { data: tiers, next_cursor: None }))
}

/// Read a tier. Its ETag is its version.
#[utoipa::path(get, path = "/tiers/{tier}", operation_id = "get_tier", tag = "Tiers",
    responses((status = 200, description = "The tier", body = Tier)))]
async fn read(State(s): State<AppState>, _: Auth, Path(tier): Path<String>) -> ApiResult<Response> {
    let tier = s.sluice.get_tier(&tier).await?;
    Ok(with_version(json(StatusCode::OK, &tier), tier.version))
}

/// Change a tier's targets (platform keys only).
#[utoipa::path(patch, path = "/tiers/{tier}", operation_id = "update_tier", tag = "Tiers", request_body = UpdateTier,
    responses((status = 200, description = "The changed tier", body = Tier)))]
async fn update(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(tier): Path<String>,
    IfMatch(expected): IfMatch,
    Json(req): Json<UpdateTier>,
) -> ApiResult<Response> {
    let tier = s.sluice.update_tier(&caller.platform()?, &tier, expected, req).await?;
    Ok(with_version(json(StatusCode::OK, &tier), tier.version))
}
