//! The cluster-wide half of an endpoint's limits. When other nodes share the database
//! (or the endpoint has a rate limit, whose schedule is shared from a node's first
//! send), a claim goes through [`QueueStore::claim_shared`], which grants it against
//! what every node has in flight, the shared rate schedule and the shared circuit;
//! this node's slot then adopts what the database said, with the grant it handed out
//! ([`super::grant`]). On SQLite the store keeps nothing shared (one node is the only
//! sender) and the slot alone decides.
//!
//! [`QueueStore::claim_shared`]: crate::store::QueueStore::claim_shared

use std::time::{Duration, Instant};

use super::breaker::Breaker;
use super::grant::Grant;
use super::slot::EndpointSlot;
use crate::error::Result;
use crate::ids::now_ms;
use crate::service::nodes::is_live;
use crate::store::{CircuitChange, Claimed, GrantAsk, SharedCircuit, SharedLimits, Store};

/// While another node sends the half-open probe, how often to look whether it closed
/// the circuit: the probe's lease is far longer than a probe usually takes.
const PROBE_RECHECK: Duration = Duration::from_secs(1);

/// What a shared claim leased, and what it told this node.
pub(super) struct SharedClaimed {
    pub claimed: Vec<Claimed>,
    /// What the shared limits allowed (at most what was asked for).
    pub granted: usize,
    /// The database's circuit opened, moved or closed this node's: what people are
    /// shown changes.
    pub circuit_changed: bool,
    /// The tenant's room granted to this node (the endpoint's is on its slot).
    pub tenant_grant: Option<Grant>,
}

/// Claims up to `want` of the slot's deliveries under the limits all nodes share,
/// asking for a grant as `grant` says (made at `asked_at`); `None` when the store
/// keeps no shared limits. Counts the claimed requests as started on the slot, and
/// puts the endpoint's grant on it.
#[allow(clippy::too_many_arguments)]
pub(super) async fn claim(
    store: &dyn Store,
    slot: &mut EndpointSlot,
    tenant_here: usize,
    tenant_max: usize,
    want: usize,
    grant: Option<GrantAsk>,
    asked_at: Instant,
    (now_ms, lease_until_ms, owner): (i64, i64, &str),
) -> Result<Option<SharedClaimed>> {
    let limits = SharedLimits {
        rate: slot.info.rate_limit_per_second,
        endpoint_max: slot.max_concurrency(),
        tenant_max,
        endpoint_here: slot.in_flight,
        tenant_here,
        grant,
    };
    let (endpoint, tenant) = (slot.info.id.clone(), slot.info.tenant_id.clone());
    let Some(shared) = store.claim_shared(&endpoint, &tenant, &limits, want, now_ms, lease_until_ms, owner).await?
    else {
        return Ok(None);
    };
    let now = Instant::now();
    let micros = |us: i64| Duration::from_micros(u64::try_from(us).unwrap_or(0));
    let before = slot.breaker.open_until();
    match shared.circuit {
        SharedCircuit::Closed if slot.breaker.is_open() => {
            slot.breaker.close();
            slot.limit.restart();
        }
        SharedCircuit::Closed => {}
        SharedCircuit::OpenFor(us) => slot.breaker.hold_until(now + micros(us)),
        SharedCircuit::Probing => slot.breaker.hold_until(now + PROBE_RECHECK),
        // Half-open here too, so what was claimed goes as the probe. With nothing
        // claimed there is no probe, and this node's breaker stays as it was: held
        // open, the endpoint would wait for a probe nobody sends.
        SharedCircuit::Probe if !slot.breaker.is_open() && !shared.claimed.is_empty() => slot.breaker.hold_until(now),
        SharedCircuit::Probe => {}
    }
    let circuit_changed = slot.breaker.open_until() != before;
    // Every shared claim writes this node's grants, none when it asked for none.
    slot.grant = Grant::new(shared.endpoint_grant, asked_at);
    let tenant_grant = Grant::new(shared.tenant_grant, asked_at);
    slot.started(shared.claimed.len(), now);
    slot.shared_answer(now, shared.crowded, shared.crowded && shared.claimed.is_empty());
    if let Some(ahead) = shared.rate_ahead_us {
        // After `started`: the shared schedule already counts these sends.
        slot.catch_up(now, micros(ahead));
    }
    Ok(Some(SharedClaimed { claimed: shared.claimed, granted: shared.granted, circuit_changed, tenant_grant }))
}

/// The other live nodes on the database, by their heartbeats.
pub(super) async fn live_peers(store: &dyn Store, me: &str) -> Result<usize> {
    let at = now_ms();
    Ok(store.list_nodes().await?.iter().filter(|n| n.id != me && is_live(n, at)).count())
}

/// What a finished request changed in an endpoint's circuit, for the other nodes:
/// `was_open` before it, `breaker` after, `probe_failed` if it was the probe and failed.
pub(super) fn circuit_change(was_open: bool, breaker: &Breaker, probe_failed: bool) -> Option<CircuitChange> {
    let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let cooldown_ms = millis(breaker.cooldown());
    match (was_open, breaker.is_open()) {
        (false, true) => Some(CircuitChange::Opened { cooldown_ms }),
        (true, true) if probe_failed => Some(CircuitChange::ProbeFailed { cooldown_ms }),
        (true, false) => Some(CircuitChange::Closed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transitions_are_shared() {
        let t0 = Instant::now();
        let cool = Duration::from_secs(30);
        let mut b = Breaker::new(2, cool);
        b.record(false, false, t0);
        assert_eq!(circuit_change(false, &b, false), None, "one failure of two");
        b.record(false, false, t0);
        assert_eq!(circuit_change(false, &b, false), Some(CircuitChange::Opened { cooldown_ms: 30_000 }));
        b.record(false, false, t0);
        assert_eq!(circuit_change(true, &b, false), None, "a late failure of a request sent before it opened");
        b.record(false, true, t0 + cool);
        assert_eq!(circuit_change(true, &b, true), Some(CircuitChange::ProbeFailed { cooldown_ms: 60_000 }));
        b.record(true, true, t0 + cool * 3);
        assert_eq!(circuit_change(true, &b, false), Some(CircuitChange::Closed));
    }
}
