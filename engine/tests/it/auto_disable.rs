//! Auto-disable, as a receiver that stays broken would test it: an endpoint whose
//! every attempt fails for its tenant's period (and at least the minimum number of
//! attempts) is disabled with an event; a success starts the period over; a tenant
//! can have its own period or none; enabling starts a fresh period and brings back
//! what failed. On both backends, with the store's clock given and with the real
//! scheduler against a real receiver.

use std::time::Duration;

use sluice_core::ids::{EndpointId, TenantId};
use sluice_core::model::*;
use sluice_engine::ids::now_ms;
use sluice_engine::service::EventQuery;
use sluice_engine::store::{AutoDisable, Claimed, NextStep, Outcome};
use sluice_engine::Reach;
use sluice_testkit::{eventually, on_both_backends, Receiver, Reply, TestDb};
use tokio::sync::watch;

use crate::harness::{fast_config, outcome, Harness};

on_both_backends!(
    only_the_period_and_the_count_together_disable_and_a_success_restarts_both,
    one_message_failing_alone_never_disables,
    enable_and_recover_brings_back_only_what_failed_during_the_streak,
    a_tenant_may_have_its_own_period_or_none,
    enabling_starts_a_fresh_period,
    resuming_a_tenant_starts_a_fresh_period,
    a_receiver_broken_for_the_period_is_disabled_then_enabled_and_recovered,
);

const MINUTE: i64 = 60_000;
const POLICY: AutoDisable = AutoDisable { after_ms: 10 * MINUTE, min_attempts: 3 };

/// Two claimed deliveries of the endpoint (publish two messages first), to hang
/// attempts on: a streak counts only once it holds failures of two deliveries.
async fn claim_two(h: &Harness, endpoint: &EndpointId) -> Vec<Claimed> {
    let now = now_ms();
    let claimed = h.store.claim(endpoint, now, now + 1_000, "test", 2).await.expect("claim");
    assert_eq!(claimed.len(), 2, "two due deliveries");
    claimed
}

/// Outcomes for attempts at the given times (relative to `t0`), failed with a 500 or
/// succeeded, as a worker would hand them to the recorder; the `i`th is an attempt of
/// `claims[i % claims.len()]`.
fn attempts(claims: &[Claimed], t0: i64, at: &[(i64, bool)]) -> Vec<Outcome> {
    at.iter()
        .enumerate()
        .map(|(i, &(offset, ok))| {
            let next = if ok { NextStep::Succeeded } else { NextStep::RetryAt(now_ms() + 3_600_000) };
            outcome(&claims[i % claims.len()], next, if ok { 200 } else { 500 }, t0 + offset)
        })
        .collect()
}

async fn status(h: &Harness, tenant: &TenantId, endpoint: &EndpointId) -> Endpoint {
    h.sluice.get_endpoint(&h.platform.tenant(tenant).expect("not the canary"), endpoint).await.expect("endpoint")
}

async fn disabled_events(h: &Harness, tenant: &TenantId) -> Vec<ActivityEvent> {
    let scope = h.platform.tenant(tenant).expect("not the canary");
    let query = EventQuery { kind: Some("endpoint.disabled".into()), ..EventQuery::default() };
    h.sluice.list_events(Reach::Tenant(&scope), query, Some(250), None).await.expect("events").data
}

async fn only_the_period_and_the_count_together_disable_and_a_success_restarts_both(db: TestDb) {
    let h = Harness::new(db).await;
    let steady = h.endpoint("https://example.com/steady", None).await;
    let flaky = h.endpoint("https://example.com/flaky", None).await;
    h.publish("t", "{}").await;
    h.publish("t", "{}").await;
    let (steady_c, flaky_c) = (claim_two(&h, &steady.id).await, claim_two(&h, &flaky.id).await);
    let t0 = now_ms() - 60 * MINUTE;

    // Two failures spread over twenty minutes: past the period, short of the count.
    let batch = attempts(&steady_c, t0, &[(0, false), (20 * MINUTE, false)]);
    h.store.record(&batch, &[], &[], POLICY, t0 + 21 * MINUTE).await.expect("record");
    assert_eq!(status(&h, &h.tenant, &steady.id).await.status, EndpointStatus::Enabled, "two attempts are too few");

    // Failures, a success, then three quick failures: the count is there, but the
    // streak began at the last failure run, minutes ago, not at t0.
    let batch = attempts(
        &flaky_c,
        t0,
        &[(0, false), (MINUTE, false), (30 * MINUTE, true), (31 * MINUTE, false), (32 * MINUTE, false)],
    );
    h.store.record(&batch, &[], &[], POLICY, t0 + 33 * MINUTE).await.expect("record");
    let batch = attempts(&flaky_c, t0, &[(33 * MINUTE, false)]);
    h.store.record(&batch, &[], &[], POLICY, t0 + 34 * MINUTE).await.expect("record");
    assert_eq!(status(&h, &h.tenant, &flaky.id).await.status, EndpointStatus::Enabled, "the success restarted it");

    let health = h.sluice.endpoint_health(&h.scope).await.expect("health");
    let failing = |id: &EndpointId| health.iter().find(|r| &r.endpoint_id == id).and_then(|r| r.failing.clone());
    let flaky_streak = failing(&flaky.id).expect("flaky is failing");
    assert_eq!(flaky_streak.failed_attempts, 3);
    assert_eq!(flaky_streak.since.timestamp_millis(), t0 + 31 * MINUTE);
    let default_ms = sluice_engine::EngineConfig::default().auto_disable().after_ms;
    assert_eq!(
        flaky_streak.disables_at.map(|at| at.timestamp_millis()),
        Some(t0 + 31 * MINUTE + default_ms),
        "the platform's default period, as this Sluice was built with"
    );

    // The third failure of the steady one, in another batch: period and count met.
    let batch = attempts(&steady_c, t0, &[(40 * MINUTE, false)]);
    h.store.record(&batch, &[], &[], POLICY, t0 + 41 * MINUTE).await.expect("record");
    let steady_now = status(&h, &h.tenant, &steady.id).await;
    assert_eq!(steady_now.status, EndpointStatus::Disabled);
    let reason = steady_now.disabled_reason.expect("a reason");
    assert!(reason.contains("10 minutes") && reason.contains("3 attempts"), "{reason}");
    let events = disabled_events(&h, &h.tenant).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].subject_id, steady.id.as_str());
    assert_eq!(events[0].actor, "engine");
    assert_eq!(events[0].detail["cause"], "sustained_failure");
    assert_eq!(events[0].detail["failed_attempts"], 3);

    // Failures still being recorded for it (requests that were in flight) neither
    // disable it twice nor add events.
    let batch = attempts(&flaky_c, t0, &[(45 * MINUTE, false)]);
    h.store.record(&batch, &[], &[], POLICY, t0 + 46 * MINUTE).await.expect("record");
    let batch = attempts(&steady_c, t0, &[(46 * MINUTE, false)]);
    h.store.record(&batch, &[], &[], POLICY, t0 + 47 * MINUTE).await.expect("record");
    assert_eq!(disabled_events(&h, &h.tenant).await.len(), 2, "flaky's streak has now run 15 minutes");
    assert_eq!(status(&h, &h.tenant, &flaky.id).await.status, EndpointStatus::Disabled);
}

/// A payload the receiver rejects, retried through its whole schedule on a quiet
/// endpoint, says nothing about the endpoint: twenty failures over an hour of one
/// delivery disable nothing; one failure of another delivery then does.
async fn one_message_failing_alone_never_disables(db: TestDb) {
    let h = Harness::new(db).await;
    let e = h.endpoint("https://example.com/picky", None).await;
    h.publish("t", "{}").await;
    h.publish("t", "{}").await;
    let both = claim_two(&h, &e.id).await;
    let t0 = now_ms() - 120 * MINUTE;
    let poison: Vec<(i64, bool)> = (0..20).map(|i| (i * 3 * MINUTE, false)).collect();
    let batch = attempts(&both[..1], t0, &poison);
    h.store.record(&batch, &[], &[], POLICY, t0 + 61 * MINUTE).await.expect("record");
    assert_eq!(status(&h, &h.tenant, &e.id).await.status, EndpointStatus::Enabled, "one message alone");
    let batch = attempts(&both[1..], t0, &[(62 * MINUTE, false)]);
    h.store.record(&batch, &[], &[], POLICY, t0 + 63 * MINUTE).await.expect("record");
    assert_eq!(status(&h, &h.tenant, &e.id).await.status, EndpointStatus::Disabled, "a second one too");
}

/// A delivery that failed for good before the streak began (a success came after it)
/// stays failed; the one that failed during the streak comes back.
async fn enable_and_recover_brings_back_only_what_failed_during_the_streak(db: TestDb) {
    let h = Harness::new(db).await;
    let e = h.endpoint("https://example.com/down", None).await;
    for _ in 0..3 {
        h.publish("t", "{}").await;
    }
    let now = now_ms();
    let claims = h.store.claim(&e.id, now, now + 1_000, "test", 3).await.expect("claim");
    let (old, ok, during) = (&claims[0], &claims[1], &claims[2]);
    let t0 = now_ms() - 60 * MINUTE;
    let store = &h.store;
    let record = |o: Outcome, at: i64| async move {
        store.record(&[o], &[], &[], POLICY, at).await.expect("record");
    };
    record(outcome(old, NextStep::Exhausted, 500, t0), t0).await;
    record(outcome(ok, NextStep::Succeeded, 200, t0 + MINUTE), t0 + MINUTE).await;
    let retry = NextStep::RetryAt(now_ms() + 3_600_000);
    record(outcome(during, retry, 500, t0 + 2 * MINUTE), t0 + 3 * MINUTE).await;
    record(outcome(old, retry, 500, t0 + 5 * MINUTE), t0 + 6 * MINUTE).await;
    record(outcome(during, NextStep::Exhausted, 500, t0 + 15 * MINUTE), t0 + 16 * MINUTE).await;
    assert_eq!(status(&h, &h.tenant, &e.id).await.status, EndpointStatus::Disabled);

    let (enabled, operation) = h.sluice.enable_and_recover(&h.scope, &e.id).await.expect("enable");
    assert_eq!(enabled.status, EndpointStatus::Enabled);
    assert_eq!(operation.total, 1, "only what failed for good since the streak began");
    let requeued: Vec<Delivery> =
        h.deliveries().await.into_iter().filter(|d| d.status == DeliveryStatus::Pending).collect();
    assert_eq!(requeued.len(), 1);
    assert_eq!(requeued[0].id, during.delivery_id);
}

async fn a_tenant_may_have_its_own_period_or_none(db: TestDb) {
    let h = Harness::new(db).await;
    let never = h
        .sluice
        .create_tenant(
            &h.platform,
            CreateTenant { name: "Never".into(), auto_disable_after_seconds: Some(0), ..Default::default() },
        )
        .await
        .expect("tenant")
        .id;
    let patient = h.other_tenant("Patient").await;
    let patch = PatchTenant { auto_disable_after_seconds: Some(Some(86_400)), ..Default::default() };
    let patched = h.sluice.patch_tenant(&h.platform, &patient, None, patch).await.expect("patch");
    assert_eq!(patched.auto_disable_after_seconds, Some(86_400));
    let refused = PatchTenant { auto_disable_after_seconds: Some(Some(400 * 86_400)), ..Default::default() };
    let err = h.sluice.patch_tenant(&h.platform, &patient, None, refused).await.expect_err("over a year");
    assert!(matches!(err, sluice_engine::Error::Validation(_)), "{err:?}");

    let t0 = now_ms() - 5 * 60 * MINUTE;
    let run: Vec<(i64, bool)> = (0..20).map(|i| (i * 10 * MINUTE, false)).collect();
    let mut patient_claim = None;
    for tenant in [&never, &patient] {
        let e = h.endpoint_for(tenant, "https://example.com/down", None).await;
        h.publish_for(tenant, "t", "{}").await;
        h.publish_for(tenant, "t", "{}").await;
        let c = claim_two(&h, &e.id).await;
        let batch = attempts(&c, t0, &run);
        h.store.record(&batch, &[], &[], POLICY, t0 + 191 * MINUTE).await.expect("record");
        // Three hours and ten minutes of failures: past the platform's ten minutes.
        assert_eq!(status(&h, tenant, &e.id).await.status, EndpointStatus::Enabled, "its own period applies");
        let health =
            h.sluice.endpoint_health(&h.platform.tenant(tenant).expect("not the canary")).await.expect("health");
        let streak = health.iter().find_map(|r| r.failing.clone()).expect("failing");
        let expected = (tenant == &patient).then_some(t0 + 24 * 60 * MINUTE);
        assert_eq!(streak.disables_at.map(|at| at.timestamp_millis()), expected);
        assert!(disabled_events(&h, tenant).await.is_empty());
        if tenant == &patient {
            patient_claim = Some((e, c));
        }
    }
    // Back to the platform's default: the next failure disables it.
    let reset = PatchTenant { auto_disable_after_seconds: Some(None), ..Default::default() };
    h.sluice.patch_tenant(&h.platform, &patient, None, reset).await.expect("patch");
    let (e, c) = patient_claim.expect("the patient tenant's endpoint");
    let batch = attempts(&c, t0, &[(200 * MINUTE, false)]);
    h.store.record(&batch, &[], &[], POLICY, t0 + 201 * MINUTE).await.expect("record");
    assert_eq!(status(&h, &patient, &e.id).await.status, EndpointStatus::Disabled);
}

/// An endpoint with two claimed deliveries, to record failures from `t0`, an hour ago.
async fn failing_an_hour_ago(h: &Harness) -> (Endpoint, Vec<Claimed>, i64) {
    let e = h.endpoint("https://example.com/down", None).await;
    h.publish("t", "{}").await;
    h.publish("t", "{}").await;
    let c = claim_two(h, &e.id).await;
    (e, c, now_ms() - 60 * MINUTE)
}

/// A suspension is a pause, not failing: nothing is sent while it lasts, so an
/// endpoint that had begun failing before is not disabled at its first failure after.
async fn resuming_a_tenant_starts_a_fresh_period(db: TestDb) {
    let h = Harness::new(db).await;
    let (e, c, t0) = failing_an_hour_ago(&h).await;
    let batch = attempts(&c, t0, &[(0, false), (MINUTE, false)]);
    h.store.record(&batch, &[], &[], POLICY, t0 + 2 * MINUTE).await.expect("record");
    let suspend = SuspendTenant { reason: Some("maintenance".into()) };
    h.sluice.suspend_tenant(&h.platform, &h.tenant, suspend).await.expect("suspend");
    h.sluice.resume_tenant(&h.platform, &h.tenant).await.expect("resume");
    let health = h.sluice.endpoint_health(&h.scope).await.expect("health");
    assert!(health.iter().all(|r| r.failing.is_none()), "resuming ended the streak: {health:?}");
    // Twenty minutes after the first failure, the third: past the period and the
    // count had the streak gone on, a new streak of one now.
    let batch = attempts(&c, t0, &[(20 * MINUTE, false)]);
    h.store.record(&batch, &[], &[], POLICY, t0 + 21 * MINUTE).await.expect("record");
    assert_eq!(status(&h, &h.tenant, &e.id).await.status, EndpointStatus::Enabled);
}

async fn enabling_starts_a_fresh_period(db: TestDb) {
    let h = Harness::new(db).await;
    let (e, c, t0) = failing_an_hour_ago(&h).await;
    let batch = attempts(&c, t0, &[(0, false), (MINUTE, false), (20 * MINUTE, false)]);
    h.store.record(&batch, &[], &[], POLICY, t0 + 21 * MINUTE).await.expect("record");
    assert_eq!(status(&h, &h.tenant, &e.id).await.status, EndpointStatus::Disabled);

    h.sluice.enable_endpoint(&h.scope, &e.id).await.expect("enable");
    let health = h.sluice.endpoint_health(&h.scope).await.expect("health");
    assert!(health.iter().all(|r| r.failing.is_none()), "enabling ended the streak: {health:?}");
    // One more failure right after: a new streak of one, not the old one's fourth.
    let batch = attempts(&c, t0, &[(22 * MINUTE, false)]);
    h.store.record(&batch, &[], &[], POLICY, t0 + 23 * MINUTE).await.expect("record");
    assert_eq!(status(&h, &h.tenant, &e.id).await.status, EndpointStatus::Enabled);
}

/// The real scheduler against a receiver that answers 500 until it is fixed: a tenant
/// period of one second and three attempts. The first message fails for good (one
/// retry); the second is still being retried when the endpoint is disabled, and waits.
/// Enabling with recover brings both.
async fn a_receiver_broken_for_the_period_is_disabled_then_enabled_and_recovered(db: TestDb) {
    let h = Harness::new(db).await;
    let patch = PatchTenant { auto_disable_after_seconds: Some(Some(1)), ..Default::default() };
    h.sluice.patch_tenant(&h.platform, &h.tenant, None, patch).await.expect("patch");
    let rx = Receiver::start().await;
    rx.set_default(Reply::Status(500));
    let e = h.instant_retry_endpoint(&rx.url(), 1).await;
    h.publish("order.created", r#"{"n":1}"#).await;
    let mut config = fast_config(&h.db.url);
    config.auto_disable_min_attempts = 3;
    config.breaker_threshold = 1_000;
    let mut dispatcher = h.dispatcher(config.clone());
    let exhausted = |d: &Delivery| d.status == DeliveryStatus::Failed;
    for _ in 0..10 {
        if h.deliveries().await.iter().all(exhausted) {
            break;
        }
        dispatcher.step().await.expect("step");
    }
    assert!(h.deliveries().await.iter().all(exhausted), "one retry, then failed for good");
    drop(dispatcher);

    // A second message whose retries wait a second each, so its attempts carry the
    // streak past the tenant's one-second period.
    let current = status(&h, &h.tenant, &e.id).await;
    let mut slow = current.clone();
    slow.retry_schedule_seconds = Some(vec![1; 30]);
    slow.version += 1;
    assert!(h.store.update_endpoint(&h.scope, &slow, current.version, None).await.expect("update"));
    let second = h.publish("order.created", r#"{"n":2}"#).await;
    let engine = h.engine(config);
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(engine.run_until_stopped(stopped));
    let disabled = eventually(Duration::from_secs(20), || async {
        status(&h, &h.tenant, &e.id).await.status == EndpointStatus::Disabled
    })
    .await;
    assert!(disabled, "still enabled after {} failed requests", rx.count());
    let events = disabled_events(&h, &h.tenant).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail["cause"], "sustained_failure");
    let waiting = h.deliveries().await;
    let second_delivery = waiting.iter().find(|d| d.message_id == second.id).expect("second");
    assert_eq!(second_delivery.status, DeliveryStatus::Pending, "paused, not lost");

    // Fixed, enabled, and what failed while it was down comes back in the same click.
    rx.set_default(Reply::Status(204));
    let seen_before = rx.count();
    let (enabled, operation) = h.sluice.enable_and_recover(&h.scope, &e.id).await.expect("enable");
    assert_eq!(enabled.status, EndpointStatus::Enabled);
    assert_eq!(operation.total, 1, "the first message, failed for good during the streak");
    let both = eventually(Duration::from_secs(20), || async {
        h.deliveries().await.iter().all(|d| d.status == DeliveryStatus::Succeeded)
    })
    .await;
    assert!(both, "{:?}", h.deliveries().await);
    let delivered: Vec<String> = rx.received()[seen_before..].iter().map(|r| r.body_text()).collect();
    for payload in [r#""n":1"#, r#""n":2"#] {
        assert!(
            delivered.iter().any(|body| body.contains(payload)),
            "{payload} not sent after enabling: {delivered:?}"
        );
    }
    stop.send(true).expect("stop");
    running.await.expect("join").expect("engine");
}
