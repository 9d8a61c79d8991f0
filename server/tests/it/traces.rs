//! Traces: with an OTLP endpoint, a publish and its delivery reach a collector
//! stand-in (a real OTLP/HTTP listener decoding the protobuf it is sent) as spans that
//! share the message's id: the request (continuing the caller's `traceparent`), the
//! publish and its batch's commit (linked to it), the delivery's claim, send (its
//! child) and record.
//!
//! One backend is enough: spans do not depend on the database. The in-process test
//! runs on a current-thread runtime so that the subscriber it sets for its thread sees
//! every task the server spawns; the other runs the binary, configured only by the
//! standard `OTEL_*` variables.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message as _;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sluice_testkit::{eventually, Receiver, TestDb};
use tracing_subscriber::layer::SubscriberExt as _;

use crate::harness::{TestApp, ADMIN_KEY};
use crate::process::{command, free_port, signal, wait_ready};

/// A span as the collector received it.
#[derive(Debug, Clone)]
struct Seen {
    name: String,
    service: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    links: usize,
    attributes: HashMap<String, String>,
}

impl Seen {
    fn attr(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

fn text(kv: &[KeyValue]) -> HashMap<String, String> {
    kv.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                Some(Value::IntValue(i)) => i.to_string(),
                Some(Value::BoolValue(b)) => b.to_string(),
                Some(Value::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// A stand-in for an OpenTelemetry collector: OTLP/HTTP with protobuf bodies at
/// `/v1/traces`, on a thread and runtime of its own (the exporter blocks on it).
fn collector() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}/v1/traces", listener.local_addr().expect("addr"));
    let kept = seen.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let accept = move |body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                        return StatusCode::BAD_REQUEST;
                    };
                    let mut kept = kept.lock().expect("lock");
                    for resource in request.resource_spans {
                        let attrs = resource.resource.map(|r| text(&r.attributes)).unwrap_or_default();
                        let service = attrs.get("service.name").cloned().unwrap_or_default();
                        for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                            kept.push(Seen {
                                name: span.name,
                                service: service.clone(),
                                trace_id: hex(&span.trace_id),
                                span_id: hex(&span.span_id),
                                parent_span_id: hex(&span.parent_span_id),
                                links: span.links.len(),
                                attributes: text(&span.attributes),
                            });
                        }
                    }
                    StatusCode::OK
                }
            };
            let app = axum::Router::new().route("/v1/traces", axum::routing::post(accept));
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let _ = axum::serve(listener, app).await;
        });
    });
    (url, seen)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_publish_and_its_delivery_reach_the_collector_as_spans_of_one_message() {
    let (url, seen) = collector();
    let traces = sluice_server::traces::Traces::to(Some(url)).expect("exporter");
    // With a single dispatcher alive, tracing decides whether a span site is wanted
    // by asking whichever subscriber the thread that first reaches it has: another
    // test's thread, with none, would switch the request's span off for good. A
    // second one alive makes it ask every subscriber (as one global subscriber
    // would, in the binary).
    let _second = tracing::Dispatch::new(tracing_subscriber::registry());
    let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry().with(traces.layer()));

    let db = TestDb::new(sluice_testkit::Backend::Sqlite).await.expect("sqlite");
    let app = TestApp::start(db).await;
    let receiver = Receiver::start().await;
    let tenant = app.tenant("Traced").await;
    app.endpoint(&tenant, &receiver.url()).await;

    // The caller is inside a trace of its own.
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{caller_trace}-00f067aa0ba902b7-01");
    let body = json!({ "event_type": "order.paid", "payload": { "id": 1 } });
    let path = format!("/v1/tenants/{tenant}/messages");
    let published = app.call(Method::POST, &path, Some(ADMIN_KEY), Some(body), &[("traceparent", &traceparent)]).await;
    assert_eq!(published.status, StatusCode::ACCEPTED, "{:?}", published.body);
    let message = published.body["id"].as_str().expect("id").to_owned();
    assert!(receiver.wait_for(1, Duration::from_secs(10)).await, "delivered");
    app.wait_idle().await;

    let names = ["request", "publish", "publish.commit", "delivery.claim", "delivery.send", "delivery.record"];
    let all_there = eventually(Duration::from_secs(10), || {
        traces.flush().expect("flush");
        let seen = seen.lock().expect("lock").clone();
        let message = message.clone();
        async move {
            let named = |n: &str| seen.iter().any(|s| s.name == n || (n == "request" && s.name.starts_with("POST ")));
            names.iter().all(|n| named(n))
                && seen.iter().any(|s| s.name == "delivery.record" && s.attr("message.ids").contains(&message))
        }
    })
    .await;
    let seen = seen.lock().expect("lock").clone();
    assert!(all_there, "every kind of span arrives: {:#?}", seen.iter().map(|s| &s.name).collect::<Vec<_>>());
    assert!(seen.iter().all(|s| s.service == "sluice"), "the resource names the service");
    let one = |name: &str| -> Seen {
        seen.iter()
            .find(|s| s.name == name && (s.attr("message.id") == message || s.attr("message.ids").contains(&message)))
            .unwrap_or_else(|| panic!("a {name} span of {message}: {seen:#?}"))
            .clone()
    };

    let request = seen
        .iter()
        .find(|s| s.name == "POST /v1/tenants/{tenant}/messages")
        .unwrap_or_else(|| panic!("the request's span, named by its route: {seen:#?}"))
        .clone();
    assert_eq!(request.trace_id, caller_trace, "the request continues the caller's trace");
    assert_eq!(request.parent_span_id, "00f067aa0ba902b7");
    assert_eq!(request.attr("http.route"), "/v1/tenants/{tenant}/messages");
    assert_eq!(request.attr("http.response.status_code"), "202");
    assert!(!request.attributes.values().any(|v| v.contains(ADMIN_KEY)), "no secret in a span");

    let publish = one("publish");
    assert_eq!((publish.trace_id.as_str(), publish.parent_span_id.as_str()), (caller_trace, request.span_id.as_str()));
    assert_eq!(publish.attr("tenant.id"), tenant);
    let commit = one("publish.commit");
    assert!(commit.links >= 1, "the commit links to the publishes it wrote: {commit:?}");

    let claim = one("delivery.claim");
    let send = one("delivery.send");
    assert_eq!(send.parent_span_id, claim.span_id, "a send is its claim's child");
    assert_eq!(send.attr("http.response.status_code"), "200");
    assert_eq!(send.attr("tenant.id"), tenant);
    one("delivery.record");
}

/// The binary, told only `OTEL_EXPORTER_OTLP_ENDPOINT` (the collector's base URL: the
/// exporter adds `/v1/traces`) and `OTEL_SERVICE_NAME`, sends a publish's request span
/// and its delivery's send span, under the name given.
#[tokio::test]
async fn the_binary_sends_traces_where_the_standard_variables_say() {
    let (url, seen) = collector();
    let base_url = url.trim_end_matches("/v1/traces").to_owned();
    let db = TestDb::new(sluice_testkit::Backend::Sqlite).await.expect("sqlite");
    let receiver = Receiver::start().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = command(&db.url, port)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &base_url)
        .env("OTEL_SERVICE_NAME", "sluice-test")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .spawn()
        .expect("spawn sluice");
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;
    let post = |path: String, body: serde_json::Value| {
        let request = client.post(format!("{base}{path}")).bearer_auth(ADMIN_KEY).json(&body);
        async move { request.send().await.expect("send").json::<serde_json::Value>().await.expect("json") }
    };
    let t = post("/v1/tenants".into(), json!({ "name": "Traced" })).await["id"].as_str().expect("id").to_owned();
    post(format!("/v1/tenants/{t}/endpoints"), json!({ "url": receiver.url() })).await;
    let m = post(format!("/v1/tenants/{t}/messages"), json!({ "event_type": "order.paid", "payload": {} })).await;
    let m = m["id"].as_str().expect("message id").to_owned();
    assert!(receiver.wait_for(1, Duration::from_secs(20)).await, "delivered");

    let arrived = eventually(Duration::from_secs(20), || {
        let seen = seen.lock().expect("lock").clone();
        let m = m.clone();
        async move {
            seen.iter().any(|s| s.name == "POST /v1/tenants/{tenant}/messages")
                && seen.iter().any(|s| s.name == "delivery.send" && s.attr("message.id") == m)
        }
    })
    .await;
    signal(&child, "TERM");
    let _ = child.wait();
    let seen = seen.lock().expect("lock").clone();
    assert!(arrived, "the request and the send arrive: {:#?}", seen.iter().map(|s| &s.name).collect::<Vec<_>>());
    assert!(seen.iter().all(|s| s.service == "sluice-test"), "OTEL_SERVICE_NAME names the service");
}
