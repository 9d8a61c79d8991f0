//! Incidents: an endpoint's stretch of failure from its first failed attempt, through
//! detection and someone looking at it, to sustained success; and the time to detect
//! and recover, summarised as median and 90th percentile. Part of the v1 wire contract
//! like `model`, which re-exports them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{EndpointId, IncidentId, TenantId};

/// An endpoint's incident (`GET /v1/tenants/{tenant}/incidents`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Incident {
    pub id: IncidentId,
    pub tenant_id: TenantId,
    pub endpoint_id: EndpointId,
    pub state: IncidentState,
    pub cause: IncidentCause,
    /// Failed and all attempts to the endpoint in the window that detected it (the
    /// circuit's failures in a row, for `circuit_opened`).
    pub failed_attempts: i64,
    pub attempts: i64,
    /// The first failed attempt of the stretch that became the incident.
    pub first_failure_at: DateTime<Utc>,
    /// When Sluice detected it.
    pub opened_at: DateTime<Utc>,
    /// When a person first looked at it (the dashboard's incident list, or
    /// `POST …/acknowledge`) while it was open, and who.
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    /// The first success of the run that ended it: no failure followed for the
    /// platform's resolve period. Set once that period has passed.
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution: Option<IncidentResolution>,
    /// `opened_at − first_failure_at`, in seconds.
    pub time_to_detect_seconds: f64,
    /// `resolved_at − first_failure_at`, in seconds, once recovered.
    pub time_to_recover_seconds: Option<f64>,
}

impl Incident {
    pub fn is_open(&self) -> bool {
        self.state == IncidentState::Open
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    Open,
    Resolved,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Resolved].into_iter().find(|k| k.as_str() == s)
    }
}

/// What detected it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IncidentCause {
    /// Its circuit opened (consecutive failures).
    CircuitOpened,
    /// Its attempts' failure rate over the window passed the threshold.
    FailureRate,
}

impl IncidentCause {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CircuitOpened => "circuit_opened",
            Self::FailureRate => "failure_rate",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::CircuitOpened, Self::FailureRate].into_iter().find(|k| k.as_str() == s)
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IncidentResolution {
    /// Deliveries succeed again: the only end counted in time to recover.
    Recovered,
    /// The endpoint was deleted while it was open.
    EndpointDeleted,
}

impl IncidentResolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recovered => "recovered",
            Self::EndpointDeleted => "endpoint_deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Recovered, Self::EndpointDeleted].into_iter().find(|k| k.as_str() == s)
    }
}

/// Time to detect and recover over the incidents opened in two windows
/// (`GET …/incidents/stats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentStats {
    pub last_7_days: IncidentTimes,
    pub last_30_days: IncidentTimes,
    /// Incidents open now, whenever they opened.
    pub open_now: i64,
}

/// The incidents opened in a window, and how long detecting and recovering took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentTimes {
    pub days: i64,
    pub opened: i64,
    /// Of those, recovered (the ones `time_to_recover` is over).
    pub recovered: i64,
    pub time_to_detect: Percentiles,
    pub time_to_recover: Percentiles,
}

/// Median and 90th percentile, in seconds; absent with no sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Percentiles {
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
}

impl Percentiles {
    /// Nearest-rank percentiles of `seconds` (in any order): the value at or below
    /// which half (nine tenths) of the samples lie, always one of the samples, so a
    /// single slow recovery is reported as it was, not averaged away.
    pub fn of(mut seconds: Vec<f64>) -> Self {
        if seconds.is_empty() {
            return Self::default();
        }
        seconds.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            // Nearest rank: ceil(p·n), 1-based; n ≥ 1 here, so the index is in range.
            let n = seconds.len();
            let r = (p * n as f64).ceil() as usize;
            seconds[r.clamp(1, n) - 1]
        };
        Self { median_seconds: Some(rank(0.5)), p90_seconds: Some(rank(0.9)) }
    }
}

/// A duration in seconds, as a person reads it: `45 s`, `12 min`, `3.5 h`, `2.1 d`.
pub fn human_seconds(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 90.0 * 60.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 36.0 * 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} d", s / 86_400.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_samples() {
        assert_eq!(Percentiles::of(vec![]), Percentiles::default());
        let one = Percentiles::of(vec![7.0]);
        assert_eq!((one.median_seconds, one.p90_seconds), (Some(7.0), Some(7.0)));
        let ten: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        let p = Percentiles::of(ten);
        assert_eq!((p.median_seconds, p.p90_seconds), (Some(5.0), Some(9.0)));
        let skewed = Percentiles::of(vec![1.0, 1.0, 1.0, 1_000.0]);
        assert_eq!((skewed.median_seconds, skewed.p90_seconds), (Some(1.0), Some(1_000.0)));
    }

    #[test]
    fn vocabularies_round_trip() {
        for s in [IncidentState::Open, IncidentState::Resolved] {
            assert_eq!(IncidentState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).expect("json"), s.as_str());
        }
        for c in [IncidentCause::CircuitOpened, IncidentCause::FailureRate] {
            assert_eq!(IncidentCause::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).expect("json"), c.as_str());
        }
        for r in [IncidentResolution::Recovered, IncidentResolution::EndpointDeleted] {
            assert_eq!(IncidentResolution::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).expect("json"), r.as_str());
        }
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human_seconds(12.4), "12 s");
        assert_eq!(human_seconds(600.0), "10 min");
        assert_eq!(human_seconds(3.5 * 3600.0), "3.5 h");
        assert_eq!(human_seconds(3.0 * 86_400.0), "3.0 d");
    }
}
