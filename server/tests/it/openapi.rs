//! The OpenAPI description: the checked-in copy is what the code describes, it is
//! served without a key with its reference page, and every route of API v1 is in it.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sluice_testkit::{Backend, TestDb};

use crate::harness::TestApp;

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");

/// Fails when the code's description and docs/openapi.json differ. To accept the
/// change: `SLUICE_UPDATE_OPENAPI=1 cargo test -p sluice-server openapi`, or
/// `sluice openapi > docs/openapi.json`.
#[test]
fn the_checked_in_description_is_the_codes() {
    let current = sluice_server::openapi::document_json();
    if std::env::var_os("SLUICE_UPDATE_OPENAPI").is_some() {
        std::fs::write(CHECKED_IN, current).expect("write docs/openapi.json");
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        checked_in == current,
        "docs/openapi.json is not what the code describes; run SLUICE_UPDATE_OPENAPI=1 cargo test -p sluice-server \
         openapi and commit the result"
    );
}

#[test]
fn every_operation_has_an_id_a_summary_and_its_errors() {
    let doc: Value = serde_json::from_str(sluice_server::openapi::document_json()).expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        assert!(path.starts_with("/v1/"), "{path}");
        for (method, op) in item.as_object().expect("path item") {
            operations += 1;
            let at = format!("{method} {path}");
            assert!(op["operationId"].is_string(), "{at} has no operationId");
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{at} has no summary");
            let responses = op["responses"].as_object().expect("responses");
            assert!(responses.keys().any(|s| s.starts_with('2')), "{at} has no success");
            if op.get("security").is_none() {
                for status in ["400", "401", "403", "500", "503"] {
                    let problem = &responses[status]["content"]["application/problem+json"]["schema"]["$ref"];
                    assert_eq!(problem, "#/components/schemas/Problem", "{at} lacks its {status}");
                }
            }
            if path.contains('{') && op.get("security").is_none() {
                assert!(responses.contains_key("404"), "{at} names ids, so it can be 404");
            }
            if let Some(body) = op["requestBody"]["content"]["application/json"]["schema"].as_object() {
                assert!(!body.contains_key("oneOf"), "{at}: a body that may be left out is optional, not null");
            }
            for response in responses.values() {
                for (name, link) in response["links"].as_object().into_iter().flatten() {
                    assert_eq!(link["operationId"], name.as_str(), "{at}: link {name} names no operation");
                    assert!(link.get("operation_id").is_none(), "{at}: link {name} is misspelled");
                }
            }
            if method == "post" {
                let params = op["parameters"].as_array().expect("a POST has parameters");
                assert!(params.iter().any(|p| p["name"] == "Idempotency-Key"), "{at} takes Idempotency-Key");
                assert!(responses.contains_key("409") && responses.contains_key("422"), "{at}");
            }
        }
    }
    assert!(operations >= 45, "only {operations} operations described");
    // A new tenant links to its endpoints, an endpoint to its test event, a message to
    // its deliveries, a delivery to its attempts: the path a contract tester follows.
    let links = |path: &str, method: &str, status: &str| -> Vec<String> {
        doc["paths"][path][method]["responses"][status]["links"]
            .as_object()
            .map(|l| l.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert!(links("/v1/tenants", "post", "201").contains(&"create_endpoint".to_owned()));
    assert!(links("/v1/tenants/{tenant}/endpoints", "post", "201").contains(&"send_test_event".to_owned()));
    assert!(links("/v1/tenants/{tenant}/messages", "post", "202").contains(&"list_message_deliveries".to_owned()));
    assert!(links("/v1/tenants/{tenant}/deliveries", "get", "200").contains(&"list_attempts".to_owned()));
    let to_attempts =
        &doc["paths"]["/v1/tenants/{tenant}/deliveries"]["get"]["responses"]["200"]["links"]["list_attempts"];
    assert_eq!(to_attempts["parameters"]["delivery"], "$response.body#/data/0/id");
    assert_eq!(to_attempts["parameters"]["tenant"], "$response.body#/data/0/tenant_id");
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"].as_array().expect("error codes");
    assert!(codes.iter().any(|c| c == "idempotency_key_in_flight"), "{codes:?}");
}

/// Routes are registered from their `#[utoipa::path]` (`routes!`), never with a bare
/// `.route(...)`, which would serve a path the description does not have.
#[test]
fn no_v1_route_bypasses_the_description() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/v1");
    for entry in std::fs::read_dir(dir).expect("src/v1") {
        let path = entry.expect("entry").path();
        let source = std::fs::read_to_string(&path).expect("source");
        assert!(!source.contains(".route("), "{} registers a route outside the description", path.display());
    }
}

#[tokio::test]
async fn the_description_and_its_reference_page_are_served_without_a_key() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite is always available");
    let app = TestApp::api(db).await;
    let served = app.call(Method::GET, "/v1/openapi.json", None, None, &[]).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.header("content-type"), Some("application/json"));
    let described: Value = serde_json::from_str(sluice_server::openapi::document_json()).expect("json");
    assert_eq!(served.body, described);

    let page = app.call(Method::GET, "/v1/reference", None, None, &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("default-src 'none'") && !csp.contains("script"), "{csp}");
    let html = page.body.as_str().expect("html");
    for item in described["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("item").values() {
            let id = op["operationId"].as_str().expect("id");
            assert!(html.contains(&format!("id=\"{id}\"")), "the page lacks {id}");
        }
    }
    assert!(html.contains("id=\"schema-Endpoint\""), "the page lists the schemas");
}

/// Every described operation is routed: with no key it is refused as unauthorized,
/// never "no such route" (404) or "method not allowed" (405).
#[tokio::test]
async fn every_described_operation_is_routed() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite is always available");
    let app = TestApp::api(db).await;
    let doc: Value = serde_json::from_str(sluice_server::openapi::document_json()).expect("json");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let concrete = path
            .replace("{tenant}", "tn_01JC3Z8Q5G7XKQ2V9M4T6W8Y0A")
            .replace("{endpoint}", "ep_01JC3Z8Q5G7XKQ2V9M4T6W8Y0A")
            .replace("{message}", "msg_01JC3Z8Q5G7XKQ2V9M4T6W8Y0A")
            .replace("{delivery}", "dlv_01JC3Z8Q5G7XKQ2V9M4T6W8Y0A")
            .replace("{operation}", "op_01JC3Z8Q5G7XKQ2V9M4T6W8Y0A")
            .replace("{key}", "key_01JC3Z8Q5G7XKQ2V9M4T6W8Y0A")
            .replace("{user}", "usr_01JC3Z8Q5G7XKQ2V9M4T6W8Y0A")
            .replace("{incident}", "inc_01JC3Z8Q5G7XKQ2V9M4T6W8Y0A")
            .replace("{tier}", "standard");
        assert!(!concrete.contains('{'), "{path} has an id this test does not fill in");
        for (method, op) in item.as_object().expect("item") {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let answer = app.call(method.clone(), &concrete, None, None, &[]).await;
            let retired = sluice_server::deprecation::lookup(&method, path)
                .is_some_and(|d| d.is_past_sunset(sluice_server::deprecation::now_unix()));
            let expected = if op.get("security").is_some() {
                StatusCode::OK
            } else if retired {
                StatusCode::GONE
            } else {
                StatusCode::UNAUTHORIZED
            };
            assert_eq!(answer.status, expected, "{method} {concrete}: {:?}", answer.body);
        }
    }
}
