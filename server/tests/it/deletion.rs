//! Deleting a tenant over HTTP: a stale `If-Match` changes nothing; from the answer
//! on the tenant is gone for every caller and its keys, partners and traffic stop;
//! the retention job then removes its data while another tenant's stays; the audit
//! trail keeps the record.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use sluice_testkit::{eventually, on_both_backends, Receiver, TestDb};

use crate::harness::{assert_problem, TestApp, ADMIN_KEY};

on_both_backends!(a_deleted_tenant_is_gone_at_once_and_its_data_soon_after);

async fn a_deleted_tenant_is_gone_at_once_and_its_data_soon_after(db: TestDb) {
    let mut app = TestApp::start(db).await;
    let rx = Receiver::start().await;
    let doomed = app.tenant("Doomed").await;
    let kept = app.tenant("Kept").await;
    let mut messages = Vec::new();
    for t in [&doomed, &kept] {
        app.endpoint(t, &rx.url()).await;
        let m = app.post(&format!("/v1/tenants/{t}/messages"), json!({ "event_type": "a.b", "payload": {} })).await;
        messages.push(m.body["id"].as_str().expect("message").to_owned());
    }
    assert!(rx.wait_for(2, Duration::from_secs(10)).await, "both delivered");
    let key = app.post(&format!("/v1/tenants/{doomed}/api-keys"), json!({ "name": "own" })).await.body["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let partner = app
        .post(
            "/v1/users",
            json!({ "email": "p@doomed.test", "password": "a long enough password", "role": "partner", "tenant_id": doomed }),
        )
        .await;
    let partner = format!("/v1/users/{}", partner.body["id"].as_str().expect("user"));
    let tenant = format!("/v1/tenants/{doomed}");

    // Its own key may not delete it; a stale version changes nothing.
    assert_problem(&app.call(Method::DELETE, &tenant, Some(&key), None, &[]).await, 403, "forbidden");
    app.patch(&tenant, json!({ "name": "Doomed, renamed" })).await;
    let stale = app.call(Method::DELETE, &tenant, Some(ADMIN_KEY), None, &[("if-match", "\"1\"")]).await;
    assert_problem(&stale, 412, "precondition_failed");
    assert_eq!(app.get(&tenant).await.status, StatusCode::OK, "still there");

    let etag = app.get(&tenant).await.header("etag").expect("etag").to_owned();
    let deleted = app.call(Method::DELETE, &tenant, Some(ADMIN_KEY), None, &[("if-match", &etag)]).await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED, "{:?}", deleted.body);
    let progress = format!("{tenant}/deletion");
    assert_eq!(deleted.header("location"), Some(progress.as_str()));
    assert!(matches!(deleted.body["state"].as_str(), Some("deleting" | "deleted")), "{:?}", deleted.body);

    // Gone at once, for every caller and every way in.
    assert_problem(&app.get(&tenant).await, 404, "not_found");
    let listed = app.get("/v1/tenants").await;
    assert!(!listed.body.to_string().contains(&doomed), "not listed");
    let publish = json!({ "event_type": "a.b", "payload": {} });
    assert_problem(&app.post(&format!("{tenant}/messages"), publish.clone()).await, 404, "not_found");
    let own = app.call(Method::GET, &format!("{tenant}/messages"), Some(&key), None, &[]).await;
    assert_problem(&own, 401, "unauthorized");
    let again = app.call(Method::DELETE, &tenant, Some(ADMIN_KEY), None, &[]).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "asking again answers where it stands");

    // The retention job removes its data; the other tenant's stays.
    let purged = eventually(Duration::from_secs(20), || async { app.get(&progress).await.body["state"] == "deleted" });
    assert!(purged.await, "{:?}", app.get(&progress).await.body);
    let done = app.get(&progress).await.body;
    assert_eq!(done["messages_left"], 0);
    assert!(done["finished_at"].is_string());
    assert_problem(&app.get(&partner).await, 404, "not_found");
    let kept_message = app.get(&format!("/v1/tenants/{kept}/messages/{}", messages[1])).await;
    assert_eq!(kept_message.status, StatusCode::OK, "another tenant's data stays");
    let deliveries = app.get(&format!("/v1/tenants/{kept}/deliveries")).await;
    assert_eq!(deliveries.body["data"].as_array().map(Vec::len), Some(1));
    let audit = app.get(&format!("/v1/audit-events?action=tenant.deleted&tenant_id={doomed}")).await;
    assert_eq!(audit.body["data"].as_array().map(Vec::len), Some(1), "{:?}", audit.body);
    app.stop().await;
}
