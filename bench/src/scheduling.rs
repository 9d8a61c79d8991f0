//! The cost of scheduling (issue 9's part 6b): the same work on a platform with few
//! endpoints and on one with a hundred times more. A hundred "hot" endpoints, each
//! limited to 1 msg/s and given a backlog, have due work throughout; every other
//! endpoint exists and has nothing to do. What the dispatcher spends per scan, and the
//! process's CPU while idle and while delivering, should follow the hundred that have
//! work, not the total.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::process::SluiceProcess;
use crate::process::PLATFORM_KEY;
use crate::receiver;
use crate::{create_tenant, endpoint_at, round, tenant_with_endpoint, Publisher};
use sluice_core::model::CreateEndpoint;

/// Endpoints with due work, each in its own tenant.
const HOT: usize = 100;
/// Messages queued for each hot endpoint; at 1 msg/s they keep it due this long.
const BACKLOG_PER_HOT: usize = 20;
/// Endpoints per idle tenant (the quota is raised to allow it).
const PER_IDLE_TENANT: usize = 1_000;
/// Clients creating endpoints at once.
const CREATORS: usize = 32;
const WINDOW: Duration = Duration::from_secs(10);

#[derive(Serialize, Debug)]
pub struct SchedulingReport {
    pub backend: String,
    pub endpoints: usize,
    pub hot_endpoints: usize,
    pub setup_seconds: f64,
    /// Nothing due: CPU as a percentage of one core, and the mean time per scan.
    pub idle_cpu_percent: f64,
    pub idle_scans: u64,
    pub idle_scan_ms: f64,
    /// The hot endpoints delivering their backlog at 1 msg/s each.
    pub busy_cpu_percent: f64,
    pub busy_scans: u64,
    pub busy_scan_ms: f64,
    pub busy_delivered: u64,
    pub rss_mb: f64,
}

/// What the process did over one window: CPU seconds, scans and scan seconds.
struct Sample {
    cpu: f64,
    scans: f64,
    scan_seconds: f64,
}

async fn sample(proc: &SluiceProcess, client: &reqwest::Client) -> anyhow::Result<Sample> {
    Ok(Sample {
        cpu: proc.cpu_seconds()?,
        // The scan histogram's count and sum; builds before it had two counters.
        scans: proc.metric_of(client, &["sluice_scan_duration_seconds_count", "sluice_scans_total"]).await?,
        scan_seconds: proc
            .metric_of(client, &["sluice_scan_duration_seconds_sum", "sluice_scan_seconds_total"])
            .await?,
    })
}

/// (CPU % of a core, scans, ms per scan) between two samples over `window`.
fn rates(before: &Sample, after: &Sample, window: Duration) -> (f64, u64, f64) {
    let scans = (after.scans - before.scans).max(0.0);
    let per_scan = if scans > 0.0 { 1000.0 * (after.scan_seconds - before.scan_seconds) / scans } else { 0.0 };
    let cpu = 100.0 * (after.cpu - before.cpu) / window.as_secs_f64();
    (round(cpu), scans as u64, (per_scan * 1000.0).round() / 1000.0)
}

pub async fn run(
    backend: &str,
    sluice: &Path,
    database_url: &str,
    workdir: &Path,
    endpoints: usize,
) -> anyhow::Result<SchedulingReport> {
    eprintln!("== {backend}: scheduling cost with {endpoints} endpoints, {HOT} of them with due work");
    let (receiver_addr, arrivals) = receiver::start(HOT * BACKLOG_PER_HOT).await?;
    let quota = PER_IDLE_TENANT.to_string();
    let env = [("SLUICE_TENANT_MAX_ENDPOINTS", quota.as_str())];
    let proc = SluiceProcess::start_with(sluice, database_url, workdir, &env).await?;
    let client = crate::process::http_client(CREATORS)?;
    let url = format!("http://{receiver_addr}/hook");
    let setup_started = Instant::now();

    let mut hot = Vec::with_capacity(HOT);
    for i in 0..HOT {
        let endpoint = CreateEndpoint { rate_limit_per_second: Some(1), ..endpoint_at(&url) };
        hot.push(tenant_with_endpoint(&client, &proc.base, &format!("Hot {i}"), endpoint).await?);
    }
    // The idle endpoints, in tenants of up to PER_IDLE_TENANT each.
    let idle = endpoints.saturating_sub(HOT);
    let mut owners = Vec::new();
    for i in 0..idle.div_ceil(PER_IDLE_TENANT) {
        owners.push(create_tenant(&client, &proc.base, &format!("Idle {i}")).await?);
    }
    let owners = Arc::new(owners);
    let mut creators = tokio::task::JoinSet::new();
    for c in 0..CREATORS {
        let (client, base, url, owners) = (client.clone(), proc.base.clone(), url.clone(), owners.clone());
        creators.spawn(async move {
            let sluice = sluice_client::Client::with_http(client, &base, PLATFORM_KEY);
            for n in (c..idle).step_by(CREATORS) {
                sluice.create_endpoint(&owners[n / PER_IDLE_TENANT], &endpoint_at(&url)).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = creators.join_next().await {
        joined??;
    }
    let setup_seconds = round(setup_started.elapsed().as_secs_f64());
    eprintln!("   {endpoints} endpoints created in {setup_seconds:.1} s");

    // Idle: nothing due anywhere; the dispatcher polls.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = sample(&proc, &client).await?;
    tokio::time::sleep(WINDOW).await;
    let (idle_cpu_percent, idle_scans, idle_scan_ms) = rates(&before, &sample(&proc, &client).await?, WINDOW);

    // Busy: every hot endpoint gets a backlog it drains at its 1 msg/s limit.
    let publisher = Publisher::new(client.clone(), &proc.base, hot, "x".into());
    for seq in 0..HOT * BACKLOG_PER_HOT {
        publisher.publish(seq).await?;
    }
    let before = sample(&proc, &client).await?;
    let delivered_before = arrivals.received.load(std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(WINDOW).await;
    let after = sample(&proc, &client).await?;
    let busy_delivered = arrivals.received.load(std::sync::atomic::Ordering::Relaxed) - delivered_before;
    let (busy_cpu_percent, busy_scans, busy_scan_ms) = rates(&before, &after, WINDOW);
    let rss_mb = round(proc.rss_bytes()? as f64 / (1024.0 * 1024.0));
    proc.stop().await?;
    Ok(SchedulingReport {
        backend: backend.to_owned(),
        endpoints,
        hot_endpoints: HOT,
        setup_seconds,
        idle_cpu_percent,
        idle_scans,
        idle_scan_ms,
        busy_cpu_percent,
        busy_scans,
        busy_scan_ms,
        busy_delivered,
        rss_mb,
    })
}
