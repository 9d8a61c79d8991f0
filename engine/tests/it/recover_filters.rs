//! Recover with filters, a dry run first, and cancel: what a support engineer mending
//! one kind of failure would do, and what a partner who started the wrong recover
//! needs; and the same across every endpoint of a tenant at once. On both backends,
//! with the real scheduler.

use sluice_core::model::*;
use sluice_engine::service::RecoverAnswer;
use sluice_engine::{Caller, Error};
use sluice_testkit::{on_both_backends, Receiver, Reply, TestDb};

use crate::harness::{fast_config, Harness};

on_both_backends!(
    a_filtered_recover_counts_first_takes_exactly_its_matches_and_cancel_stops_it,
    a_tenant_wide_recover_takes_every_live_endpoints_matches_and_nothing_of_another_tenant,
);

async fn a_filtered_recover_counts_first_takes_exactly_its_matches_and_cancel_stops_it(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    rx.set_default(Reply::Status(500));
    let e = h.instant_retry_endpoint(&rx.url(), 0).await;
    let since = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    for _ in 0..3 {
        h.publish("order.paid", "{}").await;
    }
    for _ in 0..2 {
        h.publish("order.created", "{}").await;
    }
    let mut engine = h.dispatcher(fast_config(&h.db.url));
    while engine.step().await.expect("run") > 0 {}
    let failed = |ds: &[Delivery]| ds.iter().filter(|d| d.status == DeliveryStatus::Failed).count();
    assert_eq!(failed(&h.deliveries().await), 5);

    let ask = |event_type: Option<&str>, error_class: Option<ErrorClass>, dry_run: bool| RecoverEndpoint {
        since: since.clone(),
        event_type: event_type.map(str::to_owned),
        error_class,
        dry_run,
        ..Default::default()
    };
    let count = |answer: RecoverAnswer| match answer {
        RecoverAnswer::DryRun(p) => p.deliveries,
        RecoverAnswer::Started(op) => panic!("a dry run started {op:?}"),
    };
    let paid = h.sluice.recover_endpoint(&h.scope, &e.id, ask(Some("order.paid"), None, true)).await;
    assert_eq!(count(paid.expect("dry run")), 3);
    let timeouts = h.sluice.recover_endpoint(&h.scope, &e.id, ask(None, Some(ErrorClass::Timeout), true)).await;
    assert_eq!(count(timeouts.expect("dry run")), 0, "they failed with 500s");
    let both = ask(Some("order.paid"), Some(ErrorClass::Http5xx), true);
    assert_eq!(count(h.sluice.recover_endpoint(&h.scope, &e.id, both).await.expect("dry run")), 3);
    assert_eq!(failed(&h.deliveries().await), 5, "a dry run changes nothing");
    let bad = h.sluice.recover_endpoint(&h.scope, &e.id, ask(Some("no spaces allowed"), None, true)).await;
    assert!(matches!(bad, Err(Error::Validation(_))), "{bad:?}");

    let started = h.sluice.recover_endpoint(&h.scope, &e.id, ask(Some("order.paid"), None, false)).await;
    let op = started.and_then(RecoverAnswer::started).expect("started");
    assert_eq!((op.total, op.pending, op.event_type.as_deref()), (3, 3, Some("order.paid")));
    let requeued: Vec<Delivery> =
        h.deliveries().await.into_iter().filter(|d| d.status == DeliveryStatus::Pending).collect();
    assert_eq!(requeued.len(), 3);
    assert!(requeued.iter().all(|d| d.event_type == "order.paid"), "exactly the matching ones");

    // Another tenant cannot see it, let alone cancel it.
    let stranger = Caller::Tenant { tenant: h.other_tenant("Initech").await, actor: "x".into(), read_only: false };
    let refused = h.sluice.cancel_operation(&stranger, &op.id).await;
    assert!(matches!(refused, Err(Error::NotFound { .. })), "{refused:?}");

    let cancelled = h.sluice.cancel_operation(&h.admin, &op.id).await.expect("cancel");
    assert_eq!((cancelled.state.as_str(), cancelled.pending, cancelled.failed), ("cancelled", 0, 3));
    assert!(cancelled.cancelled_at.is_some());
    assert_eq!(engine.step().await.expect("run"), 0, "nothing is sent for a cancelled recover");
    assert_eq!(failed(&h.deliveries().await), 5);
    let again = h.sluice.cancel_operation(&h.admin, &op.id).await.expect("cancel again");
    assert_eq!(again.cancelled_at, cancelled.cancelled_at, "cancelling twice changes nothing");
    assert_eq!(h.event_kinds("recover.cancelled").await.len(), 1);

    let listed = h.sluice.list_operations(&h.scope, Some(10), None).await.expect("list");
    assert_eq!(
        listed.data.iter().map(|o| (o.id.clone(), o.state.clone())).collect::<Vec<_>>(),
        vec![(op.id, "cancelled".into())]
    );
}

async fn a_tenant_wide_recover_takes_every_live_endpoints_matches_and_nothing_of_another_tenant(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    rx.set_default(Reply::Status(503));
    let (a, b, gone) = (
        h.instant_retry_endpoint(&format!("{}/a", rx.url()), 0).await,
        h.instant_retry_endpoint(&format!("{}/b", rx.url()), 0).await,
        h.instant_retry_endpoint(&format!("{}/gone", rx.url()), 0).await,
    );
    let other = h.other_tenant("Initech").await;
    h.endpoint_for(&other, &format!("{}/theirs", rx.url()), Some(vec![3_600])).await;
    let since = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    for _ in 0..2 {
        h.publish("order.paid", "{}").await;
        h.publish("order.created", "{}").await;
        h.publish_for(&other, "order.paid", "{}").await;
    }
    let mut engine = h.dispatcher(fast_config(&h.db.url));
    while engine.step().await.expect("run") > 0 {}
    let mine = h.deliveries().await;
    assert_eq!(mine.iter().filter(|d| d.status == DeliveryStatus::Failed).count(), 12, "3 endpoints × 4 messages");
    h.sluice.delete_endpoint(&h.scope, &gone.id, None).await.expect("delete");
    let before: Vec<(String, DeliveryStatus)> =
        h.deliveries().await.iter().map(|d| (d.id.to_string(), d.status)).collect();
    let other_scope = h.platform.tenant(&other).expect("not the canary");
    let theirs = || async {
        let page = h.sluice.list_deliveries(&other_scope, Default::default(), Some(50), None).await;
        serde_json::to_value(page.expect("theirs").data).expect("json")
    };
    let theirs_before = theirs().await;

    let paid = RecoverEndpoint { since, event_type: Some("order.paid".into()), dry_run: true, ..Default::default() };
    let counted = h.sluice.recover_tenant(&h.scope, paid.clone()).await.expect("dry run");
    assert_eq!(counted, RecoverAnswer::DryRun(RecoverPreview { deliveries: 4 }), "2 messages × 2 live endpoints");
    let after: Vec<(String, DeliveryStatus)> =
        h.deliveries().await.iter().map(|d| (d.id.to_string(), d.status)).collect();
    assert_eq!(before, after, "a dry run changes nothing");

    let run = RecoverEndpoint { dry_run: false, ..paid };
    let op = h.sluice.recover_tenant(&h.scope, run).await.and_then(RecoverAnswer::started).expect("started");
    assert_eq!((op.endpoint_id.as_ref(), op.total, op.pending), (None, 4, 4), "tenant-wide");
    let pending: Vec<Delivery> =
        h.deliveries().await.into_iter().filter(|d| d.status == DeliveryStatus::Pending).collect();
    assert_eq!(pending.len(), 4);
    assert!(pending.iter().all(|d| d.event_type == "order.paid" && d.endpoint_id != gone.id), "exactly the matches");
    let endpoints: std::collections::BTreeSet<_> = pending.iter().map(|d| d.endpoint_id.clone()).collect();
    assert_eq!(endpoints, [a.id.clone(), b.id.clone()].into_iter().collect(), "on every live endpoint");
    assert_eq!(theirs().await, theirs_before, "another tenant's deliveries are untouched");

    // Both endpoints' queues are due at once: the scheduler sends all four, which
    // fail again, and the operation says so.
    let sent_before = rx.count();
    while engine.step().await.expect("run") > 0 {}
    assert_eq!(rx.count() - sent_before, 4);
    let done = h.sluice.get_operation(&h.admin, &op.id).await.expect("operation");
    assert_eq!((done.state.as_str(), done.failed), ("completed", 4));
    let stranger = Caller::Tenant { tenant: other, actor: "x".into(), read_only: false };
    assert!(matches!(h.sluice.get_operation(&stranger, &op.id).await, Err(Error::NotFound { .. })));
}
