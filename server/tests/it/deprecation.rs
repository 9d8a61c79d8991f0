//! A deprecated route, on a real rename (`endpoint-health` → `endpoints/health`):
//! it still answers, the same as its successor, and every answer says it is
//! deprecated, when it goes and where to instead; the description marks it.

use reqwest::StatusCode;
use serde_json::Value;
use sluice_testkit::{Backend, TestDb};

use crate::harness::TestApp;

#[tokio::test]
async fn a_renamed_route_answers_with_its_deprecation() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite is always available");
    let app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    app.endpoint(&t, "https://example.com/hook").await;

    let old = app.get(&format!("/v1/tenants/{t}/endpoint-health")).await;
    let new = app.get(&format!("/v1/tenants/{t}/endpoints/health")).await;
    assert_eq!(new.status, StatusCode::OK);
    let entry = &sluice_server::deprecation::DEPRECATED[0];
    if entry.is_past_sunset(sluice_server::deprecation::now_unix()) {
        // After 2027-06-01 (the layer's own test covers both sides on any date).
        assert_eq!(old.status, StatusCode::GONE);
        assert_eq!(old.body["code"], "gone");
    } else {
        assert_eq!(old.status, StatusCode::OK);
        assert_eq!(old.body, new.body, "the same answer at both names");
    }

    assert_eq!(old.header("deprecation"), Some("@1795651200"), "RFC 9745: @ and Unix seconds");
    assert_eq!(old.header("sunset"), Some("Tue, 01 Jun 2027 00:00:00 GMT"), "RFC 8594: an HTTP date");
    let links: Vec<&str> = old.headers.get_all("link").iter().filter_map(|v| v.to_str().ok()).collect();
    assert!(
        links.contains(&format!("</v1/tenants/{t}/endpoints/health>; rel=\"successor-version\"").as_str()),
        "{links:?}"
    );
    assert!(links.iter().any(|l| l.contains("rel=\"deprecation\"")), "{links:?}");
    for name in ["deprecation", "sunset", "link"] {
        assert_eq!(new.header(name), None, "the successor is not deprecated ({name})");
    }

    let doc: Value = serde_json::from_str(sluice_server::openapi::document_json()).expect("json");
    let old_op = &doc["paths"]["/v1/tenants/{tenant}/endpoint-health"]["get"];
    assert_eq!(old_op["deprecated"], true);
    assert!(old_op["responses"]["410"].is_object(), "it documents its 410 after the sunset");
    assert!(old_op["responses"]["200"]["headers"]["Sunset"].is_object());
    assert!(old_op["description"].as_str().is_some_and(|d| d.contains("/v1/tenants/{tenant}/endpoints/health")));
    assert!(doc["paths"]["/v1/tenants/{tenant}/endpoints/health"]["get"].get("deprecated").is_none());

    let page = app.call(reqwest::Method::GET, "/v1/reference", None, None, &[]).await;
    let html = page.body.as_str().expect("html");
    let section = html.split("id=\"deprecations\"").nth(1).expect("a deprecations section");
    assert!(section.contains("#get_endpoint_health"), "the section lists the deprecated route");
}
