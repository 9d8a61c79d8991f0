//! Grants: room at an endpoint and for its tenant that a shared claim reserved for
//! this node for a moment, filled with plain claims until it ends.
//!
//! Counting every node's requests on every claim, under the tenant's row lock, was
//! what three nodes paid most for in PostgreSQL. A node busy at an endpoint asks, with
//! its shared claim, to hold its share of the endpoint's room and of its tenant's for
//! [`GRANT_FOR`]; the other nodes count it as holding all of it meanwhile, and it
//! claims within it without the lock or the count (migration 0032 has the rules).

use std::time::{Duration, Instant};

use crate::store::GrantAsk;

/// How long a grant lasts: how often a node busy at an endpoint asks again, and the
/// longest a grant can keep its room from the others after the node stops needing
/// it (or dies).
pub const GRANT_FOR: Duration = Duration::from_secs(1);

/// A node stops filling its grant this long before the grant's end, reckoned from
/// before it asked (the database times the grant from a moment later, by its clock),
/// and the claim that fills it checks, by the database's clock, that this much is
/// left: room for the claim's commit to become visible before anyone counts the
/// grant over.
pub const CLOCK_MARGIN: Duration = Duration::from_millis(250);

/// Room this node holds, in requests in flight at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    slots: usize,
    usable_until: Instant,
}

impl Grant {
    /// `slots` granted by a claim made at `asked_at`; none when `slots` is 0.
    pub fn new(slots: usize, asked_at: Instant) -> Option<Self> {
        (slots > 0).then(|| Self { slots, usable_until: asked_at + GRANT_FOR - CLOCK_MARGIN })
    }

    /// How many more requests it allows with `in_flight` already; `None` once it
    /// may no longer be filled.
    pub fn room(&self, in_flight: usize, now: Instant) -> Option<usize> {
        (now < self.usable_until).then(|| self.slots.saturating_sub(in_flight))
    }
}

/// What a node asks to hold when it shares the limits with `peers` others: its fair
/// share of each maximum (rounded up; the last to ask gets what is left), for
/// [`GRANT_FOR`].
pub fn ask(endpoint_max: usize, tenant_max: usize, peers: usize) -> GrantAsk {
    let nodes = peers + 1;
    let for_ms = i64::try_from(GRANT_FOR.as_millis()).unwrap_or(1_000);
    GrantAsk { endpoint_share: endpoint_max.div_ceil(nodes), tenant_share: tenant_max.div_ceil(nodes), for_ms }
}

/// The room left in both of a claim's grants, the endpoint's and its tenant's, with
/// `endpoint_here` and `tenant_here` in flight; `None` unless both may be filled.
pub fn room(
    endpoint: Option<Grant>,
    tenant: Option<Grant>,
    (endpoint_here, tenant_here): (usize, usize),
    now: Instant,
) -> Option<usize> {
    let at_endpoint = endpoint?.room(endpoint_here, now)?;
    Some(at_endpoint.min(tenant?.room(tenant_here, now)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_is_filled_up_to_its_slots_until_shortly_before_it_ends() {
        let t0 = Instant::now();
        assert_eq!(Grant::new(0, t0), None, "an empty grant is no grant");
        let g = Grant::new(5, t0).expect("granted");
        assert_eq!(g.room(2, t0), Some(3));
        assert_eq!(g.room(7, t0), Some(0), "more in flight than granted (from before it): no room");
        let last = t0 + GRANT_FOR - CLOCK_MARGIN;
        assert_eq!(g.room(0, last - Duration::from_millis(1)), Some(5));
        assert_eq!(g.room(0, last), None, "the margin is left to the other nodes' clocks");
    }

    #[test]
    fn both_grants_are_needed_and_the_smaller_room_counts() {
        let t0 = Instant::now();
        let (e, t) = (Grant::new(4, t0), Grant::new(10, t0));
        assert_eq!(room(e, t, (1, 8), t0), Some(2), "the tenant's grant has 2 left, the endpoint's 3");
        assert_eq!(room(e, None, (0, 0), t0), None);
        assert_eq!(room(None, t, (0, 0), t0), None);
        assert_eq!(room(e, t, (0, 0), t0 + GRANT_FOR), None, "over");
    }

    #[test]
    fn a_node_asks_for_its_share_rounded_up() {
        let a = ask(32, 64, 2);
        assert_eq!((a.endpoint_share, a.tenant_share, a.for_ms), (11, 22, 1_000));
        assert_eq!(ask(1, 3, 2).endpoint_share, 1, "a maximum smaller than the nodes: one each may ask");
    }
}
