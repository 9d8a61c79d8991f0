//! Builds a service layer, a tenant and endpoints for a test.

use std::sync::Arc;
use std::time::Duration;

use sluice_core::ids::{MessageId, TenantId};
use sluice_core::model::*;
use sluice_engine::delivery::Dispatcher;
use sluice_engine::ids::new_id;
use sluice_engine::service::EventQuery;
use sluice_engine::store::{AttemptRecord, AutoDisable, Claimed, NewMessage, NextStep, Outcome, Store};
use sluice_engine::{Caller, Engine, EngineConfig, ManageScope, Operator, Platform, Reach, Sluice, Wake};
use sluice_testkit::TestDb;

pub struct Harness {
    pub db: TestDb,
    pub store: Arc<dyn Store>,
    pub sluice: Arc<Sluice>,
    pub wake: Arc<Wake>,
    /// A platform caller, and the proofs it holds: platform, operator, and the
    /// test tenant's scope.
    pub admin: Caller,
    pub platform: Platform,
    pub operator: Operator,
    pub scope: ManageScope,
    pub tenant: TenantId,
}

pub fn fast_config(url: &str) -> EngineConfig {
    EngineConfig {
        database_url: url.to_owned(),
        allow_private_targets: true,
        request_timeout: Duration::from_secs(2),
        lease: Duration::from_secs(5),
        poll_interval: Duration::from_millis(50),
        shutdown_grace: Duration::from_millis(500),
        ..EngineConfig::default()
    }
}

impl Harness {
    pub async fn new(db: TestDb) -> Self {
        let store = db.store().await;
        let wake = Arc::new(Wake::new());
        let sluice = Arc::new(Sluice::new(store.clone(), wake.clone()));
        let admin = Caller::Platform { actor: "test".into() };
        let platform = admin.platform().expect("platform");
        let operator = admin.operator().expect("operator");
        let tenant = sluice
            .create_tenant(&platform, CreateTenant { name: "Acme".into(), ..Default::default() })
            .await
            .expect("tenant")
            .id;
        let scope = platform.tenant(&tenant).expect("not the canary");
        Self { db, store, sluice, wake, admin, platform, operator, scope, tenant }
    }

    pub fn engine(&self, config: EngineConfig) -> Arc<Engine> {
        Arc::new(Engine::new(self.store.clone(), config, self.wake.clone()).expect("engine"))
    }

    /// The real scheduler, to be stepped pass by pass.
    pub fn dispatcher(&self, config: EngineConfig) -> Dispatcher {
        self.engine(config).dispatcher()
    }

    /// Another tenant, beside the test's own.
    pub async fn other_tenant(&self, name: &str) -> TenantId {
        let req = CreateTenant { name: name.into(), ..Default::default() };
        self.sluice.create_tenant(&self.platform, req).await.expect("tenant").id
    }

    pub async fn endpoint(&self, url: &str, schedule: Option<Vec<u32>>) -> Endpoint {
        self.endpoint_for(&self.tenant, url, schedule).await
    }

    pub async fn endpoint_for(&self, tenant: &TenantId, url: &str, schedule: Option<Vec<u32>>) -> Endpoint {
        self.sluice
            .create_endpoint(
                &self.platform.tenant(tenant).expect("not the canary"),
                CreateEndpoint { url: url.into(), retry_schedule_seconds: schedule, ..Default::default() },
            )
            .await
            .expect("endpoint")
    }

    /// An endpoint that retries `retries` times without waiting. The API refuses waits
    /// under a second (they make retry storms), so the schedule is written to the
    /// store directly: the engine honours whatever schedule is stored, and zero waits
    /// let a test step through retries without a clock.
    pub async fn instant_retry_endpoint(&self, url: &str, retries: usize) -> Endpoint {
        let created = self.endpoint(url, None).await;
        let mut zero_waits = created.clone();
        zero_waits.retry_schedule_seconds = Some(vec![0; retries]);
        zero_waits.version += 1;
        let saved = self.store.update_endpoint(&self.scope, &zero_waits, created.version, None).await;
        assert!(saved.expect("update"), "nobody else edits a test's endpoint");
        zero_waits
    }

    pub async fn publish(&self, event_type: &str, payload: &str) -> Message {
        self.publish_for(&self.tenant, event_type, payload).await
    }

    pub async fn publish_for(&self, tenant: &TenantId, event_type: &str, payload: &str) -> Message {
        let req = PublishMessage {
            event_type: event_type.into(),
            payload: serde_json::value::RawValue::from_string(payload.into()).expect("json"),
        };
        self.sluice
            .publish(&self.platform.tenant(tenant).expect("not the canary"), req, None)
            .await
            .expect("publish")
            .message
    }

    pub async fn secret(&self, endpoint: &Endpoint) -> String {
        self.sluice.endpoint_secrets(&self.scope, &endpoint.id).await.expect("secrets").key
    }

    pub async fn deliveries(&self) -> Vec<Delivery> {
        self.sluice.list_deliveries(&self.scope, Default::default(), Some(250), None).await.expect("deliveries").data
    }

    pub async fn attempts(&self, delivery: &Delivery) -> Vec<Attempt> {
        self.sluice.list_attempts(&self.scope, &delivery.id, Some(250), None).await.expect("attempts").data
    }

    /// Publishes a message to `tenant` as if its request had been accepted at
    /// `created_at_ms`, straight through the store (under a unique idempotency key).
    pub async fn publish_at(&self, tenant: &TenantId, created_at_ms: i64) -> MessageId {
        let m = NewMessage {
            id: new_id(),
            tenant_id: tenant.clone(),
            event_type: "order.paid".into(),
            payload: "{}".into(),
            idempotency_key: Some(format!("k-{created_at_ms}-{}", new_id::<sluice_core::ids::MessageKind>())),
            request_hash: None,
            created_at_ms,
            only_endpoint: None,
        };
        self.store.publish(&m).await.expect("publish");
        m.id
    }

    /// Records `outcomes` as the recorder would at `now_ms`, with auto-disable off.
    pub async fn record(&self, outcomes: &[Outcome], now_ms: i64) {
        self.store.record(outcomes, &[], &[], AutoDisable::NEVER, now_ms).await.expect("record");
    }

    /// The kinds of the test tenant's lifecycle events of `type` (a kind or a
    /// subject), newest first, as `GET .../events?type=` lists them.
    pub async fn event_kinds(&self, kind: &str) -> Vec<LifecycleKind> {
        let query = EventQuery { kind: Some(kind.into()), ..EventQuery::default() };
        let page = self.sluice.list_events(Reach::Tenant(&self.scope), query, Some(250), None).await.expect("events");
        page.data.iter().map(|e| e.kind).collect()
    }
}

/// What a worker would record for claim `c`: an attempt answered `status` at `at_ms`
/// and the verdict `next`.
pub fn outcome(c: &Claimed, next: NextStep, status: i64, at_ms: i64) -> Outcome {
    Outcome {
        lease_token: c.lease_token,
        next,
        attempt: AttemptRecord {
            id: new_id(),
            delivery_id: c.delivery_id.clone(),
            message_id: c.message_id.clone(),
            endpoint_id: c.endpoint_id.clone(),
            tenant_id: c.tenant_id.clone(),
            number: c.attempts + 1,
            trigger: c.trigger,
            url: "https://example.com/test".into(),
            started_at_ms: at_ms,
            duration_ms: 5,
            request_headers: "{}".into(),
            response_status: Some(status),
            response_headers: None,
            response_body: None,
            error_class: ErrorClass::of_status(status as u16),
            error_message: None,
            retry_after_seconds: None,
        },
    }
}
