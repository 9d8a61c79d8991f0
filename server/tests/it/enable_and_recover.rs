//! `POST …/enable-and-recover` over HTTP: what a platform calls once a partner's
//! receiver is fixed. The endpoint comes back and what failed while it was down is
//! delivered; another tenant's key learns nothing; a missing endpoint is 404.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use sluice_testkit::{eventually, on_both_backends, Receiver, Reply, TestDb};

use crate::harness::{assert_problem, TestApp};

on_both_backends!(a_fixed_receivers_endpoint_comes_back_with_what_failed);

async fn a_fixed_receivers_endpoint_comes_back_with_what_failed(db: TestDb) {
    let mut app = TestApp::start(db).await;
    let rx = Receiver::start().await;
    rx.set_default(Reply::Status(503));
    let t = app.tenant("Acme").await;
    let body = json!({ "url": rx.url(), "retry_schedule_seconds": [] });
    let e = app.post(&format!("/v1/tenants/{t}/endpoints"), body).await.body["id"].as_str().expect("id").to_owned();
    app.post(&format!("/v1/tenants/{t}/messages"), json!({ "event_type": "a", "payload": { "n": 1 } })).await;
    let failed = format!("/v1/tenants/{t}/deliveries?status=failed");
    let one_failed = eventually(Duration::from_secs(10), || async {
        app.get(&failed).await.body["data"].as_array().is_some_and(|d| d.len() == 1)
    })
    .await;
    assert!(one_failed, "the delivery failed for good");
    let endpoint = format!("/v1/tenants/{t}/endpoints/{e}");
    app.post(&format!("{endpoint}/disable"), json!({ "reason": "receiver down" })).await;

    // Another tenant's key: the endpoint does not exist for it, and nothing changes.
    let other = app.tenant("Initech").await;
    let key = app.post(&format!("/v1/tenants/{other}/api-keys"), json!({})).await.body["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let path = format!("{endpoint}/enable-and-recover");
    let stranger = app.call(Method::POST, &path, Some(&key), None, &[]).await;
    assert_problem(&stranger, 404, "not_found");
    assert_eq!(app.get(&endpoint).await.body["status"], "disabled");
    let missing = format!("/v1/tenants/{t}/endpoints/ep_01hzy5v3k2f8m9q0w1x2y3z4a5/enable-and-recover");
    assert_problem(&app.post(&missing, json!(null)).await, 404, "not_found");

    // Counted first: 200 with the count, and nothing re-queued.
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let count = app.post(&format!("{endpoint}/recover"), json!({ "since": since, "dry_run": true })).await;
    assert_eq!((count.status, count.body["deliveries"].clone()), (StatusCode::OK, json!(1)), "{:?}", count.body);
    assert_eq!(app.get(&failed).await.body["data"].as_array().map(Vec::len), Some(1));

    rx.set_default(Reply::Status(204));
    let op = app.call(Method::POST, &path, Some(crate::harness::ADMIN_KEY), None, &[]).await;
    assert_eq!(op.status, StatusCode::ACCEPTED, "{:?}", op.body);
    assert_eq!(op.body["total"], 1, "{:?}", op.body);
    let location = op.header("location").expect("location").to_owned();
    assert_eq!(app.get(&endpoint).await.body["status"], "enabled");
    let completed = eventually(Duration::from_secs(10), || async {
        let state = app.get(&location).await.body;
        state["state"] == "completed" && state["succeeded"] == 1
    })
    .await;
    assert!(completed, "{:?}", app.get(&location).await.body);
    assert!(rx.received().iter().any(|r| r.body_text().contains(r#""n":1"#)));
    // A finished recover is left as it is.
    let id = location.trim_start_matches("/v1/operations/");
    let cancelled = app.post(&format!("/v1/operations/{id}/cancel"), json!(null)).await;
    assert_eq!((cancelled.status, cancelled.body["state"].clone()), (StatusCode::OK, json!("completed")));
    let listed = app.get(&format!("/v1/tenants/{t}/operations")).await;
    assert_eq!(listed.body["data"][0]["id"], json!(id), "{:?}", listed.body);
    app.stop().await;
}
