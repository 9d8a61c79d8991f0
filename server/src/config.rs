//! Server settings from `SLUICE_*` environment variables (or the same as flags).

use std::net::SocketAddr;
use std::time::Duration;

use clap::{ArgAction, Parser};
use sluice_engine::EngineConfig;

#[derive(Debug, Clone, Parser)]
#[command(name = "sluice", version, about = "Self-hosted webhook delivery")]
pub struct Args {
    /// HTTP address to listen on.
    #[arg(long, env = "SLUICE_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// sqlite://path or postgres://user@host/db
    #[arg(long, env = "SLUICE_DATABASE_URL", default_value = "sqlite://./data/sluice.db")]
    pub database_url: String,
    /// If set and no platform key exists, create this one.
    #[arg(long, env = "SLUICE_BOOTSTRAP_API_KEY", hide_env_values = true)]
    pub bootstrap_api_key: Option<String>,
    /// Email of the first admin, created when no admin exists.
    #[arg(long, env = "SLUICE_BOOTSTRAP_ADMIN_EMAIL", default_value = "admin@localhost")]
    pub bootstrap_admin_email: String,
    /// Password of the first admin; generated and printed once when unset.
    #[arg(long, env = "SLUICE_BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true)]
    pub bootstrap_admin_password: Option<String>,
    /// Allow endpoints on loopback, private and link-local addresses (development, tests).
    #[arg(long, env = "SLUICE_ALLOW_PRIVATE_TARGETS", default_value_t = false, action = ArgAction::Set)]
    pub allow_private_targets: bool,
    /// Concurrent outbound requests; sized to the machine when unset.
    #[arg(long, env = "SLUICE_WORKERS")]
    pub workers: Option<usize>,
    /// Concurrent requests to any one endpoint.
    #[arg(long, env = "SLUICE_ENDPOINT_CONCURRENCY", default_value_t = 32)]
    pub endpoint_concurrency: usize,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "SLUICE_MAX_BODY_BYTES", default_value_t = 256 * 1024)]
    pub max_body_bytes: usize,
    /// Timeout of one outbound request, in seconds.
    #[arg(long, env = "SLUICE_REQUEST_TIMEOUT_SECONDS", default_value_t = 15)]
    pub request_timeout_seconds: u64,
    /// How long a claimed delivery stays leased, in seconds.
    #[arg(long, env = "SLUICE_LEASE_SECONDS", default_value_t = 60)]
    pub lease_seconds: u64,
    /// How often idle workers look for due work, in milliseconds.
    #[arg(long, env = "SLUICE_POLL_INTERVAL_MS", default_value_t = 500)]
    pub poll_interval_ms: u64,
    /// How long SIGTERM waits for requests in flight, in seconds.
    #[arg(long, env = "SLUICE_SHUTDOWN_GRACE_SECONDS", default_value_t = 10)]
    pub shutdown_grace_seconds: u64,
    /// Where the dashboard's compiled assets are (pkg/ inside).
    #[arg(long, env = "SLUICE_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,
    /// Demo mode: a built-in receiver, demo tenants and users, and a trickle of events.
    /// Needs SLUICE_ALLOW_PRIVATE_TARGETS=true (the receiver is this server).
    #[arg(long, env = "SLUICE_DEMO", default_value_t = false, action = ArgAction::Set)]
    pub demo: bool,
    /// Log format: text or json.
    /// How often this node tries to take the retention job and purge expired messages.
    #[arg(long, env = "SLUICE_PURGE_INTERVAL_SECONDS", default_value_t = 600)]
    pub purge_interval_seconds: u64,

    #[arg(long, env = "SLUICE_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

/// Everything `start` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub bootstrap_api_key: Option<String>,
    pub bootstrap_admin_email: String,
    pub bootstrap_admin_password: Option<String>,
    pub max_body_bytes: usize,
    pub site_root: String,
    /// Publish a demo event this often; `None` is no demo.
    pub demo_every: Option<Duration>,
    /// The retention purge's period on this node (the lease decides which node runs).
    pub purge_every: Duration,
    pub engine: EngineConfig,
}

impl ServerConfig {
    pub fn from_args(a: &Args) -> anyhow::Result<Self> {
        anyhow::ensure!(a.request_timeout_seconds >= 1, "SLUICE_REQUEST_TIMEOUT_SECONDS must be at least 1");
        anyhow::ensure!(
            a.lease_seconds > a.request_timeout_seconds,
            "SLUICE_LEASE_SECONDS must exceed SLUICE_REQUEST_TIMEOUT_SECONDS, or live requests could be re-claimed"
        );
        anyhow::ensure!(
            !a.demo || a.allow_private_targets,
            "SLUICE_DEMO needs SLUICE_ALLOW_PRIVATE_TARGETS=true: the demo receiver is this server, on loopback"
        );
        anyhow::ensure!(a.endpoint_concurrency >= 1, "SLUICE_ENDPOINT_CONCURRENCY must be at least 1");
        let mut engine = EngineConfig {
            database_url: a.database_url.clone(),
            allow_private_targets: a.allow_private_targets,
            endpoint_concurrency: a.endpoint_concurrency,
            request_timeout: Duration::from_secs(a.request_timeout_seconds),
            lease: Duration::from_secs(a.lease_seconds),
            poll_interval: Duration::from_millis(a.poll_interval_ms.max(10)),
            shutdown_grace: Duration::from_secs(a.shutdown_grace_seconds),
            ..EngineConfig::default()
        };
        if let Some(w) = a.workers {
            anyhow::ensure!(w >= 1, "SLUICE_WORKERS must be at least 1");
            engine.workers = w;
            engine.tenant_concurrency = (w / 2).max(1);
        }
        Ok(Self {
            listen: a.listen,
            bootstrap_api_key: a.bootstrap_api_key.clone().filter(|k| !k.is_empty()),
            bootstrap_admin_email: a.bootstrap_admin_email.clone(),
            bootstrap_admin_password: a.bootstrap_admin_password.clone().filter(|p| !p.is_empty()),
            max_body_bytes: a.max_body_bytes,
            site_root: a.site_root.clone(),
            demo_every: a.demo.then_some(Duration::from_millis(400)),
            purge_every: Duration::from_secs(a.purge_interval_seconds.max(1)),
            engine,
        })
    }
}
