//! The cluster-wide half of an endpoint's rate limit: before a claim, the sends are
//! reserved against the schedule every node on the database shares, and this node's
//! bucket catches up with what the others sent. On SQLite the store has no shared
//! schedule (one node is the only sender) and the bucket alone decides.

use std::time::{Duration, Instant};

use sluice_core::ids::EndpointId;

use super::slot::EndpointSlot;
use crate::store::Store;

pub(super) enum Reservation {
    /// Claim this many. `shared_schedule`: how far the shared schedule runs ahead of
    /// now, for the bucket to catch up with once the claimed sends are counted.
    Granted { sends: usize, shared_schedule: Option<Duration> },
    /// Nothing now: the bucket has caught up and says when to look again.
    Refused,
}

pub(super) async fn reserve(store: &dyn Store, id: &EndpointId, slot: &mut EndpointSlot, want: usize) -> Reservation {
    let Some(rate) = slot.info.rate_limit_per_second else {
        return Reservation::Granted { sends: want, shared_schedule: None };
    };
    match store.reserve_sends(id, rate, want).await {
        Ok(None) => Reservation::Granted { sends: want, shared_schedule: None },
        Ok(Some(grant)) => {
            let ahead = Duration::from_micros(u64::try_from(grant.ahead_us).unwrap_or(0));
            if grant.granted == 0 {
                slot.catch_up(Instant::now(), ahead);
                return Reservation::Refused;
            }
            Reservation::Granted { sends: grant.granted, shared_schedule: Some(ahead) }
        }
        Err(e) => {
            // Skip this endpoint this pass; sending without the reservation could
            // break the limit another node is keeping.
            tracing::warn!(endpoint = %id, error = %e, "reserving sends under the rate limit failed");
            Reservation::Refused
        }
    }
}
