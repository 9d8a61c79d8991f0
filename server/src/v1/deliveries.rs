//! `/v1/tenants/{tenant}/deliveries`: the delivery log and each delivery's attempts.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use sluice_core::ids::*;
use sluice_engine::service::DeliveryQuery;

use super::json;
use super::tenants::ListQuery as PageQuery;
use crate::extract::{Auth, Ids, Query};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/deliveries", get(list))
        .route("/tenants/{tenant}/deliveries/{delivery}", get(read))
        .route("/tenants/{tenant}/deliveries/{delivery}/attempts", get(attempts))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<i64>,
    cursor: Option<String>,
    status: Option<String>,
    endpoint_id: Option<String>,
    message_id: Option<String>,
    event_type: Option<String>,
    since: Option<String>,
}

async fn list(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let ListQuery { limit, cursor, status, endpoint_id, message_id, event_type, since } = q;
    let filter = DeliveryQuery { status, endpoint_id, message_id, event_type, since }.into_filter()?;
    let page = s.sluice.list_deliveries(&caller.tenant(&tenant)?, filter, limit, cursor).await?;
    Ok(json(StatusCode::OK, &page))
}

async fn read(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((tenant, delivery)): Ids<(TenantId, DeliveryId)>,
) -> ApiResult<Response> {
    let d = s.sluice.get_delivery(&caller.tenant(&tenant)?, &delivery).await?;
    Ok(json(StatusCode::OK, &d))
}

async fn attempts(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((tenant, delivery)): Ids<(TenantId, DeliveryId)>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Response> {
    let page = s.sluice.list_attempts(&caller.tenant(&tenant)?, &delivery, q.limit, q.cursor).await?;
    Ok(json(StatusCode::OK, &page))
}
