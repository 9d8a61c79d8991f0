//! `/v1/tenants/{tenant}/deliveries`: the delivery log and each delivery's attempts.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use sluice_core::ids::*;
use sluice_core::model::{Attempt, Delivery, Page};
use sluice_engine::service::DeliveryQuery;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json;
use super::tenants::ListQuery as PageQuery;
use crate::extract::{Auth, Ids, Query};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(read)).routes(routes!(attempts))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// How many to return, 1 to 250 (default 50).
    #[param(minimum = 1, maximum = 250)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_]{1,64}$")]
    cursor: Option<String>,
    /// Only deliveries in this state.
    #[param(value_type = Option<sluice_core::model::DeliveryStatus>)]
    status: Option<String>,
    /// Only deliveries to this endpoint.
    #[param(value_type = Option<EndpointId>)]
    endpoint_id: Option<String>,
    /// Only deliveries of this message.
    #[param(value_type = Option<MessageId>)]
    message_id: Option<String>,
    /// Only deliveries of this event type.
    event_type: Option<String>,
    /// Only deliveries created at or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
}

/// The delivery log: one row per (message, endpoint), newest first.
#[utoipa::path(get, path = "/tenants/{tenant}/deliveries", operation_id = "list_deliveries", tag = "Deliveries", params(ListQuery),
    responses((status = 200, description = "A page of deliveries", body = Page<Delivery>)))]
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

/// Read a delivery.
#[utoipa::path(get, path = "/tenants/{tenant}/deliveries/{delivery}", operation_id = "get_delivery", tag = "Deliveries",
    responses((status = 200, description = "The delivery", body = Delivery)))]
async fn read(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((tenant, delivery)): Ids<(TenantId, DeliveryId)>,
) -> ApiResult<Response> {
    let d = s.sluice.get_delivery(&caller.tenant(&tenant)?, &delivery).await?;
    Ok(json(StatusCode::OK, &d))
}

/// A delivery's attempts: every HTTP request made for it, newest first.
#[utoipa::path(get, path = "/tenants/{tenant}/deliveries/{delivery}/attempts", operation_id = "list_attempts", tag = "Deliveries",
    params(PageQuery),
    responses((status = 200, description = "A page of attempts", body = Page<Attempt>)))]
async fn attempts(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((tenant, delivery)): Ids<(TenantId, DeliveryId)>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Response> {
    let page = s.sluice.list_attempts(&caller.tenant(&tenant)?, &delivery, q.limit, q.cursor).await?;
    Ok(json(StatusCode::OK, &page))
}
