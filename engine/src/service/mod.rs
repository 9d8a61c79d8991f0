//! The use cases, one method per thing a caller can do. The REST API and the
//! dashboard's server functions both call these, so the two can never disagree about
//! a rule: validation, tenant isolation and state transitions all live here.
//!
//! A method that reads or changes one tenant's data takes the [`TenantScope`] (or
//! [`ManageScope`]) the edge got from `caller.tenant(&id)?`; cross-tenant reads take an
//! [`Operator`], platform-wide changes a [`Platform`]. Only the few methods that must
//! look a resource up before they know its tenant (an API key, an operation) take the
//! [`Caller`] and derive the scope themselves.

mod argon2_memory;
mod audit;
mod backlog;
mod canary;
mod deletion;
mod detail;
mod endpoints;
mod events;
mod health;
mod idempotency;
mod incidents;
mod keys;
mod labels;
mod live;
mod messages;
mod metrics;
mod node;
pub(crate) mod nodes;
mod operations;
mod passwords;
mod portal;
mod publish_queue;
mod queries;
mod retention;
mod rollups;
mod sign_in;
mod slo;
mod statistics;
mod tenants;
mod triage;
mod users;

pub use audit::{current_client_ip, with_origin, DEFAULT_AUDIT_RETENTION};
pub use canary::{CanarySettings, CANARY_EVENT_TYPE};
pub use events::EventQuery;
pub use idempotency::{IdempotencyTicket, Idempotent, Once, Settle, IDEMPOTENCY_KEPT, IN_FLIGHT_FOR_AT_MOST};
pub use incidents::{IncidentQuery, IncidentsShown};
pub use messages::{parse_time, Published};
pub use operations::RecoverAnswer;
pub use passwords::PasswordGate;
pub use portal::{IssuedPortalLink, OpenedPortalSession};
pub use queries::DeliveryQuery;
pub use rollups::RollupRun;
pub use sign_in::{random_nonce, SignedIn, SESSION_TTL};
pub use triage::Triage;
pub use users::{generate_password, Session, SessionHolder, SESSION_IDLE};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_core::ids::TenantId;

pub use crate::access::{ActScope, AuditReach, Caller, KeyReach, ManageScope, Operator, Platform, Reach, TenantScope};
use crate::error::{Error, Result};
use crate::store::{PageArgs, Store};
use crate::wake::Wake;

pub use keys::hash_api_key;

/// How long a looked-up API key is trusted before asking the database again.
const AUTH_TTL: Duration = Duration::from_secs(30);

/// The service layer of one Sluice process.
pub struct Sluice {
    store: Arc<dyn Store>,
    wake: Arc<Wake>,
    tenant_facts: Mutex<HashMap<TenantId, backlog::TenantFacts>>,
    auth_cache: Mutex<HashMap<String, (Option<Caller>, Instant)>>,
    /// Set once the engine runs (see `node.rs`).
    engine: std::sync::OnceLock<node::EngineView>,
    /// Started on first publish, so constructing a `Sluice` needs no runtime.
    publish_queue: std::sync::OnceLock<publish_queue::PublishQueue>,
    quotas: Quotas,
    passwords: passwords::PasswordGate,
    audit_retention: Duration,
    telemetry: Arc<crate::telemetry::Telemetry>,
    scrapes: metrics::ScrapeCache,
    /// The platform's auto-disable policy, to tell partners when a failing endpoint
    /// will be disabled (the recorder applies it).
    auto_disable: crate::store::AutoDisable,
    /// When attempts make an incident (the detector job applies it).
    incident_policy: crate::store::IncidentPolicy,
    /// How often this node's canary runs (0: it does not), for the operations page.
    canary_interval: Duration,
    live: live::LiveCache,
}

/// The platform's default per-tenant quotas; a tenant may have its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    pub endpoints: u32,
    pub api_keys: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Self::from(&crate::EngineConfig::default())
    }
}

impl From<&crate::EngineConfig> for Quotas {
    fn from(config: &crate::EngineConfig) -> Self {
        Self { endpoints: config.tenant_max_endpoints, api_keys: config.tenant_max_api_keys }
    }
}

impl Sluice {
    pub fn new(store: Arc<dyn Store>, wake: Arc<Wake>) -> Self {
        Self {
            store,
            wake,
            tenant_facts: Mutex::new(HashMap::new()),
            auth_cache: Mutex::new(HashMap::new()),
            engine: std::sync::OnceLock::new(),
            publish_queue: std::sync::OnceLock::new(),
            quotas: Quotas::default(),
            passwords: passwords::PasswordGate::default(),
            audit_retention: audit::DEFAULT_AUDIT_RETENTION,
            telemetry: Arc::default(),
            scrapes: metrics::ScrapeCache::default(),
            auto_disable: crate::EngineConfig::default().auto_disable(),
            incident_policy: crate::EngineConfig::default().incident_policy(),
            canary_interval: Duration::ZERO,
            live: live::LiveCache::default(),
        }
    }

    /// How often this node's canary runs, as the operations page tells (the server
    /// starts the job itself).
    pub fn with_canary_interval(mut self, every: Duration) -> Self {
        self.canary_interval = every;
        self
    }

    /// The auto-disable policy the engine was given, instead of the default.
    pub fn with_auto_disable(mut self, policy: crate::store::AutoDisable) -> Self {
        self.auto_disable = policy;
        self
    }

    /// The incident policy the engine was given, instead of the default.
    pub fn with_incident_policy(mut self, policy: crate::store::IncidentPolicy) -> Self {
        self.incident_policy = policy;
        self
    }

    /// At most `tenants` tenants labelled by id in the metrics, instead of the default.
    pub fn with_labelled_tenants(mut self, tenants: usize) -> Self {
        self.telemetry = Arc::new(crate::telemetry::Telemetry::new(tenants));
        self
    }

    /// This node's metrics, to hand to its engine and its HTTP layer.
    pub fn telemetry(&self) -> Arc<crate::telemetry::Telemetry> {
        self.telemetry.clone()
    }

    /// The platform's default quotas, instead of the configuration's defaults.
    pub fn with_quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    /// How long audit entries are kept, instead of the default 400 days.
    pub fn with_audit_retention(mut self, keep: Duration) -> Self {
        self.audit_retention = keep;
        self
    }

    pub fn wake_handle(&self) -> Arc<Wake> {
        self.wake.clone()
    }
}

/// Turns `?limit=&cursor=` into page arguments: default 50, at most 250.
pub fn page_args(limit: Option<i64>, cursor: Option<String>) -> Result<PageArgs> {
    let limit = limit.unwrap_or(50);
    if !(1..=250).contains(&limit) {
        return Err(Error::invalid("limit", "must be between 1 and 250"));
    }
    if let Some(c) = &cursor {
        if c.len() > 64 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Error::invalid("cursor", "is not a cursor this API returned"));
        }
    }
    // One extra row tells whether there is a next page.
    Ok(PageArgs { limit: limit + 1, before: cursor })
}

/// Splits the extra row off a page fetched with [`page_args`] and returns the cursor.
pub fn finish_page<T>(mut rows: Vec<T>, page: &PageArgs, id_of: impl Fn(&T) -> String) -> sluice_core::model::Page<T> {
    let wanted = usize::try_from(page.limit - 1).unwrap_or(0);
    let next_cursor = if rows.len() > wanted {
        rows.truncate(wanted);
        rows.last().map(id_of)
    } else {
        None
    };
    sluice_core::model::Page { data: rows, next_cursor }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these maps leaves nothing half-written that matters:
    // they are caches.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
