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
//! Then, on a fresh database, the isolation scenario (`isolation.rs`): tenants
//! bursting to hanging endpoints beside a quiet tenant, and what the quiet one sees.

mod isolation;
mod process;
mod receiver;
mod sign_in_storm;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use serde::Serialize;
use sqlx::Connection;

use process::{SluiceProcess, PLATFORM_KEY};
use receiver::Arrivals;

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
    /// Parallel wrong sign-ins in the sign-in storm (on SQLite); 0 skips it.
    #[arg(long, default_value_t = 500)]
    storm_sign_ins: usize,
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
}

/// Everything one publishing client needs.
struct Publisher {
    client: reqwest::Client,
    base: String,
    /// Tenant ids, one per endpoint; message `seq` goes to tenant `seq % len`.
    tenants: Vec<String>,
    payload_pad: String,
}

impl Publisher {
    /// Publishes message `seq`; returns how long the 202 took.
    async fn publish(&self, seq: usize) -> anyhow::Result<Duration> {
        let tenant = &self.tenants[seq % self.tenants.len()];
        // A payload shaped like a real event, about 300 bytes.
        let body = serde_json::json!({
            "event_type": "order.updated",
            "payload": {
                "seq": seq,
                "order": { "id": format!("ord_{seq:08}"), "status": "paid", "amount": 4200, "currency": "EUR" },
                "customer": { "id": "cus_00000042", "email": "someone@example.com" },
                "note": self.payload_pad,
            }
        });
        let started = Instant::now();
        let res = self
            .client
            .post(format!("{}/v1/tenants/{tenant}/messages", self.base))
            .bearer_auth(PLATFORM_KEY)
            .json(&body)
            .send()
            .await?;
        let took = started.elapsed();
        if res.status() != reqwest::StatusCode::ACCEPTED {
            let status = res.status();
            bail!("publish answered {status}: {}", res.text().await.unwrap_or_default());
        }
        Ok(took)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sluice = std::fs::canonicalize(&args.sluice).with_context(|| format!("{}", args.sluice.display()))?;
    let mut reports = Vec::new();
    let mut isolation = Vec::new();
    // `--backends ''` runs no backend: only the sign-in storm.
    for backend in args.backends.iter().filter(|b| !b.is_empty()) {
        let Some(db) = Scratch::new(backend, args.postgres_admin_url.as_deref()).await? else {
            eprintln!("skipping {backend}: no --postgres-admin-url");
            continue;
        };
        let r = run_backend(backend, &sluice, &db.url, &db.dir, &args).await;
        db.remove().await;
        reports.push(r?);
        if args.isolation_seconds > 0 {
            let Some(db) = Scratch::new(backend, args.postgres_admin_url.as_deref()).await? else { continue };
            let r = isolation::run(backend, &sluice, &db.url, &db.dir, args.isolation_burst, args.isolation_seconds);
            let r = r.await;
            db.remove().await;
            isolation.push(r?);
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
    print_table(&reports);
    print_isolation(&isolation);
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
        "sign_in_storm": storm,
    }))?;
    std::fs::write(&args.out, &json)?;
    println!("{json}");
    println!("\nwritten to {}", args.out.display());
    if reports.iter().any(|r| r.missing > 0) {
        bail!("some messages were not delivered");
    }
    if storm.as_ref().is_some_and(|s| s.owner_status != 200) {
        bail!("the admin could not sign in during the sign-in storm");
    }
    if isolation.iter().any(|r| r.quiet_delivered < r.quiet_published) {
        bail!("the quiet tenant's messages were not all delivered beside the hanging tenants");
    }
    Ok(())
}

/// A fresh database for one run: a directory (and SQLite file) or a PostgreSQL
/// database created on the admin connection, removed afterwards.
struct Scratch {
    dir: PathBuf,
    url: String,
    postgres: Option<(sqlx::PgConnection, String)>,
}

impl Scratch {
    /// `None` for PostgreSQL without an admin URL.
    async fn new(backend: &str, postgres_admin_url: Option<&str>) -> anyhow::Result<Option<Self>> {
        match backend {
            "sqlite" => {
                let dir = scratch_dir("sqlite")?;
                let url = format!("sqlite://{}", dir.join("sluice.db").display());
                Ok(Some(Self { dir, url, postgres: None }))
            }
            "postgres" => {
                let Some(admin) = postgres_admin_url else { return Ok(None) };
                let dir = scratch_dir("postgres")?;
                let name = format!("sluice_bench_{}", ulid::Ulid::new().to_string().to_lowercase());
                let mut conn = sqlx::PgConnection::connect(admin).await?;
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
                let url = database_url_for(admin, &name)?;
                Ok(Some(Self { dir, url, postgres: Some((conn, name)) }))
            }
            other => bail!("unknown backend {other}; use sqlite or postgres"),
        }
    }

    async fn remove(self) {
        if let Some((mut conn, name)) = self.postgres {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn print_isolation(reports: &[isolation::IsolationReport]) {
    for r in reports {
        println!(
            "isolation ({}): {} tenants burst {} to hanging endpoints; the quiet tenant got {} of {} \
             at {}/s for {} s, end-to-end p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} hanging requests",
            r.backend,
            r.bursting_tenants,
            r.burst_messages,
            r.quiet_delivered,
            r.quiet_published,
            r.quiet_rate_per_s,
            r.seconds,
            r.quiet_e2e_p50_ms,
            r.quiet_e2e_p99_ms,
            r.quiet_e2e_max_ms,
            r.hanging_requests
        );
    }
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
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;

    let mut tenants = Vec::new();
    for i in 0..args.endpoints.max(1) {
        let tenant =
            create(&client, &proc.base, "/v1/tenants", serde_json::json!({ "name": format!("Bench {i}") })).await?;
        let tenant = tenant["id"].as_str().context("tenant id")?.to_owned();
        let url = format!("http://{receiver_addr}/hook");
        create(&client, &proc.base, &format!("/v1/tenants/{tenant}/endpoints"), serde_json::json!({ "url": url }))
            .await?;
        tenants.push(tenant);
    }
    let publisher = Arc::new(Publisher { client, base: proc.base.clone(), tenants, payload_pad: "x".repeat(64) });

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
    let arrivals_in_burst: Vec<Instant> = range.clone().filter_map(|seq| arrivals.at(seq)).collect();
    let first = arrivals_in_burst.iter().min().copied();
    let last = arrivals_in_burst.iter().max().copied();
    let drain = last.map(|l| l.saturating_duration_since(burst_started)).unwrap_or_default();
    let delivery_window = match (first, last) {
        (Some(f), Some(l)) => l.saturating_duration_since(f),
        _ => Duration::ZERO,
    };

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
        delivery_rate_per_s: round(arrivals_in_burst.len() as f64 / delivery_window.as_secs_f64().max(1e-3)),
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
    };
    Ok(report)
}

async fn create(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let res = client.post(format!("{base}{path}")).bearer_auth(PLATFORM_KEY).json(&body).send().await?;
    let status = res.status();
    let value: serde_json::Value = res.json().await?;
    if !status.is_success() {
        bail!("POST {path} answered {status}: {value}");
    }
    Ok(value)
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

fn scratch_dir(backend: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("sluice-bench-{backend}-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The admin URL with its database name replaced.
fn database_url_for(admin: &str, name: &str) -> anyhow::Result<String> {
    let (head, query) = match admin.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (admin, None),
    };
    let scheme_end = head.find("://").context("postgres URL without scheme")? + 3;
    let path_start = head[scheme_end..].find('/').map(|i| scheme_end + i).unwrap_or(head.len());
    let mut url = format!("{}/{name}", &head[..path_start]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    Ok(url)
}

/// Aggregate CPU counters of the machine, from the first line of /proc/stat.
struct MachineCpu {
    busy: u64,
    total: u64,
}

impl MachineCpu {
    fn busy_percent_since(&self, before: &MachineCpu) -> f64 {
        let total = self.total.saturating_sub(before.total);
        if total == 0 {
            return 0.0;
        }
        100.0 * self.busy.saturating_sub(before.busy) as f64 / total as f64
    }
}

fn machine_cpu() -> anyhow::Result<MachineCpu> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal ...
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    let total: u64 = fields.iter().take(8).sum();
    Ok(MachineCpu { busy: total.saturating_sub(idle), total })
}

fn machine_facts() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
        c.lines().find_map(|l| l.strip_prefix("model name")).map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
    });
    serde_json::json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
    })
}

fn print_table(reports: &[Report]) {
    type Cell = fn(&Report) -> String;
    let rows: Vec<(&str, Cell)> = vec![
        ("publish rate (msg/s, 64 clients)", |r| format!("{:.0}", r.publish_rate_per_s)),
        ("publish latency p50 / p99 (ms)", |r| {
            format!("{:.1} / {:.1}", r.publish_latency_p50_ms, r.publish_latency_p99_ms)
        }),
        ("drain burst (s, first publish → last arrival)", |r| format!("{:.2}", r.drain_seconds)),
        ("  of which after last publish (s)", |r| format!("{:.2}", r.drain_after_last_publish_seconds)),
        ("delivery rate (msg/s)", |r| format!("{:.0}", r.delivery_rate_per_s)),
        ("end-to-end p50 / p99 (ms, paced)", |r| format!("{:.1} / {:.1}", r.e2e_latency_p50_ms, r.e2e_latency_p99_ms)),
        ("peak RSS (MB)", |r| format!("{:.1}", r.peak_rss_mb)),
        ("sluice CPU (s)", |r| format!("{:.1}", r.sluice_cpu_seconds)),
        ("machine CPU busy in burst (%)", |r| format!("{:.0}", r.machine_cpu_busy_percent_during_burst)),
        ("delivered / missing / duplicates", |r| format!("{} / {} / {}", r.delivered, r.missing, r.duplicates)),
    ];
    print!("\n{:<48}", "");
    for r in reports {
        print!("{:>20}", r.backend);
    }
    println!();
    for (label, cell) in &rows {
        print!("{label:<48}");
        for r in reports {
            print!("{:>20}", cell(r));
        }
        println!();
    }
    println!();
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

    #[test]
    fn database_url_swaps_only_the_name() -> anyhow::Result<()> {
        assert_eq!(database_url_for("postgres://u@127.0.0.1:5432/postgres", "b")?, "postgres://u@127.0.0.1:5432/b");
        assert_eq!(
            database_url_for("postgres://u@h:1/postgres?sslmode=disable", "b")?,
            "postgres://u@h:1/b?sslmode=disable"
        );
        assert_eq!(database_url_for("postgres://u@h:1", "b")?, "postgres://u@h:1/b");
        Ok(())
    }
}
