//! Each tenant's SLO tier as this node last read it, for the label of the delivery
//! latency metric. Looked up by the send task that needs it, never in the dispatcher's
//! loop or its due scan (a join there cost every PostgreSQL scan 1.5 ms in the bench),
//! and kept five minutes, so a tenant moved to another tier is labelled anew soon.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sluice_core::ids::TenantId;

use crate::store::Store;

/// How long a tier read is used.
const KEPT: Duration = Duration::from_secs(300);
/// Past this many tenants the map starts over, so it stays small whatever the count.
const MAX_KEPT: usize = 100_000;
/// The label when the tier cannot be read (the tenant is gone, or the database is).
const UNKNOWN: &str = "unknown";

#[derive(Debug, Default)]
pub struct TenantTiers(Mutex<HashMap<TenantId, (Arc<str>, Instant)>>);

impl TenantTiers {
    /// `tenant`'s tier: as read in the last five minutes, or read now.
    pub async fn tier(&self, store: &dyn Store, tenant: &TenantId) -> Arc<str> {
        if let Some((tier, read_at)) = self.map().get(tenant) {
            if read_at.elapsed() < KEPT {
                return tier.clone();
            }
        }
        let tier: Arc<str> = match store.tenant_tier(tenant).await {
            Ok(Some(tier)) => Arc::from(tier),
            Ok(None) => Arc::from(UNKNOWN),
            Err(e) => {
                // Not kept: the next success asks again.
                tracing::debug!(error = %e, "reading a tenant's tier for the latency metric failed");
                return Arc::from(UNKNOWN);
            }
        };
        let mut map = self.map();
        if map.len() >= MAX_KEPT {
            map.clear();
        }
        map.insert(tenant.clone(), (tier.clone(), Instant::now()));
        tier
    }

    fn map(&self) -> MutexGuard<'_, HashMap<TenantId, (Arc<str>, Instant)>> {
        // A panic elsewhere while holding it leaves a plain map: still usable.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
