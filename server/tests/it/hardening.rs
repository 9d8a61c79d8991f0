//! HTTP hardening as an attacker meets it: slow headers and slow bodies cut off,
//! connections capped, the body limit on server functions too, safety headers on
//! every answer, forwarding headers believed only from trusted proxies, and a session
//! cookie that cannot be planted or read over plain http.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use sluice_server::origin::TrustedProxies;
use sluice_testkit::{Backend, TestDb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::dashboard::form;
use crate::harness::{TestApp, ADMIN_KEY};

async fn sqlite() -> TestDb {
    TestDb::new(Backend::Sqlite).await.expect("SQLite is always available")
}

/// Signs in through the dashboard's server function, as a browser without script would.
async fn sign_in(app: &TestApp, email: &str, password: &str, forwarded_for: Option<&str>) -> crate::harness::Answer {
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    if let Some(xff) = forwarded_for {
        headers.push(("x-forwarded-for", xff));
    }
    app.send(Method::POST, "/api/sign_in", &headers, form(&[("email", email), ("password", password)])).await
}

#[tokio::test]
async fn every_answer_carries_the_safety_headers() {
    let app = TestApp::api(sqlite().await).await;
    let api = app.call(Method::GET, "/v1/tenants", Some(ADMIN_KEY), None, &[]).await;
    assert_eq!(api.status, StatusCode::OK);
    assert_eq!(api.header("content-security-policy").map(|v| v.starts_with("default-src 'none'")), Some(true));
    assert_eq!(api.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(api.header("x-frame-options"), Some("DENY"));
    assert_eq!(api.header("referrer-policy"), Some("same-origin"));
    assert_eq!(api.header("cache-control"), Some("private, no-cache"), "the caller's own, revalidated each time");
    assert_eq!(api.header("strict-transport-security"), None, "not over plain http");
    let missing = app.call(Method::GET, "/v1/nothing-here", None, None, &[]).await;
    assert_eq!(missing.header("x-content-type-options"), Some("nosniff"), "errors too");
    assert_eq!(missing.header("cache-control"), Some("no-store"), "errors are never kept");

    // A page: its policy allows only scripts carrying this response's nonce.
    let page = app.send(Method::GET, "/sign-in", &[], Vec::new()).await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = page.header("content-security-policy").expect("a page has a policy").to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let scripts = csp.split(';').find(|d| d.trim().starts_with("script-src")).expect("script-src");
    assert!(!scripts.contains("'unsafe-inline'") && !scripts.contains(" 'unsafe-eval'"), "{csp}");
    let nonce = csp.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("nonce in policy");
    let html = page.body.as_str().expect("html").to_owned();
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration script carries the policy's nonce: {csp}\n{}",
        &html[..html.len().min(1500)]
    );
    let other = app.send(Method::GET, "/sign-in", &[], Vec::new()).await;
    assert!(!other.header("content-security-policy").unwrap_or("").contains(nonce), "a new nonce per response");
}

/// A support ticket quotes the id in an error; the header and the problem body agree,
/// a client's own id is kept, and a hostile one is replaced, not logged.
#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = TestApp::api(sqlite().await).await;
    let ok = app.call(Method::GET, "/v1/tenants", Some(ADMIN_KEY), None, &[]).await;
    let generated = ok.header("x-request-id").expect("an id on every answer").to_owned();
    assert!(generated.starts_with("req_"), "{generated}");

    let mine = app.call(Method::GET, "/v1/tenants", Some(ADMIN_KEY), None, &[("x-request-id", "trace-42.a:b")]).await;
    assert_eq!(mine.header("x-request-id"), Some("trace-42.a:b"), "a sane client id is kept");

    let problem = app.call(Method::GET, "/v1/nothing-here", None, None, &[("x-request-id", "ticket-7")]).await;
    assert_eq!(problem.status, StatusCode::NOT_FOUND);
    assert_eq!(problem.body["request_id"], "ticket-7", "{}", problem.body);
    let unauthorized = app.call(Method::GET, "/v1/tenants", Some("sk_wrong"), None, &[]).await;
    assert_eq!(unauthorized.body["request_id"].as_str(), unauthorized.header("x-request-id"));

    let hostile = "x\"}, {\"admin\": true";
    let replaced = app.call(Method::GET, "/v1/tenants", Some(ADMIN_KEY), None, &[("x-request-id", hostile)]).await;
    let id = replaced.header("x-request-id").expect("id");
    assert!(id.starts_with("req_") && id != generated, "replaced by a fresh one: {id}");
    let long = "a".repeat(500);
    let replaced = app.call(Method::GET, "/v1/tenants", Some(ADMIN_KEY), None, &[("x-request-id", &long)]).await;
    assert!(replaced.header("x-request-id").is_some_and(|id| id.starts_with("req_")));
}

#[tokio::test]
async fn hsts_only_when_a_trusted_proxy_says_https() {
    let https = [("x-forwarded-proto", "https")];
    let untrusted = TestApp::api(sqlite().await).await;
    let a = untrusted.call(Method::GET, "/livez", None, None, &https).await;
    assert_eq!(a.header("strict-transport-security"), None, "anyone can send X-Forwarded-Proto");

    let behind_proxy = TestApp::builder(sqlite().await)
        .configure(|c| c.trusted_proxies = TrustedProxies::parse("127.0.0.1").expect("list"))
        .build()
        .await;
    let a = behind_proxy.call(Method::GET, "/livez", None, None, &https).await;
    assert!(a.header("strict-transport-security").is_some_and(|v| v.contains("max-age=")));
}

/// Before: server functions had their own 2 MB limit, and a 3 MB body answered 500.
#[tokio::test]
async fn server_functions_take_the_body_limit() {
    let app = TestApp::api(sqlite().await).await;
    let mut body = form(&[("email", "admin@localhost"), ("password", "x")]);
    body.extend(std::iter::repeat_n(b'a', 3 * 1024 * 1024));
    let a =
        app.send(Method::POST, "/api/sign_in", &[("content-type", "application/x-www-form-urlencoded")], body).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.header("content-type"), Some("application/problem+json"));
}

#[tokio::test]
async fn the_session_cookie_is_host_prefixed_and_secure() {
    let app = TestApp::api(sqlite().await).await;
    let a = sign_in(&app, "admin@localhost", "test-admin-password", None).await;
    let cookie = a.header("set-cookie").expect("a session cookie").to_owned();
    assert!(cookie.starts_with("__Host-sluice_session="), "{cookie}");
    assert!(cookie.contains("; Secure") && cookie.contains("HttpOnly") && cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Domain="), "{cookie}");
}

/// A stranger cannot dodge the throttle by inventing X-Forwarded-For, nor lock the
/// owner out: behind a trusted proxy, each client's address is its own.
#[tokio::test]
async fn forwarding_headers_decide_the_throttled_address_only_from_trusted_proxies() {
    let app = TestApp::api(sqlite().await).await;
    for i in 0..5 {
        let a = sign_in(&app, "admin@localhost", "wrong password", Some(&format!("198.51.100.{i}"))).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let a = sign_in(&app, "admin@localhost", "wrong password", Some("198.51.100.99")).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "a made-up X-Forwarded-For is not a new address");
    assert!(a.header("retry-after").is_some());

    let app = TestApp::builder(sqlite().await)
        .configure(|c| c.trusted_proxies = TrustedProxies::parse("127.0.0.0/8").expect("list"))
        .build()
        .await;
    for _ in 0..5 {
        let a = sign_in(&app, "admin@localhost", "wrong password", Some("198.51.100.7")).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let a = sign_in(&app, "admin@localhost", "test-admin-password", Some("198.51.100.7")).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "the guessing address waits");
    let a = sign_in(&app, "admin@localhost", "test-admin-password", Some("203.0.113.20")).await;
    assert!(a.header("set-cookie").is_some_and(|c| c.contains("sluice_session=")), "the owner gets in: {:?}", a.status);
}

/// Before: no header timeout; 1,500 half-sent requests stayed open past 45 s.
#[tokio::test]
async fn slow_headers_are_cut_off() {
    let app = TestApp::builder(sqlite().await)
        .configure(|c| c.http_limits.header_timeout = Duration::from_secs(1))
        .with_engine()
        .build()
        .await;
    let mut conn = TcpStream::connect(app.addr()).await.expect("connect");
    conn.write_all(b"GET /livez HTTP/1.1\r\nHost: sluice\r\n").await.expect("half a request");
    let mut buf = [0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the connection is closed, not left waiting: {read:?}");
}

#[tokio::test]
async fn slow_bodies_are_answered_408() {
    let app = TestApp::builder(sqlite().await)
        .configure(|c| c.http_request_timeout = Duration::from_secs(1))
        .with_engine()
        .build()
        .await;
    let mut conn = TcpStream::connect(app.addr()).await.expect("connect");
    let head = format!(
        "POST /v1/tenants HTTP/1.1\r\nHost: sluice\r\nAuthorization: Bearer {ADMIN_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":"
    );
    conn.write_all(head.as_bytes()).await.expect("headers and a little body");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "answered and closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_one_to_close() {
    let app =
        TestApp::builder(sqlite().await).configure(|c| c.http_limits.max_connections = 2).with_engine().build().await;
    let holders =
        [TcpStream::connect(app.addr()).await.expect("one"), TcpStream::connect(app.addr()).await.expect("two")];
    let mut third = TcpStream::connect(app.addr()).await.expect("the kernel queues the third");
    third.write_all(b"GET /livez HTTP/1.1\r\nHost: sluice\r\nConnection: close\r\n\r\n").await.expect("request");
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(300), third.read(&mut buf)).await;
    assert!(early.is_err(), "not served while two connections hold the cap");
    drop(holders);
    let n = tokio::time::timeout(Duration::from_secs(10), third.read(&mut buf)).await.expect("served").expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
}
