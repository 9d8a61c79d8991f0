//! The lease protocol's records: what the dispatcher scans for ([`DueEndpoint`]),
//! what a claim hands it ([`Claimed`]) and what it writes back ([`Outcome`]), and
//! the limits several nodes keep together ([`SharedLimits`], [`SharedCircuit`]).

use sluice_core::ids::*;
use sluice_core::model::AttemptTrigger;

use super::AttemptRecord;

/// An endpoint with due work, as the dispatcher needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueEndpoint {
    pub id: EndpointId,
    pub tenant_id: TenantId,
    pub url: String,
    pub version: i64,
    pub rate_limit_per_second: Option<u32>,
    pub max_concurrency: Option<u32>,
    pub retry_schedule: Option<Vec<u32>>,
}

/// A delivery leased to this node, with what it takes to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: DeliveryId,
    pub message_id: MessageId,
    pub endpoint_id: EndpointId,
    pub tenant_id: TenantId,
    pub event_type: String,
    pub payload: String,
    pub message_created_at_ms: i64,
    /// Attempts made before this one.
    pub attempts: i64,
    /// `attempts` when the schedule last started over (a replay restarts it).
    pub retry_base: i64,
    /// Fencing token: the outcome is recorded only if the lease is still ours.
    pub lease_token: i64,
    pub trigger: AttemptTrigger,
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Succeeded,
    RetryAt(i64),
    Exhausted,
}

impl NextStep {
    /// The delivery's state and next attempt time as stored.
    pub(crate) fn stored(&self) -> (&'static str, Option<i64>) {
        match self {
            NextStep::Succeeded => ("succeeded", None),
            NextStep::RetryAt(at) => ("pending", Some(*at)),
            NextStep::Exhausted => ("failed", None),
        }
    }
}

/// The result of one attempt, to be written with others in one transaction.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub lease_token: i64,
    pub attempt: AttemptRecord,
    pub next: NextStep,
}

/// What one endpoint and its tenant may have in flight across every node, and what
/// this node already has, for [`QueueStore::claim_shared`](super::QueueStore::claim_shared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedLimits {
    /// The endpoint's `rate_limit_per_second`, if it has one.
    pub rate: Option<u32>,
    /// The endpoint's most requests at once (its own maximum or the default).
    pub endpoint_max: usize,
    /// The tenant's most requests at once.
    pub tenant_max: usize,
    /// This node's requests in flight to the endpoint and for the tenant: its own
    /// leased rows are counted from memory, because a row stays leased until the
    /// recorder writes its outcome, after the request is done.
    pub endpoint_here: usize,
    pub tenant_here: usize,
    /// The grant this node asks for beside the claim, if any.
    pub grant: Option<GrantAsk>,
}

/// A grant asked for: room at the endpoint and for its tenant that this node may
/// fill without asking again for `for_ms` (the database times the grant by its own
/// clock, from the moment it grants), because the other nodes count it as taken.
/// Each is at most the share asked for, at least what the node has in flight there
/// with the claim's rows, and never more than the others leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantAsk {
    pub endpoint_share: usize,
    pub tenant_share: usize,
    pub for_ms: i64,
}

/// The endpoint's circuit as the database has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedCircuit {
    Closed,
    /// Open: nothing for this many microseconds.
    OpenFor(i64),
    /// Half-open, and another node is sending the probe; look again later.
    Probing,
    /// Half-open, and what this claim leased (one delivery) is the probe.
    Probe,
}

impl SharedCircuit {
    /// The circuit at `now_us` as its row has it, for a node that would claim: open,
    /// half-open with another node's probe under way (its lease, `probe_until_us`,
    /// not over), or free to probe (`Probe`) or send (`Closed`). While the probe is
    /// the asking node's own (`probe_is_mine`), that node's breaker knows more than
    /// the row (its probe succeeded, and the close is on its way to the row), so the
    /// row does not hold it back.
    pub fn at(open_until_us: Option<i64>, probe_until_us: Option<i64>, probe_is_mine: bool, now_us: i64) -> Self {
        match open_until_us {
            None => Self::Closed,
            Some(until) if now_us < until => Self::OpenFor(until - now_us),
            Some(_) if probe_is_mine && probe_until_us.is_some_and(|p| now_us < p) => Self::Closed,
            Some(_) if probe_until_us.is_some_and(|p| now_us < p) => Self::Probing,
            Some(_) => Self::Probe,
        }
    }
}

/// What a claim under the shared limits got.
#[derive(Debug)]
pub struct SharedClaim {
    pub claimed: Vec<Claimed>,
    /// What the shared limits allowed: fewer claimed than this means the endpoint
    /// has no more due work.
    pub granted: usize,
    /// How far the endpoint's shared rate schedule runs ahead of the database's clock
    /// after this claim (µs), when it has a rate limit.
    pub rate_ahead_us: Option<i64>,
    pub circuit: SharedCircuit,
    /// The requests other nodes have in flight (to the endpoint, or for its tenant)
    /// left less room than was asked for: the cluster is full for now.
    pub crowded: bool,
    /// The grants this claim handed out (0: none), to be filled by
    /// [`QueueStore::claim_granted`](super::QueueStore::claim_granted): no endpoint
    /// grant for an endpoint with a rate limit or a circuit not closed.
    pub endpoint_grant: usize,
    pub tenant_grant: usize,
}

/// A change of an endpoint's circuit on this node, to be shared with the others and,
/// when it opens or closes the circuit for everyone, recorded as a lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitRecord {
    pub endpoint: EndpointId,
    pub tenant: TenantId,
    pub change: CircuitChange,
}

/// What changed in an endpoint's circuit on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitChange {
    /// Failures reached the threshold: open for this long (unless already open).
    Opened { cooldown_ms: i64 },
    /// The probe failed: open again, the wait doubled (at least `cooldown_ms`, at
    /// most the breaker's `MAX_COOLDOWN`).
    ProbeFailed { cooldown_ms: i64 },
    /// A request succeeded.
    Closed,
}

#[cfg(test)]
mod tests {
    use super::SharedCircuit;

    #[test]
    fn a_circuit_is_open_then_half_open_with_one_probe_at_a_time() {
        assert_eq!(SharedCircuit::at(None, None, false, 10), SharedCircuit::Closed);
        assert_eq!(SharedCircuit::at(Some(50), None, false, 10), SharedCircuit::OpenFor(40));
        assert_eq!(SharedCircuit::at(Some(50), None, false, 50), SharedCircuit::Probe, "the cooldown is over");
        assert_eq!(SharedCircuit::at(Some(50), Some(80), false, 60), SharedCircuit::Probing, "another node's probe");
        assert_eq!(SharedCircuit::at(Some(50), Some(80), true, 60), SharedCircuit::Closed, "its own breaker decides");
        assert_eq!(SharedCircuit::at(Some(50), Some(80), false, 80), SharedCircuit::Probe, "the probe's lease ran out");
    }
}
