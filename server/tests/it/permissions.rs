//! The permission matrix (docs/permissions.md) walked route by route: every REST route
//! for every kind of API caller, and the dashboard's server functions that change
//! something for every kind of signed-in user. A cell that is wrong here is a hole
//! (or a locked door) in production.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::{Backend, TestDb};

use crate::dashboard::{server_fn, Session};
use crate::harness::{TestApp, ADMIN_KEY};

/// What a caller gets: allowed (2xx), forbidden (403), hidden (404: another tenant's
/// resources do not exist for you), or unauthenticated (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gets {
    Ok,
    Forbidden,
    Hidden,
    Unauthenticated,
}
use Gets::{Forbidden as F, Hidden as H, Ok as A, Unauthenticated as U};

fn gets(status: StatusCode) -> Option<Gets> {
    match status.as_u16() {
        200..=299 => Some(A),
        401 => Some(U),
        403 => Some(F),
        404 => Some(H),
        _ => None,
    }
}

struct World {
    app: TestApp,
    tenant: String,
    endpoint: String,
    message: String,
    delivery: String,
    operation: String,
    own_key: String,
    other_key: String,
}

fn an_hour_ago() -> String {
    (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339()
}

async fn post(app: &TestApp, path: &str, body: Value) -> Value {
    let a = app.call(Method::POST, path, Some(ADMIN_KEY), Some(body), &[]).await;
    assert!(a.status.is_success(), "{path}: {} {}", a.status, a.body);
    a.body
}

async fn world() -> World {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite is always available");
    let app = TestApp::api(db).await;
    let tenant = post(&app, "/v1/tenants", json!({ "name": "Acme" })).await["id"].as_str().expect("id").to_owned();
    let other = post(&app, "/v1/tenants", json!({ "name": "Globex" })).await["id"].as_str().expect("id").to_owned();
    let ep = post(&app, &format!("/v1/tenants/{tenant}/endpoints"), json!({ "url": "https://example.com/hook" })).await;
    let endpoint = ep["id"].as_str().expect("id").to_owned();
    let m = post(&app, &format!("/v1/tenants/{tenant}/messages"), json!({ "event_type": "a.b", "payload": {} })).await;
    let message = m["id"].as_str().expect("id").to_owned();
    let d = app.get(&format!("/v1/tenants/{tenant}/deliveries")).await;
    let delivery = d.body["data"][0]["id"].as_str().unwrap_or_else(|| panic!("a delivery: {}", d.body)).to_owned();
    let op =
        post(&app, &format!("/v1/tenants/{tenant}/endpoints/{endpoint}/recover"), json!({ "since": an_hour_ago() }))
            .await;
    let operation = op["id"].as_str().expect("id").to_owned();
    let own_key =
        post(&app, &format!("/v1/tenants/{tenant}/api-keys"), json!({})).await["key"].as_str().expect("key").to_owned();
    let other_key =
        post(&app, &format!("/v1/tenants/{other}/api-keys"), json!({})).await["key"].as_str().expect("key").to_owned();
    World { app, tenant, endpoint, message, delivery, operation, own_key, other_key }
}

/// Every REST route, for: a platform key, the tenant's own key, another tenant's key,
/// and no key. (REST takes API keys only; a dashboard session is not a REST credential.)
#[tokio::test]
async fn every_rest_route_for_every_kind_of_key() {
    let w = world().await;
    let (t, e, m, d, op) = (&w.tenant, &w.endpoint, &w.message, &w.delivery, &w.operation);
    let te = format!("/v1/tenants/{t}/endpoints/{e}");
    let user = json!({ "email": "kept@ops.test", "password": "long enough password", "role": "support" });
    let u = post(&w.app, "/v1/users", user).await["id"].as_str().expect("id").to_owned();
    let routes: Vec<(Method, String, Option<Value>, [Gets; 4])> = vec![
        (Method::POST, "/v1/tenants".into(), Some(json!({ "name": "New" })), [A, F, F, U]),
        (Method::GET, "/v1/tenants".into(), None, [A, A, A, U]),
        (Method::GET, format!("/v1/tenants/{t}"), None, [A, A, H, U]),
        (Method::PATCH, format!("/v1/tenants/{t}"), Some(json!({ "backlog_cap": 100000 })), [A, F, F, U]),
        (Method::GET, format!("/v1/tenants/{t}/overview"), None, [A, A, H, U]),
        (
            Method::POST,
            format!("/v1/tenants/{t}/endpoints"),
            Some(json!({ "url": "https://example.com/x" })),
            [A, A, H, U],
        ),
        (Method::GET, format!("/v1/tenants/{t}/endpoints"), None, [A, A, H, U]),
        (Method::GET, format!("/v1/tenants/{t}/endpoints/health"), None, [A, A, H, U]),
        (Method::GET, te.clone(), None, [A, A, H, U]),
        (Method::PATCH, te.clone(), Some(json!({ "description": "changed" })), [A, A, H, U]),
        (Method::POST, format!("{te}/disable"), Some(json!({})), [A, A, H, U]),
        (Method::POST, format!("{te}/enable"), None, [A, A, H, U]),
        (Method::POST, format!("{te}/enable-and-recover"), None, [A, A, H, U]),
        (Method::POST, format!("{te}/test"), None, [A, A, H, U]),
        (Method::GET, format!("{te}/secret"), None, [A, A, H, U]),
        (Method::POST, format!("{te}/secret/rotate"), Some(json!({})), [A, A, H, U]),
        (Method::POST, format!("{te}/recover"), Some(json!({ "since": an_hour_ago() })), [A, A, H, U]),
        (
            Method::POST,
            format!("/v1/tenants/{t}/messages"),
            Some(json!({ "event_type": "a.b", "payload": {} })),
            [A, A, H, U],
        ),
        (Method::GET, format!("/v1/tenants/{t}/messages"), None, [A, A, H, U]),
        (Method::GET, format!("/v1/tenants/{t}/messages/{m}"), None, [A, A, H, U]),
        (Method::GET, format!("/v1/tenants/{t}/messages/{m}/deliveries"), None, [A, A, H, U]),
        (Method::POST, format!("/v1/tenants/{t}/messages/{m}/replay"), Some(json!({})), [A, A, H, U]),
        (Method::GET, format!("/v1/tenants/{t}/deliveries"), None, [A, A, H, U]),
        (Method::GET, format!("/v1/tenants/{t}/deliveries/{d}"), None, [A, A, H, U]),
        (Method::GET, format!("/v1/tenants/{t}/deliveries/{d}/attempts"), None, [A, A, H, U]),
        (Method::GET, format!("/v1/operations/{op}"), None, [A, A, H, U]),
        (Method::GET, format!("/v1/tenants/{t}/operations"), None, [A, A, H, U]),
        (Method::POST, format!("/v1/operations/{op}/cancel"), None, [A, A, H, U]),
        // Keys: issued and revoked by the platform only, so a leaked tenant key
        // cannot mint itself a successor.
        (Method::POST, format!("/v1/tenants/{t}/api-keys"), Some(json!({})), [A, F, F, U]),
        (Method::GET, format!("/v1/tenants/{t}/api-keys"), None, [A, A, H, U]),
        (Method::POST, format!("/v1/tenants/{t}/portal-links"), Some(json!({ "read_only": true })), [A, A, H, U]),
        (Method::DELETE, format!("/v1/tenants/{t}/portal-links"), None, [A, A, H, U]),
        (Method::POST, "/v1/api-keys".into(), Some(json!({})), [A, F, F, U]),
        (Method::GET, "/v1/api-keys".into(), None, [A, F, F, U]),
        (Method::GET, "/v1/tiers".into(), None, [A, A, A, U]),
        (Method::GET, "/v1/nodes".into(), None, [A, F, F, U]),
        (Method::GET, "/metrics".into(), None, [A, F, F, U]),
        (Method::GET, "/v1/audit-events".into(), None, [A, F, F, U]),
        (Method::GET, format!("/v1/tenants/{t}/audit-events"), None, [A, A, H, U]),
        (Method::GET, "/v1/events".into(), None, [A, F, F, U]),
        (Method::GET, format!("/v1/tenants/{t}/events"), None, [A, A, H, U]),
        (Method::PATCH, "/v1/tiers/standard".into(), Some(json!({ "success_target": 0.99 })), [A, F, F, U]),
        (
            Method::POST,
            "/v1/users".into(),
            Some(json!({ "email": "x@y.test", "password": "long enough password", "role": "support" })),
            [A, F, F, U],
        ),
        (Method::GET, "/v1/users".into(), None, [A, F, F, U]),
        (Method::PATCH, format!("/v1/users/{u}"), Some(json!({ "disabled": false })), [A, F, F, U]),
        (
            Method::POST,
            format!("/v1/users/{u}/password"),
            Some(json!({ "password": "another long password" })),
            [A, F, F, U],
        ),
    ];
    let callers: [Option<&str>; 4] = [Some(ADMIN_KEY), Some(&w.own_key), Some(&w.other_key), None];
    let mut wrong = Vec::new();
    // The unauthenticated and the other tenant first, then the own tenant, the
    // platform last: a cell that wrongly allows a change shows as a wrong cell, not
    // as a conflict in the next caller's row.
    for (method, path, body, expected) in &routes {
        for i in [3, 2, 1, 0] {
            let a = w.app.call(method.clone(), path, callers[i], body.clone(), &[]).await;
            let got = gets(a.status);
            // POST /v1/users twice with one email is a 409 for the second allowed
            // caller; only the platform is allowed, so it meets none.
            if got != Some(expected[i]) {
                wrong.push(format!(
                    "{method} {path} as caller {i}: expected {:?}, got {} {}",
                    expected[i], a.status, a.body
                ));
            }
        }
    }

    // Revoking and deleting change what the next caller would meet: one fresh
    // target per caller.
    for (i, expected) in [(3, U), (2, F), (1, F), (0, A)] {
        let k =
            post(&w.app, &format!("/v1/tenants/{t}/api-keys"), json!({})).await["id"].as_str().expect("id").to_owned();
        let a = w.app.call(Method::POST, &format!("/v1/api-keys/{k}/revoke"), callers[i], None, &[]).await;
        if gets(a.status) != Some(expected) {
            wrong.push(format!("revoke as caller {i}: expected {expected:?}, got {}", a.status));
        }
    }
    for (i, expected) in [(3, U), (2, H), (1, A), (0, A)] {
        let ep = post(&w.app, &format!("/v1/tenants/{t}/endpoints"), json!({ "url": "https://example.com/d" })).await;
        let path = format!("/v1/tenants/{t}/endpoints/{}", ep["id"].as_str().expect("id"));
        let a = w.app.call(Method::DELETE, &path, callers[i], None, &[]).await;
        if gets(a.status) != Some(expected) {
            wrong.push(format!("DELETE endpoint as caller {i}: expected {expected:?}, got {}", a.status));
        }
    }
    assert!(wrong.is_empty(), "{} wrong cells:\n{}", wrong.len(), wrong.join("\n"));
}

/// The session a new portal link of `tenant` opens.
async fn portal_session(app: &TestApp, tenant: &str, read_only: bool) -> Session {
    let link = post(app, &format!("/v1/tenants/{tenant}/portal-links"), json!({ "read_only": read_only })).await;
    let url = link["url"].as_str().expect("url");
    let token = url.rsplit('/').next().expect("token");
    crate::dashboard::session_from(app, &crate::dashboard::open_portal(app, token).await).await
}

/// A server function, its form fields, and what each kind of user gets.
type ServerFnCase = (&'static str, Vec<(&'static str, String)>, [Gets; 8]);

/// The dashboard's server functions that change something, for: an admin, support,
/// a partner of the tenant, a partner of another tenant, someone signed out, the
/// sessions two portal links of the tenant opened, one full, one read-only, and the
/// session a link of another tenant opened.
/// The findings: support changed another tenant's endpoint URL and created
/// endpoints; a partner minted a tenant API key and revoked the platform's.
#[tokio::test]
async fn every_changing_server_function_for_every_kind_of_user() {
    let w = world().await;
    let app = &w.app;
    let other = post(app, "/v1/tenants", json!({ "name": "Initech" })).await["id"].as_str().expect("id").to_owned();
    let password = "a long enough password";
    for (email, role, tenant) in [
        ("sue@ops.test", "support", None),
        ("pat@acme.test", "partner", Some(&w.tenant)),
        ("oz@initech.test", "partner", Some(&other)),
    ] {
        post(app, "/v1/users", json!({ "email": email, "password": password, "role": role, "tenant_id": tenant }))
            .await;
    }
    let users = [
        Some(crate::dashboard::sign_in(app, "admin@localhost", "test-admin-password").await),
        Some(crate::dashboard::sign_in(app, "sue@ops.test", password).await),
        Some(crate::dashboard::sign_in(app, "pat@acme.test", password).await),
        Some(crate::dashboard::sign_in(app, "oz@initech.test", password).await),
        None,
        Some(portal_session(app, &w.tenant, false).await),
        Some(portal_session(app, &w.tenant, true).await),
        Some(portal_session(app, &other, false).await),
    ];
    let (t, e, m) = (w.tenant.as_str(), w.endpoint.as_str(), w.message.as_str());
    let op = w.operation.as_str();
    let target = json!({ "email": "target@ops.test", "password": password, "role": "support" });
    let target = post(app, "/v1/users", target).await["id"].as_str().expect("id").to_owned();
    let cases: Vec<ServerFnCase> = vec![
        (
            "create_endpoint",
            vec![("tenant", t.into()), ("url", "https://example.com/new".into())],
            [A, F, A, H, U, A, F, H],
        ),
        (
            "set_endpoint_enabled",
            vec![("tenant", t.into()), ("endpoint", e.into()), ("enabled", "true".into())],
            [A, F, A, H, U, A, F, H],
        ),
        ("enable_and_recover", vec![("tenant", t.into()), ("endpoint", e.into())], [A, F, A, H, U, A, F, H]),
        ("reveal_secrets", vec![("tenant", t.into()), ("endpoint", e.into())], [A, F, A, H, U, A, F, H]),
        (
            "rotate_secret",
            vec![("tenant", t.into()), ("endpoint", e.into()), ("grace_period_seconds", "0".into())],
            [A, F, A, H, U, A, F, H],
        ),
        ("send_test", vec![("tenant", t.into()), ("endpoint", e.into())], [A, A, A, H, U, A, F, H]),
        ("replay", vec![("tenant", t.into()), ("message", m.into())], [A, A, A, H, U, A, F, H]),
        (
            "start_recover",
            vec![
                ("tenant", t.into()),
                ("endpoint", e.into()),
                ("since", (chrono::Utc::now() - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M").to_string()),
            ],
            [A, A, A, H, U, A, F, H],
        ),
        ("cancel_recover", vec![("operation", op.into())], [A, A, A, H, U, A, F, H]),
        ("issue_api_key", vec![("name", "k".into()), ("scope", t.into())], [A, F, F, F, U, F, F, F]),
        ("issue_api_key", vec![("name", "k".into()), ("scope", "platform".into())], [A, F, F, F, U, F, F, F]),
        ("add_tenant", vec![("name", "Hooli".into()), ("tier", "standard".into())], [A, F, F, F, U, F, F, F]),
        (
            "set_tenant_quotas",
            vec![("tenant", t.into()), ("max_endpoints", "".into()), ("max_api_keys", "".into())],
            [A, F, F, F, U, F, F, F],
        ),
        ("set_tenant_tier", vec![("tenant", t.into()), ("tier", "standard".into())], [A, F, F, F, U, F, F, F]),
        ("set_tenant_notices", vec![("tenant", t.into()), ("auto_disable_hours", "".into())], [A, F, F, F, U, F, F, F]),
        (
            "save_tier",
            vec![("tier", "standard".into()), ("success_percent", "99".into()), ("latency_seconds", "5".into())],
            [A, F, F, F, U, F, F, F],
        ),
        (
            "set_user_disabled",
            vec![("user_id", target.clone()), ("disabled", "false".into())],
            [A, F, F, F, U, F, F, F],
        ),
        ("change_user_role", vec![("user_id", target.clone()), ("role", "support".into())], [A, F, F, F, U, F, F, F]),
        (
            "set_user_password",
            vec![("user_id", target.clone()), ("password", "another long password".into())],
            [A, F, F, F, U, F, F, F],
        ),
    ];
    let mut wrong = Vec::new();
    for (name, args, expected) in &cases {
        for i in [4, 3, 7, 6, 5, 2, 1, 0] {
            let pairs: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let status = server_fn(app, name, users[i].as_ref(), &pairs).await;
            if gets(status) != Some(expected[i]) {
                wrong.push(format!("{name} as user {i}: expected {:?}, got {status}", expected[i]));
            }
        }
    }
    // Editing (the URL, notably) and revoking keys, with a fresh target each time.
    for (i, expected) in [(4, U), (3, H), (7, H), (1, F), (6, F), (5, A), (2, A), (0, A)] {
        let v = app.get(&format!("/v1/tenants/{t}/endpoints/{e}")).await.body["version"].as_i64().expect("version");
        let args = [("tenant", t), ("endpoint", e), ("version", &v.to_string()), ("url", "https://attacker.example/x")];
        let status = server_fn(app, "edit_endpoint", users[i].as_ref(), &args).await;
        if gets(status) != Some(expected) {
            wrong.push(format!("edit_endpoint as user {i}: expected {expected:?}, got {status}"));
        }
    }
    for (i, expected) in [(4, U), (3, F), (2, F), (1, F), (5, F), (6, F), (7, F), (0, A)] {
        let k = post(app, &format!("/v1/tenants/{t}/api-keys"), json!({})).await["id"].as_str().expect("id").to_owned();
        let status = server_fn(app, "revoke_api_key", users[i].as_ref(), &[("key_id", &k)]).await;
        if gets(status) != Some(expected) {
            wrong.push(format!("revoke_api_key as user {i}: expected {expected:?}, got {status}"));
        }
    }
    assert!(wrong.is_empty(), "{} wrong cells:\n{}", wrong.len(), wrong.join("\n"));
}
