//! Sluice's server-side core: storage, the delivery engine and the services that
//! both front doors (REST API and dashboard) call. Nothing here speaks HTTP to
//! clients; the engine only speaks HTTP to receivers.

pub mod access;
mod batching;
pub mod config;
pub mod delivery;
pub mod error;
pub mod ids;
pub mod pacing;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod wake;

pub use access::{
    same_secret, ActScope, AuditReach, Caller, ClientOrigin, KeyReach, ManageScope, Operator, Platform, Reach,
    TenantScope,
};
pub use config::EngineConfig;
pub use delivery::Engine;
pub use error::{Error, Result};
pub use service::{CanarySettings, Quotas, RollupRun, Session, SessionHolder, Sluice};
pub use wake::Wake;
