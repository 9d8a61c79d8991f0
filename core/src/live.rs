//! The operations page's live view, for admins and support: the last hour's attempts
//! minute by minute and by error class, the queue now, and endpoints by state, over
//! every tenant (the canary's reserved tenant left out).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Attempts that started in one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteVolume {
    pub at: DateTime<Utc>,
    pub succeeded: i64,
    pub failed: i64,
}

/// Failed attempts of one error class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCount {
    pub error_class: String,
    pub attempts: i64,
}

/// Deliveries waiting, over every tenant, as the metrics' `sluice_queue_depth`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueTotals {
    pub due: i64,
    pub scheduled: i64,
    pub in_flight: i64,
    /// For disabled endpoints: waiting on purpose.
    pub paused: i64,
    /// How long the oldest due delivery has waited; 0 when none is due.
    pub oldest_due_seconds: f64,
}

/// The live view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveOperations {
    /// The last 60 whole minutes and the current one, oldest first.
    pub minutes: Vec<MinuteVolume>,
    /// Failed attempts of the hour by class, most first.
    pub error_classes: Vec<ClassCount>,
    pub queue: QueueTotals,
    pub endpoints_enabled: i64,
    pub endpoints_disabled: i64,
    /// Open for every node (PostgreSQL's shared breaker) or on this node (SQLite).
    pub circuits_open: i64,
}

impl LiveOperations {
    pub fn attempts(&self) -> i64 {
        self.minutes.iter().map(|m| m.succeeded + m.failed).sum()
    }

    /// The hour's successful share of attempts; none without attempts.
    pub fn success_rate(&self) -> Option<f64> {
        let all = self.attempts();
        (all > 0).then(|| self.minutes.iter().map(|m| m.succeeded).sum::<i64>() as f64 / all as f64)
    }

    /// Attempts per minute over the last five whole minutes (the current one is not
    /// over yet).
    pub fn rate_per_minute(&self) -> f64 {
        let whole = self.minutes.len().saturating_sub(1);
        let last = &self.minutes[whole.saturating_sub(5)..whole];
        if last.is_empty() {
            return 0.0;
        }
        last.iter().map(|m| m.succeeded + m.failed).sum::<i64>() as f64 / last.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(volumes: &[(i64, i64)]) -> LiveOperations {
        LiveOperations {
            minutes: volumes
                .iter()
                .map(|&(succeeded, failed)| MinuteVolume { at: DateTime::UNIX_EPOCH, succeeded, failed })
                .collect(),
            error_classes: vec![],
            queue: QueueTotals::default(),
            endpoints_enabled: 0,
            endpoints_disabled: 0,
            circuits_open: 0,
        }
    }

    #[test]
    fn rates_over_the_hour_and_the_last_whole_minutes() {
        let mut v = vec![(0, 0); 55];
        v.extend([(10, 0), (10, 0), (5, 5), (10, 0), (8, 2), (1000, 0)]);
        let l = live(&v);
        assert_eq!(l.attempts(), 1050);
        assert_eq!(l.success_rate(), Some(1043.0 / 1050.0));
        assert_eq!(l.rate_per_minute(), 10.0, "the current minute is left out");
        assert_eq!(live(&[]).success_rate(), None);
        assert_eq!(live(&[]).rate_per_minute(), 0.0);
        assert_eq!(live(&[(3, 0)]).rate_per_minute(), 0.0);
    }
}
