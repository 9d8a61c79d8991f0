//! Which tenants get a label of their own in the metrics: the busiest few by volume,
//! the rest counted together as `other`, so a platform with thousands of tenants
//! does not hand Prometheus thousands of series per metric.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sluice_core::ids::TenantId;

/// The label every tenant without one of its own shares.
pub const OTHER: &str = "other";

/// How often the labelled set is chosen again from the volume since the last time.
const WINDOW: Duration = Duration::from_secs(60);

/// At most this many tenants are counted per window beyond the labelled ones, so a
/// flood of tiny tenants cannot grow the counting map without bound either.
const MAX_COUNTED: usize = 10_000;

/// Chooses tenant labels. Until `max` tenants hold one, a tenant gets a label when it
/// is first seen; each minute the set becomes the `max` busiest of the minute just
/// ended, topped up from the set before it, so a tenant that grew busy gets its own
/// series within a minute and one that went quiet gives its seat up. (The series of
/// a tenant without a seat expire from the registry once idle: see `Telemetry`.)
#[derive(Debug)]
pub struct TenantLabels {
    max: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    labelled: HashSet<TenantId>,
    volume: HashMap<TenantId, u64>,
    window_started: Instant,
}

impl TenantLabels {
    /// At most `max` tenants labelled at once; 0 labels none (all are `other`).
    pub fn new(max: usize) -> Self {
        let state = State { labelled: HashSet::new(), volume: HashMap::new(), window_started: Instant::now() };
        Self { max, state: Mutex::new(state) }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// The label for one event of `tenant`'s, counting it toward the tenant's volume.
    pub fn label(&self, tenant: &TenantId) -> String {
        self.label_at(tenant, Instant::now())
    }

    fn label_at(&self, tenant: &TenantId, now: Instant) -> String {
        let mut state = self.state();
        if now.duration_since(state.window_started) >= WINDOW {
            // Choosing sorts up to `MAX_COUNTED` tenants: done outside the lock, so the
            // send tasks counting meanwhile do not wait for it.
            let volume = std::mem::take(&mut state.volume);
            let before = state.labelled.clone();
            state.window_started = now;
            drop(state);
            let chosen = choose(volume, before, self.max);
            state = self.state();
            state.labelled = chosen;
        }
        if let Some(n) = state.volume.get_mut(tenant) {
            *n += 1;
        } else if state.volume.len() < MAX_COUNTED + self.max {
            state.volume.insert(tenant.clone(), 1);
        }
        if state.labelled.contains(tenant) {
            return tenant.to_string();
        }
        if state.labelled.len() < self.max {
            state.labelled.insert(tenant.clone());
            return tenant.to_string();
        }
        OTHER.to_owned()
    }

    /// The label `tenant` has now, without counting an event or taking a free seat:
    /// for what follows an attempt already counted (its delivery finishing).
    pub fn peek(&self, tenant: &TenantId) -> String {
        if self.is_labelled(tenant) {
            tenant.to_string()
        } else {
            OTHER.to_owned()
        }
    }

    /// Whether `tenant` has a label of its own right now (without counting anything).
    pub fn is_labelled(&self, tenant: &TenantId) -> bool {
        self.state().labelled.contains(tenant)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding it leaves plain maps: still usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The `max` busiest of the window just ended, topped up from those labelled before
/// (busiest first; ties by id, so the choice does not depend on hashing).
fn choose(volume: HashMap<TenantId, u64>, before: HashSet<TenantId>, max: usize) -> HashSet<TenantId> {
    let mut busiest: Vec<(TenantId, u64)> = volume.into_iter().collect();
    busiest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.as_str().cmp(b.0.as_str())));
    let mut chosen: HashSet<TenantId> = busiest.into_iter().take(max).map(|(t, _)| t).collect();
    let mut before: Vec<TenantId> = before.into_iter().filter(|t| !chosen.contains(t)).collect();
    before.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    for t in before {
        if chosen.len() >= max {
            break;
        }
        chosen.insert(t);
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(i: usize) -> TenantId {
        TenantId::parse(&format!("tn_{i:026}")).expect("a tenant id")
    }

    #[test]
    fn a_thousand_tenants_make_at_most_max_labels_and_other() {
        let labels = TenantLabels::new(20);
        let mut seen = HashSet::new();
        for round in 0..3 {
            for i in 0..1000 {
                seen.insert(labels.label(&tenant(i + round * 1000)));
            }
        }
        assert_eq!(seen.len(), 21, "20 tenants and `other`");
        assert!(seen.contains(OTHER));
    }

    #[test]
    fn the_busiest_take_the_seats_after_a_window() {
        let labels = TenantLabels::new(2);
        let start = Instant::now();
        // Two quiet tenants came first and hold both seats.
        assert_eq!(labels.label_at(&tenant(1), start), tenant(1).to_string());
        assert_eq!(labels.label_at(&tenant(2), start), tenant(2).to_string());
        for _ in 0..50 {
            assert_eq!(labels.label_at(&tenant(3), start), OTHER, "no seat is free yet");
        }
        labels.label_at(&tenant(1), start);
        // A minute on, the busy one gets a seat and the quietest gives its seat up.
        let later = start + WINDOW;
        assert_eq!(labels.label_at(&tenant(3), later), tenant(3).to_string());
        assert!(labels.is_labelled(&tenant(1)), "busier than tenant 2");
        assert!(!labels.is_labelled(&tenant(2)));
        assert_eq!(labels.label_at(&tenant(2), later), OTHER);
    }

    #[test]
    fn no_seats_means_everyone_is_other() {
        let labels = TenantLabels::new(0);
        assert_eq!(labels.label(&tenant(1)), OTHER);
    }
}
