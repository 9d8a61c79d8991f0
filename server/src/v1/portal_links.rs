//! `/v1/tenants/{tenant}/portal-links`: one-time URLs into the dashboard for a tenant's
//! partners, so a platform can offer webhook self-service inside its own product.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use sluice_core::ids::*;
use sluice_core::model::{CreatePortalLink, PortalLink};
use sluice_engine::ClientOrigin;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json;
use crate::extract::{Auth, Ids, JsonOrEmpty};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, revoke_all))
}

/// Create a portal link: a URL, shown once, that signs whoever opens it into the
/// dashboard as this tenant's partner, for a bounded session (read-only if asked).
/// It works once and only until `expires_at`. Opening is a button on the page the URL
/// shows, so a preview that fetches the URL does not use it up. Platform keys and the
/// tenant's own key may create one.
#[utoipa::path(post, path = "/tenants/{tenant}/portal-links", operation_id = "create_portal_link", tag = "Portal links",
    request_body(content = Option<CreatePortalLink>, description = "May be left out: a full-access link, 5 minutes to open, a 1-hour session"),
    responses((status = 201, description = "The link, shown once", body = PortalLink)))]
async fn create(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    origin: Option<Extension<ClientOrigin>>,
    headers: HeaderMap,
    JsonOrEmpty(req): JsonOrEmpty<CreatePortalLink>,
) -> ApiResult<Response> {
    let issued = s.sluice.create_portal_link(&caller.tenant_manage(&tenant)?, req).await?;
    let base = match &s.public_url {
        Some(url) => url.to_string(),
        // Without SLUICE_PUBLIC_URL, the address the caller reached this server by:
        // the link is handed to them, so it is theirs to get right.
        None => {
            let https = origin.is_some_and(|Extension(o)| o.https);
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
            format!("{}://{host}", if https { "https" } else { "http" })
        }
    };
    Ok(json(StatusCode::CREATED, &issued.into_link(&base)))
}

/// Revoke every portal link of the tenant, opened or not, and end every session they
/// opened, at once. For a link sent to the wrong person, or a partner who left.
#[utoipa::path(delete, path = "/tenants/{tenant}/portal-links", operation_id = "revoke_portal_links", tag = "Portal links",
    responses((status = 204, description = "Revoked; their sessions ended")))]
async fn revoke_all(State(s): State<AppState>, Auth(caller): Auth, Ids(tenant): Ids<TenantId>) -> ApiResult<Response> {
    s.sluice.revoke_portal_links(&caller.tenant_manage(&tenant)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
