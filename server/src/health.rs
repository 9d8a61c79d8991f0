//! Liveness, readiness and Prometheus metrics.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

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
/// (what Prometheus's `authorization` setting sends). The numbers say how busy each
/// part of the platform is, which is not a stranger's business.
async fn may_scrape(s: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let bearer = crate::extract::bearer(headers).ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthorized,
            "metrics need a platform API key or SLUICE_METRICS_TOKEN as a bearer token",
        )
    })?;
    // Compared in constant time: the token is a password.
    if s.metrics_token.as_deref().is_some_and(|token| sluice_engine::same_secret(token, bearer)) {
        return Ok(());
    }
    match s.sluice.authenticate(bearer).await? {
        Some(caller) => caller.platform().map(drop).map_err(ApiError::from),
        None => {
            Err(ApiError::new(ErrorCode::Unauthorized, "this token is neither the metrics token nor a known API key"))
        }
    }
}

pub async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = may_scrape(&s, &headers).await {
        return e.into_response();
    }
    let st = s.sluice.engine_stats().unwrap_or_default();
    let mut out = String::new();
    let counters = [
        ("sluice_attempts_total", "HTTP attempts made to endpoints", &st.attempts),
        ("sluice_attempts_succeeded_total", "attempts answered with 2xx", &st.succeeded),
        ("sluice_attempts_failed_total", "attempts that failed", &st.failed_attempts),
        ("sluice_deliveries_exhausted_total", "deliveries that used up their retry schedule", &st.exhausted),
        ("sluice_claims_total", "claim queries run", &st.claims),
        ("sluice_record_batches_total", "attempt batches written", &st.record_batches),
        ("sluice_record_errors_total", "failed attempts to write a batch", &st.record_errors),
        ("sluice_scans_total", "scans for endpoints with due work", &st.scans),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", value.load(Ordering::Relaxed));
    }
    let _ = writeln!(
        out,
        "# HELP sluice_in_flight requests to endpoints in flight\n# TYPE sluice_in_flight gauge\nsluice_in_flight {}",
        st.in_flight.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP sluice_cluster_peers other live nodes sharing the database, as this node last counted\n\
         # TYPE sluice_cluster_peers gauge\nsluice_cluster_peers {}",
        st.peers.load(Ordering::Relaxed)
    );
    let scan_seconds = st.scan_micros.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(
        out,
        "# HELP sluice_scan_seconds_total time spent scanning for due work\n# TYPE sluice_scan_seconds_total \
         counter\nsluice_scan_seconds_total {scan_seconds}"
    );
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
