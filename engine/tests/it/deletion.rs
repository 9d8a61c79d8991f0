//! Deleting a tenant, checked in the database itself: once the purge has run, no row
//! of the tenant is left in any table that holds tenant data (only its tombstone and
//! its audit trail), another tenant's rows are all still there, and traffic stopped
//! at the request, before any purge.

use sluice_core::ids::TenantId;
use sluice_core::model::*;
use sluice_engine::ids::now_ms;
use sluice_engine::store::{CircuitChange, CircuitRecord, NextStep};
use sluice_engine::Error;
use sluice_testkit::{on_both_backends, Backend, TestDb};

use crate::harness::{outcome, Harness};

on_both_backends!(a_purged_tenant_leaves_no_row_behind);

/// Tables with a `tenant_id` column holding the tenant's data.
const TENANT_TABLES: &[&str] = &[
    "messages",
    "deliveries",
    "attempts",
    "endpoints",
    "api_keys",
    "users",
    "lifecycle_events",
    "operations",
    "portal_links",
    "portal_sessions",
    "endpoint_failure_streaks",
    "incidents",
];

async fn count(db: &TestDb, sql: &str, id: &str) -> i64 {
    let row: (i64,) = match db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("sqlite");
            sqlx::query_as(sql).bind(id).fetch_one(&pool).await.expect(sql)
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("postgres");
            sqlx::query_as(sql).bind(id).fetch_one(&pool).await.expect(sql)
        }
    };
    row.0
}

/// Rows of `tenant` per table, and its endpoints' secrets.
async fn rows_of(db: &TestDb, tenant: &TenantId) -> Vec<(&'static str, i64)> {
    let mut rows = Vec::new();
    for table in TENANT_TABLES {
        rows.push((
            *table,
            count(db, &format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1"), tenant.as_str()).await,
        ));
    }
    let secrets =
        "SELECT COUNT(*) FROM endpoint_secrets WHERE endpoint_id IN (SELECT id FROM endpoints WHERE tenant_id = $1)";
    rows.push(("endpoint_secrets", count(db, secrets, tenant.as_str()).await));
    rows
}

/// Gives `tenant` a row in every table: endpoint and secret, messages with delivered
/// and failed attempts (a failure streak), an API key, a partner, a portal link, a
/// recover operation, lifecycle events, an incident.
async fn populate(h: &Harness, tenant: &TenantId, partner_email: &str) -> Endpoint {
    let e = h.endpoint_for(tenant, "https://example.com/hook", None).await;
    for i in 0..3 {
        h.publish_for(tenant, "a.b", &format!("{{\"i\":{i}}}")).await;
    }
    let now = now_ms();
    let claimed = h.store.claim(&e.id, now, now + 1_000, "test", 2).await.expect("claim");
    assert_eq!(claimed.len(), 2);
    h.record(&[outcome(&claimed[0], NextStep::Succeeded, 200, now)], now).await;
    h.record(&[outcome(&claimed[1], NextStep::Exhausted, 500, now)], now).await;
    h.sluice.create_api_key(&h.platform, tenant, CreateApiKey { name: Some("ci".into()) }).await.expect("key");
    let partner = CreateUser {
        email: partner_email.into(),
        password: "a long enough password".into(),
        role: Role::Partner,
        tenant_id: Some(tenant.clone()),
    };
    h.sluice.create_user(&h.platform, partner).await.expect("partner");
    let manage = h.admin.tenant_manage(tenant).expect("manage");
    let link = h.sluice.create_portal_link(&manage, CreatePortalLink::default()).await.expect("portal link");
    h.sluice.open_portal_link(&link.token, None).await.expect("a portal session");
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let recover = RecoverEndpoint { since, ..Default::default() };
    h.sluice.recover_endpoint(&h.admin.tenant_act(tenant).expect("act"), &e.id, recover).await.expect("recover");
    let opened = CircuitRecord {
        endpoint: e.id.clone(),
        tenant: tenant.clone(),
        change: CircuitChange::Opened { cooldown_ms: 1 },
    };
    h.store.record_circuits(&[opened]).await.expect("an incident");
    e
}

async fn a_purged_tenant_leaves_no_row_behind(db: TestDb) {
    let h = Harness::new(db).await;
    let doomed = h.tenant.clone();
    let kept = h.other_tenant("Kept").await;
    let endpoint = populate(&h, &doomed, "p@doomed.test").await;
    populate(&h, &kept, "p@kept.test").await;
    // What populate left due fails again and waits an hour (a failure streak stays);
    // then a request on its way when the deletion comes: leased, not yet recorded.
    let now = now_ms();
    let due = h.store.claim(&endpoint.id, now, now + 1_000, "test", 10).await.expect("claim");
    let sent: Vec<_> = due.iter().map(|c| outcome(c, NextStep::RetryAt(now + 3_600_000), 500, now)).collect();
    h.record(&sent, now).await;
    let message = h.publish_for(&doomed, "a.b", "{}").await;
    let now = now_ms();
    let in_flight = h.store.claim(&endpoint.id, now, now + 60_000, "test", 10).await.expect("claim");
    assert_eq!(in_flight.len(), 1);
    assert_eq!(in_flight[0].message_id, message.id);
    let before = rows_of(&h.db, &doomed).await;
    assert!(before.iter().all(|(_, n)| *n > 0), "every table has a row of the tenant: {before:?}");
    let kept_before = rows_of(&h.db, &kept).await;

    let deletion = h.sluice.delete_tenant(&h.platform, &doomed, None).await.expect("delete");
    assert_eq!((deletion.state.as_str(), deletion.messages_left), ("deleting", 4));
    // Gone at once: not found, nothing queued, not listed.
    assert!(matches!(
        h.sluice.get_tenant(&h.platform.tenant(&doomed).expect("not the canary")).await,
        Err(Error::NotFound { .. })
    ));
    let publish = PublishMessage {
        event_type: "a.b".into(),
        payload: serde_json::value::RawValue::from_string("{}".into()).expect("json"),
    };
    let refused = h.sluice.publish(&h.platform.tenant(&doomed).expect("not the canary"), publish, None).await;
    assert!(matches!(refused, Err(Error::NotFound { .. })), "{refused:?}");
    let due = h.store.due_endpoints(now_ms() + 3_600_000, 10, 100, &[], &[]).await.expect("due");
    assert!(due.iter().all(|d| d.tenant_id != doomed), "its endpoints are never dispatched again");
    let now = now_ms();
    let claimed = h.store.claim(&endpoint.id, now, now + 1_000, "another node", 10).await.expect("claim");
    assert!(claimed.is_empty(), "a node that listed the endpoint before claims nothing: {claimed:?}");
    let scope = h.platform.tenant(&doomed).expect("not the canary");
    assert!(matches!(h.sluice.get_endpoint(&scope, &endpoint.id).await, Err(Error::NotFound { .. })));
    assert!(matches!(h.sluice.get_message(&scope, &message.id).await, Err(Error::NotFound { .. })));

    // The purge leaves the message whose request is on its way; its outcome is then
    // recorded as usual, and the next run takes the rest.
    let purged = h.sluice.purge_deleted_tenants(&h.platform, now_ms()).await.expect("purge");
    assert_eq!((purged.tenants, purged.messages), (0, 3), "{purged:?}");
    assert_eq!(h.sluice.tenant_deletion(&h.platform, &doomed).await.expect("deletion").messages_left, 1);
    h.record(&[outcome(&in_flight[0], NextStep::Succeeded, 200, now_ms())], now_ms()).await;
    let purged = h.sluice.purge_deleted_tenants(&h.platform, now_ms()).await.expect("purge the rest");
    assert_eq!((purged.tenants, purged.messages), (1, 1), "{purged:?}");
    let after = rows_of(&h.db, &doomed).await;
    assert!(after.iter().all(|(_, n)| *n == 0), "nothing of the tenant is left: {after:?}");
    assert_eq!(rows_of(&h.db, &kept).await, kept_before, "another tenant's rows are untouched");
    assert_eq!(count(&h.db, "SELECT COUNT(*) FROM tenants WHERE id = $1", doomed.as_str()).await, 1, "a tombstone");
    let audit = count(&h.db, "SELECT COUNT(*) FROM audit_events WHERE tenant_id = $1", doomed.as_str()).await;
    assert!(audit > 0, "the audit trail keeps the record");
    let done = h.sluice.tenant_deletion(&h.platform, &doomed).await.expect("deletion");
    assert_eq!((done.state.as_str(), done.messages_left), ("deleted", 0));
    assert!(done.finished_at.is_some());
    let again = h.sluice.purge_deleted_tenants(&h.platform, now_ms()).await.expect("purge again");
    assert_eq!(again, sluice_engine::store::PurgeCounts::default(), "nothing more to do");

    // A message that turns up after the purge (another node's publish in the second its
    // cached view of the tenant lived) is swept by the next run, not left forever.
    let late = sluice_engine::store::NewMessage {
        id: sluice_engine::ids::new_id(),
        tenant_id: doomed.clone(),
        event_type: "a.b".into(),
        payload: "{}".into(),
        idempotency_key: None,
        request_hash: None,
        created_at_ms: now_ms(),
        only_endpoint: None,
    };
    h.store.publish(&late).await.expect("a late message");
    let swept = h.sluice.purge_deleted_tenants(&h.platform, now_ms()).await.expect("sweep");
    assert_eq!(swept.messages, 1, "{swept:?}");
    assert!(rows_of(&h.db, &doomed).await.iter().all(|(_, n)| *n == 0));
}
