//! Three nodes on one PostgreSQL database (issue 14's part 5): the burst published
//! through all three and drained by all three, and the rate-limit error, the busiest
//! second an endpoint limited to 100 a second sees while three nodes deliver to it.
//! On a two-core machine three nodes cannot be faster than one; the point is what
//! sharing the limits costs, and that no limit is exceeded.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use sluice_testkit::busiest_second;
use sqlx::Connection as _;

use crate::process::{postgres_cpu_seconds, SluiceProcess, PLATFORM_KEY};
use crate::receiver::{self, Arrivals};
use crate::scratch::Scratch;
use crate::{endpoint_at, round, tenant_with_endpoint, wait_for, Publisher};
use sluice_core::model::CreateEndpoint;

pub const NODES: usize = 3;
const RATE_LIMIT: u32 = 100;
const RATE_LIMITED_MESSAGES: usize = 1_000;

#[derive(Serialize, Debug)]
pub struct ClusterReport {
    pub nodes: usize,
    /// How many of the nodes the burst was published through (all deliver).
    pub published_through: usize,
    /// `SLUICE_DATABASE_MAX_CONNECTIONS` of each of the three nodes; `None`: the
    /// default, as the one node has.
    pub connections_per_node: Option<u32>,
    pub burst_messages: usize,
    pub publish_errors: usize,
    /// From the first publish to the last 202.
    pub publish_seconds: f64,
    pub drain_seconds: f64,
    /// The same burst through one node, measured just before.
    pub one_node_drain_seconds: f64,
    /// From the first publish to the last 202, through the one node.
    pub one_node_publish_seconds: f64,
    /// CPU seconds the burst cost, from its first publish to its last arrival: the
    /// Sluice nodes together, and PostgreSQL; then the same for the one node.
    pub sluice_cpu_seconds: f64,
    pub postgres_cpu_seconds: f64,
    pub one_node_sluice_cpu_seconds: f64,
    pub one_node_postgres_cpu_seconds: f64,
    pub delivery_rate_per_s: f64,
    pub delivered: usize,
    pub missing: usize,
    pub duplicates: u64,
    pub rate_limit_per_s: u32,
    pub rate_limited_messages: usize,
    pub rate_limited_seconds: f64,
    /// The most arrivals in any one-second window at the rate-limited endpoint.
    pub busiest_second: usize,
    /// The largest of the nodes' peak memory.
    pub peak_rss_mb_per_node: f64,
}

/// The same burst through one node on a database of its own, just before, so the
/// comparison is made in one run on one machine state.
async fn one_node_drain(
    sluice: &Path,
    database_url: &str,
    workdir: &Path,
    burst: usize,
    concurrency: usize,
) -> anyhow::Result<(Duration, Duration, Cost)> {
    eprintln!("== postgres, 1 node: a burst of {burst}, for comparison");
    let node = SluiceProcess::start(sluice, database_url, workdir).await?;
    let client = crate::process::http_client(concurrency)?;
    let (addr, arrivals) = receiver::start(burst).await?;
    let publishers = publishers(&client, std::slice::from_ref(&node), &format!("http://{addr}/hook"), None).await?;
    let before = Cost::of(std::slice::from_ref(&node))?;
    let started = Instant::now();
    let errors = publish_all(&publishers, 0..burst, concurrency).await;
    let published_in = started.elapsed();
    wait_for(&arrivals, 0..burst, Duration::from_secs(300)).await?;
    let cost = Cost::of(std::slice::from_ref(&node))?.since(&before);
    node.stop().await?;
    if errors > 0 {
        bail!("{errors} publishes to one node failed");
    }
    timeline("one node", &arrivals, 0..burst, started);
    Ok((drain_and_rate(&arrivals, 0..burst, started).0, published_in, cost))
}

/// CPU seconds used so far by the Sluice nodes together and by PostgreSQL.
struct Cost {
    sluice: f64,
    postgres: f64,
}

impl Cost {
    fn of(nodes: &[SluiceProcess]) -> anyhow::Result<Self> {
        let mut sluice = 0.0;
        for node in nodes {
            sluice += node.cpu_seconds()?;
        }
        Ok(Self { sluice, postgres: postgres_cpu_seconds() })
    }

    fn since(&self, before: &Cost) -> Cost {
        Cost { sluice: round(self.sluice - before.sluice), postgres: round(self.postgres - before.postgres) }
    }
}

/// How the three nodes are set up: through how many of them the burst is published,
/// and the database connections each opens (`None`: the default).
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub publish_through: usize,
    pub connections_per_node: Option<u32>,
}

/// The one-node burst and then the three-node run, each on a fresh database of the
/// cluster at `admin_url`. Each starts from a checkpoint, and the one node's database
/// is dropped before the three nodes start: otherwise the three-node run pays for a
/// checkpoint's full-page writes, or for autovacuum cleaning up after the one node,
/// whenever those happen to fall into it.
pub async fn run(
    sluice: &Path,
    admin_url: &str,
    burst: usize,
    concurrency: usize,
    shape: Shape,
) -> anyhow::Result<ClusterReport> {
    let one = Scratch::new("postgres", Some(admin_url)).await?.context("no PostgreSQL for one node")?;
    checkpoint(admin_url).await;
    let one_node = one_node_drain(sluice, &one.url, &one.dir, burst, concurrency).await;
    one.remove().await;
    let one_node = one_node?;
    let three = Scratch::new("postgres", Some(admin_url)).await?.context("no PostgreSQL for three nodes")?;
    checkpoint(admin_url).await;
    let report = three_nodes(sluice, &three.url, &three.dir, one_node, (burst, concurrency, shape)).await;
    three.remove().await;
    report
}

/// Writes every dirty page out now, so the phase after it starts where the other did;
/// a role that may not checkpoint just measures without.
async fn checkpoint(admin_url: &str) {
    let done = async {
        let mut conn = sqlx::PgConnection::connect(admin_url).await?;
        sqlx::query("CHECKPOINT").execute(&mut conn).await?;
        anyhow::Ok(())
    };
    if let Err(e) = done.await {
        eprintln!("   (no checkpoint before the phase: {e:#})");
    }
}

/// The three nodes' run, with the one node's results to report beside it.
async fn three_nodes(
    sluice: &Path,
    database_url: &str,
    workdir: &Path,
    (one_node, one_node_published_in, one_node_cost): (Duration, Duration, Cost),
    (burst, concurrency, shape): (usize, usize, Shape),
) -> anyhow::Result<ClusterReport> {
    let Shape { publish_through, connections_per_node } = shape;
    let connections = connections_per_node.map(|n| n.to_string());
    let env: Vec<(&str, &str)> = connections.iter().map(|c| ("SLUICE_DATABASE_MAX_CONNECTIONS", c.as_str())).collect();
    eprintln!("== postgres, {NODES} nodes: a burst of {burst}, then {RATE_LIMITED_MESSAGES} at {RATE_LIMIT}/s");
    let mut nodes = Vec::with_capacity(NODES);
    for n in 0..NODES {
        let dir = workdir.join(format!("node-{n}"));
        std::fs::create_dir_all(&dir)?;
        nodes.push(SluiceProcess::start_with(sluice, database_url, &dir, &env).await?);
    }
    let client = crate::process::http_client(concurrency)?;
    for node in &nodes {
        wait_for_peers(&client, &node.base).await?;
    }

    let (burst_addr, burst_arrivals) = receiver::start(burst).await?;
    let mut burst_publishers = publishers(&client, &nodes, &format!("http://{burst_addr}/hook"), None).await?;
    burst_publishers.truncate(publish_through.clamp(1, NODES));
    eprintln!("   burst: {burst} messages from {concurrency} clients, through {} of the nodes", burst_publishers.len());
    let before = Cost::of(&nodes)?;
    let started = Instant::now();
    let publish_errors = publish_all(&burst_publishers, 0..burst, concurrency).await;
    let published_in = started.elapsed();
    if let Err(e) = wait_for(&burst_arrivals, 0..burst, Duration::from_secs(300)).await {
        eprintln!("   {e:#}");
    }
    let cost = Cost::of(&nodes)?.since(&before);
    let (drain, rate) = drain_and_rate(&burst_arrivals, 0..burst, started);
    timeline("three nodes", &burst_arrivals, 0..burst, started);

    let (limited_addr, limited_arrivals) = receiver::start(RATE_LIMITED_MESSAGES).await?;
    let url = format!("http://{limited_addr}/hook");
    let limited_publishers = publishers(&client, &nodes, &url, Some(RATE_LIMIT)).await?;
    eprintln!("   rate limited: {RATE_LIMITED_MESSAGES} to an endpoint limited to {RATE_LIMIT}/s");
    let limited_started = Instant::now();
    let limited_errors = publish_all(&limited_publishers, 0..RATE_LIMITED_MESSAGES, concurrency).await;
    let limit = Duration::from_secs(60);
    if let Err(e) = wait_for(&limited_arrivals, 0..RATE_LIMITED_MESSAGES, limit).await {
        eprintln!("   {e:#}");
    }
    let arrivals: Vec<Instant> = (0..RATE_LIMITED_MESSAGES).filter_map(|seq| limited_arrivals.at(seq)).collect();
    let limited_seconds = arrivals.iter().max().map(|l| l.saturating_duration_since(limited_started));

    let mut peak = 0;
    for node in nodes {
        peak = peak.max(node.peak_rss_bytes()?);
        node.stop().await?;
    }
    let delivered = burst_arrivals.count_in(0..burst);
    if limited_errors > 0 {
        bail!("{limited_errors} publishes to the rate-limited endpoint failed");
    }
    Ok(ClusterReport {
        nodes: NODES,
        published_through: publish_through.clamp(1, NODES),
        connections_per_node,
        burst_messages: burst,
        publish_errors,
        publish_seconds: round(published_in.as_secs_f64()),
        drain_seconds: round(drain.as_secs_f64()),
        one_node_drain_seconds: round(one_node.as_secs_f64()),
        one_node_publish_seconds: round(one_node_published_in.as_secs_f64()),
        sluice_cpu_seconds: cost.sluice,
        postgres_cpu_seconds: cost.postgres,
        one_node_sluice_cpu_seconds: one_node_cost.sluice,
        one_node_postgres_cpu_seconds: one_node_cost.postgres,
        delivery_rate_per_s: round(rate),
        delivered,
        missing: burst - delivered,
        duplicates: burst_arrivals.duplicates.load(Ordering::Relaxed),
        rate_limit_per_s: RATE_LIMIT,
        rate_limited_messages: RATE_LIMITED_MESSAGES,
        rate_limited_seconds: round(limited_seconds.unwrap_or_default().as_secs_f64()),
        busiest_second: busiest_second(&arrivals),
        peak_rss_mb_per_node: round(peak as f64 / (1024.0 * 1024.0)),
    })
}

/// Waits until the node counts the others as live (its `sluice_cluster_peers`), so
/// the run measures the shared limits from its first message.
async fn wait_for_peers(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let want = format!("sluice_cluster_peers {}", NODES - 1);
    while Instant::now() < deadline {
        let metrics = client.get(format!("{base}/metrics")).bearer_auth(PLATFORM_KEY).send().await?.text().await?;
        if metrics.lines().any(|l| l == want) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("{base} did not see the other {} nodes within 30 s", NODES - 1)
}

/// A tenant with one endpoint at `url`, and a publisher for it through each node.
async fn publishers(
    client: &reqwest::Client,
    nodes: &[SluiceProcess],
    url: &str,
    rate: Option<u32>,
) -> anyhow::Result<Vec<Arc<Publisher>>> {
    let base = &nodes.first().context("no nodes")?.base;
    let endpoint = CreateEndpoint { rate_limit_per_second: rate, ..endpoint_at(url) };
    let tenant = tenant_with_endpoint(client, base, "Cluster", endpoint).await?;
    Ok(nodes
        .iter()
        .map(|node| Arc::new(Publisher::new(client.clone(), &node.base, vec![tenant.clone()], "x".repeat(64))))
        .collect())
}

/// Publishes `seqs` from `concurrency` clients, message `seq` through node `seq %
/// nodes`; returns the failed publishes.
async fn publish_all(publishers: &[Arc<Publisher>], seqs: std::ops::Range<usize>, concurrency: usize) -> usize {
    let next = Arc::new(AtomicUsize::new(seqs.start));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (publishers, next, end) = (publishers.to_vec(), next.clone(), seqs.end);
        clients.spawn(async move {
            let mut errors = 0;
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= end {
                    return errors;
                }
                if let Err(e) = publishers[seq % publishers.len()].publish(seq).await {
                    if errors == 0 {
                        eprintln!("   publish failed: {e:#}");
                    }
                    errors += 1;
                }
            }
        });
    }
    let mut errors = 0;
    while let Some(joined) = clients.join_next().await {
        errors += joined.unwrap_or(1);
    }
    errors
}

/// With `SLUICE_BENCH_TIMELINE` set, prints the arrivals in each quarter second
/// since `started`: where a drain stalls, for diagnosis.
fn timeline(what: &str, arrivals: &Arrivals, seqs: std::ops::Range<usize>, started: Instant) {
    if std::env::var_os("SLUICE_BENCH_TIMELINE").is_none() {
        return;
    }
    let mut quarters: Vec<usize> = Vec::new();
    for at in seqs.filter_map(|seq| arrivals.at(seq)) {
        let q = (at.saturating_duration_since(started).as_millis() / 250) as usize;
        if quarters.len() <= q {
            quarters.resize(q + 1, 0);
        }
        quarters[q] += 1;
    }
    eprintln!("   timeline, {what} (arrivals per 250 ms): {quarters:?}");
}

/// From the first publish to the last arrival, and the arrivals per second between
/// the first arrival and the last.
pub fn drain_and_rate(arrivals: &Arrivals, seqs: std::ops::Range<usize>, started: Instant) -> (Duration, f64) {
    let at: Vec<Instant> = seqs.filter_map(|seq| arrivals.at(seq)).collect();
    match (at.iter().min(), at.iter().max()) {
        (Some(first), Some(last)) => {
            let window = last.saturating_duration_since(*first).as_secs_f64().max(1e-3);
            (last.saturating_duration_since(started), at.len() as f64 / window)
        }
        _ => (Duration::ZERO, 0.0),
    }
}
