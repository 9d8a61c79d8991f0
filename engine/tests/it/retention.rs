//! The retention purge and the job lease that keeps it to one node at a time.

use sluice_core::model::*;
use sluice_engine::ids::now_ms;
use sluice_engine::store::NextStep;
use sluice_engine::{Caller, Error};
use sluice_testkit::{on_both_backends, TestDb};

use crate::harness::{outcome, Harness};

on_both_backends!(purge_drops_old_finished_messages_only, one_node_holds_the_retention_lease,);

const DAY_MS: i64 = 86_400_000;

async fn purge_drops_old_finished_messages_only(db: TestDb) {
    let h = Harness::new(db).await;
    let short = CreateTenant { name: "Short".into(), retention_days: Some(1), ..Default::default() };
    let short = h.sluice.create_tenant(&h.platform, short).await.expect("tenant").id;
    let e = h.endpoint_for(&short, "https://example.com/a", None).await;
    let two_days_ago = now_ms() - 2 * DAY_MS;
    let old_done = h.publish_at(&short, two_days_ago).await;
    let old_pending = h.publish_at(&short, two_days_ago).await;
    let fresh = h.publish_at(&short, now_ms()).await;
    // The harness tenant keeps 30 days: two days old is young for it. (It has no
    // endpoints, so only retention can keep this message.)
    let long_kept = h.publish_at(&h.tenant, two_days_ago).await;

    let claimed = h.store.claim(&e.id, now_ms(), now_ms() + 30_000, "node", 10).await.expect("claim");
    let done = claimed.iter().find(|c| c.message_id == old_done).expect("claimed");
    h.record(&[outcome(done, NextStep::Succeeded, 200, now_ms())], now_ms()).await;

    let tenant_key = Caller::Tenant { tenant: short.clone(), actor: "t".into(), read_only: false };
    assert!(matches!(tenant_key.platform(), Err(Error::Forbidden(_))), "purging is the platform's");
    let purged = h.sluice.purge_expired(&h.platform, now_ms()).await.expect("purge");
    assert_eq!((purged.messages, purged.deliveries, purged.attempts), (1, 1, 1), "{purged:?}");
    let gone = h.sluice.get_message(&h.platform.tenant(&short).expect("not the canary"), &old_done).await;
    assert!(matches!(gone, Err(Error::NotFound { .. })), "{gone:?}");
    for (tenant, kept) in [(&short, &old_pending), (&short, &fresh), (&h.tenant, &long_kept)] {
        h.sluice
            .get_message(&h.platform.tenant(tenant).expect("not the canary"), kept)
            .await
            .expect("kept: pending, young, or longer retention");
    }
    let again = h.sluice.purge_expired(&h.platform, now_ms()).await.expect("purge");
    assert_eq!(again.messages, 0, "nothing left to purge");
}

async fn one_node_holds_the_retention_lease(db: TestDb) {
    let h = Harness::new(db).await;
    assert!(h.sluice.take_retention_lease("node-a", now_ms() + 60_000).await.expect("lease"));
    assert!(!h.sluice.take_retention_lease("node-b", now_ms() + 60_000).await.expect("lease"), "held by a");
    assert!(h.sluice.take_retention_lease("node-a", now_ms() - 1).await.expect("lease"), "a renews its own");
    // a's lease has now run out (as if it died): b takes over.
    assert!(h.sluice.take_retention_lease("node-b", now_ms() + 60_000).await.expect("lease"));
    assert!(!h.sluice.take_retention_lease("node-a", now_ms() + 60_000).await.expect("lease"));
}
