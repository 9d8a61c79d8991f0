//! The tenant overview against the tenant's history (issue 12, part 6): its 30-day
//! SLO windows come from hourly roll-ups, so loading it should cost the same at ten
//! thousand deliveries as at a million. The history is written through the binary's
//! hidden `bench-history` command (delivered deliveries spread over 30 days, no
//! traffic needed), counted with `sluice roll-up`, then the overview is fetched
//! through the API as the dashboard does.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use crate::process::{run_console, SluiceProcess, PLATFORM_KEY};
use crate::{create_tenant, endpoint_at, ms, percentile, round};

/// Timed fetches of the overview at each size (after two untimed ones).
const FETCHES: usize = 30;

#[derive(Serialize, Debug)]
pub struct OverviewReport {
    pub backend: String,
    pub deliveries: usize,
    /// Writing the history (not part of what is measured: setup).
    pub history_seconds: f64,
    /// `sluice roll-up` counting the new history.
    pub roll_up_seconds: f64,
    pub overview_p50_ms: f64,
    pub overview_p95_ms: f64,
    pub overview_max_ms: f64,
}

pub async fn run(
    backend: &str,
    sluice: &Path,
    database_url: &str,
    workdir: &Path,
    sizes: &[usize],
) -> anyhow::Result<Vec<OverviewReport>> {
    // No job of its own: the bench counts with the console command, so it knows when
    // counting is done.
    let quiet = [("SLUICE_SLO_ROLLUP_INTERVAL_SECONDS", "0"), ("SLUICE_CANARY_INTERVAL_SECONDS", "0")];
    let proc = SluiceProcess::start_with(sluice, database_url, workdir, &quiet).await?;
    let client = crate::process::http_client(1)?;
    let tenant = create_tenant(&client, &proc.base, "History").await?;
    let api = sluice_client::Client::with_http(client.clone(), &proc.base, PLATFORM_KEY);
    let endpoint = api.create_endpoint(&tenant, &endpoint_at("https://example.com/history")).await?;
    let (tenant, endpoint) = (tenant.to_string(), endpoint.id.to_string());

    let mut reports = Vec::new();
    let mut written = 0;
    for &size in sizes {
        eprintln!("== {backend}: the tenant overview with {size} deliveries of history");
        let more = size.saturating_sub(written).to_string();
        let started = Instant::now();
        // 29 days ending an hour ago: all of it inside the 30-day window.
        let args =
            ["bench-history", "--tenant", &tenant, "--endpoint", &endpoint, "--deliveries", &more, "--days", "29"];
        run_console(sluice, database_url, workdir, &args).await?;
        let history_seconds = round(started.elapsed().as_secs_f64());
        written = size.max(written);
        let started = Instant::now();
        run_console(sluice, database_url, workdir, &["roll-up"]).await?;
        let roll_up_seconds = round(started.elapsed().as_secs_f64());

        let url = format!("{}/v1/tenants/{tenant}/overview", proc.base);
        let mut took = Vec::with_capacity(FETCHES);
        for i in 0..FETCHES + 2 {
            let started = Instant::now();
            let r = client.get(&url).bearer_auth(PLATFORM_KEY).send().await.context("overview")?;
            let status = r.status();
            let body: serde_json::Value = r.json().await.context("overview body")?;
            anyhow::ensure!(status.is_success(), "overview answered {status}: {body}");
            let counted = body["windows"][2]["counted"].as_u64().unwrap_or(0);
            anyhow::ensure!(counted as usize == size, "the 30-day window counted {counted} of {size}");
            if i >= 2 {
                took.push(ms(started.elapsed()));
            }
        }
        let max = took.iter().copied().fold(0.0, f64::max);
        reports.push(OverviewReport {
            backend: backend.to_owned(),
            deliveries: size,
            history_seconds,
            roll_up_seconds,
            overview_p50_ms: round(percentile(&mut took, 50.0)),
            overview_p95_ms: round(percentile(&mut took, 95.0)),
            overview_max_ms: round(max),
        });
    }
    proc.stop().await?;
    Ok(reports)
}
