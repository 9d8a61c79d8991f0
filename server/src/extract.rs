//! Request extractors whose failures are problem+json like every other error:
//! authentication, JSON bodies, query strings and typed path ids.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use sluice_core::ids::{Id, IdKind};
use sluice_core::ErrorCode;
use sluice_engine::Caller;

use crate::problem::ApiError;
use crate::AppState;

/// The authenticated caller, from `Authorization: Bearer <key>`.
pub struct Auth(pub Caller);

/// The token of an `Authorization: Bearer <token>` header, if there is one.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?.trim();
    (!token.is_empty()).then_some(token)
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Already authenticated by a layer (the idempotency layer needs the caller);
        // only server code can put it there.
        if let Some(crate::idempotency::Authenticated(caller)) = parts.extensions.get() {
            return Ok(Auth(caller.clone()));
        }
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Err(ApiError::new(ErrorCode::Unauthorized, "send your API key as Authorization: Bearer <key>"));
        }
        let key = bearer(&parts.headers)
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "the Authorization header must be Bearer <key>"))?;
        match state.sluice.authenticate(key).await? {
            Some(caller) => Ok(Auth(caller)),
            None => Err(ApiError::new(ErrorCode::Unauthorized, "this API key is unknown or revoked")),
        }
    }
}

/// A JSON body; syntax errors are 400, wrong shapes 422, oversized bodies 413, and a
/// string holding U+0000 422 (see [`refuse_nul`]).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        refuse_nul(&bytes)?;
        parse_json(&bytes).map(Json)
    }
}

/// A JSON body that carries a message payload: like [`Json`], but its strings may hold
/// U+0000, because the payload is kept as the JSON text it arrived as, where the
/// character stays escaped. Its other text (the event type) is checked character by
/// character.
pub struct PayloadJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for PayloadJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(PayloadJson)
    }
}

/// Text holding U+0000 is refused everywhere, on both backends alike: PostgreSQL cannot
/// store it in a text column, and a name or filter with it is never meant.
fn refuse_nul(json: &[u8]) -> Result<(), ApiError> {
    if has_nul_escape(json) {
        return Err(ApiError::invalid("body", "text may not contain the NUL character (\\u0000)"));
    }
    Ok(())
}

/// Whether JSON text escapes U+0000 (`\u0000`); raw control characters are not JSON
/// at all. An escape counts when an odd run of backslashes leads to its `u`: `\\u0000`
/// is an escaped backslash and the text `u0000`.
fn has_nul_escape(json: &[u8]) -> bool {
    let needle = b"u0000";
    let mut from = 0;
    while let Some(found) = json[from..].windows(needle.len()).position(|w| w == needle) {
        let at = from + found;
        let backslashes = json[..at].iter().rev().take_while(|&&b| b == b'\\').count();
        if backslashes % 2 == 1 {
            return true;
        }
        from = at + 1;
    }
    false
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<axum::body::Bytes, ApiError> {
    let json_content = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim();
            m.eq_ignore_ascii_case("application/json") || (m.starts_with("application/") && m.ends_with("+json"))
        });
    if !json_content {
        return Err(ApiError::bad_request("send the body with Content-Type: application/json"));
    }
    axum::body::Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ErrorCode::PayloadTooLarge, "the request body is larger than this server accepts")
        } else {
            ApiError::bad_request(e.body_text())
        }
    })
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match axum::Json::<T>::from_bytes(bytes) {
        Ok(axum::Json(v)) => Ok(v),
        Err(rejection) => Err(json_rejection(rejection)),
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => {
            // serde's message names the field path: "missing field `url`", "unknown field".
            let text = e.body_text();
            let detail = text.split_once(": ").map(|(_, d)| d.to_owned()).unwrap_or(text);
            let mut err = ApiError::new(ErrorCode::ValidationFailed, detail.clone());
            err.errors.push(sluice_core::FieldError::new(field_of(&detail), detail));
            err
        }
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::bad_request(format!("the body is not valid JSON: {}", e.body_text()))
        }
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::bad_request("send the body with Content-Type: application/json")
        }
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::PayloadTooLarge, "the request body is larger than this server accepts")
        }
        other => ApiError::bad_request(other.body_text()),
    }
}

/// The field a serde error is about, for the `errors` list.
fn field_of(detail: &str) -> String {
    if let Some(start) = detail.find('`') {
        if let Some(len) = detail[start + 1..].find('`') {
            return detail[start + 1..start + 1 + len].to_owned();
        }
    }
    detail.split(':').next().unwrap_or("body").trim().to_owned()
}

/// A query string; anything it cannot parse is a 400.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or_default();
        if raw.contains("%00") || raw.contains('\0') {
            return Err(ApiError::invalid("query", "text may not contain the NUL character (%00)"));
        }
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::bad_request(e.body_text())),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// Parses a path segment as an id of kind `K`. A malformed id names nothing that
/// exists, so it is a 404 like any other unknown id.
fn path_id<K: IdKind>(raw: &str) -> Result<Id<K>, ApiError> {
    Id::parse(raw).map_err(|_| ApiError::new(ErrorCode::NotFound, format!("{} {raw} not found", K::NAME)))
}

/// The typed ids in the path, in order: `Ids(tenant): Ids<TenantId>`, or
/// `Ids((tenant, endpoint)): Ids<(TenantId, EndpointId)>`. The one way handlers read
/// ids from a path, so a malformed one is always the same 404.
pub struct Ids<T>(pub T);

/// A value made of a route's path segments, each parsed as a typed id.
pub trait PathIds: Sized {
    fn from_segments(segments: &[String]) -> Result<Self, ApiError>;
}

impl<A: IdKind> PathIds for Id<A> {
    fn from_segments(segments: &[String]) -> Result<Self, ApiError> {
        match segments {
            [a] => path_id(a),
            _ => Err(ApiError::from(sluice_engine::Error::Internal("route has the wrong number of ids".into()))),
        }
    }
}

impl<A: IdKind, B: IdKind> PathIds for (Id<A>, Id<B>) {
    fn from_segments(segments: &[String]) -> Result<Self, ApiError> {
        match segments {
            [a, b] => Ok((path_id(a)?, path_id(b)?)),
            _ => Err(ApiError::from(sluice_engine::Error::Internal("route has the wrong number of ids".into()))),
        }
    }
}

impl<T: PathIds, S: Send + Sync> FromRequestParts<S> for Ids<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(segments) = axum::extract::Path::<Vec<String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        T::from_segments(&segments).map(Ids)
    }
}

/// A JSON body that may be left out entirely (action endpoints such as `/disable`):
/// an empty body means the defaults.
pub struct JsonOrEmpty<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for JsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "the request body is larger than this server accepts",
                ))
            }
            Err(e) => return Err(ApiError::bad_request(e.body_text())),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonOrEmpty(T::default()));
        }
        refuse_nul(&bytes)?;
        serde_json::from_slice(&bytes).map(JsonOrEmpty).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                let detail = e.to_string();
                let mut err = ApiError::new(ErrorCode::ValidationFailed, detail.clone());
                err.errors.push(sluice_core::FieldError::new(field_of(&detail), detail));
                err
            }
            _ => ApiError::bad_request(format!("the body is not valid JSON: {e}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::has_nul_escape;

    #[test]
    fn finds_only_real_nul_escapes() {
        assert!(has_nul_escape(br#"{"name":"a\u0000b"}"#));
        assert!(has_nul_escape(br#"{"name":"\\\u0000"}"#), "an escaped backslash, then the escape");
        assert!(!has_nul_escape(br#"{"name":"\\u0000"}"#), "an escaped backslash, then text");
        assert!(!has_nul_escape(br#"{"name":"u0000 \u0001"}"#));
        assert!(!has_nul_escape(b""));
    }
}
