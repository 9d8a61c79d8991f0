//! `/v1/tenants/{tenant}/events`: a tenant's lifecycle events (endpoint changes,
//! secrets rotated or revealed, replays, recovers, deliveries that gave up), for its
//! own keys and operators; `/v1/events`: every tenant's, for operators.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use sluice_core::ids::TenantId;
use sluice_engine::service::EventQuery;
use sluice_engine::Reach;

use super::json;
use crate::extract::{Auth, Ids, Query};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/events", get(list_all)).route("/tenants/{tenant}/events", get(list_for_tenant))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
    subject_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

impl EventsQuery {
    fn split(self) -> (EventQuery, Option<i64>, Option<String>) {
        let query = EventQuery { kind: self.kind, subject_id: self.subject_id, since: self.since, until: self.until };
        (query, self.limit, self.cursor)
    }
}

async fn list_all(State(s): State<AppState>, Auth(caller): Auth, Query(q): Query<EventsQuery>) -> ApiResult<Response> {
    let operator = caller.operator()?;
    let (query, limit, cursor) = q.split();
    let page = s.sluice.list_events(Reach::AllTenants(&operator), query, limit, cursor).await?;
    Ok(json(StatusCode::OK, &page))
}

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
