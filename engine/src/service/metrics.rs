//! `/metrics` as the services see it: who may scrape, and what a scrape reads.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Sluice;
use crate::access::Operator;
use crate::error::{Error, Result};
use crate::ids::now_ms;
use crate::store::{EndpointCounts, TenantQueue};
use crate::telemetry::{NodeCounters, PoolGauge, QueueGauge, Snapshot, OTHER};

/// Proof that a scrape may read the metrics: a platform API key, or the bearer token
/// the operator configured for Prometheus. The numbers say how busy each part of the
/// platform is (and name the busiest tenants), which is not a stranger's business.
#[derive(Debug)]
pub struct Scraper(Operator);

/// How long what a scrape read from the database is given to the next scrapes.
const DATABASE_GAUGES_FRESH: Duration = Duration::from_secs(1);

/// What a scrape read from the database, and when. Behind an async mutex, so scrapes
/// that arrive together wait for one read instead of each scanning the pending
/// deliveries: a loop of scrapes (or several Prometheus replicas) costs the database
/// at most one scan a second, whatever the backlog.
#[derive(Debug, Default)]
pub(super) struct ScrapeCache(tokio::sync::Mutex<Option<(Instant, DatabaseGauges)>>);

#[derive(Debug, Clone)]
struct DatabaseGauges {
    queues: Vec<QueueGauge>,
    endpoints: EndpointCounts,
}

impl Sluice {
    /// Who scrapes with `bearer`: the configured `metrics_token` (compared in constant
    /// time: it is a password) or a platform API key; anyone else is refused.
    pub async fn scraper(&self, bearer: &str, metrics_token: Option<&str>) -> Result<Scraper> {
        if metrics_token.is_some_and(|token| crate::same_secret(token, bearer)) {
            return Ok(Scraper(Operator::system("metrics")));
        }
        match self.authenticate(bearer).await? {
            Some(caller) => caller.platform().map(|p| Scraper(Operator::system(p.actor()))),
            None => Err(Error::Unauthorized("this token is neither the metrics token nor a known API key".into())),
        }
    }

    /// The exposition text: this node's counted events, and what the database and the
    /// engine say now.
    pub async fn render_metrics(&self, scraper: &Scraper) -> Result<String> {
        let database = self.database_gauges(scraper).await?;
        let pools = self.store.pool_states().into_iter().map(|p| PoolGauge {
            pool: p.pool,
            idle: p.idle,
            in_use: p.size.saturating_sub(p.idle),
            max: p.max,
        });
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let snapshot = Snapshot {
            queues: database.queues,
            endpoints_enabled: count(database.endpoints.enabled),
            endpoints_disabled: count(database.endpoints.disabled),
            circuits_open: self.engine.get().map_or(0, |e| e.circuits.len() as u64),
            pools: pools.collect(),
            node: self.engine.get().map(|e| {
                let s = &e.stats;
                NodeCounters {
                    claims: s.claims.load(Ordering::Relaxed),
                    record_batches: s.record_batches.load(Ordering::Relaxed),
                    record_errors: s.record_errors.load(Ordering::Relaxed),
                    duplicate_sends: s.duplicate_sends.load(Ordering::Relaxed),
                    in_flight: s.in_flight.load(Ordering::Relaxed),
                    peers: s.peers.load(Ordering::Relaxed),
                }
            }),
        };
        Ok(self.telemetry.render(&snapshot))
    }

    /// The queue and endpoint gauges: read now, or as read less than a second ago.
    async fn database_gauges(&self, scraper: &Scraper) -> Result<DatabaseGauges> {
        let mut cached = self.scrapes.0.lock().await;
        if let Some((at, gauges)) = cached.as_ref() {
            if at.elapsed() < DATABASE_GAUGES_FRESH {
                return Ok(gauges.clone());
            }
        }
        let now = now_ms();
        let depths = self.store.queue_depths(&scraper.0, now).await?;
        let endpoints = self.store.endpoint_counts(&scraper.0).await?;
        let gauges = DatabaseGauges { queues: bounded_queues(depths, self.telemetry.labelled_max(), now), endpoints };
        *cached = Some((Instant::now(), gauges.clone()));
        Ok(gauges)
    }
}

/// The `max` deepest queues by tenant, and the rest summed as `other` (its oldest
/// due being the oldest among them).
fn bounded_queues(mut depths: Vec<TenantQueue>, max: usize, now_ms: i64) -> Vec<QueueGauge> {
    let total = |q: &TenantQueue| q.due + q.scheduled + q.in_flight + q.paused;
    depths.sort_by(|a, b| total(b).cmp(&total(a)).then_with(|| a.tenant_id.as_str().cmp(b.tenant_id.as_str())));
    let gauge = |tenant: String, qs: &[TenantQueue]| {
        let sum = |pick: fn(&TenantQueue) -> i64| u64::try_from(qs.iter().map(pick).sum::<i64>()).unwrap_or(0);
        let oldest = qs.iter().filter_map(|q| q.oldest_due_ms).min();
        QueueGauge {
            tenant,
            due: sum(|q| q.due),
            scheduled: sum(|q| q.scheduled),
            in_flight: sum(|q| q.in_flight),
            paused: sum(|q| q.paused),
            oldest_due_seconds: oldest.map_or(0.0, |at| (now_ms - at).max(0) as f64 / 1000.0),
        }
    };
    let rest = depths.split_off(max.min(depths.len()));
    let mut gauges: Vec<QueueGauge> =
        depths.iter().map(|q| gauge(q.tenant_id.to_string(), std::slice::from_ref(q))).collect();
    if !rest.is_empty() {
        gauges.push(gauge(OTHER.to_owned(), &rest));
    }
    gauges
}

#[cfg(test)]
mod tests {
    use sluice_core::ids::TenantId;

    use super::*;

    fn queue(i: u32, due: i64, oldest: Option<i64>) -> TenantQueue {
        TenantQueue {
            tenant_id: TenantId::parse(&format!("tn_{i:026}")).expect("id"),
            due,
            scheduled: 1,
            in_flight: 0,
            paused: 0,
            oldest_due_ms: oldest,
        }
    }

    #[test]
    fn the_deepest_queues_are_named_and_the_rest_summed() {
        let depths =
            vec![queue(1, 5, Some(9_000)), queue(2, 50, Some(8_000)), queue(3, 0, None), queue(4, 7, Some(4_000))];
        let gauges = bounded_queues(depths, 2, 10_000);
        let names: Vec<_> = gauges.iter().map(|g| g.tenant.as_str()).collect();
        assert_eq!(names, [format!("tn_{:026}", 2), format!("tn_{:026}", 4), OTHER.to_owned()]);
        let other = &gauges[2];
        assert_eq!((other.due, other.scheduled), (5, 2));
        assert!((other.oldest_due_seconds - 1.0).abs() < 1e-9, "tenant 1's, 1 s old");
        assert!((gauges[1].oldest_due_seconds - 6.0).abs() < 1e-9);
    }
}
