//! Support's view across tenants: who is worst off right now, which errors dominate,
//! and where an id, idempotency key or URL fragment lives.

use serde::{Deserialize, Serialize};

use super::{Caller, Sluice};
use crate::error::{Error, Result};
use crate::ids::now_ms;
use crate::store::{SearchHit, TenantHealth};

/// The window triage looks back over.
const TRIAGE_WINDOW_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Triage {
    /// Worst first: most failed deliveries relative to all finished ones, then most
    /// disabled endpoints, then the biggest backlog.
    pub tenants: Vec<TenantHealth>,
    /// (error class, deliveries), most frequent first.
    pub error_classes: Vec<(String, i64)>,
}

impl Caller {
    /// Triage and search span tenants: admins and support only.
    fn require_operator(&self) -> Result<()> {
        match self {
            Self::Platform { .. } | Self::Support { .. } => Ok(()),
            Self::Tenant { .. } => Err(Error::Forbidden("this is for admins and support".into())),
        }
    }
}

/// Failed share of finished deliveries, in parts per million (integer, so it sorts).
fn failure_ppm(t: &TenantHealth) -> i64 {
    let finished = t.succeeded + t.failed;
    if finished == 0 {
        0
    } else {
        t.failed * 1_000_000 / finished
    }
}

impl Sluice {
    pub async fn triage(&self, caller: &Caller) -> Result<Triage> {
        caller.require_operator()?;
        let since = now_ms() - TRIAGE_WINDOW_MS;
        let mut tenants = self.store.triage(since).await?;
        tenants.sort_by_key(|t| {
            (std::cmp::Reverse(failure_ppm(t)), std::cmp::Reverse(t.disabled_endpoints), std::cmp::Reverse(t.backlog))
        });
        let error_classes = self.store.error_classes(None, since).await?;
        Ok(Triage { tenants, error_classes })
    }

    pub async fn search(&self, caller: &Caller, query: &str) -> Result<Vec<SearchHit>> {
        caller.require_operator()?;
        let query = query.trim();
        if query.is_empty() || query.len() > 512 {
            return Err(Error::invalid("q", "must be 1 to 512 characters"));
        }
        self.store.search(query, 50).await
    }
}
