//! `GET /v1/tenants/{tenant}/events` and `GET /v1/events`: the lifecycle events the
//! services write, read back filtered by type, subject and time, in cursor pages.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sluice_testkit::{on_both_backends, TestDb};

use crate::harness::{assert_problem, TestApp};

on_both_backends!(lifecycle_events_are_listed_filtered_and_paged);

fn types(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .map_or_else(Vec::new, |events| events.iter().filter_map(|e| e["type"].as_str().map(str::to_owned)).collect())
}

async fn lifecycle_events_are_listed_filtered_and_paged(db: TestDb) {
    let mut app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let other = app.tenant("Other").await;
    let ep = app.post(&format!("/v1/tenants/{t}/endpoints"), json!({ "url": "https://example.com/a" })).await;
    let ep = ep.body["id"].as_str().expect("endpoint id").to_owned();
    let path = format!("/v1/tenants/{t}/endpoints/{ep}");
    app.post(&format!("{path}/disable"), json!({ "reason": "maintenance" })).await;
    app.post(&format!("{path}/enable"), json!({})).await;
    app.post(&format!("{path}/secret/rotate"), json!({})).await;
    app.post(&format!("/v1/tenants/{other}/endpoints"), json!({ "url": "https://example.com/b" })).await;

    let events = format!("/v1/tenants/{t}/events");
    let all = app.get(&events).await;
    assert_eq!(all.status, StatusCode::OK, "{:?}", all.body);
    assert_eq!(
        types(&all.body),
        ["secret.revealed", "secret.rotated", "endpoint.enabled", "endpoint.disabled", "endpoint.created"],
        "newest first, only this tenant's (the rotation's answer shows the new secret: revealed)"
    );
    let first = &all.body["data"][4];
    assert_eq!(first["subject_id"], ep.as_str());
    assert_eq!(first["tenant_id"], t.as_str());
    assert!(first["id"].as_str().is_some_and(|id| id.starts_with("evt_")));
    assert!(first["actor"].as_str().is_some_and(|a| !a.is_empty()), "who did it");

    let endpoint_only = app.get(&format!("{events}?type=endpoint")).await;
    assert_eq!(types(&endpoint_only.body), ["endpoint.enabled", "endpoint.disabled", "endpoint.created"]);
    let rotated = app.get(&format!("{events}?type=secret.rotated&subject_id={ep}")).await;
    assert_eq!(types(&rotated.body), ["secret.rotated"]);
    let elsewhere = app.get(&format!("{events}?subject_id=ep_01J00000000000000000000000")).await;
    assert_eq!(types(&elsewhere.body), Vec::<String>::new());
    let future = app.get(&format!("{events}?since=2999-01-01T00:00:00Z")).await;
    assert_eq!(types(&future.body), Vec::<String>::new());
    let past = app.get(&format!("{events}?until=2000-01-01T00:00:00Z")).await;
    assert_eq!(types(&past.body), Vec::<String>::new());

    // Pages of two, following the cursor: every event once.
    let mut seen = Vec::new();
    let mut url = format!("{events}?limit=2");
    loop {
        let page = app.get(&url).await;
        assert_eq!(page.status, StatusCode::OK);
        seen.extend(page.body["data"].as_array().expect("data").iter().map(|e| e["id"].to_string()));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => url = format!("{events}?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 5, "no event twice across pages");

    for (query, field) in [
        ("type=endpoint.%25", "type"),
        ("type=message.published", "type"),
        ("since=yesterday", "since"),
        ("since=2026-11-26T12:00:00Z&until=2026-11-26T11:00:00Z", "until"),
        ("limit=0", "limit"),
    ] {
        let refused = app.get(&format!("{events}?{query}")).await;
        assert_problem(&refused, 422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["field"], field, "{query}");
    }
    let unknown = app.get(&format!("{events}?colour=red")).await;
    assert_eq!(unknown.status.as_u16(), 400, "unknown parameters, as on every listing: {:?}", unknown.body);

    // Operators read every tenant's.
    let everyone = app.get("/v1/events?type=endpoint.created").await;
    assert_eq!(types(&everyone.body).len(), 2, "both tenants' endpoints");
    app.stop().await;
}
