//! The idempotency records' protocol on both backends: one holder per key, answers
//! kept (sealed) and given again, a dead holder taken over, a day's expiry, and a
//! stale holder fenced off.

use sluice_engine::store::{IdempotencyBegin, StoredAnswer};
use sluice_testkit::{on_both_backends, Backend, TestDb};

use crate::harness::Harness;

/// The body column as the database holds it.
async fn raw_body(db: &TestDb, caller: &str, key: &str) -> String {
    const BODY: &str = "SELECT body FROM idempotency_keys WHERE caller = $1 AND key = $2";
    match db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("raw sqlite");
            sqlx::query_scalar(BODY).bind(caller).bind(key).fetch_one(&pool).await.expect("body")
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("raw postgres");
            sqlx::query_scalar(BODY).bind(caller).bind(key).fetch_one(&pool).await.expect("body")
        }
    }
}

on_both_backends!(an_idempotency_key_has_one_holder_and_one_answer);

async fn an_idempotency_key_has_one_holder_and_one_answer(db: TestDb) {
    let h = Harness::new(db).await;
    let s = h.store.as_ref();
    let begin = |hash: &'static str, owner: &'static str, now: i64, stale: i64, expired: i64| async move {
        s.begin_idempotent("key_a", "k1", hash, owner, now, stale, expired).await.expect("begin")
    };
    assert_eq!(begin("h1", "o1", 1_000, 0, 0).await, IdempotencyBegin::Started);
    assert_eq!(begin("h1", "o2", 1_001, 0, 0).await, IdempotencyBegin::InFlight, "o1 still answers it");
    assert_eq!(begin("h2", "o2", 1_001, 0, 0).await, IdempotencyBegin::Mismatch);
    // Another caller's key of the same name is its own.
    let other = s.begin_idempotent("key_b", "k1", "h9", "o9", 1_002, 0, 0).await.expect("begin");
    assert_eq!(other, IdempotencyBegin::Started);

    // o1 died: once it counts as abandoned, a retry takes the key over (even with
    // another request: the first never acted), and o1's late answer is not kept.
    assert_eq!(begin("h3", "o2", 5_000, 2_000, 0).await, IdempotencyBegin::Started);
    assert_eq!(begin("h1", "o5", 5_001, 0, 0).await, IdempotencyBegin::Mismatch, "the key is now h3's");
    let answer = |body: &str| StoredAnswer {
        status: 201,
        content_type: Some("application/json".into()),
        location: Some("/v1/x".into()),
        etag: Some("\"1\"".into()),
        body: body.into(),
    };
    s.complete_idempotent("key_a", "k1", "o1", &answer("{\"late\":true}")).await.expect("a stale holder");
    s.complete_idempotent("key_a", "k1", "o2", &answer("{\"id\":\"x\"}")).await.expect("complete");
    // Answered keys are never taken over, however old the answer (within the day).
    assert_eq!(begin("h3", "o3", 6_000, 5_500, 0).await, IdempotencyBegin::Answered(answer("{\"id\":\"x\"}")));
    assert_eq!(begin("h2", "o3", 6_000, 5_500, 0).await, IdempotencyBegin::Mismatch);

    // After a day the key is free again, for any request.
    assert_eq!(begin("h2", "o3", 9_000, 0, 8_000).await, IdempotencyBegin::Started);
    // A request that changed nothing lets its key go; only its holder can.
    s.abandon_idempotent("key_a", "k1", "o2").await.expect("not the holder");
    assert_eq!(begin("h1", "o4", 9_001, 0, 0).await, IdempotencyBegin::Mismatch, "o3 still holds it");
    s.abandon_idempotent("key_a", "k1", "o3").await.expect("abandon");
    assert_eq!(begin("h1", "o4", 9_002, 0, 0).await, IdempotencyBegin::Started);

    // The answer is sealed at rest: an answer may carry a new API key or secret.
    s.complete_idempotent("key_a", "k1", "o4", &answer("{\"secret\":\"whsec_x\"}")).await.expect("complete");
    let stored = raw_body(&h.db, "key_a", "k1").await;
    assert!(stored.starts_with("sealed:") && !stored.contains("whsec_x"), "{stored}");
    assert_eq!(begin("h1", "o8", 9_002, 0, 0).await, IdempotencyBegin::Answered(answer("{\"secret\":\"whsec_x\"}")));

    assert_eq!(s.purge_idempotency(9_002).await.expect("purge"), 1, "key_b's, started at 1002");
    assert_eq!(s.purge_idempotency(9_003).await.expect("purge"), 1, "key_a's, started at 9002");
}
