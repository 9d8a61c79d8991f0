//! Planner statistics: a statement planned while the queue was nearly empty is planned
//! again once a burst has grown the queue, not whenever autovacuum next comes by.

use std::time::Duration;

use sluice_engine::ids::{new_id, now_ms};
use sluice_engine::store::{Backend, NewMessage, PLANNED_TABLES};
use sluice_testkit::{eventually, on_both_backends, TestDb};

use crate::harness::Harness;

on_both_backends!(
    a_plan_made_on_a_nearly_empty_queue_is_made_again_after_a_burst,
    tables_this_user_may_not_analyze_are_left_to_autovacuum,
);

/// A claim's shape: the rows picked, then updated by id. On a table of a few rows
/// the cheapest plan for the update reads the whole table.
const CLAIM: &str = "PREPARE claim(text) AS WITH picked AS (SELECT id FROM deliveries \
     WHERE endpoint_id = $1 AND state = 'pending' ORDER BY next_attempt_at LIMIT 10 FOR UPDATE SKIP LOCKED) \
     UPDATE deliveries d SET lease_owner = 'test' FROM picked WHERE d.id = picked.id";

async fn a_plan_made_on_a_nearly_empty_queue_is_made_again_after_a_burst(db: TestDb) {
    let h = Harness::new(db).await;
    let e = h.endpoint("https://example.com/a", None).await;
    if h.store.backend() == Backend::Sqlite {
        let analyzed = h.sluice.refresh_planner_statistics().await.expect("refresh");
        assert!(analyzed.is_empty(), "SQLite keeps no statistics to refresh: {analyzed:?}");
        return;
    }
    let pool = sqlx::PgPool::connect(&h.db.url).await.expect("raw postgres");
    let mut conn = pool.acquire().await.expect("connection");
    // This test decides when the tables are analyzed, not autovacuum.
    for table in PLANNED_TABLES {
        let off = format!("ALTER TABLE {table} SET (autovacuum_enabled = false)");
        sqlx::raw_sql(&off).execute(&mut *conn).await.expect("autovacuum off");
    }
    h.publish("t", "{}").await;
    sqlx::raw_sql("ANALYZE deliveries, messages, attempts").execute(&mut *conn).await.expect("analyze");
    // A pooled connection's prepared statement, as sqlx keeps them: after five
    // executions PostgreSQL keeps a generic plan; this one is generic at once.
    sqlx::raw_sql("SET plan_cache_mode = force_generic_plan").execute(&mut *conn).await.expect("generic");
    sqlx::raw_sql(CLAIM).execute(&mut *conn).await.expect("prepare");
    let explain = format!("EXPLAIN EXECUTE claim('{}')", e.id.as_str());
    let plan = |rows: Vec<(String,)>| rows.into_iter().map(|(line,)| line).collect::<Vec<_>>().join("\n");
    let before = plan(sqlx::query_as(&explain).fetch_all(&mut *conn).await.expect("explain"));
    assert!(before.contains("Seq Scan on deliveries d"), "a few rows: read them all\n{before}");

    publish_many(&h, 5_000).await;
    let stale = plan(sqlx::query_as(&explain).fetch_all(&mut *conn).await.expect("explain"));
    assert!(stale.contains("Seq Scan on deliveries d"), "nothing plans it again by itself\n{stale}");

    // PostgreSQL's table counters lag the writes by a moment.
    let analyzed = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let grown = eventually(Duration::from_secs(20), || {
        let (sluice, analyzed) = (h.sluice.clone(), analyzed.clone());
        async move {
            let tables = sluice.refresh_planner_statistics().await.expect("refresh");
            let mut analyzed = analyzed.lock().expect("not poisoned");
            analyzed.extend(tables);
            analyzed.iter().any(|t| t == "deliveries") && analyzed.iter().any(|t| t == "messages")
        }
    })
    .await;
    let analyzed = analyzed.lock().expect("not poisoned").clone();
    assert!(grown, "the grown tables were analyzed: {analyzed:?}");
    assert!(!analyzed.contains(&"attempts".to_owned()), "attempts did not grow: {analyzed:?}");
    let after = plan(sqlx::query_as(&explain).fetch_all(&mut *conn).await.expect("explain"));
    assert!(!after.contains("Seq Scan on deliveries"), "planned again, by the index\n{after}");
    let again = h.sluice.refresh_planner_statistics().await.expect("refresh");
    assert!(again.is_empty(), "fresh statistics are left alone: {again:?}");
}

/// Publishes `n` messages to the harness tenant, 250 to a batch.
async fn publish_many(h: &Harness, n: usize) {
    for first in (0..n).step_by(250) {
        let messages: Vec<NewMessage> = (first..(first + 250).min(n))
            .map(|i| NewMessage {
                id: new_id(),
                tenant_id: h.tenant.clone(),
                event_type: "t".into(),
                payload: format!("{{\"n\":{i}}}"),
                idempotency_key: None,
                request_hash: None,
                created_at_ms: now_ms(),
                only_endpoint: None,
            })
            .collect();
        h.store.publish_batch(&messages).await.expect("publish");
    }
}

/// A user that does not own a table cannot analyze it: PostgreSQL would skip it with
/// a warning and leave its counter as it was, so every node would try (and warn)
/// every few seconds for ever. Such a table is not tried at all.
async fn tables_this_user_may_not_analyze_are_left_to_autovacuum(db: TestDb) {
    let h = Harness::new(db).await;
    h.endpoint("https://example.com/a", None).await;
    if h.store.backend() == Backend::Sqlite {
        return; // nothing is analyzed on SQLite (the test above)
    }
    let admin = sqlx::PgPool::connect(&h.db.url).await.expect("raw postgres");
    sqlx::raw_sql("ALTER TABLE deliveries SET (autovacuum_enabled = false)").execute(&admin).await.expect("off");
    // Roles are the cluster's, not the database's: a name of its own.
    let role = format!("sluice_t_{}", new_id::<sluice_core::ids::OperationKind>().as_str().to_lowercase());
    let grants = format!(
        "CREATE ROLE {role} LOGIN; GRANT CREATE, USAGE ON SCHEMA public TO {role}; \
         GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}"
    );
    sqlx::raw_sql(&grants).execute(&admin).await.expect("role");
    let mut url = url::Url::parse(&h.db.url).expect("url");
    url.set_username(&role).expect("user");
    let store = sluice_engine::store::connect(url.as_str(), 4, sluice_testkit::test_sealer()).await.expect("store");

    publish_many(&h, 1_500).await;
    // Until PostgreSQL's counters show the growth, an empty answer would prove nothing.
    let counted = eventually(Duration::from_secs(20), || {
        let admin = admin.clone();
        async move {
            let changed: i64 = sqlx::query_scalar(
                "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relid = 'deliveries'::regclass",
            )
            .fetch_one(&admin)
            .await
            .expect("counters");
            changed >= 1_500
        }
    })
    .await;
    assert!(counted, "the deliveries' changes were counted");
    let analyzed = store.refresh_planner_statistics().await.expect("no error, only nothing to do");
    assert!(analyzed.is_empty(), "not this user's tables: {analyzed:?}");

    sqlx::raw_sql(&format!("ALTER TABLE deliveries OWNER TO {role}")).execute(&admin).await.expect("owner");
    let analyzed = store.refresh_planner_statistics().await.expect("refresh");
    assert_eq!(analyzed, ["deliveries"], "its own table, and only that");
}
