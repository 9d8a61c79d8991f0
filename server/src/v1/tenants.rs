//! `/v1/tenants`: create, list, read, rename or move to another tier; the overview.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use sluice_core::ids::*;
use sluice_core::model::{CreateTenant, PatchTenant};

use super::json;
use crate::extract::{Auth, Ids, Json, Query};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tenants", post(create).get(list))
        .route("/tenants/{tenant}", get(read).patch(patch))
        .route("/tenants/{tenant}/overview", get(overview))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

async fn create(State(s): State<AppState>, Auth(caller): Auth, Json(req): Json<CreateTenant>) -> ApiResult<Response> {
    let tenant = s.sluice.create_tenant(&caller.platform()?, req).await?;
    Ok(json(StatusCode::CREATED, &tenant))
}

async fn list(State(s): State<AppState>, Auth(caller): Auth, Query(q): Query<ListQuery>) -> ApiResult<Response> {
    let page = s.sluice.list_tenants(&caller, q.limit, q.cursor).await?;
    Ok(json(StatusCode::OK, &page))
}

async fn read(State(s): State<AppState>, Auth(caller): Auth, Ids(tenant): Ids<TenantId>) -> ApiResult<Response> {
    let tenant = s.sluice.get_tenant(&caller.tenant(&tenant)?).await?;
    Ok(json(StatusCode::OK, &tenant))
}

/// Platform callers only.
async fn patch(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    Json(req): Json<PatchTenant>,
) -> ApiResult<Response> {
    let tenant = s.sluice.patch_tenant(&caller.platform()?, &tenant, req).await?;
    Ok(json(StatusCode::OK, &tenant))
}

/// SLO attainment and error budget (24 h, 7 d, 30 d) against the tenant's tier,
/// hourly latency percentiles over 24 h, backlog, error classes.
async fn overview(State(s): State<AppState>, Auth(caller): Auth, Ids(tenant): Ids<TenantId>) -> ApiResult<Response> {
    let overview = s.sluice.tenant_overview(&caller.tenant(&tenant)?).await?;
    Ok(json(StatusCode::OK, &overview))
}
