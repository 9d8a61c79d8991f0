//! Storage conformance: the same scenarios against SQLite and PostgreSQL.

use sluice_core::model::*;
use sluice_engine::ids::{new_id, now_ms};
use sluice_engine::store::{AutoDisable, NewMessage, NextStep, PublishResult};
use sluice_engine::{Error, KeyReach};
use sluice_testkit::{on_both_backends, TestDb};

use crate::harness::{outcome, Harness};

on_both_backends!(
    tenants_endpoints_and_pagination,
    endpoint_edits_are_optimistic,
    publish_fans_out_to_subscribed_enabled_endpoints,
    idempotency_keys_return_the_first_message,
    publish_batches_answer_each_message,
    concurrent_publishes_share_commits_without_mixing_answers,
    claims_are_exclusive_and_leases_expire,
    stale_outcomes_are_fenced_off,
    a_success_after_the_lease_passed_on_is_a_duplicate_send,
    deleting_an_endpoint_cancels_its_queue,
    rotation_keeps_the_old_secret_valid_during_grace,
    tenant_keys_cannot_see_other_tenants,
    api_keys_are_listed_used_and_revoked,
    backlog_cap_counts_what_each_request_would_queue,
    delivery_filters,
    quotas_cap_endpoints_and_keys_per_tenant,
);

async fn tenants_endpoints_and_pagination(db: TestDb) {
    let h = Harness::new(db).await;
    for i in 0..5 {
        h.endpoint(&format!("https://example.com/{i}"), None).await;
    }
    let first = h.sluice.list_endpoints(&h.scope, Some(2), None).await.expect("page 1");
    assert_eq!(first.data.len(), 2);
    assert_eq!(first.data[0].url, "https://example.com/4", "newest first");
    let second = h.sluice.list_endpoints(&h.scope, Some(2), first.next_cursor).await.expect("page 2");
    let third = h.sluice.list_endpoints(&h.scope, Some(2), second.next_cursor.clone()).await.expect("page 3");
    assert_eq!(second.data.len(), 2);
    assert_eq!(third.data.len(), 1);
    assert_eq!(third.next_cursor, None);
    let tenant = h.sluice.get_tenant(&h.scope).await.expect("tenant");
    assert_eq!(tenant.name, "Acme");
    assert_eq!(tenant.tier, "standard");
}

async fn endpoint_edits_are_optimistic(db: TestDb) {
    let h = Harness::new(db).await;
    let e = h.endpoint("https://example.com/a", None).await;
    assert_eq!(e.version, 1);
    let patch = PatchEndpoint { description: Some("first".into()), ..Default::default() };
    let e2 = h.sluice.patch_endpoint(&h.scope, &e.id, Some(1), patch).await.expect("patch");
    assert_eq!(e2.version, 2);
    let stale = PatchEndpoint { description: Some("second".into()), ..Default::default() };
    let err = h.sluice.patch_endpoint(&h.scope, &e.id, Some(1), stale).await.expect_err("stale");
    assert!(matches!(err, Error::PreconditionFailed { current: 2 }), "{err:?}");
    let now = h.sluice.get_endpoint(&h.scope, &e.id).await.expect("get");
    assert_eq!(now.description, "first", "the stale edit changed nothing");
    // And the store itself refuses a write against an old version.
    let mut raced = now.clone();
    raced.version = 3;
    assert!(!h.store.update_endpoint(&h.scope, &raced, 1, None).await.expect("update"));
    let bad = PatchEndpoint { url: Some("ftp://nope".into()), ..Default::default() };
    let err = h.sluice.patch_endpoint(&h.scope, &e.id, None, bad).await.expect_err("invalid");
    assert!(matches!(err, Error::Validation(ref f) if f[0].field == "url"), "{err:?}");
}

async fn publish_fans_out_to_subscribed_enabled_endpoints(db: TestDb) {
    let h = Harness::new(db).await;
    let all = h.endpoint("https://example.com/all", None).await;
    let filtered = h
        .sluice
        .create_endpoint(
            &h.scope,
            CreateEndpoint {
                url: "https://example.com/other".into(),
                event_types: Some(vec!["invoice.paid".into()]),
                ..Default::default()
            },
        )
        .await
        .expect("endpoint");
    let disabled = h.endpoint("https://example.com/off", None).await;
    h.sluice.disable_endpoint(&h.scope, &disabled.id, Default::default()).await.expect("disable");
    let m = h.publish("user.created", r#"{"id": 1}"#).await;
    let ds = h.deliveries().await;
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].endpoint_id, all.id);
    assert_eq!(ds[0].message_id, m.id);
    assert_eq!(ds[0].status, DeliveryStatus::Pending);
    h.publish("invoice.paid", "{}").await;
    let ds = h.deliveries().await;
    assert_eq!(ds.len(), 3);
    assert!(ds.iter().any(|d| d.endpoint_id == filtered.id));
    let got = h.sluice.get_message(&h.scope, &m.id).await.expect("message");
    assert_eq!(got.payload.get(), r#"{"id": 1}"#, "payload bytes kept as published");
}

async fn idempotency_keys_return_the_first_message(db: TestDb) {
    let h = Harness::new(db).await;
    h.endpoint("https://example.com/a", None).await;
    let req = |payload: &str| PublishMessage {
        event_type: "user.created".into(),
        payload: serde_json::value::RawValue::from_string(payload.into()).expect("json"),
    };
    let first = h.sluice.publish(&h.scope, req(r#"{"a":1,"b":2}"#), Some("k1".into())).await.expect("first");
    assert!(!first.replayed);
    // Same request (key order and spacing do not matter): the same message, no new delivery.
    let again = h.sluice.publish(&h.scope, req(r#"{ "b": 2, "a": 1 }"#), Some("k1".into())).await.expect("again");
    assert!(again.replayed);
    assert_eq!(again.message.id, first.message.id);
    assert_eq!(h.deliveries().await.len(), 1);
    let err = h.sluice.publish(&h.scope, req(r#"{"a":2}"#), Some("k1".into())).await.expect_err("different body");
    assert!(matches!(err, Error::IdempotencyKeyReused(_)), "{err:?}");
    assert_eq!(h.deliveries().await.len(), 1, "nothing changed");
}

async fn publish_batches_answer_each_message(db: TestDb) {
    let h = Harness::new(db).await;
    let other = h.sluice.create_tenant(&h.platform, CreateTenant { name: "Other".into(), ..Default::default() }).await;
    let other = other.expect("tenant").id;
    h.endpoint("https://example.com/all", None).await;
    let paid_only = CreateEndpoint {
        url: "https://example.com/paid".into(),
        event_types: Some(vec!["order.paid".into()]),
        ..Default::default()
    };
    h.sluice.create_endpoint(&h.scope, paid_only).await.expect("endpoint");
    h.endpoint_for(&other, "https://example.com/other", None).await;
    let new = |tenant: &sluice_core::ids::TenantId, event_type: &str, key: Option<&str>| NewMessage {
        id: new_id(),
        tenant_id: tenant.clone(),
        event_type: event_type.into(),
        payload: "{}".into(),
        idempotency_key: key.map(str::to_owned),
        request_hash: Some(event_type.into()),
        created_at_ms: now_ms(),
        only_endpoint: None,
    };
    let batch = vec![
        new(&h.tenant, "order.paid", Some("k")),
        // The same key again within the batch: answered with the first, nothing written.
        new(&h.tenant, "order.paid", Some("k")),
        // The same key in another tenant is another message.
        new(&other, "order.paid", Some("k")),
        new(&h.tenant, "user.created", None),
    ];
    let results = h.store.publish_batch(&batch).await.expect("batch");
    let summary: Vec<_> = results
        .iter()
        .map(|r| match r {
            PublishResult::Created { message, deliveries } => ("created", message.id.clone(), *deliveries),
            PublishResult::Existing { message, .. } => ("existing", message.id.clone(), 0),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("created", batch[0].id.clone(), 2),
            ("existing", batch[0].id.clone(), 0),
            ("created", batch[2].id.clone(), 1),
            ("created", batch[3].id.clone(), 1),
        ]
    );
    assert_eq!(h.deliveries().await.len(), 3, "two for the paid order, one for the user event");
    assert!(h.store.publish_batch(&[]).await.expect("empty").is_empty());
}

async fn concurrent_publishes_share_commits_without_mixing_answers(db: TestDb) {
    let h = Harness::new(db).await;
    h.endpoint("https://example.com/a", None).await;
    let publish = |i: usize, key: Option<String>| {
        let sluice = h.sluice.clone();
        let (admin, tenant) = (h.admin.clone(), h.tenant.clone());
        async move {
            let payload = format!("{{\"i\":{i}}}");
            let req = PublishMessage {
                event_type: "t".into(),
                payload: serde_json::value::RawValue::from_string(payload.clone()).expect("json"),
            };
            let scope = admin.tenant_manage(&tenant).expect("scope");
            let published = sluice.publish(&scope, req, key).await.expect("publish");
            (payload, published)
        }
    };
    // 150 distinct messages and 50 retries of one keyed request, all at once.
    let mut calls: Vec<_> = (0..150).map(|i| tokio::spawn(publish(i, None))).collect();
    calls.extend((0..50).map(|_| tokio::spawn(publish(1000, Some("same".into())))));
    let mut ids = std::collections::HashSet::new();
    let mut keyed = std::collections::HashSet::new();
    let mut replayed = 0;
    for call in calls {
        let (payload, published) = call.await.expect("task");
        assert_eq!(published.message.payload.get(), payload, "each caller gets its own message back");
        if published.message.idempotency_key.is_some() {
            keyed.insert(published.message.id.clone());
            replayed += usize::from(published.replayed);
        }
        ids.insert(published.message.id);
    }
    assert_eq!(ids.len(), 151);
    assert_eq!(keyed.len(), 1, "every retry got the one message");
    assert_eq!(replayed, 49);
    let mut count = 0;
    let mut cursor = None;
    loop {
        let page = h.sluice.list_deliveries(&h.scope, Default::default(), Some(250), cursor).await;
        let page = page.expect("deliveries");
        count += page.data.len();
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(count, 151, "one delivery per stored message");
}

async fn claims_are_exclusive_and_leases_expire(db: TestDb) {
    let h = Harness::new(db).await;
    let e = h.endpoint("https://example.com/a", None).await;
    for i in 0..10 {
        h.publish("t", &format!("{{\"i\":{i}}}")).await;
    }
    let now = now_ms() + 10;
    let a = h.store.claim(&e.id, now, now + 60_000, "node-a", 6).await.expect("claim a");
    let b = h.store.claim(&e.id, now, now + 60_000, "node-b", 6).await.expect("claim b");
    let c = h.store.claim(&e.id, now, now + 60_000, "node-c", 6).await.expect("claim c");
    assert_eq!((a.len(), b.len(), c.len()), (6, 4, 0));
    let mut ids: Vec<_> = a.iter().chain(&b).map(|c| c.delivery_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10, "no delivery leased twice");
    assert!(a.windows(2).all(|w| w[0].delivery_id < w[1].delivery_id), "oldest first");
    // Concurrent claims from many tasks never overlap either.
    let e2 = h.endpoint("https://example.com/b", None).await;
    for _ in 0..40 {
        h.publish("t", "{}").await;
    }
    let now = now_ms() + 10;
    let mut tasks = Vec::new();
    for n in 0..8 {
        let store = h.store.clone();
        let id = e2.id.clone();
        tasks.push(tokio::spawn(async move { store.claim(&id, now, now + 60_000, &format!("n{n}"), 7).await }));
    }
    let mut seen = Vec::new();
    for t in tasks {
        seen.extend(t.await.expect("join").expect("claim").into_iter().map(|c| c.delivery_id));
    }
    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), total, "concurrent claims overlapped");
    assert_eq!(total, 40);
    // A lease that expires makes its rows claimable again: crash recovery.
    let later = now + 61_000;
    let again = h.store.claim(&e.id, later, later + 60_000, "node-d", 100).await.expect("reclaim");
    // The 10 expired leases plus the 40 later messages, which `e` also subscribes to.
    assert_eq!(again.len(), 50);
    let reclaimed: Vec<_> = again.iter().filter(|c| ids.contains(&c.delivery_id)).collect();
    assert_eq!(reclaimed.len(), 10);
    assert!(reclaimed.iter().all(|c| c.lease_token == 2), "each re-claim bumps the fencing token");
}

async fn stale_outcomes_are_fenced_off(db: TestDb) {
    let h = Harness::new(db).await;
    let e = h.endpoint("https://example.com/a", None).await;
    h.publish("t", "{}").await;
    let now = now_ms() + 10;
    let first = h.store.claim(&e.id, now, now + 1_000, "slow-node", 1).await.expect("claim").remove(0);
    let second = h.store.claim(&e.id, now + 2_000, now + 60_000, "fast-node", 1).await.expect("reclaim").remove(0);
    assert_eq!(first.delivery_id, second.delivery_id);
    h.record(&[outcome(&second, NextStep::Succeeded, 200, now)], now_ms()).await;
    // The slow node finishes later with a failure: its attempt is kept, its verdict is not.
    h.record(&[outcome(&first, NextStep::RetryAt(now + 5_000), 500, now)], now_ms()).await;
    let d = &h.deliveries().await[0];
    assert_eq!(d.status, DeliveryStatus::Succeeded);
    assert_eq!(h.attempts(d).await.len(), 2);
}

/// A node whose lease ran out mid-request still got a success: the delivery was (or
/// will be) sent again by the node that took the lease over, so the receiver sees it
/// twice. `record` answers how many such late successes it fenced off, for
/// `sluice_duplicate_sends_total`; a late failure, or an outcome under its own lease,
/// is no duplicate.
async fn a_success_after_the_lease_passed_on_is_a_duplicate_send(db: TestDb) {
    let h = Harness::new(db).await;
    let e = h.endpoint("https://example.com/a", None).await;
    for i in 0..3 {
        h.publish("t", &format!("{{\"i\":{i}}}")).await;
    }
    let now = now_ms() + 10;
    let slow = h.store.claim(&e.id, now, now + 1_000, "slow-node", 3).await.expect("claim");
    let fast = h.store.claim(&e.id, now + 2_000, now + 60_000, "fast-node", 3).await.expect("reclaim");
    assert_eq!(fast.len(), 3, "every lease ran out");
    let record = |outcomes: Vec<_>| {
        let store = h.store.clone();
        async move { store.record(&outcomes, &[], &[], AutoDisable::NEVER, now_ms()).await.expect("record") }
    };
    // The node holding the leases: one delivered, one to retry, one failed for good.
    let held = vec![
        outcome(&fast[0], NextStep::Succeeded, 200, now),
        outcome(&fast[1], NextStep::RetryAt(now + 5_000), 500, now),
        outcome(&fast[2], NextStep::Exhausted, 500, now),
    ];
    assert_eq!(record(held).await, 0, "outcomes under their own leases");
    // The slow node's answers come in late: two successes (each delivery is sent by
    // the other node too: already, or at its retry) and a failure.
    let late = vec![
        outcome(&slow[0], NextStep::Succeeded, 200, now),
        outcome(&slow[1], NextStep::Succeeded, 204, now),
        outcome(&slow[2], NextStep::RetryAt(now + 5_000), 503, now),
    ];
    assert_eq!(record(late).await, 2, "two late successes, and a late failure is no duplicate");
    let states: Vec<DeliveryStatus> = h.deliveries().await.iter().map(|d| d.status).collect();
    assert_eq!(
        states.iter().filter(|s| **s == DeliveryStatus::Succeeded).count(),
        1,
        "the late verdicts changed nothing"
    );
}

async fn deleting_an_endpoint_cancels_its_queue(db: TestDb) {
    let h = Harness::new(db).await;
    let e = h.endpoint("https://example.com/a", None).await;
    h.publish("t", "{}").await;
    h.sluice.delete_endpoint(&h.scope, &e.id, None).await.expect("delete");
    assert_eq!(h.deliveries().await[0].status, DeliveryStatus::Cancelled);
    let err = h.sluice.get_endpoint(&h.scope, &e.id).await.expect_err("gone");
    assert!(matches!(err, Error::NotFound { .. }));
    assert!(h.store.due_endpoints(now_ms() + 1_000, 100, 100, &[], &[]).await.expect("due").is_empty());
}

async fn rotation_keeps_the_old_secret_valid_during_grace(db: TestDb) {
    let h = Harness::new(db).await;
    let e = h.endpoint("https://example.com/a", None).await;
    let before = h.secret(&e).await;
    let after = h
        .sluice
        .rotate_secret(&h.scope, &e.id, RotateSecret { grace_period_seconds: Some(3600), key: None })
        .await
        .expect("rotate");
    assert_ne!(after.key, before);
    assert_eq!(after.previous.len(), 1);
    assert_eq!(after.previous[0].key, before);
    let valid = h.store.valid_secrets(&e.id, now_ms()).await.expect("valid");
    assert_eq!(valid.len(), 2);
    assert_eq!(valid[0].secret, after.key, "active secret first");
    let later = h.store.valid_secrets(&e.id, now_ms() + 3_601_000).await.expect("valid later");
    assert_eq!(later.len(), 1, "the old secret expires after the grace period");
    let bumped = h.sluice.get_endpoint(&h.scope, &e.id).await.expect("get");
    assert!(bumped.version > e.version, "rotation bumps the version so nodes reload keys");
    let err = h
        .sluice
        .rotate_secret(&h.scope, &e.id, RotateSecret { grace_period_seconds: Some(30 * 86_400), key: None })
        .await
        .expect_err("too long");
    assert!(matches!(err, Error::Validation(_)));
}

async fn tenant_keys_cannot_see_other_tenants(db: TestDb) {
    let h = Harness::new(db).await;
    let other = h
        .sluice
        .create_tenant(&h.platform, CreateTenant { name: "Other".into(), ..Default::default() })
        .await
        .expect("t");
    let theirs = h.endpoint_for(&other.id, "https://example.com/theirs", None).await;
    let key = h.sluice.create_api_key(&h.platform, &h.tenant, CreateApiKey::default()).await.expect("key");
    let me = h.sluice.authenticate(&key.key).await.expect("auth").expect("known key");
    let expected =
        sluice_engine::Caller::Tenant { tenant: h.tenant.clone(), actor: key.api_key.id.to_string(), read_only: false };
    assert_eq!(me, expected);
    let err = me.tenant(&other.id).expect_err("hidden");
    assert!(matches!(err, Error::NotFound { .. }));
    let mine = me.tenant(&h.tenant).expect("own tenant");
    let err = h.sluice.get_endpoint(&mine, &theirs.id).await.expect_err("hidden");
    assert!(matches!(err, Error::NotFound { .. }));
    let listed = h.sluice.list_tenants(&me, None, None).await.expect("list");
    assert_eq!(listed.data.len(), 1);
    assert_eq!(listed.data[0].id, h.tenant);
    assert!(matches!(me.platform(), Err(Error::Forbidden(_))), "a tenant key creates no tenants");
    assert!(h.sluice.authenticate("sk_not_a_key").await.expect("auth").is_none());
}

async fn backlog_cap_counts_what_each_request_would_queue(db: TestDb) {
    let h = Harness::new(db).await;
    let small = h
        .sluice
        .create_tenant(&h.platform, CreateTenant { name: "Small".into(), backlog_cap: Some(2), ..Default::default() })
        .await
        .expect("tenant");
    let scope = h.platform.tenant(&small.id).expect("not the canary");
    let publish = |event_type: &str| PublishMessage {
        event_type: event_type.into(),
        payload: serde_json::value::RawValue::from_string("{}".into()).expect("j"),
    };
    let only = |types: &[&str]| Some(types.iter().map(|t| (*t).to_owned()).collect());
    let subscribe = |url: &str, types: Option<Vec<String>>| CreateEndpoint {
        url: url.into(),
        event_types: types,
        ..Default::default()
    };

    // One publish fanning out to three endpoints would overshoot a cap of 2, even
    // with nothing pending: it is refused, not let through.
    for n in 0..3 {
        h.sluice
            .create_endpoint(&scope, subscribe(&format!("https://example.com/{n}"), only(&["wide"])))
            .await
            .expect("e");
    }
    let err = h.sluice.publish(&scope, publish("wide"), None).await.expect_err("fan-out over the cap");
    assert!(matches!(err, Error::BacklogFull { cap: 2, pending: 0, wanted: 3, .. }), "{err:?}");
    // A type nobody subscribes to queues nothing, so it always fits.
    h.sluice.publish(&scope, publish("unheard"), None).await.expect("nothing to queue");

    let narrow = h.sluice.create_endpoint(&scope, subscribe("https://example.com/n", only(&["narrow"]))).await;
    let narrow = narrow.expect("endpoint");
    let first = h.sluice.publish(&scope, publish("narrow"), None).await.expect("1 of 2").message;
    h.sluice.publish(&scope, publish("narrow"), None).await.expect("2 of 2");
    let full = h.sluice.publish(&scope, publish("narrow"), None).await.expect_err("full");
    assert!(matches!(full, Error::BacklogFull { cap: 2, pending: 2, wanted: 1, .. }), "{full:?}");
    // Every other way of queueing deliveries asks for room too.
    let test = h.sluice.send_test_event(&scope, &narrow.id).await.expect_err("test event");
    assert!(matches!(test, Error::BacklogFull { .. }), "{test:?}");
    let replay = h.sluice.replay_message(&scope, &first.id, ReplayMessage::default()).await;
    assert!(matches!(replay, Err(Error::BacklogFull { .. })), "{replay:?}");
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let recover = RecoverEndpoint { since, ..Default::default() };
    // Nothing failed, so a recover queues nothing and fits.
    h.sluice.recover_endpoint(&scope, &narrow.id, recover).await.expect("nothing to recover");
}

async fn delivery_filters(db: TestDb) {
    let h = Harness::new(db).await;
    let a = h.endpoint("https://example.com/a", None).await;
    let _b = h.endpoint("https://example.com/b", None).await;
    let m = h.publish("user.created", "{}").await;
    h.publish("invoice.paid", "{}").await;
    let list = |f: sluice_engine::store::DeliveryFilter| {
        let h = &h;
        async move { h.sluice.list_deliveries(&h.scope, f, None, None).await.expect("list").data }
    };
    assert_eq!(list(Default::default()).await.len(), 4);
    let by_endpoint =
        list(sluice_engine::store::DeliveryFilter { endpoint_id: Some(a.id.clone()), ..Default::default() }).await;
    assert_eq!(by_endpoint.len(), 2);
    let by_type =
        list(sluice_engine::store::DeliveryFilter { event_type: Some("invoice.paid".into()), ..Default::default() })
            .await;
    assert_eq!(by_type.len(), 2);
    let by_msg =
        list(sluice_engine::store::DeliveryFilter { message_id: Some(m.id.clone()), ..Default::default() }).await;
    assert_eq!(by_msg.len(), 2);
    let failed =
        list(sluice_engine::store::DeliveryFilter { status: Some(DeliveryStatus::Failed), ..Default::default() }).await;
    assert!(failed.is_empty());
    let future =
        list(sluice_engine::store::DeliveryFilter { since_ms: Some(now_ms() + 60_000), ..Default::default() }).await;
    assert!(future.is_empty());
    let msgs = h
        .sluice
        .list_messages(
            &h.scope,
            sluice_engine::store::MessageFilter { event_type: Some("user.created".into()), ..Default::default() },
            None,
            None,
        )
        .await
        .expect("messages");
    assert_eq!(msgs.data.len(), 1);
    assert_eq!(msgs.data[0].id, m.id);
}

async fn api_keys_are_listed_used_and_revoked(db: TestDb) {
    let h = Harness::new(db).await;
    let other = h
        .sluice
        .create_tenant(&h.platform, CreateTenant { name: "Other".into(), ..Default::default() })
        .await
        .expect("t");
    let mine = h.sluice.create_api_key(&h.platform, &h.tenant, CreateApiKey::default()).await.expect("key");
    let theirs = h.sluice.create_api_key(&h.platform, &other.id, CreateApiKey::default()).await.expect("key");
    assert!(!mine.api_key.prefix.is_empty() && mine.key.starts_with(&mine.api_key.prefix));

    let me = h.sluice.authenticate(&mine.key).await.expect("auth").expect("known key");
    let own = me.tenant_manage(&h.tenant).expect("own keys");
    let listed = h.sluice.list_api_keys(KeyReach::Tenant(&own)).await.expect("list");
    assert_eq!(listed.iter().map(|k| &k.id).collect::<Vec<_>>(), vec![&mine.api_key.id], "only its own");
    assert!(listed[0].last_used_at.is_some(), "authenticating records the use");
    assert!(matches!(me.platform(), Err(Error::Forbidden(_))), "every key is for the platform");
    assert!(matches!(me.tenant_manage(&other.id), Err(Error::NotFound { .. })));
    let support = sluice_engine::Caller::Support { actor: "usr_support".into() };
    assert!(matches!(support.tenant_manage(&h.tenant), Err(Error::Forbidden(_))));
    assert!(matches!(support.platform(), Err(Error::Forbidden(_))));
    // Issuing and revoking keys needs a `Platform`, which neither support nor a
    // tenant key can get: a leaked key cannot mint its successor.

    let revoked = h.sluice.revoke_api_key(&h.platform, &mine.api_key.id).await.expect("revoke");
    let at = revoked.revoked_at.expect("revoked");
    assert_eq!(h.sluice.authenticate(&mine.key).await.expect("auth"), None, "refused at once, cache or not");
    let again = h.sluice.revoke_api_key(&h.platform, &mine.api_key.id).await.expect("revoke twice");
    assert_eq!(again.revoked_at, Some(at), "revoking again changes nothing");
    assert!(h.sluice.authenticate(&theirs.key).await.expect("auth").is_some(), "other keys keep working");

    // Platform keys: the last one cannot go, so the platform never locks itself out.
    let first = h.sluice.create_platform_api_key(&h.platform, CreateApiKey::default()).await.expect("platform key");
    assert!(matches!(h.sluice.revoke_api_key(&h.platform, &first.api_key.id).await, Err(Error::Conflict(_))));
    let second =
        h.sluice.create_platform_api_key(&h.platform, CreateApiKey { name: Some("ci".into()) }).await.expect("key");
    h.sluice.revoke_api_key(&h.platform, &first.api_key.id).await.expect("no longer the last");
    assert_eq!(h.sluice.authenticate(&first.key).await.expect("auth"), None);
    assert!(h.sluice.authenticate(&second.key).await.expect("auth").is_some());
    let all = h.sluice.list_api_keys(KeyReach::AllKeys(&h.platform)).await.expect("all");
    assert_eq!(all.len(), 4, "tenant and platform keys, revoked ones included");
    assert!(matches!(h.sluice.revoke_api_key(&h.platform, &new_id()).await, Err(Error::NotFound { .. })));
}

async fn quotas_cap_endpoints_and_keys_per_tenant(db: TestDb) {
    let h = Harness::new(db).await;
    let req =
        CreateTenant { name: "Small".into(), max_endpoints: Some(2), max_api_keys: Some(1), ..Default::default() };
    let small = h.sluice.create_tenant(&h.platform, req).await.expect("tenant");
    let scope = h.platform.tenant(&small.id).expect("not the canary");
    let create = |n: usize| CreateEndpoint { url: format!("https://example.com/{n}"), ..Default::default() };
    // Three at once against a quota of two: exactly one is refused, whatever the
    // interleaving (the count and the insert are one transaction).
    let (a, b, c) = tokio::join!(
        h.sluice.create_endpoint(&scope, create(1)),
        h.sluice.create_endpoint(&scope, create(2)),
        h.sluice.create_endpoint(&scope, create(3)),
    );
    let refused: Vec<_> = [a, b, c].into_iter().filter_map(Result::err).collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(matches!(refused[0], Error::QuotaExceeded(_)), "{refused:?}");
    let listed = h.sluice.list_endpoints(&scope, None, None).await.expect("list");
    assert_eq!(listed.data.len(), 2, "the refused one was not stored");

    h.sluice.create_api_key(&h.platform, &small.id, CreateApiKey::default()).await.expect("1 of 1");
    let second =
        h.sluice.create_api_key(&h.platform, &small.id, CreateApiKey::default()).await.expect_err("over the quota");
    assert!(matches!(second, Error::QuotaExceeded(_)), "{second:?}");

    // The platform raises the endpoint quota; `null` would return it to the default.
    let raise = PatchTenant { max_endpoints: Some(Some(3)), ..Default::default() };
    let patched = h.sluice.patch_tenant(&h.platform, &small.id, None, raise).await.expect("patch");
    assert_eq!(patched.max_endpoints, Some(3));
    h.sluice.create_endpoint(&scope, create(4)).await.expect("within the new quota");
    let bad = PatchTenant { max_endpoints: Some(Some(0)), backlog_cap: Some(0), ..Default::default() };
    let Err(Error::Validation(fields)) = h.sluice.patch_tenant(&h.platform, &small.id, None, bad).await else {
        panic!("expected a validation error");
    };
    let fields: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, vec!["backlog_cap", "max_endpoints"]);
    let reset = PatchTenant { max_endpoints: Some(None), ..Default::default() };
    let reset = h.sluice.patch_tenant(&h.platform, &small.id, None, reset).await.expect("back to the default");
    assert_eq!(reset.max_endpoints, None);
}
