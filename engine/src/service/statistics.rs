//! Planner statistics that keep up with a burst: every node, every few seconds, has
//! PostgreSQL analyze the queue's tables that changed by as many rows as they held
//! when it last analyzed them.
//!
//! Why: a statement prepared on a pooled connection keeps its plan until one of its
//! tables is analyzed, and autovacuum analyzes a table about a minute after it grew
//! at best. A plan made while the queue was nearly empty (a sequential scan is the
//! cheapest way through ten rows) went on scanning it whole after a burst queued
//! 200,000: in the benchmark's backlog scenario every claim and every record took
//! 30 to 250 ms instead of one, and the healthy tenant beside the backlog waited for
//! them (its median went from 3 to 75 ms in some runs, whichever came first, the
//! analysis or the measurement).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use tokio::sync::watch;

use super::Sluice;
use crate::error::Result;

/// How often a node looks for tables grown past their statistics: a check is one
/// read of PostgreSQL's table counters.
pub const STATISTICS_EVERY: Duration = Duration::from_secs(5);

impl Sluice {
    /// Analyzes the queue's tables that grew past their statistics; the tables
    /// analyzed (none on SQLite).
    pub async fn refresh_planner_statistics(&self) -> Result<Vec<String>> {
        self.store.refresh_planner_statistics().await
    }

    /// Every [`STATISTICS_EVERY`] (and up to a second more, so nodes started together
    /// do not look at once) until `stop`: [`Sluice::refresh_planner_statistics`].
    /// Several nodes may find the same table grown; one being analyzed is left out,
    /// and one analyzed just before another node looked is at worst analyzed twice.
    pub async fn run_statistics_until_stopped(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            let jitter = Duration::from_millis(rand::thread_rng().gen_range(0..1_000));
            tokio::select! {
                biased;
                _ = stop.wait_for(|stopping| *stopping) => return,
                _ = tokio::time::sleep(STATISTICS_EVERY + jitter) => {}
            }
            // A stop is not held up by the database either. An analysis whose wait is
            // dropped still runs to its end on its connection, harmlessly.
            let refreshed = tokio::select! {
                biased;
                _ = stop.wait_for(|stopping| *stopping) => return,
                refreshed = self.refresh_planner_statistics() => refreshed,
            };
            match refreshed {
                Ok(tables) if !tables.is_empty() => {
                    tracing::debug!(?tables, "analyzed tables grown past their statistics")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "refreshing the planner's statistics failed; retrying"),
            }
        }
    }
}
