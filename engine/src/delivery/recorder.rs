//! The recorder: writes verdicts to the store in batches, one transaction per batch,
//! which is what lets SQLite keep up with many requests finishing at once.
//!
//! A failed write is retried for a while; if the database stays away longer, the batch
//! is dropped and the leases expire, so the deliveries are attempted again: at least
//! once, never lost.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::decide::Verdict;
use super::stats::Stats;
use crate::batching::Linger;
use crate::ids::now_ms;
use crate::store::{AutoDisable, CircuitRecord, NextStep, Store};
use crate::wake::Wake;

/// Verdicts written per transaction at most.
const MAX_BATCH: usize = 512;
/// While verdicts keep coming, a batch waits up to this long after its first for
/// more, or until it has [`FULL_BATCH`]. Each batch is a transaction of about seven
/// statements and a WAL flush: three nodes each recording a third of a burst wrote
/// about three and a half times the batches one node did, and that overhead, not
/// the rows, was much of what they cost PostgreSQL. Only the recorded state waits (the
/// receiver has its request, the slot is free); a crash meanwhile loses outcomes
/// whose leases then expire, so they are sent again, as any unrecorded outcome is.
const LINGER: Duration = Duration::from_millis(20);
/// A batch this large is written at once.
const FULL_BATCH: usize = 64;
const BATCHING: Linger = Linger { wait: LINGER, quiet: LINGER, full: FULL_BATCH, max: MAX_BATCH };
/// How long a batch is retried while the database is away.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// What the recorder is sent. Nearly every message is a verdict, so boxing it to
/// shrink the rare flush would cost an allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
pub enum ToRecorder {
    Verdict(Verdict),
    /// An endpoint's circuit changed on this node: tell the other nodes.
    Circuit(CircuitRecord),
    /// Answer once everything sent before this is written (or given up on).
    Flush(oneshot::Sender<()>),
}

pub struct Recorder {
    tx: mpsc::Sender<ToRecorder>,
    task: JoinHandle<()>,
}

impl Recorder {
    pub fn start(store: Arc<dyn Store>, wake: Arc<Wake>, stats: Arc<Stats>, auto_disable: AutoDisable) -> Self {
        // Bounded: when the recorder is behind, send tasks wait to hand over their
        // verdict, so their endpoint slots stay busy and nothing new is claimed.
        let (tx, rx) = mpsc::channel(4_096);
        let task = tokio::spawn(record_loop(store, rx, wake, stats, auto_disable));
        Self { tx, task }
    }

    /// Where send tasks hand in their verdicts.
    pub fn inbox(&self) -> mpsc::Sender<ToRecorder> {
        self.tx.clone()
    }

    /// Waits until every verdict handed in so far is written.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(ToRecorder::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Writes what is left and stops (once every inbox handed out is dropped too), or,
    /// when the database has not taken it within `budget`, gives it up: those
    /// deliveries' leases expire and they are sent again, as after a crash.
    pub async fn stop(self, budget: Duration) {
        drop(self.tx);
        let mut task = self.task;
        match tokio::time::timeout(budget, &mut task).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => tracing::error!("recorder task panicked"),
            Err(_) => {
                task.abort();
                tracing::error!(
                    ?budget,
                    "the database did not take the last outcomes in time; their deliveries are sent again once \
                     their leases expire"
                );
            }
        }
    }
}

async fn record_loop(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<ToRecorder>,
    wake: Arc<Wake>,
    stats: Arc<Stats>,
    auto_disable: AutoDisable,
) {
    let mut buf = Vec::with_capacity(MAX_BATCH);
    let mut last_write: Option<Instant> = None;
    while rx.recv_many(&mut buf, MAX_BATCH).await > 0 {
        // Lingering only while verdicts keep coming: a lone one is written at once.
        if BATCHING.follows(last_write, Instant::now()) {
            // At once when someone waits for a flush.
            let flushing = |buf: &[ToRecorder]| buf.iter().any(|m| matches!(m, ToRecorder::Flush(_)));
            BATCHING.fill(&mut rx, &mut buf, flushing).await;
        }
        let mut outcomes = Vec::with_capacity(buf.len());
        let mut disable = Vec::new();
        let mut events = Vec::new();
        let mut acks = Vec::new();
        let mut circuits = Vec::new();
        for item in buf.drain(..) {
            match item {
                ToRecorder::Verdict(v) => {
                    outcomes.push(v.outcome);
                    disable.extend(v.disable);
                    events.extend(v.events);
                }
                ToRecorder::Circuit(record) => circuits.push(record),
                ToRecorder::Flush(ack) => acks.push(ack),
            }
        }
        if !outcomes.is_empty() {
            write_batch(store.as_ref(), &outcomes, &disable, &events, auto_disable, &stats).await;
            last_write = Some(Instant::now());
            // Retries due (almost) now should not wait for the next poll.
            let soon = now_ms() + 1_000;
            if outcomes.iter().any(|o| matches!(o.next, NextStep::RetryAt(at) if at <= soon)) {
                wake.notify_one();
            }
        }
        // After the outcomes before them. Once, not retried: a change the others
        // miss leaves each node's own breaker to open by itself, and a probe's lease
        // to run out, as before circuits were shared.
        if let Err(e) = store.record_circuits(&circuits).await {
            tracing::warn!(error = %e, n = circuits.len(), "sharing circuit changes with other nodes failed");
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

async fn write_batch(
    store: &dyn Store,
    outcomes: &[crate::store::Outcome],
    disable: &[(sluice_core::ids::EndpointId, String)],
    events: &[crate::store::LifecycleEvent],
    auto_disable: AutoDisable,
    stats: &Stats,
) {
    let span = tracing::info_span!(target: crate::telemetry::TRACE_TARGET, "delivery.record",
        outcomes = outcomes.len(), message.ids = tracing::field::Empty);
    if !span.is_disabled() {
        let ids = outcomes.iter().map(|o| o.attempt.message_id.as_str());
        span.record("message.ids", crate::telemetry::joined_ids(ids));
    }
    let mut backoff = Duration::from_millis(50);
    let started = Instant::now();
    loop {
        let written = store.record(outcomes, disable, events, auto_disable, now_ms());
        match tracing::Instrument::instrument(written, span.clone()).await {
            Ok(duplicates) => {
                stats.record_batches.fetch_add(1, Ordering::Relaxed);
                stats.duplicate_sends.fetch_add(duplicates, Ordering::Relaxed);
                stats.recorded.fetch_add(outcomes.len() as u64, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                stats.record_errors.fetch_add(1, Ordering::Relaxed);
                if started.elapsed() > GIVE_UP_AFTER {
                    tracing::error!(error = %e, n = outcomes.len(), "giving up recording a batch; its deliveries will be retried when their leases expire");
                    stats.recorded.fetch_add(outcomes.len() as u64, Ordering::Relaxed);
                    return;
                }
                tracing::warn!(error = %e, "recording attempts failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
