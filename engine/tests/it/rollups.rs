//! SLO roll-ups: the overview's hours, read from the roll-ups where the job has counted
//! them, equal a scan of the deliveries themselves: after the job first counts them,
//! and again after every kind of change to a counted hour.

use sluice_core::ids::MessageId;
use sluice_core::model::*;
use sluice_engine::ids::now_ms;
use sluice_engine::store::{NextStep, PastDelivery, PastOutcome, SloHour, HOUR_MS, SETTLE_MS};
use sluice_engine::RollupRun;
use sluice_testkit::{on_both_backends, TestDb};

use crate::harness::{outcome, Harness};

on_both_backends!(rollups_equal_a_scan_of_the_deliveries, two_nodes_count_each_hour_once);

/// What the overview reads for the test tenant's last 30 days.
async fn overview_hours(h: &Harness, now: i64) -> Vec<SloHour> {
    let tier = h.sluice.get_tier("standard").await.expect("tier");
    h.sluice.overview_hours(&h.scope, &tier, since_hour(now), now).await.expect("overview hours")
}

/// The same hours scanned from the deliveries, as the overview read them before.
async fn scanned_hours(h: &Harness, now: i64) -> Vec<SloHour> {
    let target = h.sluice.get_tier("standard").await.expect("tier").latency_target_ms;
    h.store.slo_hours(&h.scope, since_hour(now) * HOUR_MS, now - target, target).await.expect("scan")
}

fn since_hour(now: i64) -> i64 {
    now.div_euclid(HOUR_MS) - 24 * 30 + 1
}

async fn roll_up(h: &Harness, now: i64) -> RollupRun {
    let mut total = RollupRun::default();
    loop {
        total = total.then(h.sluice.roll_up_once(&h.platform, now).await.expect("roll up"));
        if total.caught_up {
            return total;
        }
    }
}

async fn rollups_equal_a_scan_of_the_deliveries(db: TestDb) {
    let h = Harness::new(db).await;
    let a = h.endpoint("https://example.com/a", None).await;
    let b = h.endpoint("https://example.com/b", None).await;
    let now = now_ms();
    let this_hour = now.div_euclid(HOUR_MS);

    // Eight deliveries early in each of five past hours, four to each endpoint. Of
    // each four the first succeeds in a second, the second in two minutes (late for
    // the standard tier's minute), the third fails for good and the fourth waits for a
    // retry an hour from now.
    let mut rows = Vec::new();
    for back in 2..7 {
        for endpoint in [&a, &b] {
            for i in 0..4 {
                let created_at_ms = (this_hour - back) * HOUR_MS + 60_000 * back + i;
                rows.push(PastDelivery {
                    tenant_id: h.tenant.clone(),
                    endpoint_id: endpoint.id.clone(),
                    created_at_ms,
                    outcome: PastOutcome::Pending,
                });
            }
        }
    }
    let ids = h.store.insert_history(&rows).await.expect("history");
    let messages: Vec<(MessageId, i64, i64)> =
        rows.iter().zip(ids).map(|(r, (m, _))| (m, r.created_at_ms, r.created_at_ms % 4)).collect();
    for endpoint in [&a, &b] {
        let claimed = h.store.claim(&endpoint.id, now, now + 30_000, "node", 100).await.expect("claim");
        assert_eq!(claimed.len(), 20);
        for c in &claimed {
            let (_, created, i) = messages.iter().find(|(m, _, _)| *m == c.message_id).expect("ours");
            let (next, status, at) = match i % 4 {
                0 => (NextStep::Succeeded, 200, created + 1_000),
                1 => (NextStep::Succeeded, 200, created + 120_000),
                2 => (NextStep::Exhausted, 500, created + 1_000),
                _ => (NextStep::RetryAt(now + HOUR_MS), 503, created + 1_000),
            };
            h.record(&[outcome(c, next, status, at)], at).await;
        }
    }
    let scanned = scanned_hours(&h, now).await;
    assert_eq!(scanned.len(), 5);
    assert_eq!(overview_hours(&h, now).await, scanned, "before any roll-up, the overview scans");

    let run = roll_up(&h, now).await;
    assert!(run.rolled >= 5, "{run:?}");
    let rolled = h.store.rolled_hours(&h.scope, since_hour(now), this_hour).await.expect("rolled");
    assert_eq!(rolled.iter().map(|r| r.hour).collect::<Vec<_>>(), (this_hour - 6..=this_hour - 2).collect::<Vec<_>>());
    assert!(rolled.iter().all(|r| (r.succeeded, r.failed, r.pending, r.good) == (4, 2, 2, 2)), "{rolled:?}");
    assert_eq!(overview_hours(&h, now).await, scanned, "counted, the same numbers");
    assert_eq!(roll_up(&h, now).await, RollupRun { caught_up: true, ..RollupRun::default() }, "nothing to do");

    // Each change to a counted hour leaves a mark; until the job counts the hour
    // again the overview still shows the count, then the scan's numbers again.
    let check = |what: &'static str| {
        let h = &h;
        async move {
            let marked = h.store.marked_hours(this_hour, 100).await.expect("marks");
            assert!(!marked.is_empty(), "{what}: marks the hours it changed");
            let run = roll_up(h, now_ms()).await;
            assert!(run.recounted >= 1, "{what}: {run:?}");
            assert!(h.store.marked_hours(this_hour, 100).await.expect("marks").is_empty(), "{what}");
            let now = now_ms();
            assert_eq!(overview_hours(h, now).await, scanned_hours(h, now).await, "{what}");
        }
    };

    // A retry that succeeds now, an hour or more after its hour was counted.
    let due = h.store.claim(&a.id, now + 2 * HOUR_MS, now + 3 * HOUR_MS, "node", 100).await.expect("claim");
    assert_eq!(due.len(), 5, "each hour's waiting retry");
    h.record(&[outcome(&due[0], NextStep::Succeeded, 200, now_ms())], now_ms()).await;
    check("a late success").await;

    // A replay sends a failed delivery back to pending.
    let (failed, _, _) = messages.iter().find(|(_, _, i)| *i == 2).expect("a failed one");
    let failed = failed.clone();
    h.sluice.replay_message(&h.scope, &failed, ReplayMessage::default()).await.expect("replay");
    check("a replay").await;

    // Deleting an endpoint cancels what waits for it.
    h.sluice.delete_endpoint(&h.scope, &b.id, None).await.expect("delete");
    check("a cancellation").await;

    // A new latency target measures every counted hour again: the two-minute
    // successes become good under five minutes.
    let five_minutes = UpdateTier { latency_target_ms: Some(300_000), ..UpdateTier::default() };
    h.sluice.update_tier(&h.platform, "standard", None, five_minutes).await.expect("tier");
    check("a new target").await;
    let rolled = h.store.rolled_hours(&h.scope, since_hour(now), this_hour).await.expect("rolled");
    assert!(rolled.iter().all(|r| r.target_ms == 300_000), "{rolled:?}");

    // The overview itself, windows and all, is what the scan says.
    let o = h.sluice.tenant_overview(&h.scope).await.expect("overview");
    let scanned = scanned_hours(&h, now_ms()).await;
    let (counted, good) = scanned.iter().fold((0, 0), |(c, g), s| (c + s.counted, g + s.good));
    assert_eq!((o.windows[2].counted, o.windows[2].good), (counted, good));
}

/// Two nodes running the job at once (a lease that lapsed mid-run): each hour is
/// counted once, and neither fails.
async fn two_nodes_count_each_hour_once(db: TestDb) {
    let h = Harness::new(db).await;
    let a = h.endpoint("https://example.com/a", None).await;
    let now = now_ms();
    let this_hour = now.div_euclid(HOUR_MS);
    let rows: Vec<PastDelivery> = (2..40)
        .map(|back| PastDelivery {
            tenant_id: h.tenant.clone(),
            endpoint_id: a.id.clone(),
            created_at_ms: (this_hour - back) * HOUR_MS,
            outcome: PastOutcome::Pending,
        })
        .collect();
    h.store.insert_history(&rows).await.expect("history");
    assert_eq!(h.store.marked_hours(this_hour, 100).await.expect("marks").len(), 38, "history marks its hours");
    let (x, y) = tokio::join!(h.sluice.roll_up_once(&h.platform, now), h.sluice.roll_up_once(&h.platform, now));
    let (x, y) = (x.expect("one node"), y.expect("the other"));
    // From the hour before the oldest delivery's (its id may be minted up to
    // ID_SLACK_MS after its creation) to the last hour over for SETTLE_MS: once each.
    let first = this_hour - 40;
    let countable = (now - SETTLE_MS).div_euclid(HOUR_MS);
    assert_eq!(x.rolled + y.rolled, u64::try_from(countable - first).expect("hours"), "{x:?} {y:?}");
    roll_up(&h, now).await;
    let rolled = h.store.rolled_hours(&h.scope, since_hour(now), this_hour).await.expect("rolled");
    assert_eq!(rolled.len(), 38);
    assert!(rolled.iter().all(|r| (r.pending, r.succeeded) == (1, 0)), "{rolled:?}");
    assert_eq!(overview_hours(&h, now).await, scanned_hours(&h, now).await);

    // A publish whose request was accepted in a counted hour (its commit waited past
    // the hour's end) marks that hour.
    let old_hour = this_hour - 3;
    h.publish_at(&h.tenant, old_hour * HOUR_MS + 30 * 60_000).await;
    let marked = h.store.marked_hours(this_hour, 100).await.expect("marks");
    assert_eq!(marked, vec![(h.tenant.clone(), old_hour)]);
}
