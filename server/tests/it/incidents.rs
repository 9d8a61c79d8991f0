//! `/v1/tenants/{tenant}/incidents` and `/v1/incidents` over HTTP: listed and read by
//! the tenant's own key and operators, acknowledged once by whoever says so first,
//! summarised as time to detect and recover; another tenant's key finds none of it,
//! and bad filters are problem+json that change nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sluice_testkit::{on_both_backends, TestDb};

use crate::harness::{assert_problem, TestApp};

on_both_backends!(
    incidents_are_listed_read_acknowledged_and_summarised,
    opening_the_incidents_page_acknowledges_unless_another_site_sent_the_browser,
    pages_render_while_other_routers_are_built,
);

async fn incidents_are_listed_read_acknowledged_and_summarised(db: TestDb) {
    let app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let ep = app.endpoint(&t, "https://example.com/hook").await["id"].as_str().expect("id").to_owned();
    let id = app.open_incident(&t, &ep).await;
    assert!(id.starts_with("inc_"), "{id}");
    let key = app.post(&format!("/v1/tenants/{t}/api-keys"), json!({ "name": "ops" })).await.body["key"]
        .as_str()
        .expect("key")
        .to_owned();

    // The tenant's own key reads it: open, detected by the circuit, not yet seen.
    let list = app.call(Method::GET, &format!("/v1/tenants/{t}/incidents"), Some(&key), None, &[]).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    let listed = &list.body["data"][0];
    assert_eq!((listed["id"].as_str(), listed["state"].as_str()), (Some(id.as_str()), Some("open")));
    assert_eq!(listed["cause"], "circuit_opened");
    assert_eq!(listed["endpoint_id"], ep.as_str());
    assert!(listed["acknowledged_at"].is_null());
    assert!(listed["time_to_detect_seconds"].is_number());
    let resolved = app.get(&format!("/v1/tenants/{t}/incidents?state=resolved")).await;
    assert_eq!(resolved.body["data"], json!([]));

    // Acknowledged once, by the caller; again changes nothing.
    let path = format!("/v1/tenants/{t}/incidents/{id}");
    let acked = app.call(Method::POST, &format!("{path}/acknowledge"), Some(&key), None, &[]).await;
    assert_eq!(acked.status, StatusCode::OK, "{:?}", acked.body);
    let when = acked.body["acknowledged_at"].clone();
    assert!(when.is_string());
    assert!(acked.body["acknowledged_by"].as_str().is_some_and(|by| by.starts_with("key_")), "{:?}", acked.body);
    let again = app.post(&format!("{path}/acknowledge"), json!({})).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["acknowledged_at"], when, "the first look counts");
    assert_eq!(app.get(&path).await.body["acknowledged_at"], when);

    let stats = app.get(&format!("/v1/tenants/{t}/incidents/stats")).await;
    assert_eq!(stats.status, StatusCode::OK, "{:?}", stats.body);
    assert_eq!(stats.body["open_now"], 1);
    assert_eq!(stats.body["last_7_days"]["opened"], 1);
    assert_eq!(stats.body["last_30_days"]["days"], 30);
    assert!(stats.body["last_7_days"]["time_to_recover"]["median_seconds"].is_null(), "nothing recovered yet");
    let platform = app.get("/v1/incidents/stats").await;
    assert_eq!(platform.body["open_now"], 1);
    let everyone = app.get("/v1/incidents?state=open").await;
    assert_eq!(everyone.body["data"][0]["id"], id.as_str());

    // Another tenant's key: not found, whatever it asks; operators' lists are not its.
    let other = app.tenant("Other").await;
    let theirs = app.post(&format!("/v1/tenants/{other}/api-keys"), json!({ "name": "x" })).await.body["key"]
        .as_str()
        .expect("key")
        .to_owned();
    for (method, p) in [
        (Method::GET, format!("/v1/tenants/{t}/incidents")),
        (Method::GET, path.clone()),
        (Method::POST, format!("{path}/acknowledge")),
        (Method::GET, format!("/v1/tenants/{other}/incidents/{id}")),
    ] {
        let refused = app.call(method, &p, Some(&theirs), None, &[]).await;
        assert_problem(&refused, 404, "not_found");
    }
    let own = app.call(Method::GET, &format!("/v1/tenants/{other}/incidents"), Some(&theirs), None, &[]).await;
    assert_eq!(own.body["data"], json!([]));
    let all = app.call(Method::GET, "/v1/incidents", Some(&theirs), None, &[]).await;
    assert_eq!(all.status, StatusCode::FORBIDDEN, "{:?}", all.body);

    for (query, field) in [("state=closed", "state"), ("endpoint_id=msg_x", "endpoint_id"), ("limit=0", "limit")] {
        let refused = app.get(&format!("/v1/tenants/{t}/incidents?{query}")).await;
        assert_problem(&refused, 422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["field"], field, "{query}");
    }
    assert_problem(&app.get(&format!("/v1/tenants/{t}/incidents/inc_nonsense")).await, 404, "not_found");
    assert_eq!(app.get(&format!("/v1/tenants/{t}/incidents?colour=red")).await.status, StatusCode::BAD_REQUEST);
}

async fn opening_the_incidents_page_acknowledges_unless_another_site_sent_the_browser(db: TestDb) {
    let app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let ep = app.endpoint(&t, "https://example.com/hook").await["id"].as_str().expect("id").to_owned();
    let id = app.open_incident(&t, &ep).await;
    let user = json!({ "email": "sue@ops.test", "password": "a long enough password", "role": "support" });
    assert_eq!(app.post("/v1/users", user).await.status, StatusCode::CREATED);
    let session = crate::dashboard::sign_in(&app, "sue@ops.test", "a long enough password").await;
    let page = format!("/tenants/{t}/incidents");
    let incident = format!("/v1/tenants/{t}/incidents/{id}");

    // A link on another site: the page is shown, nobody is recorded as having looked.
    let headers = [("cookie", session.cookie.as_str()), ("sec-fetch-site", "cross-site")];
    let shown = app.send(Method::GET, &page, &headers, Vec::new()).await;
    assert_eq!(shown.status, StatusCode::OK, "{:?} {:?}", shown.headers, shown.body);
    assert!(app.get(&incident).await.body["acknowledged_at"].is_null(), "another site arranged that look");

    let headers = [("cookie", session.cookie.as_str()), ("sec-fetch-site", "same-origin")];
    let shown = app.send(Method::GET, &page, &headers, Vec::new()).await;
    assert_eq!(shown.status, StatusCode::OK, "{:?} {:?}", shown.headers, shown.body);
    let seen = app.get(&incident).await;
    assert!(seen.body["acknowledged_at"].is_string(), "{:?}", seen.body);
    assert!(seen.body["acknowledged_by"].as_str().is_some_and(|by| by.starts_with("usr_")));
}

/// Building a router lists the dashboard's routes, which leptos does by rendering the
/// app with resources held back by a flag of the whole process. Pages rendered
/// meanwhile by another router of the process (the tests build one each) waited for
/// resources that never loaded, 408 after 30 s: this test's renders hung unless the
/// routes were listed once per process.
async fn pages_render_while_other_routers_are_built(db: TestDb) {
    let timeout = std::time::Duration::from_secs(10);
    let app = TestApp::builder(db).configure(|c| c.http_request_timeout = timeout).build().await;
    let t = app.tenant("Acme").await;
    let ep = app.endpoint(&t, "https://example.com/hook").await["id"].as_str().expect("id").to_owned();
    app.open_incident(&t, &ep).await;
    let user = json!({ "email": "sue@ops.test", "password": "a long enough password", "role": "support" });
    assert_eq!(app.post("/v1/users", user).await.status, StatusCode::CREATED);
    let session = crate::dashboard::sign_in(&app, "sue@ops.test", "a long enough password").await;
    let app = std::sync::Arc::new(app);
    let page = format!("/tenants/{t}/incidents");
    let building = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (app, page, cookie, building) = (app.clone(), page.clone(), session.cookie.clone(), building.clone());
        tasks.spawn(async move {
            let mut answers = Vec::new();
            while building.load(std::sync::atomic::Ordering::Relaxed) {
                let headers = [("cookie", cookie.as_str()), ("sec-fetch-site", "cross-site")];
                answers.push(app.send(Method::GET, &page, &headers, Vec::new()).await.status);
            }
            answers
        });
    }
    // Other servers of this process start meanwhile, as other tests' do.
    for _ in 0..6 {
        let other = TestApp::api(TestDb::new(sluice_testkit::Backend::Sqlite).await.expect("sqlite")).await;
        drop(other);
    }
    building.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut answers = Vec::new();
    while let Some(done) = tasks.join_next().await {
        answers.extend(done.expect("joined"));
    }
    assert!(!answers.is_empty());
    let hung: Vec<_> = answers.iter().filter(|s| **s != StatusCode::OK).collect();
    assert!(hung.is_empty(), "{} of {} renders failed: {hung:?}", hung.len(), answers.len());
}
