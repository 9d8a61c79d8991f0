//! Portal links over REST and through the dashboard, as a platform and a partner's
//! browser use them, and as an outsider would try them: the link's page uses nothing
//! up, the button opens one session once, the session is the tenant's partner and
//! nobody else, and a read-only one changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sluice_testkit::{on_both_backends, Backend, TestDb};

use crate::dashboard::{open_portal, server_fn, session_from, viewer};
use crate::harness::{assert_problem, TestApp, ADMIN_KEY};

on_both_backends!(a_portal_link_opens_one_partner_session);

/// How many links the audit trail says were made for the tenant.
async fn links_made(app: &TestApp, tenant: &str) -> Option<usize> {
    let path = format!("/v1/tenants/{tenant}/audit-events?action=portal_link.created");
    app.get(&path).await.body["data"].as_array().map(Vec::len)
}

fn token_of(link: &serde_json::Value) -> String {
    let url = link["url"].as_str().expect("url");
    url.rsplit_once("/portal/").expect("a /portal/ URL").1.to_owned()
}

async fn a_portal_link_opens_one_partner_session(db: TestDb) {
    let app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let other = app.tenant("Globex").await;
    let path = format!("/v1/tenants/{t}/portal-links");

    let created = app.call(Method::POST, &path, Some(ADMIN_KEY), None, &[("host", "hooks.example.com")]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.header("cache-control"), Some("no-store"), "the URL is a credential");
    let link = created.body;
    assert!(link["id"].as_str().is_some_and(|id| id.starts_with("pl_")), "{link}");
    assert_eq!(link["tenant_id"], t.as_str());
    assert_eq!(link["read_only"], false);
    assert_eq!(link["session_seconds"], 3600);
    assert!(link["url"].as_str().is_some_and(|u| u.starts_with("http://hooks.example.com/portal/")), "{link}");
    let token = token_of(&link);

    // The page the URL shows is only a button: fetching it (a chat preview, a mail
    // scanner) uses nothing up and sets no cookie.
    let page = app.send(Method::GET, &format!("/portal/{token}"), &[], Vec::new()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("set-cookie"), None);
    assert!(page.body.as_str().is_some_and(|html| html.contains("Open the dashboard")), "{:?}", page.body);

    // The button: a session as the tenant's partner.
    let opened = open_portal(&app, &token).await;
    assert!(opened.status.is_success() || opened.status.is_redirection(), "{}: {:?}", opened.status, opened.body);
    let session = session_from(&app, &opened).await;
    assert!(session.cookie.starts_with("__Host-sluice_session="), "{}", session.cookie);
    let set = opened.header("set-cookie").expect("cookie");
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Secure"), "{set}");
    let max_age: i64 =
        set.split("Max-Age=").nth(1).and_then(|r| r.split(';').next()).expect("Max-Age").parse().expect("a number");
    assert!((3590..=3600).contains(&max_age), "the cookie lasts as long as the session: {max_age}");
    let who = viewer(&app, &session.cookie).await;
    assert_eq!(who["tenant_id"], t.as_str());
    assert_eq!(who["role"], "partner");
    assert_eq!(who["portal"], true);
    assert_eq!(who["read_only"], false);

    // It acts for its tenant, and another tenant does not exist for it.
    let mine = [("tenant", t.as_str()), ("url", "https://example.com/mine")];
    assert_eq!(server_fn(&app, "create_endpoint", Some(&session), &mine).await, StatusCode::OK);
    let theirs = [("tenant", other.as_str()), ("url", "https://example.com/theirs")];
    assert_eq!(server_fn(&app, "create_endpoint", Some(&session), &theirs).await, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/v1/tenants/{other}/endpoints")).await.body["data"], json!([]), "nothing made there");
    // No password to change.
    let change = [("current_password", "x"), ("new_password", "a long new password")];
    assert_eq!(server_fn(&app, "change_password", Some(&session), &change).await, StatusCode::FORBIDDEN);

    // Used up: a second press, a made-up token, an empty one. No cookie for any.
    for token in [token.as_str(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ""] {
        let again = open_portal(&app, token).await;
        assert_eq!(again.status, StatusCode::UNAUTHORIZED, "{token}: {:?}", again.body);
        assert_eq!(again.header("set-cookie"), None);
    }

    // The link's token is not a session, with or without a portal session's prefix.
    for forged in [token.clone(), format!("p.{token}")] {
        assert_eq!(viewer(&app, &format!("__Host-sluice_session={forged}")).await, serde_json::Value::Null);
    }

    // Signing out ends it.
    assert!(server_fn(&app, "sign_out", Some(&session), &[]).await.is_success());
    assert_eq!(viewer(&app, &session.cookie).await, serde_json::Value::Null);
}

#[tokio::test]
async fn who_may_make_portal_links_and_what_they_refuse() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite is always available");
    let app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let other = app.tenant("Globex").await;
    let path = format!("/v1/tenants/{t}/portal-links");
    let key_of = |tenant: &str| format!("/v1/tenants/{tenant}/api-keys");
    let own = app.post(&key_of(&t), json!({})).await.body["key"].as_str().expect("key").to_owned();
    let others = app.post(&key_of(&other), json!({})).await.body["key"].as_str().expect("key").to_owned();

    // The tenant's own key may; another tenant's key meets no such tenant; no key, 401.
    let read_only = json!({ "read_only": true, "expires_in_seconds": 60, "session_seconds": 600 });
    let a = app.call(Method::POST, &path, Some(&own), Some(read_only), &[]).await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    assert_eq!((a.body["read_only"].clone(), a.body["session_seconds"].clone()), (json!(true), json!(600)));
    assert_problem(&app.call(Method::POST, &path, Some(&others), None, &[]).await, 404, "not_found");
    assert_problem(&app.call(Method::POST, &path, None, None, &[]).await, 401, "unauthorized");
    let nobody: sluice_core::ids::TenantId = sluice_engine::ids::new_id();
    let unknown = format!("/v1/tenants/{nobody}/portal-links");
    assert_problem(&app.call(Method::POST, &unknown, Some(ADMIN_KEY), None, &[]).await, 404, "not_found");

    // Bad input: a problem naming the field, and no link (the audit trail counts them).
    let before = links_made(&app, &t).await;
    for (body, field) in [
        (json!({ "expires_in_seconds": 29 }), "expires_in_seconds"),
        (json!({ "expires_in_seconds": 3601 }), "expires_in_seconds"),
        (json!({ "session_seconds": 299 }), "session_seconds"),
        (json!({ "session_seconds": 43_201 }), "session_seconds"),
    ] {
        let refused = app.post(&path, body.clone()).await;
        assert_problem(&refused, 422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["field"], field, "{body}: {:?}", refused.body);
    }
    let refused = app.post(&path, json!({ "tenant_id": other })).await;
    assert!(refused.status.is_client_error(), "an unknown field is refused: {:?}", refused.body);
    assert_eq!(links_made(&app, &t).await, before, "no link made");

    // SLUICE_PUBLIC_URL decides the URL's origin when set, whatever Host says.
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite is always available");
    let public =
        TestApp::builder(db).configure(|c| c.public_url = Some("https://hooks.example.com".into())).build().await;
    let t = public.tenant("Acme").await;
    let a = public
        .call(Method::POST, &format!("/v1/tenants/{t}/portal-links"), Some(ADMIN_KEY), None, &[("host", "evil.test")])
        .await;
    assert!(a.body["url"].as_str().is_some_and(|u| u.starts_with("https://hooks.example.com/portal/")), "{:?}", a.body);
}

#[tokio::test]
async fn opening_a_link_from_another_site_is_refused() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite is always available");
    let app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let link = app.post(&format!("/v1/tenants/{t}/portal-links"), json!({})).await.body;
    let token = token_of(&link);
    // Another site's page posting the form (login CSRF: signing a victim's browser
    // into a session of the attacker's choosing) is refused before anything runs...
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://attacker.example"),
    ];
    let body = crate::dashboard::form(&[("token", &token)]);
    let refused = app.send(Method::POST, "/api/open_portal_link", &headers, body).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.header("set-cookie"), None);
    // ...and the link is still good for the partner it was meant for.
    let opened = open_portal(&app, &token).await;
    assert!(opened.header("set-cookie").is_some(), "{}: {:?}", opened.status, opened.body);
}

#[tokio::test]
async fn revoking_ends_portal_sessions_and_opening_one_ends_the_session_it_replaces() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite is always available");
    let app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let path = format!("/v1/tenants/{t}/portal-links");
    let key = app.post(&format!("/v1/tenants/{t}/api-keys"), json!({})).await.body;
    let (key_id, key) = (key["id"].as_str().expect("id").to_owned(), key["key"].as_str().expect("key").to_owned());

    // A session from a link the tenant's key made ends when the key is revoked.
    let link = app.call(Method::POST, &path, Some(&key), None, &[]).await.body;
    let by_key = session_from(&app, &open_portal(&app, &token_of(&link)).await).await;
    assert_eq!(app.post(&format!("/v1/api-keys/{key_id}/revoke"), json!({})).await.status, StatusCode::OK);
    assert_eq!(viewer(&app, &by_key.cookie).await, serde_json::Value::Null, "ended with its key");

    // DELETE ends every portal session of the tenant.
    let link = app.post(&path, json!({})).await.body;
    let session = session_from(&app, &open_portal(&app, &token_of(&link)).await).await;
    let waiting = token_of(&app.post(&path, json!({})).await.body);
    let revoked = app.call(Method::DELETE, &path, Some(ADMIN_KEY), None, &[]).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{:?}", revoked.body);
    assert_eq!(viewer(&app, &session.cookie).await, serde_json::Value::Null, "ended");
    assert_eq!(open_portal(&app, &waiting).await.status, StatusCode::UNAUTHORIZED, "a waiting link is revoked too");

    // An admin who opens a partner's link is signed out of the admin session, on the
    // server too. (That the page says so first is not checked here: rendering it with
    // a session once took over 30 s in CI under load, cause not yet known.)
    let admin = crate::dashboard::sign_in(&app, "admin@localhost", "test-admin-password").await;
    let token = token_of(&app.post(&path, json!({})).await.body);
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("accept", "application/json"),
        ("cookie", admin.cookie.as_str()),
    ];
    let opened =
        app.send(Method::POST, "/api/open_portal_link", &headers, crate::dashboard::form(&[("token", &token)])).await;
    let partner = session_from(&app, &opened).await;
    assert_eq!(viewer(&app, &partner.cookie).await["role"], "partner");
    assert_eq!(viewer(&app, &admin.cookie).await, serde_json::Value::Null, "the admin session ended");
}
