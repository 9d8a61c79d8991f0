//! Conditional requests and caching for API v1, as one route layer so no GET can
//! forget them: every GET answer gets an ETag, `If-None-Match` gets 304, and each
//! resource's `Cache-Control` comes from the table below. Writes name the version
//! they are based on with `If-Match` ([`IfMatch`]); stale ones get 412.
//!
//! Where the ETag comes from. A resource with a version (tenant, tier, user, endpoint)
//! or that never changes (message) has its handler set a strong ETag from it. Every
//! other answer (lists, deliveries, operations, the overview) gets a weak one from a
//! digest of the bytes about to be sent. A list's ETag cannot come from "its newest id
//! and count" alone: renaming an endpoint on page one changes neither, and a 304 for
//! changed data is worse than no 304. Hashing the body answered anyway is correct for
//! every shape, aggregates included; it saves the transfer, not the query.

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{HttpMethod, RefOr, Required, ResponseBuilder};

use crate::problem::ApiError;

/// Nothing may keep it, not even the client's own cache.
pub const NO_STORE: &str = "no-store";
/// One caller's data: their own cache may keep it but must ask (with the ETag) before
/// using it again; a shared cache may not keep it.
pub const PRIVATE_REVALIDATE: &str = "private, no-cache";

/// `Cache-Control` per GET route (its template under `/v1`); every other GET is
/// [`PRIVATE_REVALIDATE`]. docs/api-caching.md explains each choice.
pub const CACHE_POLICIES: &[(&str, &str)] = &[
    // Signing secrets, and the keys that reach a tenant: never on anyone's disk.
    ("/tenants/{tenant}/endpoints/{endpoint}/secret", NO_STORE),
    ("/api-keys", NO_STORE),
    ("/tenants/{tenant}/api-keys", NO_STORE),
    // A message never changes once accepted.
    ("/tenants/{tenant}/messages/{message}", "private, max-age=86400, immutable"),
    // The description of the API is the same for everyone and changes with releases.
    ("/openapi.json", "public, no-cache"),
    ("/reference", "public, no-cache"),
];

/// The `Cache-Control` of a GET route, by its template under `/v1`.
pub fn cache_policy(route: &str) -> &'static str {
    CACHE_POLICIES.iter().find(|(r, _)| *r == route).map_or(PRIVATE_REVALIDATE, |(_, policy)| policy)
}

/// The strong ETag of a versioned resource: its version, quoted.
pub fn version_etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// An answer that names the version of the resource it carries.
pub fn with_version(mut response: Response, version: i64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&version_etag(version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// The version a PATCH or DELETE is based on: `If-Match: "<version>"` (a weak `W/`
/// prefix is tolerated). Absent or `*`, the write applies to whatever is current.
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parse_if_match(&parts.headers).map(IfMatch)
    }
}

fn parse_if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let s = v.to_str().map_err(|_| ApiError::bad_request("If-Match must be ASCII"))?.trim();
    if s == "*" {
        return Ok(None);
    }
    s.trim_start_matches("W/")
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .and_then(|s| s.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| ApiError::bad_request("If-Match must be an ETag this API gave, such as \"3\""))
}

/// Whether `If-None-Match` names `etag`, by the weak comparison RFC 9110 asks of GET.
fn none_match_hits(request: &HeaderMap, etag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let ours = opaque(etag);
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || opaque(t) == ours)
}

/// The weak ETag of a body: the first 128 bits of its SHA-256.
fn digest_etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}\"")
}

/// The route layer (it needs the matched route): ETag, `Cache-Control`, `Vary` and 304
/// on GET and HEAD answers that succeeded. Errors keep `no-store` from the hardening
/// layer.
pub async fn conditional_get(req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().trim_start_matches("/v1").to_owned());
    let policy = route.as_deref().map_or(NO_STORE, cache_policy);
    let request_headers = req.headers().clone();
    let response = next.run(req).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    parts.headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    if !policy.starts_with("public") {
        // The same URL answers differently for different keys.
        parts.headers.insert(header::VARY, HeaderValue::from_static("Authorization"));
    }
    if policy == NO_STORE {
        // Nothing may keep it, so nothing could revalidate it: no ETag, which would
        // only be a digest of a secret.
        parts.headers.remove(header::ETAG);
        return Response::from_parts(parts, body);
    }
    let body = match parts.headers.get(header::ETAG) {
        Some(_) => body,
        None => match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => {
                if let Ok(v) = HeaderValue::from_str(&digest_etag(&bytes)) {
                    parts.headers.insert(header::ETAG, v);
                }
                Body::from(bytes)
            }
            Err(e) => return ApiError::from(sluice_engine::Error::Internal(e.to_string())).into_response(),
        },
    };
    let hit = parts
        .headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|etag| none_match_hits(&request_headers, etag));
    if hit {
        // RFC 9110 §15.4.5: a 304 carries what a 200 would have for caching.
        let mut not_modified = StatusCode::NOT_MODIFIED.into_response();
        for name in [header::ETAG, header::CACHE_CONTROL, header::VARY] {
            if let Some(v) = parts.headers.get(&name) {
                not_modified.headers_mut().insert(name, v.clone());
            }
        }
        return not_modified;
    }
    Response::from_parts(parts, body)
}

/// Documents the above on one operation of the OpenAPI description: on a GET, its
/// `Cache-Control`, and unless that is `no-store` its ETag, `If-None-Match` and 304;
/// on a PATCH or DELETE of one resource (the path ends with its id), `If-Match`.
pub fn describe(op: &mut Operation, method: &HttpMethod, path: &str) {
    let route = path.strip_prefix("/v1").unwrap_or(path);
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let header_param = |name: &str, description: &str| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(description))
            .schema(Some(string()))
            .build()
    };
    match method {
        HttpMethod::Get => {
            let policy = cache_policy(route);
            let mut headers = vec![("Cache-Control", format!("`{policy}`: see docs/api-caching.md."))];
            if policy != NO_STORE {
                headers.push(("ETag", "Send it back as `If-None-Match` to get 304 while unchanged.".to_owned()));
                op.parameters.get_or_insert_with(Vec::new).push(header_param(
                    "If-None-Match",
                    "ETags from earlier answers: 304, without a body, when one still matches.",
                ));
                let not_modified = ResponseBuilder::new().description("Unchanged since the ETag sent").build();
                op.responses.responses.insert("304".to_owned(), RefOr::T(not_modified));
            }
            if let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200") {
                for (name, description) in headers {
                    let header = HeaderBuilder::new().schema(string()).description(Some(description)).build();
                    ok.headers.insert(name.to_owned(), header);
                }
            }
        }
        HttpMethod::Patch | HttpMethod::Delete if route.ends_with('}') => {
            op.parameters.get_or_insert_with(Vec::new).push(header_param(
                "If-Match",
                "The ETag (version) the change is based on: 412 `precondition_failed` if it changed since.",
            ));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).expect("ascii"));
        h
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists_and_any() {
        let h = with(header::IF_NONE_MATCH, "\"1\", W/\"abc\"");
        assert!(none_match_hits(&h, "W/\"abc\""));
        assert!(none_match_hits(&h, "\"abc\""));
        assert!(none_match_hits(&h, "\"1\""));
        assert!(!none_match_hits(&h, "\"2\""));
        assert!(none_match_hits(&with(header::IF_NONE_MATCH, "*"), "\"9\""));
        assert!(!none_match_hits(&HeaderMap::new(), "\"9\""));
    }

    #[test]
    fn if_match_takes_a_quoted_version_or_any_and_refuses_the_rest() {
        assert_eq!(parse_if_match(&with(header::IF_MATCH, "\"7\"")).ok(), Some(Some(7)));
        assert_eq!(parse_if_match(&with(header::IF_MATCH, "W/\"7\"")).ok(), Some(Some(7)));
        assert_eq!(parse_if_match(&with(header::IF_MATCH, "*")).ok(), Some(None));
        assert_eq!(parse_if_match(&HeaderMap::new()).ok(), Some(None));
        for bad in ["7", "\"seven\"", "\"7", "W/\"abc\""] {
            assert!(parse_if_match(&with(header::IF_MATCH, bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_body_digest_is_weak_and_changes_with_the_body() {
        let a = digest_etag(b"{\"a\":1}");
        assert!(a.starts_with("W/\""));
        assert_eq!(a, digest_etag(b"{\"a\":1}"));
        assert_ne!(a, digest_etag(b"{\"a\":2}"));
    }

    #[test]
    fn secrets_and_keys_are_never_stored_and_messages_are_immutable() {
        assert_eq!(cache_policy("/tenants/{tenant}/endpoints/{endpoint}/secret"), NO_STORE);
        assert_eq!(cache_policy("/api-keys"), NO_STORE);
        assert_eq!(cache_policy("/tenants/{tenant}/api-keys"), NO_STORE);
        assert!(cache_policy("/tenants/{tenant}/messages/{message}").contains("immutable"));
        assert_eq!(cache_policy("/tenants/{tenant}/deliveries"), PRIVATE_REVALIDATE);
    }
}
