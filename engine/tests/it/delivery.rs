//! Delivery over real loopback sockets: signatures checked by the official Standard
//! Webhooks verifier, and receivers that fail in every way the design lists.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sluice_core::model::*;
use sluice_engine::delivery::wait_idle;
use sluice_engine::ids::now_ms;
use sluice_engine::service::EventQuery;
use sluice_engine::{Caller, Error, Reach};
use sluice_testkit::{on_both_backends, Receiver, Reply, TestDb};
use tokio::sync::watch;

use crate::harness::{fast_config, Harness};

on_both_backends!(
    circuit_opens_after_repeated_failures_and_a_probe_closes_it,
    delivers_signed_standard_webhooks,
    retries_failures_then_succeeds,
    a_reply_holding_nul_bytes_is_recorded,
    exhausted_deliveries_fail_and_replay_restarts_them,
    classifies_timeouts_resets_and_refused_connections,
    gone_disables_the_endpoint,
    retry_after_is_honoured,
    private_targets_are_refused_unless_allowed,
    rotation_signs_with_every_valid_secret,
    one_tenants_hanging_endpoint_does_not_delay_another,
    eight_hanging_tenants_cannot_hold_the_pool,
    shutdown_releases_leases,
    recover_requeues_failures_in_the_window_with_progress,
    triage_ranks_the_worst_tenant_first_and_search_finds_things,
    test_events_go_to_one_endpoint_only,
);

async fn delivers_signed_standard_webhooks(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    let e = h.endpoint(&rx.url(), None).await;
    rx.set_secrets(vec![h.secret(&e).await]);
    let m = h.publish("user.created", r#"{"name":"Ada","n":1.50}"#).await;
    let mut engine = h.dispatcher(fast_config(&h.db.url));
    assert_eq!(engine.step().await.expect("run"), 1);
    let got = rx.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.verified_by, vec![0], "the official verifier accepts the signature");
    assert_eq!(r.header("webhook-id"), Some(m.id.as_str()));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("user-agent").is_some_and(|ua| ua.starts_with("Sluice/")));
    let ts: i64 = r.header("webhook-timestamp").and_then(|t| t.parse().ok()).expect("timestamp");
    assert!((ts - now_ms() / 1000).abs() < 5);
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json body");
    assert_eq!(body["type"], "user.created");
    assert_eq!(body["data"]["name"], "Ada");
    assert!(r.body_text().contains(r#""data":{"name":"Ada","n":1.50}"#), "payload bytes untouched");
    let d = &h.deliveries().await[0];
    assert_eq!(d.status, DeliveryStatus::Succeeded);
    let attempts = h.attempts(d).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].response_status, Some(200));
    assert_eq!(attempts[0].trigger, AttemptTrigger::Scheduled);
    assert!(attempts[0].response_body.as_deref().is_some_and(|b| b.contains("received")));
    assert!(attempts[0].request_headers.contains_key("webhook-signature"));
    assert_eq!(engine.step().await.expect("run"), 0, "nothing left to do");
}

/// PostgreSQL cannot store U+0000 in text: a receiver answering with NUL bytes once
/// made every batch holding its attempt fail to record, for a minute, then be dropped
/// and sent again. Its reply is kept with U+FFFD in their place.
async fn a_reply_holding_nul_bytes_is_recorded(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    rx.script([Reply::Body(500, b"bad\0\0reply".to_vec()), Reply::Body(200, b"ok\0".to_vec())]);
    h.instant_retry_endpoint(&rx.url(), 3).await;
    h.publish("t", "{}").await;
    let mut engine = h.dispatcher(fast_config(&h.db.url));
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(20), engine.step())
            .await
            .expect("a step records within seconds")
            .expect("run");
    }
    let d = &h.deliveries().await[0];
    assert_eq!(d.status, DeliveryStatus::Succeeded);
    assert_eq!(d.attempts, 2, "each attempt recorded once");
    let mut bodies: Vec<_> = h.attempts(d).await.into_iter().map(|a| a.response_body).collect();
    bodies.reverse();
    assert_eq!(bodies, vec![Some("bad\u{FFFD}\u{FFFD}reply".to_owned()), Some("ok\u{FFFD}".to_owned())]);
    assert_eq!(rx.count(), 2, "nothing sent again");
}

async fn retries_failures_then_succeeds(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    rx.script([Reply::Status(500), Reply::Status(503)]);
    h.instant_retry_endpoint(&rx.url(), 3).await;
    h.publish("t", "{}").await;
    let mut engine = h.dispatcher(fast_config(&h.db.url));
    for _ in 0..3 {
        engine.step().await.expect("run");
    }
    let d = &h.deliveries().await[0];
    assert_eq!(d.status, DeliveryStatus::Succeeded);
    assert_eq!(d.attempts, 3);
    let mut attempts = h.attempts(d).await;
    attempts.reverse();
    let classes: Vec<_> = attempts.iter().map(|a| a.error_class).collect();
    assert_eq!(classes, vec![Some(ErrorClass::Http5xx), Some(ErrorClass::Http5xx), None]);
    assert_eq!(attempts.iter().map(|a| a.number).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(rx.count(), 3);
    let ids: Vec<_> = rx.received().iter().map(|r| r.header("webhook-id").map(str::to_owned)).collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "every attempt carries the same webhook-id");
}

async fn exhausted_deliveries_fail_and_replay_restarts_them(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    rx.set_default(Reply::Status(500));
    let e = h.instant_retry_endpoint(&rx.url(), 1).await;
    let m = h.publish("t", "{}").await;
    let mut engine = h.dispatcher(fast_config(&h.db.url));
    engine.step().await.expect("run");
    engine.step().await.expect("run");
    assert_eq!(engine.step().await.expect("run"), 0);
    let d = h.deliveries().await.remove(0);
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(d.attempts, 2);
    assert_eq!(d.last_error_class, Some(ErrorClass::Http5xx));
    let query = EventQuery { kind: Some("delivery.exhausted".into()), ..EventQuery::default() };
    let events = h.sluice.list_events(Reach::Tenant(&h.scope), query, None, None).await.expect("events").data;
    assert!(events.iter().any(|ev| ev.subject_id == d.id.as_str()), "the exhausted delivery's event");

    rx.set_default(Reply::Status(204));
    let accepted = h
        .sluice
        .replay_message(&h.scope, &m.id, ReplayMessage { endpoint_id: Some(e.id.clone()) })
        .await
        .expect("replay");
    assert_eq!(accepted.deliveries, vec![d.id.clone()]);
    assert_eq!(engine.step().await.expect("run"), 1);
    let d = h.deliveries().await.remove(0);
    assert_eq!(d.status, DeliveryStatus::Succeeded);
    let last = h.attempts(&d).await.remove(0);
    assert_eq!(last.trigger, AttemptTrigger::Manual);
    assert_eq!(last.number, 3);
    assert_eq!(last.response_status, Some(204));
}

async fn classifies_timeouts_resets_and_refused_connections(db: TestDb) {
    let h = Harness::new(db).await;
    let hanging = Receiver::start().await;
    hanging.set_default(Reply::Hang(Duration::from_secs(10)));
    let resetting = Receiver::start().await;
    resetting.set_default(Reply::Reset);
    // A port nobody listens on: bind, note the port, close.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let e1 = h.endpoint(&hanging.url(), None).await;
    let e2 = h.endpoint(&resetting.url(), None).await;
    let e3 = h.endpoint(&format!("http://{closed}/hook"), None).await;
    h.publish("t", "{}").await;
    let mut config = fast_config(&h.db.url);
    config.request_timeout = Duration::from_millis(500);
    let mut engine = h.dispatcher(config);
    assert_eq!(engine.step().await.expect("run"), 3);
    for d in h.deliveries().await {
        let a = h.attempts(&d).await.remove(0);
        let expected = if d.endpoint_id == e1.id {
            ErrorClass::Timeout
        } else if d.endpoint_id == e2.id || d.endpoint_id == e3.id {
            ErrorClass::Connect
        } else {
            unreachable!()
        };
        assert_eq!(a.error_class, Some(expected), "{:?}", a.error_message);
        assert!(a.error_message.is_some());
        assert_eq!(d.status, DeliveryStatus::Pending, "failures are retried, not dropped");
        assert!(d.next_attempt_at.is_some());
    }
}

async fn gone_disables_the_endpoint(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    rx.set_default(Reply::Status(410));
    let e = h.instant_retry_endpoint(&rx.url(), 2).await;
    h.publish("t", "{}").await;
    h.publish("t", "{}").await;
    let mut config = fast_config(&h.db.url);
    config.claim_batch = 1;
    let mut engine = h.dispatcher(config);
    let sent = engine.step().await.expect("run");
    let e = h.sluice.get_endpoint(&h.scope, &e.id).await.expect("get");
    assert_eq!(e.status, EndpointStatus::Disabled);
    assert!(e.disabled_reason.as_deref().is_some_and(|r| r.contains("410")));
    // Requests already on their way when the 410 came back may land; nothing after.
    assert!((1..=3).contains(&sent), "{sent} requests to an endpoint that answered 410");
    assert_eq!(engine.step().await.expect("run"), 0, "a disabled endpoint gets nothing");
    assert_eq!(rx.count(), sent);
    assert_eq!(h.event_kinds("endpoint.disabled").await.len(), 1, "once, however many 410s came back");
    let ds = h.deliveries().await;
    assert!(ds.iter().all(|d| d.status == DeliveryStatus::Pending), "kept for when it is enabled again");
    rx.set_default(Reply::Status(200));
    h.sluice.enable_endpoint(&h.scope, &e.id).await.expect("enable");
    while engine.step().await.expect("run") > 0 {}
    assert!(h.deliveries().await.iter().all(|d| d.status == DeliveryStatus::Succeeded));
}

async fn retry_after_is_honoured(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    rx.script([Reply::StatusWith(429, vec![("Retry-After".into(), "120".into())])]);
    h.instant_retry_endpoint(&rx.url(), 2).await;
    h.publish("t", "{}").await;
    let mut engine = h.dispatcher(fast_config(&h.db.url));
    engine.step().await.expect("run");
    let d = h.deliveries().await.remove(0);
    assert_eq!(d.last_error_class, Some(ErrorClass::Http429));
    let wait = d.next_attempt_at.expect("scheduled").timestamp_millis() - now_ms();
    assert!((115_000..=121_000).contains(&wait), "retry in {wait} ms, not immediately");
    assert_eq!(engine.step().await.expect("run"), 0);
    assert_eq!(h.attempts(&d).await[0].retry_after_seconds, Some(120), "recorded on the attempt");

    // A receiver in maintenance answering `503 Retry-After: 1` must not burn the
    // schedule in seconds: the schedule's minute wins.
    let rx = Receiver::start().await;
    rx.set_default(Reply::StatusWith(503, vec![("Retry-After".into(), "1".into())]));
    let e = h.endpoint(&rx.url(), Some(vec![60, 3_600])).await;
    let m = h.publish("t", "{}").await;
    engine.step().await.expect("run");
    let d = h.deliveries().await.into_iter().find(|d| d.message_id == m.id && d.endpoint_id == e.id);
    let d = d.expect("delivery");
    let wait = d.next_attempt_at.expect("scheduled").timestamp_millis() - now_ms();
    assert!((46_000..=72_000).contains(&wait), "the schedule's 60 s ±20 %, not Retry-After's 1 s: {wait} ms");
    assert_eq!(h.attempts(&d).await[0].retry_after_seconds, Some(1));
}

async fn private_targets_are_refused_unless_allowed(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    h.endpoint(&rx.url(), None).await;
    h.endpoint(&format!("http://localhost:{}/hook", rx.addr().port()), None).await;
    h.publish("t", "{}").await;
    let mut config = fast_config(&h.db.url);
    config.allow_private_targets = false;
    let mut engine = h.dispatcher(config);
    assert_eq!(engine.step().await.expect("run"), 2);
    assert_eq!(rx.count(), 0, "nothing reached the loopback receiver");
    for d in h.deliveries().await {
        let a = h.attempts(&d).await.remove(0);
        assert_eq!(a.error_class, Some(ErrorClass::BlockedTarget), "{:?}", a.error_message);
    }
}

async fn rotation_signs_with_every_valid_secret(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    let e = h.endpoint(&rx.url(), None).await;
    let old = h.secret(&e).await;
    let new = h
        .sluice
        .rotate_secret(&h.scope, &e.id, RotateSecret { grace_period_seconds: Some(600), key: None })
        .await
        .expect("rotate")
        .key;
    rx.set_secrets(vec![old, new]);
    h.publish("t", "{}").await;
    h.dispatcher(fast_config(&h.db.url)).step().await.expect("run");
    let r = rx.received().remove(0);
    assert_eq!(r.verified_by, vec![0, 1], "old and new secret both verify during grace");
    assert_eq!(r.header("webhook-signature").map(|s| s.split(' ').count()), Some(2));
}

/// The scenario the design names: tenant A bursts to an endpoint that hangs until the
/// request timeout while tenant B publishes steadily to a healthy one. B must not notice.
async fn one_tenants_hanging_endpoint_does_not_delay_another(db: TestDb) {
    let h = Harness::new(db).await;
    let slow = Receiver::start().await;
    slow.set_default(Reply::Hang(Duration::from_secs(30)));
    let fast = Receiver::start().await;
    let b = h.other_tenant("B").await;
    h.endpoint(&slow.url(), None).await;
    h.endpoint_for(&b, &fast.url(), None).await;
    for i in 0..300 {
        h.publish("burst", &format!("{{\"i\":{i}}}")).await;
    }
    let mut config = fast_config(&h.db.url);
    config.workers = 16;
    config.endpoint_concurrency = 8;
    config.request_timeout = Duration::from_secs(20);
    config.lease = Duration::from_secs(30);
    let engine = h.engine(config);
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(engine.clone().run_until_stopped(stopped));
    assert!(slow.wait_for(4, Duration::from_secs(5)).await, "A's endpoint gets its first slots' worth");
    for i in 0..20 {
        h.publish_for(&b, "steady", &format!("{{\"i\":{i}}}")).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fast.wait_for(20, Duration::from_secs(5)).await, "B's events arrived while A's endpoint hung");
    assert_eq!(slow.count(), 4, "a hanging endpoint never earned more than the 4 slots it started with");
    stop.send(true).expect("stop");
    task.await.expect("join").expect("engine");
}

async fn shutdown_releases_leases(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    rx.set_default(Reply::Hang(Duration::from_secs(30)));
    h.endpoint(&rx.url(), None).await;
    h.publish("t", "{}").await;
    let engine = h.engine(fast_config(&h.db.url));
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(engine.clone().run_until_stopped(stopped));
    assert!(rx.wait_for(1, Duration::from_secs(5)).await);
    stop.send(true).expect("stop");
    task.await.expect("join").expect("engine");
    let d = h.deliveries().await.remove(0);
    assert_eq!(d.status, DeliveryStatus::Pending);
    // Released, so due now rather than after the lease: the next node takes it at once.
    let due = h.store.due_endpoints(now_ms() + 50, 10, 10, &[], &[]).await.expect("due");
    assert_eq!(due.len(), 1);
}

async fn recover_requeues_failures_in_the_window_with_progress(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    rx.set_default(Reply::Status(500));
    let e = h.endpoint(&rx.url(), Some(vec![])).await;
    let other = h.endpoint(&format!("{}/other", rx.url()), Some(vec![])).await;
    let before = h.publish("t", r#"{"n":0}"#).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let since = chrono::Utc::now();
    for n in 1..=3 {
        h.publish("t", &format!("{{\"n\":{n}}}")).await;
    }
    let mut engine = h.dispatcher(fast_config(&h.db.url));
    while engine.step().await.expect("run") > 0 {}
    assert!(h.deliveries().await.iter().all(|d| d.status == DeliveryStatus::Failed));

    rx.set_default(Reply::Status(204));
    let req = RecoverEndpoint { since: since.to_rfc3339(), ..Default::default() };
    let op = h.sluice.recover_endpoint(&h.scope, &e.id, req).await.and_then(|a| a.started()).expect("recover");
    assert_eq!((op.total, op.pending, op.state.as_str()), (3, 3, "running"), "only this endpoint, only the window");
    // At the pace the endpoint's slots allow: its failures halved them.
    let mut sent = 0;
    while let n @ 1.. = engine.step().await.expect("run") {
        sent += n;
    }
    assert_eq!(sent, 3);
    let done = h.sluice.get_operation(&h.admin, &op.id).await.expect("progress");
    assert_eq!((done.succeeded, done.pending, done.failed, done.state.as_str()), (3, 0, 0, "completed"));

    let filter = |endpoint: &Endpoint| sluice_engine::store::DeliveryFilter {
        endpoint_id: Some(endpoint.id.clone()),
        ..Default::default()
    };
    let mine = h.sluice.list_deliveries(&h.scope, filter(&e), Some(10), None).await.expect("list").data;
    let early = mine.iter().find(|d| d.message_id == before.id).expect("early delivery");
    assert_eq!(early.status, DeliveryStatus::Failed, "before the window: untouched");
    let theirs = h.sluice.list_deliveries(&h.scope, filter(&other), Some(10), None).await.expect("list");
    assert!(theirs.data.iter().all(|d| d.status == DeliveryStatus::Failed), "other endpoint: untouched");
    let attempts = h.attempts(mine.iter().find(|d| d.status == DeliveryStatus::Succeeded).expect("one")).await;
    assert_eq!(attempts[0].trigger, AttemptTrigger::BulkRecover);

    // Bad windows change nothing; another tenant's caller sees no such operation.
    let bad = RecoverEndpoint { since: "yesterday".into(), ..Default::default() };
    assert!(matches!(h.sluice.recover_endpoint(&h.scope, &e.id, bad).await, Err(Error::Validation(_))));
    let other_tenant = Caller::Tenant { tenant: sluice_engine::ids::new_id(), actor: "x".into(), read_only: false };
    assert!(matches!(h.sluice.get_operation(&other_tenant, &op.id).await, Err(Error::NotFound { .. })));

    // A recover larger than the backlog's room is refused whole and changes nothing.
    let req = CreateTenant { name: "Small".into(), backlog_cap: Some(2), ..Default::default() };
    let small = h.sluice.create_tenant(&h.platform, req).await.expect("tenant").id;
    rx.set_default(Reply::Status(500));
    let tight = CreateEndpoint {
        url: format!("{}/tight", rx.url()),
        event_types: Some(vec!["t".into()]),
        retry_schedule_seconds: Some(vec![]),
        ..Default::default()
    };
    let tight =
        h.sluice.create_endpoint(&h.platform.tenant(&small).expect("not the canary"), tight).await.expect("endpoint");
    let since = chrono::Utc::now();
    h.publish_for(&small, "t", r#"{"n":1}"#).await;
    h.publish_for(&small, "t", r#"{"n":2}"#).await;
    while engine.step().await.expect("run") > 0 {}
    // One more pending delivery, to an endpoint nobody will step to: room for one.
    let parked = CreateEndpoint { url: format!("{}/parked", rx.url()), ..Default::default() };
    let scope = h.platform.tenant(&small).expect("not the canary");
    let parked = h.sluice.create_endpoint(&scope, CreateEndpoint { event_types: Some(vec!["p".into()]), ..parked });
    parked.await.expect("endpoint");
    h.publish_for(&small, "p", "{}").await;
    let req = RecoverEndpoint { since: since.to_rfc3339(), ..Default::default() };
    let refused = h.sluice.recover_endpoint(&scope, &tight.id, req).await;
    assert!(matches!(refused, Err(Error::BacklogFull { cap: 2, pending: 1, wanted: 2, .. })), "{refused:?}");
    let filter = filter(&tight);
    let left = h.sluice.list_deliveries(&scope, filter, None, None).await.expect("list").data;
    assert!(left.len() == 2 && left.iter().all(|d| d.status == DeliveryStatus::Failed), "nothing re-queued");
}

async fn triage_ranks_the_worst_tenant_first_and_search_finds_things(db: TestDb) {
    let h = Harness::new(db).await;
    let (failing, working) = (Receiver::start().await, Receiver::start().await);
    failing.set_default(Reply::Status(500));
    working.set_default(Reply::Status(204));
    let new_tenant = |name: &str| CreateTenant { name: name.into(), ..Default::default() };
    let bad = h.sluice.create_tenant(&h.platform, new_tenant("Failing Co")).await.expect("tenant").id;
    let good = h.sluice.create_tenant(&h.platform, new_tenant("Healthy Co")).await.expect("tenant").id;
    // Half its deliveries fail, but on premium (99.9 %) that burns the budget faster
    // than all of Failing Co's do on standard (99.5 %): 500x against 200x.
    let premium = CreateTenant { name: "Premium Co".into(), tier: Some("premium".into()), ..Default::default() };
    let premium = h.sluice.create_tenant(&h.platform, premium).await.expect("tenant").id;
    h.endpoint_for(&premium, &failing.url(), Some(vec![])).await;
    h.endpoint_for(&premium, &working.url(), Some(vec![])).await;
    h.publish_for(&premium, "a", "{}").await;
    h.endpoint_for(&bad, &failing.url(), Some(vec![])).await;
    let good_endpoint = h.endpoint_for(&good, &format!("{}/Works-Fine", working.url()), Some(vec![])).await;
    h.publish_for(&bad, "a", "{}").await;
    h.publish_for(&bad, "a", "{}").await;
    h.publish_for(&good, "a", "{}").await;
    let keyed = PublishMessage {
        event_type: "b".into(),
        payload: serde_json::value::RawValue::from_string("{}".into()).expect("json"),
    };
    let keyed = h
        .sluice
        .publish(&h.platform.tenant(&good).expect("not the canary"), keyed, Some("order-77".into()))
        .await
        .expect("publish")
        .message;
    let mut engine = h.dispatcher(fast_config(&h.db.url));
    while engine.step().await.expect("run") > 0 {}

    let triage = h.sluice.triage(&h.operator).await.expect("triage");
    let names: Vec<_> = triage.tenants.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names[..2], ["Premium Co", "Failing Co"], "worst SLO burn first: {names:?}");
    let burn = |name: &str| {
        let t = triage.tenants.iter().find(|t| t.name == name).expect("tenant");
        sluice_core::slo::burn_rate(t.slo_counted, t.slo_good, t.success_target).map(|b| b.round() as i64)
    };
    assert_eq!((burn("Premium Co"), burn("Failing Co"), burn("Healthy Co")), (Some(500), Some(200), Some(0)));
    assert_eq!(burn("Acme"), None, "nothing counted, no burn");
    assert_eq!((triage.tenants[1].failed, triage.tenants[1].succeeded), (2, 0));
    assert_eq!(triage.error_classes, vec![("http_5xx".to_owned(), 3)]);

    let by_key = h.sluice.search(&h.operator, "order-77").await.expect("search");
    assert_eq!(by_key.len(), 1);
    assert_eq!((by_key[0].kind.as_str(), by_key[0].id.as_str()), ("message", keyed.id.as_str()));
    let by_url = h.sluice.search(&h.operator, "works-fine").await.expect("search");
    assert_eq!(by_url.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), vec![good_endpoint.id.as_str()]);
    assert!(h.sluice.search(&h.operator, "%").await.expect("search").is_empty(), "wildcards are literal");

    let partner = Caller::Tenant { tenant: good.clone(), actor: "p".into(), read_only: false };
    assert!(matches!(partner.operator(), Err(Error::Forbidden(_))), "triage and search span tenants");
}

async fn test_events_go_to_one_endpoint_only(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    rx.set_default(Reply::Status(204));
    let picky = CreateEndpoint {
        url: format!("{}/picky", rx.url()),
        event_types: Some(vec!["order.paid".into()]),
        ..Default::default()
    };
    let picky = h.sluice.create_endpoint(&h.scope, picky).await.expect("endpoint");
    h.endpoint(&format!("{}/all", rx.url()), None).await;
    let m = h.sluice.send_test_event(&h.scope, &picky.id).await.expect("test event");
    assert_eq!(m.event_type, "sluice.test");
    let deliveries = h.deliveries().await;
    assert_eq!(deliveries.len(), 1, "only the tested endpoint, though another takes every type");
    assert_eq!(deliveries[0].endpoint_id, picky.id);
    let mut engine = h.dispatcher(fast_config(&h.db.url));
    assert_eq!(engine.step().await.expect("run"), 1);
    let got = rx.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].path.ends_with("/picky") && String::from_utf8_lossy(&got[0].body).contains("\"sluice.test\""));

    h.sluice.disable_endpoint(&h.scope, &picky.id, DisableEndpoint::default()).await.expect("disable");
    let refused = h.sluice.send_test_event(&h.scope, &picky.id).await;
    assert!(matches!(refused, Err(Error::Conflict(_))), "{refused:?}");
}

async fn circuit_opens_after_repeated_failures_and_a_probe_closes_it(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    rx.set_default(Reply::Status(500));
    // No retries: each failure is final, so what the receiver sees is what the breaker let through.
    let e = h.endpoint(&rx.url(), Some(vec![])).await;
    for i in 0..6 {
        h.publish("t", &format!("{{\"i\":{i}}}")).await;
    }
    let mut config = fast_config(&h.db.url);
    config.endpoint_concurrency = 1;
    config.breaker_threshold = 3;
    config.breaker_cooldown = Duration::from_millis(1_500);
    let engine = h.engine(config);
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(engine.clone().run_until_stopped(stopped));

    assert!(rx.wait_for(3, Duration::from_secs(5)).await);
    tokio::time::timeout(Duration::from_secs(5), wait_idle(engine.quiet())).await.expect("the engine goes quiet");
    assert_eq!(rx.count(), 3, "after 3 failures in a row the circuit holds the rest back");
    let open = engine.circuits().get(&e.id).expect("open circuit visible");
    assert_eq!(open.failures, 3);
    assert!(open.next_probe_ms > now_ms() && open.next_probe_ms <= now_ms() + 1_500, "next probe within the cooldown");

    // The endpoint recovers: the probe after the cooldown succeeds and closes it.
    rx.set_default(Reply::Status(204));
    assert!(rx.wait_for(6, Duration::from_secs(5)).await, "the rest flowed once the probe succeeded");
    assert_eq!(engine.circuits().get(&e.id), None);
    stop.send(true).expect("stop");
    task.await.expect("join").expect("engine");
    let states: Vec<_> = h.deliveries().await.iter().map(|d| d.status).collect();
    assert_eq!(states.iter().filter(|s| **s == DeliveryStatus::Failed).count(), 3);
    assert_eq!(states.iter().filter(|s| **s == DeliveryStatus::Succeeded).count(), 3);
}

/// The head-of-line scenario at size: eight tenants each burst 1,000 messages to an
/// endpoint that hangs past the request timeout, while tenant B publishes steadily
/// to a healthy one. With the node's default pool, B must never wait for a worker.
async fn eight_hanging_tenants_cannot_hold_the_pool(db: TestDb) {
    let h = Harness::new(db).await;
    let hanging = Receiver::start().await;
    hanging.set_default(Reply::Hang(Duration::from_secs(30)));
    let healthy = Receiver::start().await;
    let mut bursting = Vec::new();
    for n in 0..8 {
        let t = h.other_tenant(&format!("A{n}")).await;
        h.endpoint_for(&t, &format!("{}/a{n}", hanging.url()), None).await;
        bursting.push(t);
    }
    let b = h.other_tenant("B").await;
    h.endpoint_for(&b, &healthy.url(), None).await;
    let publishes = bursting.iter().flat_map(|t| (0..1_000).map(move |i| (t.clone(), i)));
    let publishes = publishes.map(|(t, i)| {
        let h = &h;
        async move { h.publish_for(&t, "burst", &format!("{{\"i\":{i}}}")).await }
    });
    futures::future::join_all(publishes).await;

    let mut config = fast_config(&h.db.url);
    config.workers = 128; // what two cores get by default
    config.request_timeout = Duration::from_secs(1);
    let engine = h.engine(config);
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(engine.clone().run_until_stopped(stopped));
    assert!(hanging.wait_for(8, Duration::from_secs(5)).await, "every bursting tenant is sending");
    // What the promise means is structural: a worker is always free for B. The
    // engine's in-flight gauge is sampled throughout; wall-clock waits on a loaded
    // CI machine say more about the machine than about the scheduler.
    let busiest = Arc::new(AtomicU64::new(0));
    let sampling = tokio::spawn({
        let (stats, busiest) = (engine.stats(), busiest.clone());
        async move {
            loop {
                busiest.fetch_max(stats.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    // 10 a second for three seconds: three request timeouts, so the hanging requests
    // time out and are retried meanwhile.
    let mut worst = Duration::ZERO;
    for i in 0..30 {
        let started = std::time::Instant::now();
        h.publish_for(&b, "steady", &format!("{{\"i\":{i}}}")).await;
        let accepted = std::time::Instant::now();
        assert!(healthy.wait_for(i + 1, Duration::from_secs(5)).await, "B's message {i} arrived");
        worst = worst.max(accepted.elapsed());
        tokio::time::sleep(Duration::from_millis(100).saturating_sub(started.elapsed())).await;
    }
    sampling.abort();
    let busiest = busiest.load(Ordering::Relaxed);
    assert!(busiest < 128, "every worker was busy at some point ({busiest} in flight)");
    // Waiting for a hanging request to give its worker back would cost a request
    // timeout per round; twice that is slack for the machine, not for the scheduler.
    assert!(worst < Duration::from_secs(2), "B waited {worst:?} after its publish was accepted");
    // Each hanging endpoint started with 4 slots and lost half of them per round of
    // timeouts: 4 + 2 + 1 + 1 requests at most in the few seconds this took.
    assert!(hanging.count() <= 8 * 8, "{} requests to hanging endpoints", hanging.count());
    stop.send(true).expect("stop");
    task.await.expect("join").expect("engine");
}
