//! Grants (migration 0032): a node holding one is counted as holding all of it until
//! it ends, whatever its leases say, so the room it fills with plain claims is never
//! also handed to another node; a grant is at least what the node has in flight and
//! at most what the others leave; and none is filled while the shared circuit is not
//! closed.

use sluice_core::model::*;
use sluice_engine::ids::now_ms;
use sluice_engine::store::{CircuitChange, CircuitRecord, GrantAsk, SharedClaim, SharedLimits};
use std::time::Duration;

use sluice_testkit::{eventually, Backend, TestDb};

use crate::harness::Harness;
use crate::shared_claims::{claim_at, endpoint_with, limits, LEASE_MS};

/// How long the grants asked for here last.
const GRANT_MS: i64 = 1_000;

/// At most `max` to the endpoint and `tenant_max` for the tenant, with `here` in flight
/// at both on the asking node, asking to hold `share` of each for `GRANT_MS`.
fn asking(max: usize, tenant_max: usize, here: usize, share: usize) -> SharedLimits {
    let grant = GrantAsk { endpoint_share: share, tenant_share: share, for_ms: GRANT_MS };
    SharedLimits { tenant_max, endpoint_here: here, tenant_here: here, grant: Some(grant), ..limits(None, max) }
}

/// The margin the node leaves its grants' end (`grant::CLOCK_MARGIN`).
const MARGIN_MS: i64 = 250;

async fn plain_in_grant(h: &Harness, endpoint: &Endpoint, owner: &str, now: i64, n: i64) -> usize {
    let clocks = (now, now + LEASE_MS, owner);
    h.store.claim_granted(&endpoint.id, &h.tenant, MARGIN_MS, clocks, n).await.expect("claim in grant").len()
}

#[tokio::test]
async fn a_node_is_counted_as_its_whole_grant_until_it_ends() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    let endpoint = endpoint_with(&h, None, 20).await;
    let t0 = now_ms();
    // node-a claims one and holds 3 of the endpoint's 4.
    let a: SharedClaim = claim_at(&h, &endpoint, &asking(4, 100, 0, 3), 1, "node-a", t0).await;
    assert_eq!((a.claimed.len(), a.endpoint_grant, a.tenant_grant), (1, 3, 3));
    // node-b asks for 4: node-a has one lease, but its grant is 3.
    let b = claim_at(&h, &endpoint, &limits(None, 4), 4, "node-b", t0 + 10).await;
    assert_eq!((b.claimed.len(), b.crowded), (1, true), "4 at most, 3 granted to node-a");
    // node-a fills its grant the plain way: 2 more, and the endpoint holds 4.
    assert_eq!(plain_in_grant(&h, &endpoint, "node-a", t0 + 20, 2).await, 2);
    let c = claim_at(&h, &endpoint, &limits(None, 4), 4, "node-c", t0 + 30).await;
    assert_eq!(c.claimed.len(), 0, "node-a's 3 and node-b's 1 fill the 4");
}

#[tokio::test]
async fn an_idle_grant_keeps_its_room_from_the_others_until_it_ends() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    let endpoint = endpoint_with(&h, None, 20).await;
    let t0 = now_ms();
    // node-a holds 2 of 4 with nothing in flight (its one claim found room, and it
    // asked for one: the grant is its share, not what it claimed).
    let a = claim_at(&h, &endpoint, &asking(4, 100, 0, 2), 1, "node-a", t0).await;
    assert_eq!((a.claimed.len(), a.endpoint_grant), (1, 2));
    let b = claim_at(&h, &endpoint, &limits(None, 4), 4, "node-b", t0 + 10).await;
    assert_eq!(b.claimed.len(), 2, "node-a may still fill 1 more of its 2: 2 left");
    let c = claim_at(&h, &endpoint, &limits(None, 4), 4, "node-c", t0 + 20).await;
    assert_eq!(c.claimed.len(), 0, "node-a's 2 and node-b's 2");
    // Grants end by the database's clock: once over, node-a counts as its one lease.
    let got = std::cell::Cell::new(0);
    let over = eventually(Duration::from_secs(3), || {
        let (h, endpoint, got) = (&h, &endpoint, &got);
        async move {
            got.set(claim_at(h, endpoint, &limits(None, 4), 4, "node-c", now_ms()).await.claimed.len());
            got.get() > 0
        }
    })
    .await;
    assert!(over, "the grant never ended");
    assert_eq!(got.get(), 1, "over: node-a counts as its one lease, node-b as its two");
}

#[tokio::test]
async fn a_grant_is_at_least_what_is_in_flight_and_at_most_what_the_others_leave() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    let endpoint = endpoint_with(&h, None, 20).await;
    let t0 = now_ms();
    let b = claim_at(&h, &endpoint, &limits(None, 6), 2, "node-b", t0).await;
    assert_eq!(b.claimed.len(), 2);
    // node-a would hold 5 of 6, but node-b has 2 in flight: 4 at most.
    let a = claim_at(&h, &endpoint, &asking(6, 100, 0, 5), 1, "node-a", t0 + 10).await;
    assert_eq!((a.claimed.len(), a.endpoint_grant), (1, 4));
    // With its 1 in flight, node-a asks again for a share of 1 (more nodes came):
    // the grant is what it has in flight with what it claims now, above its share.
    let again = claim_at(&h, &endpoint, &asking(6, 100, 1, 1), 1, "node-a", t0 + 20).await;
    assert_eq!((again.claimed.len(), again.endpoint_grant, again.tenant_grant), (1, 2, 2));
    // A claim asking for no grant ends this node's.
    let here_two = SharedLimits { endpoint_here: 2, tenant_here: 2, ..limits(None, 6) };
    let none = claim_at(&h, &endpoint, &here_two, 0, "node-a", t0 + 30).await;
    assert_eq!((none.endpoint_grant, none.tenant_grant), (0, 0));
    let c = claim_at(&h, &endpoint, &limits(None, 6), 6, "node-c", t0 + 40).await;
    assert_eq!(c.claimed.len(), 2, "node-a's 2 and node-b's 2 in flight, no grant held");
}

#[tokio::test]
async fn a_tenant_grant_counts_at_every_endpoint_of_the_tenant() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    let second = endpoint_with(&h, None, 0).await;
    let first = endpoint_with(&h, None, 10).await;
    let t0 = now_ms();
    // The tenant allows 4; node-a holds 3 of them, through its first endpoint.
    let a = claim_at(&h, &first, &asking(32, 4, 0, 3), 1, "node-a", t0).await;
    assert_eq!((a.claimed.len(), a.tenant_grant), (1, 3));
    let capped = SharedLimits { tenant_max: 4, ..limits(None, 32) };
    let b = claim_at(&h, &second, &capped, 4, "node-b", t0 + 10).await;
    assert_eq!((b.claimed.len(), b.crowded), (1, true), "the tenant's 4, 3 granted to node-a (the endpoint allows 32)");
}

#[tokio::test]
async fn no_endpoint_grant_under_a_rate_limit_or_a_circuit_not_closed() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    let endpoint = endpoint_with(&h, None, 0).await;
    let limited = endpoint_with(&h, Some(50), 10).await;
    let t0 = now_ms();
    // Every claim of a rate-limited endpoint must see its schedule; the tenant's room
    // is granted all the same.
    let ask = SharedLimits { rate: Some(50), ..asking(32, 100, 0, 8) };
    let r = claim_at(&h, &limited, &ask, 1, "node-a", t0).await;
    assert_eq!((r.claimed.len(), r.endpoint_grant, r.tenant_grant), (1, 0, 8));

    let g = claim_at(&h, &endpoint, &asking(32, 100, 0, 8), 1, "node-a", t0).await;
    assert_eq!(g.endpoint_grant, 8);
    // Another node opens the circuit: the grant's plain claims lease nothing...
    let open = CircuitRecord {
        endpoint: endpoint.id.clone(),
        tenant: h.tenant.clone(),
        change: CircuitChange::Opened { cooldown_ms: 60_000 },
    };
    h.store.record_circuits(&[open]).await.expect("open");
    assert_eq!(plain_in_grant(&h, &endpoint, "node-a", t0 + 10, 3).await, 0, "the shared circuit is open");
    // ...and the shared claim, asked next, grants nothing at the endpoint.
    let after = claim_at(&h, &endpoint, &asking(32, 100, 1, 8), 3, "node-a", t0 + 20).await;
    assert_eq!((after.claimed.len(), after.endpoint_grant), (0, 0));
    // The plain claim of a node alone still sees only its own breaker.
    assert_eq!(h.store.claim(&endpoint.id, t0 + 30, t0 + 30 + LEASE_MS, "node-z", 3).await.expect("claim").len(), 3);
}

#[tokio::test]
async fn a_grant_is_filled_only_while_both_grants_have_the_margin_left_by_the_databases_clock() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    let endpoint = endpoint_with(&h, None, 10).await;
    let t0 = now_ms();
    // A grant ending within the margin (its claim was slow, or this node's clock is
    // behind): the plain claim leases nothing, as another node may already count
    // only the leases it sees.
    let short = GrantAsk { endpoint_share: 4, tenant_share: 4, for_ms: MARGIN_MS / 2 };
    let ask = SharedLimits { grant: Some(short), ..limits(None, 8) };
    let a = claim_at(&h, &endpoint, &ask, 1, "node-a", t0).await;
    assert_eq!((a.claimed.len(), a.endpoint_grant), (1, 4));
    assert_eq!(plain_in_grant(&h, &endpoint, "node-a", t0 + 1, 3).await, 0, "within the margin of its end");
    // Whole grants: how many it leases is the node's to keep within them.
    let b = claim_at(&h, &endpoint, &asking(8, 100, 1, 4), 1, "node-a", t0 + 2).await;
    assert_eq!((b.claimed.len(), b.endpoint_grant, b.tenant_grant), (1, 4, 4));
    assert_eq!(plain_in_grant(&h, &endpoint, "node-a", t0 + 3, 2).await, 2, "both grants whole");
    // Another node's grants are not this one's.
    assert_eq!(plain_in_grant(&h, &endpoint, "node-b", t0 + 4, 2).await, 0, "node-b holds none");
    // A tenant grant without the endpoint's (a rate-limited endpoint gets none).
    let limited = endpoint_with(&h, Some(50), 3).await;
    let t1 = now_ms();
    let ask = SharedLimits { rate: Some(50), ..asking(8, 100, 0, 4) };
    let c = claim_at(&h, &limited, &ask, 1, "node-a", t1).await;
    assert_eq!((c.claimed.len(), c.endpoint_grant, c.tenant_grant), (1, 0, 4));
    assert_eq!(plain_in_grant(&h, &limited, "node-a", t1 + 1, 2).await, 0, "no grant at the endpoint");
}
