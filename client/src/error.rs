//! What a call can fail with: the transport, an answer that is not what the API
//! describes, or a problem the API answered (RFC 9457, with its stable `code`).

use reqwest::StatusCode;
use serde::Deserialize;
use sluice_core::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request did not get an answer (connection refused, timeout, TLS).
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    /// A request body could not be written as JSON.
    #[error("the request could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    /// The API refused or failed the request. Branch on `problem.code`.
    #[error("{status}: {}", problem.code)]
    Problem { status: StatusCode, problem: Problem },
}

impl Error {
    /// The problem's `code` (`not_found`, `backlog_full`, `tenant_suspended`, …), if
    /// the API answered one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Problem { problem, .. } => Some(&problem.code),
            _ => None,
        }
    }
}

/// An RFC 9457 problem as Sluice answers it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Problem {
    pub code: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub detail: String,
    /// For 422: each invalid field and why.
    #[serde(default)]
    pub errors: Vec<FieldError>,
    /// The id of the request, to find it in the server's log.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The problem an unsuccessful answer carries; a body that is not one (a proxy's
/// page) keeps its text as the detail.
pub(crate) async fn problem_of(status: StatusCode, response: reqwest::Response) -> Error {
    let text = match response.text().await {
        Ok(text) => text,
        Err(e) => return Error::Http(e),
    };
    let problem = serde_json::from_str(&text).unwrap_or_else(|_| Problem {
        code: "unexpected_answer".into(),
        title: String::new(),
        detail: text,
        errors: Vec::new(),
        request_id: None,
    });
    Error::Problem { status, problem }
}
