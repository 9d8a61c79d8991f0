//! REST API v1: one module per resource, each exporting its routes. Handlers are thin:
//! parse, call one engine service, shape the answer. Every handler carries its
//! `#[utoipa::path]`, and the routes are registered from it (`routes!`), so the
//! OpenAPI description cannot list a route the router lacks, or miss one it has.

mod api_keys;
mod audit;
mod deliveries;
mod endpoints;
mod events;
mod incidents;
mod messages;
mod nodes;
mod operations;
mod portal_links;
mod reference;
mod tenants;
mod tiers;
mod users;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// Every route of API v1 with its OpenAPI operation, paths relative to `/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(tenants::router())
        .merge(tiers::router())
        .merge(api_keys::router())
        .merge(endpoints::router())
        .merge(messages::router())
        .merge(deliveries::router())
        .merge(users::router())
        .merge(operations::router())
        .merge(portal_links::router())
        .merge(audit::router())
        .merge(events::router())
        .merge(incidents::router())
        .merge(nodes::router())
        .merge(reference::router())
}

/// 202 with `body`, and `Location` where its progress or result is read.
pub(crate) fn accepted_at<T: Serialize>(body: &T, location: &str) -> Response {
    let mut r = json(StatusCode::ACCEPTED, body);
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// A JSON answer with a status and optional extra headers.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes).into_response()
        }
        Err(e) => crate::problem::ApiError::from(sluice_engine::Error::Internal(e.to_string())).into_response(),
    }
}
