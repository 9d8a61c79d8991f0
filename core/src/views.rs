//! Read-only views the API and the dashboard share, assembled from several resources
//! (endpoint health, a message's deliveries, a node's status), and the vocabulary of
//! lifecycle events. Part of the v1 wire contract like `model`, which re-exports them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{EndpointId, EventId, TenantId};
use crate::model::{Attempt, Delivery, ErrorClass};

/// How an endpoint's deliveries went lately (`GET .../endpoints/health`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointHealth {
    pub endpoint_id: EndpointId,
    /// Deliveries published in the window that succeeded, and that failed for good.
    pub succeeded: i64,
    pub failed: i64,
    /// The newest delivery in the window that has an error: its class and status.
    pub last_error_class: Option<ErrorClass>,
    pub last_response_status: Option<i64>,
    /// Set while the endpoint's circuit is open: on the node that answered, or (on
    /// PostgreSQL) for every node.
    pub circuit_open: Option<OpenCircuitInfo>,
    /// Set while every attempt has failed since some time: the endpoint is disabled
    /// if that goes on for its tenant's period.
    pub failing: Option<FailingStreak>,
}

/// An endpoint whose every attempt has failed since `since`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailingStreak {
    pub since: DateTime<Utc>,
    pub failed_attempts: i64,
    pub last_failure_at: DateTime<Utc>,
    /// When it is disabled if every attempt keeps failing (and by then the platform's
    /// minimum number of attempts, for more than one delivery, has been made); `null`
    /// if its tenant's endpoints are never disabled.
    pub disables_at: Option<DateTime<Utc>>,
}

/// The health of a tenant's endpoints (`GET .../endpoints/health`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointHealthReport {
    /// Every endpoint with deliveries in the window, an open circuit or a failure
    /// streak.
    pub data: Vec<EndpointHealth>,
    pub window_hours: i64,
}

/// An open circuit, as shown to people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenCircuitInfo {
    /// The failures in a row the answering node saw; `null` when another node
    /// opened the circuit (each node counts its own).
    pub consecutive_failures: Option<u32>,
    pub next_probe_at: DateTime<Utc>,
}

/// One delivery of a message with where it went and every attempt, oldest first
/// (`GET .../messages/{message}/deliveries`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryDetail {
    pub delivery: Delivery,
    /// `null` when the endpoint has been deleted since.
    pub endpoint_url: Option<String>,
    pub attempts: Vec<Attempt>,
}

/// Every delivery of one message (`GET .../messages/{message}/deliveries`): one per
/// endpoint it went to, so never paged.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageDeliveries {
    pub data: Vec<DeliveryDetail>,
}

/// What a lifecycle event records. Written as `subject.verb`; the set only grows
/// within API v1, and readers must accept kinds they do not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LifecycleKind {
    #[serde(rename = "endpoint.created")]
    EndpointCreated,
    #[serde(rename = "endpoint.updated")]
    EndpointUpdated,
    #[serde(rename = "endpoint.disabled")]
    EndpointDisabled,
    #[serde(rename = "endpoint.enabled")]
    EndpointEnabled,
    #[serde(rename = "endpoint.deleted")]
    EndpointDeleted,
    #[serde(rename = "endpoint.circuit_opened")]
    EndpointCircuitOpened,
    #[serde(rename = "endpoint.circuit_closed")]
    EndpointCircuitClosed,
    #[serde(rename = "secret.rotated")]
    SecretRotated,
    #[serde(rename = "secret.revealed")]
    SecretRevealed,
    #[serde(rename = "replay.requested")]
    ReplayRequested,
    #[serde(rename = "recover.requested")]
    RecoverRequested,
    #[serde(rename = "recover.cancelled")]
    RecoverCancelled,
    #[serde(rename = "delivery.exhausted")]
    DeliveryExhausted,
    #[serde(rename = "incident.opened")]
    IncidentOpened,
    #[serde(rename = "incident.acknowledged")]
    IncidentAcknowledged,
    #[serde(rename = "incident.resolved")]
    IncidentResolved,
}

impl LifecycleKind {
    pub const ALL: [Self; 16] = [
        Self::EndpointCreated,
        Self::EndpointUpdated,
        Self::EndpointDisabled,
        Self::EndpointEnabled,
        Self::EndpointDeleted,
        Self::EndpointCircuitOpened,
        Self::EndpointCircuitClosed,
        Self::SecretRotated,
        Self::SecretRevealed,
        Self::ReplayRequested,
        Self::RecoverRequested,
        Self::RecoverCancelled,
        Self::DeliveryExhausted,
        Self::IncidentOpened,
        Self::IncidentAcknowledged,
        Self::IncidentResolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EndpointCreated => "endpoint.created",
            Self::EndpointUpdated => "endpoint.updated",
            Self::EndpointDisabled => "endpoint.disabled",
            Self::EndpointEnabled => "endpoint.enabled",
            Self::EndpointDeleted => "endpoint.deleted",
            Self::EndpointCircuitOpened => "endpoint.circuit_opened",
            Self::EndpointCircuitClosed => "endpoint.circuit_closed",
            Self::SecretRotated => "secret.rotated",
            Self::SecretRevealed => "secret.revealed",
            Self::ReplayRequested => "replay.requested",
            Self::RecoverRequested => "recover.requested",
            Self::RecoverCancelled => "recover.cancelled",
            Self::DeliveryExhausted => "delivery.exhausted",
            Self::IncidentOpened => "incident.opened",
            Self::IncidentAcknowledged => "incident.acknowledged",
            Self::IncidentResolved => "incident.resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// What the event is about: `endpoint` for `endpoint.created`.
    pub fn subject(self) -> &'static str {
        self.as_str().split('.').next().unwrap_or_default()
    }
}

/// Something that happened to a tenant's endpoints, secrets or deliveries: what
/// (`type`), to which resource (`subject_id`), by whom (`actor`: a user, an API key
/// or `system`), with what details (`GET /v1/tenants/{tenant}/events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityEvent {
    pub id: EventId,
    pub tenant_id: Option<TenantId>,
    #[serde(rename = "type")]
    pub kind: LifecycleKind,
    pub subject_id: String,
    pub actor: String,
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// A node sharing the database, as its heartbeats tell (`GET /v1/nodes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeInfo {
    pub id: String,
    pub version: String,
    pub state: NodeState,
    pub started_at: DateTime<Utc>,
    pub last_heartbeat_at: DateTime<Utc>,
    /// Requests to endpoints in flight, and attempts made since it started, as of
    /// its last heartbeat.
    pub in_flight: i64,
    pub attempts: i64,
    /// Whether it is the node that answered.
    pub this_node: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Heartbeats arrive.
    Live,
    /// No heartbeat for three periods: killed, hung or cut off. Its leases fall due
    /// as any lease does.
    Gone,
    /// Exited gracefully.
    Stopped,
}

/// One node's status, for operators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeStatus {
    pub version: String,
    /// `Sqlite` or `Postgres`.
    pub backend: String,
    pub ready: bool,
    /// Attempts made, and those that succeeded, since this node started.
    pub attempts: u64,
    pub succeeded: u64,
    /// Requests to endpoints in flight right now.
    pub in_flight: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_spell_the_same_on_the_wire_and_in_the_database() {
        for kind in LifecycleKind::ALL {
            assert_eq!(serde_json::to_value(kind).expect("json"), kind.as_str());
            assert_eq!(LifecycleKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(LifecycleKind::parse("endpoint.exploded"), None);
    }
}
