//! `/v1/tenants/{tenant}/deliveries`: the delivery log and each delivery's attempts.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use sluice_core::ids::{DeliveryKind, EndpointId, MessageId, TenantKind};
use sluice_core::model::DeliveryStatus;
use sluice_engine::service::parse_time;
use sluice_engine::store::DeliveryFilter;

use super::json;
use super::tenants::ListQuery as PageQuery;
use crate::extract::{path_id, Auth, Query};
use crate::problem::{ApiError, ApiResult};
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
    Path(tenant): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let status = q
        .status
        .map(|v| {
            DeliveryStatus::parse(&v)
                .ok_or_else(|| ApiError::invalid("status", "must be pending, succeeded, failed or cancelled"))
        })
        .transpose()?;
    let endpoint_id = q
        .endpoint_id
        .map(|v| EndpointId::parse(&v).map_err(|e| ApiError::invalid("endpoint_id", e.to_string())))
        .transpose()?;
    let message_id = q
        .message_id
        .map(|v| MessageId::parse(&v).map_err(|e| ApiError::invalid("message_id", e.to_string())))
        .transpose()?;
    let filter = DeliveryFilter {
        status,
        endpoint_id,
        message_id,
        event_type: q.event_type,
        since_ms: parse_time("since", q.since.as_deref())?,
    };
    let page = s.sluice.list_deliveries(&caller, &path_id::<TenantKind>(&tenant)?, filter, q.limit, q.cursor).await?;
    Ok(json(StatusCode::OK, &page))
}

async fn read(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant, delivery)): Path<(String, String)>,
) -> ApiResult<Response> {
    let d =
        s.sluice.get_delivery(&caller, &path_id::<TenantKind>(&tenant)?, &path_id::<DeliveryKind>(&delivery)?).await?;
    Ok(json(StatusCode::OK, &d))
}

async fn attempts(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant, delivery)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Response> {
    let page = s
        .sluice
        .list_attempts(
            &caller,
            &path_id::<TenantKind>(&tenant)?,
            &path_id::<DeliveryKind>(&delivery)?,
            q.limit,
            q.cursor,
        )
        .await?;
    Ok(json(StatusCode::OK, &page))
}
