//! Process-level faults: the real binary, killed with SIGKILL mid-burst and restarted,
//! must deliver every message it accepted; SIGTERM must stop it cleanly.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sluice_testkit::{eventually, on_both_backends, Receiver, TestDb};

use crate::harness::ADMIN_KEY;

on_both_backends!(killed_mid_burst_loses_nothing);

#[tokio::test]
async fn proxy_variables_do_not_bypass_the_address_rules() {
    let db = TestDb::new(sluice_testkit::Backend::Sqlite).await.expect("SQLite is always available");
    // The "proxy" answers 200 to anything: before the fix, a delivery to a loopback
    // name went through it and was marked succeeded without the resolver seeing it.
    let proxy = Receiver::start().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let proxy_url = format!("http://{}", proxy.addr());
    let mut child = command(&db.url, port)
        .env("SLUICE_ALLOW_PRIVATE_TARGETS", "false")
        .env("HTTP_PROXY", &proxy_url)
        .env("HTTPS_PROXY", &proxy_url)
        .env("ALL_PROXY", &proxy_url)
        .env("http_proxy", &proxy_url)
        .spawn()
        .expect("spawn sluice");
    let client = reqwest::Client::builder().no_proxy().build().expect("client");
    wait_ready(&client, &base).await;
    let post = |path: String, body: Value| {
        let request = client.post(format!("{base}{path}")).bearer_auth(ADMIN_KEY).json(&body);
        async move { request.send().await.expect("send").json::<Value>().await.expect("json") }
    };
    let t = post("/v1/tenants".into(), json!({ "name": "Proxied" })).await["id"].as_str().expect("id").to_owned();
    let unused = free_port();
    post(format!("/v1/tenants/{t}/endpoints"), json!({ "url": format!("http://localhost:{unused}/hook") })).await;
    let m = post(format!("/v1/tenants/{t}/messages"), json!({ "event_type": "probe", "payload": {} })).await;
    let m = m["id"].as_str().expect("message id").to_owned();

    let refused = eventually(Duration::from_secs(20), || async {
        let url = format!("{base}/v1/tenants/{t}/messages/{m}/deliveries");
        let Ok(r) = client.get(url).bearer_auth(ADMIN_KEY).send().await else { return false };
        let page: Value = r.json().await.unwrap_or_default();
        page.to_string().contains("blocked_target")
    })
    .await;
    signal(&child, "KILL");
    let _ = child.wait();
    assert!(refused, "the delivery to localhost was not refused as blocked_target");
    assert_eq!(proxy.count(), 0, "nothing may go through a proxy from the environment");
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn spawn(db_url: &str, port: u16) -> Child {
    command(db_url, port).spawn().expect("spawn sluice")
}

pub(crate) fn command(db_url: &str, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command
        .env("SLUICE_LISTEN", format!("127.0.0.1:{port}"))
        .env("SLUICE_DATABASE_URL", db_url)
        .env("SLUICE_BOOTSTRAP_API_KEY", ADMIN_KEY)
        .env("SLUICE_SECRET_KEY", sluice_testkit::TEST_SECRET_KEY)
        .env("SLUICE_ALLOW_PRIVATE_TARGETS", "true")
        .env("SLUICE_REQUEST_TIMEOUT_SECONDS", "2")
        .env("SLUICE_LEASE_SECONDS", "3")
        .env("SLUICE_POLL_INTERVAL_MS", "100")
        .env("SLUICE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

pub(crate) async fn wait_ready(client: &reqwest::Client, base: &str) {
    let ready = eventually(Duration::from_secs(30), || async {
        client.get(format!("{base}/readyz")).send().await.map(|r| r.status().is_success()).unwrap_or(false)
    })
    .await;
    assert!(ready, "sluice did not become ready");
}

/// Sends a signal with kill(1): no unsafe code for a test helper.
pub(crate) fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status().expect("run kill");
    assert!(status.success(), "kill -{sig} failed");
}

async fn killed_mid_burst_loses_nothing(db: TestDb) {
    let rx = Receiver::start().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut child = spawn(&db.url, port);
    wait_ready(&client, &base).await;

    let post = {
        let client = client.clone();
        let base = base.clone();
        move |path: String, body: Value| {
            let client = client.clone();
            let base = base.clone();
            async move { client.post(format!("{base}{path}")).bearer_auth(ADMIN_KEY).json(&body).send().await }
        }
    };
    let t: Value =
        post("/v1/tenants".into(), json!({ "name": "Crashy" })).await.expect("tenant").json().await.expect("json");
    let t = t["id"].as_str().expect("id").to_owned();
    let ep: Value = post(format!("/v1/tenants/{t}/endpoints"), json!({ "url": rx.url() }))
        .await
        .expect("ep")
        .json()
        .await
        .expect("json");
    let ep = ep["id"].as_str().expect("id").to_owned();
    let secret: Value = client
        .get(format!("{base}/v1/tenants/{t}/endpoints/{ep}/secret"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .expect("secret")
        .json()
        .await
        .expect("json");
    rx.set_secrets(vec![secret["key"].as_str().expect("key").to_owned()]);

    // A burst from 16 publishers; the server is killed while it is going on.
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let mut publishers = Vec::new();
    for p in 0..16 {
        let accepted = accepted.clone();
        let post = post.clone();
        let t = t.clone();
        publishers.push(tokio::spawn(async move {
            for i in 0..60 {
                let r = post(
                    format!("/v1/tenants/{t}/messages"),
                    json!({ "event_type": "burst", "payload": { "p": p, "i": i } }),
                )
                .await;
                match r {
                    Ok(r) if r.status().as_u16() == 202 => {
                        if let Ok(v) = r.json::<Value>().await {
                            if let Some(id) = v["id"].as_str() {
                                accepted.lock().expect("lock").insert(id.to_owned());
                            }
                        }
                    }
                    // Refused or cut off by the kill: never accepted, so not owed.
                    _ => {}
                }
            }
        }));
    }
    // Both before the kill: a publish can be delivered before its 202 reaches the
    // publisher, so 50 arrivals alone do not mean 50 answers were read.
    let answered = eventually(Duration::from_secs(30), || async { accepted.lock().expect("lock").len() >= 50 }).await;
    assert!(answered, "50 publishes answered 202 before the kill");
    assert!(rx.wait_for(50, Duration::from_secs(30)).await, "deliveries started before the kill");
    signal(&child, "KILL");
    let _ = child.wait();
    for p in publishers {
        let _ = p.await;
    }
    let accepted: HashSet<String> = accepted.lock().expect("lock").clone();
    assert!(accepted.len() >= 50, "only {} accepted before the kill", accepted.len());

    // A new process on the same database picks up where the dead one stopped.
    let mut child = spawn(&db.url, port);
    wait_ready(&client, &base).await;
    let all_arrived = eventually(Duration::from_secs(60), || async {
        let got: HashSet<String> =
            rx.received().iter().filter_map(|r| r.header("webhook-id").map(str::to_owned)).collect();
        accepted.is_subset(&got)
    })
    .await;
    let got: HashSet<String> = rx.received().iter().filter_map(|r| r.header("webhook-id").map(str::to_owned)).collect();
    let missing: Vec<_> = accepted.difference(&got).take(5).collect();
    assert!(all_arrived, "{} accepted messages never arrived, e.g. {missing:?}", accepted.difference(&got).count());
    assert!(rx.received().iter().all(|r| r.verified_by == vec![0]), "every delivery is correctly signed");

    // SIGTERM: a clean exit.
    signal(&child, "TERM");
    let exited = eventually(Duration::from_secs(20), || {
        let done = matches!(child.try_wait(), Ok(Some(_)));
        async move { done }
    })
    .await;
    assert!(exited, "sluice did not exit after SIGTERM");
    let status = child.wait().expect("status");
    assert!(status.success(), "exit status {status}");
}
