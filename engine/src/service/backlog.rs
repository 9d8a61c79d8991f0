//! Backpressure: a tenant's backlog is counted in pending deliveries, and every way of
//! queueing them (publish, test event, replay, recover) asks for room first, counting
//! what the request would queue, so one publish fanning out to many endpoints cannot
//! overshoot the cap.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_core::ids::TenantId;
use sluice_core::validate::subscribes;

use super::{lock, Sluice, TenantScope};
use crate::error::{Error, Result};

/// How long cached tenant facts are trusted. The cap is a guard against filling the
/// disk, not an exact quota: a second of staleness is fine and saves a COUNT(*) and an
/// endpoint listing per publish.
const TENANT_FACTS_TTL: Duration = Duration::from_secs(1);
/// What a refused request is told to wait before trying again.
const BACKLOG_RETRY_AFTER_SECONDS: u64 = 5;

/// What the services remember about a tenant between requests.
#[derive(Debug, Clone)]
pub(super) struct TenantFacts {
    /// Suspended by the platform: nothing may be queued.
    suspended: bool,
    backlog_cap: i64,
    /// Pending deliveries (approximate: counted at most a second ago, plus what this
    /// node queued since).
    backlog: i64,
    /// The event-type filters of the tenant's enabled endpoints.
    subscriptions: Arc<Vec<Vec<String>>>,
    checked: Instant,
}

impl TenantFacts {
    /// Deliveries a message of `event_type` would queue.
    pub(super) fn fan_out(&self, event_type: &str) -> i64 {
        let n = self.subscriptions.iter().filter(|types| subscribes(types, event_type)).count();
        i64::try_from(n).unwrap_or(i64::MAX)
    }

    /// Whether `deliveries` more fit under the cap. Queueing nothing always fits: a
    /// message no endpoint subscribes to costs no delivery.
    pub(super) fn admit(&self, tenant: &TenantId, deliveries: i64) -> Result<()> {
        if self.suspended {
            return Err(Error::TenantSuspended(tenant.to_string()));
        }
        if deliveries > 0 && self.backlog.saturating_add(deliveries) > self.backlog_cap {
            return Err(Error::BacklogFull {
                cap: self.backlog_cap,
                pending: self.backlog,
                wanted: deliveries,
                retry_after_seconds: BACKLOG_RETRY_AFTER_SECONDS,
            });
        }
        Ok(())
    }
}

impl Sluice {
    /// The tenant's backlog cap, (approximate) backlog and subscriptions, cached briefly.
    pub(super) async fn tenant_facts(&self, tenant: &TenantScope) -> Result<TenantFacts> {
        if let Some(f) = lock(&self.tenant_facts).get(tenant.id()) {
            if f.checked.elapsed() < TENANT_FACTS_TTL {
                return Ok(f.clone());
            }
        }
        let t = self.store.get_tenant(tenant).await?.ok_or_else(|| Error::not_found("tenant", tenant.id()))?;
        let backlog = self.store.backlog(tenant).await?;
        let subscriptions = Arc::new(self.store.subscriptions(tenant).await?);
        let facts = TenantFacts {
            suspended: t.suspended_at.is_some(),
            backlog_cap: t.backlog_cap,
            backlog,
            subscriptions,
            checked: Instant::now(),
        };
        lock(&self.tenant_facts).insert(tenant.id().clone(), facts.clone());
        Ok(facts)
    }

    /// Fails with 429 unless `deliveries` more fit in the tenant's backlog.
    pub(super) async fn admit(&self, tenant: &TenantScope, deliveries: i64) -> Result<()> {
        self.tenant_facts(tenant).await?.admit(tenant.id(), deliveries)
    }

    pub(super) fn add_backlog(&self, tenant: &TenantId, n: usize) {
        if let Some(f) = lock(&self.tenant_facts).get_mut(tenant) {
            f.backlog += i64::try_from(n).unwrap_or(0);
        }
    }

    /// The tenant's endpoints changed: what a publish fans out to must be looked up
    /// again, not trusted for up to a second.
    pub(super) fn forget_tenant_facts(&self, tenant: &TenantId) {
        lock(&self.tenant_facts).remove(tenant);
    }
}
