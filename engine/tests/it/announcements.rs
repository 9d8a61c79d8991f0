//! Publishes name the endpoints they queued work at (PostgreSQL's NOTIFY payload), so
//! a node already sending to one lists it again without scanning for due work.

use std::sync::Arc;
use std::time::Duration;

use sluice_core::model::CreateEndpoint;
use sluice_engine::{Engine, EngineConfig, Wake};
use sluice_testkit::{Backend, Receiver, TestDb};
use sqlx::Connection as _;
use tokio::sync::watch;

use crate::harness::{fast_config, Harness};

/// Three nodes sharing a burst each scanned on nearly every commit of every node's
/// publishes, to find the one endpoint they were all sending to.
#[tokio::test]
async fn a_publish_elsewhere_to_an_endpoint_held_here_is_sent_without_a_scan() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    h.sluice.create_endpoint(&h.scope, CreateEndpoint { url: rx.url(), ..Default::default() }).await.expect("endpoint");
    // The node hears only the database's notifications (the service the test
    // publishes through stands for another node), and never polls meanwhile.
    let config = EngineConfig { poll_interval: Duration::from_secs(600), ..fast_config(&h.db.url) };
    let engine = Arc::new(Engine::new(h.db.store().await, config, Arc::new(Wake::new())).expect("engine"));
    let mut quiet = engine.quiet();
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(engine.clone().run_until_stopped(stopped));

    h.publish("t", "{\"n\":1}").await;
    assert!(rx.wait_for(1, Duration::from_secs(10)).await, "the first publish was sent");
    let idle = quiet.wait_for(|q| q.idle);
    let scans = tokio::time::timeout(Duration::from_secs(10), idle).await.expect("idle").expect("running").scans;

    h.publish("t", "{\"n\":2}").await;
    assert!(rx.wait_for(2, Duration::from_secs(10)).await, "the second publish was sent");
    assert_eq!(quiet.borrow().scans, scans, "the endpoint was listed again without a scan");

    // An announcement that names nothing still scans (a replay, a node of an
    // earlier release).
    let mut conn = sqlx::PgConnection::connect(&h.db.url).await.expect("connect");
    sqlx::query("SELECT pg_notify('sluice_work', '')").execute(&mut conn).await.expect("notify");
    let scanned = quiet.wait_for(|q| q.scans > scans);
    tokio::time::timeout(Duration::from_secs(10), scanned).await.expect("a scan").expect("running");

    stop.send(true).expect("stop");
    running.await.expect("join").expect("engine");
}
