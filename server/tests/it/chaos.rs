//! Chaos on PostgreSQL with real processes: three nodes share a database while one is
//! killed with SIGKILL mid-burst, or while PostgreSQL itself restarts mid-burst.
//! Nothing accepted may be lost; duplicates are bounded by what the dead node held.

use std::collections::{HashMap, HashSet};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sluice_testkit::{eventually, Backend, Receiver, Reply, TestDb};

use crate::harness::ADMIN_KEY;
use crate::process::{command, free_port, signal, wait_ready};

/// One Sluice process of the cluster.
struct Node {
    child: Child,
    base: String,
}

impl Node {
    async fn start(db_url: &str, client: &reqwest::Client) -> Self {
        let port = free_port();
        let child = command(db_url, port).spawn().expect("spawn sluice");
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(client, &base).await;
        Self { child, base }
    }

    /// The node's id, from its own answer to `GET /v1/nodes`.
    async fn id(&self, client: &reqwest::Client) -> String {
        let nodes: Value = client
            .get(format!("{}/v1/nodes", self.base))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .expect("nodes")
            .json()
            .await
            .expect("json");
        let this = nodes["data"].as_array().expect("data").iter().find(|n| n["this_node"] == true);
        this.and_then(|n| n["id"].as_str()).expect("this node is listed").to_owned()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(client: &reqwest::Client, base: &str, path: &str, body: Value) -> Value {
    let r = client.post(format!("{base}{path}")).bearer_auth(ADMIN_KEY).json(&body).send().await.expect("post");
    assert!(r.status().is_success(), "POST {path}: {}", r.status());
    r.json().await.expect("json")
}

/// A tenant with `endpoints` endpoints at `rx` (paths /hook/0, /hook/1, …).
async fn tenant_with_endpoints(client: &reqwest::Client, base: &str, rx: &Receiver, endpoints: usize) -> String {
    let t = post(client, base, "/v1/tenants", json!({ "name": "Chaos" })).await;
    let t = t["id"].as_str().expect("tenant id").to_owned();
    for n in 0..endpoints {
        post(client, base, &format!("/v1/tenants/{t}/endpoints"), json!({ "url": format!("{}/{n}", rx.url()) })).await;
    }
    t
}

/// (message id, path) of every request the receiver got, and how many were repeats.
fn arrived(rx: &Receiver) -> (HashSet<(String, String)>, usize) {
    let received = rx.received();
    let unique: HashSet<(String, String)> =
        received.iter().filter_map(|r| r.header("webhook-id").map(|id| (id.to_owned(), r.path.clone()))).collect();
    let repeats = received.len() - unique.len();
    (unique, repeats)
}

/// Waits until every accepted message reached every endpoint; returns what is missing.
async fn missing_after(rx: &Receiver, accepted: &HashSet<String>, endpoints: usize) -> usize {
    let owed = |got: &HashSet<(String, String)>| -> usize {
        accepted
            .iter()
            .map(|id| (0..endpoints).filter(|n| !got.contains(&(id.clone(), format!("/hook/{n}")))).count())
            .sum()
    };
    eventually(Duration::from_secs(120), || {
        let missing = owed(&arrived(rx).0);
        async move { missing == 0 }
    })
    .await;
    owed(&arrived(rx).0)
}

/// A burst of 10,000 deliveries (2,500 messages to 4 endpoints) through three nodes;
/// one is killed with SIGKILL when a quarter has arrived. The other two deliver
/// everything accepted, and deliver again at most what the dead node had leased.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_one_killed_mid_burst_lose_nothing() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let rx = Receiver::start().await;
    let client = reqwest::Client::new();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Node::start(&db.url, &client).await);
    }
    let doomed_id = nodes[1].id(&client).await;
    let t = tenant_with_endpoints(&client, &nodes[0].base, &rx, 4).await;

    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let mut publishers = Vec::new();
    for p in 0..16 {
        let (accepted, client, bases, t) = (accepted.clone(), client.clone(), bases.clone(), t.clone());
        publishers.push(tokio::spawn(async move {
            for i in 0..2_500 / 16 + usize::from(p < 2_500 % 16) {
                // As a load balancer would: a node that does not answer is skipped. A
                // publish cut off by the kill was never accepted, so is not owed.
                for attempt in 0..bases.len() {
                    let base = &bases[(p + i + attempt) % bases.len()];
                    let body = json!({ "event_type": "burst", "payload": { "p": p, "i": i } });
                    let request =
                        client.post(format!("{base}/v1/tenants/{t}/messages")).bearer_auth(ADMIN_KEY).json(&body);
                    let Ok(r) = request.send().await else { continue };
                    if r.status().as_u16() == 202 {
                        let v: Value = r.json().await.unwrap_or_default();
                        if let Some(id) = v["id"].as_str() {
                            accepted.lock().expect("lock").insert(id.to_owned());
                        }
                    }
                    break;
                }
            }
        }));
    }
    assert!(rx.wait_for(2_500, Duration::from_secs(120)).await, "a quarter arrived before the kill");
    signal(&nodes[1].child, "KILL");
    let _ = nodes[1].child.wait();
    let pool = sqlx::PgPool::connect(&db.url).await.expect("raw postgres");
    let (leased,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM deliveries WHERE lease_owner = $1 AND state = 'pending'")
            .bind(&doomed_id)
            .fetch_one(&pool)
            .await
            .expect("count leased");
    pool.close().await;
    for p in publishers {
        p.await.expect("publisher");
    }
    let accepted = accepted.lock().expect("lock").clone();
    assert!(accepted.len() >= 2_450, "only {} of 2,500 accepted", accepted.len());

    let missing = missing_after(&rx, &accepted, 4).await;
    assert_eq!(missing, 0, "deliveries of accepted messages never arrived");
    let (_, repeats) = arrived(&rx);
    let leased = usize::try_from(leased).expect("count");
    assert!(repeats <= leased, "{repeats} delivered twice, but the killed node held only {leased} leases");
}

/// A throwaway PostgreSQL cluster of the test's own (the shared test cluster serves
/// other tests, which a restart would break), removed on drop.
struct OwnCluster {
    dir: String,
    url: String,
}

const CLUSTER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg-test-cluster.sh");

impl OwnCluster {
    fn start() -> Self {
        // One per test: tests of this binary run side by side in one process.
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let dir = format!("/tmp/sluice-chaos-pg-{}-{n}", std::process::id());
        let out = std::process::Command::new(CLUSTER_SCRIPT).args(["start", &dir]).output().expect("run the script");
        assert!(out.status.success(), "starting PostgreSQL: {}", String::from_utf8_lossy(&out.stderr));
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Self { dir, url }
    }

    /// `pg_ctl stop -m fast`, the data kept for [`OwnCluster::resume`]: an outage.
    fn halt(&self) {
        let status = std::process::Command::new(CLUSTER_SCRIPT).args(["halt", &self.dir]).status().expect("run");
        assert!(status.success(), "halting PostgreSQL failed");
    }

    /// Up again after [`OwnCluster::halt`], on the same port with the same data.
    fn resume(&self) {
        let status = std::process::Command::new(CLUSTER_SCRIPT).args(["resume", &self.dir]).status().expect("run");
        assert!(status.success(), "resuming PostgreSQL failed");
    }

    /// `pg_ctl restart -m fast`: every connection is cut, then the server is back.
    async fn restart(&self) {
        let dir = self.dir.clone();
        let status = tokio::task::spawn_blocking(move || {
            std::process::Command::new(CLUSTER_SCRIPT).args(["restart", &dir]).status().expect("run the script")
        })
        .await
        .expect("join");
        assert!(status.success(), "restarting PostgreSQL failed");
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new(CLUSTER_SCRIPT).args(["stop", &self.dir]).status();
    }
}

/// What a publish got, when it was not a 202.
fn judge(status: u16, headers: &reqwest::header::HeaderMap) -> Option<String> {
    let retry_after = headers.get("retry-after").is_some();
    let problem = headers.get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    (status != 503 || !retry_after || !problem).then(|| format!("{status} (Retry-After: {retry_after})"))
}

/// PostgreSQL restarts (`pg_ctl restart -m fast`) while three nodes take a burst and
/// deliver it. Every publish is answered in time, with 202 or 503 problem+json and
/// `Retry-After` (never a 500 or a hang); the nodes recover without a restart; LISTEN
/// resumes; every accepted message is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_burst_loses_nothing() {
    // Runs where the PostgreSQL tests run (always under CI).
    if TestDb::new(Backend::Postgres).await.is_none() {
        return;
    }
    let cluster = OwnCluster::start();
    let rx = Receiver::start().await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client");
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Node::start(&cluster.url, &client).await);
    }
    let t = tenant_with_endpoints(&client, &nodes[0].base, &rx, 2).await;
    // The wake-up channel, as a node listens to it, to see it come back.
    let store = sluice_engine::store::connect(&cluster.url, 2, sluice_testkit::test_sealer()).await.expect("store");
    let woken = Arc::new(sluice_engine::Wake::new());
    store.listen_for_work(woken.clone()).await.expect("listen");

    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let refused: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let unavailable: Arc<Mutex<usize>> = Arc::default();
    let slowest: Arc<Mutex<Duration>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let mut publishers = Vec::new();
    for p in 0..8 {
        let (accepted, refused, stop) = (accepted.clone(), refused.clone(), stop.clone());
        let (unavailable, slowest) = (unavailable.clone(), slowest.clone());
        let (client, bases, t) = (client.clone(), bases.clone(), t.clone());
        publishers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let base = &bases[(p + i) % bases.len()];
                i += 1;
                let body = json!({ "event_type": "burst", "payload": { "p": p, "i": i } });
                let request = client.post(format!("{base}/v1/tenants/{t}/messages")).bearer_auth(ADMIN_KEY).json(&body);
                let sent = std::time::Instant::now();
                let response = request.send().await;
                let took = sent.elapsed();
                {
                    let mut most = slowest.lock().expect("lock");
                    *most = (*most).max(took);
                }
                let outcome = match response {
                    Ok(r) if r.status().as_u16() == 202 => {
                        let v: Value = r.json().await.unwrap_or_default();
                        let id = v["id"].as_str().unwrap_or_default().to_owned();
                        accepted.lock().expect("lock").insert(id);
                        None
                    }
                    Ok(r) => {
                        let bad = judge(r.status().as_u16(), r.headers());
                        if bad.is_none() {
                            *unavailable.lock().expect("lock") += 1;
                        }
                        bad
                    }
                    Err(e) if e.is_timeout() => Some("no answer in 20 s".to_owned()),
                    Err(e) => Some(format!("{e}")),
                };
                if let Some(bad) = outcome {
                    *refused.lock().expect("lock").entry(bad).or_default() += 1;
                }
            }
        }));
    }
    assert!(rx.wait_for(500, Duration::from_secs(60)).await, "deliveries started before the restart");
    cluster.restart().await;
    let before = rx.count();
    assert!(rx.wait_for(before + 1_000, Duration::from_secs(60)).await, "deliveries went on after the restart");
    stop.store(true, Ordering::Relaxed);
    for p in publishers {
        p.await.expect("publisher");
    }
    let refused = refused.lock().expect("lock").clone();
    let slowest = *slowest.lock().expect("lock");
    let unavailable = *unavailable.lock().expect("lock");
    assert!(refused.is_empty(), "publishes answered otherwise than 202 or 503 with Retry-After: {refused:?}");
    // Waiting for a connection is bounded by the pool's acquire timeout (10 s).
    assert!(slowest < Duration::from_secs(12), "a publish took {slowest:?} ({unavailable} answered 503)");

    let accepted = accepted.lock().expect("lock").clone();
    let missing = missing_after(&rx, &accepted, 2).await;
    assert_eq!(missing, 0, "deliveries of accepted messages never arrived");
    for node in &mut nodes {
        assert!(matches!(node.child.try_wait(), Ok(None)), "a node exited");
        let ready = client.get(format!("{}/readyz", node.base)).send().await.map(|r| r.status().as_u16());
        assert_eq!(ready.ok(), Some(200), "a node is not ready after the restart");
    }

    // LISTEN came back: a NOTIFY after the restart reaches the listener.
    let pool = sqlx::PgPool::connect(&cluster.url).await.expect("raw postgres");
    let heard = eventually(Duration::from_secs(20), || {
        let (pool, woken) = (pool.clone(), woken.clone());
        async move {
            // A wake-up from the burst may still be stored: take it first.
            while tokio::time::timeout(Duration::from_millis(1), woken.notified()).await.is_ok() {}
            let notified = woken.notified();
            let _ = sqlx::query("SELECT pg_notify('sluice_work', '')").execute(&pool).await;
            tokio::time::timeout(Duration::from_millis(500), notified).await.is_ok()
        }
    })
    .await;
    pool.close().await;
    assert!(heard, "the wake-up channel did not come back after the restart");
}

/// A node told to stop (SIGTERM) while its database is gone stops within its grace
/// and a few seconds more. It used to wait out a pool timeout for the scan in
/// progress, then the recorder's minute of retries for each batch of outcomes of the
/// requests it finished, then another pool timeout to release its leases: over 90 s
/// here, so an operator stopping nodes during an outage waited or killed them. What
/// it could not write is sent again once the database is back and its leases expire:
/// every message reaches the receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stops_promptly_when_its_database_is_gone() {
    // Runs where the PostgreSQL tests run (always under CI).
    if TestDb::new(Backend::Postgres).await.is_none() {
        return;
    }
    let cluster = OwnCluster::start();
    let rx = Receiver::start().await;
    // Answered within the grace, so the node has outcomes to record when it stops.
    rx.set_default(Reply::Hang(Duration::from_millis(1_500)));
    let client = reqwest::Client::new();
    let port = free_port();
    // A `Node`, so a failing test does not leave the process behind.
    let mut node = Node {
        child: command(&cluster.url, port).env("SLUICE_SHUTDOWN_GRACE_SECONDS", "3").spawn().expect("spawn sluice"),
        base: format!("http://127.0.0.1:{port}"),
    };
    let base = node.base.clone();
    wait_ready(&client, &base).await;
    let t = tenant_with_endpoints(&client, &base, &rx, 1).await;
    for i in 0..20 {
        post(&client, &base, &format!("/v1/tenants/{t}/messages"), json!({ "event_type": "e", "payload": { "i": i } }))
            .await;
    }
    assert!(rx.wait_for(1, Duration::from_secs(30)).await, "requests are in flight");

    cluster.halt();
    signal(&node.child, "TERM");
    let asked = std::time::Instant::now();
    let stopped = eventually(Duration::from_secs(90), || {
        let exited = node.child.try_wait().map_or(true, |s| s.is_some());
        async move { exited }
    })
    .await;
    let took = asked.elapsed();
    assert!(stopped, "the node had not stopped 90 s after SIGTERM");
    // The grace (3 s) and the database's share of the stop (5 s), with room for a
    // loaded machine.
    assert!(took < Duration::from_secs(15), "the node took {took:?} to stop");

    // The database is back and a node starts on it: what the stopped node sent but
    // could not record, and what it never sent, all arrive (its leases, 3 s, expire).
    cluster.resume();
    rx.set_default(Reply::Status(200));
    let _next = Node::start(&cluster.url, &client).await;
    let every = eventually(Duration::from_secs(60), || {
        let messages = arrived(&rx).0.len();
        async move { messages == 20 }
    })
    .await;
    assert!(every, "not every accepted message arrived once the database was back");
}
