//! Deprecated routes, declared in one place. Each answer of a deprecated route says so
//! the way RFC 9745 and RFC 8594 ask (`Deprecation`, `Sunset`, and `Link`s to its
//! successor and to the note that explains the move), the OpenAPI description marks
//! the operation, and after its sunset the route answers 410 `gone` naming its
//! successor instead of running. docs/api-versioning.md has the policy.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sluice_core::ErrorCode;

use crate::problem::ApiError;

/// A route on its way out.
#[derive(Debug, Clone)]
pub struct Deprecated {
    pub method: Method,
    /// The route's template under `/v1`, as registered.
    pub route: &'static str,
    /// Its replacement's template under `/v1`; the path ids carry over by name.
    pub successor: &'static str,
    /// Unix seconds: when it was deprecated, and when it stops answering (at least six
    /// months later).
    pub deprecated_at: i64,
    pub sunset_at: i64,
    /// Why and how to move, for people.
    pub note: &'static str,
}

/// Every deprecated route of API v1.
pub const DEPRECATED: &[Deprecated] = &[Deprecated {
    method: Method::GET,
    route: "/tenants/{tenant}/endpoint-health",
    successor: "/tenants/{tenant}/endpoints/health",
    // 2026-11-26 and 2027-06-01, 00:00 UTC.
    deprecated_at: 1_795_651_200,
    sunset_at: 1_811_808_000,
    note: "Moved under the endpoints it describes: GET /v1/tenants/{tenant}/endpoints/health answers the same.",
}];

impl Deprecated {
    pub fn is_past_sunset(&self, unix_seconds: i64) -> bool {
        unix_seconds >= self.sunset_at
    }
}

/// The entry for a request's method and matched route, if it is deprecated. HEAD is
/// GET without the body, and axum routes it to the GET handler.
pub fn lookup(method: &Method, matched: &str) -> Option<&'static Deprecated> {
    let route = matched.strip_prefix("/v1").unwrap_or(matched);
    let method = if *method == Method::HEAD { &Method::GET } else { method };
    DEPRECATED.iter().find(|d| d.method == *method && d.route == route)
}

/// The time the layer judges a sunset by, when server code (a test) sets one on the
/// request; clients cannot.
#[derive(Debug, Clone, Copy)]
pub struct JudgedAt(pub i64);

pub fn now_unix() -> i64 {
    sluice_engine::ids::now_ms() / 1000
}

/// The route layer: marks every answer of a deprecated route, or refuses it once its
/// sunset has passed.
pub async fn mark_deprecated(req: Request, next: Next) -> Response {
    let Some(deprecated) = req.extensions().get::<MatchedPath>().and_then(|m| lookup(req.method(), m.as_str())) else {
        return next.run(req).await;
    };
    let successor = format!("/v1{}", fill(deprecated.route, req.uri().path(), deprecated.successor));
    let now = req.extensions().get::<JudgedAt>().map_or_else(now_unix, |at| at.0);
    let mut response =
        if deprecated.is_past_sunset(now) { gone(deprecated, &successor).into_response() } else { next.run(req).await };
    for (name, value) in headers(deprecated, &successor) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            // Deprecation and Sunset hold one value; a route has two links.
            if name == "link" {
                response.headers_mut().append(name, value);
            } else {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
}

/// After the sunset: nothing runs, and the answer says where to go.
pub fn gone(deprecated: &Deprecated, successor: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Gone,
        format!("this route was retired on {}; use {} {successor}", http_date(deprecated.sunset_at), deprecated.method),
    )
}

/// The headers every answer of a deprecated route carries.
pub fn headers(deprecated: &Deprecated, successor: &str) -> [(&'static str, String); 4] {
    [
        ("deprecation", format!("@{}", deprecated.deprecated_at)),
        ("sunset", http_date(deprecated.sunset_at)),
        ("link", format!("<{successor}>; rel=\"successor-version\"")),
        ("link", "</v1/reference#deprecations>; rel=\"deprecation\"; type=\"text/html\"".to_owned()),
    ]
}

/// The successor's path for this request: each `{name}` of the successor takes the
/// segment that stood at `{name}` in the request's own path.
fn fill(route: &str, path: &str, successor: &str) -> String {
    let path = path.strip_prefix("/v1").unwrap_or(path);
    let ids: Vec<(&str, &str)> = route
        .split('/')
        .zip(path.split('/'))
        .filter_map(|(t, actual)| t.strip_prefix('{').and_then(|t| t.strip_suffix('}')).map(|name| (name, actual)))
        .collect();
    successor
        .split('/')
        .map(|segment| {
            let name = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
            // Only what an id can be is copied from the request into the header.
            let is_id = |s: &&&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            match name.and_then(|n| ids.iter().find(|(id, _)| *id == n)).map(|(_, actual)| actual).filter(is_id) {
                Some(actual) => *actual,
                None => segment,
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// An IMF-fixdate (RFC 9110), as `Sunset` takes.
pub fn http_date(unix_seconds: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(unix_seconds).unwrap_or(0));
    httpdate::fmt_http_date(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_successor_keeps_the_requests_ids() {
        let path = fill(
            "/tenants/{tenant}/endpoint-health",
            "/v1/tenants/tn_1/endpoint-health",
            "/tenants/{tenant}/endpoints/health",
        );
        assert_eq!(path, "/tenants/tn_1/endpoints/health");
    }

    #[test]
    fn only_ids_are_copied_into_the_link() {
        let path = fill("/tenants/{tenant}/x", "/v1/tenants/a\";b/x", "/tenants/{tenant}/y");
        assert_eq!(path, "/tenants/{tenant}/y");
    }

    #[test]
    fn head_is_get() {
        assert!(lookup(&Method::HEAD, "/v1/tenants/{tenant}/endpoint-health").is_some());
        assert!(lookup(&Method::POST, "/v1/tenants/{tenant}/endpoint-health").is_none());
    }

    /// Through the layer: before the sunset the handler runs and the answer is marked;
    /// after it, nothing runs and the answer is 410 naming the successor.
    #[tokio::test]
    async fn the_layer_marks_then_retires() {
        use tower::ServiceExt;
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = ran.clone();
        let app = axum::Router::new()
            .route(
                "/v1/tenants/{tenant}/endpoint-health",
                axum::routing::get(move || {
                    let counter = counter.clone();
                    async move {
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        "ran"
                    }
                }),
            )
            .route_layer(axum::middleware::from_fn(mark_deprecated));
        let d = &DEPRECATED[0];
        for (at, status) in [(d.sunset_at - 1, 200), (d.sunset_at, 410)] {
            let mut req = axum::http::Request::get("/v1/tenants/tn_1/endpoint-health")
                .body(axum::body::Body::empty())
                .expect("request");
            req.extensions_mut().insert(JudgedAt(at));
            let res = app.clone().oneshot(req).await.expect("infallible");
            assert_eq!(res.status().as_u16(), status);
            assert_eq!(
                res.headers().get("sunset").and_then(|v| v.to_str().ok()),
                Some("Tue, 01 Jun 2027 00:00:00 GMT")
            );
            assert_eq!(res.headers().get_all("link").iter().count(), 2);
        }
        assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 1, "after the sunset nothing runs");
    }

    #[test]
    fn headers_follow_the_rfcs() {
        let d = &DEPRECATED[0];
        let headers = headers(d, "/v1/x");
        assert_eq!(headers[0].1, "@1795651200");
        assert_eq!(headers[1].1, "Tue, 01 Jun 2027 00:00:00 GMT");
        assert!(d.sunset_at - d.deprecated_at >= 182 * 24 * 3600, "at least six months' notice");
    }

    #[test]
    fn after_the_sunset_the_route_is_gone_and_names_its_successor() {
        let problem = gone(&DEPRECATED[0], "/v1/tenants/tn_1/endpoints/health");
        assert_eq!(problem.code, ErrorCode::Gone);
        assert!(problem.detail.contains("GET /v1/tenants/tn_1/endpoints/health"), "{}", problem.detail);
    }
}
