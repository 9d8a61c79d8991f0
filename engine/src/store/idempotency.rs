//! The idempotency records of POST requests: [`IdempotencyStore`] and what it keeps of
//! an answer ([`StoredAnswer`]).

use async_trait::async_trait;

use crate::error::Result;

/// What is kept of a request's first answer, to be given again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub etag: Option<String>,
    pub body: String,
}

/// Where a request with an idempotency key stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// The key is this request's (its `owner` token): act, then complete or abandon.
    Started,
    /// The key was used for a different request.
    Mismatch,
    /// The first request with this key is still being answered.
    InFlight,
    /// The first request was answered: this is its answer.
    Answered(StoredAnswer),
}

/// Keys and answers per caller; a key is `(caller, key)`.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// What makes two requests the same, keyed by the secret key (see
    /// [`Sealer::fingerprint`](super::Sealer::fingerprint)).
    fn request_fingerprint(&self, parts: &[&[u8]]) -> String;
    /// Takes the key for the request `request_hash`, as attempt `owner`, at `now_ms`:
    /// unless it is held, answered or used for another request. A record started
    /// before `expired_before_ms` is forgotten, and one still unanswered since before
    /// `stale_before_ms` (its attempt died) is taken over.
    #[allow(clippy::too_many_arguments)]
    async fn begin_idempotent(
        &self,
        caller: &str,
        key: &str,
        request_hash: &str,
        owner: &str,
        now_ms: i64,
        stale_before_ms: i64,
        expired_before_ms: i64,
    ) -> Result<IdempotencyBegin>;
    /// Keeps `answer` for the key, if attempt `owner` still holds it.
    async fn complete_idempotent(&self, caller: &str, key: &str, owner: &str, answer: &StoredAnswer) -> Result<()>;
    /// Lets the key go (the request changed nothing worth keeping), if `owner` holds it.
    async fn abandon_idempotent(&self, caller: &str, key: &str, owner: &str) -> Result<()>;
    /// Removes the records started before `before_ms`; how many.
    async fn purge_idempotency(&self, before_ms: i64) -> Result<u64>;
}
