//! The canary, on both backends, through a real server: its runs go the whole path to
//! the built-in receiver and show as delivered with a latency, in the status and the
//! metrics; its tenant is out of every caller's reach and every listing; a canary
//! nobody receives fails; and receipts that are not the canary's own signed request
//! (forged, tampered, late) count for nothing.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use sluice_core::canary::{CanaryOutcome, CanaryStatus};
use sluice_core::ids::TenantId;
use sluice_engine::Caller;
use sluice_testkit::{eventually, on_both_backends, Receiver, Reply, TestDb};

use crate::harness::{assert_problem, TestApp, ADMIN_KEY, METRICS_TOKEN};

on_both_backends!(
    the_canary_goes_the_whole_way_and_stays_out_of_sight,
    a_canary_nobody_receives_fails_and_no_other_receipt_counts
);

async fn status(app: &TestApp) -> CanaryStatus {
    let operator = Caller::Platform { actor: "test".into() }.operator().expect("operator");
    app.sluice.canary_status(&operator).await.expect("canary status")
}

async fn scrape(app: &TestApp) -> String {
    let a = app.call(Method::GET, "/metrics", Some(METRICS_TOKEN), None, &[]).await;
    a.body.as_str().expect("text").to_owned()
}

fn value(text: &str, series: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
}

async fn the_canary_goes_the_whole_way_and_stays_out_of_sight(db: TestDb) {
    let mut app = TestApp::builder(db)
        .with_engine()
        .configure(|c| {
            c.engine.canary_every = Duration::from_millis(300);
            c.engine.canary_timeout = Duration::from_secs(20);
        })
        .build()
        .await;
    let arrived = eventually(Duration::from_secs(20), || async { status(&app).await.delivered >= 2 }).await;
    assert!(arrived, "two canaries delivered: {:?}", status(&app).await);
    let s = status(&app).await;
    assert_eq!(s.failed, 0, "{s:?}");
    assert_eq!(s.health.as_str(), "healthy");
    assert!(s.latency_p50_ms.is_some() && s.latency_p99_ms >= s.latency_p50_ms, "{s:?}");
    let run = s.recent.iter().find(|r| r.outcome == CanaryOutcome::Delivered).expect("a delivered run");
    assert!(run.node_id.starts_with("node-") && run.received_at >= Some(run.published_at), "{run:?}");

    let text = scrape(&app).await;
    assert!(value(&text, "sluice_canary_runs_total{outcome=\"delivered\"}") >= 2.0, "{text}");
    assert!(value(&text, "sluice_canary_latency_seconds_count") >= 2.0, "{text}");
    assert_eq!(value(&text, "sluice_canary_runs_total{outcome=\"failed\"}"), 0.0);

    // Out of every caller's reach: the platform's key included.
    let canary = TenantId::canary();
    let tenants = app.get("/v1/tenants?limit=250").await;
    assert!(!tenants.body.to_string().contains(canary.as_str()), "never listed: {:?}", tenants.body);
    for (method, path, body) in [
        (Method::GET, format!("/v1/tenants/{canary}"), None),
        (Method::GET, format!("/v1/tenants/{canary}/endpoints"), None),
        (Method::GET, format!("/v1/tenants/{canary}/deliveries"), None),
        (Method::GET, format!("/v1/tenants/{canary}/overview"), None),
        (Method::PATCH, format!("/v1/tenants/{canary}"), Some(json!({ "name": "mine now" }))),
        (Method::POST, format!("/v1/tenants/{canary}/suspend"), Some(json!({ "reason": "x" }))),
        (Method::DELETE, format!("/v1/tenants/{canary}"), None),
        (Method::POST, format!("/v1/tenants/{canary}/endpoints"), Some(json!({ "url": "http://169.254.169.254/" }))),
        (Method::POST, format!("/v1/tenants/{canary}/messages"), Some(json!({ "event_type": "a", "payload": {} }))),
        (Method::POST, format!("/v1/tenants/{canary}/recover"), Some(json!({ "since": "2026-01-01T00:00:00Z" }))),
        (Method::POST, format!("/v1/tenants/{canary}/api-keys"), Some(json!({ "name": "k" }))),
        (Method::POST, format!("/v1/tenants/{canary}/portal-links"), Some(json!({}))),
    ] {
        let a = app.call(method.clone(), &path, Some(ADMIN_KEY), body, &[]).await;
        assert_problem(&a, 404, "not_found");
        assert!(!a.body.to_string().contains("mine now"), "{method} {path}");
    }
    // Its endpoint's creation, enabling and circuit are nobody's events or audit.
    for path in ["/v1/events?limit=250", "/v1/audit-events?limit=250"] {
        let listed = app.get(path).await;
        assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
        assert!(!listed.body.to_string().contains(canary.as_str()), "{path}: {:?}", listed.body);
    }
    let user = app
        .post(
            "/v1/users",
            json!({ "email": "p@x.test", "role": "partner", "tenant_id": canary, "password": "a-long-password-1" }),
        )
        .await;
    assert_eq!(user.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", user.body);
    let operator = Caller::Platform { actor: "test".into() }.operator().expect("operator");
    let triage = app.sluice.triage(&operator).await.expect("triage");
    assert!(!format!("{triage:?}").contains(canary.as_str()), "triage never ranks it");
    let url = app.sluice.canary_status(&operator).await.expect("status").recent[0].node_id.clone();
    let search = app.sluice.search(&operator, "canary/receive").await.expect("search");
    assert!(search.is_empty(), "support's search finds no canary endpoint ({url}): {search:?}");
    app.stop().await;
}

async fn a_canary_nobody_receives_fails_and_no_other_receipt_counts(db: TestDb) {
    // The canary goes to a receiver that answers 500 (one attempt, no retries), so
    // nothing reaches Sluice's own receiver and the runs fail once overdue.
    let broken = Receiver::start().await;
    broken.set_default(Reply::Status(500));
    let mut app = TestApp::builder(db)
        .with_engine()
        .configure(|c| {
            c.engine.canary_every = Duration::from_millis(300);
            c.engine.canary_timeout = Duration::from_secs(1);
            c.engine.canary_url = Some(broken.url());
        })
        .build()
        .await;
    assert!(broken.wait_for(1, Duration::from_secs(20)).await, "the canary was sent");
    let sent = broken.received().remove(0);
    let header = |name: &str| sent.header(name).expect("signed").to_owned();
    let (id, timestamp, signature) = (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
    let receive = |headers: Vec<(&'static str, String)>, body: Vec<u8>| {
        let app = &app;
        async move {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.send(Method::POST, "/canary/receive", &headers, body).await
        }
    };
    let signed = |sig: &str, id: &str| {
        vec![
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp.clone()),
            ("webhook-signature", sig.to_owned()),
        ]
    };
    // A stranger's receipts: unsigned, signed with another key, a tampered body under
    // the real signature, an id that is no canary.
    let forged = "v1,ZmFrZWZha2VmYWtlZmFrZWZha2VmYWtlZmFrZWZha2U=";
    for (headers, body) in [
        (Vec::new(), sent.body.clone()),
        (signed(forged, &id), sent.body.clone()),
        (signed(&signature, &id), b"{\"type\":\"sluice.canary\",\"tampered\":true}".to_vec()),
        (signed(&signature, "msg_01JC3Z8Q5G7XKQ2V9M4T6W8Y0A"), sent.body.clone()),
        (signed(&signature, "not-an-id"), sent.body.clone()),
    ] {
        let a = receive(headers, body).await;
        assert_problem(&a, 401, "unauthorized");
    }

    let failed = eventually(Duration::from_secs(20), || async { status(&app).await.failed >= 1 }).await;
    assert!(failed, "overdue runs fail: {:?}", status(&app).await);
    let s = status(&app).await;
    assert_eq!(s.delivered, 0, "no receipt counted: {s:?}");
    assert_eq!(s.health.as_str(), "failing");
    assert!(value(&scrape(&app).await, "sluice_canary_runs_total{outcome=\"failed\"}") >= 1.0);

    // The genuine request, arriving after its run failed: verified, and counts for
    // nothing (a late canary is a failed one).
    let run = s.recent.iter().find(|r| r.message_id.as_str() == id).expect("the first run is listed");
    assert_eq!(run.outcome, CanaryOutcome::Failed, "{run:?}");
    let late = receive(signed(&signature, &id), sent.body.clone()).await;
    assert_eq!(late.status, StatusCode::NO_CONTENT, "{:?}", late.body);
    let s = status(&app).await;
    assert_eq!(s.delivered, 0, "{s:?}");
    assert_eq!(value(&scrape(&app).await, "sluice_canary_runs_total{outcome=\"delivered\"}"), 0.0);
    app.stop().await;
}
