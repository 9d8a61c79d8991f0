//! The Sluice server: wires the engine to HTTP. REST API v1, the dashboard, health and
//! metrics in one axum router; start-up (migrations, bootstrap key, workers) and
//! graceful shutdown.

// The dashboard's pages are one nested type each, laid out here where the router
// monomorphises them; Leptos's view types outgrow the default query depth.
#![recursion_limit = "256"]

mod api_reference;
mod canary;
pub mod cli;
pub mod conditional;
pub mod config;
mod demo;
pub mod deprecation;
mod extract;
mod hardening;
mod health;
pub mod idempotency;
pub mod openapi;
mod openapi_links;
pub mod origin;
pub mod problem;
pub mod request_id;
pub mod serve;
pub mod traces;
mod v1;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use sluice_app::ssr::DashboardContext;
use sluice_core::ErrorCode;
use sluice_engine::store::Store;
use sluice_engine::{Engine, Sluice};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::ServerConfig;
use problem::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub sluice: Arc<Sluice>,
    /// `SLUICE_METRICS_TOKEN`: the bearer token Prometheus may scrape with.
    pub metrics_token: Option<Arc<str>>,
    /// `SLUICE_PUBLIC_URL`, for the URLs of portal links.
    pub public_url: Option<Arc<str>>,
}

/// The HTTP settings the router applies to every request.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub max_body_bytes: usize,
    pub request_timeout: std::time::Duration,
    pub trusted_proxies: Arc<origin::TrustedProxies>,
    pub secure_cookies: bool,
}

/// The dashboard's routes, listed once per process. Listing them renders the app
/// with every resource held back, and leptos holds them back through a flag of the
/// whole process: a page rendered by another router of the same process meanwhile
/// got resources that never loaded, and hung until the request timed out (408 after
/// 30 s). Each server builds its router once, but the tests build one per test, side
/// by side with other tests' pages (`incidents::pages_render_while_other_routers_are_built`).
static DASHBOARD_ROUTES: std::sync::LazyLock<Vec<leptos_axum::AxumRouteListing>> =
    std::sync::LazyLock::new(|| generate_route_list(sluice_app::App));

/// The whole HTTP surface.
pub fn router(state: AppState, leptos_options: LeptosOptions, http: &HttpSettings) -> Router {
    let api = Router::new()
        .nest(
            "/v1",
            axum::Router::from(v1::routes())
                .route_layer(axum::middleware::from_fn(conditional::conditional_get))
                .route_layer(axum::middleware::from_fn_with_state(
                    idempotency::IdempotencyState { app: state.clone(), max_body_bytes: http.max_body_bytes },
                    idempotency::idempotent_posts,
                ))
                // Outside the idempotency layer, so a replayed answer is marked too, and
                // after a sunset refused rather than replayed.
                .route_layer(axum::middleware::from_fn(deprecation::mark_deprecated))
                .fallback(api_not_found),
        )
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/canary/receive", post(canary::receive))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone());

    let context = DashboardContext { sluice: state.sluice.clone(), secure_cookies: http.secure_cookies };
    let routes = DASHBOARD_ROUTES.clone();
    let fallback_context = context.clone();
    let dashboard = Router::new()
        .leptos_routes_with_context(&leptos_options, routes, move || provide_context(context.clone()), {
            let options = leptos_options.clone();
            move || sluice_app::shell(options.clone())
        })
        // Unknown paths render the app's "not found" page, whose header asks the
        // engine who is signed in: it needs the context as much as any page.
        .fallback(leptos_axum::file_and_error_handler_with_context(
            move || provide_context(fallback_context.clone()),
            sluice_app::shell,
        ))
        .layer(axum::middleware::from_fn(reject_cross_site_posts))
        .with_state(leptos_options);

    // Layers run outside in: the trace, the request id (so every answer below carries
    // it, problems included), then the client's origin (which the
    // hardening headers and sign-in read), the headers, the time limit, and the body
    // limit, which covers the dashboard's server functions as much as the API.
    api.merge(dashboard)
        // DefaultBodyLimit makes axum's extractors stop at the limit; body_limit covers
        // every other reader (the server functions) and answers problem+json 413.
        .layer(DefaultBodyLimit::max(http.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(http.max_body_bytes, hardening::body_limit))
        .layer(axum::middleware::from_fn_with_state(http.request_timeout, hardening::request_time_limit))
        .layer(axum::middleware::from_fn(hardening::security_headers))
        .layer(axum::middleware::from_fn_with_state(http.trusted_proxies.clone(), origin::attach_origin))
        .layer(axum::middleware::from_fn_with_state(state.sluice.telemetry(), request_id::attach_request_id))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

async fn api_not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route in API v1")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, "this route does not take that method")
}

/// The dashboard's state-changing requests (server functions) are POSTs. A browser
/// marks a request another site made (`Sec-Fetch-Site: cross-site`, or an `Origin`
/// that is not this host); those are refused before any session is looked at. The
/// SameSite session cookie and per-session CSRF tokens are the other two layers.
async fn reject_cross_site_posts(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req.method() == Method::POST && is_cross_site(req.headers()) {
        return (axum::http::StatusCode::FORBIDDEN, "cross-site requests are not accepted").into_response();
    }
    next.run(req).await
}

fn is_cross_site(headers: &axum::http::HeaderMap) -> bool {
    if headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"cross-site") {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    origin == "null" || !origin_host.eq_ignore_ascii_case(host)
}

/// A started server: its address and a handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub sluice: Arc<Sluice>,
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops accepting, finishes or releases in-flight deliveries, and waits.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.done.await?
    }

    /// A receiver that flips when shutdown starts.
    pub fn stop_handle(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }

    pub async fn wait(self) -> anyhow::Result<()> {
        self.done.await?
    }
}

/// The service layer for a configuration, with nothing running yet: the database
/// connected and migrated, a platform key and the first admin ensured.
pub struct Prepared {
    pub sluice: Arc<Sluice>,
    store: Arc<dyn Store>,
    wake: Arc<sluice_engine::Wake>,
}

/// Connects the database (applying migrations) and ensures a platform key and an
/// admin, printing generated ones once.
pub async fn prepare(config: &ServerConfig) -> anyhow::Result<Prepared> {
    let sealer = config.engine.sealer()?;
    let store =
        sluice_engine::store::connect(&config.engine.database_url, config.engine.database_max_connections, sealer)
            .await?;
    let wake = Arc::new(sluice_engine::Wake::new());
    let quotas = sluice_engine::Quotas::from(&config.engine);
    let audit_retention = std::time::Duration::from_secs(u64::from(config.engine.audit_retention_days) * 24 * 3600);
    let sluice = Arc::new(
        Sluice::new(store.clone(), wake.clone())
            .with_quotas(quotas)
            .with_auto_disable(config.engine.auto_disable())
            .with_incident_policy(config.engine.incident_policy())
            .with_audit_retention(audit_retention)
            .with_labelled_tenants(config.engine.metrics_tenants)
            .with_canary_interval(config.engine.canary_every),
    );

    if let Some(key) = &config.bootstrap_api_key {
        if sluice.ensure_bootstrap_key(key).await? {
            tracing::info!("created the platform API key from SLUICE_BOOTSTRAP_API_KEY");
        }
    } else if let Some(created) = sluice.ensure_generated_platform_key().await? {
        // Printed once, like a generated password: it is not stored anywhere readable.
        println!("\n  Sluice created a platform API key (shown only now):\n\n    {}\n", created.key);
    }

    let admin_email = &config.bootstrap_admin_email;
    // Like the platform key: a generated password is printed once and stored only hashed.
    if let Some(password) =
        sluice.ensure_bootstrap_admin(admin_email, config.bootstrap_admin_password.as_deref()).await?
    {
        println!("\n  Sluice created the admin {admin_email} with this password (shown only now):\n\n    {password}\n");
    }
    Ok(Prepared { sluice, store, wake })
}

impl Prepared {
    /// The whole HTTP surface over this service layer. On its own (no listener, no
    /// engine, no purge loop) it is what in-process tests drive with `oneshot`.
    pub fn router(&self, config: &ServerConfig) -> Router {
        let leptos_options = LeptosOptions::builder()
            .output_name("sluice")
            .site_root(config.site_root.clone())
            .site_pkg_dir("pkg")
            .site_addr(config.listen)
            .build();
        let http = HttpSettings {
            max_body_bytes: config.max_body_bytes,
            request_timeout: config.http_request_timeout,
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            secure_cookies: config.secure_cookies,
        };
        let metrics_token = config.metrics_token.as_ref().map(|t| Arc::from(t.0.as_str()));
        let public_url = config.public_url.as_deref().map(Arc::from);
        router(AppState { sluice: self.sluice.clone(), metrics_token, public_url }, leptos_options, &http)
    }
}

/// Prepares the service layer, then starts the delivery engine, the purge loop and
/// the HTTP server.
pub async fn start(config: ServerConfig) -> anyhow::Result<Running> {
    let prepared = prepare(&config).await?;
    let mut app = prepared.router(&config);
    let Prepared { sluice, store, wake } = prepared;

    let engine = Arc::new(Engine::new(store, config.engine.clone(), wake)?.with_telemetry(sluice.telemetry()));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(sluice.clone().run_retention_until_stopped(
        config.engine.node_id.clone(),
        config.purge_every,
        stop_rx.clone(),
    ));
    if !config.engine.rollup_every.is_zero() {
        tokio::spawn(sluice.clone().run_rollups_until_stopped(
            config.engine.node_id.clone(),
            config.engine.rollup_every,
            stop_rx.clone(),
        ));
    }
    if !config.engine.incident_check_every.is_zero() {
        tokio::spawn(sluice.clone().run_incidents_until_stopped(
            config.engine.node_id.clone(),
            config.engine.incident_check_every,
            stop_rx.clone(),
        ));
    }
    tokio::spawn(sluice.clone().run_statistics_until_stopped(stop_rx.clone()));
    let engine_task = tokio::spawn(engine.clone().run_until_stopped(stop_rx.clone()));
    sluice.engine_started(&engine);
    let heartbeat =
        tokio::spawn(sluice.clone().run_heartbeat_until_stopped(config.engine.node_id.clone(), stop_rx.clone()));

    if config.demo_every.is_some() {
        app = app.merge(demo::receiver_router());
    }
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    if let Some(every) = config.demo_every {
        // The receiver is this very server.
        let base = loopback(addr);
        let tenants = demo::seed(&sluice, &base).await?;
        tokio::spawn(demo::trickle(sluice.clone(), tenants, every, stop_rx.clone()));
        println!(
            "\n  Demo mode: events every {} ms to {base}/demo/receiver/*. Sign in as partner@acme.demo, \
             partner@globex.demo, partner@initech.demo or support@sluice.demo, password {}\n",
            every.as_millis(),
            demo::DEMO_PASSWORD
        );
    }
    if !config.engine.canary_every.is_zero() {
        let url = config.engine.canary_url.clone().unwrap_or_else(|| format!("{}/canary/receive", loopback(addr)));
        let settings = sluice_engine::CanarySettings {
            every: config.engine.canary_every,
            timeout: config.engine.canary_timeout,
            url,
        };
        tokio::spawn(sluice.clone().run_canary_until_stopped(config.engine.node_id.clone(), settings, stop_rx.clone()));
    }
    tracing::info!(%addr, database = %redact(&config.engine.database_url), "Sluice is listening");

    let http_stop = stop_rx.clone();
    let limits = config.http_limits;
    let done = tokio::spawn(async move {
        serve::serve(listener, app, limits, http_stop).await?;
        match engine_task.await {
            Ok(r) => r?,
            Err(e) => anyhow::bail!("delivery engine panicked: {e}"),
        }
        // The last heartbeat says "stopped", so the node is not shown as gone.
        if let Err(e) = heartbeat.await {
            tracing::warn!(error = %e, "the heartbeat task panicked");
        }
        Ok(())
    });
    Ok(Running { addr, sluice, stop: stop_tx, done })
}

/// This server's base URL as a client on this machine reaches it: an unspecified
/// listen address is not one a client can connect to, so go through loopback.
fn loopback(addr: std::net::SocketAddr) -> String {
    match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => format!("http://127.0.0.1:{}", addr.port()),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => format!("http://[::1]:{}", addr.port()),
        _ => format!("http://{addr}"),
    }
}

/// The database URL without its password, for logs.
fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((creds, rest)) if creds.contains(':') && creds.matches(':').count() > 1 => {
            let user_end = creds.rfind(':').unwrap_or(creds.len());
            format!("{}:***@{rest}", &creds[..user_end])
        }
        _ => url.to_owned(),
    }
}
