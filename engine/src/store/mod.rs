//! Storage: one [`Store`] interface, implemented for SQLite and PostgreSQL.
//!
//! This module is the only place in Sluice that speaks SQL. [`Store`] is made of one
//! sub-trait per aggregate ([`TenantStore`], [`QueueStore`], …). Callers hold an
//! `Arc<dyn Store>`, on which every sub-trait's methods can be called without importing
//! it; code that holds a concrete store or is generic over one imports [`prelude`].
//!
//! Both implementations share most statements because the schema sticks to types both
//! databases store alike: TEXT ids, 64-bit integer times, JSON as TEXT. Those live in
//! `sql/`, one file per aggregate, each compiled once per backend (`include!`d by
//! `sqlite.rs` and `postgres.rs`). Rows and their mapping to records (`rows.rs`) do not
//! depend on the backend and are compiled once. Where the databases differ (claiming,
//! wake-ups, pools) each backend has its own code.
//!
//! Methods that read or change one tenant's data take a [`TenantScope`], cross-tenant
//! reads an [`Operator`], platform-wide changes a [`Platform`] (see `crate::access`):
//! the store cannot be asked for a tenant's rows by code that did not check the caller.
//! The dispatcher's lease protocol and the sign-in plumbing take none; they run before
//! or outside any caller.

mod canary;
mod deletion;
mod gauges;
mod idempotency;
pub mod incidents;
pub mod operational;
mod portal;
mod postgres;
mod queue;
mod records;
mod rollups;
mod rows;
pub mod sealing;
mod sqlite;
pub mod streaks;

use std::sync::Arc;

use async_trait::async_trait;
use sluice_core::ids::*;
use sluice_core::model::*;

use crate::access::{KeyReach, Operator, Platform, Reach, TenantScope};
use crate::error::{Error, Result};

pub use canary::{CanaryRunRow, CanaryStore};
pub use deletion::{DeletionRow, TenantDeletionStore};
pub use gauges::{AttemptMinute, EndpointCounts, GaugeStore, PoolState, TenantQueue};
pub use idempotency::{IdempotencyBegin, IdempotencyStore, StoredAnswer};
pub use incidents::{
    EndpointWindow, IncidentChange, IncidentFilter, IncidentPolicy, IncidentStore, IncidentTimesRow, OpenIncident,
};
pub use portal::{NewPortalLink, OpenedPortal, PortalGrant, PortalStore, StoredPortalSession};
pub use postgres::PgStore;
pub use queue::{
    CircuitChange, CircuitRecord, Claimed, DueEndpoint, GrantAsk, NextStep, Outcome, SharedCircuit, SharedClaim,
    SharedLimits,
};
pub use records::{
    AttemptRecord, AuditFilter, DeliveryFilter, EndpointHealthRow, EventFilter, LifecycleEvent, MessageFilter,
    NewMessage, NewOperation, NewSession, PageArgs, PublishResult, PurgeCounts, SearchHit, SecretRecord, SloHour,
    StoredSession, TenantHealth, ThrottleLimit,
};
pub use rollups::{mark_cutoff_ms, PastDelivery, PastOutcome, RolledHour, RollupStore, HOUR_MS, SETTLE_MS};
pub(crate) use rows::ms_to_dt;
pub use sealing::Sealer;
pub use sqlite::SqliteStore;
pub use streaks::{AutoDisable, FailureStreak, Failures, StreakChange, StreakStore};

/// [`Store`] and its sub-traits, for code that calls a concrete store (`SqliteStore`,
/// `PgStore`) or is generic over `S: Store`: there a sub-trait's methods need the
/// sub-trait in scope. (On `dyn Store` they do not: a trait object has its supertraits'
/// methods.)
pub mod prelude {
    pub use super::{
        AuditStore, CanaryStore, EndpointStore, GaugeStore, IdempotencyStore, IncidentStore, KeyStore,
        MaintenanceStore, MessageStore, OperationStore, PortalStore, QueueStore, ReportStore, RollupStore, SignInStore,
        Store, TenantStore, UserStore,
    };
}

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Opens the database named by `url`, applies pending migrations, and re-seals any
/// signing secret not sealed under `sealer`'s current key.
pub async fn connect(url: &str, pg_max_connections: u32, sealer: Sealer) -> Result<Arc<dyn Store>> {
    let sealer = Arc::new(sealer);
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        Arc::new(SqliteStore::connect(url, sealer).await?)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Arc::new(PgStore::connect(url, pg_max_connections, sealer).await?)
    } else {
        return Err(Error::invalid("database_url", "must start with sqlite:// or postgres://"));
    };
    store.migrate().await?;
    Ok(store)
}

/// Everything Sluice keeps in its database: every aggregate's store, and the database
/// itself.
#[async_trait]
pub trait Store:
    TenantStore
    + KeyStore
    + UserStore
    + SignInStore
    + AuditStore
    + EndpointStore
    + MessageStore
    + QueueStore
    + OperationStore
    + ReportStore
    + MaintenanceStore
    + IdempotencyStore
    + StreakStore
    + TenantDeletionStore
    + IncidentStore
    + CanaryStore
    + RollupStore
    + PortalStore
    + GaugeStore
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> Backend;
    async fn migrate(&self) -> Result<()>;
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> Result<()>;
    /// Starts forwarding other nodes' wake-ups (PostgreSQL LISTEN) to `wake`.
    async fn listen_for_work(&self, wake: Arc<crate::wake::Wake>) -> Result<()>;
    /// Whether a publish's commit announces the endpoints it queued work at to every
    /// node, this one included (PostgreSQL's NOTIFY), so the publisher need not wake
    /// its own dispatcher.
    fn announces_publishes(&self) -> bool {
        false
    }
}

/// Tenants and the SLO tiers they are on.
#[async_trait]
pub trait TenantStore: Send + Sync {
    async fn insert_tenant(&self, platform: &Platform, tenant: &Tenant) -> Result<()>;
    async fn get_tenant(&self, tenant: &TenantScope) -> Result<Option<Tenant>>;
    async fn list_tenants(&self, operator: &Operator, page: &PageArgs) -> Result<Vec<Tenant>>;
    /// Writes the tenant's fields and bumps its version if the stored version is
    /// still `expected`; false when someone changed it first.
    async fn update_tenant(&self, platform: &Platform, tenant: &Tenant, expected: i64) -> Result<bool>;
    async fn tiers(&self) -> Result<Vec<Tier>>;
    async fn tier(&self, name: &str) -> Result<Option<Tier>>;
    /// Like `update_tenant`, for a tier's targets.
    async fn update_tier(&self, platform: &Platform, tier: &Tier, expected: i64) -> Result<bool>;
}

/// API keys, platform and tenant; stored by the hash of the key, never the key.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a key; a tenant's key only while the tenant has fewer than `quota`
    /// active keys (`QuotaExceeded` otherwise). Platform keys pass `None`.
    async fn insert_api_key(&self, key: &ApiKey, key_hash: &str, quota: Option<(&TenantScope, i64)>) -> Result<()>;
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>>;
    async fn api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>>;
    /// One tenant's keys, or every key (platform and tenant) for the platform; newest
    /// first.
    async fn list_api_keys(&self, reach: KeyReach<'_>) -> Result<Vec<ApiKey>>;
    /// Marks the key revoked at `at_ms` unless it already is (then it is unchanged).
    /// Refuses, returning `None`, to revoke the last unrevoked platform key, so the
    /// platform cannot lock itself out. `Err(NotFound)` for an unknown id.
    async fn revoke_api_key(&self, id: &ApiKeyId, at_ms: i64) -> Result<Option<ApiKey>>;
    async fn touch_api_key(&self, id: &ApiKeyId, at_ms: i64) -> Result<()>;
    async fn platform_key_exists(&self) -> Result<bool>;
}

/// Dashboard users, their sessions and the failed sign-ins counted against guessing.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user; a taken email is `Conflict`.
    async fn insert_user(&self, platform: &Platform, user: &User, password_hash: &str) -> Result<()>;
    /// A user and their password hash, by lower-cased email.
    async fn user_by_email(&self, email: &str) -> Result<Option<(User, String)>>;
    async fn list_users(&self, platform: &Platform, page: &PageArgs) -> Result<Vec<User>>;
    async fn admin_exists(&self) -> Result<bool>;
    async fn user(&self, id: &UserId) -> Result<Option<User>>;
    /// Writes a user's role, tenant and disabled state and ends their sessions, in one
    /// transaction, if the stored version is still `expected` (false when someone
    /// changed it first); `Conflict` if no enabled admin would remain.
    async fn update_user(&self, platform: &Platform, user: &User, expected: i64) -> Result<bool>;
    /// Deletes a user and their sessions if its version is `expected` (any, for
    /// `None`; false when it is not); `Conflict` if no enabled admin would remain.
    async fn delete_user(&self, platform: &Platform, id: &UserId, expected: Option<i64>) -> Result<bool>;
    async fn password_hash(&self, id: &UserId) -> Result<Option<String>>;
    /// Replaces a password hash and ends the user's sessions, all but `keep_session`
    /// (a token hash: the session that changed its own password).
    async fn set_password_hash(&self, id: &UserId, hash: &str, keep_session: Option<&str>) -> Result<()>;
    async fn insert_session(&self, session: &NewSession) -> Result<()>;
    /// The session, if it exists, has not expired at `now_ms`, was last seen after
    /// `idle_floor_ms`, and its user is not disabled.
    async fn session(&self, token_hash: &str, now_ms: i64, idle_floor_ms: i64) -> Result<Option<StoredSession>>;
    /// Notes that the session was used at `now_ms` (for the idle timeout).
    async fn touch_session(&self, token_hash: &str, now_ms: i64) -> Result<()>;
    /// Deletes expired and idle sessions; returns how many.
    async fn purge_sessions(&self, now_ms: i64, idle_floor_ms: i64) -> Result<u64>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;
}

/// Sign-in throttling, shared by every node: attempts counted per key (a client
/// address, an account, the pair) in a window, each beyond the free ones waiting twice
/// as long as the one before.
#[async_trait]
pub trait SignInStore: Send + Sync {
    /// Counts one attempt against every limit, all or none, before the password is
    /// checked (so parallel guesses cannot all pass a check made before any is
    /// counted). `Some(wait_ms)` when one of the limits says wait first; nothing is
    /// counted then. A window that began before `window_floor_ms` starts again.
    async fn reserve_sign_in(&self, limits: &[ThrottleLimit], now_ms: i64, window_floor_ms: i64)
        -> Result<Option<i64>>;
    /// Takes one counted attempt back (a success, on a key that stays).
    async fn release_sign_in(&self, limit: &ThrottleLimit) -> Result<()>;
    /// Forgets keys (a success clears its account and pair).
    async fn clear_sign_in(&self, keys: &[String]) -> Result<()>;
    /// Notes that `key` (an account and address that signed in) was seen at `now_ms`.
    async fn mark_sign_in_seen(&self, key: &str, now_ms: i64) -> Result<()>;
    /// Whether `key` was seen at or after `since_ms`.
    async fn sign_in_seen_since(&self, key: &str, since_ms: i64) -> Result<bool>;
    /// Deletes counts last touched before `window_floor_ms` and `seen:` marks from
    /// before `seen_floor_ms`; returns how many.
    async fn purge_sign_in_throttle(&self, window_floor_ms: i64, seen_floor_ms: i64) -> Result<u64>;
}

/// The audit trail.
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit_event(&self, event: &AuditEvent) -> Result<()>;
    /// Entries matching `filter`, newest first, a page at a time.
    async fn list_audit_events(&self, filter: &AuditFilter, page: &PageArgs) -> Result<Vec<AuditEvent>>;
    /// Deletes entries from before `before_ms`; returns how many.
    async fn purge_audit_events(&self, before_ms: i64) -> Result<u64>;
}

/// Endpoints and their signing secrets.
#[async_trait]
pub trait EndpointStore: Send + Sync {
    /// Stores an endpoint with its first secret, while the tenant has fewer than
    /// `quota` endpoints (`QuotaExceeded` otherwise).
    async fn insert_endpoint(
        &self,
        tenant: &TenantScope,
        endpoint: &Endpoint,
        secret: &SecretRecord,
        event: &LifecycleEvent,
        quota: i64,
    ) -> Result<()>;
    async fn get_endpoint(&self, tenant: &TenantScope, id: &EndpointId) -> Result<Option<Endpoint>>;
    /// The tenant's endpoints among `ids` that still exist, in one query.
    async fn endpoints_by_id(&self, tenant: &TenantScope, ids: &[EndpointId]) -> Result<Vec<Endpoint>>;
    async fn list_endpoints(&self, tenant: &TenantScope, page: &PageArgs) -> Result<Vec<Endpoint>>;
    /// The tenant's endpoints that have labels (not deleted), with them.
    async fn endpoint_labels(
        &self,
        tenant: &TenantScope,
    ) -> Result<Vec<(EndpointId, std::collections::BTreeMap<String, String>)>>;
    /// Writes `endpoint`'s mutable fields if the stored version is still
    /// `expected_version`; false when someone changed it first.
    async fn update_endpoint(
        &self,
        tenant: &TenantScope,
        endpoint: &Endpoint,
        expected_version: i64,
        event: Option<&LifecycleEvent>,
    ) -> Result<bool>;
    /// Removes the endpoint from view and cancels its pending deliveries, if its
    /// version is `expected` (any, for `None`); false when it is not, or is gone.
    async fn delete_endpoint(
        &self,
        tenant: &TenantScope,
        id: &EndpointId,
        expected: Option<i64>,
        now_ms: i64,
        event: &LifecycleEvent,
    ) -> Result<bool>;
    /// The event-type filters of the tenant's enabled endpoints (empty: every type),
    /// which is what a publish fans out to.
    async fn subscriptions(&self, tenant: &TenantScope) -> Result<Vec<Vec<String>>>;
    /// Secrets that sign at `now_ms`: the active one first, then those in grace.
    async fn valid_secrets(&self, endpoint: &EndpointId, now_ms: i64) -> Result<Vec<SecretRecord>>;
    /// Makes `new` the active secret; the previous active one expires at `old_expires_ms`.
    async fn rotate_secret(
        &self,
        endpoint: &Endpoint,
        new: &SecretRecord,
        old_expires_ms: i64,
        event: &LifecycleEvent,
    ) -> Result<()>;
}

/// Messages, the deliveries they fan out to and the attempts made: publishing,
/// reading and replaying.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores messages and queues one delivery per matching enabled endpoint, all in
    /// one transaction; answers in the order given. A message whose idempotency key
    /// exists (also earlier in the same batch) writes nothing and gets `Existing`.
    async fn publish_batch(&self, batch: &[NewMessage]) -> Result<Vec<PublishResult>>;
    /// [`MessageStore::publish_batch`] of one.
    async fn publish(&self, message: &NewMessage) -> Result<PublishResult> {
        let mut results = self.publish_batch(std::slice::from_ref(message)).await?;
        results.pop().ok_or_else(|| Error::Internal("publish_batch answered nothing".into()))
    }
    async fn get_message(&self, tenant: &TenantScope, id: &MessageId) -> Result<Option<Message>>;
    /// The message published with this idempotency key, with its request hash.
    async fn message_by_idempotency_key(
        &self,
        tenant: &TenantScope,
        key: &str,
    ) -> Result<Option<(Message, Option<String>)>>;
    async fn list_messages(
        &self,
        tenant: &TenantScope,
        filter: &MessageFilter,
        page: &PageArgs,
    ) -> Result<Vec<Message>>;
    /// Makes the message's deliveries (or the one to `endpoint`) due now with `trigger`,
    /// creating a delivery for a subscribed endpoint that has none. Rows being sent
    /// right now are left alone. Returns the deliveries queued.
    async fn replay(
        &self,
        tenant: &TenantScope,
        message: &MessageId,
        endpoint: Option<&EndpointId>,
        trigger: AttemptTrigger,
        now_ms: i64,
    ) -> Result<Vec<DeliveryId>>;
    /// Undelivered (pending) deliveries of a tenant.
    async fn backlog(&self, tenant: &TenantScope) -> Result<i64>;
    async fn list_deliveries(
        &self,
        tenant: &TenantScope,
        filter: &DeliveryFilter,
        page: &PageArgs,
    ) -> Result<Vec<Delivery>>;
    async fn get_delivery(&self, tenant: &TenantScope, id: &DeliveryId) -> Result<Option<Delivery>>;
    async fn list_attempts(&self, tenant: &TenantScope, delivery: &DeliveryId, page: &PageArgs)
        -> Result<Vec<Attempt>>;
    /// Every attempt of the given deliveries, oldest first, in one query.
    async fn attempts_of(&self, tenant: &TenantScope, deliveries: &[DeliveryId]) -> Result<Vec<Attempt>>;
}

/// The lease protocol the dispatcher runs: find endpoints with due deliveries, lease
/// (claim) some, record their outcomes fenced by the lease token, and release what is
/// still leased at shutdown.
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Enabled endpoints whose queue head is due at `now_ms`: at most `per_tenant` of
    /// each tenant (the longest-waiting first) and `limit` in all, taken round-robin
    /// across tenants so that no tenant's endpoint count can fill the window; tenants
    /// in `skip` (at their concurrency cap) are left out, and so are the endpoints in
    /// `skip_endpoints` (open circuits), which would otherwise hold their tenant's
    /// window with heads that cannot move. The cost grows with the endpoints that
    /// have due work, not with the endpoints that exist.
    async fn due_endpoints(
        &self,
        now_ms: i64,
        per_tenant: i64,
        limit: i64,
        skip: &[TenantId],
        skip_endpoints: &[EndpointId],
    ) -> Result<Vec<DueEndpoint>>;
    /// Moves the endpoint's queue head to its earliest pending delivery (or clears
    /// it), unless work is being queued for it at that moment: then the head stays
    /// early, which costs an empty claim, never a delivery. Called when a claim found
    /// less than it asked for.
    async fn settle_head(&self, endpoint: &EndpointId) -> Result<()>;
    /// Leases up to `want` due deliveries of one endpoint, as [`claim`](Self::claim)
    /// does, under the limits every node sharing this database keeps together: the
    /// rate schedule, the endpoint's and tenant's requests in flight (counted from the
    /// leases other nodes hold) and the circuit, with a single half-open probe. One
    /// transaction, under the tenant's row lock, so two nodes cannot both take the
    /// last slot; the rate schedule and the circuit are timed by the database's clock.
    /// `None` where this node is the only one (SQLite): its own state is the truth.
    #[allow(clippy::too_many_arguments)]
    async fn claim_shared(
        &self,
        endpoint: &EndpointId,
        tenant: &TenantId,
        limits: &SharedLimits,
        want: usize,
        now_ms: i64,
        lease_until_ms: i64,
        owner: &str,
    ) -> Result<Option<SharedClaim>>;
    /// Shares circuit changes with the other nodes (on PostgreSQL), and records an
    /// `endpoint.circuit_opened` or `_closed` event for each change that opened or
    /// closed the circuit for everyone: once however many nodes saw it.
    async fn record_circuits(&self, changes: &[CircuitRecord]) -> Result<()>;
    /// Leases up to `limit` due deliveries of one endpoint to `owner` until `lease_until_ms`.
    async fn claim(
        &self,
        endpoint: &EndpointId,
        now_ms: i64,
        lease_until_ms: i64,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<Claimed>>;
    /// As [`claim`](Self::claim), for a node filling the grants that
    /// [`claim_shared`](Self::claim_shared) handed it for `endpoint` and `tenant`:
    /// nothing unless both still have `margin_ms` to run by the database's clock, and
    /// nothing while the endpoint's shared circuit is not closed, which the grant did
    /// not foresee (the node learns how it stands at its next shared claim).
    async fn claim_granted(
        &self,
        endpoint: &EndpointId,
        tenant: &TenantId,
        margin_ms: i64,
        clocks: (i64, i64, &str),
        limit: i64,
    ) -> Result<Vec<Claimed>>;
    /// Writes attempts and their deliveries' next state in one transaction, plus
    /// endpoints to disable (410 Gone), lifecycle events, and the endpoints' failure
    /// streaks, disabling those that failed for longer than `auto_disable` allows.
    /// Answers how many of the outcomes were successes fenced off because another
    /// claim had taken the lease over: duplicate sends.
    async fn record(
        &self,
        outcomes: &[Outcome],
        disable: &[(EndpointId, String)],
        events: &[LifecycleEvent],
        auto_disable: AutoDisable,
        now_ms: i64,
    ) -> Result<u64>;
    /// Makes every delivery still leased by `owner` due now (graceful shutdown).
    async fn release_leases(&self, owner: &str, now_ms: i64) -> Result<u64>;
}

/// Bulk operations on deliveries (recover): run in one transaction, then followed
/// by counting their deliveries.
#[async_trait]
pub trait OperationStore: Send + Sync {
    /// Re-queues the endpoint's failed deliveries created in `[since, until)`, tags them
    /// with the operation and stores it with their count, in one transaction. Returns
    /// the count.
    async fn recover(&self, tenant: &TenantScope, op: &NewOperation, now_ms: i64) -> Result<i64>;
    /// How many deliveries a recover of `op` would queue again, without queueing them.
    async fn recoverable(&self, tenant: &TenantScope, op: &NewOperation) -> Result<i64>;
    /// An operation with its deliveries counted by state.
    async fn get_operation(&self, id: &OperationId) -> Result<Option<Operation>>;
    /// The tenant's operations, newest first.
    async fn list_operations(&self, tenant: &TenantScope, page: &PageArgs) -> Result<Vec<Operation>>;
    /// Marks the tenant's operation cancelled and sends what it re-queued that still
    /// waits back to failed; how many, or `None` if it was cancelled already (what
    /// came due since is swept all the same) or is not the tenant's.
    async fn cancel_operation(&self, tenant: &TenantScope, id: &OperationId, now_ms: i64) -> Result<Option<i64>>;
}

/// Reads across deliveries for support and the dashboard (triage, SLO hours, search)
/// and the lifecycle-event trail.
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Every tenant's delivery health since `since_ms`, for support's triage; SLO
    /// counts as of `now_ms` against each tenant's tier.
    async fn triage(&self, operator: &Operator, since_ms: i64, now_ms: i64) -> Result<Vec<TenantHealth>>;
    /// Error classes of deliveries that are not succeeding, updated since `since_ms`;
    /// one tenant's, or every tenant's for an operator.
    async fn error_classes(&self, reach: Reach<'_>, since_ms: i64) -> Result<Vec<(String, i64)>>;
    /// A tenant's deliveries created since `since_ms`, per hour (see [`SloHour`]):
    /// good means succeeded within `latency_target_ms`; pending ones created before
    /// `late_before_ms` are counted (already late).
    async fn slo_hours(
        &self,
        tenant: &TenantScope,
        since_ms: i64,
        late_before_ms: i64,
        latency_target_ms: i64,
    ) -> Result<Vec<SloHour>>;
    /// Up to `limit` hits across tenants for an id, idempotency key or URL fragment.
    async fn search(&self, operator: &Operator, query: &str, limit: i64) -> Result<Vec<SearchHit>>;
    /// Per endpoint of the tenant that had deliveries created since `since_ms`: how
    /// many succeeded and failed, and the newest one's error, in two grouped queries.
    async fn endpoint_health(&self, tenant: &TenantScope, since_ms: i64) -> Result<Vec<EndpointHealthRow>>;
    /// The tenant's endpoints whose circuit is open for every node (PostgreSQL), with
    /// when the next probe may go (ms); empty on SQLite, where one node keeps them.
    async fn shared_open_circuits(&self, tenant: &TenantScope) -> Result<Vec<(EndpointId, i64)>>;
    async fn insert_event(&self, event: &LifecycleEvent) -> Result<()>;
    /// Lifecycle events matching `filter`, newest first.
    async fn list_events(&self, filter: &EventFilter, page: &PageArgs) -> Result<Vec<ActivityEvent>>;
}

/// Periodic jobs: the lease that runs each on one node at a time, and the retention purge.
#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    /// Takes (or renews) the lease on periodic job `name` for `owner` until
    /// `until_ms`, unless another owner holds an unexpired one. Returns whether taken.
    async fn take_job_lease(&self, name: &str, owner: &str, now_ms: i64, until_ms: i64) -> Result<bool>;
    /// Deletes up to `limit` messages past their tenant's retention at `now_ms`, with
    /// their deliveries and attempts, and lifecycle events past it. A message with a
    /// pending delivery is kept whatever its age: nothing undelivered is dropped.
    async fn purge_expired(&self, now_ms: i64, limit: i64) -> Result<PurgeCounts>;
    /// Writes this node's heartbeat (its row made on the first), and removes the rows
    /// of nodes not heard from since `forget_before_ms`.
    async fn heartbeat(&self, beat: &NodeRow, forget_before_ms: i64) -> Result<()>;
    /// Marks the node stopped (a graceful exit).
    async fn node_stopped(&self, id: &str, now_ms: i64) -> Result<()>;
    /// Every node on record, the most recently heard from first.
    async fn list_nodes(&self) -> Result<Vec<NodeRow>>;
    /// Analyzes the queue's tables ([`PLANNED_TABLES`]) that changed by at least as
    /// many rows since their last analysis as they then held (and at least
    /// [`REANALYZE_AT_LEAST`]); returns those analyzed. On PostgreSQL a statement's
    /// cached plan is made again only when its tables are analyzed, so one planned
    /// while the queue was nearly empty kept scanning it whole after a burst of
    /// 200,000 until autovacuum came by, a minute or more later. SQLite does nothing:
    /// it keeps no statistics unless asked to, and plans by its indexes.
    async fn refresh_planner_statistics(&self) -> Result<Vec<String>>;
}

/// The tables whose statistics [`MaintenanceStore::refresh_planner_statistics`]
/// keeps up with: those a burst grows, which the claim and record statements read.
pub const PLANNED_TABLES: [&str; 3] = ["deliveries", "messages", "attempts"];
/// Fewer changed rows than this never call for an analysis of their own: small
/// tables are planned well whatever their statistics, and autovacuum comes by.
pub const REANALYZE_AT_LEAST: i64 = 1_000;

/// A node's row: what its last heartbeat said.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NodeRow {
    pub id: String,
    pub version: String,
    pub started_at: i64,
    pub heartbeat_at: i64,
    pub in_flight: i64,
    pub attempts: i64,
    pub stopped_at: Option<i64>,
}
