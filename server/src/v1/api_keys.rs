//! `/v1/.../api-keys`: platform and tenant-scoped keys; create (the key is shown once),
//! list (prefixes, last use, revocation), revoke.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use sluice_core::ids::*;
use sluice_core::model::{CreateApiKey, Page};
use sluice_engine::KeyReach;

use super::json;
use crate::extract::{Auth, Ids, JsonOrEmpty};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/api-keys", post(create_for_tenant).get(list_for_tenant))
        .route("/api-keys", post(create_platform).get(list_all))
        .route("/api-keys/{key}/revoke", post(revoke))
}

async fn create_for_tenant(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    JsonOrEmpty(req): JsonOrEmpty<CreateApiKey>,
) -> ApiResult<Response> {
    let key = s.sluice.create_api_key(&caller.platform()?, &tenant, req).await?;
    Ok(json(StatusCode::CREATED, &key))
}

async fn list_for_tenant(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
) -> ApiResult<Response> {
    let keys = s.sluice.list_api_keys(KeyReach::Tenant(&caller.tenant_manage(&tenant)?)).await?;
    Ok(json(StatusCode::OK, &Page { data: keys, next_cursor: None }))
}

/// A platform key (platform callers only).
async fn create_platform(
    State(s): State<AppState>,
    Auth(caller): Auth,
    JsonOrEmpty(req): JsonOrEmpty<CreateApiKey>,
) -> ApiResult<Response> {
    let key = s.sluice.create_platform_api_key(&caller.platform()?, req).await?;
    Ok(json(StatusCode::CREATED, &key))
}

/// Every key, platform and tenant (platform callers only).
async fn list_all(State(s): State<AppState>, Auth(caller): Auth) -> ApiResult<Response> {
    let keys = s.sluice.list_api_keys(KeyReach::AllKeys(&caller.platform()?)).await?;
    Ok(json(StatusCode::OK, &Page { data: keys, next_cursor: None }))
}

async fn revoke(State(s): State<AppState>, Auth(caller): Auth, Ids(key): Ids<ApiKeyId>) -> ApiResult<Response> {
    let key = s.sluice.revoke_api_key(&caller.platform()?, &key).await?;
    Ok(json(StatusCode::OK, &key))
}
