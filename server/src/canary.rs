//! The canary's built-in receiver, `POST /canary/receive`: where every node's canary
//! arrives (whichever node delivers it, whichever node receives it). The engine
//! verifies the signature and marks the run; anything unsigned gets 401.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use crate::problem::ApiError;
use crate::AppState;

pub async fn receive(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<StatusCode, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    let signed = (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
    s.sluice.receive_canary(signed, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}
