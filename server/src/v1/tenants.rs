//! `/v1/tenants`: create, list, read, rename or move to another tier, suspend and
//! resume; the overview.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use sluice_core::ids::*;
use sluice_core::model::{CreateTenant, Page, PatchTenant, SuspendTenant, Tenant, TenantDeletion, TenantOverview};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{accepted_at, json};
use crate::conditional::{with_version, IfMatch};
use crate::extract::{Auth, Ids, Json, JsonOrEmpty, Query};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(read, patch, remove))
        .routes(routes!(deletion))
        .routes(routes!(suspend))
        .routes(routes!(resume))
        .routes(routes!(overview))
}

/// One page of a list, newest first.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// How many to return, 1 to 250 (default 50).
    #[param(minimum = 1, maximum = 250)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_]{1,64}$")]
    pub cursor: Option<String>,
}

/// Create a tenant (platform keys only).
#[utoipa::path(post, path = "/tenants", operation_id = "create_tenant", tag = "Tenants", request_body = CreateTenant,
    responses((status = 201, description = "The new tenant", body = Tenant)))]
async fn create(State(s): State<AppState>, Auth(caller): Auth, Json(req): Json<CreateTenant>) -> ApiResult<Response> {
    let tenant = s.sluice.create_tenant(&caller.platform()?, req).await?;
    Ok(with_version(json(StatusCode::CREATED, &tenant), tenant.version))
}

/// List the tenants the caller may see: every one for a platform key, its own for a
/// tenant key.
#[utoipa::path(get, path = "/tenants", operation_id = "list_tenants", tag = "Tenants", params(ListQuery),
    responses((status = 200, description = "A page of tenants", body = Page<Tenant>)))]
async fn list(State(s): State<AppState>, Auth(caller): Auth, Query(q): Query<ListQuery>) -> ApiResult<Response> {
    let page = s.sluice.list_tenants(&caller, q.limit, q.cursor).await?;
    Ok(json(StatusCode::OK, &page))
}

/// Read a tenant. Its ETag is its version.
#[utoipa::path(get, path = "/tenants/{tenant}", operation_id = "get_tenant", tag = "Tenants",
    responses((status = 200, description = "The tenant", body = Tenant)))]
async fn read(State(s): State<AppState>, Auth(caller): Auth, Ids(tenant): Ids<TenantId>) -> ApiResult<Response> {
    let tenant = s.sluice.get_tenant(&caller.tenant(&tenant)?).await?;
    Ok(with_version(json(StatusCode::OK, &tenant), tenant.version))
}

/// Change a tenant's name, tier, retention, backlog cap or quotas (platform keys only).
/// Absent fields keep their value.
#[utoipa::path(patch, path = "/tenants/{tenant}", operation_id = "update_tenant", tag = "Tenants", request_body = PatchTenant,
    responses((status = 200, description = "The changed tenant", body = Tenant)))]
async fn patch(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    IfMatch(expected): IfMatch,
    Json(req): Json<PatchTenant>,
) -> ApiResult<Response> {
    let tenant = s.sluice.patch_tenant(&caller.platform()?, &tenant, expected, req).await?;
    Ok(with_version(json(StatusCode::OK, &tenant), tenant.version))
}

/// Delete a tenant (platform keys only).
///
/// At once, in one transaction: the tenant is gone for every caller (404), nothing more
/// is queued for it or sent, its API keys are revoked, its partners disabled and signed
/// out. Its data (messages, deliveries, attempts, events, operations, endpoints,
/// secrets, portal links, users, keys) is then removed in the background; follow it at
/// `Location`. The audit trail keeps the record. Asking again answers where it stands.
#[utoipa::path(delete, path = "/tenants/{tenant}", operation_id = "delete_tenant", tag = "Tenants",
    responses((status = 202, description = "The deletion, under way", body = TenantDeletion,
        headers(("Location" = String, description = "Where the deletion's progress is read")))))]
async fn remove(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    IfMatch(expected): IfMatch,
) -> ApiResult<Response> {
    let deletion = s.sluice.delete_tenant(&caller.platform()?, &tenant, expected).await?;
    Ok(accepted_at(&deletion, &format!("/v1/tenants/{tenant}/deletion")))
}

/// Where a tenant's deletion stands (platform keys only): `deleting` with the messages
/// left, then `deleted`.
#[utoipa::path(get, path = "/tenants/{tenant}/deletion", operation_id = "get_tenant_deletion", tag = "Tenants",
    responses((status = 200, description = "The deletion", body = TenantDeletion)))]
async fn deletion(State(s): State<AppState>, Auth(caller): Auth, Ids(tenant): Ids<TenantId>) -> ApiResult<Response> {
    let deletion = s.sluice.tenant_deletion(&caller.platform()?, &tenant).await?;
    Ok(json(StatusCode::OK, &deletion))
}

/// Suspend a tenant (platform keys only).
///
/// From then on its publishes, test events, replays and recovers are refused (409
/// `tenant_suspended`) and nothing is delivered to its endpoints; requests already on
/// their way finish. What waits stays queued for when it is resumed. Suspending a
/// suspended tenant answers it unchanged.
#[utoipa::path(post, path = "/tenants/{tenant}/suspend", operation_id = "suspend_tenant", tag = "Tenants",
    request_body(content = Option<SuspendTenant>, description = "May be left out"),
    responses((status = 200, description = "The suspended tenant", body = Tenant)))]
async fn suspend(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    JsonOrEmpty(req): JsonOrEmpty<SuspendTenant>,
) -> ApiResult<Response> {
    let tenant = s.sluice.suspend_tenant(&caller.platform()?, &tenant, req).await?;
    Ok(with_version(json(StatusCode::OK, &tenant), tenant.version))
}

/// Resume a suspended tenant (platform keys only): it publishes again, and what
/// waited is delivered. Resuming an active tenant answers it unchanged.
#[utoipa::path(post, path = "/tenants/{tenant}/resume", operation_id = "resume_tenant", tag = "Tenants",
    responses((status = 200, description = "The resumed tenant", body = Tenant)))]
async fn resume(State(s): State<AppState>, Auth(caller): Auth, Ids(tenant): Ids<TenantId>) -> ApiResult<Response> {
    let tenant = s.sluice.resume_tenant(&caller.platform()?, &tenant).await?;
    Ok(with_version(json(StatusCode::OK, &tenant), tenant.version))
}

/// A tenant's overview.
///
/// SLO attainment and error budget (24 h, 7 d, 30 d) against the tenant's tier,
/// hourly latency percentiles over 24 h, backlog, error classes.
#[utoipa::path(get, path = "/tenants/{tenant}/overview", operation_id = "get_tenant_overview", tag = "Tenants",
    responses((status = 200, description = "The overview", body = TenantOverview)))]
async fn overview(State(s): State<AppState>, Auth(caller): Auth, Ids(tenant): Ids<TenantId>) -> ApiResult<Response> {
    let overview = s.sluice.tenant_overview(&caller.tenant(&tenant)?).await?;
    Ok(json(StatusCode::OK, &overview))
}
