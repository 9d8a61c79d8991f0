//! Idempotency keys on POST requests: the first answer to `(caller, key)` is kept for
//! 24 hours and given again to a retry of the same request, so a client whose
//! connection dropped can retry a create, rotate, replay or recover without acting
//! twice. The HTTP layer decides what a request and an answer are; this keeps them,
//! and [`Sluice::run_once`] is the one protocol both the REST layer and the dashboard's
//! forms follow (take the key, act, keep the answer or let the key go).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::access::Caller;
use crate::error::{Error, Result};
use crate::ids::{duration_ms, now_ms};
use crate::store::{IdempotencyBegin, StoredAnswer};
use crate::Sluice;

/// How long a key and its answer are kept.
pub const IDEMPOTENCY_KEPT: Duration = Duration::from_secs(24 * 3600);

/// How long a request may hold its key unanswered before a retry takes it over: the
/// request died with its node. Longer than any request may run (the HTTP request
/// timeout, 30 s by default, must be shorter: the server refuses to start otherwise),
/// so a live request is never overtaken.
pub const IN_FLIGHT_FOR_AT_MOST: Duration = Duration::from_secs(120);

/// Longest key accepted, as Stripe's.
const MAX_KEY_LEN: usize = 255;

/// A key this request holds: [`Sluice::complete_idempotent`] keeps its answer,
/// [`Sluice::abandon_idempotent`] lets it go.
#[derive(Debug)]
pub struct IdempotencyTicket {
    caller: String,
    key: String,
    owner: String,
}

/// What to do with a request that carries a key.
#[derive(Debug)]
pub enum Idempotent {
    /// Act on it, then complete or abandon the ticket.
    Proceed(IdempotencyTicket),
    /// Answer this again: the first request with the key got it.
    Replay(StoredAnswer),
}

/// How an action run under a key ended, and so what becomes of the key.
#[derive(Debug)]
pub enum Settle<T> {
    /// Done: keep this answer for the key's retries, and hand `T` to this caller.
    Keep(StoredAnswer, T),
    /// Changed nothing (refused, or failed and its transaction rolled back): let the
    /// key go, so the same key may be sent again.
    LetGo(T),
    /// Done, but its answer cannot be kept: the key stays held, so a retry is told
    /// 409 until the key counts as abandoned ([`IN_FLIGHT_FOR_AT_MOST`]) and then acts.
    Hold(T),
}

/// What [`Sluice::run_once`] gave: the action's own outcome, or the answer an earlier
/// request with the key was given.
#[derive(Debug)]
pub enum Once<T> {
    Ran(T),
    Replay(StoredAnswer),
}

/// How often a request that waits for the key's first request looks again.
const IN_FLIGHT_POLL: Duration = Duration::from_millis(100);

/// A key is 1 to 255 visible ASCII characters (letters, digits, punctuation).
fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid("Idempotency-Key", "must be 1 to 255 visible ASCII characters"));
    }
    Ok(())
}

impl Sluice {
    /// Takes `key` for `caller`'s request (`method`, `path` with its query, `body`), or
    /// says why not: the key answered another request (422), or its first request is
    /// still being answered (409).
    pub async fn begin_idempotent(
        &self,
        caller: &Caller,
        key: &str,
        (method, path, body): (&str, &str, &[u8]),
    ) -> Result<Idempotent> {
        check_key(key)?;
        // Keyed: a body may carry a password, and the fingerprint is kept a day.
        let request_hash = self.store.request_fingerprint(&[method.as_bytes(), path.as_bytes(), body]);
        let owner = ulid::Ulid::new().to_string();
        let now = now_ms();
        let begun = self
            .store
            .begin_idempotent(
                caller.actor(),
                key,
                &request_hash,
                &owner,
                now,
                now - duration_ms(IN_FLIGHT_FOR_AT_MOST),
                now - duration_ms(IDEMPOTENCY_KEPT),
            )
            .await?;
        match begun {
            IdempotencyBegin::Started => Ok(Idempotent::Proceed(IdempotencyTicket {
                caller: caller.actor().to_owned(),
                key: key.to_owned(),
                owner,
            })),
            IdempotencyBegin::Answered(answer) => Ok(Idempotent::Replay(answer)),
            IdempotencyBegin::Mismatch => Err(Error::IdempotencyKeyReused(key.to_owned())),
            IdempotencyBegin::InFlight => Err(Error::IdempotencyKeyInFlight(key.to_owned())),
        }
    }

    /// Keeps `answer` as the key's answer.
    pub async fn complete_idempotent(&self, ticket: IdempotencyTicket, answer: &StoredAnswer) -> Result<()> {
        self.store.complete_idempotent(&ticket.caller, &ticket.key, &ticket.owner, answer).await
    }

    /// Lets the key go, so the same key may be used again: the request changed
    /// nothing (refused, or failed and rolled back).
    pub async fn abandon_idempotent(&self, ticket: IdempotencyTicket) -> Result<()> {
        self.store.abandon_idempotent(&ticket.caller, &ticket.key, &ticket.owner).await
    }

    /// Runs `act` at most once per `(caller, key)` and `request`: takes the key, runs
    /// the action, and keeps its answer or lets the key go as the action's [`Settle`]
    /// says. A retry of an answered request gets [`Once::Replay`] without acting; the
    /// key with another request is 422. While the first is still being answered, a
    /// repeat waits up to `wait_in_flight` for its answer (a double-clicked form shows
    /// the first answer), then is told 409.
    ///
    /// The action runs in a task of its own, and its key is settled even if the caller
    /// goes away or a time limit drops this future: left half done, the key would be
    /// taken over later and the action repeated.
    pub async fn run_once<T, Fut>(
        self: &Arc<Self>,
        caller: &Caller,
        key: &str,
        request: (&str, &str, &[u8]),
        wait_in_flight: Duration,
        act: Fut,
    ) -> Result<Once<T>>
    where
        T: Send + 'static,
        Fut: Future<Output = Settle<T>> + Send + 'static,
    {
        let started = std::time::Instant::now();
        let ticket = loop {
            match self.begin_idempotent(caller, key, request).await {
                Ok(Idempotent::Proceed(ticket)) => break ticket,
                Ok(Idempotent::Replay(answer)) => return Ok(Once::Replay(answer)),
                Err(Error::IdempotencyKeyInFlight(_)) if started.elapsed() < wait_in_flight => {
                    tokio::time::sleep(IN_FLIGHT_POLL).await;
                }
                Err(e) => return Err(e),
            }
        };
        let sluice = Arc::clone(self);
        let task = tokio::spawn(async move {
            match act.await {
                Settle::Keep(answer, value) => {
                    if let Err(e) = sluice.complete_idempotent(ticket, &answer).await {
                        tracing::warn!(error = %e, "keeping an answer for its idempotency key failed; a retry is told 409 for now");
                    }
                    value
                }
                Settle::LetGo(value) => {
                    if let Err(e) = sluice.abandon_idempotent(ticket).await {
                        tracing::warn!(error = %e, "letting an idempotency key go failed; it is held for two minutes");
                    }
                    value
                }
                Settle::Hold(value) => value,
            }
        });
        task.await.map(Once::Ran).map_err(|e| Error::Internal(format!("an idempotent action's task failed: {e}")))
    }

    /// Removes keys older than [`IDEMPOTENCY_KEPT`] as of `now_ms`; how many.
    pub(super) async fn purge_idempotency_keys(&self, now_ms: i64) -> Result<u64> {
        self.store.purge_idempotency(now_ms - duration_ms(IDEMPOTENCY_KEPT)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_at_most_255() {
        assert!(check_key("order-123_retry.1:a/b").is_ok());
        assert!(check_key(&"k".repeat(255)).is_ok());
        for bad in ["", " ", "has space", "tab\t", "ünïcode", &"k".repeat(256)] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }
}
