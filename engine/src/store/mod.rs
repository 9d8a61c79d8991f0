//! Storage: one [`Store`] interface, implemented for SQLite and PostgreSQL.
//!
//! This module is the only place in Sluice that speaks SQL. Both implementations share
//! most statements (`common.rs`, compiled once per backend) because the schema sticks
//! to types both databases store alike: TEXT ids, 64-bit integer times, JSON as TEXT.
//! Where the databases differ (claiming, wake-ups, pools) each has its own code.

mod postgres;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use sluice_core::ids::*;
use sluice_core::model::*;

use crate::error::{Error, Result};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Opens the database named by `url` and applies pending migrations.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        Arc::new(SqliteStore::connect(url).await?)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Arc::new(PgStore::connect(url).await?)
    } else {
        return Err(Error::invalid("database_url", "must start with sqlite:// or postgres://"));
    };
    store.migrate().await?;
    Ok(store)
}

/// Cursor pagination, newest first: rows with ids below `before`, at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    pub limit: i64,
    pub before: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub event_type: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub endpoint_id: Option<EndpointId>,
    pub message_id: Option<MessageId>,
    pub event_type: Option<String>,
    pub since_ms: Option<i64>,
}

/// A signing secret as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretRecord {
    pub id: SecretId,
    pub secret: String,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
}

/// A message about to be published.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub tenant_id: TenantId,
    pub event_type: String,
    pub payload: String,
    pub idempotency_key: Option<String>,
    /// Hash of the request, to tell a retry from a different request with the same key.
    pub request_hash: Option<String>,
    pub created_at_ms: i64,
    /// Deliver to this endpoint only (a test event), instead of every subscriber.
    pub only_endpoint: Option<EndpointId>,
}

#[derive(Debug, Clone)]
pub enum PublishResult {
    /// Stored, with this many deliveries queued.
    Created { message: Message, deliveries: usize },
    /// A message with the same idempotency key exists; nothing was written.
    Existing { message: Message, request_hash: Option<String> },
}

/// An endpoint with due work, as the dispatcher needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueEndpoint {
    pub id: EndpointId,
    pub tenant_id: TenantId,
    pub url: String,
    pub version: i64,
    pub rate_limit_per_second: Option<u32>,
    pub retry_schedule: Option<Vec<u32>>,
}

/// A delivery leased to this node, with what it takes to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: DeliveryId,
    pub message_id: MessageId,
    pub endpoint_id: EndpointId,
    pub tenant_id: TenantId,
    pub event_type: String,
    pub payload: String,
    pub message_created_at_ms: i64,
    /// Attempts made before this one.
    pub attempts: i64,
    /// `attempts` when the schedule last started over (a replay restarts it).
    pub retry_base: i64,
    /// Fencing token: the outcome is recorded only if the lease is still ours.
    pub lease_token: i64,
    pub trigger: AttemptTrigger,
}

/// An attempt as stored.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub id: AttemptId,
    pub delivery_id: DeliveryId,
    pub message_id: MessageId,
    pub endpoint_id: EndpointId,
    pub tenant_id: TenantId,
    pub number: i64,
    pub trigger: AttemptTrigger,
    pub url: String,
    pub started_at_ms: i64,
    pub duration_ms: i64,
    pub request_headers: String,
    pub response_status: Option<i64>,
    pub response_headers: Option<String>,
    pub response_body: Option<String>,
    pub error_class: Option<ErrorClass>,
    pub error_message: Option<String>,
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Succeeded,
    RetryAt(i64),
    Exhausted,
}

/// The result of one attempt, to be written with others in one transaction.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub lease_token: i64,
    pub attempt: AttemptRecord,
    pub next: NextStep,
}

/// Something that happened, for the audit trail and the dashboard's timeline.
#[derive(Debug, Clone)]
pub struct LifecycleEvent {
    pub id: EventId,
    pub tenant_id: Option<TenantId>,
    pub kind: String,
    pub subject_id: String,
    pub actor: String,
    pub detail: serde_json::Value,
    pub created_at_ms: i64,
}

impl LifecycleEvent {
    pub fn new(
        tenant_id: Option<&TenantId>,
        kind: &str,
        subject_id: &str,
        actor: &str,
        detail: serde_json::Value,
    ) -> Self {
        Self {
            id: crate::ids::new_id(),
            tenant_id: tenant_id.cloned(),
            kind: kind.into(),
            subject_id: subject_id.into(),
            actor: actor.into(),
            detail,
            created_at_ms: crate::ids::now_ms(),
        }
    }
}

/// A lifecycle event as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredEvent {
    pub id: String,
    pub tenant_id: Option<String>,
    pub kind: String,
    pub subject_id: String,
    pub actor: String,
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// One tenant's health, as triage ranks it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TenantHealth {
    pub tenant_id: String,
    pub name: String,
    pub tier: String,
    pub succeeded: i64,
    pub failed: i64,
    pub backlog: i64,
    pub disabled_endpoints: i64,
    /// Deliveries counted for the SLO in the window, and those that were good
    /// (see [`SloHour`]), against the tenant's tier.
    pub slo_counted: i64,
    pub slo_good: i64,
    pub success_target: f64,
}

impl TenantHealth {
    /// How fast the tenant spends its error budget over the window: its bad share
    /// divided by the share its target allows. 1.0 spends the budget exactly over the
    /// SLO period; 10.0 ten times as fast. `None` when nothing was counted.
    pub fn burn_rate(&self) -> Option<f64> {
        let allowed = 1.0 - self.success_target;
        (self.slo_counted > 0 && allowed > 0.0)
            .then(|| (self.slo_counted - self.slo_good) as f64 / self.slo_counted as f64 / allowed)
    }
}

impl SloHour {
    /// An hour with no deliveries (and a histogram of the right shape).
    pub fn empty(hour: i64) -> Self {
        Self { hour, latency_le: vec![0; sluice_core::slo::LATENCY_BOUNDS_MS.len()], ..Default::default() }
    }
}

/// What one purge pass deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct PurgeCounts {
    pub messages: u64,
    pub deliveries: u64,
    pub attempts: u64,
    pub events: u64,
}

/// One hour of a tenant's deliveries, by creation time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SloHour {
    /// Hours since the Unix epoch.
    pub hour: i64,
    pub counted: i64,
    pub good: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Succeeded deliveries whose publish-to-success latency is at or under each of
    /// [`sluice_core::slo::LATENCY_BOUNDS_MS`] (cumulative).
    pub latency_le: Vec<i64>,
}

/// Something support searched for and where it lives.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchHit {
    /// `message` or `endpoint`.
    pub kind: String,
    pub id: String,
    pub tenant_id: String,
    /// The event type or URL, to tell hits apart.
    pub label: String,
}

/// A recover operation to run and store.
#[derive(Debug, Clone)]
pub struct NewOperation {
    pub id: OperationId,
    pub tenant_id: TenantId,
    pub endpoint_id: EndpointId,
    pub since_ms: i64,
    pub until_ms: i64,
    pub created_by: String,
}

/// A session to store: the hash of the cookie's token, never the token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token_hash: String,
    pub user_id: UserId,
    pub csrf_token: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

/// Everything Sluice keeps in its database.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;
    async fn migrate(&self) -> Result<()>;
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> Result<()>;
    /// Starts forwarding other nodes' wake-ups (PostgreSQL LISTEN) to `wake`.
    async fn listen_for_work(&self, wake: Arc<tokio::sync::Notify>) -> Result<()>;

    async fn insert_tenant(&self, tenant: &Tenant) -> Result<()>;
    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>>;
    async fn list_tenants(&self, page: &PageArgs) -> Result<Vec<Tenant>>;

    async fn insert_api_key(&self, key: &ApiKey, key_hash: &str) -> Result<()>;
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>>;
    async fn api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>>;
    /// One tenant's keys, or every key (platform and tenant) when `tenant` is `None`;
    /// newest first.
    async fn list_api_keys(&self, tenant: Option<&TenantId>) -> Result<Vec<ApiKey>>;
    /// Marks the key revoked at `at_ms` unless it already is (then it is unchanged).
    /// Refuses, returning `None`, to revoke the last unrevoked platform key, so the
    /// platform cannot lock itself out. `Err(NotFound)` for an unknown id.
    async fn revoke_api_key(&self, id: &ApiKeyId, at_ms: i64) -> Result<Option<ApiKey>>;
    async fn touch_api_key(&self, id: &ApiKeyId, at_ms: i64) -> Result<()>;
    async fn platform_key_exists(&self) -> Result<bool>;

    /// Inserts a user; a taken email is `Conflict`.
    async fn insert_user(&self, user: &User, password_hash: &str) -> Result<()>;
    /// A user and their password hash, by lower-cased email.
    async fn user_by_email(&self, email: &str) -> Result<Option<(User, String)>>;
    async fn list_users(&self, page: &PageArgs) -> Result<Vec<User>>;
    async fn admin_exists(&self) -> Result<bool>;
    async fn insert_session(&self, session: &NewSession) -> Result<()>;
    /// The signed-in user and the session's CSRF token, if the session exists and has
    /// not expired at `now_ms`.
    async fn session(&self, token_hash: &str, now_ms: i64) -> Result<Option<(User, String)>>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;
    /// Counts a failed sign-in for `email`, starting a new window when the current one
    /// began before `window_floor_ms`; returns the failures in the window.
    async fn record_sign_in_failure(&self, email: &str, now_ms: i64, window_floor_ms: i64) -> Result<i64>;
    /// Failures counted in a window that began at or after `window_floor_ms`.
    async fn sign_in_failures(&self, email: &str, window_floor_ms: i64) -> Result<i64>;
    async fn clear_sign_in_failures(&self, email: &str) -> Result<()>;

    /// Every tenant's delivery health since `since_ms`, for support's triage; SLO
    /// counts as of `now_ms` against each tenant's tier.
    async fn triage(&self, since_ms: i64, now_ms: i64) -> Result<Vec<TenantHealth>>;
    /// Error classes of deliveries that are not succeeding, updated since `since_ms`;
    /// one tenant's, or every tenant's when `tenant` is `None`.
    async fn error_classes(&self, tenant: Option<&TenantId>, since_ms: i64) -> Result<Vec<(String, i64)>>;

    /// Takes (or renews) the lease on periodic job `name` for `owner` until
    /// `until_ms`, unless another owner holds an unexpired one. Returns whether taken.
    async fn take_job_lease(&self, name: &str, owner: &str, now_ms: i64, until_ms: i64) -> Result<bool>;
    /// Deletes up to `limit` messages past their tenant's retention at `now_ms`, with
    /// their deliveries and attempts, and lifecycle events past it. A message with a
    /// pending delivery is kept whatever its age: nothing undelivered is dropped.
    async fn purge_expired(&self, now_ms: i64, limit: i64) -> Result<PurgeCounts>;

    async fn tiers(&self) -> Result<Vec<Tier>>;
    async fn tier(&self, name: &str) -> Result<Option<Tier>>;
    async fn update_tier(&self, tier: &Tier) -> Result<()>;
    async fn update_tenant(&self, tenant: &Tenant) -> Result<()>;
    /// A tenant's deliveries created since `since_ms`, per hour (see [`SloHour`]):
    /// good means succeeded within `latency_target_ms`; pending ones created before
    /// `late_before_ms` are counted (already late).
    async fn slo_hours(
        &self,
        tenant: &TenantId,
        since_ms: i64,
        late_before_ms: i64,
        latency_target_ms: i64,
    ) -> Result<Vec<SloHour>>;
    /// Up to `limit` hits across tenants for an id, idempotency key or URL fragment.
    async fn search(&self, query: &str, limit: i64) -> Result<Vec<SearchHit>>;

    /// Re-queues the endpoint's failed deliveries created in `[since, until)`, tags them
    /// with the operation and stores it with their count, in one transaction. Returns
    /// the count.
    async fn recover(&self, op: &NewOperation, now_ms: i64) -> Result<i64>;
    /// An operation with its deliveries counted by state.
    async fn get_operation(&self, id: &OperationId) -> Result<Option<Operation>>;

    async fn insert_endpoint(&self, endpoint: &Endpoint, secret: &SecretRecord, event: &LifecycleEvent) -> Result<()>;
    async fn get_endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<Option<Endpoint>>;
    async fn list_endpoints(&self, tenant: &TenantId, page: &PageArgs) -> Result<Vec<Endpoint>>;
    /// Writes `endpoint`'s mutable fields if the stored version is still
    /// `expected_version`; false when someone changed it first.
    async fn update_endpoint(
        &self,
        endpoint: &Endpoint,
        expected_version: i64,
        event: Option<&LifecycleEvent>,
    ) -> Result<bool>;
    /// Removes the endpoint from view and cancels its pending deliveries.
    async fn delete_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        now_ms: i64,
        event: &LifecycleEvent,
    ) -> Result<bool>;
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

    /// Stores messages and queues one delivery per matching enabled endpoint, all in
    /// one transaction; answers in the order given. A message whose idempotency key
    /// exists (also earlier in the same batch) writes nothing and gets `Existing`.
    async fn publish_batch(&self, batch: &[NewMessage]) -> Result<Vec<PublishResult>>;
    /// [`Store::publish_batch`] of one.
    async fn publish(&self, message: &NewMessage) -> Result<PublishResult> {
        let mut results = self.publish_batch(std::slice::from_ref(message)).await?;
        results.pop().ok_or_else(|| Error::Internal("publish_batch answered nothing".into()))
    }
    async fn get_message(&self, tenant: &TenantId, id: &MessageId) -> Result<Option<Message>>;
    /// The message published with this idempotency key, with its request hash.
    async fn message_by_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Option<(Message, Option<String>)>>;
    async fn list_messages(&self, tenant: &TenantId, filter: &MessageFilter, page: &PageArgs) -> Result<Vec<Message>>;
    /// Makes the message's deliveries (or the one to `endpoint`) due now with `trigger`,
    /// creating a delivery for a subscribed endpoint that has none. Rows being sent
    /// right now are left alone. Returns the deliveries queued.
    async fn replay(
        &self,
        tenant: &TenantId,
        message: &MessageId,
        endpoint: Option<&EndpointId>,
        trigger: AttemptTrigger,
        now_ms: i64,
    ) -> Result<Vec<DeliveryId>>;
    /// Undelivered (pending) deliveries of a tenant.
    async fn backlog(&self, tenant: &TenantId) -> Result<i64>;

    async fn list_deliveries(
        &self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        page: &PageArgs,
    ) -> Result<Vec<Delivery>>;
    async fn get_delivery(&self, tenant: &TenantId, id: &DeliveryId) -> Result<Option<Delivery>>;
    async fn list_attempts(&self, tenant: &TenantId, delivery: &DeliveryId, page: &PageArgs) -> Result<Vec<Attempt>>;

    async fn insert_event(&self, event: &LifecycleEvent) -> Result<()>;
    async fn list_events(&self, tenant: Option<&TenantId>, page: &PageArgs) -> Result<Vec<StoredEvent>>;

    /// Enabled endpoints that have deliveries due at `now_ms`.
    async fn due_endpoints(&self, now_ms: i64, limit: i64) -> Result<Vec<DueEndpoint>>;
    /// Leases up to `limit` due deliveries of one endpoint to `owner` until `lease_until_ms`.
    async fn claim(
        &self,
        endpoint: &EndpointId,
        now_ms: i64,
        lease_until_ms: i64,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<Claimed>>;
    /// Writes attempts and their deliveries' next state in one transaction, plus
    /// endpoints to disable (410 Gone) and lifecycle events.
    async fn record(
        &self,
        outcomes: &[Outcome],
        disable: &[(EndpointId, String)],
        events: &[LifecycleEvent],
        now_ms: i64,
    ) -> Result<()>;
    /// Makes every delivery still leased by `owner` due now (graceful shutdown).
    async fn release_leases(&self, owner: &str, now_ms: i64) -> Result<u64>;
}

pub(crate) fn ms_to_dt(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

pub(crate) fn parse_id<K: IdKind>(s: String) -> Result<Id<K>> {
    Id::parse(&s).map_err(|e| Error::Internal(format!("stored id is invalid: {e}")))
}

pub(crate) fn opt_id<K: IdKind>(s: Option<String>) -> Result<Option<Id<K>>> {
    s.map(parse_id).transpose()
}

pub(crate) fn json_map(s: &str) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str(s).unwrap_or_default()
}

/// The rows as selected: `common.rs` maps them to the API's resources.
pub(crate) mod rows {
    #[derive(Debug, sqlx::FromRow)]
    pub struct TenantRow {
        pub id: String,
        pub name: String,
        pub tier: String,
        pub retention_days: i64,
        pub backlog_cap: i64,
        pub created_at: i64,
    }

    #[derive(Debug, sqlx::FromRow)]
    pub struct UserRow {
        pub id: String,
        pub email: String,
        pub role: String,
        pub tenant_id: Option<String>,
        pub created_at: i64,
    }

    #[derive(Debug, sqlx::FromRow)]
    pub struct ApiKeyRow {
        pub id: String,
        pub tenant_id: Option<String>,
        pub name: String,
        pub prefix: String,
        pub created_at: i64,
        pub last_used_at: Option<i64>,
        pub revoked_at: Option<i64>,
    }

    #[derive(Debug, sqlx::FromRow)]
    pub struct EndpointRow {
        pub id: String,
        pub tenant_id: String,
        pub url: String,
        pub description: String,
        pub event_types: String,
        pub enabled: bool,
        pub disabled_reason: Option<String>,
        pub disabled_at: Option<i64>,
        pub rate_limit_per_second: Option<i64>,
        pub retry_schedule: Option<String>,
        pub version: i64,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Debug, sqlx::FromRow)]
    pub struct SecretRow {
        pub id: String,
        pub secret: String,
        pub created_at: i64,
        pub expires_at: Option<i64>,
    }

    #[derive(Debug, sqlx::FromRow)]
    pub struct MessageRow {
        pub id: String,
        pub tenant_id: String,
        pub event_type: String,
        pub payload: String,
        pub idempotency_key: Option<String>,
        pub request_hash: Option<String>,
        pub created_at: i64,
    }

    #[derive(Debug, sqlx::FromRow)]
    pub struct DeliveryRow {
        pub id: String,
        pub message_id: String,
        pub endpoint_id: String,
        pub tenant_id: String,
        pub event_type: String,
        pub state: String,
        pub attempts: i64,
        pub next_attempt_at: Option<i64>,
        pub lease_owner: Option<String>,
        pub last_error_class: Option<String>,
        pub last_response_status: Option<i64>,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Debug, sqlx::FromRow)]
    pub struct AttemptRow {
        pub id: String,
        pub delivery_id: String,
        pub message_id: String,
        pub endpoint_id: String,
        pub number: i64,
        pub trigger: String,
        pub url: String,
        pub started_at: i64,
        pub duration_ms: i64,
        pub request_headers: String,
        pub response_status: Option<i64>,
        pub response_headers: Option<String>,
        pub response_body: Option<String>,
        pub error_class: Option<String>,
        pub error_message: Option<String>,
    }

    #[derive(Debug, sqlx::FromRow)]
    pub struct DueEndpointRow {
        pub id: String,
        pub tenant_id: String,
        pub url: String,
        pub version: i64,
        pub rate_limit_per_second: Option<i64>,
        pub retry_schedule: Option<String>,
    }

    #[derive(Debug, sqlx::FromRow)]
    pub struct ClaimedRow {
        pub id: String,
        pub message_id: String,
        pub endpoint_id: String,
        pub tenant_id: String,
        pub event_type: String,
        pub attempts: i64,
        pub retry_base: i64,
        pub lease_token: i64,
        pub next_trigger: String,
    }

    #[derive(Debug, sqlx::FromRow)]
    pub struct EventRow {
        pub id: String,
        pub tenant_id: Option<String>,
        pub kind: String,
        pub subject_id: String,
        pub actor: String,
        pub detail: String,
        pub created_at: i64,
    }
}
