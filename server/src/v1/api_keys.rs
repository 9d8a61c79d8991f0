//! `/v1/.../api-keys`: platform and tenant-scoped keys; create (the key is shown once),
//! list (prefixes, last use, revocation), revoke.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use sluice_core::ids::*;
use sluice_core::model::{ApiKey, CreateApiKey, CreatedApiKey, Page};
use sluice_engine::KeyReach;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json;
use crate::extract::{Auth, Ids, JsonOrEmpty};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_for_tenant, list_for_tenant))
        .routes(routes!(create_platform, list_all))
        .routes(routes!(revoke))
}

/// Create an API key for a tenant (platform keys only). The key is in this answer
/// and nowhere else, ever.
#[utoipa::path(post, path = "/tenants/{tenant}/api-keys", operation_id = "create_tenant_api_key", tag = "API keys",
    request_body(content = Option<CreateApiKey>, description = "May be left out"),
    responses((status = 201, description = "The key, shown once", body = CreatedApiKey)))]
async fn create_for_tenant(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    JsonOrEmpty(req): JsonOrEmpty<CreateApiKey>,
) -> ApiResult<Response> {
    let key = s.sluice.create_api_key(&caller.platform()?, &tenant, req).await?;
    Ok(json(StatusCode::CREATED, &key))
}

/// List a tenant's API keys (prefixes only).
#[utoipa::path(get, path = "/tenants/{tenant}/api-keys", operation_id = "list_tenant_api_keys", tag = "API keys",
    responses((status = 200, description = "Every key of the tenant, in one page", body = Page<ApiKey>)))]
async fn list_for_tenant(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
) -> ApiResult<Response> {
    let keys = s.sluice.list_api_keys(KeyReach::Tenant(&caller.tenant_manage(&tenant)?)).await?;
    Ok(json(StatusCode::OK, &Page { data: keys, next_cursor: None }))
}

/// Create a platform API key, which reaches every tenant (platform keys only).
#[utoipa::path(post, path = "/api-keys", operation_id = "create_platform_api_key", tag = "API keys",
    request_body(content = Option<CreateApiKey>, description = "May be left out"),
    responses((status = 201, description = "The key, shown once", body = CreatedApiKey)))]
async fn create_platform(
    State(s): State<AppState>,
    Auth(caller): Auth,
    JsonOrEmpty(req): JsonOrEmpty<CreateApiKey>,
) -> ApiResult<Response> {
    let key = s.sluice.create_platform_api_key(&caller.platform()?, req).await?;
    Ok(json(StatusCode::CREATED, &key))
}

/// List every API key, platform and tenant (platform keys only).
#[utoipa::path(get, path = "/api-keys", operation_id = "list_api_keys", tag = "API keys",
    responses((status = 200, description = "Every key, in one page", body = Page<ApiKey>)))]
async fn list_all(State(s): State<AppState>, Auth(caller): Auth) -> ApiResult<Response> {
    let keys = s.sluice.list_api_keys(KeyReach::AllKeys(&caller.platform()?)).await?;
    Ok(json(StatusCode::OK, &Page { data: keys, next_cursor: None }))
}

/// Revoke an API key (platform keys only). It stops working at once.
#[utoipa::path(post, path = "/api-keys/{key}/revoke", operation_id = "revoke_api_key", tag = "API keys",
    responses((status = 200, description = "The revoked key", body = ApiKey)))]
async fn revoke(State(s): State<AppState>, Auth(caller): Auth, Ids(key): Ids<ApiKeyId>) -> ApiResult<Response> {
    let key = s.sluice.revoke_api_key(&caller.platform()?, &key).await?;
    Ok(json(StatusCode::OK, &key))
}
