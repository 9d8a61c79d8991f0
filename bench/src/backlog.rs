//! A big backlog to a down endpoint (issue 9's part 6c): one tenant queues 200,000
//! deliveries to an address where nothing listens, while a healthy tenant publishes
//! 10 a second before and after. What it costs: the process's peak memory (the
//! backlog must live in the database, not in the node), and whether the healthy
//! tenant's end-to-end latency moves.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::process::SluiceProcess;
use crate::receiver::{self, Arrivals};
use crate::{endpoint_at, ms, percentile, round, tenant_with_endpoint, Publisher};

const HEALTHY_RATE: u32 = 10;
const HEALTHY_SECONDS: u64 = 30;
const PUBLISHERS: usize = 64;

#[derive(Serialize, Debug)]
pub struct BacklogReport {
    pub backend: String,
    pub backlog: usize,
    pub backlog_publish_seconds: f64,
    pub healthy_before_p50_ms: f64,
    pub healthy_before_p99_ms: f64,
    pub healthy_after_p50_ms: f64,
    pub healthy_after_p99_ms: f64,
    pub healthy_delivered: usize,
    pub healthy_published: usize,
    pub rss_before_backlog_mb: f64,
    pub peak_rss_mb: f64,
}

/// Publishes `seqs` at HEALTHY_RATE and returns each one's end-to-end latency (ms)
/// once it has arrived or 30 s have passed.
async fn paced(publisher: &Publisher, arrivals: &Arrivals, seqs: std::ops::Range<usize>) -> anyhow::Result<Vec<f64>> {
    let mut sent_at = Vec::with_capacity(seqs.len());
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(HEALTHY_RATE)));
    for seq in seqs.clone() {
        ticker.tick().await;
        sent_at.push((seq, Instant::now()));
        publisher.publish(seq).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.count_in(seqs.clone()) < seqs.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(sent_at
        .iter()
        .filter_map(|(seq, sent)| arrivals.at(*seq).map(|at| ms(at.saturating_duration_since(*sent))))
        .collect())
}

pub async fn run(
    backend: &str,
    sluice: &Path,
    database_url: &str,
    workdir: &Path,
    backlog: usize,
) -> anyhow::Result<BacklogReport> {
    eprintln!("== {backend}: a backlog of {backlog} to a down endpoint beside a healthy tenant");
    let per_phase = usize::try_from(HEALTHY_SECONDS * u64::from(HEALTHY_RATE)).unwrap_or(usize::MAX);
    let (healthy_addr, arrivals) = receiver::start(2 * per_phase).await?;
    // A port that was free a moment ago: connections to it are refused.
    let down = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let proc = SluiceProcess::start(sluice, database_url, workdir).await?;
    let client = crate::process::http_client(PUBLISHERS)?;

    let mut tenants = Vec::new();
    for (name, url) in [("Down", format!("http://{down}/hook")), ("Healthy", format!("http://{healthy_addr}/hook"))] {
        tenants.push(tenant_with_endpoint(&client, &proc.base, name, endpoint_at(&url)).await?);
    }
    let healthy = Publisher::new(client.clone(), &proc.base, vec![tenants[1].clone()], "x".into());
    eprintln!("   healthy tenant before the backlog: {HEALTHY_SECONDS} s at {HEALTHY_RATE}/s");
    let mut before = paced(&healthy, &arrivals, 0..per_phase).await?;
    let rss_before_backlog = proc.rss_bytes()?;

    eprintln!("   queueing {backlog} to the down endpoint");
    let down_tenant = Arc::new(Publisher::new(client.clone(), &proc.base, vec![tenants[0].clone()], "x".into()));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut publishers = tokio::task::JoinSet::new();
    for _ in 0..PUBLISHERS {
        let (publisher, next) = (down_tenant.clone(), next.clone());
        publishers.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < backlog {
                publisher.publish(0).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = publishers.join_next().await {
        joined??;
    }
    let backlog_publish_seconds = round(started.elapsed().as_secs_f64());

    eprintln!("   healthy tenant beside the backlog: {HEALTHY_SECONDS} s at {HEALTHY_RATE}/s");
    let mut after = paced(&healthy, &arrivals, per_phase..2 * per_phase).await?;
    let peak_rss = proc.peak_rss_bytes()?;
    proc.stop().await?;
    let mb = |b: u64| round(b as f64 / (1024.0 * 1024.0));
    Ok(BacklogReport {
        backend: backend.to_owned(),
        backlog,
        backlog_publish_seconds,
        healthy_delivered: before.len() + after.len(),
        healthy_published: 2 * per_phase,
        healthy_before_p50_ms: round(percentile(&mut before, 50.0)),
        healthy_before_p99_ms: round(percentile(&mut before, 99.0)),
        healthy_after_p50_ms: round(percentile(&mut after, 50.0)),
        healthy_after_p99_ms: round(percentile(&mut after, 99.0)),
        rss_before_backlog_mb: mb(rss_before_backlog),
        peak_rss_mb: mb(peak_rss),
    })
}
