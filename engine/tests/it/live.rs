//! The operations page's live view and the canary's place in it, on both backends,
//! with the real scheduler and real receivers: a scripted hour (a failure, a retry
//! that succeeds, a disabled endpoint) comes out as exactly those
//! attempts, classes and queue; the canary's own traffic, endpoint and tenant count
//! in none of it.

use sluice_core::ids::TenantId;
use sluice_engine::CanarySettings;
use sluice_testkit::{on_both_backends, Receiver, Reply, TestDb};
use std::time::Duration;

use crate::harness::{fast_config, Harness};

on_both_backends!(the_live_view_counts_the_hours_attempts_and_leaves_the_canary_out);

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
