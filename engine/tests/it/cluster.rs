//! Several nodes on one database honour one set of limits: an endpoint's rate limit
//! and concurrency cap, its tenant's cap and its circuit hold across every dispatcher
//! sharing the database, not per node.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_core::model::*;
use sluice_engine::ids::now_ms;
use sluice_engine::store::{CircuitChange, CircuitRecord};
use sluice_engine::{Engine, EngineConfig, Wake};
use sluice_testkit::{busiest_second, eventually, on_both_backends, Backend, Receiver, Reply, TestDb};
use tokio::sync::watch;

use crate::harness::{fast_config, Harness};

on_both_backends!(one_node_keeps_an_endpoints_rate_from_its_first_second, nodes_are_listed_live_gone_or_stopped);

/// The most requests the receiver held at once, each held for `hold` from arrival.
fn most_at_once(arrivals: &[Instant], hold: Duration) -> usize {
    let mut at = arrivals.to_vec();
    at.sort();
    (0..at.len()).map(|i| at[..i].iter().filter(|a| at[i].duration_since(**a) < hold).count() + 1).max().unwrap_or(0)
}

/// Starts `nodes` engines, each with its own connection pool (as separate processes
/// would have) and a heartbeat on record, so each knows the others are there.
async fn start_nodes(
    h: &Harness,
    nodes: usize,
    config: impl Fn() -> EngineConfig,
) -> (watch::Sender<bool>, Vec<tokio::task::JoinHandle<sluice_engine::Result<()>>>) {
    let (stop, stopped) = watch::channel(false);
    for n in 0..nodes {
        h.sluice.heartbeat(&format!("node-{n}"), now_ms(), now_ms()).await.expect("heartbeat");
    }
    let mut tasks = Vec::new();
    for n in 0..nodes {
        let store = if n == 0 { h.store.clone() } else { h.db.store().await };
        let mut config = config();
        config.node_id = format!("node-{n}");
        let engine = Arc::new(Engine::new(store, config, Arc::new(Wake::new())).expect("engine"));
        tasks.push(tokio::spawn(engine.run_until_stopped(stopped.clone())));
    }
    (stop, tasks)
}

async fn stop_nodes(stop: watch::Sender<bool>, tasks: Vec<tokio::task::JoinHandle<sluice_engine::Result<()>>>) {
    stop.send(true).expect("stop");
    for task in tasks {
        task.await.expect("join").expect("engine");
    }
}

/// Runs `nodes` engines until `rx` has `total` requests; returns the arrival times.
async fn deliver_with_nodes(h: &Harness, nodes: usize, rx: &Receiver, total: usize) -> Vec<Instant> {
    let (stop, tasks) = start_nodes(h, nodes, || fast_config(&h.db.url)).await;
    assert!(rx.wait_for(total, Duration::from_secs(60)).await, "{} of {total} arrived", rx.count());
    stop_nodes(stop, tasks).await;
    rx.received().iter().map(|r| r.at).collect()
}

async fn rate_limited_endpoint(h: &Harness, rx: &Receiver, rate: u32, messages: usize) {
    let create = CreateEndpoint { url: rx.url(), rate_limit_per_second: Some(rate), ..Default::default() };
    h.sluice.create_endpoint(&h.scope, create).await.expect("endpoint");
    for i in 0..messages {
        h.publish("t", &format!("{{\"i\":{i}}}")).await;
    }
}

/// The first bucket held a whole second's sends, so an idle endpoint limited to 50
/// took 75 in its first second. Now any second holds at most the rate and a tenth.
async fn one_node_keeps_an_endpoints_rate_from_its_first_second(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    rate_limited_endpoint(&h, &rx, 50, 120).await;
    let arrivals = deliver_with_nodes(&h, 1, &rx, 120).await;
    let most = busiest_second(&arrivals);
    assert!(most <= 50 + 5, "{most} arrived within one second at 50 a second");
}

/// Three nodes used to take 283 in one second from an endpoint limited to 50: each
/// kept its own bucket. The schedule now lives in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_an_endpoints_rate_limit() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    rate_limited_endpoint(&h, &rx, 50, 200).await;
    let arrivals = deliver_with_nodes(&h, 3, &rx, 200).await;
    let most = busiest_second(&arrivals);
    // The rate and a tenth (the burst), and a couple for the jitter between a send
    // being granted and its request arriving.
    assert!(most <= 50 + 5 + 2, "{most} arrived within one second at 50 a second from three nodes");
    let spread = arrivals.iter().max().zip(arrivals.iter().min()).map(|(l, f)| l.duration_since(*f));
    assert!(spread >= Some(Duration::from_millis(2_800)), "200 at 50 a second take about 4 s: {spread:?}");
}

/// Each node used to allow an endpoint its own maximum: three nodes held six
/// requests at once to an endpoint that allows two. The leases in the database are
/// now counted before a claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_an_endpoints_concurrency_cap() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    let hold = Duration::from_millis(300);
    rx.set_default(Reply::Hang(hold));
    let create = CreateEndpoint { url: rx.url(), max_concurrency: Some(2), ..Default::default() };
    h.sluice.create_endpoint(&h.scope, create).await.expect("endpoint");
    for i in 0..12 {
        h.publish("t", &format!("{{\"i\":{i}}}")).await;
    }
    let arrivals = deliver_with_nodes(&h, 3, &rx, 12).await;
    assert_eq!(most_at_once(&arrivals, hold), 2, "an endpoint that allows two holds two, whatever the nodes");
}

/// The tenant's cap (here 3 requests at once) holds for the tenant across nodes, over
/// all its endpoints, not per node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_a_tenants_cap() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    let hold = Duration::from_millis(300);
    rx.set_default(Reply::Hang(hold));
    for _ in 0..3 {
        h.endpoint(&rx.url(), None).await;
    }
    for i in 0..6 {
        h.publish("t", &format!("{{\"i\":{i}}}")).await;
    }
    let config = || EngineConfig { tenant_concurrency: Some(3), ..fast_config(&h.db.url) };
    let (stop, tasks) = start_nodes(&h, 3, config).await;
    assert!(rx.wait_for(18, Duration::from_secs(60)).await, "{} of 18 arrived", rx.count());
    stop_nodes(stop, tasks).await;
    let arrivals: Vec<Instant> = rx.received().iter().map(|r| r.at).collect();
    assert!(most_at_once(&arrivals, hold) <= 3, "{} at once for a tenant capped at 3", most_at_once(&arrivals, hold));
}

/// Requests grouped into rounds: a gap of more than `gap` starts a new one.
fn rounds(arrivals: &[Instant], gap: Duration) -> Vec<usize> {
    let mut at = arrivals.to_vec();
    at.sort();
    let mut sizes: Vec<usize> = Vec::new();
    for (i, t) in at.iter().enumerate() {
        if i == 0 || t.duration_since(at[i - 1]) > gap {
            sizes.push(0);
        }
        if let Some(last) = sizes.last_mut() {
            *last += 1;
        }
    }
    sizes
}

/// Each node kept its own breaker, so a failing endpoint was probed by every node at
/// every cooldown. Now the circuit is a row: opened by one node, held by all, and one
/// node at a time takes the half-open probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_circuit_is_probed_by_one_node_not_three() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    rx.set_default(Reply::Status(500));
    h.endpoint(&rx.url(), Some(vec![60])).await;
    for i in 0..40 {
        h.publish("t", &format!("{{\"i\":{i}}}")).await;
    }
    let config = || EngineConfig {
        breaker_threshold: 3,
        breaker_cooldown: Duration::from_millis(500),
        ..fast_config(&h.db.url)
    };
    let (stop, tasks) = start_nodes(&h, 3, config).await;
    // Probes at about 0.5, 1.5 and 3.5 s (the wait doubles after each failed one):
    // the first rounds are complete once a fourth has begun.
    let gap = Duration::from_millis(250);
    let probed = eventually(Duration::from_secs(30), || {
        let rx = &rx;
        async move { rounds(&rx.received().iter().map(|r| r.at).collect::<Vec<_>>(), gap).len() >= 4 }
    })
    .await;
    stop_nodes(stop, tasks).await;
    let sizes = rounds(&rx.received().iter().map(|r| r.at).collect::<Vec<_>>(), gap);
    assert!(probed, "rounds of requests: {sizes:?}");
    assert_eq!(sizes[1..3], [1, 1], "one probe per cooldown, not one per node: rounds {sizes:?}");
    let opened = h.event_kinds("endpoint.circuit_opened").await;
    assert_eq!(opened.len(), 1, "one circuit_opened event, not one per node");
}

/// Each node's heartbeat shows it; one that stops beating shows as gone, one that
/// exited gracefully as stopped, and a week-old one is forgotten.
async fn nodes_are_listed_live_gone_or_stopped(db: TestDb) {
    let h = Harness::new(db).await;
    let now = now_ms();
    h.sluice.heartbeat("node-old", now - 8 * 86_400_000, now - 8 * 86_400_000).await.expect("beat");
    h.sluice.heartbeat("node-a", now - 60_000, now - 60_000).await.expect("beat");
    h.sluice.heartbeat("node-b", now - 60_000, now).await.expect("beat");
    h.sluice.heartbeat("node-c", now - 60_000, now).await.expect("beat");
    h.store.node_stopped("node-c", now).await.expect("stopped");
    let nodes = h.sluice.list_nodes(&h.operator, Some("node-b"), now).await.expect("list");
    let seen: Vec<(&str, NodeState, bool)> = nodes.iter().map(|n| (n.id.as_str(), n.state, n.this_node)).collect();
    assert_eq!(
        seen,
        vec![
            ("node-b", NodeState::Live, true),
            ("node-c", NodeState::Stopped, false),
            ("node-a", NodeState::Gone, false)
        ],
        "newest heartbeat first; the week-old node is gone from the list"
    );
    // A node that beats again is live again (a restart under the same id).
    h.sluice.heartbeat("node-c", now - 60_000, now).await.expect("beat");
    let nodes = h.sluice.list_nodes(&h.operator, None, now).await.expect("list");
    assert!(nodes.iter().any(|n| n.id == "node-c" && n.state == NodeState::Live));
}

/// Three nodes starting at once on an empty PostgreSQL database: each runs the
/// migrations, under the migrator's advisory lock, so every migration is applied once
/// and every node starts; then the schema works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let stores = futures::future::join_all((0..3).map(|_| db.store())).await;
    assert_eq!(stores.len(), 3);
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/postgres"))
        .expect("migrations")
        .filter(|f| f.as_ref().is_ok_and(|f| f.path().extension().is_some_and(|e| e == "sql")))
        .count();
    let pool = sqlx::PgPool::connect(&db.url).await.expect("raw postgres");
    let (applied, distinct): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&pool)
            .await
            .expect("migrations table");
    pool.close().await;
    assert_eq!((applied, distinct), (files as i64, files as i64), "each migration applied once");

    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    h.endpoint(&rx.url(), None).await;
    h.publish("t", "{}").await;
    let mut dispatcher = h.dispatcher(fast_config(&h.db.url));
    assert_eq!(dispatcher.step().await.expect("step"), 1, "the migrated schema delivers");
}

/// A migration of the next release (expand only: a nullable column, a table, an
/// index), applied to the database by that release's migrator, which knows every
/// migration of this one too.
async fn apply_next_release_migration(url: &str) {
    let dir = std::env::temp_dir().join(format!("sluice-next-release-{}-{}", std::process::id(), now_ms()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ours = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/postgres");
    for file in std::fs::read_dir(ours).expect("migrations").flatten() {
        std::fs::copy(file.path(), dir.join(file.file_name())).expect("copy migration");
    }
    std::fs::write(
        dir.join("9999_next_release.sql"),
        "ALTER TABLE deliveries ADD COLUMN next_release_note TEXT;\n\
         CREATE TABLE next_release_things (id TEXT PRIMARY KEY);\n\
         CREATE INDEX next_release_endpoints_url ON endpoints (url);\n",
    )
    .expect("write migration");
    let migrator = sqlx::migrate::Migrator::new(dir.as_path()).await.expect("next release's migrator");
    let pool = sqlx::PgPool::connect(url).await.expect("raw postgres");
    migrator.run(&pool).await.expect("the next release migrates");
    pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A rolling upgrade: a node of this release keeps delivering while a node of the
/// next release migrates the database under it, and a node of this release that
/// (re)starts afterwards starts on the newer schema and delivers. Before, the
/// migrator refused to start on a database with a migration it did not know.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_keeps_working_while_the_next_release_migrates() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    h.endpoint(&rx.url(), None).await;
    let (stop, tasks) = start_nodes(&h, 1, || fast_config(&h.db.url)).await;
    for i in 0..20 {
        h.publish("t", &format!("{{\"i\":{i}}}")).await;
    }
    assert!(rx.wait_for(20, Duration::from_secs(30)).await, "{} of 20 before the migration", rx.count());

    apply_next_release_migration(&h.db.url).await;
    for i in 20..40 {
        h.publish("t", &format!("{{\"i\":{i}}}")).await;
    }
    assert!(rx.wait_for(40, Duration::from_secs(30)).await, "{} of 40 after the migration", rx.count());
    stop_nodes(stop, tasks).await;

    // This release's node restarting on the newer schema.
    let restarted = h.db.store().await;
    let mut config = fast_config(&h.db.url);
    config.node_id = "node-restarted".into();
    let engine = Arc::new(Engine::new(restarted, config, Arc::new(Wake::new())).expect("engine"));
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(engine.run_until_stopped(stopped));
    for i in 40..50 {
        h.publish("t", &format!("{{\"i\":{i}}}")).await;
    }
    assert!(rx.wait_for(50, Duration::from_secs(30)).await, "{} of 50 after the restart", rx.count());
    stop.send(true).expect("stop");
    task.await.expect("join").expect("engine");
}

/// The endpoints page and `endpoint-health` answer from any node: a circuit another
/// node opened shows, with its next probe, on a node that never sent to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circuit_opened_by_another_node_shows_on_every_node() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    let endpoint = h.endpoint(&rx.url(), None).await;
    h.publish("t", "{}").await;
    let health = h.sluice.endpoint_health(&h.scope).await.expect("health");
    assert_eq!(health.len(), 1);
    assert_eq!(health[0].circuit_open, None);

    let change = |change| CircuitRecord { endpoint: endpoint.id.clone(), tenant: h.tenant.clone(), change };
    let opened = change(CircuitChange::Opened { cooldown_ms: 30_000 });
    h.store.record_circuits(&[opened.clone(), opened]).await.expect("another node opens it, then a third");
    let health = h.sluice.endpoint_health(&h.scope).await.expect("health");
    let open = health[0].circuit_open.clone().expect("shown as open");
    assert_eq!(open.consecutive_failures, None, "this node saw no failures");
    let wait = open.next_probe_at.timestamp_millis() - now_ms();
    assert!((25_000..=31_000).contains(&wait), "next probe in about 30 s, not {wait} ms");

    h.store.record_circuits(&[change(CircuitChange::Closed)]).await.expect("another node closes it");
    let health = h.sluice.endpoint_health(&h.scope).await.expect("health");
    assert_eq!(health[0].circuit_open, None, "closed for everyone");
    assert_eq!(
        h.event_kinds("endpoint").await,
        [LifecycleKind::EndpointCircuitClosed, LifecycleKind::EndpointCircuitOpened, LifecycleKind::EndpointCreated],
        "opened once however many nodes saw it, and closed"
    );
}
