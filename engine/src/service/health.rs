//! Endpoint health: how each of a tenant's endpoints has done lately, for the
//! endpoints page and `GET /v1/tenants/{tenant}/endpoints/health`.

use std::collections::HashMap;

use sluice_core::ids::EndpointId;
use sluice_core::model::{EndpointHealth, OpenCircuitInfo};

use super::{Sluice, TenantScope};
use crate::error::Result;
use crate::ids::now_ms;
use crate::store::ms_to_dt;

/// The window endpoint health looks back over.
pub const HEALTH_WINDOW_MS: i64 = 24 * 3600 * 1000;

impl Sluice {
    /// Every endpoint of the tenant with deliveries in the last 24 h: successes,
    /// failures, the newest error, and whether its circuit is open, on this node or
    /// (on PostgreSQL) for all of them. Endpoints with no recent deliveries are left
    /// out.
    pub async fn endpoint_health(&self, tenant: &TenantScope) -> Result<Vec<EndpointHealth>> {
        self.get_tenant(tenant).await?;
        let rows = self.store.endpoint_health(tenant, now_ms() - HEALTH_WINDOW_MS).await?;
        let shared: HashMap<EndpointId, i64> = self.store.shared_open_circuits(tenant).await?.into_iter().collect();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            // This node's own view first (it knows the failures it saw; none when it
            // only holds a circuit another node opened), else the shared row.
            let circuit_open = match (self.open_circuit(&row.endpoint_id), shared.get(&row.endpoint_id)) {
                (Some(open), _) => Some(OpenCircuitInfo {
                    consecutive_failures: (open.failures > 0).then_some(open.failures),
                    next_probe_at: ms_to_dt(open.next_probe_ms),
                }),
                (None, Some(until)) => {
                    Some(OpenCircuitInfo { consecutive_failures: None, next_probe_at: ms_to_dt(*until) })
                }
                (None, None) => None,
            };
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
