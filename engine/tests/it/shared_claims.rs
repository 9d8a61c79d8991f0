//! The claim under the limits nodes share, as the store answers it on PostgreSQL (the
//! function `sluice_claim_shared_v3`, migrations 0030 to 0032): its grant follows the
//! rules the node reads the answer with (`Pace::grant`, `SharedCircuit::at`), whatever
//! the other nodes hold, and it claims no more than it grants.

use sluice_core::model::*;
use sluice_engine::ids::now_ms;
use sluice_engine::store::{CircuitChange, CircuitRecord, SharedCircuit, SharedClaim, SharedLimits};
use sluice_testkit::{Backend, TestDb};

use crate::harness::Harness;

pub(crate) const LEASE_MS: i64 = 60_000;

pub(crate) fn limits(rate: Option<u32>, endpoint_max: usize) -> SharedLimits {
    SharedLimits { rate, endpoint_max, tenant_max: 100, endpoint_here: 0, tenant_here: 0, grant: None }
}

async fn claim(h: &Harness, endpoint: &Endpoint, limits: &SharedLimits, want: usize, owner: &str) -> SharedClaim {
    claim_at(h, endpoint, limits, want, owner, now_ms()).await
}

/// A claim at `now` (the node's clock, in ms), so two claims' leases end at times the
/// test chooses.
pub(crate) async fn claim_at(
    h: &Harness,
    endpoint: &Endpoint,
    limits: &SharedLimits,
    want: usize,
    owner: &str,
    now: i64,
) -> SharedClaim {
    h.store
        .claim_shared(&endpoint.id, &h.tenant, limits, want, now, now + LEASE_MS, owner)
        .await
        .expect("claim")
        .expect("PostgreSQL shares its limits")
}

pub(crate) async fn endpoint_with(h: &Harness, rate: Option<u32>, messages: usize) -> Endpoint {
    let create =
        CreateEndpoint { url: "https://example.com/hook".into(), rate_limit_per_second: rate, ..Default::default() };
    let endpoint = h.sluice.create_endpoint(&h.scope, create).await.expect("endpoint");
    for i in 0..messages {
        h.publish("t", &format!("{{\"i\":{i}}}")).await;
    }
    endpoint
}

#[tokio::test]
async fn the_other_nodes_requests_in_flight_take_their_room() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    let endpoint = endpoint_with(&h, None, 10).await;
    let first = claim(&h, &endpoint, &limits(None, 4), 3, "node-a").await;
    assert_eq!((first.claimed.len(), first.granted, first.crowded), (3, 3, false));
    assert!(first.claimed.iter().all(|c| !c.payload.is_empty()), "each claimed delivery comes with its message");
    let second = claim(&h, &endpoint, &limits(None, 4), 3, "node-b").await;
    assert_eq!((second.claimed.len(), second.granted, second.crowded), (1, 1, true), "4 at most, 3 held by node-a");
    let third = claim(&h, &endpoint, &limits(None, 4), 3, "node-c").await;
    assert_eq!((third.claimed.len(), third.granted, third.crowded), (0, 0, true));
    // node-a's own requests are counted from its memory, not from its leases.
    let again = SharedLimits { endpoint_here: 3, tenant_here: 3, ..limits(None, 4) };
    let mine = claim(&h, &endpoint, &again, 1, "node-a").await;
    assert_eq!((mine.claimed.len(), mine.crowded), (0, true), "node-b's one and node-a's three fill the four");
}

#[tokio::test]
async fn a_node_counts_as_what_it_said_it_has_in_flight_not_as_its_unrecorded_leases() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    let endpoint = endpoint_with(&h, None, 10).await;
    let other = endpoint_with(&h, None, 0).await;
    // At most 4 to the endpoint and 5 for the tenant.
    let capped =
        |here: usize| SharedLimits { tenant_max: 5, endpoint_here: here, tenant_here: here, ..limits(None, 4) };
    let t0 = now_ms();
    let first = claim_at(&h, &endpoint, &capped(0), 3, "node-a", t0).await;
    assert_eq!(first.claimed.len(), 3);
    // node-a's three requests end; their outcomes are not recorded yet, so their rows
    // stay leased. Its next claim says it has none in flight.
    let again = claim_at(&h, &endpoint, &capped(0), 1, "node-a", t0 + 1).await;
    assert_eq!((again.claimed.len(), again.crowded), (1, false));
    let b = claim_at(&h, &endpoint, &capped(0), 4, "node-b", t0 + 2).await;
    assert_eq!(
        (b.claimed.len(), b.crowded),
        (3, true),
        "node-a has one request in flight, not its four leases: three of the four are free"
    );
    // The tenant's cap counts node-a the same way: 1 of node-a's, 3 of node-b's, of 5.
    let c = claim_at(&h, &other, &capped(0), 4, "node-c", t0 + 3).await;
    assert_eq!((c.granted, c.crowded), (1, true), "node-a 1 and node-b 3 of the tenant's 5");
}

#[tokio::test]
async fn leases_a_node_took_without_reporting_count_on_top_of_its_report() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    let endpoint = endpoint_with(&h, None, 10).await;
    let t0 = now_ms();
    // node-a reports (nothing in flight before this claim) and claims one.
    let reported = claim_at(&h, &endpoint, &limits(None, 4), 1, "node-a", t0).await;
    assert_eq!(reported.claimed.len(), 1);
    // Then, counting no other node for a moment, it claims three more the plain way,
    // which reports nothing.
    let plain = h.store.claim(&endpoint.id, t0 + 1, t0 + 1 + LEASE_MS, "node-a", 3).await.expect("plain claim");
    assert_eq!(plain.len(), 3);
    let b = claim_at(&h, &endpoint, &limits(None, 4), 4, "node-b", t0 + 2).await;
    assert_eq!(
        (b.claimed.len(), b.crowded),
        (0, true),
        "node-a has four requests in flight: its report's none, plus the four leases since"
    );
}

#[tokio::test]
async fn the_rate_schedule_is_charged_for_what_was_claimed() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    // 50 a second: a burst of 5 (a tenth of a second), then one every 20 ms.
    let endpoint = endpoint_with(&h, Some(50), 3).await;
    let first = claim(&h, &endpoint, &limits(Some(50), 32), 10, "node-a").await;
    assert_eq!((first.claimed.len(), first.granted), (3, 5), "5 granted, the 3 due claimed");
    let ahead = first.rate_ahead_us.expect("rate limited");
    assert!((40_000..=60_000).contains(&ahead), "charged 3 sends of 20 ms, not the 5 granted: {ahead} µs");
    for i in 0..5 {
        h.publish("t", &format!("{{\"more\":{i}}}")).await;
    }
    let second = claim(&h, &endpoint, &limits(Some(50), 32), 10, "node-b").await;
    assert!(second.granted <= 2, "5 in the first tenth of a second, 3 of them taken: {}", second.granted);
    assert_eq!(second.claimed.len(), second.granted);
}

#[tokio::test]
async fn an_open_circuit_grants_nothing_then_one_probe_to_one_node() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    let endpoint = endpoint_with(&h, None, 5).await;
    let open = |cooldown_ms| CircuitRecord {
        endpoint: endpoint.id.clone(),
        tenant: h.tenant.clone(),
        change: CircuitChange::Opened { cooldown_ms },
    };
    h.store.record_circuits(&[open(60_000)]).await.expect("open");
    let refused = claim(&h, &endpoint, &limits(None, 32), 5, "node-a").await;
    assert!(matches!(refused.circuit, SharedCircuit::OpenFor(_)), "{:?}", refused.circuit);
    assert_eq!((refused.claimed.len(), refused.granted), (0, 0));

    let endpoint = endpoint_with(&h, None, 5).await;
    // A cooldown of nothing: half-open at once.
    let cooled = CircuitRecord { endpoint: endpoint.id.clone(), ..open(0) };
    h.store.record_circuits(&[cooled]).await.expect("open and cooled");
    let probe = claim(&h, &endpoint, &limits(None, 32), 5, "node-a").await;
    assert_eq!((probe.circuit, probe.claimed.len()), (SharedCircuit::Probe, 1), "half-open: one probe");
    let other = claim(&h, &endpoint, &limits(None, 32), 5, "node-b").await;
    assert_eq!((other.circuit, other.claimed.len()), (SharedCircuit::Probing, 0), "node-a's probe is under way");
    let prober = claim(&h, &endpoint, &limits(None, 32), 5, "node-a").await;
    assert_eq!(prober.circuit, SharedCircuit::Closed, "the prober's own breaker knows how its probe went");
}
