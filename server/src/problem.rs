//! The one place where errors become HTTP responses: RFC 9457 problem+json with a
//! stable `code`, and the headers that tell a client what to do next.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sluice_core::{ErrorCode, FieldError};
use sluice_engine::Error;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), errors: Vec::new(), retry_after: None }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, detail)
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            code: ErrorCode::ValidationFailed,
            detail: format!("{field}: {message}"),
            errors: vec![FieldError::new(field, message)],
            retry_after: None,
        }
    }
}

/// An RFC 9457 problem: every error of API v1 is one, as `application/problem+json`.
/// Branch on `code`; `title` and `detail` are for people and may be reworded.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:sluice:problem:` and the code.
    #[serde(rename = "type")]
    #[schema(example = "urn:sluice:problem:validation_failed")]
    kind: String,
    /// A short, stable summary of the code.
    title: &'static str,
    /// The HTTP status, repeated.
    status: u16,
    /// What went wrong with this request, for people.
    detail: String,
    code: ErrorCode,
    /// The invalid fields, for `validation_failed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
    /// The request's id, as in its `X-Request-Id` header and its log line.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    request_id: Option<std::sync::Arc<str>>,
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = e.code();
        match e {
            Error::Validation(errors) => {
                let detail =
                    errors.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ");
                Self { code, detail, errors, retry_after: None }
            }
            Error::BacklogFull { retry_after_seconds, .. } => {
                Self { code, detail: e.to_string(), errors: Vec::new(), retry_after: Some(retry_after_seconds) }
            }
            Error::IdempotencyKeyInFlight(_) => {
                Self { code, detail: e.to_string(), errors: Vec::new(), retry_after: Some(1) }
            }
            Error::RateLimited { retry_after_seconds } => {
                Self { code, detail: e.to_string(), errors: Vec::new(), retry_after: Some(retry_after_seconds) }
            }
            Error::Unavailable(ref what) => {
                tracing::warn!(error = %what, "service unavailable");
                Self {
                    code,
                    detail: "the database is not answering; retry shortly".into(),
                    errors: Vec::new(),
                    retry_after: Some(2),
                }
            }
            Error::Internal(ref what) => {
                // Details of internal failures go to the log, not to the client.
                tracing::error!(error = %what, "internal error");
                Self::new(code, "something went wrong on our side; it has been logged")
            }
            other => Self::new(code, other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = Problem {
            kind: format!("urn:sluice:problem:{}", self.code.as_str()),
            title: self.code.title(),
            status: status.as_u16(),
            detail: self.detail,
            code: self.code,
            errors: self.errors,
            request_id: crate::request_id::current(),
        };
        let json = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, json).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.code == ErrorCode::Unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
