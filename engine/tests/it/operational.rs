//! Operational webhooks, as a partner who wants to hear before their customers do and
//! a broken subscriber would test them: an endpoint disabled for failing is announced,
//! signed like any message, to the endpoints that subscribed to Sluice's own event
//! types, never to itself or to endpoints that merely take "everything"; a notice
//! that cannot be delivered is not itself announced; no one may publish Sluice's
//! types. On both backends, with the real scheduler and real sockets.

use std::time::Duration;

use sluice_core::model::*;
use sluice_testkit::{on_both_backends, Receiver, Reply, TestDb};
use tokio::sync::watch;

use crate::harness::{fast_config, Harness};

on_both_backends!(
    an_endpoint_disabled_for_failing_is_announced_signed_to_its_subscribers_only,
    notices_about_notices_are_never_sent,
    the_platforms_inbox_hears_of_every_tenant_and_no_one_else_does,
    sluices_own_event_types_cannot_be_published_or_made_up,
);

/// An endpoint with these event types whose retries wait `schedule` (seconds, written
/// to the store: the API refuses waits under a second, a test wants zero).
async fn endpoint(h: &Harness, url: &str, types: &[&str], schedule: Vec<u32>) -> Endpoint {
    endpoint_of(h, &h.scope, url, types, schedule).await
}

async fn endpoint_of(
    h: &Harness,
    scope: &sluice_engine::ManageScope,
    url: &str,
    types: &[&str],
    schedule: Vec<u32>,
) -> Endpoint {
    let req = CreateEndpoint {
        url: url.into(),
        event_types: (!types.is_empty()).then(|| types.iter().map(|t| (*t).to_owned()).collect()),
        ..Default::default()
    };
    let created = h.sluice.create_endpoint(scope, req).await.expect("endpoint");
    let mut next = created.clone();
    next.retry_schedule_seconds = Some(schedule);
    next.version += 1;
    assert!(h.store.update_endpoint(scope, &next, created.version, None).await.expect("update"));
    next
}

fn bodies(rx: &Receiver) -> Vec<serde_json::Value> {
    rx.received().iter().map(|r| serde_json::from_slice(&r.body).expect("json body")).collect()
}

async fn an_endpoint_disabled_for_failing_is_announced_signed_to_its_subscribers_only(db: TestDb) {
    let h = Harness::new(db).await;
    let patch = PatchTenant { auto_disable_after_seconds: Some(Some(1)), ..Default::default() };
    h.sluice.patch_tenant(&h.platform, &h.tenant, None, patch).await.expect("patch");
    let (broken, ops, everything) = (Receiver::start().await, Receiver::start().await, Receiver::start().await);
    broken.set_default(Reply::Status(500));
    // It asks for its own notices too: it must not get the one about itself.
    let failing = endpoint(&h, &broken.url(), &["order.created", "sluice.endpoint.disabled"], vec![1; 30]).await;
    let watcher = endpoint(&h, &ops.url(), &["sluice.endpoint.disabled", "sluice.delivery.exhausted"], vec![1]).await;
    endpoint(&h, &everything.url(), &[], vec![1]).await;
    ops.set_secrets(vec![h.secret(&watcher).await]);
    // Two messages: one message failing on its own disables nothing.
    h.publish("order.created", r#"{"order":1}"#).await;
    h.publish("order.created", r#"{"order":2}"#).await;

    let mut config = fast_config(&h.db.url);
    config.auto_disable_min_attempts = 3;
    config.breaker_threshold = 1_000;
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(h.engine(config).run_until_stopped(stopped));
    assert!(ops.wait_for(1, Duration::from_secs(20)).await, "no notice; {} failed requests", broken.count());
    stop.send(true).expect("stop");
    running.await.expect("join").expect("engine");

    let notice = &ops.received()[0];
    assert_eq!(notice.verified_by, vec![0], "signed like every message, verified by the official library");
    let body: serde_json::Value = serde_json::from_slice(&notice.body).expect("json");
    assert_eq!(body["type"], "sluice.endpoint.disabled");
    assert_eq!(body["data"]["endpoint_id"], failing.id.as_str());
    assert_eq!(body["data"]["tenant_id"], h.tenant.as_str());
    assert_eq!(body["data"]["cause"], "sustained_failure");
    assert!(body["data"]["failing_since"].is_string(), "{body}");
    let disabled = h.sluice.get_endpoint(&h.scope, &failing.id).await.expect("endpoint");
    assert_eq!(disabled.status, EndpointStatus::Disabled);

    let types = |rx: &Receiver| bodies(rx).iter().map(|b| b["type"].as_str().unwrap_or("").to_owned()).collect();
    let seen_by_everything: Vec<String> = types(&everything);
    assert_eq!(seen_by_everything, vec!["order.created"; 2], "taking everything is not asking for notices");
    let seen_by_failing: Vec<String> = types(&broken);
    assert!(seen_by_failing.iter().all(|t| t == "order.created"), "told about itself: {seen_by_failing:?}");
}

async fn notices_about_notices_are_never_sent(db: TestDb) {
    let h = Harness::new(db).await;
    let (a, b) = (Receiver::start().await, Receiver::start().await);
    a.set_default(Reply::Status(500));
    b.set_default(Reply::Status(500));
    // Both fail every attempt and never retry; each subscribes to exhausted deliveries.
    let first = endpoint(&h, &a.url(), &["order.created", "sluice.delivery.exhausted"], vec![]).await;
    let second = endpoint(&h, &b.url(), &["sluice.delivery.exhausted"], vec![]).await;
    let order = h.publish("order.created", "{}").await;

    let mut dispatcher = h.dispatcher(fast_config(&h.db.url));
    for _ in 0..10 {
        if dispatcher.step().await.expect("step") == 0
            && h.deliveries().await.iter().all(|d| d.status != DeliveryStatus::Pending)
        {
            break;
        }
    }
    let deliveries = h.deliveries().await;
    assert_eq!(deliveries.len(), 2, "the order, and one notice of its failure: {deliveries:?}");
    let notice = deliveries.iter().find(|d| d.message_id != order.id).expect("the notice");
    assert_eq!(notice.event_type, "sluice.delivery.exhausted");
    assert_eq!(notice.endpoint_id, second.id, "not to the endpoint whose delivery failed");
    assert_eq!(notice.status, DeliveryStatus::Failed, "and its own failure is not announced");
    assert_eq!((a.count(), b.count()), (1, 1));
    let body: serde_json::Value = serde_json::from_slice(&b.received()[0].body).expect("json");
    assert_eq!(body["data"]["endpoint_id"], first.id.as_str());
    assert_eq!(body["data"]["message_id"], order.id.as_str());
}

/// A tenant that receives every tenant's notices (the platform's inbox) gets the
/// notice of another tenant's exhausted delivery, as a message of its own; a tenant
/// that does not, subscribed to the same type, hears nothing of others.
async fn the_platforms_inbox_hears_of_every_tenant_and_no_one_else_does(db: TestDb) {
    let h = Harness::new(db).await;
    let ops = CreateTenant { name: "Platform ops".into(), receives_all_notices: Some(true), ..Default::default() };
    let inbox_tenant = h.sluice.create_tenant(&h.platform, ops).await.expect("tenant");
    assert!(inbox_tenant.receives_all_notices);
    let neighbour = h.other_tenant("Neighbour").await;
    let (broken, inbox, nosy) = (Receiver::start().await, Receiver::start().await, Receiver::start().await);
    broken.set_default(Reply::Status(500));
    let failing = endpoint(&h, &broken.url(), &[], vec![]).await;
    let inbox_scope = h.platform.tenant(&inbox_tenant.id).expect("not the canary");
    let watcher = endpoint_of(&h, &inbox_scope, &inbox.url(), &["sluice.delivery.exhausted"], vec![1]).await;
    let neighbour_scope = h.platform.tenant(&neighbour).expect("not the canary");
    endpoint_of(&h, &neighbour_scope, &nosy.url(), &["sluice.delivery.exhausted"], vec![1]).await;
    inbox.set_secrets(vec![h.sluice.endpoint_secrets(&inbox_scope, &watcher.id).await.expect("secret").key]);
    let order = h.publish("order.created", "{}").await;

    let mut dispatcher = h.dispatcher(fast_config(&h.db.url));
    for _ in 0..10 {
        if dispatcher.step().await.expect("step") == 0 && inbox.count() > 0 {
            break;
        }
    }
    assert_eq!(inbox.count(), 1, "the inbox heard of it");
    let notice = &inbox.received()[0];
    assert_eq!(notice.verified_by, vec![0]);
    let body: serde_json::Value = serde_json::from_slice(&notice.body).expect("json");
    assert_eq!(body["type"], "sluice.delivery.exhausted");
    assert_eq!(body["data"]["tenant_id"], h.tenant.as_str(), "whose endpoint it was");
    assert_eq!(body["data"]["endpoint_id"], failing.id.as_str());
    assert_eq!(body["data"]["message_id"], order.id.as_str());
    assert_eq!(nosy.count(), 0, "another tenant's notices are not a neighbour's business");
    let queued = h.sluice.list_deliveries(&neighbour_scope, Default::default(), Some(10), None).await.expect("list");
    assert!(queued.data.is_empty(), "nor queued for it: {:?}", queued.data);
    let in_inbox = h.sluice.list_deliveries(&inbox_scope, Default::default(), Some(10), None).await.expect("list");
    assert_eq!(in_inbox.data.len(), 1, "published in the inbox tenant, which can read and replay it");
}

async fn sluices_own_event_types_cannot_be_published_or_made_up(db: TestDb) {
    let h = Harness::new(db).await;
    let e = h.endpoint("https://example.com/hook", None).await;
    let req = PublishMessage {
        event_type: "sluice.endpoint.disabled".into(),
        payload: serde_json::value::RawValue::from_string(r#"{"endpoint_id":"forged"}"#.into()).expect("json"),
    };
    let err = h.sluice.publish(&h.scope, req, None).await.expect_err("reserved");
    assert!(matches!(err, sluice_engine::Error::Validation(_)), "{err:?}");
    let made_up = PatchEndpoint { event_types: Some(vec!["sluice.anything".into()]), ..Default::default() };
    let err = h.sluice.patch_endpoint(&h.scope, &e.id, None, made_up).await.expect_err("unknown");
    assert!(matches!(err, sluice_engine::Error::Validation(_)), "{err:?}");
    assert!(h.deliveries().await.is_empty(), "nothing was published");
}
