//! Stable machine-readable error codes shared by the API, the engine and the dashboard.
//!
//! Clients branch on `code`, never on `title` or `detail`: those are for people and may
//! be reworded. A code, once published, keeps its meaning within API v1.

use serde::{Deserialize, Serialize};

/// What went wrong, in a form a client can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request could not be parsed (malformed JSON, bad header, bad query string).
    BadRequest,
    /// Missing, unknown or revoked API key.
    Unauthorized,
    /// Authenticated, but this action needs more rights than the key has.
    Forbidden,
    /// No such resource, or not one this caller may see.
    NotFound,
    /// The request conflicts with the current state; refresh and rethink.
    Conflict,
    /// An `If-Match` precondition failed: the caller's copy is stale.
    PreconditionFailed,
    /// The request took longer than the server allows (a body sent too slowly, say).
    RequestTimeout,
    /// The request body is larger than the configured limit.
    PayloadTooLarge,
    /// The data is well-formed but invalid; `errors` lists the fields.
    ValidationFailed,
    /// The idempotency key was used before with a different request.
    IdempotencyKeyReused,
    /// A request with this idempotency key is still being processed.
    IdempotencyKeyInFlight,
    /// The tenant's backlog of undelivered work is at its cap; retry later.
    BacklogFull,
    /// The tenant has as many of these (endpoints, API keys) as its quota allows;
    /// remove one or have the platform raise the quota.
    QuotaExceeded,
    /// The tenant is suspended: it publishes and is delivered nothing until the
    /// platform resumes it.
    TenantSuspended,
    /// Too many requests; retry after `Retry-After`.
    RateLimited,
    /// The service cannot take the request right now; retry after `Retry-After`.
    Unavailable,
    /// A bug or an unexpected failure on our side.
    Internal,
    /// The HTTP method is not allowed on this path.
    MethodNotAllowed,
    /// A deprecated route past its sunset; `detail` names its successor.
    Gone,
}

impl ErrorCode {
    /// The HTTP status this code travels with.
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Gone => 410,
            Self::Conflict | Self::IdempotencyKeyInFlight | Self::QuotaExceeded | Self::TenantSuspended => 409,
            Self::RequestTimeout => 408,
            Self::PreconditionFailed => 412,
            Self::PayloadTooLarge => 413,
            Self::ValidationFailed | Self::IdempotencyKeyReused => 422,
            Self::BacklogFull | Self::RateLimited => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// The snake_case name used on the wire and in problem `type` URIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Gone => "gone",
            Self::Conflict => "conflict",
            Self::PreconditionFailed => "precondition_failed",
            Self::RequestTimeout => "request_timeout",
            Self::PayloadTooLarge => "payload_too_large",
            Self::ValidationFailed => "validation_failed",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyKeyInFlight => "idempotency_key_in_flight",
            Self::BacklogFull => "backlog_full",
            Self::QuotaExceeded => "quota_exceeded",
            Self::TenantSuspended => "tenant_suspended",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// A short, stable, human title.
    pub fn title(self) -> &'static str {
        match self {
            Self::BadRequest => "The request could not be understood",
            Self::Unauthorized => "Missing or invalid API key",
            Self::Forbidden => "Not allowed with this key",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Gone => "This route has been retired",
            Self::Conflict => "Conflict with the current state",
            Self::PreconditionFailed => "Your copy is stale",
            Self::RequestTimeout => "Request took too long",
            Self::PayloadTooLarge => "Request body too large",
            Self::ValidationFailed => "The data is invalid",
            Self::IdempotencyKeyReused => "Idempotency key reused with a different request",
            Self::IdempotencyKeyInFlight => "A request with this idempotency key is in progress",
            Self::BacklogFull => "Backlog full",
            Self::QuotaExceeded => "Quota exceeded",
            Self::TenantSuspended => "The tenant is suspended",
            Self::RateLimited => "Too many requests",
            Self::Unavailable => "Temporarily unavailable",
            Self::Internal => "Internal error",
        }
    }
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}
