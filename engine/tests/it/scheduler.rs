//! The scheduler's limits, stepped pass by pass through the real dispatcher: an
//! endpoint's rate limit, a tenant's concurrency cap, the node's fair share between
//! tenants, and a scan window no tenant can fill.

use std::time::{Duration, Instant};

use sluice_core::model::*;
use sluice_testkit::{on_both_backends, Receiver, Reply, TestDb};

use crate::harness::{fast_config, Harness};

on_both_backends!(
    a_rate_limited_endpoint_gets_no_more_than_its_rate,
    a_tenant_at_its_cap_does_not_hold_back_another,
    a_saturated_node_shares_its_workers_between_endpoints,
    endpoints_beyond_the_scan_window_cannot_starve_another_tenant,
    a_tenant_with_many_endpoints_gets_a_tenant_share_not_more,
    a_fast_endpoint_earns_slots_and_a_struggling_one_loses_them,
    an_endpoint_back_from_an_outage_ramps_up_from_one_slot,
    open_circuits_do_not_crowd_their_tenants_other_endpoints_out_of_the_scan,
);

async fn a_rate_limited_endpoint_gets_no_more_than_its_rate(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    let create = CreateEndpoint { url: rx.url(), rate_limit_per_second: Some(3), ..Default::default() };
    h.sluice.create_endpoint(&h.scope, create).await.expect("endpoint");
    for i in 0..12 {
        h.publish("t", &format!("{{\"i\":{i}}}")).await;
    }
    let mut engine = h.dispatcher(fast_config(&h.db.url));
    let started = Instant::now();
    assert_eq!(
        engine.step().await.expect("step"),
        1,
        "an idle endpoint gets a tenth of a second's sends, at least one"
    );
    let mut total = 1;
    for _ in 0..3 {
        total += engine.step().await.expect("step");
    }
    // Whatever the machine's speed, the schedule moves at 3 a second and no faster.
    let allowed = 1 + (started.elapsed().as_secs_f64() * 3.0).ceil() as usize;
    assert!(total <= allowed, "{total} sent, at most {allowed} allowed");
    assert_eq!(rx.count(), total);
}

async fn a_tenant_at_its_cap_does_not_hold_back_another(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    for n in 0..3 {
        h.endpoint(&format!("{}/a{n}", rx.url()), None).await;
    }
    for i in 0..4 {
        h.publish("t", &format!("{{\"i\":{i}}}")).await;
    }
    let b = h.other_tenant("B").await;
    h.endpoint_for(&b, &format!("{}/b", rx.url()), None).await;
    for i in 0..2 {
        h.publish_for(&b, "t", &format!("{{\"i\":{i}}}")).await;
    }
    let mut config = fast_config(&h.db.url);
    config.tenant_concurrency = Some(3);
    let mut engine = h.dispatcher(config);
    // Slow answers keep the pass's requests in flight until it ends.
    rx.set_default(Reply::Hang(Duration::from_millis(800)));
    // A has 12 deliveries over three endpoints but only 3 at a time; B's 2 go at once.
    assert_eq!(engine.step().await.expect("step"), 3 + 2);
    let got = rx.received();
    assert_eq!(got.iter().filter(|r| r.path.ends_with("/b")).count(), 2, "B was not held back by A");
    assert_eq!(got.iter().filter(|r| !r.path.ends_with("/b")).count(), 3, "A never exceeded its cap");
    rx.set_default(Reply::Status(200));
    let mut total = 5;
    while let n @ 1.. = engine.step().await.expect("step") {
        total += n;
    }
    assert_eq!(total, 12 + 2, "A's rest went once its requests finished");
}

async fn a_saturated_node_shares_its_workers_between_endpoints(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    h.endpoint(&format!("{}/one", rx.url()), None).await;
    h.endpoint(&format!("{}/two", rx.url()), None).await;
    for i in 0..10 {
        h.publish("t", &format!("{{\"i\":{i}}}")).await;
    }
    let mut config = fast_config(&h.db.url);
    config.workers = 4;
    config.tenant_concurrency = Some(4); // one tenant here: its cap is not the point
    let mut engine = h.dispatcher(config);
    // Slow answers keep the first requests in flight for the whole pass, so what the
    // pass started is what the node ran at once.
    rx.set_default(Reply::Hang(Duration::from_millis(800)));
    assert_eq!(engine.step().await.expect("step"), 4, "never more than the node's workers at once");
    let got = rx.received();
    let one = got.iter().filter(|r| r.path.ends_with("/one")).count();
    assert_eq!((one, got.len() - one), (2, 2), "each endpoint got its fair share");
    rx.set_default(Reply::Status(200));
    let mut total = 4;
    while let n @ 1.. = engine.step().await.expect("step") {
        total += n;
    }
    assert_eq!(total, 20, "everything went in the end");
}

async fn endpoints_beyond_the_scan_window_cannot_starve_another_tenant(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    // Tenant A has more endpoints with due work than one scan looks at, and they were
    // all created (so sort) before B's.
    for n in 0..10 {
        h.endpoint(&format!("{}/a{n}", rx.url()), None).await;
    }
    h.publish("t", "{}").await;
    let b = h.other_tenant("B").await;
    h.endpoint_for(&b, &format!("{}/b", rx.url()), None).await;
    h.publish_for(&b, "t", "{}").await;
    let mut config = fast_config(&h.db.url);
    config.scan_limit = 4;
    let mut engine = h.dispatcher(config);
    rx.set_default(Reply::Hang(Duration::from_millis(300)));
    engine.step().await.expect("step");
    let got = rx.received();
    assert_eq!(got.iter().filter(|r| r.path.ends_with("/b")).count(), 1, "B went in the first pass");
    assert!(got.len() <= 4, "one scan looked at no more than its window");
    rx.set_default(Reply::Status(200));
    while engine.step().await.expect("step") > 0 {}
    assert_eq!(rx.count(), 11, "A's endpoints beyond the window came in later scans");
}

async fn a_tenant_with_many_endpoints_gets_a_tenant_share_not_more(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    for n in 0..6 {
        h.endpoint(&format!("{}/a{n}", rx.url()), None).await;
    }
    h.publish("t", "{}").await;
    let b = h.other_tenant("B").await;
    h.endpoint_for(&b, &format!("{}/b", rx.url()), None).await;
    for i in 0..4 {
        h.publish_for(&b, "t", &format!("{{\"i\":{i}}}")).await;
    }
    let mut config = fast_config(&h.db.url);
    config.workers = 4;
    config.tenant_concurrency = Some(4);
    let mut engine = h.dispatcher(config);
    rx.set_default(Reply::Hang(Duration::from_millis(800)));
    assert_eq!(engine.step().await.expect("step"), 4, "the node's workers, all busy");
    let got = rx.received();
    let to_b = got.iter().filter(|r| r.path.ends_with("/b")).count();
    assert_eq!((got.len() - to_b, to_b), (2, 2), "half each: six endpoints do not make six shares");
    rx.set_default(Reply::Status(200));
    while engine.step().await.expect("step") > 0 {}
    assert_eq!(rx.count(), 6 + 4);
}

/// Steps the dispatcher `n` times and says how many requests each pass started.
async fn passes(engine: &mut sluice_engine::delivery::Dispatcher, n: usize) -> Vec<usize> {
    let mut started = Vec::new();
    for _ in 0..n {
        started.push(engine.step().await.expect("step"));
    }
    started
}

async fn a_fast_endpoint_earns_slots_and_a_struggling_one_loses_them(db: TestDb) {
    let h = Harness::new(db).await;
    let (fast, struggling) = (Receiver::start().await, Receiver::start().await);
    // Answers that take a while keep each pass's requests in flight until it ends, so
    // a pass starts exactly what the endpoint's limit allows.
    fast.set_default(Reply::Hang(Duration::from_millis(300)));
    struggling.set_default(Reply::Slow(Duration::from_millis(300), 503));
    h.endpoint(&fast.url(), None).await;
    let b = h.other_tenant("B").await;
    h.endpoint_for(&b, &struggling.url(), None).await;
    for i in 0..40 {
        h.publish("t", &format!("{{\"i\":{i}}}")).await;
    }
    for i in 0..40 {
        h.publish_for(&b, "t", &format!("{{\"i\":{i}}}")).await;
    }
    let mut config = fast_config(&h.db.url);
    config.breaker_threshold = 1_000; // the breaker is not the point here
    let mut engine = h.dispatcher(config);
    let mut sent = (Vec::new(), Vec::new());
    for _ in 0..4 {
        let (before_fast, before_struggling) = (fast.count(), struggling.count());
        engine.step().await.expect("step");
        sent.0.push(fast.count() - before_fast);
        sent.1.push(struggling.count() - before_struggling);
    }
    assert_eq!(sent.0, vec![4, 8, 16, 12], "slow start: the slots double per round of fast successes");
    assert_eq!(sent.1, vec![4, 2, 1, 1], "a round of 503s halves them, down to one");
}

async fn an_endpoint_back_from_an_outage_ramps_up_from_one_slot(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    rx.set_default(Reply::Hang(Duration::from_millis(200)));
    h.endpoint(&rx.url(), None).await;
    for i in 0..80 {
        h.publish("t", &format!("{{\"i\":{i}}}")).await;
    }
    let mut config = fast_config(&h.db.url);
    config.breaker_threshold = 2;
    // Long enough that a loaded CI machine cannot let it pass between the pass that
    // opens the circuit and the next one (at 100 ms, one did, and a probe went out).
    config.breaker_cooldown = Duration::from_secs(1);
    let mut engine = h.dispatcher(config);
    assert_eq!(passes(&mut engine, 3).await, vec![4, 8, 16], "healthy: up to 32 slots");
    // An outage: the whole round fails, the circuit opens.
    rx.set_default(Reply::Slow(Duration::from_millis(200), 503));
    assert_eq!(engine.step().await.expect("step"), 32);
    assert_eq!(engine.step().await.expect("step"), 0, "the circuit is open");
    // The receiver is back. The first request after the cooldown (not pushed back by
    // the 31 late failures) is the probe.
    rx.set_default(Reply::Hang(Duration::from_millis(200)));
    let deadline = Instant::now() + Duration::from_secs(10);
    let probe = loop {
        let n = engine.step().await.expect("step");
        if n > 0 || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(probe, 1, "one probe, within the cooldown's reach");
    assert_eq!(passes(&mut engine, 4).await, vec![1, 2, 4, 8], "then slow start from one slot, not 32 at once");
}

async fn open_circuits_do_not_crowd_their_tenants_other_endpoints_out_of_the_scan(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    let only = |t: &str| Some(vec![t.to_owned()]);
    for n in 0..2 {
        let failing =
            CreateEndpoint { url: format!("{}/f{n}", rx.url()), event_types: only("f"), ..Default::default() };
        h.sluice.create_endpoint(&h.scope, failing).await.expect("endpoint");
    }
    h.publish("f", "{}").await;
    let mut config = fast_config(&h.db.url);
    config.tenant_concurrency = Some(2); // the tenant's window: two endpoints per scan
    config.breaker_threshold = 1;
    config.breaker_cooldown = Duration::from_secs(60);
    let mut engine = h.dispatcher(config);
    rx.set_default(Reply::Status(503));
    assert_eq!(engine.step().await.expect("step"), 2, "both fail and open their circuits");
    // Their heads stay where they were (due, and older than anything new), but a
    // healthy endpoint of the same tenant is still found.
    rx.set_default(Reply::Status(200));
    let healthy = CreateEndpoint { url: format!("{}/ok", rx.url()), event_types: only("ok"), ..Default::default() };
    h.sluice.create_endpoint(&h.scope, healthy).await.expect("endpoint");
    h.publish("ok", "{}").await;
    assert_eq!(engine.step().await.expect("step"), 1);
    assert!(rx.received().last().is_some_and(|r| r.path.ends_with("/ok")), "the healthy endpoint got it");
}
