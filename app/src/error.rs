//! The dashboard's one error type: what every server function fails with, carrying
//! the same stable `code` and HTTP status the REST API gives for the same failure.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};
use sluice_core::ErrorCode;

/// A failed server function, as the browser receives it: a code to branch on and a
/// sentence for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

impl AppError {
    /// An error with this code. On the server it also sets the response's status to
    /// the code's, so the dashboard answers 404 where REST answers 404, never 500 for a
    /// caller's mistake.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let error = Self { code, message: message.into() };
        #[cfg(feature = "ssr")]
        error.set_response_status();
        error
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// The HTTP status this error travels with.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    #[cfg(feature = "ssr")]
    fn set_response_status(&self) {
        use leptos::prelude::use_context;
        // Outside a request (a unit test) there is no response to set a status on.
        let Some(response) = use_context::<leptos_axum::ResponseOptions>() else { return };
        // A request that accepts HTML is a page being rendered or a form posted
        // without JavaScript. Leptos answers the form with a redirect back to the page
        // carrying the error, which a 4xx would stop the browser from following; and a
        // page keeps its own status. Only calls from the hydrated app get the code's.
        let accepts_html = use_context::<axum::http::request::Parts>().is_some_and(|parts| {
            parts
                .headers
                .get(axum::http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"))
        });
        if accepts_html {
            return;
        }
        if let Ok(status) = axum::http::StatusCode::from_u16(self.status()) {
            response.set_status(status);
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    /// Failures of the server-function machinery itself: arguments that do not decode
    /// are the caller's (400); the rest are transport or server failures.
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let code = match &value {
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => ErrorCode::BadRequest,
            ServerFnErrorErr::Request(_) => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        };
        Self::new(code, value.to_string())
    }
}

impl From<ServerFnErrorErr> for AppError {
    fn from(value: ServerFnErrorErr) -> Self {
        Self::from_server_fn_error(value)
    }
}

#[cfg(feature = "ssr")]
impl From<sluice_engine::Error> for AppError {
    /// The engine's words, except for internal failures, whose details go to the log.
    /// Only those are logged at ERROR: a caller's mistake is not an incident.
    fn from(e: sluice_engine::Error) -> Self {
        use sluice_engine::Error;
        let code = e.code();
        let message = match &e {
            Error::Internal(what) => {
                tracing::error!(error = %what, "internal error in a server function");
                "something went wrong on our side; it has been logged".to_owned()
            }
            Error::Unavailable(what) => {
                tracing::warn!(error = %what, "database unavailable in a server function");
                "the database is not answering; try again shortly".to_owned()
            }
            Error::Validation(fields) => {
                fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ")
            }
            Error::RateLimited { retry_after_seconds } => {
                // As REST says it: when to come back, in a header a client can obey.
                if let (Some(response), Ok(value)) = (
                    leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
                    axum::http::HeaderValue::from_str(&retry_after_seconds.to_string()),
                ) {
                    response.insert_header(axum::http::header::RETRY_AFTER, value);
                }
                e.to_string()
            }
            other => {
                tracing::debug!(code = ?code, error = %other, "server function refused a request");
                other.to_string()
            }
        };
        Self::new(code, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machinery_failures_map_to_codes() {
        let bad = AppError::from_server_fn_error(ServerFnErrorErr::Args("x".into()));
        assert_eq!((bad.code, bad.status()), (ErrorCode::BadRequest, 400));
        let lost = AppError::from_server_fn_error(ServerFnErrorErr::Request("down".into()));
        assert_eq!(lost.status(), 503);
    }

    #[test]
    fn travels_as_json_with_its_code() {
        let e = AppError::not_found("endpoint ep_1 not found");
        let back = AppError::de(e.ser());
        assert_eq!(back, e);
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn engine_errors_keep_their_rest_status() {
        let cases = [
            (sluice_engine::Error::not_found("endpoint", "ep_x"), 404),
            (sluice_engine::Error::invalid("url", "must be https"), 422),
            (sluice_engine::Error::Conflict("busy".into()), 409),
            (sluice_engine::Error::PreconditionFailed { current: 3 }, 412),
            (sluice_engine::Error::Unauthorized("sign in".into()), 401),
            (sluice_engine::Error::RateLimited { retry_after_seconds: 5 }, 429),
            (sluice_engine::Error::Unavailable("gone".into()), 503),
            (sluice_engine::Error::Internal("secret detail".into()), 500),
        ];
        for (engine_error, status) in cases {
            let e = AppError::from(engine_error);
            assert_eq!(e.status(), status, "{e:?}");
            assert!(!e.message.contains("secret detail"), "internal details stay in the log");
        }
    }
}
