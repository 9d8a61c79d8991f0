//! Several nodes on one database honour one set of limits: an endpoint's rate limit
//! holds across every dispatcher sharing the database, not per node.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_core::model::*;
use sluice_engine::ids::now_ms;
use sluice_engine::Engine;
use sluice_testkit::{on_both_backends, Backend, Receiver, TestDb};
use tokio::sync::{watch, Notify};

use crate::harness::{fast_config, Harness};

on_both_backends!(one_node_keeps_an_endpoints_rate_from_its_first_second, nodes_are_listed_live_gone_or_stopped);

/// The most arrivals in any one-second window.
fn busiest_second(arrivals: &[Instant]) -> usize {
    let mut at = arrivals.to_vec();
    at.sort();
    let mut most = 0;
    let mut start = 0;
    for end in 0..at.len() {
        while at[end].duration_since(at[start]) >= Duration::from_secs(1) {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

/// Runs `nodes` engines, each with its own connection pool (as separate processes
/// would have), until `rx` has `total` requests; returns the arrival times.
async fn deliver_with_nodes(h: &Harness, nodes: usize, rx: &Receiver, total: usize) -> Vec<Instant> {
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    for n in 0..nodes {
        let store = if n == 0 { h.store.clone() } else { h.db.store().await };
        let mut config = fast_config(&h.db.url);
        config.node_id = format!("node-{n}");
        let engine = Arc::new(Engine::new(store, config, Arc::new(Notify::new())).expect("engine"));
        tasks.push(tokio::spawn(engine.run_until_stopped(stopped.clone())));
    }
    assert!(rx.wait_for(total, Duration::from_secs(60)).await, "{} of {total} arrived", rx.count());
    stop.send(true).expect("stop");
    for task in tasks {
        task.await.expect("join").expect("engine");
    }
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
