//! Group commit for publishes: concurrent publish requests share one transaction.
//!
//! Every publish is a write transaction, and a database commits one writer at a time
//! (SQLite literally; PostgreSQL pays a WAL flush per commit). Under a burst, a queue
//! of single-message transactions is bounded by per-commit cost, not by work. So each
//! request hands its message to one writer task and waits; the writer takes whatever
//! has queued up since its last commit and writes it as one batch. A lone request is
//! written at once (no timer, no added latency); while commits follow each other, a
//! batch lingers a few milliseconds for more, so a burst of 64 becomes a few batches.
//! The answer is still sent only after the commit, so a 202 always means durable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument as _;

use crate::batching::Linger;
use crate::error::{Error, Result};
use crate::store::{NewMessage, PublishResult, Store};
use crate::telemetry::{joined_ids, Telemetry, TRACE_TARGET};

/// Most messages one transaction takes: large enough to amortise the commit, small
/// enough that no single transaction holds the writer for long.
const MAX_BATCH: usize = 256;
/// While publishes from several clients keep coming, a batch waits up to [`LINGER`]
/// after its first for more, until it has [`FULL_BATCH`] or none has come for
/// [`QUIET`]. Without it, a node's batch was whatever queued during the previous
/// commit: three nodes sharing 64 clients committed about nine messages at a time
/// where one node committed thirty, and paid the statements and the commit of each
/// batch three and a half times over. A lone publish, the first after a pause, and
/// every publish of a client publishing one at a time are written at once.
const LINGER: Duration = Duration::from_millis(3);
const QUIET: Duration = Duration::from_millis(1);
/// A batch this large is written at once.
const FULL_BATCH: usize = 48;
const BATCHING: Linger = Linger { wait: LINGER, quiet: QUIET, full: FULL_BATCH, max: MAX_BATCH };
/// Requests that may wait for the writer before `publish` itself waits to enqueue.
const QUEUE_DEPTH: usize = 4096;

struct Job {
    message: NewMessage,
    reply: oneshot::Sender<Result<PublishResult>>,
    /// The request's `publish` span, which the batch's commit span links to.
    span: tracing::Span,
}

/// The handle requests use; the writer task lives as long as any handle does.
pub(super) struct PublishQueue {
    jobs: mpsc::Sender<Job>,
}

impl PublishQueue {
    /// Starts the writer task on the current tokio runtime.
    pub(super) fn start(store: Arc<dyn Store>, telemetry: Arc<Telemetry>) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(write_batches(store, telemetry, rx));
        Self { jobs }
    }

    /// Publishes one message as part of whatever batch it lands in.
    pub(super) async fn publish(&self, message: NewMessage) -> Result<PublishResult> {
        let span = tracing::info_span!(target: TRACE_TARGET, "publish",
            message.id = %message.id, tenant.id = %message.tenant_id, event.type = %message.event_type);
        let (reply, answer) = oneshot::channel();
        let waited = async {
            self.jobs
                .send(Job { message, reply, span: tracing::Span::current() })
                .await
                .map_err(|_| Error::Internal("the publish writer has stopped".into()))?;
            answer.await.map_err(|_| Error::Internal("the publish writer dropped a request".into()))?
        };
        waited.instrument(span).await
    }
}

/// Whether the writer is busy enough to linger: its last commit was of more than one
/// publish (a client publishing one at a time never waits) and ended just now.
fn busy(last_commit: Option<(Instant, usize)>, now: Instant) -> bool {
    BATCHING.follows(last_commit.filter(|(_, size)| *size > 1).map(|(at, _)| at), now)
}

async fn write_batches(store: Arc<dyn Store>, telemetry: Arc<Telemetry>, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let mut last_commit: Option<(Instant, usize)> = None;
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        if busy(last_commit, Instant::now()) {
            BATCHING.fill(&mut rx, &mut jobs, |_| false).await;
        }
        telemetry.publish_batch(jobs.len());
        let commit = tracing::info_span!(target: TRACE_TARGET, "publish.commit",
            messages = jobs.len(), message.ids = tracing::field::Empty);
        if !commit.is_disabled() {
            commit.record("message.ids", joined_ids(jobs.iter().map(|j| j.message.id.as_str())));
            for job in &jobs {
                commit.follows_from(&job.span);
            }
        }
        let (messages, replies): (Vec<NewMessage>, Vec<_>) = jobs.drain(..).map(|j| (j.message, j.reply)).unzip();
        let written = store.publish_batch(&messages).instrument(commit).await;
        last_commit = Some((Instant::now(), messages.len()));
        match written {
            Ok(results) if results.len() == messages.len() => {
                for (reply, result) in replies.into_iter().zip(results) {
                    // The requester may have gone (client disconnected); the message is
                    // stored all the same, as with any request whose answer is lost.
                    let _ = reply.send(Ok(result));
                }
            }
            Ok(_) => {
                for reply in replies {
                    let _ = reply.send(Err(Error::Internal("publish_batch answered the wrong count".into())));
                }
            }
            Err(Error::Unavailable(why)) => {
                // The database is away: every request hears so now (503, retry), rather
                // than each waiting its turn for a connection in a retry one by one. It
                // also keeps a delivery's id within minutes of its creation time, which
                // the SLO roll-ups rely on (`store::rollups::ID_SLACK_MS`).
                for reply in replies {
                    let _ = reply.send(Err(Error::Unavailable(why.clone())));
                }
            }
            Err(e) if messages.len() == 1 => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
            Err(e) => {
                // The whole transaction rolled back. One bad message must not fail its
                // neighbours, so each is tried again on its own and gets its own answer.
                tracing::debug!(error = %e, size = messages.len(), "batched publish failed; retrying one by one");
                for (message, reply) in messages.iter().zip(replies) {
                    let _ = reply.send(store.publish(message).await);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_writer_that_has_just_committed_lingers() {
        let now = Instant::now();
        assert!(!busy(None, now), "the first publish is written at once");
        assert!(busy(Some((now - LINGER, 5)), now), "batches back to back: wait for more");
        assert!(!busy(Some((now - LINGER, 1)), now), "one client publishing one at a time never waits");
        assert!(!busy(Some((now - LINGER * 2, 5)), now), "after a pause, a publish is written at once");
    }
}
