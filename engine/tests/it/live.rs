//! The operations page's live view and the canary's place in it, on both backends,
//! with the real scheduler and real receivers: a scripted hour (a failure, a retry
//! that succeeds, a disabled endpoint) comes out as exactly those
//! attempts, classes and queue; the canary's own traffic, endpoint and tenant count
//! in none of it.

use sluice_core::ids::TenantId;
use sluice_engine::ids::now_ms;
use sluice_engine::CanarySettings;
use sluice_testkit::{on_both_backends, Receiver, Reply, TestDb};
use std::time::Duration;

use crate::harness::{fast_config, Harness};

on_both_backends!(
    the_live_view_counts_the_hours_attempts_and_leaves_the_canary_out,
    another_node_fails_a_dead_nodes_runs_and_stale_endpoints_go
);

async fn the_live_view_counts_the_hours_attempts_and_leaves_the_canary_out(db: TestDb) {
    let h = Harness::new(db).await;
    let flaky = Receiver::start().await;
    flaky.script([Reply::Status(503)]);
    flaky.set_default(Reply::Status(204));
    h.instant_retry_endpoint(&flaky.url(), 2).await;
    h.publish("order.paid", "{}").await;

    // The canary, to a receiver of its own (no server here to receive it).
    let canary_rx = Receiver::start().await;
    let settings =
        CanarySettings { every: Duration::from_secs(60), timeout: Duration::from_secs(30), url: canary_rx.url() };
    h.sluice.canary_once("node-test", &settings).await.expect("canary published");

    let mut engine = h.dispatcher(fast_config(&h.db.url));
    for _ in 0..3 {
        engine.step().await.expect("run");
    }
    assert_eq!(flaky.count(), 2, "failed once, then delivered");
    assert_eq!(canary_rx.count(), 1, "the canary went the whole way");

    // A second endpoint, disabled.
    let parked = h.endpoint("https://example.com/parked", None).await;
    h.sluice.disable_endpoint(&h.scope, &parked.id, Default::default()).await.expect("disabled");

    let live = h.sluice.live_operations(&h.operator).await.expect("live");
    assert_eq!(live.minutes.len(), 61, "sixty whole minutes and the current one");
    assert_eq!(live.attempts(), 2, "the canary's attempt is not a partner's: {:?}", live.minutes);
    assert_eq!(live.success_rate(), Some(0.5));
    let classes: Vec<(&str, i64)> = live.error_classes.iter().map(|c| (c.error_class.as_str(), c.attempts)).collect();
    assert_eq!(classes, [("http_5xx", 1)]);
    assert_eq!((live.endpoints_enabled, live.endpoints_disabled), (1, 1), "the canary's endpoint is not counted");
    assert_eq!((live.queue.due, live.queue.in_flight), (0, 0), "{:?}", live.queue);
    assert_eq!(live.circuits_open, 0);

    // The canary's tenant is in no listing.
    let tenants = h.sluice.list_tenants(&h.admin, Some(250), None).await.expect("tenants").data;
    assert!(tenants.iter().all(|t| t.id != TenantId::canary()), "{tenants:?}");
    assert_eq!(tenants.len(), 1);
}

/// A node that died cannot fail its own runs: whichever node looks next does, once.
/// Endpoints no run used for a week (a node gone, a URL changed) are deleted, so they
/// never fill the canary's quota.
async fn another_node_fails_a_dead_nodes_runs_and_stale_endpoints_go(db: TestDb) {
    let h = Harness::new(db).await;
    let nowhere = Receiver::start().await;
    let settings =
        CanarySettings { every: Duration::from_secs(60), timeout: Duration::from_secs(30), url: nowhere.url() };
    h.sluice.canary_once("node-dead", &settings).await.expect("published");
    let status = |h: &Harness| {
        let sluice = h.sluice.clone();
        let operator = h.operator.clone();
        async move { sluice.canary_status(&operator).await.expect("status") }
    };
    assert_eq!((status(&h).await.waiting, status(&h).await.failed), (1, 0));
    // Nothing received it (no receiver of Sluice's here); another node's turn, with
    // every run overdue, fails it, and its own run waits.
    let impatient = CanarySettings { timeout: Duration::ZERO, ..settings.clone() };
    next_millisecond().await;
    h.sluice.canary_once("node-alive", &impatient).await.expect("published");
    let s = status(&h).await;
    assert_eq!((s.failed, s.waiting, s.health.as_str()), (1, 1, "failing"), "{s:?}");
    let again = CanarySettings { timeout: Duration::ZERO, ..settings.clone() };
    next_millisecond().await;
    h.sluice.canary_once("node-alive", &again).await.expect("published");
    assert_eq!(status(&h).await.failed, 2, "each run failed once");

    // A week and a day later: the endpoint no run used is deleted, the runs purged.
    let week_and_a_day = now_ms() + 8 * 86_400_000;
    h.sluice.purge_canary_runs(&h.platform, week_and_a_day).await.expect("purged");
    let later = CanarySettings { url: format!("{}/moved", nowhere.url()), ..settings };
    h.sluice.canary_once("node-alive", &later).await.expect("a new endpoint for the new URL");
    let endpoints = h.store.canary_endpoint_ids().await.expect("ids");
    assert_eq!(endpoints.len(), 1, "the stale one went, the new one stays: {endpoints:?}");
}

/// Waits for the clock to pass the millisecond it reads now: a run is overdue once it
/// was published *before* now minus the timeout, and with no timeout a run published
/// in the same millisecond is not (CI caught that on a fast pass).
async fn next_millisecond() {
    let now = now_ms();
    while now_ms() <= now {
        tokio::task::yield_now().await;
    }
}
