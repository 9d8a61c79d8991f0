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
    /// Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: addresses or
    /// networks, comma-separated (e.g. 10.0.0.0/8). None when unset.
    #[arg(long, env = "SLUICE_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// Mark the session cookie Secure and name it __Host-…; turn off only to use the
    /// dashboard over plain http from another machine (browsers already treat
    /// localhost as secure).
    #[arg(long, env = "SLUICE_SECURE_COOKIES", default_value_t = true, action = ArgAction::Set)]
    pub secure_cookies: bool,
    /// Seconds a client has to send a request's headers, from connecting or from its
    /// previous response (so it also closes idle keep-alive connections).
    #[arg(long, env = "SLUICE_HTTP_HEADER_TIMEOUT_SECONDS", default_value_t = 10)]
    pub http_header_timeout_seconds: u64,
    /// Seconds one request may take, body included, before it is answered 408.
    #[arg(long, env = "SLUICE_HTTP_REQUEST_TIMEOUT_SECONDS", default_value_t = 30)]
    pub http_request_timeout_seconds: u64,
    /// HTTP connections open at once; beyond it the listener waits for one to close.
    #[arg(long, env = "SLUICE_HTTP_MAX_CONNECTIONS", default_value_t = 1024)]
    pub http_max_connections: usize,
    /// A bearer token that may read /metrics (besides platform API keys), for
    /// Prometheus's `authorization` setting.
    #[arg(long, env = "SLUICE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<sluice_engine::config::Redacted>,
    /// Where partners reach this Sluice (scheme and host, e.g. https://hooks.example.com),
    /// for the URLs of portal links. Unset: the scheme and Host of the request that asks.
    #[arg(long, env = "SLUICE_PUBLIC_URL", default_value = "")]
    pub public_url: String,
    /// Log format: text or json.
    #[arg(long, env = "SLUICE_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// The delivery engine's settings.
    #[command(flatten)]
    pub engine: EngineConfig,
    /// What to do; serving is the default.
    #[command(subcommand)]
    pub command: Option<crate::cli::Command>,
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
    pub trusted_proxies: crate::origin::TrustedProxies,
    pub secure_cookies: bool,
    /// `SLUICE_PUBLIC_URL` without a trailing slash; `None` when unset.
    pub public_url: Option<String>,
    pub metrics_token: Option<sluice_engine::config::Redacted>,
    pub http_limits: crate::serve::HttpLimits,
    pub http_request_timeout: Duration,
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
        let trusted_proxies = crate::origin::TrustedProxies::parse(&a.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("SLUICE_TRUSTED_PROXIES: {e}"))?;
        anyhow::ensure!(a.http_header_timeout_seconds >= 1, "SLUICE_HTTP_HEADER_TIMEOUT_SECONDS must be at least 1");
        anyhow::ensure!(a.http_request_timeout_seconds >= 1, "SLUICE_HTTP_REQUEST_TIMEOUT_SECONDS must be at least 1");
        // A request still running when its idempotency key counts as abandoned would
        // see a retry take the key over and act a second time.
        anyhow::ensure!(
            Duration::from_secs(a.http_request_timeout_seconds) < sluice_engine::service::IN_FLIGHT_FOR_AT_MOST,
            "SLUICE_HTTP_REQUEST_TIMEOUT_SECONDS must be under {} s (how long an idempotency key's request may run)",
            sluice_engine::service::IN_FLIGHT_FOR_AT_MOST.as_secs()
        );
        anyhow::ensure!(a.http_max_connections >= 1, "SLUICE_HTTP_MAX_CONNECTIONS must be at least 1");
        anyhow::ensure!(
            a.metrics_token.as_ref().is_none_or(|t| t.0.is_empty() || t.0.len() >= 16),
            "SLUICE_METRICS_TOKEN must be at least 16 characters: it is a password"
        );
        let public_url = parse_public_url(&a.public_url).map_err(|e| anyhow::anyhow!("SLUICE_PUBLIC_URL: {e}"))?;
        Ok(Self {
            listen: a.listen,
            public_url,
            trusted_proxies,
            secure_cookies: a.secure_cookies,
            metrics_token: a.metrics_token.clone().filter(|t| !t.0.is_empty()),
            http_limits: crate::serve::HttpLimits {
                header_timeout: Duration::from_secs(a.http_header_timeout_seconds),
                max_connections: a.http_max_connections,
                drain: a.engine.shutdown_grace,
            },
            http_request_timeout: Duration::from_secs(a.http_request_timeout_seconds),
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

/// `SLUICE_PUBLIC_URL`: empty is unset; otherwise an http(s) origin, with no query or
/// fragment (a path prefix is kept; the trailing slash is dropped).
pub fn parse_public_url(raw: &str) -> Result<Option<String>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .ok_or_else(|| format!("{raw:?} must start with https:// or http://"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || raw.contains(['?', '#', ' ']) || host.contains('@') {
        return Err(format!("{raw:?} must be a scheme and host, such as https://hooks.example.com"));
    }
    Ok(Some(raw.trim_end_matches('/').to_owned()))
}

#[cfg(test)]
mod public_url_tests {
    use super::parse_public_url;

    #[test]
    fn public_urls_are_origins() {
        assert_eq!(parse_public_url(""), Ok(None));
        assert_eq!(parse_public_url("https://hooks.example.com/"), Ok(Some("https://hooks.example.com".into())));
        assert_eq!(parse_public_url("http://10.0.0.5:3000"), Ok(Some("http://10.0.0.5:3000".into())));
        for bad in ["hooks.example.com", "ftp://x", "https://", "https://x/?a", "https://u@x", "https://x/#f"] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }
}
