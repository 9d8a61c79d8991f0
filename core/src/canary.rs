//! The canary as people read it: each run (a message a node published to itself
//! through the whole path), and the last hour summed up: how many arrived, failed or
//! are on their way, and how long arrival took (median and 99th percentile).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::MessageId;

/// How one canary run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CanaryOutcome {
    /// The signed request reached the receiver and its signature held.
    Delivered,
    /// Nothing verified arrived within the timeout.
    Failed,
    /// Published, within its timeout, nothing received yet.
    Waiting,
}

impl CanaryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Waiting => "waiting",
        }
    }
}

/// One canary message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryRun {
    pub message_id: MessageId,
    /// The node that published it (any node may deliver it).
    pub node_id: String,
    pub published_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
    pub outcome: CanaryOutcome,
    /// Publish to verified receipt, when it arrived in time.
    pub latency_ms: Option<i64>,
}

/// The canary on the operations page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryStatus {
    /// How often this node publishes one; 0: it does not (other nodes may).
    pub interval_seconds: u64,
    /// The last hour's runs of every node, newest first (at most [`CANARY_RUNS_SHOWN`]).
    pub recent: Vec<CanaryRun>,
    pub delivered: i64,
    pub failed: i64,
    pub waiting: i64,
    /// Median and 99th percentile of the last hour's delivered runs (nearest rank).
    pub latency_p50_ms: Option<i64>,
    pub latency_p99_ms: Option<i64>,
    /// Read from every run of the hour, not only those listed: with many nodes the
    /// newest ten may all be waiting.
    pub health: CanaryHealth,
}

/// The canary in a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CanaryHealth {
    /// The newest finished run arrived.
    Healthy,
    /// The newest finished run failed.
    Failing,
    /// No run finished in the hour.
    Unknown,
}

impl CanaryHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Failing => "failing",
            Self::Unknown => "unknown",
        }
    }
}

/// Runs the operations page lists.
pub const CANARY_RUNS_SHOWN: usize = 10;

impl CanaryStatus {
    /// Sums up `runs` (the last hour's, newest first).
    pub fn of(interval_seconds: u64, runs: Vec<CanaryRun>) -> Self {
        let count = |o: CanaryOutcome| runs.iter().filter(|r| r.outcome == o).count() as i64;
        let mut latencies: Vec<i64> = runs.iter().filter_map(|r| r.latency_ms).collect();
        latencies.sort_unstable();
        let health = match runs.iter().find(|r| r.outcome != CanaryOutcome::Waiting).map(|r| r.outcome) {
            Some(CanaryOutcome::Delivered) => CanaryHealth::Healthy,
            Some(_) => CanaryHealth::Failing,
            None => CanaryHealth::Unknown,
        };
        let rank = |p: f64| -> Option<i64> {
            let n = latencies.len();
            // Nearest rank: always a latency one run really had.
            let at = ((p * n as f64).ceil() as usize).clamp(1, n.max(1)) - 1;
            latencies.get(at).copied()
        };
        Self {
            interval_seconds,
            delivered: count(CanaryOutcome::Delivered),
            failed: count(CanaryOutcome::Failed),
            waiting: count(CanaryOutcome::Waiting),
            latency_p50_ms: rank(0.5),
            latency_p99_ms: rank(0.99),
            health,
            recent: runs.into_iter().take(CANARY_RUNS_SHOWN).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(outcome: CanaryOutcome, latency_ms: Option<i64>) -> CanaryRun {
        CanaryRun {
            message_id: MessageId::lower_bound_at(1),
            node_id: "node-a".into(),
            published_at: DateTime::UNIX_EPOCH,
            received_at: None,
            outcome,
            latency_ms,
        }
    }

    #[test]
    fn sums_the_hour_with_nearest_rank_percentiles() {
        let mut runs = vec![run(CanaryOutcome::Waiting, None), run(CanaryOutcome::Failed, None)];
        runs.extend((1..=100).map(|ms| run(CanaryOutcome::Delivered, Some(ms))));
        let status = CanaryStatus::of(60, runs);
        assert_eq!((status.delivered, status.failed, status.waiting), (100, 1, 1));
        assert_eq!(status.latency_p50_ms, Some(50));
        assert_eq!(status.latency_p99_ms, Some(99));
        assert_eq!(status.recent.len(), CANARY_RUNS_SHOWN);
        assert_eq!(status.health.as_str(), "failing", "the newest finished run failed; a waiting one does not count");
        // Twelve runs on their way ahead of a failed one: still failing, though the
        // list shows only waiting ones.
        let mut runs: Vec<CanaryRun> = (0..12).map(|_| run(CanaryOutcome::Waiting, None)).collect();
        runs.push(run(CanaryOutcome::Failed, None));
        let status = CanaryStatus::of(60, runs);
        assert!(status.recent.iter().all(|r| r.outcome == CanaryOutcome::Waiting));
        assert_eq!(status.health.as_str(), "failing");
    }

    #[test]
    fn no_runs_no_numbers() {
        let status = CanaryStatus::of(0, vec![]);
        assert_eq!((status.latency_p50_ms, status.latency_p99_ms), (None, None));
        assert_eq!(status.health.as_str(), "unknown");
        let one = CanaryStatus::of(60, vec![run(CanaryOutcome::Delivered, Some(7))]);
        assert_eq!((one.latency_p50_ms, one.latency_p99_ms), (Some(7), Some(7)));
        assert_eq!(one.health.as_str(), "healthy");
    }
}
