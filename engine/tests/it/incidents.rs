//! Incidents, as a support engineer measured on time to resolve and a receiver that
//! breaks and mends would test them: the failure rate over the window opens one, a
//! circuit that opens opens one, never two at once; a person's look acknowledges it;
//! success that holds for the resolve period ends it, dated at its first success, so
//! time to detect and recover come out as they happened; a deleted endpoint's ends
//! without counting as recovered; another tenant sees none of it. On both backends,
//! with the store driven step by step and with the real scheduler against a real
//! receiver, whose notices arrive signed.

use std::time::Duration;

use sluice_core::ids::EndpointId;
use sluice_core::model::*;
use sluice_engine::ids::now_ms;
use sluice_engine::service::IncidentQuery;
use sluice_engine::store::{CircuitChange, CircuitRecord, Claimed, IncidentChange, NextStep};
use sluice_engine::{EngineConfig, Error, Reach};
use sluice_testkit::{eventually, on_both_backends, Receiver, Reply, TestDb};
use tokio::sync::watch;

use crate::harness::{fast_config, outcome, Harness};

on_both_backends!(
    the_failure_rate_opens_one_a_look_acknowledges_it_and_sustained_success_ends_it,
    a_circuit_that_opens_is_an_incident_and_never_a_second_one,
    a_deleted_endpoints_incident_ends_without_counting_as_recovered,
    another_tenant_sees_and_acknowledges_none_of_it,
    a_receiver_that_breaks_and_mends_makes_an_incident_announced_signed,
    the_detector_job_takes_over_a_lapsed_lease_and_looks_on_its_own,
    an_end_decided_on_an_old_reading_is_refused_once_the_endpoint_fails_again,
    triage_lists_the_unseen_first_then_the_longest_open,
);

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;

/// `n` due deliveries of the endpoint, claimed (publish them first).
async fn claim(h: &Harness, endpoint: &EndpointId, n: i64) -> Vec<Claimed> {
    let now = now_ms();
    let claimed = h.store.claim(endpoint, now, now + 60_000, "test", n).await.expect("claim");
    assert_eq!(claimed.len() as i64, n, "due deliveries");
    claimed
}

async fn incidents(h: &Harness, state: Option<&str>) -> Vec<Incident> {
    let query = IncidentQuery { state: state.map(str::to_owned), ..IncidentQuery::default() };
    h.sluice.list_incidents(Reach::Tenant(&h.scope), query, Some(250), None).await.expect("incidents").data
}

async fn the_failure_rate_opens_one_a_look_acknowledges_it_and_sustained_success_ends_it(db: TestDb) {
    let h = Harness::new(db).await;
    let e = h.endpoint("https://example.com/hook", None).await;
    for i in 0..12 {
        h.publish("order.paid", &format!("{{\"i\":{i}}}")).await;
    }
    let claimed = claim(&h, &e.id, 12).await;
    let t0 = now_ms() - 2 * MINUTE;
    // Two successes, then ten failures a second apart: 10 of 12 failed.
    let mut batch: Vec<_> = (0..2).map(|i| outcome(&claimed[i], NextStep::Succeeded, 200, t0 + i as i64)).collect();
    for (i, c) in claimed.iter().enumerate().skip(2) {
        batch.push(outcome(c, NextStep::RetryAt(now_ms() + 3_600_000), 503, t0 + i as i64 * SECOND));
    }
    h.record(&batch, now_ms()).await;

    let detected_at = now_ms();
    assert_eq!(h.sluice.detect_incidents(detected_at).await.expect("detect"), (1, 0));
    assert_eq!(h.sluice.detect_incidents(now_ms()).await.expect("again"), (0, 0), "one per endpoint");
    let open = incidents(&h, Some("open")).await;
    assert_eq!(open.len(), 1, "{open:?}");
    let incident = &open[0];
    assert_eq!((incident.cause, incident.failed_attempts, incident.attempts), (IncidentCause::FailureRate, 10, 12));
    assert_eq!(incident.first_failure_at.timestamp_millis(), t0 + 2 * SECOND, "the first failure, not the window");
    assert_eq!(incident.opened_at.timestamp_millis(), detected_at);
    assert_eq!(incident.time_to_detect_seconds, (detected_at - (t0 + 2 * SECOND)) as f64 / 1000.0);
    assert!(h.event_kinds("incident.opened").await.len() == 1);

    // Someone looks: acknowledged once, by them, with an event; a second look changes nothing.
    let just_it = std::slice::from_ref(&incident.id);
    let acked = h.sluice.acknowledge_incidents(&h.scope, just_it).await.expect("ack");
    assert_eq!(acked, just_it);
    assert!(h.sluice.acknowledge_incidents(&h.scope, just_it).await.expect("again").is_empty());
    let seen = h.sluice.get_incident(&h.scope, &incident.id).await.expect("incident");
    assert_eq!(seen.acknowledged_by.as_deref(), Some("test"));
    assert_eq!(h.event_kinds("incident.acknowledged").await.len(), 1);

    // Successes come back, then one more failure breaks the run, then successes hold.
    let retried = claim_due_now(&h, &e.id).await;
    let s1 = now_ms() - 30 * SECOND;
    h.record(&[outcome(&retried[0], NextStep::Succeeded, 200, s1)], now_ms()).await;
    h.sluice.detect_incidents(now_ms()).await.expect("detect");
    h.record(&[outcome(&retried[1], NextStep::RetryAt(now_ms() + 3_600_000), 500, s1 + SECOND)], now_ms()).await;
    let s2 = s1 + 2 * SECOND;
    let rest: Vec<_> = retried[2..].iter().map(|c| outcome(c, NextStep::Succeeded, 200, s2)).collect();
    h.record(&rest, now_ms()).await;
    let now = now_ms();
    assert_eq!(h.sluice.detect_incidents(now).await.expect("detect"), (0, 0), "not yet: the period has not passed");
    // The resolve period later, with nothing failing since: ended, at the run's first success.
    let policy = EngineConfig::default().incident_policy();
    assert_eq!(h.sluice.detect_incidents(s2 + policy.resolve_after_ms).await.expect("detect"), (0, 1));
    let ended = h.sluice.get_incident(&h.scope, &incident.id).await.expect("incident");
    assert_eq!(ended.state, IncidentState::Resolved);
    assert_eq!(ended.resolution, Some(IncidentResolution::Recovered));
    assert_eq!(ended.resolved_at.map(|t| t.timestamp_millis()), Some(s2), "dated at the success that held");
    assert_eq!(ended.time_to_recover_seconds, Some((s2 - (t0 + 2 * SECOND)) as f64 / 1000.0));
    assert!(incidents(&h, Some("open")).await.is_empty());

    let stats = h.sluice.incident_stats(Reach::Tenant(&h.scope)).await.expect("stats");
    assert_eq!((stats.last_7_days.opened, stats.last_7_days.recovered, stats.open_now), (1, 1, 0));
    assert_eq!(stats.last_30_days.time_to_recover.median_seconds, ended.time_to_recover_seconds);
    assert_eq!(stats.last_7_days.time_to_detect.p90_seconds, Some(ended.time_to_detect_seconds));
    let platform = h.sluice.incident_stats(Reach::AllTenants(&h.operator)).await.expect("platform stats");
    assert_eq!(platform.last_7_days.opened, 1);
}

/// Ten failed attempts of ten deliveries of the endpoint, a second apart, the first
/// a minute ago (answered).
async fn fail_ten(h: &Harness, endpoint: &EndpointId) -> i64 {
    for _ in 0..10 {
        h.publish("order.paid", "{}").await;
    }
    let claimed = claim(h, endpoint, 10).await;
    let t0 = now_ms() - MINUTE;
    let failed: Vec<_> = claimed
        .iter()
        .enumerate()
        .map(|(i, c)| outcome(c, NextStep::RetryAt(now_ms() + 3_600_000), 500, t0 + i as i64 * SECOND))
        .collect();
    h.record(&failed, now_ms()).await;
    t0
}

/// Records the endpoint's circuit opening, as the dispatcher does.
async fn open_circuit(h: &Harness, endpoint: &EndpointId) {
    let opened = CircuitRecord {
        endpoint: endpoint.clone(),
        tenant: h.tenant.clone(),
        change: CircuitChange::Opened { cooldown_ms: 30_000 },
    };
    h.store.record_circuits(&[opened]).await.expect("circuit");
}

/// Every pending delivery of the endpoint, made due and claimed.
async fn claim_due_now(h: &Harness, endpoint: &EndpointId) -> Vec<Claimed> {
    let later = now_ms() + 7_200_000;
    let claimed = h.store.claim(endpoint, later, later + 60_000, "test", 100).await.expect("claim");
    assert!(claimed.len() >= 3, "{} due", claimed.len());
    claimed
}

async fn a_circuit_that_opens_is_an_incident_and_never_a_second_one(db: TestDb) {
    let h = Harness::new(db).await;
    let e = h.endpoint("https://example.com/hook", None).await;
    let t0 = fail_ten(&h, &e.id).await;
    open_circuit(&h, &e.id).await;
    let open = incidents(&h, None).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].cause, IncidentCause::CircuitOpened);
    assert_eq!(open[0].first_failure_at.timestamp_millis(), t0, "dated from the failures that opened it");
    assert_eq!(open[0].failed_attempts, 10);
    // The window says the same endpoint is failing: still the one incident.
    assert_eq!(h.sluice.detect_incidents(now_ms()).await.expect("detect"), (0, 0));
    open_circuit(&h, &e.id).await;
    assert_eq!(incidents(&h, None).await.len(), 1, "one open incident per endpoint");
    assert_eq!(h.event_kinds("incident").await, [LifecycleKind::IncidentOpened]);
}

async fn a_deleted_endpoints_incident_ends_without_counting_as_recovered(db: TestDb) {
    let h = Harness::new(db).await;
    let e = h.endpoint("https://example.com/hook", None).await;
    fail_ten(&h, &e.id).await;
    assert_eq!(h.sluice.detect_incidents(now_ms()).await.expect("detect"), (1, 0));
    h.sluice.delete_endpoint(&h.scope, &e.id, None).await.expect("delete");
    assert_eq!(h.sluice.detect_incidents(now_ms()).await.expect("detect"), (0, 1));
    // Its failures are still in the window: they open nothing again.
    assert_eq!(h.sluice.detect_incidents(now_ms()).await.expect("detect"), (0, 0));
    assert_eq!(h.sluice.detect_incidents(now_ms()).await.expect("detect"), (0, 0));
    assert_eq!(h.event_kinds("incident").await, [LifecycleKind::IncidentResolved, LifecycleKind::IncidentOpened]);
    let ended = &incidents(&h, None).await[0];
    assert_eq!(ended.resolution, Some(IncidentResolution::EndpointDeleted));
    assert_eq!(ended.time_to_recover_seconds, None);
    let stats = h.sluice.incident_stats(Reach::Tenant(&h.scope)).await.expect("stats");
    assert_eq!((stats.last_7_days.opened, stats.last_7_days.recovered), (1, 0));
    assert_eq!(stats.last_7_days.time_to_recover, Percentiles::default());

    // Kept as long as the audit trail, then purged; an open one never is.
    let still = h.endpoint("https://example.com/still-failing", None).await;
    open_circuit(&h, &still.id).await;
    assert_eq!(h.sluice.purge_incidents(&h.platform, now_ms()).await.expect("purge"), 0, "ended just now: kept");
    let years_later = now_ms() + 2 * 365 * 86_400_000;
    assert_eq!(h.sluice.purge_incidents(&h.platform, years_later).await.expect("purge"), 1);
    let left = incidents(&h, None).await;
    assert_eq!((left.len(), &left[0].endpoint_id), (1, &still.id), "the open one stays");
}

async fn another_tenant_sees_and_acknowledges_none_of_it(db: TestDb) {
    let h = Harness::new(db).await;
    let e = h.endpoint("https://example.com/hook", None).await;
    open_circuit(&h, &e.id).await;
    let id = incidents(&h, None).await[0].id.clone();
    let other = h.platform.tenant(&h.other_tenant("Other").await).expect("not the canary");
    let theirs = h.sluice.list_incidents(Reach::Tenant(&other), IncidentQuery::default(), None, None).await;
    assert!(theirs.expect("list").data.is_empty());
    assert!(matches!(h.sluice.get_incident(&other, &id).await, Err(Error::NotFound { .. })));
    assert!(matches!(h.sluice.acknowledge_incident(&other, &id).await, Err(Error::NotFound { .. })));
    assert!(h.sluice.acknowledge_incidents(&other, std::slice::from_ref(&id)).await.expect("nothing").is_empty());
    assert_eq!(h.sluice.get_incident(&h.scope, &id).await.expect("mine").acknowledged_at, None);
    let bad = IncidentQuery { state: Some("closed".into()), ..IncidentQuery::default() };
    assert!(matches!(
        h.sluice.list_incidents(Reach::Tenant(&h.scope), bad, None, None).await,
        Err(Error::Validation(_))
    ));
}

async fn a_receiver_that_breaks_and_mends_makes_an_incident_announced_signed(db: TestDb) {
    let h = Harness::new(db).await;
    let (receiver, ops) = (Receiver::start().await, Receiver::start().await);
    receiver.script([Reply::Status(500), Reply::Status(500), Reply::Status(500)]);
    let failing = h.endpoint(&receiver.url(), Some(vec![1, 1, 1])).await;
    let req = CreateEndpoint {
        url: ops.url(),
        event_types: Some(vec!["sluice.incident.opened".into(), "sluice.incident.resolved".into()]),
        ..Default::default()
    };
    let watcher = h.sluice.create_endpoint(&h.scope, req).await.expect("watcher");
    ops.set_secrets(vec![h.secret(&watcher).await]);
    for i in 0..3 {
        h.publish("order.paid", &format!("{{\"i\":{i}}}")).await;
    }
    let config =
        EngineConfig { breaker_threshold: 3, breaker_cooldown: Duration::from_millis(200), ..fast_config(&h.db.url) };
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(h.engine(config).run_until_stopped(stopped));
    // Three failures open the circuit: the incident opens and is announced; the probe
    // and the retries then succeed.
    let announced = ops.wait_for(1, Duration::from_secs(20)).await;
    let delivered = eventually(Duration::from_secs(20), || async {
        let all = h.deliveries().await;
        all.iter().filter(|d| d.endpoint_id == failing.id && d.status == DeliveryStatus::Succeeded).count() == 3
    })
    .await;
    assert!(announced && delivered, "{} notices, {} requests", ops.count(), receiver.count());
    let looked = h.sluice.detect_incidents(now_ms()).await.expect("detect");
    assert_eq!(looked, (0, 0), "the circuit's incident is the one");
    let open = incidents(&h, Some("open")).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!((open[0].cause, &open[0].endpoint_id), (IncidentCause::CircuitOpened, &failing.id));
    let mut first_success = i64::MAX;
    for d in h.deliveries().await.iter().filter(|d| d.endpoint_id == failing.id) {
        for a in h.attempts(d).await.iter().filter(|a| a.response_status == Some(200)) {
            first_success = first_success.min(a.started_at.timestamp_millis());
        }
    }

    let policy = EngineConfig::default().incident_policy();
    assert_eq!(h.sluice.detect_incidents(now_ms() + policy.resolve_after_ms).await.expect("detect"), (0, 1));
    assert!(ops.wait_for(2, Duration::from_secs(20)).await, "the end is announced too");
    stop.send(true).expect("stop");
    running.await.expect("join").expect("engine");

    let ended = h.sluice.get_incident(&h.scope, &open[0].id).await.expect("incident");
    let resolved_at = ended.resolved_at.expect("resolved").timestamp_millis();
    assert_eq!(resolved_at, first_success, "dated at the first success, the probe that closed the circuit");
    let notices = ops.received();
    for (notice, kind) in notices.iter().zip(["sluice.incident.opened", "sluice.incident.resolved"]) {
        assert_eq!(notice.verified_by, vec![0], "signed like every message, verified by the official library");
        let body: serde_json::Value = serde_json::from_slice(&notice.body).expect("json");
        assert_eq!(body["type"], kind);
        assert_eq!(body["data"]["incident_id"], open[0].id.as_str());
        assert_eq!(body["data"]["endpoint_id"], failing.id.as_str());
        assert_eq!(body["data"]["tenant_id"], h.tenant.as_str());
    }
    assert!(receiver.received().iter().all(|r| !r.body_text().contains("sluice.incident")), "never told about itself");
}

async fn the_detector_job_takes_over_a_lapsed_lease_and_looks_on_its_own(db: TestDb) {
    let h = Harness::new(db).await;
    let e = h.endpoint("https://example.com/hook", None).await;
    for _ in 0..10 {
        h.publish("order.paid", "{}").await;
    }
    let claimed = claim(&h, &e.id, 10).await;
    let failed: Vec<_> =
        claimed.iter().map(|c| outcome(c, NextStep::RetryAt(now_ms() + 3_600_000), 500, now_ms())).collect();
    h.record(&failed, now_ms()).await;
    // Another node held the lease and died: its lease lapsed, this node takes over.
    assert!(h.store.take_job_lease("incidents", "other-node", now_ms(), now_ms()).await.expect("lease"));
    let (stop, stopped) = watch::channel(false);
    let every = Duration::from_millis(50);
    let job = tokio::spawn(h.sluice.clone().run_incidents_until_stopped("this-node".into(), every, stopped));
    let opened = eventually(Duration::from_secs(10), || async { incidents(&h, Some("open")).await.len() == 1 }).await;
    stop.send(true).expect("stop");
    job.await.expect("join");
    assert!(opened, "the job never opened the incident");
}

async fn an_end_decided_on_an_old_reading_is_refused_once_the_endpoint_fails_again(db: TestDb) {
    let h = Harness::new(db).await;
    let e = h.endpoint("https://example.com/hook", None).await;
    fail_ten(&h, &e.id).await;
    assert_eq!(h.sluice.detect_incidents(now_ms()).await.expect("detect"), (1, 0));
    let incident = incidents(&h, None).await.remove(0);
    // The detector read a success and decided to end it; before it wrote that, the
    // endpoint failed again (its circuit opened, say).
    let success_at = now_ms() - 10 * MINUTE;
    let stale = IncidentChange::Resolve {
        id: incident.id.clone(),
        tenant_id: h.tenant.clone(),
        endpoint_id: e.id.clone(),
        resolved_at: success_at,
        resolution: IncidentResolution::Recovered,
    };
    assert_eq!(h.store.apply_incident_changes(std::slice::from_ref(&stale), now_ms()).await.expect("apply"), (0, 0));
    assert!(h.sluice.get_incident(&h.scope, &incident.id).await.expect("incident").is_open(), "still open");
    // Once a success ends the failing (no streak), the same end goes through.
    let retried = claim_due_now(&h, &e.id).await;
    h.record(&[outcome(&retried[0], NextStep::Succeeded, 200, now_ms())], now_ms()).await;
    assert_eq!(h.store.apply_incident_changes(&[stale], now_ms()).await.expect("apply"), (0, 1));
}

async fn triage_lists_the_unseen_first_then_the_longest_open(db: TestDb) {
    let h = Harness::new(db).await;
    let mut endpoints = Vec::new();
    for name in ["first", "second", "third"] {
        let e = h.endpoint(&format!("https://example.com/{name}"), None).await;
        open_circuit(&h, &e.id).await;
        endpoints.push(e.id);
    }
    let ids: Vec<_> = incidents(&h, None).await.into_iter().rev().map(|i| i.id).collect();
    h.sluice.acknowledge_incidents(&h.scope, std::slice::from_ref(&ids[0])).await.expect("ack");
    let worst: Vec<_> =
        h.sluice.open_incidents_worst_first(&h.operator).await.expect("triage").into_iter().map(|i| i.id).collect();
    assert_eq!(worst, [ids[1].clone(), ids[2].clone(), ids[0].clone()], "unseen oldest first, then the seen one");
}
