//! `/v1/openapi.json` and `/v1/reference`: the description of API v1, for code
//! generators and for people. Public: the contract is no secret.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json)).routes(routes!(reference))
}

/// This description, as OpenAPI 3.1.
#[utoipa::path(get, path = "/openapi.json", operation_id = "get_openapi", tag = "Reference", security(()),
    responses((status = 200, description = "The OpenAPI description of API v1", content_type = "application/json",
        body = Object)))]
async fn openapi_json() -> Response {
    let body = crate::openapi::document_json();
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// This description, as a page to read.
#[utoipa::path(get, path = "/reference", operation_id = "get_reference", tag = "Reference", security(()),
    responses((status = 200, description = "The API reference", content_type = "text/html", body = String)))]
async fn reference() -> Response {
    let html = crate::openapi::reference_html();
    // No script at all; the one inline style block is the page's own.
    let csp =
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp)),
        ],
        html,
    )
        .into_response()
}
