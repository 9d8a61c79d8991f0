//! This node as the services see it: readiness, and what its engine has done, for the
//! status page, `/metrics` and the circuit shown beside an endpoint.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sluice_core::ids::EndpointId;
use sluice_core::model::NodeStatus;

use super::{Operator, Sluice};
use crate::delivery::{wait_idle, Engine, OpenCircuit, OpenCircuits, Quiet, Stats};
use crate::error::{Error, Result};

/// The engine's read-only side, handed to the services when it starts.
pub(super) struct EngineView {
    pub(super) stats: Arc<Stats>,
    pub(super) circuits: Arc<OpenCircuits>,
    quiet: tokio::sync::watch::Receiver<Quiet>,
    node_id: String,
}

impl Sluice {
    /// The engine runs: from now on `/readyz` can say yes, and the services can tell
    /// what it does.
    pub fn engine_started(&self, engine: &Engine) {
        let view = EngineView {
            stats: engine.stats(),
            circuits: engine.circuits(),
            quiet: engine.quiet(),
            node_id: engine.config().node_id.clone(),
        };
        if self.engine.set(view).is_err() {
            tracing::warn!("engine_started called twice; keeping the first engine");
        }
    }

    /// Ready: migrations ran (the store exists), the engine runs, the database answers.
    pub async fn ready(&self) -> Result<()> {
        if self.engine.get().is_none() {
            return Err(Error::Unavailable("delivery workers are not running yet".into()));
        }
        self.store.ping().await
    }

    /// Waits until this node's dispatcher has gone quiet after a fresh look at the
    /// queue: nothing in flight, nothing it could start (see `delivery::wait_idle`),
    /// and every attempt made is recorded, so what is read next shows it. Returns at
    /// once when no engine runs.
    pub async fn wait_engine_idle(&self) {
        if let Some(view) = self.engine.get() {
            wait_idle(view.quiet.clone()).await;
            // The outcomes of the last requests to end are on their way to the
            // database: the recorder waits a little for more to write them together.
            let recorded =
                || view.stats.recorded.load(Ordering::Relaxed) >= view.stats.attempts.load(Ordering::Relaxed);
            while !recorded() {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        }
    }

    /// This node's id, once its engine runs.
    pub fn node_id(&self) -> Option<&str> {
        self.engine.get().map(|e| e.node_id.as_str())
    }

    /// This node's counters, once its engine runs.
    pub fn engine_stats(&self) -> Option<Arc<Stats>> {
        self.engine.get().map(|e| e.stats.clone())
    }

    /// The endpoint's circuit, when it is open on this node.
    pub(super) fn open_circuit(&self, endpoint: &EndpointId) -> Option<OpenCircuit> {
        self.engine.get().and_then(|e| e.circuits.get(endpoint))
    }

    /// Version, database, readiness and delivery counters. Operators only: it spans
    /// every tenant.
    pub async fn node_status(&self, _operator: &Operator) -> Result<NodeStatus> {
        let ready = self.ready().await.is_ok();
        Ok(NodeStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            backend: format!("{:?}", self.store.backend()),
            ready,
            attempts: self.engine_count(|s| &s.attempts),
            succeeded: self.engine_count(|s| &s.succeeded),
            in_flight: self.engine_count(|s| &s.in_flight),
        })
    }

    /// One of this node's engine counters; 0 before the engine runs.
    pub(super) fn engine_count(&self, pick: fn(&Stats) -> &AtomicU64) -> u64 {
        self.engine.get().map_or(0, |e| pick(&e.stats).load(Ordering::Relaxed))
    }
}
