//! Starts a Sluice server in-process (or as a child process) and talks to it over HTTP.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_server::{Running, ServerConfig};
use sluice_testkit::TestDb;

pub const ADMIN_KEY: &str = "sk_test_platform_key_0123456789";

pub struct TestApp {
    /// Held so the database outlives the server; dropped (and removed) with the app.
    _db: TestDb,
    pub base: String,
    pub client: reqwest::Client,
    pub running: Option<Running>,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub fn config(db_url: &str) -> ServerConfig {
    let mut engine = sluice_engine::EngineConfig {
        database_url: db_url.to_owned(),
        allow_private_targets: true,
        request_timeout: Duration::from_secs(2),
        lease: Duration::from_secs(5),
        poll_interval: Duration::from_millis(50),
        shutdown_grace: Duration::from_millis(500),
        ..sluice_engine::EngineConfig::default()
    };
    engine.workers = 64;
    ServerConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        bootstrap_api_key: Some(ADMIN_KEY.into()),
        bootstrap_admin_email: "admin@localhost".into(),
        bootstrap_admin_password: Some("test-admin-password".into()),
        max_body_bytes: 64 * 1024,
        site_root: "target/site".into(),
        demo_every: None,
        // Often, so every server test also runs the purge loop (lease and all).
        purge_every: std::time::Duration::from_millis(200),
        engine,
    }
}

impl TestApp {
    pub async fn start(db: TestDb) -> Self {
        let config = config(&db.url);
        Self::start_with(db, config).await
    }

    pub async fn start_with(db: TestDb, config: ServerConfig) -> Self {
        let running = sluice_server::start(config).await.expect("start server");
        let base = format!("http://{}", running.addr);
        // A timeout, so a request that never gets an answer fails its test with a
        // message instead of hanging the whole suite.
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build().expect("client");
        Self { _db: db, base, client, running: Some(running) }
    }

    /// Waits until the server's engine has gone quiet: nothing in flight and nothing
    /// more it could send right now, so "nothing else arrived" can be asserted.
    pub async fn wait_idle(&self) {
        if let Some(r) = &self.running {
            let quiet = r.sluice.wait_engine_idle();
            tokio::time::timeout(std::time::Duration::from_secs(10), quiet).await.expect("the engine goes quiet");
        }
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await.expect("clean shutdown");
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Answer { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, Some(ADMIN_KEY), None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(ADMIN_KEY), Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(ADMIN_KEY), Some(body), &[]).await
    }

    pub async fn tenant(&self, name: &str) -> String {
        let a = self.post("/v1/tenants", json!({ "name": name })).await;
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
        a.body["id"].as_str().expect("id").to_owned()
    }

    pub async fn endpoint(&self, tenant: &str, url: &str) -> Value {
        let a = self.post(&format!("/v1/tenants/{tenant}/endpoints"), json!({ "url": url })).await;
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
        a.body
    }

    pub async fn secret(&self, tenant: &str, endpoint: &str) -> String {
        let a = self.get(&format!("/v1/tenants/{tenant}/endpoints/{endpoint}/secret")).await;
        a.body["key"].as_str().expect("key").to_owned()
    }
}

/// Asserts a problem+json answer with this status and code.
pub fn assert_problem(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status.as_u16(), status, "{:?}", a.body);
    assert_eq!(a.header("content-type"), Some("application/problem+json"), "{:?}", a.body);
    assert_eq!(a.body["code"], code, "{:?}", a.body);
    assert_eq!(a.body["status"], status);
    assert!(a.body["title"].is_string() && a.body["detail"].is_string() && a.body["type"].is_string());
}
