//! `/metrics` after real work, on both backends: a scripted run (publish, a failed
//! attempt, a retry that succeeds, a delivery left waiting) shows with the labels
//! docs/metrics.md promises, and a thousand tenants with waiting deliveries make a
//! bounded number of series.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use sluice_testkit::{on_both_backends, Receiver, Reply, TestDb};

use crate::harness::{TestApp, ADMIN_KEY, METRICS_TOKEN};

on_both_backends!(a_scripted_run_shows_in_the_metrics, a_thousand_tenants_make_bounded_series);

async fn scrape(app: &TestApp) -> String {
    let a = app.call(Method::GET, "/metrics", Some(METRICS_TOKEN), None, &[]).await;
    assert_eq!(a.status, StatusCode::OK);
    a.body.as_str().expect("text").to_owned()
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

/// The value of the series whose line starts with `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn a_scripted_run_shows_in_the_metrics(db: TestDb) {
    let mut app = TestApp::start(db).await;
    let rx = Receiver::start().await;
    // The first attempt fails with 500; the retry, a second later, succeeds.
    rx.script([Reply::Status(500)]);
    rx.set_default(Reply::Status(204));
    let t = app.tenant("Acme").await;
    let tier = app.get(&format!("/v1/tenants/{t}")).await.body["tier"].as_str().expect("tier").to_owned();
    let body = json!({ "url": rx.url(), "retry_schedule_seconds": [1] });
    let e = app.post(&format!("/v1/tenants/{t}/endpoints"), body).await;
    assert_eq!(e.status, StatusCode::CREATED, "{:?}", e.body);
    let first = e.body["id"].as_str().expect("id").to_owned();
    let published = app.post(&format!("/v1/tenants/{t}/messages"), json!({ "event_type": "a", "payload": {} })).await;
    assert_eq!(published.status, StatusCode::ACCEPTED);
    assert!(rx.wait_for(2, Duration::from_secs(20)).await, "failed once, then delivered");
    app.wait_idle().await;

    // A second endpoint that is down, with an hour to its retry: its delivery waits.
    let down = Receiver::start().await;
    down.set_default(Reply::Status(503));
    let body = json!({ "url": down.url(), "retry_schedule_seconds": [3600] });
    let e = app.post(&format!("/v1/tenants/{t}/endpoints"), body).await;
    assert_eq!(e.status, StatusCode::CREATED);
    let second = e.body["id"].as_str().expect("id").to_owned();
    // The first is disabled, so only the new one gets the next message.
    let disabled = app.post(&format!("/v1/tenants/{t}/endpoints/{first}/disable"), json!({})).await;
    assert_eq!(disabled.status, StatusCode::OK, "{:?}", disabled.body);
    app.post(&format!("/v1/tenants/{t}/messages"), json!({ "event_type": "b", "payload": {} })).await;
    assert!(down.wait_for(1, Duration::from_secs(20)).await);
    app.wait_idle().await;

    let text = scrape(&app).await;
    for line in [
        format!("sluice_attempts_total{{tenant=\"{t}\",attempt=\"1\",outcome=\"failed\",error_class=\"http_5xx\"}} 2"),
        format!("sluice_attempts_total{{tenant=\"{t}\",attempt=\"2\",outcome=\"succeeded\",error_class=\"none\"}} 1"),
        format!("sluice_deliveries_total{{tenant=\"{t}\",outcome=\"succeeded\"}} 1"),
        format!("sluice_delivery_latency_seconds_count{{tier=\"{tier}\"}} 1"),
        "sluice_publish_duration_seconds_count 2".to_owned(),
        "sluice_http_requests_total{route=\"/v1/tenants/{tenant}/messages\",method=\"POST\",status=\"202\"} 2".into(),
        "sluice_http_requests_total{route=\"/v1/tenants/{tenant}/endpoints\",method=\"POST\",status=\"201\"} 2".into(),
        "sluice_http_requests_total{route=\"/v1/tenants/{tenant}/endpoints/{endpoint}/disable\",method=\"POST\",status=\"200\"} 1".into(),
        format!("sluice_queue_depth{{tenant=\"{t}\",state=\"scheduled\"}} 1"),
        format!("sluice_queue_depth{{tenant=\"{t}\",state=\"due\"}} 0"),
        "sluice_endpoints{state=\"enabled\"} 1".into(),
        "sluice_endpoints{state=\"disabled\"} 1".into(),
        "sluice_in_flight 0".into(),
    ] {
        assert!(has_line(&text, &line), "{line} in:\n{text}");
    }
    let latency = value(&text, &format!("sluice_delivery_latency_seconds_sum{{tier=\"{tier}\"}}")).expect("a sum");
    // The retry waited a second, less at most 20 % of jitter.
    assert!(latency >= 0.8, "published, failed, waited for the retry, delivered: {latency} s");
    assert!(text.contains("sluice_db_pool_connections{pool="), "{text}");
    assert!(value(&text, "sluice_claims_total").is_some_and(|n| n >= 2.0));
    // Ids in paths never become labels: a request for a made-up path is `unmatched`.
    app.get("/v1/tenants/tn_01JD0000000000000000000000/nothing-here").await;
    let text = scrape(&app).await;
    assert!(!text.contains("nothing-here"));
    assert!(text.contains("route=\"unmatched\""), "{text}");

    // Disabled, the waiting endpoint's delivery is paused, not scheduled: the queue
    // alerts must not take a switched-off endpoint for a queue that does not drain.
    // (What a scrape reads from the database is reused for a second.)
    let disabled = app.post(&format!("/v1/tenants/{t}/endpoints/{second}/disable"), json!({})).await;
    assert_eq!(disabled.status, StatusCode::OK);
    let paused = format!("sluice_queue_depth{{tenant=\"{t}\",state=\"paused\"}} 1");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut text = scrape(&app).await;
    while !has_line(&text, &paused) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        text = scrape(&app).await;
    }
    assert!(has_line(&text, &paused), "{paused} in:\n{text}");
    assert!(has_line(&text, &format!("sluice_queue_depth{{tenant=\"{t}\",state=\"scheduled\"}} 0")));
    app.stop().await;
}

async fn a_thousand_tenants_make_bounded_series(db: TestDb) {
    const TENANTS: usize = 1000;
    const LABELLED: usize = 5;
    let app = TestApp::builder(db).configure(|c| c.engine.metrics_tenants = LABELLED).build().await;
    let platform = app.sluice.authenticate(ADMIN_KEY).await.expect("auth").expect("the platform key");
    let platform = platform.platform().expect("platform");
    for i in 0..TENANTS {
        let req = serde_json::from_value(json!({ "name": format!("tenant {i}") })).expect("a tenant");
        let tenant = app.sluice.create_tenant(&platform, req).await.expect("tenant");
        let scope = platform.tenant(&tenant.id).expect("not the canary");
        // Never called: no engine runs, so every delivery stays due.
        let req = serde_json::from_value(json!({ "url": "http://127.0.0.1:9/hook" })).expect("an endpoint");
        app.sluice.create_endpoint(&scope, req).await.expect("endpoint");
        // The first tenants have more waiting, so which are named is known.
        for _ in 0..(if i < LABELLED { 3 } else { 1 }) {
            let msg = serde_json::from_value(json!({ "event_type": "a", "payload": {} })).expect("a message");
            app.sluice.publish(&scope, msg, None).await.expect("publish");
        }
    }
    let text = scrape(&app).await;
    let tenants: HashSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("sluice_queue_depth{"))
        .filter_map(|l| l.split("tenant=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(tenants.len(), LABELLED + 1, "{tenants:?}");
    assert!(tenants.contains("other"));
    let other_due = value(&text, "sluice_queue_depth{tenant=\"other\",state=\"due\"}");
    assert_eq!(other_due, Some((TENANTS - LABELLED) as f64));
    assert!(value(&text, "sluice_queue_oldest_due_seconds{tenant=\"other\"}").is_some());
}
