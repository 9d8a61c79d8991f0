//! `sluice-bench`: starts the release binary on SQLite and on PostgreSQL, points one
//! endpoint at a fast loopback receiver and measures publish rate and latency, the time
//! to drain a burst, delivery rate, end-to-end latency and peak memory.
//!
//! Each backend runs three phases against a fresh database:
//! 1. **paced**: messages published one at a time at a steady rate well below capacity;
//!    end-to-end latency (publish sent → first arrival at the receiver) comes from here,
//!    because under saturation it would only measure queueing;
//! 2. **burst**: the burst (20,000 by default) published by 64 concurrent clients as fast
//!    as Sluice accepts them, while it delivers; publish rate and latency come from here,
//!    and the drain time is first publish sent → last message arrived;
//! 3. **check**: every message of both phases must have arrived (duplicates are counted,
//!    not hidden).
//!
//! Then, each on a fresh database: the isolation scenario (`isolation.rs`), tenants
//! bursting to hanging endpoints beside a quiet tenant; the cost of scheduling with
//! few and with many endpoints (`scheduling.rs`); and a big backlog to a down endpoint
//! (`backlog.rs`). Last, on SQLite, the sign-in storm (`sign_in_storm.rs`).

mod backlog;
mod cluster;
mod isolation;
mod machine;
mod overview;
mod process;
mod receiver;
mod report;
mod scheduling;
mod scratch;
mod sign_in_storm;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use serde::Serialize;
use sluice_core::ids::TenantId;
use sluice_core::model::{CreateEndpoint, CreateTenant};

use machine::{machine_cpu, machine_facts};
use process::{SluiceProcess, PLATFORM_KEY};
use receiver::Arrivals;
use scratch::Scratch;

#[derive(Parser, Debug)]
#[command(about = "Benchmark Sluice on SQLite and PostgreSQL")]
struct Args {
    /// The sluice binary to measure (build it with --release).
    #[arg(long)]
    sluice: PathBuf,
    /// A PostgreSQL URL allowed to CREATE DATABASE; without it only SQLite runs.
    #[arg(long)]
    postgres_admin_url: Option<String>,
    /// Messages in the burst.
    #[arg(long, default_value_t = 20_000)]
    burst: usize,
    /// Concurrent publishing clients during the burst.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Messages in the paced phase.
    #[arg(long, default_value_t = 1_000)]
    paced: usize,
    /// Messages per second in the paced phase.
    #[arg(long, default_value_t = 200)]
    paced_rate: u32,
    /// Endpoints (each in its own tenant) the messages are spread over.
    #[arg(long, default_value_t = 1)]
    endpoints: usize,
    /// Where the JSON report goes.
    #[arg(long, default_value = "bench/results/latest.json")]
    out: PathBuf,
    /// Seconds the quiet tenant publishes in the isolation scenario; 0 skips it.
    #[arg(long, default_value_t = 90)]
    isolation_seconds: u64,
    /// Messages the bursting tenants publish in all in the isolation scenario.
    #[arg(long, default_value_t = 5_000)]
    isolation_burst: usize,
    /// Endpoint counts for the scheduling-cost runs (100 of them have due work);
    /// empty skips them.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1_000, 100_000])]
    scheduling_endpoints: Vec<usize>,
    /// Deliveries queued for a down endpoint in the backlog run; 0 skips it.
    #[arg(long, default_value_t = 200_000)]
    backlog: usize,
    /// Deliveries of history the tenant overview is loaded with, in turn; 0 skips
    /// it (so does an empty list, which the command line cannot spell).
    #[arg(long, value_delimiter = ',', default_values_t = vec![10_000, 1_000_000])]
    overview_history: Vec<usize>,
    /// Parallel wrong sign-ins in the sign-in storm (on SQLite); 0 skips it.
    #[arg(long, default_value_t = 500)]
    storm_sign_ins: usize,
    /// Messages in the three-node burst on PostgreSQL; 0 skips the three-node run.
    #[arg(long, default_value_t = 20_000)]
    cluster_burst: usize,
    /// Through how many of the three nodes the burst is published (all deliver).
    #[arg(long, default_value_t = 3)]
    cluster_publish_through: usize,
    /// Database connections each of the three nodes opens
    /// (`SLUICE_DATABASE_MAX_CONNECTIONS`); unset, the default the one node has.
    #[arg(long)]
    cluster_connections_per_node: Option<u32>,
    /// Skip the main run (paced, burst, check) and run only the scenarios.
    #[arg(long)]
    scenarios_only: bool,
    /// Only these backends (sqlite, postgres).
    #[arg(long, value_delimiter = ',', default_values_t = vec!["sqlite".to_string(), "postgres".to_string()])]
    backends: Vec<String>,
}

#[derive(Serialize, Debug)]
struct Report {
    backend: String,
    burst_messages: usize,
    concurrency: usize,
    endpoints: usize,
    publish_rate_per_s: f64,
    publish_latency_p50_ms: f64,
    publish_latency_p99_ms: f64,
    publish_errors: usize,
    drain_seconds: f64,
    drain_after_last_publish_seconds: f64,
    delivery_rate_per_s: f64,
    paced_messages: usize,
    paced_rate_per_s: u32,
    e2e_latency_p50_ms: f64,
    e2e_latency_p99_ms: f64,
    e2e_latency_max_ms: f64,
    peak_rss_mb: f64,
    sluice_cpu_seconds: f64,
    machine_cpu_busy_percent_during_burst: f64,
    delivered: usize,
    missing: usize,
    duplicates: u64,
    malformed: u64,
    /// One look of the incident detector with every attempt of the run in its window
    /// (ms; none for a build without the detector).
    incident_detection_ms: Option<f64>,
}

/// Everything one publishing client needs.
struct Publisher {
    sluice: sluice_client::Client,
    /// Tenant ids, one per endpoint; message `seq` goes to tenant `seq % len`.
    tenants: Vec<TenantId>,
    payload_pad: String,
}

impl Publisher {
    /// Publishes through the Sluice at `base`, with the platform key.
    fn new(client: reqwest::Client, base: &str, tenants: Vec<TenantId>, payload_pad: String) -> Self {
        Self { sluice: sluice_client::Client::with_http(client, base, PLATFORM_KEY), tenants, payload_pad }
    }

    /// Publishes message `seq`; returns how long the 202 took.
    async fn publish(&self, seq: usize) -> anyhow::Result<Duration> {
        let tenant = &self.tenants[seq % self.tenants.len()];
        // A payload shaped like a real event, about 300 bytes.
        let payload = serde_json::json!({
            "seq": seq,
            "order": { "id": format!("ord_{seq:08}"), "status": "paid", "amount": 4200, "currency": "EUR" },
            "customer": { "id": "cus_00000042", "email": "someone@example.com" },
            "note": self.payload_pad,
        });
        let started = Instant::now();
        self.sluice.publish(tenant, "order.updated", &payload, None).await.context("publish")?;
        Ok(started.elapsed())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sluice = std::fs::canonicalize(&args.sluice).with_context(|| format!("{}", args.sluice.display()))?;
    let mut reports = Vec::new();
    let mut isolation = Vec::new();
    let mut scheduling = Vec::new();
    let mut backlogs = Vec::new();
    let mut overviews = Vec::new();
    // `--backends ''` runs no backend: only the sign-in storm.
    for backend in args.backends.iter().filter(|b| !b.is_empty()) {
        let Some(db) = Scratch::new(backend, args.postgres_admin_url.as_deref()).await? else {
            eprintln!("skipping {backend}: no --postgres-admin-url");
            continue;
        };
        let r =
            if args.scenarios_only { None } else { Some(run_backend(backend, &sluice, &db.url, &db.dir, &args).await) };
        db.remove().await;
        if let Some(r) = r {
            reports.push(r?);
        }
        if args.isolation_seconds > 0 {
            let Some(db) = Scratch::new(backend, args.postgres_admin_url.as_deref()).await? else { continue };
            let r = isolation::run(backend, &sluice, &db.url, &db.dir, args.isolation_burst, args.isolation_seconds);
            let r = r.await;
            db.remove().await;
            isolation.push(r?);
        }
        for &endpoints in args.scheduling_endpoints.iter().filter(|n| **n > 0) {
            let Some(db) = Scratch::new(backend, args.postgres_admin_url.as_deref()).await? else { continue };
            let r = scheduling::run(backend, &sluice, &db.url, &db.dir, endpoints).await;
            db.remove().await;
            scheduling.push(r?);
        }
        if args.backlog > 0 {
            let Some(db) = Scratch::new(backend, args.postgres_admin_url.as_deref()).await? else { continue };
            let r = backlog::run(backend, &sluice, &db.url, &db.dir, args.backlog).await;
            db.remove().await;
            backlogs.push(r?);
        }
        let history: Vec<usize> = args.overview_history.iter().copied().filter(|n| *n > 0).collect();
        if !history.is_empty() {
            let Some(db) = Scratch::new(backend, args.postgres_admin_url.as_deref()).await? else { continue };
            let r = overview::run(backend, &sluice, &db.url, &db.dir, &history).await;
            db.remove().await;
            overviews.extend(r?);
        }
    }
    let mut three_nodes = None;
    if args.cluster_burst > 0 && args.backends.iter().any(|b| b == "postgres") {
        if let Some(admin) = args.postgres_admin_url.as_deref() {
            let shape = cluster::Shape {
                publish_through: args.cluster_publish_through,
                connections_per_node: args.cluster_connections_per_node,
            };
            three_nodes = Some(cluster::run(&sluice, admin, args.cluster_burst, args.concurrency, shape).await?);
        }
    }
    let mut storm = None;
    if args.storm_sign_ins > 0 {
        if let Some(db) = Scratch::new("sqlite", None).await? {
            let r = sign_in_storm::run(&sluice, &db.url, &db.dir, args.storm_sign_ins).await;
            db.remove().await;
            storm = Some(r?);
        }
    }
    report::print_table(&reports);
    report::print_isolation(&isolation);
    report::print_scheduling(&scheduling);
    report::print_backlogs(&backlogs);
    report::print_overviews(&overviews);
    if let Some(c) = &three_nodes {
        report::print_cluster(c);
    }
    if let Some(s) = &storm {
        println!(
            "sign-in storm: {} wrong passwords from one address: {} checked, {} throttled; from {} addresses: {} \
             checked, {} throttled in {:.1} s; the admin from a known address meanwhile: {} in {:.0} ms; peak RSS \
             {:.0} MB (before {:.0} MB)",
            s.attempts,
            s.one_address_checked,
            s.one_address_throttled,
            s.attempts,
            s.many_addresses_checked,
            s.many_addresses_throttled,
            s.many_addresses_seconds,
            s.owner_status,
            s.owner_ms,
            s.peak_rss_mb,
            s.rss_before_mb
        );
    }
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "machine": machine_facts(),
        "results": reports,
        "isolation": isolation,
        "scheduling": scheduling,
        "backlog": backlogs,
        "overview": overviews,
        "three_nodes": three_nodes,
        "sign_in_storm": storm,
    }))?;
    std::fs::write(&args.out, &json)?;
    println!("{json}");
    println!("\nwritten to {}", args.out.display());
    if reports.iter().any(|r| r.missing > 0) {
        bail!("some messages were not delivered");
    }
    if let Some(c) = &three_nodes {
        if c.missing > 0 {
            bail!("the three nodes did not deliver every message");
        }
        // The rate, its burst (a tenth) and one for a send granted at a second's edge:
        // the bound on sends. The receiver sees arrivals, which a loaded machine can
        // bunch by a few milliseconds, so two more (as the engine's test allows).
        let allowed = c.rate_limit_per_s as usize + (c.rate_limit_per_s as usize).div_ceil(10) + 1 + 2;
        if c.busiest_second > allowed {
            bail!("{} arrived within one second at an endpoint limited to {}", c.busiest_second, c.rate_limit_per_s);
        }
    }
    if storm.as_ref().is_some_and(|s| s.owner_status != 200) {
        bail!("the admin could not sign in during the sign-in storm");
    }
    if backlogs.iter().any(|r| r.healthy_delivered < r.healthy_published) {
        bail!("the healthy tenant's messages were not all delivered beside the backlog");
    }
    if isolation.iter().any(|r| r.quiet_delivered < r.quiet_published) {
        bail!("the quiet tenant's messages were not all delivered beside the hanging tenants");
    }
    Ok(())
}

async fn run_backend(
    backend: &str,
    sluice: &Path,
    database_url: &str,
    workdir: &Path,
    args: &Args,
) -> anyhow::Result<Report> {
    eprintln!("== {backend}");
    let total = args.paced + args.burst;
    let (receiver_addr, arrivals) = receiver::start(total).await?;
    let proc = SluiceProcess::start(sluice, database_url, workdir).await?;
    let client = process::http_client(args.concurrency)?;

    let mut tenants = Vec::new();
    for i in 0..args.endpoints.max(1) {
        let url = format!("http://{receiver_addr}/hook");
        tenants.push(tenant_with_endpoint(&client, &proc.base, &format!("Bench {i}"), endpoint_at(&url)).await?);
    }
    let publisher = Arc::new(Publisher::new(client, &proc.base, tenants, "x".repeat(64)));

    // Phase 1: paced, for end-to-end latency while not saturated.
    eprintln!("   paced: {} messages at {}/s", args.paced, args.paced_rate);
    let mut sent_at = Vec::with_capacity(args.paced);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.paced_rate.max(1))));
    for seq in 0..args.paced {
        ticker.tick().await;
        sent_at.push(Instant::now());
        publisher.publish(seq).await?;
    }
    wait_for(&arrivals, 0..args.paced, Duration::from_secs(60)).await?;
    let mut e2e: Vec<f64> = (0..args.paced)
        .filter_map(|seq| arrivals.at(seq).map(|at| ms(at.saturating_duration_since(sent_at[seq]))))
        .collect();

    // Phase 2: the burst, from `concurrency` clients at once.
    eprintln!("   burst: {} messages from {} clients", args.burst, args.concurrency);
    let range = args.paced..total;
    let next = Arc::new(AtomicUsize::new(range.start));
    let cpu_before = machine_cpu()?;
    let burst_started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let publisher = publisher.clone();
        let next = next.clone();
        let end = range.end;
        clients.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= end {
                    break;
                }
                match publisher.publish(seq).await {
                    Ok(d) => latencies.push(ms(d)),
                    Err(e) => {
                        if errors == 0 {
                            eprintln!("   publish failed: {e:#}");
                        }
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        });
    }
    let mut publish_latencies = Vec::with_capacity(args.burst);
    let mut publish_errors = 0;
    while let Some(joined) = clients.join_next().await {
        let (l, e) = joined?;
        publish_latencies.extend(l);
        publish_errors += e;
    }
    let published_in = burst_started.elapsed();
    let drained = wait_for(&arrivals, range.clone(), Duration::from_secs(300)).await;
    let cpu_after = machine_cpu()?;
    if let Err(e) = &drained {
        eprintln!("   {e:#}");
    }
    let (drain, delivery_rate) = cluster::drain_and_rate(&arrivals, range.clone(), burst_started);
    let incident_detection_ms = next_incident_look(&proc).await;

    let peak_rss = proc.peak_rss_bytes()?;
    let sluice_cpu = proc.cpu_seconds()?;
    proc.stop().await?;

    let delivered = arrivals.count_in(0..total);
    let report = Report {
        backend: backend.to_owned(),
        burst_messages: args.burst,
        concurrency: args.concurrency,
        endpoints: args.endpoints.max(1),
        publish_rate_per_s: round(publish_latencies.len() as f64 / published_in.as_secs_f64()),
        publish_latency_p50_ms: round(percentile(&mut publish_latencies, 50.0)),
        publish_latency_p99_ms: round(percentile(&mut publish_latencies, 99.0)),
        publish_errors,
        drain_seconds: round(drain.as_secs_f64()),
        drain_after_last_publish_seconds: round(drain.saturating_sub(published_in).as_secs_f64()),
        delivery_rate_per_s: round(delivery_rate),
        paced_messages: args.paced,
        paced_rate_per_s: args.paced_rate,
        e2e_latency_p50_ms: round(percentile(&mut e2e, 50.0)),
        e2e_latency_p99_ms: round(percentile(&mut e2e, 99.0)),
        e2e_latency_max_ms: round(percentile(&mut e2e, 100.0)),
        peak_rss_mb: round(peak_rss as f64 / (1024.0 * 1024.0)),
        sluice_cpu_seconds: round(sluice_cpu),
        machine_cpu_busy_percent_during_burst: round(cpu_after.busy_percent_since(&cpu_before)),
        delivered,
        missing: total - delivered,
        duplicates: arrivals.duplicates.load(Ordering::Relaxed),
        malformed: arrivals.malformed.load(Ordering::Relaxed),
        incident_detection_ms,
    };
    Ok(report)
}

/// How long the incident detector's next look takes, now that every attempt of the
/// run is in its window: the histogram's sum and count before and after it (it
/// looks every 10 s by default; before its first look the histogram is not there
/// yet). `None` for a build without it, or no look in 30 s.
async fn next_incident_look(proc: &SluiceProcess) -> Option<f64> {
    const COUNT: &str = "sluice_incident_detection_duration_seconds_count";
    const SUM: &str = "sluice_incident_detection_duration_seconds_sum";
    let Ok(client) = process::http_client(1) else { return None };
    let read = |name: &'static str| {
        let client = client.clone();
        async move { proc.metric_of(&client, &[name]).await.ok() }
    };
    let (count0, sum0) = (read(COUNT).await.unwrap_or(0.0), read(SUM).await.unwrap_or(0.0));
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let count = read(COUNT).await.unwrap_or(0.0);
        if count > count0 {
            let sum = read(SUM).await?;
            return Some(round(1000.0 * (sum - sum0) / (count - count0)));
        }
    }
    None
}

/// A tenant named `name` with one endpoint as `endpoint` describes, made with the
/// platform key through the Sluice at `base`.
async fn tenant_with_endpoint(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    endpoint: CreateEndpoint,
) -> anyhow::Result<TenantId> {
    let sluice = sluice_client::Client::with_http(client.clone(), base, PLATFORM_KEY);
    let tenant = create_tenant(client, base, name).await?;
    sluice.create_endpoint(&tenant, &endpoint).await.context("create endpoint")?;
    Ok(tenant)
}

async fn create_tenant(client: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<TenantId> {
    let sluice = sluice_client::Client::with_http(client.clone(), base, PLATFORM_KEY);
    let req = CreateTenant { name: name.to_owned(), ..Default::default() };
    Ok(sluice.create_tenant(&req).await.context("create tenant")?.id)
}

/// An endpoint of `tenant` at `url`, nothing else set.
fn endpoint_at(url: &str) -> CreateEndpoint {
    CreateEndpoint { url: url.to_owned(), ..Default::default() }
}

async fn wait_for(arrivals: &Arrivals, range: std::ops::Range<usize>, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    let want = range.len();
    loop {
        let got = arrivals.count_in(range.clone());
        if got == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {got} of {want} messages arrived within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Nearest-rank percentile; sorts in place.
fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        v.reverse();
        assert_eq!(percentile(&mut v, 50.0), 50.0);
        assert_eq!(percentile(&mut v, 99.0), 99.0);
        assert_eq!(percentile(&mut v, 100.0), 100.0);
        assert_eq!(percentile(&mut [], 99.0), 0.0);
        assert_eq!(percentile(&mut [7.0], 1.0), 7.0);
    }
}
