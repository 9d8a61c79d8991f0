//! `/v1/tenants/{tenant}/incidents`: a tenant's endpoint incidents (detected,
//! acknowledged, resolved) and its time to detect and recover, for its own keys and
//! operators; `/v1/incidents`: every tenant's, for operators.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use sluice_core::ids::{IncidentId, TenantId};
use sluice_core::model::{Incident, IncidentStats, Page};
use sluice_engine::service::IncidentQuery;
use sluice_engine::Reach;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json;
use crate::extract::{Auth, Ids, Query};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_all))
        .routes(routes!(stats_all))
        .routes(routes!(list_for_tenant))
        .routes(routes!(stats_for_tenant))
        .routes(routes!(read))
        .routes(routes!(acknowledge))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentsQuery {
    /// `open` or `resolved`.
    state: Option<String>,
    /// Only this endpoint's incidents.
    endpoint_id: Option<String>,
    /// How many to return, 1 to 250 (default 50).
    #[param(minimum = 1, maximum = 250)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_]{1,64}$")]
    cursor: Option<String>,
}

impl IncidentsQuery {
    fn split(self) -> (IncidentQuery, Option<i64>, Option<String>) {
        (IncidentQuery { state: self.state, endpoint_id: self.endpoint_id }, self.limit, self.cursor)
    }
}

/// Every tenant's incidents (platform keys only), newest first.
#[utoipa::path(get, path = "/incidents", operation_id = "list_incidents", tag = "Incidents", params(IncidentsQuery),
    responses((status = 200, description = "A page of incidents", body = Page<Incident>)))]
async fn list_all(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Query(q): Query<IncidentsQuery>,
) -> ApiResult<Response> {
    let operator = caller.operator()?;
    let (query, limit, cursor) = q.split();
    let page = s.sluice.list_incidents(Reach::AllTenants(&operator), query, limit, cursor).await?;
    Ok(json(StatusCode::OK, &page))
}

/// Time to detect and recover across every tenant (platform keys only): median and
/// 90th percentile over the incidents opened in the last 7 and 30 days.
#[utoipa::path(get, path = "/incidents/stats", operation_id = "incident_stats", tag = "Incidents",
    responses((status = 200, description = "Time to detect and recover", body = IncidentStats)))]
async fn stats_all(State(s): State<AppState>, Auth(caller): Auth) -> ApiResult<Response> {
    let operator = caller.operator()?;
    let stats = s.sluice.incident_stats(Reach::AllTenants(&operator)).await?;
    Ok(json(StatusCode::OK, &stats))
}

/// A tenant's incidents, newest first: an endpoint failing past the threshold (or
/// whose circuit opened), from its first failure to the success that held.
#[utoipa::path(get, path = "/tenants/{tenant}/incidents", operation_id = "list_tenant_incidents", tag = "Incidents",
    params(IncidentsQuery),
    responses((status = 200, description = "A page of incidents", body = Page<Incident>)))]
async fn list_for_tenant(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    Query(q): Query<IncidentsQuery>,
) -> ApiResult<Response> {
    let scope = caller.tenant(&tenant)?;
    let (query, limit, cursor) = q.split();
    let page = s.sluice.list_incidents(Reach::Tenant(&scope), query, limit, cursor).await?;
    Ok(json(StatusCode::OK, &page))
}

/// A tenant's time to detect and recover: median and 90th percentile over its
/// incidents opened in the last 7 and 30 days.
#[utoipa::path(get, path = "/tenants/{tenant}/incidents/stats", operation_id = "tenant_incident_stats", tag = "Incidents",
    responses((status = 200, description = "Time to detect and recover", body = IncidentStats)))]
async fn stats_for_tenant(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
) -> ApiResult<Response> {
    let stats = s.sluice.incident_stats(Reach::Tenant(&caller.tenant(&tenant)?)).await?;
    Ok(json(StatusCode::OK, &stats))
}

/// One incident.
#[utoipa::path(get, path = "/tenants/{tenant}/incidents/{incident}", operation_id = "get_incident", tag = "Incidents",
    responses((status = 200, description = "The incident", body = Incident)))]
async fn read(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((tenant, id)): Ids<(TenantId, IncidentId)>,
) -> ApiResult<Response> {
    let incident = s.sluice.get_incident(&caller.tenant(&tenant)?, &id).await?;
    Ok(json(StatusCode::OK, &incident))
}

/// Say that someone is on it: an open incident nobody acknowledged yet is
/// acknowledged by the caller, as if they had opened it in the dashboard. Again, or
/// on a resolved one, it changes nothing.
#[utoipa::path(post, path = "/tenants/{tenant}/incidents/{incident}/acknowledge", operation_id = "acknowledge_incident",
    tag = "Incidents",
    responses((status = 200, description = "The incident, as it now is", body = Incident)))]
async fn acknowledge(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((tenant, id)): Ids<(TenantId, IncidentId)>,
) -> ApiResult<Response> {
    let incident = s.sluice.acknowledge_incident(&caller.tenant(&tenant)?, &id).await?;
    Ok(json(StatusCode::OK, &incident))
}
