//! The canary: every `SLUICE_CANARY_INTERVAL_SECONDS` a node publishes a message to
//! its own built-in receiver through the whole path (the publish queue's group commit,
//! the queue, the dispatcher, a signed HTTP request), so an operator learns that
//! delivery works end to end, and how long it takes, even when no partner publishes.
//!
//! Its messages belong to a reserved tenant no caller can reach and no listing shows
//! (`TenantId::canary`), so they never count in a partner's SLO, lists or incidents.
//! The receiver may be on any node: it only verifies the signature with the canary
//! endpoint's secret and marks the run received in the database. The publishing node
//! fails its own runs that nothing received within the timeout.

use std::sync::Arc;
use std::time::Duration;

use sluice_core::canary::{CanaryOutcome, CanaryRun, CanaryStatus};
use sluice_core::ids::{EndpointId, MessageId, TenantId};
use sluice_core::model::{CreateEndpoint, Tenant, DEFAULT_TIER};
use tokio::sync::watch;

use super::{Operator, Platform, Sluice};
use crate::error::{Error, Result};
use crate::ids::now_ms;
use crate::store::{ms_to_dt, CanaryRunRow, NewMessage};

/// The canary's event type.
pub const CANARY_EVENT_TYPE: &str = "sluice.canary";
/// The actor of what the canary job changes (its tenant's endpoints).
const CANARY_ACTOR: &str = "sluice-canary";
/// Runs are kept this long (the operations page reads the last hour).
const KEEP_RUNS_MS: i64 = 7 * 86_400_000;
const STATUS_WINDOW_MS: i64 = 3_600_000;
/// How far a signature's timestamp may be from now, as Standard Webhooks receivers
/// allow.
const SIGNATURE_TOLERANCE_S: i64 = 300;

/// Where and how often this node's canary runs.
#[derive(Debug, Clone)]
pub struct CanarySettings {
    pub every: Duration,
    /// A run nothing received within this long has failed.
    pub timeout: Duration,
    /// This node's receiver, as the nodes that deliver the canary reach it.
    pub url: String,
}

impl Sluice {
    /// One turn of the canary: overdue runs (any node's: one that died cannot fail its
    /// own) are failed and counted, then the next run is published. Answers the run's
    /// message id.
    pub async fn canary_once(&self, node: &str, settings: &CanarySettings) -> Result<MessageId> {
        let now = now_ms();
        let timeout_ms = i64::try_from(settings.timeout.as_millis()).unwrap_or(i64::MAX / 2);
        let failed = self.store.fail_overdue_canaries(now.saturating_sub(timeout_ms), now).await?;
        self.telemetry.canary_failed(failed);
        let endpoint = self.canary_endpoint(&settings.url).await?;
        let message_id: MessageId = crate::ids::new_id();
        // The run first: a receiver fast enough to answer before the publish returns
        // still finds it.
        let run = CanaryRunRow {
            message_id: message_id.clone(),
            node_id: node.to_owned(),
            endpoint_id: endpoint.clone(),
            published_at_ms: now,
            received_at_ms: None,
            failed_at_ms: None,
        };
        self.store.insert_canary_run(&run).await?;
        let payload = serde_json::json!({ "node_id": node, "published_at": ms_to_dt(now) });
        let new = NewMessage {
            id: message_id.clone(),
            tenant_id: TenantId::canary(),
            event_type: CANARY_EVENT_TYPE.into(),
            payload: payload.to_string(),
            idempotency_key: None,
            request_hash: None,
            created_at_ms: now,
            only_endpoint: Some(endpoint),
        };
        if let Err(e) = self.enqueue(new).await {
            // The run is recorded: it fails when overdue, and is counted once, then.
            tracing::warn!(error = %e, "the canary could not be published");
        }
        Ok(message_id)
    }

    /// The canary tenant's endpoint for `url`: made (with the tenant) the first time,
    /// enabled again if it was disabled. One attempt per run, no retries: a late
    /// canary is a failed one, and the next run comes soon.
    async fn canary_endpoint(&self, url: &str) -> Result<EndpointId> {
        let system = Platform::system(CANARY_ACTOR);
        let scope = system.canary_tenant();
        match self.store.canary_endpoint(url).await? {
            Some((id, true)) => Ok(id),
            Some((id, false)) => Ok(self.enable_endpoint(&scope, &id).await?.id),
            None => {
                self.store.ensure_canary_tenant(&canary_tenant()).await?;
                let req = CreateEndpoint {
                    url: url.to_owned(),
                    description: Some("Sluice's canary: the nodes publish here to check delivery end to end".into()),
                    retry_schedule_seconds: Some(Vec::new()),
                    ..CreateEndpoint::default()
                };
                Ok(self.create_endpoint(&scope, req).await?.id)
            }
        }
    }

    /// Every `settings.every`, from start: [`Sluice::canary_once`]. A turn that could
    /// not publish counts as a failed run.
    pub async fn run_canary_until_stopped(
        self: Arc<Self>,
        node: String,
        settings: CanarySettings,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            if let Err(e) = self.canary_once(&node, &settings).await {
                tracing::warn!(error = %e, "the canary run failed before publishing");
                self.telemetry.canary_failed(1);
            }
            tokio::select! {
                _ = tokio::time::sleep(settings.every) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// A request reached the built-in receiver (`POST /canary/receive`). It counts
    /// only if its signature verifies with the canary endpoint's secret; anything else
    /// is refused the same way, so the route tells a stranger nothing.
    pub async fn receive_canary(&self, headers: (&str, &str, &str), body: &[u8]) -> Result<()> {
        let refused = || Error::Unauthorized("not a canary of this platform, or not signed by it".into());
        let (id, _, _) = headers;
        let message_id = MessageId::parse(id).map_err(|_| refused())?;
        let run = self.store.canary_run(&message_id).await?.ok_or_else(refused)?;
        let now = now_ms();
        let secrets = self.store.valid_secrets(&run.endpoint_id, now).await?;
        let signed = secrets
            .iter()
            .any(|s| sluice_core::signing::verify(&s.secret, headers, body, now / 1000, SIGNATURE_TOLERANCE_S).is_ok());
        if !signed {
            return Err(refused());
        }
        if self.store.mark_canary_received(&message_id, now).await? {
            let latency = Duration::from_millis(u64::try_from(now - run.published_at_ms).unwrap_or(0));
            self.telemetry.canary_delivered(latency);
        }
        Ok(())
    }

    /// The last hour's runs of every node, for the operations page.
    pub async fn canary_status(&self, _operator: &Operator) -> Result<CanaryStatus> {
        let rows = self.store.canary_runs_since(now_ms() - STATUS_WINDOW_MS).await?;
        let runs = rows.into_iter().map(canary_run).collect();
        Ok(CanaryStatus::of(self.canary_interval.as_secs(), runs))
    }

    /// Deletes runs past a week, and the canary endpoints no run used for that long
    /// (nodes that went away, or changed their URL), so they never fill its quota.
    pub async fn purge_canary_runs(&self, _platform: &Platform, now_ms: i64) -> Result<u64> {
        let before = now_ms - KEEP_RUNS_MS;
        let scope = Platform::system(CANARY_ACTOR).canary_tenant();
        for endpoint in self.store.stale_canary_endpoints(before).await? {
            self.delete_endpoint(&scope, &endpoint, None).await?;
        }
        self.store.purge_canary_runs(before).await
    }

    /// The canary tenant's endpoints, which the live view leaves out.
    pub(super) async fn canary_endpoint_ids(&self) -> Result<Vec<EndpointId>> {
        self.store.canary_endpoint_ids().await
    }
}

fn canary_run(r: CanaryRunRow) -> CanaryRun {
    let outcome = match (r.received_at_ms, r.failed_at_ms) {
        (_, Some(_)) => CanaryOutcome::Failed,
        (Some(_), None) => CanaryOutcome::Delivered,
        (None, None) => CanaryOutcome::Waiting,
    };
    CanaryRun {
        message_id: r.message_id,
        node_id: r.node_id,
        published_at: ms_to_dt(r.published_at_ms),
        received_at: r.received_at_ms.map(ms_to_dt),
        latency_ms: r.received_at_ms.filter(|_| outcome == CanaryOutcome::Delivered).map(|at| at - r.published_at_ms),
        outcome,
    }
}

/// The canary's tenant: a day's retention (its runs are kept apart), never
/// auto-disabled (the job enables its endpoint again anyway), on the default tier.
fn canary_tenant() -> Tenant {
    Tenant {
        id: TenantId::canary(),
        name: "Sluice canary".into(),
        tier: DEFAULT_TIER.into(),
        retention_days: 1,
        backlog_cap: 10_000,
        // One per receiver URL; stale ones are deleted after a week unused.
        max_endpoints: Some(1_000),
        max_api_keys: Some(0),
        auto_disable_after_seconds: Some(0),
        receives_all_notices: false,
        suspended_at: None,
        suspended_reason: None,
        created_at: ms_to_dt(now_ms()),
        version: 1,
    }
}
