//! Prometheus metrics, through the `metrics` crate and its Prometheus exporter: what
//! happens (requests, publishes, attempts, deliveries) is counted as it happens into
//! one long-lived registry per node; what *is* (queue depth, endpoints by state, pool
//! connections, the engine's counters) is read when scraped into a registry made for
//! that scrape, so a tenant whose queue emptied leaves no stale series behind.
//! docs/metrics.md says what each metric answers.

mod tenant_labels;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use metrics_util::MetricKindMask;
use sluice_core::ids::TenantId;
use sluice_core::model::ErrorClass;

pub use tenant_labels::{TenantLabels, OTHER};

/// The target of the spans Sluice exports as OpenTelemetry traces (the request, the
/// publish and its commit, each delivery's claim, send and record): the server sends
/// them to the collector when traces are on and keeps them out of the log.
pub const TRACE_TARGET: &str = "sluice::trace";

/// Message ids as one span attribute, for a span that covers a batch: how a trace
/// finds every span of one message (`message.id` on the others).
pub fn joined_ids<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let mut joined = String::new();
    for id in ids {
        if !joined.is_empty() {
            joined.push(',');
        }
        joined.push_str(id);
    }
    joined
}

/// Tenants labelled by name in the metrics unless configured otherwise.
pub const DEFAULT_LABELLED_TENANTS: usize = 20;

/// A counter or histogram not touched for this long leaves the exposition (and starts
/// from zero if it comes back): the series of a tenant that lost its label seat do not
/// pile up, so the tenant bound holds over days, not just at one moment.
pub const IDLE_SERIES_EXPIRE: Duration = Duration::from_secs(600);

/// Histogram samples wait in a buffer until upkeep folds them into buckets; a scrape
/// does it, and so does every this-many events, so a node nobody scrapes stays small.
const UPKEEP_EVERY: u64 = 4096;

const LATENCY_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Publish to first success spans milliseconds to the day a retry schedule can last.
const DELIVERY_BUCKETS: &[f64] =
    &[0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0];
/// A scan should take a millisecond or two whatever the number of endpoints.
const SCAN_BUCKETS: &[f64] = &[0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// This node's metrics: the registry events are counted into, and who gets a tenant
/// label.
pub struct Telemetry {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    tenants: TenantLabels,
    events: AtomicU64,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").field("tenants", &self.tenants).finish_non_exhaustive()
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new(DEFAULT_LABELLED_TENANTS)
    }
}

/// How an attempt ended, as a label.
fn outcome_label(succeeded: bool) -> &'static str {
    if succeeded {
        "succeeded"
    } else {
        "failed"
    }
}

/// The attempt number as a label, bucketed so retries past the sixth share a series.
pub fn attempt_bucket(number: i64) -> &'static str {
    match number {
        ..=1 => "1",
        2 => "2",
        3 => "3",
        4..=6 => "4-6",
        _ => "7+",
    }
}

/// A registry with Sluice's buckets and descriptions, not installed globally: each
/// `Telemetry` (one per node, several in one test process) keeps its own.
fn registry() -> PrometheusRecorder {
    let buckets = [
        ("sluice_http_request_duration_seconds", LATENCY_BUCKETS),
        ("sluice_publish_duration_seconds", LATENCY_BUCKETS),
        ("sluice_attempt_duration_seconds", LATENCY_BUCKETS),
        ("sluice_delivery_latency_seconds", DELIVERY_BUCKETS),
        ("sluice_publish_batch_size", BATCH_BUCKETS),
        ("sluice_scan_duration_seconds", SCAN_BUCKETS),
        ("sluice_incident_detection_duration_seconds", SCAN_BUCKETS),
        ("sluice_canary_latency_seconds", LATENCY_BUCKETS),
    ];
    let mut builder = PrometheusBuilder::new()
        .idle_timeout(MetricKindMask::COUNTER | MetricKindMask::HISTOGRAM, Some(IDLE_SERIES_EXPIRE));
    for (name, values) in buckets {
        // Only an empty bucket list is refused, and none of these is empty.
        builder = match builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), values) {
            Ok(b) => b,
            Err(e) => unreachable!("fixed, non-empty buckets: {e}"),
        };
    }
    let recorder = builder.build_recorder();
    metrics::with_local_recorder(&recorder, describe);
    recorder
}

fn describe() {
    describe_counter!("sluice_http_requests_total", "HTTP requests answered, by route template, method and status");
    describe_histogram!("sluice_http_request_duration_seconds", Unit::Seconds, "time to answer, by route template");
    describe_histogram!("sluice_publish_duration_seconds", Unit::Seconds, "publish: request to commit");
    describe_histogram!("sluice_publish_batch_size", "messages written per publish commit");
    describe_counter!(
        "sluice_attempts_total",
        "HTTP attempts made to endpoints, by tenant, attempt number, outcome and error class"
    );
    describe_histogram!("sluice_attempt_duration_seconds", Unit::Seconds, "time an attempt took, by outcome");
    describe_counter!("sluice_deliveries_total", "deliveries finished, by tenant and outcome (succeeded, exhausted)");
    describe_histogram!(
        "sluice_delivery_latency_seconds",
        Unit::Seconds,
        "publish to first successful attempt, by the tenant's tier"
    );
    describe_gauge!(
        "sluice_queue_depth",
        "deliveries waiting, by tenant and state (due, scheduled, in_flight, paused)"
    );
    describe_gauge!("sluice_queue_oldest_due_seconds", Unit::Seconds, "how long the oldest due delivery has waited");
    describe_gauge!("sluice_endpoints", "endpoints by state (enabled, disabled, circuit_open)");
    describe_gauge!("sluice_db_pool_connections", "database pool connections, by pool and state (idle, in_use, max)");
    describe_counter!("sluice_claims_total", "claim queries this node ran");
    describe_counter!("sluice_record_batches_total", "attempt batches this node wrote");
    describe_counter!("sluice_record_errors_total", "failed writes of an attempt batch");
    describe_histogram!(
        "sluice_scan_duration_seconds",
        Unit::Seconds,
        "time one scan for endpoints with due work took: the cost of scheduling"
    );
    describe_histogram!(
        "sluice_incident_detection_duration_seconds",
        Unit::Seconds,
        "time one look of the incident detector took: a read of the window's attempts and its writes"
    );
    describe_counter!(
        "sluice_canary_runs_total",
        "canary runs by outcome: delivered (counted by the node that received it), failed (by the node that published it)"
    );
    describe_histogram!(
        "sluice_canary_latency_seconds",
        Unit::Seconds,
        "a canary's publish to its verified receipt: the whole delivery path, end to end"
    );
    describe_counter!(
        "sluice_duplicate_sends_total",
        "successful sends of a delivery whose lease another claim had taken over: the receiver got it twice"
    );
    describe_gauge!("sluice_in_flight", "requests to endpoints in flight on this node");
    describe_gauge!("sluice_cluster_peers", "other live nodes sharing the database, as this node last counted");
}

impl Telemetry {
    /// At most `labelled_tenants` tenants get their own label; the rest are `other`.
    pub fn new(labelled_tenants: usize) -> Self {
        let recorder = registry();
        let handle = recorder.handle();
        Self { recorder, handle, tenants: TenantLabels::new(labelled_tenants), events: AtomicU64::new(0) }
    }

    fn record(&self, f: impl FnOnce()) {
        metrics::with_local_recorder(&self.recorder, f);
        if self.events.fetch_add(1, Ordering::Relaxed) % UPKEEP_EVERY == UPKEEP_EVERY - 1 {
            self.handle.run_upkeep();
        }
    }

    /// How many tenants may be labelled by id at once.
    pub fn labelled_max(&self) -> usize {
        self.tenants.max()
    }

    /// The label `tenant`'s events are counted under.
    fn tenant_label(&self, tenant: &TenantId) -> String {
        self.tenants.label(tenant)
    }

    /// One HTTP request answered. `route` is the matched template (never a raw path:
    /// ids would make a series per request).
    pub fn http_request(&self, route: String, method: &'static str, status: u16, took: Duration) {
        self.record(|| {
            counter!("sluice_http_requests_total", "route" => route.clone(), "method" => method, "status" => status.to_string())
                .increment(1);
            histogram!("sluice_http_request_duration_seconds", "route" => route).record(took.as_secs_f64());
        });
    }

    /// One message published (accepted and committed) in `took`.
    pub fn published(&self, took: Duration) {
        self.record(|| histogram!("sluice_publish_duration_seconds").record(took.as_secs_f64()));
    }

    /// One publish commit of `size` messages.
    pub fn publish_batch(&self, size: usize) {
        self.record(|| histogram!("sluice_publish_batch_size").record(size as f64));
    }

    /// One attempt: its tenant, its number in its run (1 for the first; a replay's
    /// run starts over), how it ended and took.
    pub fn attempt(&self, tenant: &TenantId, number: i64, succeeded: bool, error: Option<ErrorClass>, took: Duration) {
        let tenant = self.tenant_label(tenant);
        let outcome = outcome_label(succeeded);
        let error_class = error.map_or("none", ErrorClass::as_str);
        self.record(|| {
            counter!(
                "sluice_attempts_total",
                "tenant" => tenant,
                "attempt" => attempt_bucket(number),
                "outcome" => outcome,
                "error_class" => error_class
            )
            .increment(1);
            histogram!("sluice_attempt_duration_seconds", "outcome" => outcome).record(took.as_secs_f64());
        });
    }

    /// A delivery succeeded.
    pub fn delivered(&self, tenant: &TenantId) {
        // The attempt just counted chose the label; a delivery is not more volume.
        let tenant = self.tenants.peek(tenant);
        self.record(|| counter!("sluice_deliveries_total", "tenant" => tenant, "outcome" => "succeeded").increment(1));
    }

    /// A delivery's first run succeeded `latency` after its message was published, for
    /// a tenant on `tier`.
    pub fn delivery_latency(&self, tier: &str, latency: Duration) {
        let tier = tier.to_owned();
        self.record(|| histogram!("sluice_delivery_latency_seconds", "tier" => tier).record(latency.as_secs_f64()));
    }

    /// A delivery used up its retry schedule.
    pub fn exhausted(&self, tenant: &TenantId) {
        let tenant = self.tenants.peek(tenant);
        self.record(|| counter!("sluice_deliveries_total", "tenant" => tenant, "outcome" => "exhausted").increment(1));
    }

    /// One scan for endpoints with due work took `took`.
    pub fn scanned(&self, took: Duration) {
        self.record(|| histogram!("sluice_scan_duration_seconds").record(took.as_secs_f64()));
    }

    /// One look of the incident detector took `took`.
    pub fn detected_incidents(&self, took: Duration) {
        self.record(|| histogram!("sluice_incident_detection_duration_seconds").record(took.as_secs_f64()));
    }

    /// A canary run arrived, verified, `latency` after it was published.
    pub fn canary_delivered(&self, latency: Duration) {
        self.record(|| {
            counter!("sluice_canary_runs_total", "outcome" => "delivered").increment(1);
            histogram!("sluice_canary_latency_seconds").record(latency.as_secs_f64());
        });
    }

    /// `runs` canary runs failed: nothing verified arrived in time, or the run could
    /// not be published.
    pub fn canary_failed(&self, runs: u64) {
        if runs > 0 {
            self.record(|| counter!("sluice_canary_runs_total", "outcome" => "failed").increment(runs));
        }
    }

    /// The exposition text: what was counted, then `snapshot`'s gauges and counters,
    /// set into a registry made for this scrape.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        self.handle.run_upkeep();
        let mut text = self.handle.render();
        let scrape = registry();
        metrics::with_local_recorder(&scrape, || snapshot.set());
        text.push_str(&scrape.handle().render());
        text
    }
}

/// What is true at the moment of a scrape.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Per tenant label (the busiest by name, the rest summed as `other`).
    pub queues: Vec<QueueGauge>,
    pub endpoints_enabled: u64,
    pub endpoints_disabled: u64,
    /// Open on this node.
    pub circuits_open: u64,
    pub pools: Vec<PoolGauge>,
    /// This node's engine counters, when it runs one.
    pub node: Option<NodeCounters>,
}

/// One tenant label's queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueGauge {
    pub tenant: String,
    pub due: u64,
    pub scheduled: u64,
    pub in_flight: u64,
    /// For disabled endpoints: waiting on purpose, not stuck.
    pub paused: u64,
    /// How long the oldest due delivery has waited; none is due: 0.
    pub oldest_due_seconds: f64,
}

/// One database pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolGauge {
    pub pool: &'static str,
    pub idle: u64,
    pub in_use: u64,
    pub max: u64,
}

/// The engine's own counters, kept as atomics because the node page reads them too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeCounters {
    pub claims: u64,
    pub record_batches: u64,
    pub record_errors: u64,
    pub duplicate_sends: u64,
    pub in_flight: u64,
    pub peers: u64,
}

impl Snapshot {
    fn set(&self) {
        for q in &self.queues {
            let states = [("due", q.due), ("scheduled", q.scheduled), ("in_flight", q.in_flight), ("paused", q.paused)];
            for (state, value) in states {
                gauge!("sluice_queue_depth", "tenant" => q.tenant.clone(), "state" => state).set(value as f64);
            }
            gauge!("sluice_queue_oldest_due_seconds", "tenant" => q.tenant.clone()).set(q.oldest_due_seconds);
        }
        let endpoints = [
            ("enabled", self.endpoints_enabled),
            ("disabled", self.endpoints_disabled),
            ("circuit_open", self.circuits_open),
        ];
        for (state, value) in endpoints {
            gauge!("sluice_endpoints", "state" => state).set(value as f64);
        }
        for p in &self.pools {
            for (state, value) in [("idle", p.idle), ("in_use", p.in_use), ("max", p.max)] {
                gauge!("sluice_db_pool_connections", "pool" => p.pool, "state" => state).set(value as f64);
            }
        }
        if let Some(n) = self.node {
            counter!("sluice_claims_total").absolute(n.claims);
            counter!("sluice_record_batches_total").absolute(n.record_batches);
            counter!("sluice_record_errors_total").absolute(n.record_errors);
            counter!("sluice_duplicate_sends_total").absolute(n.duplicate_sends);
            gauge!("sluice_in_flight").set(n.in_flight as f64);
            gauge!("sluice_cluster_peers").set(n.peers as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_numbers_are_bucketed() {
        let buckets: Vec<_> = [1, 2, 3, 4, 6, 7, 40].into_iter().map(attempt_bucket).collect();
        assert_eq!(buckets, ["1", "2", "3", "4-6", "4-6", "7+", "7+"]);
    }

    #[test]
    fn counted_and_scraped_metrics_render_with_their_labels() {
        let t = Telemetry::new(1);
        let busy = TenantId::parse("tn_01JD0000000000000000000001").expect("id");
        let quiet = TenantId::parse("tn_01JD0000000000000000000002").expect("id");
        t.attempt(&busy, 1, false, Some(ErrorClass::Http5xx), Duration::from_millis(20));
        t.attempt(&busy, 2, true, None, Duration::from_millis(10));
        t.attempt(&quiet, 1, true, None, Duration::from_millis(10));
        t.delivered(&busy);
        t.delivery_latency("standard", Duration::from_millis(1500));
        t.http_request("/v1/tenants/{tenant}/messages".into(), "POST", 202, Duration::from_millis(3));
        let snapshot = Snapshot {
            queues: vec![QueueGauge { tenant: OTHER.into(), due: 3, oldest_due_seconds: 2.5, ..Default::default() }],
            endpoints_enabled: 4,
            node: Some(NodeCounters { duplicate_sends: 2, ..Default::default() }),
            ..Default::default()
        };
        let text = t.render(&snapshot);
        let b = busy.as_str();
        for line in [
            format!(
                "sluice_attempts_total{{tenant=\"{b}\",attempt=\"1\",outcome=\"failed\",error_class=\"http_5xx\"}} 1"
            ),
            format!(
                "sluice_attempts_total{{tenant=\"{b}\",attempt=\"2\",outcome=\"succeeded\",error_class=\"none\"}} 1"
            ),
            "sluice_attempts_total{tenant=\"other\",attempt=\"1\",outcome=\"succeeded\",error_class=\"none\"} 1".into(),
            format!("sluice_deliveries_total{{tenant=\"{b}\",outcome=\"succeeded\"}} 1"),
            "sluice_delivery_latency_seconds_bucket{tier=\"standard\",le=\"5\"} 1".into(),
            "sluice_http_requests_total{route=\"/v1/tenants/{tenant}/messages\",method=\"POST\",status=\"202\"} 1"
                .into(),
            "sluice_queue_depth{tenant=\"other\",state=\"due\"} 3".into(),
            "sluice_queue_oldest_due_seconds{tenant=\"other\"} 2.5".into(),
            "sluice_endpoints{state=\"enabled\"} 4".into(),
            "sluice_duplicate_sends_total 2".into(),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
        assert!(text.contains("# TYPE sluice_attempt_duration_seconds histogram"));
    }
}
