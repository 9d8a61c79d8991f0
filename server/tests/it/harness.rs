//! A `TestApp`: the API called in-process, or a whole server on a loopback socket.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_engine::Sluice;
use sluice_server::{Running, ServerConfig};
use sluice_testkit::TestDb;
use tower::ServiceExt;

pub const ADMIN_KEY: &str = "sk_test_platform_key_0123456789";
/// The bearer token the test servers let scrape /metrics.
pub const METRICS_TOKEN: &str = "prometheus-scrape-token-0123";

pub struct TestApp {
    /// Held so the database outlives the server; dropped (and removed) with the app.
    _db: TestDb,
    transport: Transport,
    pub sluice: Arc<Sluice>,
    running: Option<Running>,
}

/// How requests reach the app.
enum Transport {
    /// A whole server on a loopback socket, engine and purge loop included.
    Socket { base: String, client: reqwest::Client },
    /// The router called in-process (`tower::ServiceExt::oneshot`): no listener, no
    /// engine, no purge loop. For the many tests that only talk to the API.
    InProcess(axum::Router),
}

/// Builds a [`TestApp`]: the API in-process unless [`Builder::with_engine`] asks for
/// the whole server.
pub struct Builder {
    db: TestDb,
    config: ServerConfig,
    engine: bool,
}

impl Builder {
    pub fn configure(mut self, change: impl FnOnce(&mut ServerConfig)) -> Self {
        change(&mut self.config);
        self
    }

    /// Run the whole server on a socket: delivery engine, purge loop, HTTP listener.
    pub fn with_engine(mut self) -> Self {
        self.engine = true;
        self
    }

    pub async fn build(self) -> TestApp {
        let Self { db, config, engine } = self;
        if engine {
            let running = sluice_server::start(config).await.expect("start server");
            let base = format!("http://{}", running.addr);
            // A timeout, so a request that never gets an answer fails its test with a
            // message instead of hanging the whole suite.
            let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
            let sluice = running.sluice.clone();
            TestApp { _db: db, transport: Transport::Socket { base, client }, sluice, running: Some(running) }
        } else {
            let prepared = sluice_server::prepare(&config).await.expect("prepare");
            // As if from a client on loopback, as a socket would tell the server.
            let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40000));
            let router = prepared.router(&config).layer(tower::util::MapRequestLayer::new(
                move |mut req: axum::extract::Request| {
                    req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                    req
                },
            ));
            TestApp { _db: db, transport: Transport::InProcess(router), sluice: prepared.sluice, running: None }
        }
    }
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

fn config(db_url: &str) -> ServerConfig {
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
    // No canary unless a test asks: its deliveries would show in every count.
    engine.canary_every = Duration::ZERO;
    engine.secret_key = Some(sluice_engine::config::Redacted(sluice_testkit::TEST_SECRET_KEY.into()));
    ServerConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        bootstrap_api_key: Some(ADMIN_KEY.into()),
        bootstrap_admin_email: "admin@localhost".into(),
        bootstrap_admin_password: Some("test-admin-password".into()),
        max_body_bytes: 64 * 1024,
        site_root: "target/site".into(),
        trusted_proxies: sluice_server::origin::TrustedProxies::default(),
        secure_cookies: true,
        public_url: None,
        metrics_token: Some(sluice_engine::config::Redacted(METRICS_TOKEN.into())),
        http_limits: sluice_server::serve::HttpLimits {
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
            drain: Duration::from_millis(500),
        },
        http_request_timeout: Duration::from_secs(30),
        demo_every: None,
        // Often, so every server test also runs the purge loop (lease and all).
        purge_every: std::time::Duration::from_millis(200),
        engine,
    }
}

impl TestApp {
    pub fn builder(db: TestDb) -> Builder {
        let config = config(&db.url);
        Builder { db, config, engine: false }
    }

    /// The API in-process, nothing running behind it.
    pub async fn api(db: TestDb) -> Self {
        Self::builder(db).build().await
    }

    /// The whole server on a socket, engine and purge loop included.
    pub async fn start(db: TestDb) -> Self {
        Self::builder(db).with_engine().build().await
    }

    /// Waits until the server's engine has gone quiet: nothing in flight and nothing
    /// more it could send right now, so "nothing else arrived" can be asserted.
    pub async fn wait_idle(&self) {
        let quiet = self.sluice.wait_engine_idle();
        tokio::time::timeout(Duration::from_secs(10), quiet).await.expect("the engine goes quiet");
    }

    /// The socket address of a server started `with_engine`.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.running.as_ref().map(|r| r.addr).expect("addr() needs a server started with_engine()")
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
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        let bytes = match body {
            Some(b) => {
                all.push(("content-type", "application/json"));
                serde_json::to_vec(&b).expect("json")
            }
            None => Vec::new(),
        };
        let bearer = key.map(|k| format!("Bearer {k}"));
        if let Some(b) = &bearer {
            all.push(("authorization", b));
        }
        self.send(method, path, &all, bytes).await
    }

    /// Sends exactly these headers and body bytes, for bodies JSON cannot express.
    pub async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
        let (status, headers, bytes) = match &self.transport {
            Transport::Socket { base, client } => {
                let mut req = client.request(method, format!("{base}{path}")).body(body);
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                let res = req.send().await.expect("request");
                let (status, headers) = (res.status(), res.headers().clone());
                (status, headers, res.bytes().await.expect("body").to_vec())
            }
            Transport::InProcess(router) => {
                let mut req = axum::http::Request::builder().method(method).uri(path);
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                let req = req.body(axum::body::Body::from(body)).expect("request");
                let res = router.clone().oneshot(req).await.expect("infallible");
                let (parts, body) = res.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
                (parts.status, parts.headers, bytes.to_vec())
            }
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
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

    /// Opens an incident on the endpoint the way its circuit opening does (no API
    /// call makes one); answers its id.
    pub async fn open_incident(&self, tenant: &str, endpoint: &str) -> String {
        use sluice_engine::store::{CircuitChange, CircuitRecord};
        let opened = CircuitRecord {
            endpoint: endpoint.parse().expect("endpoint id"),
            tenant: tenant.parse().expect("tenant id"),
            change: CircuitChange::Opened { cooldown_ms: 30_000 },
        };
        self._db.store().await.record_circuits(&[opened]).await.expect("circuit opened");
        let open = self.get(&format!("/v1/tenants/{tenant}/incidents?state=open&endpoint_id={endpoint}")).await;
        open.body["data"][0]["id"].as_str().expect("an open incident").to_owned()
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
