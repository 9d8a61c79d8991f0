//! Endpoint health: how each of a tenant's endpoints has done lately, for the
//! endpoints page and `GET /v1/tenants/{tenant}/endpoints/health`.

use std::collections::HashMap;

use sluice_core::ids::EndpointId;
use sluice_core::model::{EndpointHealth, FailingStreak, OpenCircuitInfo};

use super::{Sluice, TenantScope};
use crate::error::Result;
use crate::ids::now_ms;
use crate::store::{ms_to_dt, Failures};

/// The window endpoint health looks back over.
pub const HEALTH_WINDOW_MS: i64 = 24 * 3600 * 1000;

impl Sluice {
    /// Every endpoint of the tenant with deliveries in the last 24 h, or failing every
    /// attempt: successes, failures, the newest error, whether its circuit is open (on
    /// this node or, on PostgreSQL, for all of them) and since when it has failed
    /// every attempt. Endpoints with no recent deliveries and no failures are left
    /// out.
    pub async fn endpoint_health(&self, tenant: &TenantScope) -> Result<Vec<EndpointHealth>> {
        let about = self.get_tenant(tenant).await?;
        let rows = self.store.endpoint_health(tenant, now_ms() - HEALTH_WINDOW_MS).await?;
        let shared: HashMap<EndpointId, i64> = self.store.shared_open_circuits(tenant).await?.into_iter().collect();
        let mut streaks: HashMap<EndpointId, Failures> =
            self.store.failure_streaks(tenant).await?.into_iter().map(|s| (s.endpoint_id, s.failures)).collect();
        let period_ms = about.auto_disable_after_seconds.map_or(self.auto_disable.after_ms, |s| i64::from(s) * 1000);
        let failing = |f: Failures| FailingStreak {
            since: ms_to_dt(f.since_ms),
            failed_attempts: f.count,
            last_failure_at: ms_to_dt(f.last_ms),
            disables_at: (period_ms > 0).then(|| ms_to_dt(f.since_ms.saturating_add(period_ms))),
        };
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
                failing: streaks.remove(&row.endpoint_id).map(failing),
                endpoint_id: row.endpoint_id,
                succeeded: row.succeeded,
                failed: row.failed,
                last_error_class: row.last_error_class,
                last_response_status: row.last_response_status,
                circuit_open,
            });
        }
        // Failing for longer than the window: nothing published lately, but a streak.
        let mut older: Vec<(EndpointId, Failures)> = streaks.into_iter().collect();
        older.sort_by(|a, b| a.0.cmp(&b.0));
        out.extend(older.into_iter().map(|(endpoint_id, f)| EndpointHealth {
            endpoint_id,
            succeeded: 0,
            failed: 0,
            last_error_class: None,
            last_response_status: None,
            circuit_open: None,
            failing: Some(failing(f)),
        }));
        Ok(out)
    }
}
