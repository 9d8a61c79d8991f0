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
    /// If set and no platform key exists, create this one.
    #[arg(long, env = "SLUICE_BOOTSTRAP_API_KEY", hide_env_values = true)]
    pub bootstrap_api_key: Option<String>,
    /// Email of the first admin, created when no admin exists.
    #[arg(long, env = "SLUICE_BOOTSTRAP_ADMIN_EMAIL", default_value = "admin@localhost")]
    pub bootstrap_admin_email: String,
    /// Password of the first admin; generated and printed once when unset.
    #[arg(long, env = "SLUICE_BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true)]
    pub bootstrap_admin_password: Option<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "SLUICE_MAX_BODY_BYTES", default_value_t = 256 * 1024)]
    pub max_body_bytes: usize,
    /// Where the dashboard's compiled assets are (pkg/ inside).
    #[arg(long, env = "SLUICE_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,
    /// Demo mode: a built-in receiver, demo tenants and users, and a trickle of events.
    /// Needs SLUICE_ALLOW_PRIVATE_TARGETS=true (the receiver is this server).
    #[arg(long, env = "SLUICE_DEMO", default_value_t = false, action = ArgAction::Set)]
    pub demo: bool,
    /// How often this node tries to take the retention job and purge expired messages.
    #[arg(long, env = "SLUICE_PURGE_INTERVAL_SECONDS", default_value_t = 600)]
    pub purge_interval_seconds: u64,
    /// Log format: text or json.
    #[arg(long, env = "SLUICE_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// The delivery engine's settings.
    #[command(flatten)]
    pub engine: EngineConfig,
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
        a.engine.validate()?;
        anyhow::ensure!(
            !a.demo || a.engine.allow_private_targets,
            "SLUICE_DEMO needs SLUICE_ALLOW_PRIVATE_TARGETS=true: the demo receiver is this server, on loopback"
        );
        Ok(Self {
            listen: a.listen,
            bootstrap_api_key: a.bootstrap_api_key.clone().filter(|k| !k.is_empty()),
            bootstrap_admin_email: a.bootstrap_admin_email.clone(),
            bootstrap_admin_password: a.bootstrap_admin_password.clone().filter(|p| !p.is_empty()),
            max_body_bytes: a.max_body_bytes,
            site_root: a.site_root.clone(),
            demo_every: a.demo.then_some(Duration::from_millis(400)),
            purge_every: Duration::from_secs(a.purge_interval_seconds.max(1)),
            engine: a.engine.clone(),
        })
    }
}
