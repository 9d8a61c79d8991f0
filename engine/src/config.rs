//! Engine settings: each one's flag, `SLUICE_*` variable, default and meaning, written
//! once here. The server flattens this into its command line, so `sluice --help`,
//! the environment and the defaults tests start from can never disagree.

use std::time::Duration;

use clap::{Args as _, FromArgMatches as _};

/// How the engine runs. `Default` is what production gets with nothing set; tests
/// shorten the timings.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineConfig {
    /// sqlite://path or postgres://user@host/db
    #[arg(long, env = "SLUICE_DATABASE_URL", default_value = "sqlite://./data/sluice.db")]
    pub database_url: String,
    /// Connections to PostgreSQL at most: a quarter of them (two to four) for writes, the
    /// rest for reads (SQLite always has one writer and four readers).
    #[arg(long, env = "SLUICE_DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,
    /// Concurrent outbound requests on this node; 64 per core, 64 to 1024, when unset.
    #[arg(long, env = "SLUICE_WORKERS", default_value_t = default_workers())]
    pub workers: usize,
    /// Concurrent requests to any one endpoint on this node.
    #[arg(long, env = "SLUICE_ENDPOINT_CONCURRENCY", default_value_t = 32)]
    pub endpoint_concurrency: usize,
    /// Concurrent requests for any one tenant on this node, so one tenant's many
    /// endpoints cannot take every worker; half the workers when unset.
    #[arg(long, env = "SLUICE_TENANT_CONCURRENCY")]
    pub tenant_concurrency: Option<usize>,
    /// How long a claimed delivery stays leased, in seconds; must exceed the request
    /// timeout so a live request is never overtaken by a re-claim.
    #[arg(long = "lease-seconds", env = "SLUICE_LEASE_SECONDS", default_value = "60", value_parser = seconds)]
    pub lease: Duration,
    /// How often idle workers look for due work, in milliseconds (at least 10).
    #[arg(long = "poll-interval-ms", env = "SLUICE_POLL_INTERVAL_MS", default_value = "500", value_parser = poll_millis)]
    pub poll_interval: Duration,
    /// Timeout of one outbound request, connect to last body byte, in seconds.
    #[arg(long = "request-timeout-seconds", env = "SLUICE_REQUEST_TIMEOUT_SECONDS", default_value = "15", value_parser = seconds)]
    pub request_timeout: Duration,
    /// Allow endpoints on loopback, private and link-local addresses (development, tests).
    #[arg(long, env = "SLUICE_ALLOW_PRIVATE_TARGETS", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_private_targets: bool,
    /// Ports endpoints may use, comma-separated (e.g. 443,80); any port when unset.
    #[arg(long, env = "SLUICE_ALLOWED_PORTS", value_delimiter = ',')]
    pub allowed_ports: Vec<u16>,
    /// Deliveries one claim takes at most, per endpoint.
    #[arg(long, env = "SLUICE_CLAIM_BATCH", default_value_t = 128)]
    pub claim_batch: usize,
    /// Endpoints with due work one scan looks at, taken round-robin across tenants
    /// (each tenant at most its concurrency cap's worth).
    #[arg(long, env = "SLUICE_SCAN_LIMIT", default_value_t = 10_000)]
    pub scan_limit: usize,
    /// Endpoints a tenant may have, unless the platform set its own quota.
    #[arg(long, env = "SLUICE_TENANT_MAX_ENDPOINTS", default_value_t = 100)]
    pub tenant_max_endpoints: u32,
    /// Active API keys a tenant may have, unless the platform set its own quota.
    #[arg(long, env = "SLUICE_TENANT_MAX_API_KEYS", default_value_t = 50)]
    pub tenant_max_api_keys: u32,
    /// How long SIGTERM waits for requests in flight before releasing them, in seconds.
    #[arg(long = "shutdown-grace-seconds", env = "SLUICE_SHUTDOWN_GRACE_SECONDS", default_value = "10", value_parser = seconds)]
    pub shutdown_grace: Duration,
    /// Consecutive failures after which an endpoint's circuit opens.
    #[arg(long, env = "SLUICE_BREAKER_THRESHOLD", default_value_t = 20)]
    pub breaker_threshold: u32,
    /// How long an open circuit waits before its first probe, in seconds.
    #[arg(long = "breaker-cooldown-seconds", env = "SLUICE_BREAKER_COOLDOWN_SECONDS", default_value = "30", value_parser = seconds)]
    pub breaker_cooldown: Duration,
    /// How long an endpoint may fail every attempt before it is disabled, in seconds
    /// (three days; 0: never). A tenant may have its own (`auto_disable_after_seconds`).
    #[arg(long = "auto-disable-after-seconds", env = "SLUICE_AUTO_DISABLE_AFTER_SECONDS", default_value = "259200", value_parser = seconds)]
    pub auto_disable_after: Duration,
    /// Failed attempts in a row an endpoint must also have had before it is disabled,
    /// so one message retried over a quiet weekend cannot disable it.
    #[arg(long, env = "SLUICE_AUTO_DISABLE_MIN_ATTEMPTS", default_value_t = 10)]
    pub auto_disable_min_attempts: u32,
    /// Incidents: the window over which an endpoint's failure rate is measured, in
    /// seconds.
    #[arg(long = "incident-window-seconds", env = "SLUICE_INCIDENT_WINDOW_SECONDS", default_value = "300", value_parser = seconds)]
    pub incident_window: Duration,
    /// Incidents: the share of failed attempts in the window, in percent, that opens
    /// one (a circuit that opens always does).
    #[arg(long, env = "SLUICE_INCIDENT_FAILURE_PERCENT", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub incident_failure_percent: u32,
    /// Incidents: attempts the window must hold before its failure rate counts.
    #[arg(long, env = "SLUICE_INCIDENT_MIN_ATTEMPTS", default_value_t = 10)]
    pub incident_min_attempts: u32,
    /// Incidents: how long a success must go without a failure after it for the
    /// incident to end, in seconds (at least the window).
    #[arg(long = "incident-resolve-after-seconds", env = "SLUICE_INCIDENT_RESOLVE_AFTER_SECONDS", default_value = "300", value_parser = seconds)]
    pub incident_resolve_after: Duration,
    /// Incidents: how often the node holding the detector's lease looks, in seconds
    /// (0: never, on this node).
    #[arg(long = "incident-check-seconds", env = "SLUICE_INCIDENT_CHECK_SECONDS", default_value = "10", value_parser = seconds)]
    pub incident_check_every: Duration,
    /// SLO roll-ups: how often the node holding the job's lease counts finished hours
    /// of deliveries for the tenant overview, in seconds (0: never, on this node).
    #[arg(long = "slo-rollup-interval-seconds", env = "SLUICE_SLO_ROLLUP_INTERVAL_SECONDS", default_value = "60", value_parser = seconds)]
    pub rollup_every: Duration,
    /// The canary: how often this node publishes a message to its own receiver
    /// through the whole delivery path, in seconds (0: never, on this node).
    #[arg(long = "canary-interval-seconds", env = "SLUICE_CANARY_INTERVAL_SECONDS", default_value = "60", value_parser = seconds)]
    pub canary_every: Duration,
    /// The canary: how long a run may take to arrive before it counts as failed, in
    /// seconds (at least 1).
    #[arg(long = "canary-timeout-seconds", env = "SLUICE_CANARY_TIMEOUT_SECONDS", default_value = "30", value_parser = seconds)]
    pub canary_timeout: Duration,
    /// The canary: this node's receiver as the nodes that deliver its canary reach it
    /// (`http://HOST:PORT/canary/receive`); this node's listener on loopback when unset.
    #[arg(long, env = "SLUICE_CANARY_URL")]
    pub canary_url: Option<String>,
    /// The key that seals endpoint signing secrets at rest: 32 bytes in base64 (or 64
    /// hex digits). Unset on SQLite: a key file beside the database, created once.
    #[arg(long, env = "SLUICE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<Redacted>,
    /// A file holding the secret key, instead of SLUICE_SECRET_KEY.
    #[arg(long, env = "SLUICE_SECRET_KEY_FILE")]
    pub secret_key_file: Option<std::path::PathBuf>,
    /// Keys secrets may still be sealed with, comma-separated, while rotating to a new
    /// SLUICE_SECRET_KEY; each node re-seals everything under the current key at start.
    #[arg(long, env = "SLUICE_PREVIOUS_SECRET_KEYS", value_delimiter = ',', hide_env_values = true)]
    pub previous_secret_keys: Vec<Redacted>,
    /// Days the audit trail is kept (apart from the tenants' message retention).
    #[arg(long, env = "SLUICE_AUDIT_RETENTION_DAYS", default_value_t = 400)]
    pub audit_retention_days: u32,
    /// Tenants labelled by id in the metrics (the busiest); the rest are `other`.
    #[arg(long, env = "SLUICE_METRICS_TENANTS", default_value_t = crate::telemetry::DEFAULT_LABELLED_TENANTS)]
    pub metrics_tenants: usize,
    /// Identifies this process in lease columns; new at every start.
    #[arg(skip = new_node_id())]
    pub node_id: String,
}

impl Default for EngineConfig {
    /// The defaults declared above, without reading the environment.
    fn default() -> Self {
        let command = Self::augment_args(clap::Command::new("sluice")).mut_args(|arg| arg.env(None::<&str>));
        let matches = command.get_matches_from(["sluice"]);
        // Every argument has a default or is optional, so this cannot fail; the unit
        // test below proves it.
        Self::from_arg_matches(&matches).expect("engine defaults parse")
    }
}

impl EngineConfig {
    /// The tenant cap in force: the configured one, or half the workers.
    pub fn tenant_cap(&self) -> usize {
        self.tenant_concurrency.unwrap_or(self.workers / 2).max(1)
    }

    /// When the recorder disables an endpoint that keeps failing.
    pub fn auto_disable(&self) -> crate::store::AutoDisable {
        crate::store::AutoDisable {
            after_ms: i64::try_from(self.auto_disable_after.as_millis()).unwrap_or(i64::MAX),
            min_attempts: i64::from(self.auto_disable_min_attempts.max(1)),
        }
    }

    /// When attempts make an incident and success ends one.
    pub fn incident_policy(&self) -> crate::store::IncidentPolicy {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        crate::store::IncidentPolicy {
            window_ms: ms(self.incident_window),
            failure_rate: f64::from(self.incident_failure_percent) / 100.0,
            min_attempts: i64::from(self.incident_min_attempts.max(1)),
            resolve_after_ms: ms(self.incident_resolve_after),
        }
    }

    /// Refuses settings that would break a promise (at-least-once, progress).
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.request_timeout >= Duration::from_secs(1),
            "SLUICE_REQUEST_TIMEOUT_SECONDS must be at least 1"
        );
        anyhow::ensure!(
            self.lease > self.request_timeout,
            "SLUICE_LEASE_SECONDS must exceed SLUICE_REQUEST_TIMEOUT_SECONDS, or live requests could be re-claimed"
        );
        anyhow::ensure!(self.workers >= 1, "SLUICE_WORKERS must be at least 1");
        anyhow::ensure!(self.endpoint_concurrency >= 1, "SLUICE_ENDPOINT_CONCURRENCY must be at least 1");
        anyhow::ensure!(self.claim_batch >= 1, "SLUICE_CLAIM_BATCH must be at least 1");
        anyhow::ensure!(self.scan_limit >= 1, "SLUICE_SCAN_LIMIT must be at least 1");
        anyhow::ensure!(self.tenant_max_endpoints >= 1, "SLUICE_TENANT_MAX_ENDPOINTS must be at least 1");
        anyhow::ensure!(self.tenant_max_api_keys >= 1, "SLUICE_TENANT_MAX_API_KEYS must be at least 1");
        anyhow::ensure!(
            self.incident_window >= Duration::from_secs(1) && self.incident_resolve_after >= self.incident_window,
            "SLUICE_INCIDENT_WINDOW_SECONDS must be at least 1, and SLUICE_INCIDENT_RESOLVE_AFTER_SECONDS at least \
             the window, or the failures that opened an incident could open it again once it ends"
        );
        anyhow::ensure!(
            self.canary_timeout >= Duration::from_secs(1),
            "SLUICE_CANARY_TIMEOUT_SECONDS must be at least 1"
        );
        if let Some(url) = &self.canary_url {
            sluice_core::validate::endpoint_url(url).map_err(|e| anyhow::anyhow!("SLUICE_CANARY_URL {e}"))?;
        }
        anyhow::ensure!(self.database_max_connections >= 2, "SLUICE_DATABASE_MAX_CONNECTIONS must be at least 2");
        Ok(())
    }
}

/// A setting that must never reach a log: its `Debug` is `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Redacted {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl EngineConfig {
    /// The sealer for signing secrets, from the configured key, the key file, or (on
    /// SQLite, when neither is set) a key file beside the database, created with mode
    /// 0600 the first time. PostgreSQL needs the key set: every node must hold the
    /// same one, which no node can invent alone.
    pub fn sealer(&self) -> anyhow::Result<crate::store::Sealer> {
        use crate::store::sealing::{parse_key, Sealer};
        let previous = self
            .previous_secret_keys
            .iter()
            .map(|k| parse_key(&k.0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("SLUICE_PREVIOUS_SECRET_KEYS: a key {e}"))?;
        let current = if let Some(key) = &self.secret_key {
            parse_key(&key.0).map_err(|e| anyhow::anyhow!("SLUICE_SECRET_KEY {e}"))?
        } else if let Some(path) = &self.secret_key_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("SLUICE_SECRET_KEY_FILE {}: {e}", path.display()))?;
            parse_key(&text).map_err(|e| anyhow::anyhow!("SLUICE_SECRET_KEY_FILE {}: the key {e}", path.display()))?
        } else if let Some(db) = sqlite_path(&self.database_url) {
            if db.as_os_str().is_empty() || db.to_string_lossy().contains(":memory:") {
                return Ok(Sealer::ephemeral());
            }
            let mut path = db.into_os_string();
            path.push(".key");
            load_or_create_key(std::path::Path::new(&path))?
        } else {
            anyhow::bail!(
                "with PostgreSQL, set SLUICE_SECRET_KEY (or SLUICE_SECRET_KEY_FILE) to one key shared by every \
                 node; it seals endpoint signing secrets at rest. Make one with: head -c 32 /dev/urandom | base64"
            );
        };
        Ok(Sealer::new(&current, &previous))
    }
}

/// The file a `sqlite:` URL names.
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    Some(std::path::PathBuf::from(rest.split('?').next().unwrap_or(rest)))
}

/// Reads the key file, or creates it (0600, never overwriting: two processes starting
/// at once both end up with the one that won).
fn load_or_create_key(path: &std::path::Path) -> anyhow::Result<[u8; 32]> {
    use crate::store::sealing::{format_key, parse_key, random_key};
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
    }
    let key = random_key();
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut file) => {
            file.write_all(format_key(&key).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "created the key that seals signing secrets; back it up with the database");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            parse_key(&text).map_err(|e| anyhow::anyhow!("{}: the key {e}", path.display()))
        }
        Err(e) => Err(anyhow::anyhow!("creating {}: {e}", path.display())),
    }
}

fn default_workers() -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    (cores * 64).clamp(64, 1024)
}

fn new_node_id() -> String {
    format!("node-{}", crate::ids::new_id::<sluice_core::ids::OperationKind>().as_str().trim_start_matches("op_"))
}

fn seconds(raw: &str) -> Result<Duration, String> {
    raw.parse::<u64>().map(Duration::from_secs).map_err(|_| format!("{raw:?} is not a whole number of seconds"))
}

fn poll_millis(raw: &str) -> Result<Duration, String> {
    let ms = raw.parse::<u64>().map_err(|_| format!("{raw:?} is not a whole number of milliseconds"))?;
    Ok(Duration::from_millis(ms.max(10)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_declared_ones_and_valid() {
        let c = EngineConfig::default();
        assert_eq!(c.database_url, "sqlite://./data/sluice.db");
        assert_eq!(c.endpoint_concurrency, 32);
        assert_eq!(c.lease, Duration::from_secs(60));
        assert_eq!(c.poll_interval, Duration::from_millis(500));
        assert_eq!(c.tenant_cap(), c.workers / 2);
        assert!(c.node_id.starts_with("node-"));
        c.validate().expect("defaults are valid");
    }

    #[test]
    fn the_sealing_key_comes_from_the_setting_a_file_or_beside_the_sqlite_file() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("sluice-key-{}", crate::ids::now_ms()));
        let url = format!("sqlite://{}/sub/sluice.db", dir.display());
        let config = EngineConfig { database_url: url, ..EngineConfig::default() };
        let first = config.sealer().expect("a key file is created");
        let key_file = dir.join("sub/sluice.db.key");
        let mode = std::fs::metadata(&key_file).expect("key file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(config.sealer().expect("and read back").key_id(), first.key_id(), "the same key every start");

        let from_file = EngineConfig {
            secret_key_file: Some(key_file),
            database_url: "postgres://x/y".into(),
            ..EngineConfig::default()
        };
        assert_eq!(from_file.sealer().expect("file").key_id(), first.key_id());

        let pg = EngineConfig { database_url: "postgres://x/y".into(), ..EngineConfig::default() };
        let refused = pg.sealer().expect_err("PostgreSQL needs a shared key");
        assert!(refused.to_string().contains("SLUICE_SECRET_KEY"), "{refused}");
        let bad = EngineConfig { secret_key: Some(Redacted("c2hvcnQ=".into())), ..EngineConfig::default() };
        assert!(bad.sealer().is_err(), "a short key is refused");
        assert_eq!(format!("{:?}", bad.secret_key), "Some(***)", "keys never reach a log");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_lease_shorter_than_the_timeout_is_refused() {
        let c = EngineConfig { lease: Duration::from_secs(5), ..EngineConfig::default() };
        assert!(c.validate().is_err());
    }
}
