//! `POST /v1/tenants/{tenant}/recover` over HTTP: a recover across every endpoint of a
//! tenant answers a count on a dry run and an operation with no endpoint otherwise,
//! refuses a bad window with per-field problem+json, and is not another tenant's.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sluice_testkit::{on_both_backends, TestDb};

use crate::harness::{assert_problem, TestApp};

on_both_backends!(a_tenant_wide_recover_counts_starts_and_refuses_over_http);

async fn a_tenant_wide_recover_counts_starts_and_refuses_over_http(db: TestDb) {
    let app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    app.endpoint(&t, "https://example.com/a").await;
    app.endpoint(&t, "https://example.com/b").await;
    let path = format!("/v1/tenants/{t}/recover");
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();

    let counted = app.post(&path, json!({ "since": since, "event_type": "order.paid", "dry_run": true })).await;
    assert_eq!(counted.status, StatusCode::OK, "{:?}", counted.body);
    assert_eq!(counted.body, json!({ "deliveries": 0 }));
    assert_eq!(
        app.get(&format!("/v1/tenants/{t}/operations")).await.body["data"],
        json!([]),
        "a dry run starts nothing"
    );

    let started = app.post(&path, json!({ "since": since, "error_class": "http5xx" })).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    assert!(started.body["endpoint_id"].is_null(), "every endpoint: {:?}", started.body);
    assert_eq!(started.body["error_class"], "http5xx");
    let location = started.header("location").expect("location").to_owned();
    assert_eq!(app.get(&location).await.body["id"], started.body["id"]);

    for (body, field) in [
        (json!({ "since": "yesterday" }), "since"),
        (json!({ "since": since, "until": since }), "since"),
        (json!({ "since": since, "event_type": "no spaces allowed" }), "event_type"),
    ] {
        let refused = app.post(&path, body).await;
        assert_problem(&refused, 422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["field"], field);
    }
    assert_eq!(app.post(&path, json!({ "since": since, "colour": "red" })).await.status.as_u16(), 422);

    let other = app.tenant("Other").await;
    let theirs = app.post(&format!("/v1/tenants/{other}/api-keys"), json!({ "name": "x" })).await.body["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let refused = app.call(Method::POST, &path, Some(&theirs), Some(json!({ "since": since })), &[]).await;
    assert_problem(&refused, 404, "not_found");
}
