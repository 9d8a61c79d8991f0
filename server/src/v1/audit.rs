//! `/v1/audit-events`: the audit trail, filterable; everything for platform callers,
//! a tenant's own entries under `/v1/tenants/{tenant}/audit-events` (not support's).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use sluice_core::ids::TenantId;
use sluice_core::model::{AuditEvent, Page};
use sluice_engine::store::AuditFilter;
use sluice_engine::AuditReach;
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
pub struct AuditQuery {
    /// Only entries about this tenant.
    tenant_id: Option<TenantId>,
    /// Only entries by this actor (`usr_…`, `key_…`, an email).
    actor: Option<String>,
    /// Only entries of this action (`api_key.created`, …).
    action: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// How many to return, 1 to 250 (default 50).
    #[param(minimum = 1, maximum = 250)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_]{1,64}$")]
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

/// The whole audit trail (platform keys only), newest first.
#[utoipa::path(get, path = "/audit-events", operation_id = "list_audit_events", tag = "Audit", params(AuditQuery),
    responses((status = 200, description = "A page of audit entries", body = Page<AuditEvent>)))]
async fn list_all(State(s): State<AppState>, Auth(caller): Auth, Query(q): Query<AuditQuery>) -> ApiResult<Response> {
    let platform = caller.platform()?;
    let page = s.sluice.list_audit_events(AuditReach::All(&platform), q.filter()?, q.limit, q.cursor).await?;
    Ok(json(StatusCode::OK, &page))
}

/// A tenant's own audit entries, newest first.
#[utoipa::path(get, path = "/tenants/{tenant}/audit-events", operation_id = "list_tenant_audit_events", tag = "Audit", params(AuditQuery),
    responses((status = 200, description = "A page of audit entries", body = Page<AuditEvent>)))]
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
