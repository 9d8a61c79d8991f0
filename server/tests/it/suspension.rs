//! Suspending a tenant over HTTP: from the answer on, it queues nothing (409
//! `tenant_suspended`, nothing stored) and is delivered nothing, while another
//! tenant goes on as before; resumed, what waited is delivered. Only the platform may
//! do either.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use sluice_testkit::{eventually, on_both_backends, Receiver, Reply, TestDb};

use crate::harness::{assert_problem, TestApp};

on_both_backends!(a_suspended_tenant_queues_and_receives_nothing_until_resumed);

async fn a_suspended_tenant_queues_and_receives_nothing_until_resumed(db: TestDb) {
    let mut app = TestApp::start(db).await;
    let (rx_a, rx_b) = (Receiver::start().await, Receiver::start().await);
    let a = app.tenant("Acme").await;
    let b = app.tenant("Bravo").await;
    let ep_a = app.endpoint(&a, &rx_a.url()).await["id"].as_str().expect("id").to_owned();
    app.endpoint(&b, &rx_b.url()).await;
    let event = json!({ "event_type": "invoice.paid", "payload": { "n": 1 } });

    // A message whose first attempt fails: its retry is due a second later.
    let endpoint_a = format!("/v1/tenants/{a}/endpoints/{ep_a}");
    let fast = app.patch(&endpoint_a, json!({ "retry_schedule_seconds": [1, 1, 1] })).await;
    assert_eq!(fast.status, StatusCode::OK, "{:?}", fast.body);
    rx_a.script([Reply::Status(503)]);
    let waiting = app.post(&format!("/v1/tenants/{a}/messages"), event.clone()).await;
    assert_eq!(waiting.status, StatusCode::ACCEPTED, "{:?}", waiting.body);
    let message = waiting.body["id"].as_str().expect("message").to_owned();
    assert!(rx_a.wait_for(1, Duration::from_secs(10)).await, "the first attempt");

    // Only the platform suspends: the tenant's own key cannot lift or impose it.
    let key = app.post(&format!("/v1/tenants/{a}/api-keys"), json!({ "name": "own" })).await.body["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let suspend = format!("/v1/tenants/{a}/suspend");
    let own = app.call(Method::POST, &suspend, Some(&key), Some(json!({})), &[]).await;
    assert_problem(&own, 403, "forbidden");
    let too_long = app.post(&suspend, json!({ "reason": "x".repeat(2000) })).await;
    assert_problem(&too_long, 422, "validation_failed");
    assert_eq!(app.get(&format!("/v1/tenants/{a}")).await.body["suspended_at"], json!(null), "refused, unchanged");

    let suspended = app.post(&suspend, json!({ "reason": "invoice overdue" })).await;
    assert_eq!(suspended.status, StatusCode::OK, "{:?}", suspended.body);
    assert!(suspended.body["suspended_at"].is_string());
    assert_eq!(suspended.body["suspended_reason"], "invoice overdue");
    let again = app.post(&suspend, json!({ "reason": "another" })).await;
    assert_eq!(again.body, suspended.body, "suspending again changes nothing");

    // Nothing more is queued, by any way of queueing, and nothing is stored.
    let messages = format!("/v1/tenants/{a}/messages");
    assert_problem(&app.post(&messages, event.clone()).await, 409, "tenant_suspended");
    assert_problem(&app.post(&format!("{messages}/{message}/replay"), json!({})).await, 409, "tenant_suspended");
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let recover = app.post(&format!("{endpoint_a}/recover"), json!({ "since": since })).await;
    assert_problem(&recover, 409, "tenant_suspended");
    assert_eq!(app.get(&messages).await.body["data"].as_array().map(Vec::len), Some(1), "nothing stored");

    // Its retry comes due: nothing is sent to it, while the other tenant is
    // delivered as usual.
    assert_problem(&app.post(&format!("{endpoint_a}/test"), json!(null)).await, 409, "tenant_suspended");
    let deliveries = app.get(&format!("{messages}/{message}/deliveries")).await;
    let delivery = deliveries.body["data"][0]["delivery"]["id"].as_str().expect("delivery").to_owned();
    let delivery = format!("/v1/tenants/{a}/deliveries/{delivery}");
    let due = eventually(Duration::from_secs(10), || async {
        let d = app.get(&delivery).await.body;
        let at = d["next_attempt_at"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        d["status"] == "pending" && at.is_some_and(|at| at < chrono::Utc::now())
    });
    assert!(due.await, "the retry comes due");
    let published = app.post(&format!("/v1/tenants/{b}/messages"), event.clone()).await;
    assert_eq!(published.status, StatusCode::ACCEPTED);
    assert!(rx_b.wait_for(1, Duration::from_secs(10)).await, "the other tenant is delivered");
    app.wait_idle().await;
    assert_eq!(rx_a.count(), 1, "a suspended tenant is delivered nothing");

    // Resumed: what waited is delivered, and it publishes again.
    let resumed = app.post(&format!("/v1/tenants/{a}/resume"), json!(null)).await;
    assert_eq!(resumed.status, StatusCode::OK, "{:?}", resumed.body);
    assert_eq!(resumed.body["suspended_at"], json!(null));
    assert!(rx_a.wait_for(2, Duration::from_secs(10)).await, "what waited is delivered");
    assert_eq!(rx_a.received()[1].headers.get("webhook-id"), Some(&message), "the retry of the message that waited");
    assert_eq!(app.post(&messages, event).await.status, StatusCode::ACCEPTED);
    assert!(rx_a.wait_for(3, Duration::from_secs(10)).await);
    let audit = app.get(&format!("/v1/tenants/{a}/audit-events?action=tenant")).await;
    let actions: Vec<&str> =
        audit.body["data"].as_array().expect("audit").iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"tenant.suspended") && actions.contains(&"tenant.resumed"), "{actions:?}");
    app.stop().await;
}
