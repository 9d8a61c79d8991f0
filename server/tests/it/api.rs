//! The REST API: resources, conventions and every error status. In-process where
//! nothing needs delivering; on a real socket with the engine where something does.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::{on_both_backends, Receiver, Reply, TestDb};

use crate::harness::{assert_problem, TestApp, ADMIN_KEY};

on_both_backends!(
    health_and_authentication,
    tenants_and_tenant_keys,
    endpoint_lifecycle,
    publish_deliver_read_and_replay,
    idempotency_and_body_limits,
    backlog_cap_answers_429,
    unknown_routes_and_methods,
    users_for_the_dashboard,
    demo_mode_fills_a_fresh_database,
    recover_over_the_api,
    test_event_over_the_api,
    api_keys_are_listed_and_revoked,
    tiers_and_the_overview,
    nodes_are_listed_and_marked_stopped,
);

async fn health_and_authentication(db: TestDb) {
    let mut app = TestApp::start(db).await;
    let live = app.call(Method::GET, "/livez", None, None, &[]).await;
    assert_eq!(live.status, StatusCode::OK);
    let ready = app.call(Method::GET, "/readyz", None, None, &[]).await;
    assert_eq!(ready.status, StatusCode::OK);
    // Before: /metrics answered anyone.
    let stranger = app.call(Method::GET, "/metrics", None, None, &[]).await;
    assert_eq!(stranger.status, StatusCode::UNAUTHORIZED);
    let guess = app.call(Method::GET, "/metrics", Some("prometheus-scrape-token-0124"), None, &[]).await;
    assert_eq!(guess.status, StatusCode::UNAUTHORIZED);
    let metrics = app.call(Method::GET, "/metrics", Some(crate::harness::METRICS_TOKEN), None, &[]).await;
    assert!(metrics.body.as_str().is_some_and(|m| m.contains("sluice_endpoints{state=\"enabled\"}")));
    let by_key = app.call(Method::GET, "/metrics", Some(ADMIN_KEY), None, &[]).await;
    assert_eq!(by_key.status, StatusCode::OK, "a platform key may scrape too");
    let none = app.call(Method::GET, "/v1/tenants", None, None, &[]).await;
    assert_problem(&none, 401, "unauthorized");
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    let bad = app.call(Method::GET, "/v1/tenants", Some("sk_wrong"), None, &[]).await;
    assert_problem(&bad, 401, "unauthorized");
    app.stop().await;
}

async fn tenants_and_tenant_keys(db: TestDb) {
    let mut app = TestApp::api(db).await;
    let mine = app.tenant("Mine").await;
    let theirs = app.tenant("Theirs").await;
    let their_endpoint = app.endpoint(&theirs, "https://example.com/theirs").await;

    let invalid = app.post("/v1/tenants", json!({ "name": "", "tier": "gold" })).await;
    assert_problem(&invalid, 422, "validation_failed");
    let fields: Vec<_> =
        invalid.body["errors"].as_array().expect("errors").iter().map(|e| e["field"].clone()).collect();
    assert_eq!(fields, vec![json!("name"), json!("tier")]);
    let unknown = app.post("/v1/tenants", json!({ "name": "x", "colour": "red" })).await;
    assert_problem(&unknown, 422, "validation_failed");
    let bearer = format!("Bearer {ADMIN_KEY}");
    let headers = [("authorization", bearer.as_str()), ("content-type", "application/json")];
    let malformed = app.send(Method::POST, "/v1/tenants", &headers, b"{\"name\": ".to_vec()).await;
    assert_problem(&malformed, 400, "bad_request");

    let key = app.post(&format!("/v1/tenants/{mine}/api-keys"), json!({ "name": "ci" })).await;
    assert_eq!(key.status, StatusCode::CREATED, "{:?}", key.body);
    let key = key.body["key"].as_str().expect("key shown once").to_owned();
    let listed = app.call(Method::GET, "/v1/tenants", Some(&key), None, &[]).await;
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed.body["data"][0]["id"], mine.as_str());
    let other = app.call(Method::GET, &format!("/v1/tenants/{theirs}"), Some(&key), None, &[]).await;
    assert_problem(&other, 404, "not_found");
    let ep = their_endpoint["id"].as_str().expect("id");
    let sneaky = app.call(Method::GET, &format!("/v1/tenants/{theirs}/endpoints/{ep}"), Some(&key), None, &[]).await;
    assert_problem(&sneaky, 404, "not_found");
    let via_mine = app.call(Method::GET, &format!("/v1/tenants/{mine}/endpoints/{ep}"), Some(&key), None, &[]).await;
    assert_problem(&via_mine, 404, "not_found");
    let publish_there = app
        .call(
            Method::POST,
            &format!("/v1/tenants/{theirs}/messages"),
            Some(&key),
            Some(json!({"event_type": "x", "payload": {}})),
            &[],
        )
        .await;
    assert_problem(&publish_there, 404, "not_found");
    let create = app.call(Method::POST, "/v1/tenants", Some(&key), Some(json!({ "name": "x" })), &[]).await;
    assert_problem(&create, 403, "forbidden");

    // Quotas: the platform sets them, the tenant's key meets them.
    let quota = json!({ "max_endpoints": 1 });
    let own = format!("/v1/tenants/{mine}");
    let tenant_sets = app.call(Method::PATCH, &own, Some(&key), Some(quota.clone()), &[]).await;
    assert_problem(&tenant_sets, 403, "forbidden");
    let set = app.patch(&format!("/v1/tenants/{mine}"), quota).await;
    assert_eq!(set.body["max_endpoints"], 1, "{:?}", set.body);
    assert_problem(
        &app.patch(&format!("/v1/tenants/{mine}"), json!({ "max_api_keys": 0 })).await,
        422,
        "validation_failed",
    );
    // Retention: the platform changes it; out of range is refused and changes nothing.
    let kept = app.patch(&own, json!({ "retention_days": 7 })).await;
    assert_eq!(kept.body["retention_days"], 7, "{:?}", kept.body);
    for bad in [json!(0), json!(3651), json!("long")] {
        let refused = app.patch(&own, json!({ "retention_days": bad })).await;
        assert_problem(&refused, 422, "validation_failed");
    }
    let refused = app.patch(&own, json!({ "retention_days": 0 })).await;
    assert_eq!(refused.body["errors"][0]["field"], "retention_days");
    assert_eq!(app.get(&own).await.body["retention_days"], 7);
    let tenant_keeps = app.call(Method::PATCH, &own, Some(&key), Some(json!({ "retention_days": 9 })), &[]).await;
    assert_problem(&tenant_keeps, 403, "forbidden");

    let hook = json!({ "url": "https://example.com/hook" });
    let path = format!("/v1/tenants/{mine}/endpoints");
    let first = app.call(Method::POST, &path, Some(&key), Some(hook.clone()), &[]).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert_problem(&app.call(Method::POST, &path, Some(&key), Some(hook), &[]).await, 409, "quota_exceeded");
    app.stop().await;
}

async fn endpoint_lifecycle(db: TestDb) {
    let mut app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let base = format!("/v1/tenants/{t}/endpoints");
    for (url, why) in
        [("ftp://example.com", "scheme"), ("not a url", "parse"), ("https://u:p@example.com/", "credentials")]
    {
        let a = app.post(&base, json!({ "url": url })).await;
        assert_problem(&a, 422, "validation_failed");
        assert_eq!(a.body["errors"][0]["field"], "url", "{why}");
    }
    let created = app.post(&base, json!({ "url": "https://example.com/hook", "event_types": ["user.created"] })).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.header("etag"), Some("\"1\""));
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("ep_"));
    let path = format!("{base}/{id}");

    let read = app.get(&path).await;
    assert_eq!(read.header("etag"), Some("\"1\""));
    assert_eq!(read.header("cache-control"), Some("private, no-cache"), "kept only by the caller, revalidated");
    let cached = app.call(Method::GET, &path, Some(ADMIN_KEY), None, &[("if-none-match", "\"1\"")]).await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);

    let patched = app
        .call(Method::PATCH, &path, Some(ADMIN_KEY), Some(json!({ "description": "mine" })), &[("if-match", "\"1\"")])
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(patched.header("etag"), Some("\"2\""));
    let stale = app
        .call(Method::PATCH, &path, Some(ADMIN_KEY), Some(json!({ "description": "theirs" })), &[("if-match", "\"1\"")])
        .await;
    assert_problem(&stale, 412, "precondition_failed");
    assert_eq!(app.get(&path).await.body["description"], "mine");
    let cleared =
        app.call(Method::PATCH, &path, Some(ADMIN_KEY), Some(json!({ "rate_limit_per_second": 5 })), &[]).await;
    assert_eq!(cleared.body["rate_limit_per_second"], 5);
    let cleared =
        app.call(Method::PATCH, &path, Some(ADMIN_KEY), Some(json!({ "rate_limit_per_second": null })), &[]).await;
    assert_eq!(cleared.body["rate_limit_per_second"], serde_json::Value::Null);
    let capped = app.call(Method::PATCH, &path, Some(ADMIN_KEY), Some(json!({ "max_concurrency": 8 })), &[]).await;
    assert_eq!(capped.body["max_concurrency"], 8, "{:?}", capped.body);
    for bad in [json!(0), json!(65), json!("lots")] {
        let refused = app.call(Method::PATCH, &path, Some(ADMIN_KEY), Some(json!({ "max_concurrency": bad })), &[]);
        assert_problem(&refused.await, 422, "validation_failed");
    }
    let schedule = json!({ "retry_schedule_seconds": [0, 60] });
    let storm = app.call(Method::PATCH, &path, Some(ADMIN_KEY), Some(schedule), &[]).await;
    assert_problem(&storm, 422, "validation_failed");
    assert_eq!(storm.body["errors"][0]["field"], "retry_schedule_seconds");
    assert_eq!(app.get(&path).await.body["max_concurrency"], 8, "refused edits changed nothing");

    let disabled = app.post(&format!("{path}/disable"), json!({ "reason": "maintenance" })).await;
    assert_eq!(disabled.body["status"], "disabled");
    assert_eq!(disabled.body["disabled_reason"], "maintenance");
    let enabled = app.call(Method::POST, &format!("{path}/enable"), Some(ADMIN_KEY), None, &[]).await;
    assert_eq!(enabled.status, StatusCode::OK);
    assert_eq!(enabled.body["status"], "enabled");

    let before = app.secret(&t, &id).await;
    assert!(before.starts_with("whsec_"));
    let rotated = app.post(&format!("{path}/secret/rotate"), json!({ "grace_period_seconds": 60 })).await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    assert_ne!(rotated.body["key"], before.as_str());
    assert_eq!(rotated.body["previous"][0]["key"], before.as_str());
    let too_long = app.post(&format!("{path}/secret/rotate"), json!({ "grace_period_seconds": 99999999 })).await;
    assert_problem(&too_long, 422, "validation_failed");

    let list = app.get(&base).await;
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(1));
    let deleted = app.call(Method::DELETE, &path, Some(ADMIN_KEY), None, &[]).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_problem(&app.get(&path).await, 404, "not_found");
    assert_problem(&app.get(&format!("{base}/ep_garbage")).await, 404, "not_found");
    app.stop().await;
}

async fn publish_deliver_read_and_replay(db: TestDb) {
    let mut app = TestApp::start(db).await;
    let rx = Receiver::start().await;
    let t = app.tenant("Acme").await;
    let ep = app.endpoint(&t, &rx.url()).await;
    let ep = ep["id"].as_str().expect("id").to_owned();
    rx.set_secrets(vec![app.secret(&t, &ep).await]);

    let mut ids = Vec::new();
    for i in 0..3 {
        let a = app
            .post(&format!("/v1/tenants/{t}/messages"), json!({ "event_type": "user.created", "payload": { "i": i } }))
            .await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
        let id = a.body["id"].as_str().expect("id").to_owned();
        assert_eq!(a.header("location"), Some(format!("/v1/tenants/{t}/messages/{id}").as_str()));
        ids.push(id);
    }
    assert!(rx.wait_for(3, Duration::from_secs(10)).await, "delivered over HTTP");
    assert!(rx.received().iter().all(|r| r.verified_by == vec![0]));

    let page1 = app.get(&format!("/v1/tenants/{t}/messages?limit=2")).await;
    assert_eq!(page1.body["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(page1.body["data"][0]["id"], ids[2].as_str(), "newest first");
    let cursor = page1.body["next_cursor"].as_str().expect("cursor").to_owned();
    let page2 = app.get(&format!("/v1/tenants/{t}/messages?limit=2&cursor={cursor}")).await;
    assert_eq!(page2.body["data"][0]["id"], ids[0].as_str());
    assert_eq!(page2.body["next_cursor"], serde_json::Value::Null);
    assert_problem(&app.get(&format!("/v1/tenants/{t}/messages?limit=1000")).await, 422, "validation_failed");
    assert_problem(&app.get(&format!("/v1/tenants/{t}/messages?since=yesterday")).await, 422, "validation_failed");

    let m = app.get(&format!("/v1/tenants/{t}/messages/{}", ids[0])).await;
    assert_eq!(m.body["payload"], json!({ "i": 0 }));
    assert!(m.header("cache-control").is_some_and(|c| c.contains("immutable")));
    let etag = m.header("etag").expect("etag").to_owned();
    let again = app
        .call(
            Method::GET,
            &format!("/v1/tenants/{t}/messages/{}", ids[0]),
            Some(ADMIN_KEY),
            None,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);

    let succeeded = sluice_testkit::eventually(Duration::from_secs(5), || async {
        let d = app.get(&format!("/v1/tenants/{t}/deliveries?status=succeeded")).await;
        d.body["data"].as_array().map(Vec::len) == Some(3)
    })
    .await;
    assert!(succeeded);
    let filtered =
        app.get(&format!("/v1/tenants/{t}/deliveries?endpoint_id={ep}&event_type=user.created&limit=1")).await;
    assert_eq!(filtered.body["data"].as_array().map(Vec::len), Some(1));
    assert_problem(&app.get(&format!("/v1/tenants/{t}/deliveries?status=lost")).await, 422, "validation_failed");
    assert_problem(&app.get(&format!("/v1/tenants/{t}/deliveries?endpoint_id=nope")).await, 422, "validation_failed");
    let delivery = filtered.body["data"][0]["id"].as_str().expect("id").to_owned();
    let attempts = app.get(&format!("/v1/tenants/{t}/deliveries/{delivery}/attempts")).await;
    assert_eq!(attempts.body["data"][0]["response_status"], 200);
    assert_eq!(attempts.body["data"][0]["trigger"], "scheduled");

    rx.script([Reply::Status(200)]);
    let replay = app
        .call(Method::POST, &format!("/v1/tenants/{t}/messages/{}/replay", ids[1]), Some(ADMIN_KEY), None, &[])
        .await;
    assert_eq!(replay.status, StatusCode::ACCEPTED, "{:?}", replay.body);
    assert_eq!(replay.body["deliveries"].as_array().map(Vec::len), Some(1));
    assert!(rx.wait_for(4, Duration::from_secs(10)).await, "the replay arrived");
    let replayed = rx.received().pop().expect("replay");
    assert_eq!(replayed.header("webhook-id"), Some(ids[1].as_str()), "same webhook-id as the original");
    app.stop().await;
}

async fn idempotency_and_body_limits(db: TestDb) {
    let mut app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let path = format!("/v1/tenants/{t}/messages");
    let body = json!({ "event_type": "order.paid", "payload": { "order": 7 } });
    let first =
        app.call(Method::POST, &path, Some(ADMIN_KEY), Some(body.clone()), &[("idempotency-key", "order-7")]).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(first.header("idempotent-replayed"), None);
    let second = app.call(Method::POST, &path, Some(ADMIN_KEY), Some(body), &[("idempotency-key", "order-7")]).await;
    assert_eq!(second.status, StatusCode::ACCEPTED);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.body["id"], first.body["id"]);
    let other = json!({ "event_type": "order.paid", "payload": { "order": 8 } });
    let clash = app.call(Method::POST, &path, Some(ADMIN_KEY), Some(other), &[("idempotency-key", "order-7")]).await;
    assert_problem(&clash, 422, "idempotency_key_reused");
    let listed = app.get(&path).await;
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(1), "nothing new was stored");

    let huge = json!({ "event_type": "big", "payload": { "blob": "x".repeat(100 * 1024) } });
    let too_big = app.post(&path, huge).await;
    assert_problem(&too_big, 413, "payload_too_large");
    let bad_type = app.post(&path, json!({ "event_type": "has spaces", "payload": {} })).await;
    assert_problem(&bad_type, 422, "validation_failed");
    assert_eq!(bad_type.body["errors"][0]["field"], "event_type");
    let missing = app.post(&path, json!({ "payload": {} })).await;
    assert_problem(&missing, 422, "validation_failed");
    assert_eq!(missing.body["errors"][0]["field"], "event_type");
    assert_eq!(app.get(&path).await.body["data"].as_array().map(Vec::len), Some(1), "bad input changed nothing");
    app.stop().await;
}

async fn backlog_cap_answers_429(db: TestDb) {
    // No engine: the first message's delivery stays pending, so the backlog is full.
    let mut app = TestApp::api(db).await;
    let t = app.post("/v1/tenants", json!({ "name": "Tiny", "backlog_cap": 1 })).await.body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.endpoint(&t, "https://example.com/hook").await;
    let path = format!("/v1/tenants/{t}/messages");
    let ok = app.post(&path, json!({ "event_type": "a", "payload": {} })).await;
    assert_eq!(ok.status, StatusCode::ACCEPTED);
    let full = app.post(&path, json!({ "event_type": "a", "payload": {} })).await;
    assert_problem(&full, 429, "backlog_full");
    assert!(full.header("retry-after").is_some());
    app.stop().await;
}

async fn unknown_routes_and_methods(db: TestDb) {
    let mut app = TestApp::api(db).await;
    assert_problem(&app.get("/v1/nothing-here").await, 404, "not_found");
    let wrong = app.call(Method::DELETE, "/v1/tenants", Some(ADMIN_KEY), None, &[]).await;
    assert_problem(&wrong, 405, "method_not_allowed");
    // Outside the API, unknown paths are the dashboard's not-found page: tested in the
    // browser suite, against the real binary. Rendering Leptos pages here, in many
    // servers on many test runtimes in one process, hung once in CI.
    app.stop().await;
}

async fn users_for_the_dashboard(db: TestDb) {
    let mut app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let body = json!({ "email": "Ann@Acme.test", "password": "long enough pw", "role": "partner", "tenant_id": t });
    let created = app.post("/v1/users", body.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["email"], "ann@acme.test");
    assert!(created.body["id"].as_str().is_some_and(|id| id.starts_with("usr_")));
    assert!(created.body.get("password").is_none() && created.body.get("password_hash").is_none());
    assert_problem(&app.post("/v1/users", body).await, 409, "conflict");
    let no_tenant =
        app.post("/v1/users", json!({ "email": "x@acme.test", "password": "long enough pw", "role": "partner" }));
    let no_tenant = no_tenant.await;
    assert_problem(&no_tenant, 422, "validation_failed");
    assert_eq!(no_tenant.body["errors"][0]["field"], "tenant_id");
    let bad_role =
        app.post("/v1/users", json!({ "email": "x@acme.test", "password": "long enough pw", "role": "root" }));
    assert_problem(&bad_role.await, 422, "validation_failed");

    let key =
        app.post(&format!("/v1/tenants/{t}/api-keys"), json!({})).await.body["key"].as_str().expect("key").to_owned();
    let as_tenant = app
        .call(
            Method::POST,
            "/v1/users",
            Some(&key),
            Some(json!({ "email": "me@acme.test", "password": "long enough pw", "role": "admin" })),
            &[],
        )
        .await;
    assert_problem(&as_tenant, 403, "forbidden");
    let listed = app.get("/v1/users").await;
    // The bootstrap admin and Ann.
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(2), "{:?}", listed.body);
    app.stop().await;
}

async fn demo_mode_fills_a_fresh_database(db: TestDb) {
    let builder = TestApp::builder(db).configure(|c| c.demo_every = Some(Duration::from_millis(20)));
    let mut app = builder.with_engine().build().await;
    let tenants = app.get("/v1/tenants").await.body["data"].as_array().cloned().unwrap_or_default();
    let id_of = |name: &str| {
        tenants.iter().find(|t| t["name"] == name).and_then(|t| t["id"].as_str()).map(str::to_owned).expect(name)
    };
    let (acme, globex, initech) = (id_of("Acme Retail"), id_of("Globex Logistics"), id_of("Initech Billing"));
    // Healthy endpoints deliver, the flaky one fails some attempts, the down one
    // answers 503: the demo shows all of it within seconds.
    let mut seen = (false, false, false);
    for _ in 0..300 {
        let ok = app.get(&format!("/v1/tenants/{acme}/deliveries?status=succeeded")).await;
        let flaky = app.get(&format!("/v1/tenants/{globex}/deliveries")).await;
        let down = app.get(&format!("/v1/tenants/{initech}/deliveries")).await;
        let any = |a: &crate::harness::Answer, f: &dyn Fn(&Value) -> bool| {
            a.body["data"].as_array().is_some_and(|d| d.iter().any(f))
        };
        seen.0 |= any(&ok, &|d| d["status"] == "succeeded");
        seen.1 |= any(&flaky, &|d| d["last_response_status"] == 500);
        seen.2 |= any(&down, &|d| d["last_response_status"] == 503);
        if seen == (true, true, true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, (true, true, true), "succeeded, flaky 500 and down 503 all seen");
    let users = app.get("/v1/users").await;
    let emails: Vec<_> = users.body["data"].as_array().into_iter().flatten().map(|u| u["email"].clone()).collect();
    assert!(emails.contains(&json!("partner@acme.demo")) && emails.contains(&json!("support@sluice.demo")));
    let partner = app.sluice.sign_in("partner@acme.demo", "demo-password", None).await;
    assert_eq!(partner.expect("demo partner signs in").user.tenant_id.map(|t| t.to_string()), Some(acme));
    app.stop().await;
}

async fn recover_over_the_api(db: TestDb) {
    let mut app = TestApp::start(db).await;
    let rx = Receiver::start().await;
    rx.set_default(Reply::Status(500));
    let t = app.tenant("Acme").await;
    let e =
        app.post(&format!("/v1/tenants/{t}/endpoints"), json!({ "url": rx.url(), "retry_schedule_seconds": [] })).await;
    let e = e.body["id"].as_str().expect("id").to_owned();
    let since = chrono::Utc::now().to_rfc3339();
    app.post(&format!("/v1/tenants/{t}/messages"), json!({ "event_type": "a", "payload": {} })).await;
    let failed = format!("/v1/tenants/{t}/deliveries?status=failed");
    for _ in 0..200 {
        if app.get(&failed).await.body["data"].as_array().is_some_and(|d| d.len() == 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rx.set_default(Reply::Status(204));
    let path = format!("/v1/tenants/{t}/endpoints/{e}/recover");
    let op = app.post(&path, json!({ "since": since })).await;
    assert_eq!(op.status, StatusCode::ACCEPTED, "{:?}", op.body);
    assert_eq!(op.body["total"], 1);
    let location = op.header("location").expect("location").to_owned();
    let mut state = Value::Null;
    for _ in 0..200 {
        state = app.get(&location).await.body;
        if state["state"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!((state["state"].clone(), state["succeeded"].clone()), (json!("completed"), json!(1)), "{state:?}");
    assert_problem(&app.post(&path, json!({ "since": "last tuesday" })).await, 422, "validation_failed");
    assert_problem(&app.post(&path, json!({})).await, 422, "validation_failed");
    assert_problem(&app.get("/v1/operations/op_nope").await, 404, "not_found");
    app.stop().await;
}

async fn test_event_over_the_api(db: TestDb) {
    let mut app = TestApp::start(db).await;
    let (chosen, other) = (Receiver::start().await, Receiver::start().await);
    let t = app.tenant("Acme").await;
    // The chosen endpoint filters on another event type: a test event goes to it anyway.
    let e = app
        .post(&format!("/v1/tenants/{t}/endpoints"), json!({ "url": chosen.url(), "event_types": ["order.paid"] }))
        .await;
    let e = e.body["id"].as_str().expect("id").to_owned();
    app.endpoint(&t, &other.url()).await;
    chosen.set_secrets(vec![app.secret(&t, &e).await]);

    let sent = app.post(&format!("/v1/tenants/{t}/endpoints/{e}/test"), json!({})).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{:?}", sent.body);
    assert_eq!(sent.body["event_type"], "sluice.test");
    assert!(chosen.wait_for(1, Duration::from_secs(10)).await, "the chosen endpoint got it");
    let got = chosen.received().pop().expect("delivery");
    assert_eq!(got.verified_by, vec![0], "signed like any delivery");
    app.wait_idle().await;
    assert!(other.received().is_empty(), "no other endpoint gets a test event");

    app.post(&format!("/v1/tenants/{t}/endpoints/{e}/disable"), json!({})).await;
    assert_problem(&app.post(&format!("/v1/tenants/{t}/endpoints/{e}/test"), json!({})).await, 409, "conflict");
    assert_problem(&app.post(&format!("/v1/tenants/{t}/endpoints/ep_nope/test"), json!({})).await, 404, "not_found");
    app.stop().await;
}

async fn api_keys_are_listed_and_revoked(db: TestDb) {
    let mut app = TestApp::api(db).await;
    let t = app.tenant("Acme").await;
    let created = app.post(&format!("/v1/tenants/{t}/api-keys"), json!({ "name": "producer" })).await;
    let (key, id) = (created.body["key"].as_str().expect("key"), created.body["id"].as_str().expect("id"));
    let (key, id) = (key.to_owned(), id.to_owned());
    let own = app.call(Method::GET, &format!("/v1/tenants/{t}/api-keys"), Some(&key), None, &[]).await;
    assert_eq!(own.status, StatusCode::OK, "{:?}", own.body);
    assert_eq!(own.body["data"][0]["id"], id.as_str());
    assert!(own.body["data"][0]["last_used_at"].is_string(), "this very request used it");
    assert!(own.body["data"][0].get("key").is_none() && !own.body.to_string().contains(&key), "never the key");
    assert_problem(&app.call(Method::GET, "/v1/api-keys", Some(&key), None, &[]).await, 403, "forbidden");

    let all = app.get("/v1/api-keys").await;
    assert_eq!(all.body["data"].as_array().map(Vec::len), Some(2), "the bootstrap key and the tenant's");
    let bootstrap = all.body["data"][1]["id"].as_str().expect("id").to_owned();
    assert_problem(&app.post(&format!("/v1/api-keys/{bootstrap}/revoke"), json!({})).await, 409, "conflict");

    let revoked = app.post(&format!("/v1/api-keys/{id}/revoke"), json!({})).await;
    assert_eq!(revoked.status, StatusCode::OK, "{:?}", revoked.body);
    assert!(revoked.body["revoked_at"].is_string());
    let refused = app.call(Method::GET, &format!("/v1/tenants/{t}/api-keys"), Some(&key), None, &[]).await;
    assert_problem(&refused, 401, "unauthorized");

    let platform = app.post("/v1/api-keys", json!({ "name": "deploy" })).await;
    assert_eq!(platform.status, StatusCode::CREATED, "{:?}", platform.body);
    assert_eq!(platform.body["tenant_id"], Value::Null);
    assert_problem(&app.post("/v1/api-keys/key_nope/revoke", json!({})).await, 404, "not_found");
    assert_problem(&app.post("/v1/api-keys", json!({ "name": "" })).await, 422, "validation_failed");
    app.stop().await;
}

async fn tiers_and_the_overview(db: TestDb) {
    let mut app = TestApp::start(db).await;
    let rx = Receiver::start().await;
    let t = app.tenant("Acme").await;
    app.endpoint(&t, &rx.url()).await;
    for i in 0..3 {
        app.post(&format!("/v1/tenants/{t}/messages"), json!({ "event_type": "a", "payload": { "i": i } })).await;
    }
    assert!(rx.wait_for(3, Duration::from_secs(10)).await);
    let path = format!("/v1/tenants/{t}/overview");
    let mut o = Value::Null;
    for _ in 0..200 {
        o = app.get(&path).await.body;
        if o["windows"][0]["good"] == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(o["tier"]["name"], "standard", "{o:?}");
    assert_eq!((o["windows"][0]["counted"].clone(), o["windows"][0]["good"].clone()), (json!(3), json!(3)));
    assert_eq!(o["windows"][0]["attainment"], 1.0);
    assert_eq!(o["windows"][0]["budget_remaining"], 1.0);
    assert_eq!(o["latency"].as_array().map(Vec::len), Some(24));
    assert!(o["p99_ms"].as_f64().is_some_and(|p| p > 0.0 && p <= 1_000.0), "loopback is fast: {}", o["p99_ms"]);

    let tiers = app.get("/v1/tiers").await;
    assert_eq!(tiers.body["data"].as_array().map(Vec::len), Some(3));
    let updated = app.patch("/v1/tiers/standard", json!({ "success_target": 0.98 })).await;
    assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.body);
    assert_eq!(updated.body["success_target"], 0.98);
    assert_problem(&app.patch("/v1/tiers/standard", json!({ "success_target": 2 })).await, 422, "validation_failed");
    assert_problem(&app.patch("/v1/tiers/standard", json!({ "colour": 1 })).await, 422, "validation_failed");
    assert_problem(&app.patch("/v1/tiers/gold", json!({})).await, 404, "not_found");
    let moved = app.patch(&format!("/v1/tenants/{t}"), json!({ "tier": "premium" })).await;
    assert_eq!(moved.body["tier"], "premium");
    assert_eq!(app.get(&path).await.body["tier"]["latency_target_ms"], 10_000);
    assert_problem(&app.patch(&format!("/v1/tenants/{t}"), json!({ "tier": "gold" })).await, 422, "validation_failed");
    assert_problem(&app.get("/v1/tenants/tn_nope/overview").await, 404, "not_found");
    app.stop().await;
}

/// A running server writes its heartbeat: `GET /v1/nodes` shows it live and as the
/// node that answered; after a graceful stop its row says stopped, not gone.
async fn nodes_are_listed_and_marked_stopped(db: TestDb) {
    let mut app = TestApp::start(db).await;
    let mut listed = Value::Null;
    for _ in 0..100 {
        let nodes = app.call(Method::GET, "/v1/nodes", Some(ADMIN_KEY), None, &[]).await;
        assert_eq!(nodes.status, StatusCode::OK);
        if nodes.body["data"].as_array().is_some_and(|d| !d.is_empty()) {
            listed = nodes.body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let node = &listed["data"][0];
    assert_eq!(node["state"], "live", "{listed}");
    assert_eq!(node["this_node"], true);
    assert_eq!(node["version"], env!("CARGO_PKG_VERSION"));
    let id = node["id"].as_str().expect("id").to_owned();
    let sluice = app.sluice.clone();
    app.stop().await;
    let operator = sluice_engine::Caller::Platform { actor: "test".into() }.operator().expect("operator");
    let after = sluice.list_nodes(&operator, None, sluice_engine::ids::now_ms()).await.expect("list");
    let row = after.iter().find(|n| n.id == id).expect("still on record");
    assert_eq!(row.state, sluice_core::model::NodeState::Stopped);
}
