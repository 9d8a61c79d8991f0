//! The nodes sharing the database: each writes a heartbeat every few seconds and marks
//! itself stopped on a graceful exit, so operators see every node (`GET /v1/nodes`,
//! the status page), and a node that died shows as gone.

use std::sync::Arc;
use std::time::Duration;

use sluice_core::model::{NodeInfo, NodeState};
use tokio::sync::watch;

use super::{Operator, Sluice};
use crate::delivery::STOP_DB_BUDGET;
use crate::error::Result;
use crate::ids::now_ms;
use crate::store::{ms_to_dt, NodeRow};

/// How often a node writes its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// Heartbeats missed before a node counts as gone: one late write on a busy database
/// is not a dead node.
const MISSED_BEFORE_GONE: i64 = 3;
/// Rows of nodes not heard from for this long are removed: every restart is a new node.
const FORGET_AFTER_MS: i64 = 7 * 86_400_000;

impl Sluice {
    /// Writes this node's heartbeat every [`HEARTBEAT_EVERY`] until `stop`, then marks
    /// the node stopped.
    pub async fn run_heartbeat_until_stopped(self: Arc<Self>, node_id: String, mut stop: watch::Receiver<bool>) {
        let started_at = now_ms();
        loop {
            // A stop is not held up by a heartbeat waiting on the database (a pool
            // timeout is seconds); one dropped halfway is an upsert, done or not.
            let beat = tokio::select! {
                biased;
                _ = stop.wait_for(|stopping| *stopping) => break,
                beat = self.heartbeat(&node_id, started_at, now_ms()) => beat,
            };
            if let Err(e) = beat {
                tracing::warn!(error = %e, "writing this node's heartbeat failed; retrying");
            }
            tokio::select! {
                changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
                _ = tokio::time::sleep(HEARTBEAT_EVERY) => {}
            }
        }
        // Within the database's share of the stop: during an outage the node is
        // shown as gone instead.
        match tokio::time::timeout(STOP_DB_BUDGET, self.store.node_stopped(&node_id, now_ms())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "marking this node stopped failed; it will show as gone"),
            Err(_) => tracing::warn!("marking this node stopped took too long; it will show as gone"),
        }
    }

    /// One heartbeat of node `node_id`, with this node's engine counters.
    pub async fn heartbeat(&self, node_id: &str, started_at: i64, now: i64) -> Result<()> {
        let count = |pick| i64::try_from(self.engine_count(pick)).unwrap_or(i64::MAX);
        let beat = NodeRow {
            id: node_id.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at,
            heartbeat_at: now,
            in_flight: count(|s| &s.in_flight),
            attempts: count(|s| &s.attempts),
            stopped_at: None,
        };
        self.store.heartbeat(&beat, now - FORGET_AFTER_MS).await
    }

    /// Every node on record, the most recently heard from first, with its state at
    /// `now`. Operators only: nodes serve every tenant.
    pub async fn list_nodes(&self, _operator: &Operator, this_node: Option<&str>, now: i64) -> Result<Vec<NodeInfo>> {
        let rows = self.store.list_nodes().await?;
        Ok(rows.into_iter().map(|r| node_info(r, this_node, now)).collect())
    }
}

/// Whether node `r` is live at `now`: not stopped, and heard from within the last
/// few heartbeat periods.
pub(crate) fn is_live(r: &NodeRow, now: i64) -> bool {
    let period = i64::try_from(HEARTBEAT_EVERY.as_millis()).unwrap_or(5_000);
    r.stopped_at.is_none() && now - r.heartbeat_at <= MISSED_BEFORE_GONE * period
}

fn node_info(r: NodeRow, this_node: Option<&str>, now: i64) -> NodeInfo {
    let state = match r.stopped_at {
        Some(_) => NodeState::Stopped,
        None if !is_live(&r, now) => NodeState::Gone,
        None => NodeState::Live,
    };
    NodeInfo {
        this_node: this_node == Some(r.id.as_str()),
        id: r.id,
        version: r.version,
        state,
        started_at: ms_to_dt(r.started_at),
        last_heartbeat_at: ms_to_dt(r.heartbeat_at),
        in_flight: r.in_flight,
        attempts: r.attempts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(heartbeat_at: i64, stopped_at: Option<i64>) -> NodeRow {
        NodeRow {
            id: "n1".into(),
            version: "0.1.0".into(),
            started_at: 0,
            heartbeat_at,
            in_flight: 3,
            attempts: 9,
            stopped_at,
        }
    }

    #[test]
    fn live_until_three_heartbeats_are_missed() {
        assert_eq!(node_info(row(100_000, None), None, 115_000).state, NodeState::Live);
        assert_eq!(node_info(row(100_000, None), None, 115_001).state, NodeState::Gone);
        assert_eq!(node_info(row(100_000, Some(100_500)), None, 900_000).state, NodeState::Stopped);
        assert!(node_info(row(100_000, None), Some("n1"), 100_000).this_node);
        assert!(!node_info(row(100_000, None), Some("n2"), 100_000).this_node);
    }
}
