//! `Idempotency-Key` on every POST of the REST API, as one layer rather than per
//! handler: the first successful answer to `(caller, key)` is kept for a day, and a
//! retry of the same request gets it again with `Idempotent-Replayed: true` instead of
//! acting twice. The same key with a different request (method, path, query or body)
//! is 422 `idempotency_key_reused`; while the first is still being answered, 409
//! `idempotency_key_in_flight`. Only successes are kept: a refused or failed request
//! changed nothing, so its key may be retried as is. Publish keeps its own keys
//! (on the message, for the tenant's retention, inside its group commit) and passes
//! through.

use axum::body::Body;
use axum::extract::{MatchedPath, OriginalUri, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

use sluice_engine::service::{Once, Settle};
use sluice_engine::store::StoredAnswer;

use crate::extract::bearer;
use crate::problem::ApiError;
use crate::AppState;

/// The route whose handler keeps its own keys.
const PUBLISH_ROUTE: &str = "/tenants/{tenant}/messages";

/// Largest answer kept; a POST's answer is one resource, far smaller.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The layer's state: the service, and how much of a body it may read.
#[derive(Clone)]
pub struct IdempotencyState {
    pub app: AppState,
    pub max_body_bytes: usize,
}

pub async fn idempotent_posts(State(state): State<IdempotencyState>, mut req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req.headers().get("idempotency-key").cloned() else {
        return next.run(req).await;
    };
    if req.extensions().get::<MatchedPath>().is_some_and(|p| p.as_str().ends_with(PUBLISH_ROUTE)) {
        return next.run(req).await;
    }
    // Keys are the caller's own. Without a caller the handler answers 401 itself; the
    // one found here is handed on, so the request is authenticated once.
    let caller = match bearer(req.headers()) {
        Some(token) => match state.app.sluice.authenticate(token).await {
            Ok(Some(caller)) => caller,
            Ok(None) => return next.run(req).await,
            Err(e) => return ApiError::from(e).into_response(),
        },
        None => return next.run(req).await,
    };
    let Ok(key) = key.to_str().map(str::to_owned) else {
        return ApiError::invalid("Idempotency-Key", "must be 1 to 255 visible ASCII characters").into_response();
    };
    req.extensions_mut().insert(Authenticated(caller.clone()));
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, state.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => return crate::hardening::too_large(state.max_body_bytes),
    };
    // The whole path as the client sent it (nesting strips `/v1` from `uri`).
    let uri = parts.extensions.get::<OriginalUri>().map_or(&parts.uri, |o| &o.0);
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str()).to_owned();
    let method = parts.method.clone();
    let request = (method.as_str(), path.as_str(), bytes.as_ref());
    // Nothing waits for an unanswered first request: a REST client is told 409 and
    // retries when it decides to.
    let act = act(next, Request::from_parts(parts, Body::from(bytes.clone())));
    match state.app.sluice.run_once(&caller, &key, request, Duration::ZERO, act).await {
        Ok(Once::Ran(response)) => response,
        Ok(Once::Replay(answer)) => replayed(answer),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Runs the request and says what becomes of its key: a success's answer is kept; a
/// refusal or failure changed nothing (the services' transactions rolled back), so
/// its key may be used again.
async fn act(next: Next, req: Request) -> Settle<Response> {
    let response = next.run(req).await;
    if !response.status().is_success() {
        return Settle::LetGo(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_ANSWER_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) => {
            // Done, but the answer cannot be read back: the key stays held.
            tracing::error!(error = %e, "an answer that could not be kept for its idempotency key");
            let failed = sluice_engine::Error::Internal("the answer could not be read".into());
            return Settle::Hold(ApiError::from(failed).into_response());
        }
    };
    let text = |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let answer = StoredAnswer {
        status: parts.status.as_u16(),
        content_type: text(header::CONTENT_TYPE),
        location: text(header::LOCATION),
        etag: text(header::ETAG),
        // JSON, so UTF-8.
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    Settle::Keep(answer, Response::from_parts(parts, Body::from(bytes)))
}

/// The caller a layer authenticated, for [`Auth`](crate::extract::Auth) to take
/// instead of authenticating again. Private to this crate, so nothing else can put an
/// identity on a request.
#[derive(Clone)]
pub(crate) struct Authenticated(pub(crate) sluice_engine::Caller);

/// The kept answer, marked as given before.
fn replayed(answer: StoredAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut r = (status, answer.body).into_response();
    let headers = r.headers_mut();
    let kept =
        [(header::CONTENT_TYPE, answer.content_type), (header::LOCATION, answer.location), (header::ETAG, answer.etag)];
    for (name, value) in kept {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(name, v);
        }
    }
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    r
}
