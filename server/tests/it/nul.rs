//! U+0000 in the text the API takes: PostgreSQL cannot store it, so it is refused on
//! both backends alike (422, nothing changed), found by the contract test as a 500 on
//! PostgreSQL; a payload, kept as the JSON text it came as, may still carry it.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sluice_testkit::{on_both_backends, TestDb};

use crate::harness::{assert_problem, TestApp, ADMIN_KEY};

on_both_backends!(nul_in_text_is_refused_and_changes_nothing);

async fn nul_in_text_is_refused_and_changes_nothing(db: TestDb) {
    let app = TestApp::api(db).await;
    let before = app.get("/v1/tenants").await.body["data"].as_array().map(Vec::len);
    let refused = app.post("/v1/tenants", json!({ "name": "Acme\u{0}Corp" })).await;
    assert_problem(&refused, 422, "validation_failed");
    assert_eq!(app.get("/v1/tenants").await.body["data"].as_array().map(Vec::len), before, "no tenant made");

    let t = app.tenant("Acme").await;
    let ep = app.endpoint(&t, "https://example.com/hook").await;
    let ep_path = format!("/v1/tenants/{t}/endpoints/{}", ep["id"].as_str().expect("id"));
    let refused = app.patch(&ep_path, json!({ "description": "a\u{0}b" })).await;
    assert_problem(&refused, 422, "validation_failed");
    assert_eq!(app.get(&ep_path).await.body["description"], ep["description"], "unchanged");
    let refused = app
        .call(Method::POST, &format!("{ep_path}/disable"), Some(ADMIN_KEY), Some(json!({ "reason": "\u{0}" })), &[])
        .await;
    assert_problem(&refused, 422, "validation_failed");
    assert_eq!(app.get(&ep_path).await.body["status"], "enabled", "not disabled");

    // In a query string (the contract test's first finding: an audit filter).
    let refused = app.get(&format!("/v1/tenants/{t}/audit-events?actor=a%00b")).await;
    assert_problem(&refused, 422, "validation_failed");
    let refused = app.get(&format!("/v1/tenants/{t}/messages?event_type=%00")).await;
    assert_problem(&refused, 422, "validation_failed");

    // In a path, where no extractor looks: the database's own refusal is a 422 too
    // (PostgreSQL), or the tier is simply unknown (SQLite); never a 500.
    let answer = app.patch("/v1/tiers/gold%00", json!({ "success_target": 0.99 })).await;
    assert!(
        [StatusCode::NOT_FOUND, StatusCode::UNPROCESSABLE_ENTITY].contains(&answer.status),
        "{}: {:?}",
        answer.status,
        answer.body
    );

    // A payload keeps it, escaped, and gives it back as it came.
    let published = app
        .post(&format!("/v1/tenants/{t}/messages"), json!({ "event_type": "a.b", "payload": { "x": "a\u{0}b" } }))
        .await;
    assert_eq!(published.status, StatusCode::ACCEPTED, "{:?}", published.body);
    let id = published.body["id"].as_str().expect("message id");
    let read = app.get(&format!("/v1/tenants/{t}/messages/{id}")).await;
    assert_eq!(read.body["payload"]["x"], "a\u{0}b");
}
