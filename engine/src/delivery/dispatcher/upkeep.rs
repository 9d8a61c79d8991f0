//! The dispatcher's upkeep beside claiming: counting the other nodes, settling the
//! queue heads of drained endpoints, and shutting down.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::super::{shared, STOP_DB_BUDGET};
use super::Dispatcher;
use crate::ids::now_ms;
use crate::service::nodes::HEARTBEAT_EVERY;

/// The part of [`STOP_DB_BUDGET`] kept for handing leases back.
const RELEASE_AT_LEAST: Duration = Duration::from_secs(1);

impl Dispatcher {
    /// Counts the other live nodes every heartbeat period. A node that joins is seen
    /// by the others within one period; until then only its own claims count theirs.
    pub(super) async fn count_peers(&mut self, now: Instant) {
        if self.peers_seen.is_some_and(|at| now.duration_since(at) < HEARTBEAT_EVERY) {
            return;
        }
        self.peers_seen = Some(now);
        match shared::live_peers(self.engine.store.as_ref(), &self.engine.config.node_id).await {
            Ok(peers) => self.engine.stats.peers.store(peers as u64, Ordering::Relaxed),
            Err(e) => tracing::warn!(error = %e, "counting the other nodes failed; keeping the last count"),
        }
    }

    /// Moves the queue heads of drained endpoints on, in a background task: off the
    /// path of the next claim and send (on PostgreSQL each is a commit), one batch at
    /// a time. A head left early meanwhile costs an empty claim, never a delivery.
    pub(super) fn settle_drained(&mut self) {
        if self.unsettled.is_empty() || self.settling.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let batch = std::mem::take(&mut self.unsettled);
        let store = self.engine.store.clone();
        self.settling = Some(tokio::spawn(async move {
            for endpoint in batch {
                if let Err(e) = store.settle_head(&endpoint).await {
                    tracing::warn!(%endpoint, error = %e, "settling a queue head failed; it stays early");
                }
            }
        }));
    }

    /// Waits for the requests in flight (up to the grace period), writes what the
    /// recorder holds, and hands this node's remaining leases back: those two within
    /// [`STOP_DB_BUDGET`] together.
    pub(super) async fn shutdown(mut self) {
        let engine = self.engine.clone();
        let cfg = &engine.config;
        tracing::info!(in_flight = self.tasks.len(), "stopping: waiting for requests in flight");
        let grace = tokio::time::sleep(cfg.shutdown_grace);
        tokio::pin!(grace);
        while !self.tasks.is_empty() {
            tokio::select! {
                _ = &mut grace => {
                    tracing::warn!(left = self.tasks.len(), "grace period over; abandoning requests in flight");
                    self.tasks.abort_all();
                    while self.tasks.join_next().await.is_some() {}
                    break;
                }
                Some(joined) = self.tasks.join_next_with_id() => self.finished(joined, Instant::now()),
            }
        }
        // The lease release keeps a second of its own: a recorder that used the whole
        // budget leaves the leases to it, so the work not yet sent is taken at once by
        // the other nodes instead of after the lease.
        let deadline = Instant::now() + STOP_DB_BUDGET;
        self.recorder.stop(STOP_DB_BUDGET - RELEASE_AT_LEAST).await;
        let left = deadline.saturating_duration_since(Instant::now()).max(RELEASE_AT_LEAST);
        match tokio::time::timeout(left, engine.store.release_leases(&cfg.node_id, now_ms())).await {
            Ok(Ok(n)) if n > 0 => tracing::info!(released = n, "released leases for other nodes"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "releasing leases failed; they expire by themselves"),
            Err(_) => tracing::warn!("releasing leases took too long; they expire by themselves"),
        }
    }
}
