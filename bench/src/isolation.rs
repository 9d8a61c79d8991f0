//! The head-of-line scenario (DESIGN.md's isolation promise, at its size): eight
//! tenants burst 5,000 messages in all to endpoints that hang past Sluice's request
//! timeout, while a quiet tenant publishes 10 a second to a healthy endpoint. What
//! the quiet tenant sees (delivered / published, end-to-end p50 and p99) is the
//! measure: a pool held by the hanging endpoints would show up as seconds of waiting.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::process::SluiceProcess;
use crate::receiver;
use crate::{endpoint_at, ms, percentile, round, tenant_with_endpoint, Publisher};

/// Tenants whose endpoints hang.
const BURSTING_TENANTS: usize = 8;
/// How long a hanging endpoint keeps a request before answering: longer than
/// Sluice's default request timeout (15 s), so every such request times out.
const HANG: Duration = Duration::from_secs(30);

#[derive(Serialize, Debug)]
pub struct IsolationReport {
    pub backend: String,
    pub bursting_tenants: usize,
    pub burst_messages: usize,
    pub quiet_rate_per_s: u32,
    pub seconds: u64,
    pub quiet_published: usize,
    pub quiet_delivered: usize,
    pub quiet_e2e_p50_ms: f64,
    pub quiet_e2e_p99_ms: f64,
    pub quiet_e2e_max_ms: f64,
    /// Requests the hanging endpoints received in the whole run.
    pub hanging_requests: u64,
}

pub async fn run(
    backend: &str,
    sluice: &Path,
    database_url: &str,
    workdir: &Path,
    burst: usize,
    seconds: u64,
) -> anyhow::Result<IsolationReport> {
    eprintln!("== {backend}: isolation ({BURSTING_TENANTS} tenants burst {burst} to hanging endpoints, {seconds} s)");
    const QUIET_RATE: u32 = 10;
    let quiet_total = usize::try_from(seconds * u64::from(QUIET_RATE)).unwrap_or(usize::MAX);
    let (healthy, arrivals) = receiver::start(quiet_total).await?;
    let (hanging, hanging_requests) = receiver::start_hanging(HANG).await?;
    let proc = SluiceProcess::start(sluice, database_url, workdir).await?;
    let client = crate::process::http_client(64)?;

    let mut bursting = Vec::new();
    for i in 0..BURSTING_TENANTS {
        let url = format!("http://{hanging}/hang/{i}");
        bursting.push(tenant_with_endpoint(&client, &proc.base, &format!("Burst {i}"), endpoint_at(&url)).await?);
    }
    let url = format!("http://{healthy}/hook");
    let quiet = tenant_with_endpoint(&client, &proc.base, "Quiet", endpoint_at(&url)).await?;

    // The burst, spread over the bursting tenants by 16 clients.
    let burster = Arc::new(Publisher::new(client.clone(), &proc.base, bursting, "x".into()));
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..16 {
        let burster = burster.clone();
        clients.spawn(async move {
            for seq in (c..burst).step_by(16) {
                burster.publish(seq).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = clients.join_next().await {
        joined??;
    }

    // The quiet tenant, steadily, while the hanging requests time out and retry.
    let quiet = Publisher::new(client, &proc.base, vec![quiet], "x".into());
    let mut sent_at = Vec::with_capacity(quiet_total);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(QUIET_RATE)));
    for seq in 0..quiet_total {
        ticker.tick().await;
        sent_at.push(Instant::now());
        quiet.publish(seq).await?;
    }
    // Whatever has not arrived 30 s after the last publish counts as not delivered.
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.count_in(0..quiet_total) < quiet_total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut e2e: Vec<f64> = (0..quiet_total)
        .filter_map(|seq| arrivals.at(seq).map(|at| ms(at.saturating_duration_since(sent_at[seq]))))
        .collect();
    proc.stop().await?;
    Ok(IsolationReport {
        backend: backend.to_owned(),
        bursting_tenants: BURSTING_TENANTS,
        burst_messages: burst,
        quiet_rate_per_s: QUIET_RATE,
        seconds,
        quiet_published: quiet_total,
        quiet_delivered: e2e.len(),
        quiet_e2e_p50_ms: round(percentile(&mut e2e, 50.0)),
        quiet_e2e_p99_ms: round(percentile(&mut e2e, 99.0)),
        quiet_e2e_max_ms: round(percentile(&mut e2e, 100.0)),
        hanging_requests: hanging_requests.load(Ordering::Relaxed),
    })
}
