//! The delivery engine: claims due deliveries from the queue, sends them, records
//! what happened and decides what comes next.
//!
//! - [`dispatcher`]: the one loop per node that decides what is sent next, and the
//!   step tests drive;
//! - [`slot`], [`bucket`], [`breaker`], [`keys`]: one endpoint's state on this node
//!   (requests in flight, rate limit, circuit breaker, signing keys);
//! - [`shared`], [`grant`]: the limits several nodes share, and the room a node holds
//!   of them for a moment;
//! - [`decide`]: what an attempt's result means for its delivery (pure);
//! - [`sender`]: the HTTP request, signing and outbound safety;
//! - [`recorder`]: batched writes of verdicts;
//! - [`stats`]: counters and open circuits for people to read.

pub mod breaker;
pub mod bucket;
pub mod concurrency;
mod decide;
mod dispatcher;
mod egress;
mod grant;
mod idle;
mod keys;
mod recorder;
mod sender;
mod shared;
mod slot;
mod stats;
mod tiers;

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::EngineConfig;
use crate::error::Result;
use crate::store::Store;
use crate::wake::Wake;

pub use decide::{decide, Verdict};
pub use dispatcher::Dispatcher;
pub use egress::{is_blocked, AllowedPorts};
pub use idle::{wait_idle, Quiet};
pub use sender::{parse_retry_after, SendResult, Sender, MAX_RESPONSE_BODY};
pub use stats::{OpenCircuit, OpenCircuits, Stats};

/// The database's share of a node's stop, after the grace for requests in flight:
/// writing their outcomes, handing leases back, marking the node stopped. A node told
/// to stop during an outage gives up on what is left once it is spent, instead of
/// waiting out pool timeouts and the recorder's retries: what it could not write is
/// sent again once its leases expire, as after a crash.
pub const STOP_DB_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// The engine of one node: what its dispatcher needs, shared with its send tasks.
pub struct Engine {
    store: Arc<dyn Store>,
    config: EngineConfig,
    sender: Sender,
    /// For the canary's deliveries only: its endpoints are this platform's own
    /// receivers (`SLUICE_CANARY_URL` or loopback), made by no caller (no caller
    /// reaches the canary's tenant), so the rules on where partners' endpoints may
    /// point do not apply to them.
    canary_sender: Sender,
    wake: Arc<Wake>,
    stats: Arc<Stats>,
    circuits: Arc<OpenCircuits>,
    quiet: watch::Sender<Quiet>,
    telemetry: Arc<crate::telemetry::Telemetry>,
    tiers: Arc<tiers::TenantTiers>,
}

impl Engine {
    pub fn new(store: Arc<dyn Store>, config: EngineConfig, wake: Arc<Wake>) -> anyhow::Result<Self> {
        let sender = Sender::new(
            config.request_timeout,
            config.allow_private_targets,
            AllowedPorts::new(config.allowed_ports.clone()),
            config.endpoint_concurrency,
        )?;
        let canary_sender =
            Sender::new(config.request_timeout, true, AllowedPorts::new(Vec::new()), config.endpoint_concurrency)?;
        let quiet = watch::Sender::new(Quiet::default());
        let (telemetry, tiers) = (Arc::default(), Arc::default());
        let (stats, circuits) = (Arc::default(), Arc::default());
        Ok(Self { store, config, sender, canary_sender, wake, stats, circuits, quiet, telemetry, tiers })
    }

    /// Counts into `telemetry` (the node's, which `/metrics` renders) instead of a
    /// registry of its own.
    pub fn with_telemetry(mut self, telemetry: Arc<crate::telemetry::Telemetry>) -> Self {
        self.telemetry = telemetry;
        self
    }

    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    pub fn circuits(&self) -> Arc<OpenCircuits> {
        self.circuits.clone()
    }

    /// Whether the running dispatcher has gone quiet (see [`wait_idle`]).
    pub fn quiet(&self) -> watch::Receiver<Quiet> {
        self.quiet.subscribe()
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// A dispatcher for this engine, to run or (in tests) to step.
    pub fn dispatcher(self: &Arc<Self>) -> Dispatcher {
        Dispatcher::new(self.clone())
    }

    /// Runs a dispatcher until `stop` becomes true, then shuts it down gracefully.
    pub async fn run_until_stopped(self: Arc<Self>, stop: watch::Receiver<bool>) -> Result<()> {
        self.dispatcher().run_until_stopped(stop).await
    }
}
