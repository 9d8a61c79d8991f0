//! Support's view across tenants: who is worst off right now, which errors dominate,
//! and where an id, idempotency key or URL fragment lives.

use serde::{Deserialize, Serialize};
use sluice_core::slo::burn_rate;

use super::{Operator, Reach, Sluice};
use crate::error::{Error, Result};
use crate::ids::now_ms;
use crate::store::{SearchHit, TenantHealth};

/// The window triage looks back over.
const TRIAGE_WINDOW_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Triage {
    /// Worst first: fastest SLO burn, then most disabled endpoints, then the biggest
    /// backlog.
    pub tenants: Vec<TenantHealth>,
    /// (error class, deliveries), most frequent first.
    pub error_classes: Vec<(String, i64)>,
}

/// An integer sort key for the tenant's [`burn_rate`] (thousandths), so tenants sort totally.
fn burn_key(t: &TenantHealth) -> i64 {
    burn_rate(t.slo_counted, t.slo_good, t.success_target).map_or(0, |b| (b * 1_000.0).round() as i64)
}

impl Sluice {
    pub async fn triage(&self, operator: &Operator) -> Result<Triage> {
        let since = now_ms() - TRIAGE_WINDOW_MS;
        let mut tenants = self.store.triage(operator, since, now_ms()).await?;
        tenants.sort_by_key(|t| {
            (std::cmp::Reverse(burn_key(t)), std::cmp::Reverse(t.disabled_endpoints), std::cmp::Reverse(t.backlog))
        });
        let error_classes = self.store.error_classes(Reach::AllTenants(operator), since).await?;
        Ok(Triage { tenants, error_classes })
    }

    pub async fn search(&self, operator: &Operator, query: &str) -> Result<Vec<SearchHit>> {
        let query = query.trim();
        if query.is_empty() || query.len() > 512 {
            return Err(Error::invalid("q", "must be 1 to 512 characters"));
        }
        self.store.search(operator, query, 50).await
    }
}
