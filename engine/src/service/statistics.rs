//! Planner statistics that keep up with a burst: every node, every few seconds, has
//! PostgreSQL analyze the queue's tables that have grown past what it last saw.
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

    /// Every [`STATISTICS_EVERY`] until `stop`: [`Sluice::refresh_planner_statistics`].
    /// Several nodes may find the same table grown; one analyzes it, the others skip
    /// it while it is being analyzed, and find it fresh after.
    pub async fn run_statistics_until_stopped(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                biased;
                _ = stop.wait_for(|stopping| *stopping) => return,
                _ = tokio::time::sleep(STATISTICS_EVERY) => {}
            }
            // Not held up by the database either: an analysis dropped halfway is
            // rolled back, and the next one does it.
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
