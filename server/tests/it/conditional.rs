//! Conditional requests over HTTP: every GET of API v1 (found in the OpenAPI
//! description, so a new one cannot slip by) answers an ETag and 304 for it, with the
//! caching its resource is documented to allow; a list's ETag moves when an item on
//! it changes; secrets and keys are never cached; a 304 never answers for what the
//! caller may not read; a PATCH or DELETE naming a stale version changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::{on_both_backends, TestDb};

use crate::harness::{assert_problem, TestApp, ADMIN_KEY};

on_both_backends!(every_get_answers_an_etag_and_304, stale_writes_are_refused_and_change_nothing);

/// The GETs that may never be kept, so carry no ETag.
const NO_STORE: &[&str] =
    &["/v1/tenants/{tenant}/endpoints/{endpoint}/secret", "/v1/api-keys", "/v1/tenants/{tenant}/api-keys"];

async fn conditional_get(app: &TestApp, path: &str, key: &str, etag: &str) -> crate::harness::Answer {
    app.call(Method::GET, path, Some(key), None, &[("if-none-match", etag)]).await
}

async fn every_get_answers_an_etag_and_304(db: TestDb) {
    let app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let ep = app.endpoint(&t, "https://example.com/hook").await["id"].as_str().expect("id").to_owned();
    let published =
        app.post(&format!("/v1/tenants/{t}/messages"), json!({ "event_type": "user.created", "payload": {} })).await;
    let message = published.body["id"].as_str().expect("message").to_owned();
    let deliveries = app.get(&format!("/v1/tenants/{t}/messages/{message}/deliveries")).await;
    let delivery = deliveries.body["data"][0]["delivery"]["id"].as_str().expect("delivery").to_owned();
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let recover = app.post(&format!("/v1/tenants/{t}/endpoints/{ep}/recover"), json!({ "since": since })).await;
    let operation = recover.body["id"].as_str().expect("operation").to_owned();
    let gone = app.tenant("Gone").await;
    let deleted = app.call(Method::DELETE, &format!("/v1/tenants/{gone}"), Some(ADMIN_KEY), None, &[]).await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED, "{:?}", deleted.body);
    let incident = app.open_incident(&t, &ep).await;
    let users = app.get("/v1/users").await;
    let user = users.body["data"][0]["id"].as_str().expect("user").to_owned();
    let ids: Vec<(&str, &str)> = vec![
        ("{tenant}", &t),
        ("{endpoint}", &ep),
        ("{message}", &message),
        ("{delivery}", &delivery),
        ("{operation}", &operation),
        ("{user}", &user),
        ("{incident}", &incident),
        ("{tier}", "standard"),
    ];

    let doc: Value = serde_json::from_str(sluice_server::openapi::document_json()).expect("json");
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().expect("paths") {
        if item.get("get").is_none() {
            continue;
        }
        // A deletion is read at a deleted tenant's path.
        let template_ids =
            if template.ends_with("/deletion") { vec![("{tenant}", gone.as_str())] } else { ids.clone() };
        let path = template_ids.iter().fold(template.clone(), |p, (name, id)| p.replace(name, id));
        assert!(!path.contains('{'), "no id for {template}");
        let first = app.get(&path).await;
        assert_eq!(first.status, StatusCode::OK, "{template}: {:?}", first.body);
        if NO_STORE.contains(&template.as_str()) {
            assert_eq!(first.header("cache-control"), Some("no-store"), "{template}");
            assert_eq!(first.header("etag"), None, "{template}: nothing may keep it");
            assert_eq!(conditional_get(&app, &path, ADMIN_KEY, "*").await.status, StatusCode::OK, "{template}");
            continue;
        }
        let etag = first.header("etag").unwrap_or_else(|| panic!("{template} has no ETag")).to_owned();
        let policy = first.header("cache-control").unwrap_or_default().to_owned();
        assert!(policy.contains("private") || policy.contains("public"), "{template}: {policy}");
        let again = conditional_get(&app, &path, ADMIN_KEY, &etag).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{template}");
        assert_eq!(again.body, Value::Null, "{template}: a 304 has no body");
        assert_eq!(again.header("etag"), Some(etag.as_str()), "{template}");
        assert_eq!(again.header("cache-control"), Some(policy.as_str()), "{template}");
        let other = conditional_get(&app, &path, ADMIN_KEY, "W/\"something-else\"").await;
        assert_eq!(other.status, StatusCode::OK, "{template}");
        checked += 1;
    }
    assert!(checked >= 20, "{checked} GET routes checked");

    // A list's ETag moves when an item on it changes, though neither its newest id
    // nor its length does.
    let list = format!("/v1/tenants/{t}/endpoints");
    let before = app.get(&list).await.header("etag").expect("etag").to_owned();
    let renamed = app.patch(&format!("{list}/{ep}"), json!({ "description": "renamed" })).await;
    assert_eq!(renamed.status, StatusCode::OK);
    let after = conditional_get(&app, &list, ADMIN_KEY, &before).await;
    assert_eq!(after.status, StatusCode::OK, "changed, so answered in full");
    assert_eq!(after.body["data"][0]["description"], "renamed");
    assert_eq!(after.header("vary"), Some("Authorization"));

    // Another tenant's key learns nothing from a validator: it is refused as it
    // would be without one, never answered 304.
    let other = app.tenant("Other").await;
    let key = app.post(&format!("/v1/tenants/{other}/api-keys"), json!({ "name": "theirs" })).await.body["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let theirs = conditional_get(&app, &format!("/v1/tenants/{t}/endpoints/{ep}"), &key, "*").await;
    assert_problem(&theirs, 404, "not_found");
    assert_eq!(theirs.header("cache-control"), Some("no-store"), "errors are not kept");
}

async fn stale_writes_are_refused_and_change_nothing(db: TestDb) {
    let app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let tenant = format!("/v1/tenants/{t}");
    let read = app.get(&tenant).await;
    assert_eq!(read.header("etag"), Some("\"1\""));
    assert_eq!(read.body["version"], 1);

    // Each versioned resource: a write naming the version read applies and answers
    // the next; a second write naming the old one is 412 and changes nothing; a
    // malformed If-Match is 400.
    let user = app
        .post(
            "/v1/users",
            json!({ "email": "sue@example.com", "password": "a long enough password", "role": "support" }),
        )
        .await;
    assert_eq!(user.header("etag"), Some("\"1\""), "{:?}", user.body);
    let user = format!("/v1/users/{}", user.body["id"].as_str().expect("user"));
    let ep = app.endpoint(&t, "https://example.com/hook").await["id"].as_str().expect("id").to_owned();
    let endpoint = format!("{tenant}/endpoints/{ep}");
    let cases = [
        (tenant.clone(), json!({ "name": "Acme 2" }), json!({ "name": "Acme 3" }), "name"),
        (
            "/v1/tiers/standard".to_owned(),
            json!({ "latency_target_ms": 20000 }),
            json!({ "latency_target_ms": 30000 }),
            "latency_target_ms",
        ),
        (user.clone(), json!({ "role": "admin" }), json!({ "role": "support" }), "role"),
        (endpoint.clone(), json!({ "description": "mine" }), json!({ "description": "theirs" }), "description"),
    ];
    for (path, first, second, field) in cases {
        let etag = app.get(&path).await.header("etag").expect("etag").to_owned();
        let applied =
            app.call(Method::PATCH, &path, Some(ADMIN_KEY), Some(first.clone()), &[("if-match", &etag)]).await;
        assert_eq!(applied.status, StatusCode::OK, "{path}: {:?}", applied.body);
        let next = applied.header("etag").expect("etag").to_owned();
        assert_ne!(next, etag, "{path}");
        assert_eq!(Some(next.as_str()), app.get(&path).await.header("etag"), "{path}");
        let stale = app.call(Method::PATCH, &path, Some(ADMIN_KEY), Some(second), &[("if-match", &etag)]).await;
        assert_problem(&stale, 412, "precondition_failed");
        assert_eq!(app.get(&path).await.body[field], first[field], "{path}: the stale write changed nothing");
        let garbled = app.call(Method::PATCH, &path, Some(ADMIN_KEY), Some(first), &[("if-match", "yesterday")]).await;
        assert_problem(&garbled, 400, "bad_request");
    }

    // DELETE too: a stale version keeps the user and the endpoint.
    for path in [user, endpoint] {
        let stale = app.call(Method::DELETE, &path, Some(ADMIN_KEY), None, &[("if-match", "\"1\"")]).await;
        assert_problem(&stale, 412, "precondition_failed");
        let etag = app.get(&path).await.header("etag").expect("still there").to_owned();
        let deleted = app.call(Method::DELETE, &path, Some(ADMIN_KEY), None, &[("if-match", &etag)]).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{path}: {:?}", deleted.body);
        assert_problem(&app.get(&path).await, 404, "not_found");
    }
}
