//! What every response carries for safety, and the time limit on every request.
//!
//! One layer so no route can forget it: browser hardening headers on everything (the
//! dashboard's pages set their own Content-Security-Policy with the request's nonce;
//! everything else gets one that allows nothing), HSTS when the client came over
//! https, `no-store` on everything but the compiled assets, and a request time limit so a
//! client that trickles a body cannot hold a handler forever.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sluice_core::ErrorCode;
use sluice_engine::ClientOrigin;

use crate::problem::ApiError;

/// The policy for responses that are not dashboard pages (the API, assets, errors):
/// nothing may run, load or frame them.
const LOCKED_DOWN_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Adds the hardening headers a response does not set itself.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let https = req.extensions().get::<ClientOrigin>().is_some_and(|o| o.https);
    let is_asset = req.uri().path().starts_with("/pkg/");
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    if !is_asset {
        // Everything but the compiled assets is one tenant's data, a CSRF token, or a
        // secret: no cache, the browser's included, may keep it. (Immutable messages
        // set their own, private, header.)
        set_if_missing(headers, header::CACHE_CONTROL, "no-store");
    }
    let mut set_default = |name: header::HeaderName, value: &'static str| set_if_missing(headers, name, value);
    set_default(header::CONTENT_SECURITY_POLICY, LOCKED_DOWN_CSP);
    set_default(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set_default(header::X_FRAME_OPTIONS, "DENY");
    // same-origin, not no-referrer: under no-referrer a browser sends `Origin: null`
    // on its own form posts, which the cross-site guard must refuse.
    set_default(header::REFERRER_POLICY, "same-origin");
    set_default(header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set_default(header::HeaderName::from_static("cross-origin-resource-policy"), "same-origin");
    if https {
        // Only over https: on plain http the header is ignored anyway, and sending it
        // from a development server would be a lie about how it is reached.
        set_default(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains");
    }
    res
}

fn set_if_missing(headers: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str) {
    if !headers.contains_key(&name) {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// Answers 408 (problem+json) when handling a request, body included, takes longer
/// than the limit.
pub async fn request_time_limit(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            let mut res = ApiError::new(
                ErrorCode::RequestTimeout,
                format!("the request took longer than {} s, the most this server allows", limit.as_secs()),
            )
            .into_response();
            // The rest of a slow body may still be on its way: do not reuse the connection.
            res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            res
        }
    }
}

/// The body limit, for every route. A declared length over it is refused before any
/// handler runs; a body that turns out longer (chunked, or lying) is cut where it
/// passes the limit, and whatever the reader made of that cut (a server function
/// answers 500 for a body it could not read) becomes a 413 problem. The connection is
/// closed after a 413: the unread body is still in flight, and a client that reused
/// the connection would see its next request fail.
pub async fn body_limit(State(max): State<usize>, req: Request, next: Next) -> Response {
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return too_large(max);
    }
    let exceeded = Arc::new(AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let flag = exceeded.clone();
    let mut seen = 0usize;
    let limited = body.into_data_stream().map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len();
        if seen > max {
            flag.store(true, Ordering::Relaxed);
            return Err(axum::Error::new(format!("the request body is larger than {max} bytes")));
        }
        Ok(chunk)
    });
    let res = next.run(Request::from_parts(parts, axum::body::Body::from_stream(limited))).await;
    let is_problem =
        res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if exceeded.load(Ordering::Relaxed) || (res.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE && !is_problem) {
        return too_large(max);
    }
    res
}

pub(crate) fn too_large(max: usize) -> Response {
    let mut res = ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the request body is larger than this server accepts ({max} bytes)"),
    )
    .into_response();
    res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}
