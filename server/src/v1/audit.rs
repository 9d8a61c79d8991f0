//! `/v1/audit-events`: the audit trail, filterable; everything for platform callers,
//! a tenant's own entries under `/v1/tenants/{tenant}/audit-events` (not support's).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use sluice_core::ids::TenantId;
use sluice_engine::store::AuditFilter;
use sluice_engine::AuditReach;

use super::json;
use crate::extract::{Auth, Ids, Query};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/audit-events", get(list_all)).route("/tenants/{tenant}/audit-events", get(list_for_tenant))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    tenant_id: Option<TenantId>,
    actor: Option<String>,
    action: Option<String>,
    since: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

impl AuditQuery {
    fn filter(&self) -> sluice_engine::Result<AuditFilter> {
        Ok(AuditFilter {
            tenant: self.tenant_id.clone(),
            actor: self.actor.clone().filter(|a| !a.is_empty()),
            action: self.action.clone().filter(|a| !a.is_empty()),
            since_ms: sluice_engine::service::parse_time("since", self.since.as_deref())?,
        })
    }
}

async fn list_all(State(s): State<AppState>, Auth(caller): Auth, Query(q): Query<AuditQuery>) -> ApiResult<Response> {
    let platform = caller.platform()?;
    let page = s.sluice.list_audit_events(AuditReach::All(&platform), q.filter()?, q.limit, q.cursor).await?;
    Ok(json(StatusCode::OK, &page))
}

async fn list_for_tenant(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    let scope = caller.tenant_manage(&tenant)?;
    let page = s.sluice.list_audit_events(AuditReach::Tenant(&scope), q.filter()?, q.limit, q.cursor).await?;
    Ok(json(StatusCode::OK, &page))
}
