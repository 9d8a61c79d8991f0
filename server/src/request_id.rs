//! Request ids: every request gets one (the client's `X-Request-Id` when it is a sane
//! token, a new one otherwise), echoed on the response, carried in every problem+json
//! body as `request_id`, and written in the request's one log line (method, route,
//! status, latency), so a support ticket quoting an error leads to its log. The same
//! place counts the request in the metrics (`sluice_http_requests_total` and its
//! duration), so the log and the graphs agree on what a route is.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
}

/// The id of the request this task serves, if any.
pub fn current() -> Option<Arc<str>> {
    REQUEST_ID.try_with(Arc::clone).ok()
}

/// A client's id is kept when it is 1–128 characters of letters, digits and `-_.:`:
/// anything else (a log-injection attempt, a megabyte) is replaced.
fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

fn new_id() -> Arc<str> {
    Arc::from(format!("req_{}", ulid::Ulid::new().to_string().to_lowercase()))
}

/// The method as a label: the standard ones by name, anything made up as `other`, so
/// a client cannot add series.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN.iter().find(|m| *m == method).map_or("other", Method::as_str)
}

pub async fn attach_request_id(
    State(telemetry): State<Arc<sluice_engine::telemetry::Telemetry>>,
    req: Request,
    next: Next,
) -> Response {
    let given = req.headers().get(HEADER).and_then(|v| v.to_str().ok()).filter(|v| acceptable(v));
    let id = given.map_or_else(new_id, Arc::from);
    // The matched template (`/v1/tenants/{tenant}/messages`) says which route; ids in
    // the raw path would make every line different. Unrouted requests log the path.
    let matched = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let route = matched.clone().unwrap_or_else(|| req.uri().path().to_owned());
    let method = req.method().clone();
    // Unrouted paths share one label: a scanner's paths must not become series.
    let template = matched.unwrap_or_else(|| "unmatched".to_owned());
    let span = crate::traces::request_span(req.headers(), &method, &template, &id);
    let started = Instant::now();
    let mut response = REQUEST_ID.scope(id.clone(), next.run(req).instrument(span.clone())).await;
    let took = started.elapsed();
    span.record("http.response.status_code", response.status().as_u16());
    telemetry.http_request(template, method_label(&method), response.status().as_u16(), took);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    // One line per request: never a header or a body, which may carry keys.
    tracing::info!(
        request_id = %id,
        %method,
        route,
        status = response.status().as_u16(),
        latency_ms = took.as_secs_f64() * 1000.0,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_tokens_are_kept() {
        assert!(acceptable("3f2c9a1e-77b0-4c1e-9d1f-6a2b8c0d4e5f"));
        assert!(acceptable("req_01jd:abc.def"));
        assert!(!acceptable(""));
        assert!(!acceptable(&"a".repeat(129)));
        assert!(!acceptable("abc def"));
        assert!(!acceptable("abc\"}\n{\"admin\":true"));
        assert!(new_id().starts_with("req_") && acceptable(&new_id()));
    }

    #[test]
    fn made_up_methods_share_a_label() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let made_up = Method::from_bytes(b"BREW").expect("a token");
        assert_eq!(method_label(&made_up), "other");
    }
}
