//! Endpoint health: how each of a tenant's endpoints has done lately, for the
//! endpoints page and `GET /v1/tenants/{tenant}/endpoint-health`.

use sluice_core::model::{EndpointHealth, OpenCircuitInfo};

use super::{Sluice, TenantScope};
use crate::error::Result;
use crate::ids::now_ms;
use crate::store::ms_to_dt;

/// The window endpoint health looks back over.
pub const HEALTH_WINDOW_MS: i64 = 24 * 3600 * 1000;

impl Sluice {
    /// Every endpoint of the tenant with deliveries in the last 24 h: successes,
    /// failures, the newest error, and whether its circuit is open on this node.
    /// Endpoints with no recent deliveries are left out.
    pub async fn endpoint_health(&self, tenant: &TenantScope) -> Result<Vec<EndpointHealth>> {
        self.get_tenant(tenant).await?;
        let rows = self.store.endpoint_health(tenant, now_ms() - HEALTH_WINDOW_MS).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let circuit_open = self.open_circuit(&row.endpoint_id).map(|open| OpenCircuitInfo {
                consecutive_failures: open.failures,
                next_probe_at: ms_to_dt(open.next_probe_ms),
            });
            out.push(EndpointHealth {
                endpoint_id: row.endpoint_id,
                succeeded: row.succeeded,
                failed: row.failed,
                last_error_class: row.last_error_class,
                last_response_status: row.last_response_status,
                circuit_open,
            });
        }
        Ok(out)
    }
}
