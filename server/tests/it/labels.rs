//! Endpoint labels, on both backends: set, replaced and cleared through the API, bad
//! ones refused per field with nothing changed, and delivery success by label on the
//! tenant overview after real deliveries to a receiver that succeeds and one that
//! fails.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use sluice_testkit::{on_both_backends, Receiver, Reply, TestDb};

use crate::harness::{assert_problem, TestApp, ADMIN_KEY};

on_both_backends!(labels_are_set_replaced_and_refused_per_field, the_overview_shows_success_by_label);

async fn labels_are_set_replaced_and_refused_per_field(db: TestDb) {
    let app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let body = json!({ "url": "https://example.com/erp", "labels": { "kind": "erp", "region": "eu" } });
    let created = app.post(&format!("/v1/tenants/{t}/endpoints"), body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["labels"], json!({ "kind": "erp", "region": "eu" }));
    let e = created.body["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/tenants/{t}/endpoints/{e}");
    assert_eq!(app.get(&path).await.body["labels"], json!({ "kind": "erp", "region": "eu" }));

    let replaced = app.patch(&path, json!({ "labels": { "kind": "crm" } })).await;
    assert_eq!(replaced.status, StatusCode::OK, "{:?}", replaced.body);
    assert_eq!(replaced.body["labels"], json!({ "kind": "crm" }), "a PATCH replaces every label");
    let version = replaced.body["version"].clone();

    let many: serde_json::Map<String, serde_json::Value> = (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
    for (labels, field) in [
        (json!({ "Kind": "erp" }), "labels.Kind"),
        (json!({ "kind": "" }), "labels.kind"),
        (json!({ "kind": "x".repeat(65) }), "labels.kind"),
        (json!({ "9lives": "x" }), "labels.9lives"),
        (serde_json::Value::Object(many), "labels"),
    ] {
        let refused = app.patch(&path, json!({ "labels": labels.clone() })).await;
        assert_problem(&refused, 422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["field"], field, "{labels}: {:?}", refused.body);
        let create = json!({ "url": "https://example.com/x", "labels": labels });
        assert_problem(&app.post(&format!("/v1/tenants/{t}/endpoints"), create).await, 422, "validation_failed");
    }
    let not_text = app.patch(&path, json!({ "labels": { "kind": 7 } })).await;
    assert!(not_text.status.is_client_error(), "{:?}", not_text.body);
    let after = app.get(&path).await;
    assert_eq!((after.body["labels"].clone(), after.body["version"].clone()), (json!({ "kind": "crm" }), version));
    let listed = app.get(&format!("/v1/tenants/{t}/endpoints")).await;
    assert_eq!(listed.body["data"][0]["labels"], json!({ "kind": "crm" }));

    let cleared = app.patch(&path, json!({ "labels": {} })).await;
    assert_eq!(cleared.body["labels"], json!({}));
}

async fn the_overview_shows_success_by_label(db: TestDb) {
    let mut app = TestApp::start(db).await;
    let ok = Receiver::start().await;
    ok.set_default(Reply::Status(204));
    let broken = Receiver::start().await;
    broken.set_default(Reply::Status(500));
    let t = app.tenant("Acme").await;
    let none = app.get(&format!("/v1/tenants/{t}/overview")).await;
    assert_eq!(none.body["by_label"], json!([]), "no labels, no table");
    for (url, labels) in [(ok.url(), json!({ "kind": "erp" })), (broken.url(), json!({ "kind": "crm", "team": "b" }))] {
        let body = json!({ "url": url, "labels": labels, "retry_schedule_seconds": [] });
        let a = app.post(&format!("/v1/tenants/{t}/endpoints"), body).await;
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    }
    for i in 0..2 {
        let a =
            app.post(&format!("/v1/tenants/{t}/messages"), json!({ "event_type": "a", "payload": { "i": i } })).await;
        assert_eq!(a.status, StatusCode::ACCEPTED);
    }
    assert!(ok.wait_for(2, Duration::from_secs(20)).await && broken.wait_for(2, Duration::from_secs(20)).await);
    app.wait_idle().await;
    let overview = app.call(Method::GET, &format!("/v1/tenants/{t}/overview"), Some(ADMIN_KEY), None, &[]).await;
    assert_eq!(
        overview.body["by_label"],
        json!([
            { "label": "kind=crm", "endpoints": 1, "succeeded": 0, "failed": 2 },
            { "label": "kind=erp", "endpoints": 1, "succeeded": 2, "failed": 0 },
            { "label": "team=b", "endpoints": 1, "succeeded": 0, "failed": 2 },
        ]),
        "{:?}",
        overview.body
    );
    app.stop().await;
}
