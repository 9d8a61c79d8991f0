//! The dashboard's forms act once per submission: a form sent twice with its
//! idempotency key (a double click, a browser resending) creates or queues once and
//! gives the first answer again; the key with other fields is refused; a failed
//! submission keeps nothing; without a key every post acts (as before keys).

use reqwest::StatusCode;
use serde_json::json;
use sluice_testkit::{on_both_backends, TestDb};

use crate::dashboard::{call, sign_in};
use crate::harness::TestApp;

on_both_backends!(a_form_sent_twice_acts_once);

async fn endpoint_count(app: &TestApp, tenant: &str) -> Option<usize> {
    app.get(&format!("/v1/tenants/{tenant}/endpoints")).await.body["data"].as_array().map(Vec::len)
}

async fn a_form_sent_twice_acts_once(db: TestDb) {
    let app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let admin = sign_in(&app, "admin@localhost", "test-admin-password").await;

    let first = [("tenant", t.as_str()), ("url", "https://example.com/a"), ("idempotency_key", "page1.create.0")];
    let a = call(&app, "create_endpoint", Some(&admin), &first).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let again = call(&app, "create_endpoint", Some(&admin), &first).await;
    assert_eq!((again.status, &again.body), (StatusCode::OK, &a.body), "the first answer, again");
    assert_eq!(endpoint_count(&app, &t).await, Some(1), "one endpoint for two posts");

    // The key with other fields: refused, nothing made.
    let other = [("tenant", t.as_str()), ("url", "https://example.com/b"), ("idempotency_key", "page1.create.0")];
    let refused = call(&app, "create_endpoint", Some(&admin), &other).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", refused.body);
    assert_eq!(refused.body["code"], "idempotency_key_reused", "{:?}", refused.body);
    assert_eq!(endpoint_count(&app, &t).await, Some(1));

    // A failed submission keeps nothing: mended, the same key acts.
    let bad = [("tenant", t.as_str()), ("url", "ftp://example.com/c"), ("idempotency_key", "page1.create.1")];
    assert_eq!(call(&app, "create_endpoint", Some(&admin), &bad).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mended = [("tenant", t.as_str()), ("url", "https://example.com/c"), ("idempotency_key", "page1.create.1")];
    let ok = call(&app, "create_endpoint", Some(&admin), &mended).await;
    assert_eq!(ok.status, StatusCode::OK, "the failed first let its key go: {:?}", ok.body);
    assert_eq!(endpoint_count(&app, &t).await, Some(2));

    // A replay and a test event, sent twice each: one of each.
    let endpoint = a.body.as_str().expect("the new endpoint's id").to_owned();
    let m = app.post(&format!("/v1/tenants/{t}/messages"), json!({ "event_type": "a.b", "payload": {} })).await;
    let message = m.body["id"].as_str().expect("id").to_owned();
    let replay = [("tenant", t.as_str()), ("message", message.as_str()), ("idempotency_key", "page2.replay.0")];
    let test = [("tenant", t.as_str()), ("endpoint", endpoint.as_str()), ("idempotency_key", "page3.test.0")];
    for _ in 0..2 {
        assert_eq!(call(&app, "replay", Some(&admin), &replay).await.status, StatusCode::OK);
        assert_eq!(call(&app, "send_test", Some(&admin), &test).await.status, StatusCode::OK);
    }
    let kinds = app.get(&format!("/v1/tenants/{t}/events?type=replay.requested")).await.body;
    assert_eq!(kinds["data"].as_array().map(Vec::len), Some(1), "one replay: {kinds}");
    let tests = app.get(&format!("/v1/tenants/{t}/messages?event_type=sluice.test")).await.body;
    assert_eq!(tests["data"].as_array().map(Vec::len), Some(1), "one test event: {tests}");

    // Keys are the caller's own: another user's same key is another submission.
    app.post("/v1/users", json!({ "email": "sue@ops.test", "password": "a long enough password", "role": "support" }))
        .await;
    let support = sign_in(&app, "sue@ops.test", "a long enough password").await;
    assert_eq!(call(&app, "send_test", Some(&support), &test).await.status, StatusCode::OK);
    let tests = app.get(&format!("/v1/tenants/{t}/messages?event_type=sluice.test")).await.body;
    assert_eq!(tests["data"].as_array().map(Vec::len), Some(2), "support's own: {tests}");

    // Without a key, every post acts, as a script posting by hand expects.
    let plain = [("tenant", t.as_str()), ("endpoint", endpoint.as_str())];
    for _ in 0..2 {
        assert_eq!(call(&app, "send_test", Some(&admin), &plain).await.status, StatusCode::OK);
    }
    let tests = app.get(&format!("/v1/tenants/{t}/messages?event_type=sluice.test")).await.body;
    assert_eq!(tests["data"].as_array().map(Vec::len), Some(4), "{tests}");
}
