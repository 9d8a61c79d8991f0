//! Liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sluice_core::ErrorCode;

use crate::problem::ApiError;
use crate::AppState;

/// The process is up and serving HTTP.
pub async fn livez() -> &'static str {
    "ok"
}

/// Ready for traffic: migrations ran, workers started, the database answers.
pub async fn readyz(State(s): State<AppState>) -> Result<&'static str, ApiError> {
    s.sluice.ready().await?;
    Ok("ready")
}

/// Who may scrape: a platform API key, or the bearer token in `SLUICE_METRICS_TOKEN`
/// (what Prometheus's `authorization` setting sends); the engine decides.
pub async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let Some(bearer) = crate::extract::bearer(&headers) else {
        return ApiError::new(
            ErrorCode::Unauthorized,
            "metrics need a platform API key or SLUICE_METRICS_TOKEN as a bearer token",
        )
        .into_response();
    };
    let rendered = match s.sluice.scraper(bearer, s.metrics_token.as_deref()).await {
        Ok(scraper) => s.sluice.render_metrics(&scraper).await,
        Err(e) => Err(e),
    };
    match rendered {
        Ok(text) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
