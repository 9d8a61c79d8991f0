//! Engine settings, read by the server from `SLUICE_*` variables (see README).

use std::time::Duration;

/// How the engine runs. `Default` is what production gets; tests shorten the timings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// `sqlite://path` or `postgres://…`.
    pub database_url: String,
    /// Maximum concurrent outbound requests on this node.
    pub workers: usize,
    /// Maximum concurrent requests to any one endpoint on this node.
    pub endpoint_concurrency: usize,
    /// Maximum concurrent requests for any one tenant on this node, so one tenant's
    /// many endpoints cannot take every worker.
    pub tenant_concurrency: usize,
    /// How long a claimed delivery stays leased; must exceed `request_timeout` so a
    /// live worker is never overtaken by a re-claim.
    pub lease: Duration,
    /// How often workers look for due work when nobody woke them.
    pub poll_interval: Duration,
    /// Timeout of one outbound request, connect to last body byte.
    pub request_timeout: Duration,
    /// Allow endpoints on loopback, private and link-local addresses.
    pub allow_private_targets: bool,
    /// How many deliveries a claim takes at once per endpoint.
    pub claim_batch: usize,
    /// How long SIGTERM waits for in-flight requests before releasing them.
    pub shutdown_grace: Duration,
    /// Consecutive failures after which an endpoint's circuit opens.
    pub breaker_threshold: u32,
    /// How long an open circuit waits before probing.
    pub breaker_cooldown: Duration,
    /// Identifies this process in lease columns.
    pub node_id: String,
}

impl Default for EngineConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let workers = (cores * 64).clamp(64, 1024);
        Self {
            database_url: "sqlite://./data/sluice.db".into(),
            workers,
            endpoint_concurrency: 32,
            tenant_concurrency: (workers / 2).max(1),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(500),
            request_timeout: Duration::from_secs(15),
            allow_private_targets: false,
            claim_batch: 128,
            shutdown_grace: Duration::from_secs(10),
            breaker_threshold: 20,
            breaker_cooldown: Duration::from_secs(30),
            node_id: format!(
                "node-{}",
                crate::ids::new_id::<sluice_core::ids::OperationKind>().as_str().trim_start_matches("op_")
            ),
        }
    }
}
