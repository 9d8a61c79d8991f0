//! `/v1/tiers`: the SLO classes tenants are on and their targets (admins change them).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, patch};
use axum::Router;
use sluice_core::model::{Page, UpdateTier};

use super::json;
use crate::extract::{Auth, Json};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/tiers", get(list)).route("/tiers/{tier}", patch(update))
}

/// Any authenticated caller may read the tiers: they are targets, not secrets.
async fn list(State(s): State<AppState>, _: Auth) -> ApiResult<Response> {
    let tiers = s.sluice.list_tiers().await?;
    Ok(json(StatusCode::OK, &Page { data: tiers, next_cursor: None }))
}

async fn update(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(tier): Path<String>,
    Json(req): Json<UpdateTier>,
) -> ApiResult<Response> {
    let tier = s.sluice.update_tier(&caller.platform()?, &tier, req).await?;
    Ok(json(StatusCode::OK, &tier))
}
