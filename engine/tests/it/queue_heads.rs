//! Queue heads: an endpoint's `next_due_at`, which the dispatcher scans, follows its
//! earliest pending delivery and is never later than one, whatever producers
//! (publish, retries) and settles run beside each other, on one node or several.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sluice_engine::ids::{new_id, now_ms};
use sluice_engine::store::{Backend, NewMessage, NextStep, Store};
use sluice_testkit::{eventually, on_both_backends, TestDb};

use crate::harness::{outcome, Harness};

on_both_backends!(
    queue_heads_follow_due_work_and_never_hide_it,
    heads_never_hide_work_under_concurrent_publishes_claims_and_settles,
    two_nodes_publishing_to_the_same_endpoints_do_not_deadlock,
    a_settle_leaves_the_head_of_an_endpoint_being_published_to,
    publishes_to_an_endpoint_with_due_work_do_not_queue_behind_its_row_lock,
    a_publish_waits_out_a_settle_in_progress_and_lowers_the_head_it_left,
);

async fn due_at(store: &dyn Store, at: i64) -> usize {
    store.due_endpoints(at, 100, 100, &[], &[]).await.expect("due").len()
}

fn message(tenant: &sluice_core::ids::TenantId, n: usize) -> NewMessage {
    NewMessage {
        id: new_id(),
        tenant_id: tenant.clone(),
        event_type: "t".into(),
        payload: format!("{{\"n\":{n}}}"),
        idempotency_key: None,
        request_hash: None,
        created_at_ms: now_ms(),
        only_endpoint: None,
    }
}

/// A connection of the test's own to the database, under the store.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn connect(db: &TestDb) -> Self {
        match db.backend {
            sluice_testkit::Backend::Sqlite => Self::Sqlite(sqlx::SqlitePool::connect(&db.url).await.expect("sqlite")),
            sluice_testkit::Backend::Postgres => {
                Self::Postgres(sqlx::PgPool::connect(&db.url).await.expect("postgres"))
            }
        }
    }

    /// The endpoint's head and its earliest pending delivery, read in one statement
    /// (one snapshot).
    async fn head_and_earliest(&self, endpoint: &sluice_core::ids::EndpointId) -> (Option<i64>, Option<i64>) {
        const READ: &str = "SELECT e.next_due_at, (SELECT MIN(d.next_attempt_at) FROM deliveries d \
             WHERE d.endpoint_id = e.id AND d.state = 'pending') FROM endpoints e WHERE e.id = $1";
        match self {
            Self::Sqlite(pool) => sqlx::query_as(READ).bind(endpoint.as_str()).fetch_one(pool).await.expect("head"),
            Self::Postgres(pool) => sqlx::query_as(READ).bind(endpoint.as_str()).fetch_one(pool).await.expect("head"),
        }
    }
}

async fn queue_heads_follow_due_work_and_never_hide_it(db: TestDb) {
    let h = Harness::new(db).await;
    let store = h.store.as_ref();
    let e = h.endpoint("https://example.com/a", None).await;
    assert_eq!(due_at(store, now_ms() + 1_000).await, 0, "no work, no head");
    h.publish("t", "{}").await;
    assert_eq!(due_at(store, now_ms() + 1).await, 1);

    // Claimed and scheduled for a retry in a minute: once settled, the endpoint is not
    // due now, and is again in a minute.
    let now = now_ms();
    let c = h.store.claim(&e.id, now, now + 30_000, "node", 10).await.expect("claim").remove(0);
    h.record(&[outcome(&c, NextStep::RetryAt(now + 60_000), 500, now)], now).await;
    h.store.settle_head(&e.id).await.expect("settle");
    assert_eq!(due_at(store, now + 1_000).await, 0, "the retry is not due yet");
    assert_eq!(due_at(store, now + 61_000).await, 1, "and is once its time comes");

    // Work queued after a settle lowers the head again, and settling keeps it there.
    h.publish("t", "{}").await;
    assert_eq!(due_at(store, now_ms() + 1).await, 1, "the new delivery is found");
    h.store.settle_head(&e.id).await.expect("settle");
    assert_eq!(due_at(store, now_ms() + 1).await, 1, "still found after settling");

    // A crashed node's lease: the settled head is no later than the lease's end, so
    // the row comes due again without anyone releasing it.
    let t = now_ms();
    let leased = h.store.claim(&e.id, t, t + 5_000, "crashed", 10).await.expect("claim");
    assert_eq!(leased.len(), 1, "the new delivery (the other waits for its retry)");
    h.store.settle_head(&e.id).await.expect("settle");
    assert_eq!(due_at(store, t + 1_000).await, 0, "leased, not due");
    assert_eq!(due_at(store, t + 5_001).await, 1, "due again when the lease runs out");
}

/// Two nodes publish to one endpoint while a third claims, succeeds and settles as
/// fast as it can: afterwards the head is no later than the earliest pending
/// delivery. A settle that missed an uncommitted publish would leave it hidden.
async fn heads_never_hide_work_under_concurrent_publishes_claims_and_settles(db: TestDb) {
    let h = Harness::new(db).await;
    let e = h.endpoint("https://example.com/a", None).await;
    let (done_tx, done) = tokio::sync::watch::channel(false);
    let (running_tx, running) = tokio::sync::oneshot::channel();
    let drained = Arc::new(AtomicUsize::new(0));
    let drainer = {
        let (store, endpoint, drained) = (h.db.store().await, e.id.clone(), drained.clone());
        let raw = Raw::connect(&h.db).await;
        tokio::spawn(async move {
            let mut running_tx = Some(running_tx);
            while !*done.borrow() {
                let t = now_ms();
                let claimed = store.claim(&endpoint, t, t + 60_000, "drainer", 3).await.expect("claim");
                let outcomes: Vec<_> = claimed.iter().map(|c| outcome(c, NextStep::Succeeded, 200, t)).collect();
                store.record(&outcomes, &[], &[], sluice_engine::store::AutoDisable::NEVER, t).await.expect("record");
                store.settle_head(&endpoint).await.expect("settle");
                drained.fetch_add(outcomes.len(), Ordering::Relaxed);
                // In every committed state, not only at the end: the drainer's next
                // settle would mend a head hidden for a moment.
                let (head, earliest) = raw.head_and_earliest(&endpoint).await;
                assert!(
                    earliest.is_none() || head.is_some_and(|h| Some(h) <= earliest),
                    "head {head:?} is later than the earliest pending delivery {earliest:?}"
                );
                if let Some(tx) = running_tx.take() {
                    let _ = tx.send(());
                }
            }
        })
    };
    running.await.expect("the drainer started");
    let mut publishers = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let (store, tenant, drained) = (h.db.store().await, h.tenant.clone(), drained.clone());
        // Until the drainer has delivered some of it, so the two really overlap.
        publishers.spawn(async move {
            for i in 0..2_000 {
                store.publish_batch(&[message(&tenant, i)]).await.expect("publish");
                if i >= 60 && drained.load(Ordering::Relaxed) >= 10 {
                    break;
                }
            }
        });
    }
    while let Some(joined) = publishers.join_next().await {
        joined.expect("publisher");
    }
    done_tx.send(true).expect("drainer listens");
    drainer.await.expect("drainer");
    assert!(drained.load(Ordering::Relaxed) >= 10, "the drainer drained beside the publishers");
    let pending: Vec<_> = h
        .deliveries()
        .await
        .into_iter()
        .filter(|d| d.status == sluice_core::model::DeliveryStatus::Pending)
        .filter_map(|d| d.next_attempt_at)
        .collect();
    if let Some(earliest) = pending.iter().min() {
        let at = earliest.timestamp_millis();
        assert_eq!(due_at(h.store.as_ref(), at).await, 1, "{} pending, none hidden", pending.len());
    }
}

/// Several nodes share one PostgreSQL: their publish transactions all lower the same
/// endpoints' queue heads. With row locks that conflict with the foreign-key locks
/// inserting deliveries takes, two of them deadlocked and one publish failed.
async fn two_nodes_publishing_to_the_same_endpoints_do_not_deadlock(db: TestDb) {
    let h = Harness::new(db).await;
    if h.store.backend() == Backend::Sqlite {
        return; // one process, one writer: nothing to share
    }
    h.endpoint("https://example.com/a", None).await;
    h.endpoint("https://example.com/b", None).await;
    let nodes = [h.db.store().await, h.db.store().await];
    let mut publishes = tokio::task::JoinSet::new();
    for store in &nodes {
        for i in 0..40 {
            let (store, tenant) = (store.clone(), h.tenant.clone());
            publishes.spawn(async move {
                let batch: Vec<NewMessage> = (0..5).map(|j| message(&tenant, i * 5 + j)).collect();
                store.publish_batch(&batch).await
            });
        }
    }
    while let Some(joined) = publishes.join_next().await {
        joined.expect("join").expect("every publish commits");
    }
    let pending = h.store.backlog(&h.scope).await.expect("backlog");
    assert_eq!(pending, 2 * 40 * 5 * 2, "every message, to both endpoints");
}

/// A raw connection to the test database: another node's open transaction.
async fn other_node(db: &TestDb) -> sqlx::PgPool {
    sqlx::PgPool::connect(&db.url).await.expect("raw postgres")
}

/// Another node's transaction, open, holding the endpoint's row with `lock` (a row
/// lock strength: `KEY SHARE`, `NO KEY UPDATE`, `UPDATE`).
async fn lock_endpoint(
    pool: &sqlx::PgPool,
    endpoint: &sluice_core::ids::EndpointId,
    lock: &str,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query(&format!("SELECT id FROM endpoints WHERE id = $1 FOR {lock}"))
        .bind(endpoint.as_str())
        .execute(&mut *tx)
        .await
        .expect("lock");
    tx
}

/// A producer still open on PostgreSQL (here a transaction holding the KEY SHARE lock
/// every producer takes on the endpoint's row) may have queued deliveries a settle
/// cannot see yet: the settle leaves the head early instead of moving it past them,
/// and does not wait for the producer either.
async fn a_settle_leaves_the_head_of_an_endpoint_being_published_to(db: TestDb) {
    let h = Harness::new(db).await;
    if h.store.backend() == Backend::Sqlite {
        return; // one writer: no transaction is ever open beside a settle
    }
    let e = h.endpoint("https://example.com/a", None).await;
    h.publish("t", "{}").await;
    let t = now_ms();
    assert_eq!(h.store.claim(&e.id, t, t + 60_000, "node", 10).await.expect("claim").len(), 1);
    let pool = other_node(&h.db).await;
    let producer = lock_endpoint(&pool, &e.id, "KEY SHARE").await;
    tokio::time::timeout(Duration::from_secs(10), h.store.settle_head(&e.id))
        .await
        .expect("a settle does not wait for a producer")
        .expect("settle");
    assert_eq!(due_at(h.store.as_ref(), now_ms() + 1).await, 1, "the head stays early while the producer is open");
    producer.commit().await.expect("commit");
    h.store.settle_head(&e.id).await.expect("settle");
    assert_eq!(due_at(h.store.as_ref(), now_ms() + 1).await, 0, "then it moves on to the lease's end");
}

/// Publishes from several nodes to one endpoint whose head is already due must not
/// take turns on its row: before, each took the row's write lock and held it through
/// its commit's WAL flush, and three nodes publishing to one endpoint were 60 % slower
/// than one. Here another transaction holds that write lock (as a producer moving the
/// head does) and a publish still commits.
async fn publishes_to_an_endpoint_with_due_work_do_not_queue_behind_its_row_lock(db: TestDb) {
    let h = Harness::new(db).await;
    if h.store.backend() == Backend::Sqlite {
        return; // one writer: publishes take turns on it anyway
    }
    let e = h.endpoint("https://example.com/a", None).await;
    h.publish("t", "{}").await;
    let pool = other_node(&h.db).await;
    let holder = lock_endpoint(&pool, &e.id, "NO KEY UPDATE").await;
    tokio::time::timeout(Duration::from_secs(10), h.store.publish_batch(&[message(&h.tenant, 1)]))
        .await
        .expect("the publish does not wait for the row lock")
        .expect("publish");
    holder.rollback().await.expect("rollback");
    assert_eq!(h.store.backlog(&h.scope).await.expect("backlog"), 2);
}

/// A settle in progress (its row lock taken, nothing pending seen) is about to move
/// the head past everything; a publish to the endpoint meanwhile must wait for it and
/// then lower the head to its delivery. The publish takes no lock of its own for this:
/// the foreign key's check, inserting its deliveries, takes KEY SHARE on the row
/// (`EndpointLocks::HeldByInsertedDeliveries`). Without that lock the publish would
/// commit first, the settle would hide its delivery, and nothing would send it.
async fn a_publish_waits_out_a_settle_in_progress_and_lowers_the_head_it_left(db: TestDb) {
    let h = Harness::new(db).await;
    if h.store.backend() == Backend::Sqlite {
        return; // one writer: a settle and a publish never overlap
    }
    let e = h.endpoint("https://example.com/a", None).await;
    // Sent and recorded, not yet settled: the head is early, so the publish has no
    // head to move and no reason of its own to touch the row.
    h.publish("t", "{}").await;
    let t = now_ms();
    let claimed = h.store.claim(&e.id, t, t + 60_000, "node", 10).await.expect("claim");
    let outcomes: Vec<_> = claimed.iter().map(|c| outcome(c, NextStep::Succeeded, 200, t)).collect();
    h.store.record(&outcomes, &[], &[], sluice_engine::store::AutoDisable::NEVER, t).await.expect("record");
    let pool = other_node(&h.db).await;
    let mut settle = lock_endpoint(&pool, &e.id, "UPDATE").await;
    let settle_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *settle).await.expect("pid");
    let store = h.store.clone();
    let batch = [message(&h.tenant, 1)];
    let publishing = tokio::spawn(async move { store.publish_batch(&batch).await.map(|r| r.len()) });
    // The publish either waits for the settle (as it must) or has already committed.
    let waiting = eventually(Duration::from_secs(10), || {
        let (pool, publishing) = (&pool, &publishing);
        async move {
            let waits: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))")
                    .bind(settle_pid)
                    .fetch_one(pool)
                    .await
                    .expect("activity");
            waits > 0 || publishing.is_finished()
        }
    })
    .await;
    assert!(waiting, "the publish neither waited nor finished");
    sqlx::query("UPDATE endpoints SET next_due_at = NULL WHERE id = $1")
        .bind(e.id.as_str())
        .execute(&mut *settle)
        .await
        .expect("the settle moves the head on");
    settle.commit().await.expect("commit");
    assert_eq!(publishing.await.expect("task").expect("publish"), 1);
    let (head, earliest) = Raw::connect(&h.db).await.head_and_earliest(&e.id).await;
    assert!(earliest.is_some(), "the published delivery is pending");
    assert!(
        head.is_some_and(|head| Some(head) <= earliest),
        "the head {head:?} hides the delivery due at {earliest:?}"
    );
}
