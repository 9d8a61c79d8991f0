//! The `sluice-client` crate against a real server: typed calls round-trip the
//! shared `core` types, and every refusal arrives as the problem it is, with its
//! stable code, so a program can branch on it.

use std::time::Duration;

use sluice_client::{Client, PageRequest};
use sluice_core::ids::EndpointId;
use sluice_core::model::{CreateApiKey, CreateEndpoint, CreateTenant, DeliveryStatus, PatchTenant};
use sluice_testkit::{eventually, on_both_backends, Receiver, TestDb};

use crate::harness::{TestApp, ADMIN_KEY};

on_both_backends!(the_client_publishes_reads_and_reports_problems_by_code);

async fn the_client_publishes_reads_and_reports_problems_by_code(db: TestDb) {
    let mut app = TestApp::start(db).await;
    let rx = Receiver::start().await;
    let base = format!("http://{}", app.addr());
    let sluice = Client::new(&base, ADMIN_KEY).expect("client");

    let tenant =
        sluice.create_tenant(&CreateTenant { name: "Acme".into(), ..Default::default() }).await.expect("tenant");
    let endpoint = CreateEndpoint { url: rx.url(), ..Default::default() };
    let endpoint = sluice.create_endpoint(&tenant.id, &endpoint).await.expect("endpoint");
    let secrets = sluice.endpoint_secrets(&tenant.id, &endpoint.id).await.expect("secrets");
    rx.set_secrets(vec![secrets.key]);

    // A retried publish with one key is one message, delivered once, signed.
    let payload = serde_json::json!({ "invoice": "in_1" });
    let first = sluice.publish(&tenant.id, "invoice.paid", &payload, Some("pub-1")).await.expect("publish");
    let again = sluice.publish(&tenant.id, "invoice.paid", &payload, Some("pub-1")).await.expect("retry");
    assert_eq!(first.id, again.id);
    assert!(rx.wait_for(1, Duration::from_secs(10)).await);
    app.wait_idle().await;
    assert_eq!(rx.count(), 1);
    assert_eq!(rx.received()[0].verified_by, vec![0]);
    let delivered = eventually(Duration::from_secs(10), || async {
        let detail = sluice.message_deliveries(&tenant.id, &first.id).await.expect("deliveries");
        detail.data.first().is_some_and(|d| d.delivery.status == DeliveryStatus::Succeeded)
    });
    assert!(delivered.await);
    let page = sluice.list_deliveries(&tenant.id, &PageRequest { limit: Some(10), cursor: None }).await.expect("list");
    assert_eq!(page.data.len(), 1);
    let attempts = sluice.list_attempts(&tenant.id, &page.data[0].id, &PageRequest::default()).await.expect("attempts");
    assert_eq!(attempts.data.len(), 1);
    assert_eq!(sluice.get_message(&tenant.id, &first.id).await.expect("message").event_type, "invoice.paid");

    // Refusals by code: not found, invalid (with the field), stale, suspended.
    let missing: EndpointId = "ep_01hzy5v3k2f8m9q0w1x2y3z4a5".parse().expect("id");
    let err = sluice.get_endpoint(&tenant.id, &missing).await.expect_err("no such endpoint");
    assert_eq!(err.code(), Some("not_found"), "{err}");
    let bad = CreateEndpoint { url: "ftp://example.com".into(), ..Default::default() };
    match sluice.create_endpoint(&tenant.id, &bad).await {
        Err(sluice_client::Error::Problem { status, problem }) => {
            assert_eq!((status.as_u16(), problem.code.as_str()), (422, "validation_failed"));
            assert_eq!(problem.errors[0].field, "url");
            assert!(problem.request_id.is_some());
        }
        other => panic!("expected a 422 problem: {other:?}"),
    }
    let rename = PatchTenant { name: Some("Acme 2".into()), ..Default::default() };
    let renamed = sluice.patch_tenant(&tenant.id, &rename, Some(tenant.version)).await.expect("rename");
    let stale = sluice.patch_tenant(&tenant.id, &rename, Some(tenant.version)).await.expect_err("stale");
    assert_eq!(stale.code(), Some("precondition_failed"));
    assert_eq!(sluice.get_tenant(&tenant.id).await.expect("tenant").version, renamed.version);
    sluice.suspend_tenant(&tenant.id, Some("invoice overdue")).await.expect("suspend");
    let refused = sluice.publish(&tenant.id, "invoice.paid", &payload, None).await.expect_err("suspended");
    assert_eq!(refused.code(), Some("tenant_suspended"));
    sluice.resume_tenant(&tenant.id).await.expect("resume");

    // A tenant's own key reaches its tenant and no other.
    let other =
        sluice.create_tenant(&CreateTenant { name: "Other".into(), ..Default::default() }).await.expect("other");
    let created = app
        .sluice
        .create_api_key(&platform(), &other.id, CreateApiKey { name: Some("own".into()) })
        .await
        .expect("key");
    let theirs = Client::new(&base, &created.key).expect("client");
    assert_eq!(theirs.get_tenant(&other.id).await.expect("own tenant").id, other.id);
    assert_eq!(theirs.get_tenant(&tenant.id).await.expect_err("another").code(), Some("not_found"));

    let deletion = sluice.delete_tenant(&other.id).await.expect("delete");
    assert_eq!(deletion.tenant_id, other.id);
    assert_eq!(sluice.get_tenant(&other.id).await.expect_err("deleted").code(), Some("not_found"));
    app.stop().await;
}

fn platform() -> sluice_engine::Platform {
    sluice_engine::Caller::Platform { actor: "test".into() }.platform().expect("platform")
}
