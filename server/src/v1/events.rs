//! `/v1/tenants/{tenant}/events`: a tenant's lifecycle events (endpoint changes,
//! secrets rotated or revealed, replays, recovers, deliveries that gave up), for its
//! own keys and operators; `/v1/events`: every tenant's, for operators.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use sluice_core::ids::TenantId;
use sluice_core::model::{ActivityEvent, Page};
use sluice_engine::service::EventQuery;
use sluice_engine::Reach;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json;
use crate::extract::{Auth, Ids, Query};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_all)).routes(routes!(list_for_tenant))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events of this type (`endpoint.disabled`), or about this subject
    /// (`endpoint`: every `endpoint.*` type).
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Only events about this resource.
    subject_id: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// How many to return, 1 to 250 (default 50).
    #[param(minimum = 1, maximum = 250)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_]{1,64}$")]
    cursor: Option<String>,
}

impl EventsQuery {
    fn split(self) -> (EventQuery, Option<i64>, Option<String>) {
        let query = EventQuery { kind: self.kind, subject_id: self.subject_id, since: self.since, until: self.until };
        (query, self.limit, self.cursor)
    }
}

/// Every tenant's lifecycle events (platform keys only), newest first.
#[utoipa::path(get, path = "/events", operation_id = "list_events", tag = "Events", params(EventsQuery),
    responses((status = 200, description = "A page of events", body = Page<ActivityEvent>)))]
async fn list_all(State(s): State<AppState>, Auth(caller): Auth, Query(q): Query<EventsQuery>) -> ApiResult<Response> {
    let operator = caller.operator()?;
    let (query, limit, cursor) = q.split();
    let page = s.sluice.list_events(Reach::AllTenants(&operator), query, limit, cursor).await?;
    Ok(json(StatusCode::OK, &page))
}

/// A tenant's lifecycle events, newest first: endpoint changes, secrets rotated or
/// revealed, replays, recovers, deliveries that gave up.
#[utoipa::path(get, path = "/tenants/{tenant}/events", operation_id = "list_tenant_events", tag = "Events", params(EventsQuery),
    responses((status = 200, description = "A page of events", body = Page<ActivityEvent>)))]
async fn list_for_tenant(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Response> {
    let scope = caller.tenant(&tenant)?;
    let (query, limit, cursor) = q.split();
    let page = s.sluice.list_events(Reach::Tenant(&scope), query, limit, cursor).await?;
    Ok(json(StatusCode::OK, &page))
}
