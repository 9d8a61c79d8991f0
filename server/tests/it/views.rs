//! What the dashboard's pages show is offered over REST too: endpoint health and a
//! message's deliveries with their attempts, within the caller's tenant only.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use sluice_testkit::{on_both_backends, Receiver, Reply, TestDb};

use crate::harness::{assert_problem, TestApp};

on_both_backends!(endpoint_health_and_message_deliveries_over_rest);

async fn endpoint_health_and_message_deliveries_over_rest(db: TestDb) {
    let mut app = TestApp::start(db).await;
    let (ok_rx, failing_rx) = (Receiver::start().await, Receiver::start().await);
    failing_rx.set_default(Reply::Status(500));
    let t = app.tenant("Acme").await;
    let good = app.endpoint(&t, &ok_rx.url()).await["id"].as_str().expect("id").to_owned();
    let bad = app.endpoint(&t, &failing_rx.url()).await["id"].as_str().expect("id").to_owned();
    let m = app.post(&format!("/v1/tenants/{t}/messages"), json!({ "event_type": "a.b", "payload": {} })).await;
    let m = m.body["id"].as_str().expect("id").to_owned();
    assert!(ok_rx.wait_for(1, Duration::from_secs(10)).await);
    assert!(failing_rx.wait_for(1, Duration::from_secs(10)).await);

    // The failed first attempt is recorded in a batch shortly after the request.
    let mut detail = serde_json::Value::Null;
    for _ in 0..100 {
        detail = app.get(&format!("/v1/tenants/{t}/messages/{m}/deliveries")).await.body;
        let attempts = |d: &serde_json::Value| d["attempts"].as_array().map_or(0, Vec::len);
        if detail["data"].as_array().is_some_and(|ds| ds.len() == 2 && ds.iter().all(|d| attempts(d) >= 1)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deliveries = detail["data"].as_array().expect("data");
    let of = |id: &str| deliveries.iter().find(|d| d["delivery"]["endpoint_id"] == id).expect("delivery");
    assert_eq!(of(&good)["endpoint_url"], ok_rx.url().as_str());
    assert_eq!(of(&good)["attempts"][0]["response_status"], 200);
    assert_eq!(of(&bad)["attempts"][0]["response_status"], 500);

    let health = app.get(&format!("/v1/tenants/{t}/endpoints/health")).await;
    assert_eq!(health.body["window_hours"], 24);
    let rows = health.body["data"].as_array().expect("data");
    let row = |id: &str| rows.iter().find(|r| r["endpoint_id"] == id).expect("row");
    assert_eq!(row(&good)["succeeded"], 1);
    assert_eq!(row(&bad)["last_response_status"], 500);
    // As every other resource spells an error class on the wire.
    let class = serde_json::to_value(sluice_core::model::ErrorClass::Http5xx).expect("class");
    assert_eq!(row(&bad)["last_error_class"], class);

    // Another tenant's key sees neither (404, as for anything of another tenant).
    let other = app.tenant("Other").await;
    let key = app.post(&format!("/v1/tenants/{other}/api-keys"), json!({})).await.body["key"]
        .as_str()
        .expect("key")
        .to_owned();
    for path in [format!("/v1/tenants/{t}/endpoints/health"), format!("/v1/tenants/{t}/messages/{m}/deliveries")] {
        assert_problem(&app.call(Method::GET, &path, Some(&key), None, &[]).await, 404, "not_found");
    }
    app.stop().await;
}
