//! `Idempotency-Key` on every POST: a retried create, rotate or key issue acts once and
//! answers as the first time did; the key used for another request is 422; while its
//! first request is still being answered, 409; keys are each caller's own; a refused
//! request keeps nothing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_engine::service::Idempotent;
use sluice_testkit::{on_both_backends, TestDb};

use crate::harness::{assert_problem, Answer, TestApp, ADMIN_KEY};

on_both_backends!(
    a_retried_post_acts_once_and_answers_the_same,
    a_key_belongs_to_one_request_and_one_caller,
    a_key_whose_first_request_is_being_answered_is_409,
);

async fn post_with_key(app: &TestApp, path: &str, api_key: &str, body: Value, idempotency_key: &str) -> Answer {
    app.call(Method::POST, path, Some(api_key), Some(body), &[("idempotency-key", idempotency_key)]).await
}

fn count(page: &Answer) -> Option<usize> {
    page.body["data"].as_array().map(Vec::len)
}

async fn a_retried_post_acts_once_and_answers_the_same(db: TestDb) {
    let mut app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let endpoints = format!("/v1/tenants/{t}/endpoints");
    let body = json!({ "url": "https://example.com/hook" });
    let first = post_with_key(&app, &endpoints, ADMIN_KEY, body.clone(), "create-hook-1").await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = post_with_key(&app, &endpoints, ADMIN_KEY, body, "create-hook-1").await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body, "the first answer, as it was");
    assert!(first.header("etag").is_some());
    assert_eq!(again.header("etag"), first.header("etag"));
    assert_eq!(again.header("content-type"), Some("application/json"));
    assert_eq!(count(&app.get(&endpoints).await), Some(1), "one endpoint");

    let ep = first.body["id"].as_str().expect("endpoint id");
    let rotate = format!("{endpoints}/{ep}/secret/rotate");
    let rotated = post_with_key(&app, &rotate, ADMIN_KEY, json!({}), "rotate-1").await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    let retried = post_with_key(&app, &rotate, ADMIN_KEY, json!({}), "rotate-1").await;
    assert_eq!(retried.body, rotated.body);
    let rotations = app.get(&format!("/v1/tenants/{t}/events?type=secret.rotated")).await;
    assert_eq!(count(&rotations), Some(1), "rotated once");

    // A new API key's answer carries the key itself: the retry hands back the same
    // one (kept sealed), and only one key was made.
    let keys = format!("/v1/tenants/{t}/api-keys");
    let issued = post_with_key(&app, &keys, ADMIN_KEY, json!({ "name": "ci" }), "key-1").await;
    assert_eq!(issued.status, StatusCode::CREATED, "{:?}", issued.body);
    let reissued = post_with_key(&app, &keys, ADMIN_KEY, json!({ "name": "ci" }), "key-1").await;
    assert_eq!(reissued.body, issued.body);
    assert_eq!(count(&app.get(&keys).await), Some(1), "one key issued");

    // Publish keeps its own keys (on the message): the layer lets it through, so the
    // same key is still free for any other POST.
    let messages = format!("/v1/tenants/{t}/messages");
    let published =
        post_with_key(&app, &messages, ADMIN_KEY, json!({ "event_type": "a.b", "payload": {} }), "shared").await;
    assert_eq!(published.status, StatusCode::ACCEPTED);
    let created = post_with_key(&app, &endpoints, ADMIN_KEY, json!({ "url": "https://example.com/2" }), "shared").await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.header("idempotent-replayed"), None);
    app.stop().await;
}

async fn a_key_belongs_to_one_request_and_one_caller(db: TestDb) {
    let mut app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let endpoints = format!("/v1/tenants/{t}/endpoints");
    let a = json!({ "url": "https://example.com/a" });
    post_with_key(&app, &endpoints, ADMIN_KEY, a.clone(), "k").await;
    let other_body = post_with_key(&app, &endpoints, ADMIN_KEY, json!({ "url": "https://example.com/b" }), "k").await;
    assert_problem(&other_body, 422, "idempotency_key_reused");
    let other_route = post_with_key(&app, "/v1/tenants", ADMIN_KEY, json!({ "name": "Other" }), "k").await;
    assert_problem(&other_route, 422, "idempotency_key_reused");
    let other_query = post_with_key(&app, &format!("{endpoints}?x=1"), ADMIN_KEY, a.clone(), "k").await;
    assert_problem(&other_query, 422, "idempotency_key_reused");
    assert_eq!(count(&app.get(&endpoints).await), Some(1), "nothing acted on");

    // Another caller's "k" is its own key.
    let tenant_key = app.post(&format!("/v1/tenants/{t}/api-keys"), json!({})).await;
    let tenant_key = tenant_key.body["key"].as_str().expect("the new key").to_owned();
    let theirs = post_with_key(&app, &endpoints, &tenant_key, a.clone(), "k").await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    assert_eq!(theirs.header("idempotent-replayed"), None);
    assert_eq!(count(&app.get(&endpoints).await), Some(2));

    // A refused request keeps nothing: the same key with the mistake mended acts.
    let bad = post_with_key(&app, &endpoints, ADMIN_KEY, json!({ "url": "not a url" }), "k2").await;
    assert_problem(&bad, 422, "validation_failed");
    let mended = post_with_key(&app, &endpoints, ADMIN_KEY, json!({ "url": "https://example.com/c" }), "k2").await;
    assert_eq!(mended.status, StatusCode::CREATED);
    for bad_key in ["", "has space", &"k".repeat(256)] {
        let refused = post_with_key(&app, &endpoints, ADMIN_KEY, a.clone(), bad_key).await;
        assert_problem(&refused, 422, "validation_failed");
    }
    assert_eq!(count(&app.get(&endpoints).await), Some(3));
    app.stop().await;
}

/// Another node (here the service, as a request in flight would) holds the key: the
/// retry is told to come back, and acts on nothing.
async fn a_key_whose_first_request_is_being_answered_is_409(db: TestDb) {
    let mut app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let endpoints = format!("/v1/tenants/{t}/endpoints");
    let body = json!({ "url": "https://example.com/a" });
    let caller = app.sluice.authenticate(ADMIN_KEY).await.expect("auth").expect("the admin key");
    let bytes = serde_json::to_vec(&body).expect("json");
    let held = app.sluice.begin_idempotent(&caller, "slow", ("POST", &endpoints, &bytes)).await.expect("begin");
    let Idempotent::Proceed(ticket) = held else { panic!("the key was free") };
    let retry = post_with_key(&app, &endpoints, ADMIN_KEY, body.clone(), "slow").await;
    assert_problem(&retry, 409, "idempotency_key_in_flight");
    assert_eq!(retry.header("retry-after"), Some("1"));
    assert_eq!(count(&app.get(&endpoints).await), Some(0));
    // The first request failed and let the key go: the retry now acts.
    app.sluice.abandon_idempotent(ticket).await.expect("abandon");
    let retry = post_with_key(&app, &endpoints, ADMIN_KEY, body, "slow").await;
    assert_eq!(retry.status, StatusCode::CREATED);
    app.stop().await;
}
