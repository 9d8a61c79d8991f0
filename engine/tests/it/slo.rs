//! SLOs: tiers, and the tenant overview's attainment, budget, latency and backlog,
//! with delivery times set precisely through the store.

use sluice_core::ids::MessageId;
use sluice_core::model::*;
use sluice_engine::ids::now_ms;
use sluice_engine::store::NextStep;
use sluice_engine::Error;
use sluice_testkit::{on_both_backends, TestDb};

use crate::harness::{outcome, Harness};

on_both_backends!(
    overview_measures_deliveries_against_the_tier,
    tiers_and_tenant_tiers_are_admin_only,
    concurrent_writes_to_one_version_let_one_through,
);

async fn overview_measures_deliveries_against_the_tier(db: TestDb) {
    let h = Harness::new(db).await;
    let patch = PatchTenant { tier: Some("premium".into()), ..Default::default() };
    h.sluice.patch_tenant(&h.platform, &h.tenant, None, patch).await.expect("premium");
    let premium = h.sluice.list_tiers().await.expect("tiers").into_iter().find(|t| t.name == "premium");
    let target = premium.expect("premium tier").latency_target_ms;
    assert_eq!(target, 10_000, "premium promises 10 s by default");
    let e = h.endpoint("https://example.com/slo", None).await;

    // Five messages published 60 s ago, one just now.
    let t0 = now_ms() - 60_000;
    let mut ids: Vec<MessageId> = Vec::new();
    for created in [t0, t0, t0, t0, t0, now_ms()] {
        ids.push(h.publish_at(&h.tenant, created).await);
    }
    let claimed = h.store.claim(&e.id, now_ms(), now_ms() + 30_000, "node", 10).await.expect("claim");
    let of = |i: usize| claimed.iter().find(|c| c.message_id == ids[i]).expect("claimed");
    // `record` stamps its batch with one time: the first success at t0 + 2 s...
    let early = [
        outcome(of(0), NextStep::Succeeded, 200, t0 + 1_000),
        outcome(of(2), NextStep::Exhausted, 500, t0 + 1_000),
        outcome(of(3), NextStep::RetryAt(now_ms() + 600_000), 503, t0 + 1_000),
    ];
    h.record(&early, t0 + 2_000).await;
    // ...the second at t0 + 30 s, past premium's 10 s.
    h.record(&[outcome(of(1), NextStep::Succeeded, 200, t0 + 29_000)], t0 + 30_000).await;
    // Message 4 stays pending (claimed, never answered) past the target; message 5 is
    // pending too, but fresh.

    let o = h.sluice.tenant_overview(&h.scope).await.expect("overview");
    assert_eq!(o.tier.name, "premium");
    assert_eq!(
        o.windows.iter().map(|w| (w.label.as_str(), w.hours)).collect::<Vec<_>>(),
        [("24 h", 24), ("7 d", 168), ("30 d", 720)]
    );
    for w in &o.windows {
        // Counted: 0 (good), 1 (late), 2 (failed), 3 and 4 (pending past the target).
        assert_eq!((w.counted, w.good), (5, 1), "{w:?}");
        assert_eq!(w.attainment, Some(0.2));
        // 99.9 % of 5 allows 0.005 bad; 4 bad overspends it 800 times.
        let left = w.budget_remaining.expect("budget");
        assert!((left - (1.0 - 4.0 / 0.005)).abs() < 1e-6, "{left}");
    }
    assert_eq!(o.backlog, 3, "3, 4 and 5");
    assert_eq!(o.error_classes, vec![ErrorClassCount { error_class: "http_5xx".into(), deliveries: 2 }]);
    assert_eq!(o.latency.len(), 24);
    assert_eq!(o.latency.iter().map(|p| (p.succeeded, p.failed)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)), (2, 1));
    // Latencies 2 s and 30 s: the median is the top of the 1–2.5 s bucket, p99 near 30 s.
    assert_eq!(o.p50_ms, Some(2_500.0));
    let p99 = o.p99_ms.expect("p99");
    assert!(p99 > 10_000.0 && p99 <= 30_000.0, "{p99}");

    // Replaying the good delivery and succeeding again later keeps its first success.
    h.sluice.replay_message(&h.scope, &ids[0], ReplayMessage::default()).await.expect("replay");
    let replayed = h.store.claim(&e.id, now_ms() + 1, now_ms() + 30_000, "node", 10).await.expect("claim");
    let r = replayed.iter().find(|c| c.message_id == ids[0]).expect("replayed delivery claimed");
    h.record(&[outcome(r, NextStep::Succeeded, 200, now_ms())], now_ms()).await;
    let after = h.sluice.tenant_overview(&h.scope).await.expect("overview");
    assert_eq!((after.windows[0].counted, after.windows[0].good), (5, 1), "still good, not late");

    // Another tenant's overview is not found for a tenant key.
    let key = h.sluice.create_api_key(&h.platform, &h.tenant, CreateApiKey::default()).await.expect("key");
    let me = h.sluice.authenticate(&key.key).await.expect("auth").expect("caller");
    let other = h.sluice.create_tenant(&h.platform, CreateTenant { name: "Other".into(), ..Default::default() }).await;
    let other = other.expect("tenant");
    assert!(matches!(me.tenant(&other.id), Err(Error::NotFound { .. })));
    assert!(h.sluice.tenant_overview(&me.tenant(&h.tenant).expect("own")).await.is_ok());
}

async fn tiers_and_tenant_tiers_are_admin_only(db: TestDb) {
    let h = Harness::new(db).await;
    let key = h.sluice.create_api_key(&h.platform, &h.tenant, CreateApiKey::default()).await.expect("key");
    let partner = h.sluice.authenticate(&key.key).await.expect("auth").expect("caller");
    // Any caller may read the targets (the REST route only asks for a key).
    let tiers = h.sluice.list_tiers().await.expect("a partner may read the targets");
    assert_eq!(tiers.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), vec!["free", "standard", "premium"]);

    let change = UpdateTier { success_target: Some(0.98), latency_target_ms: Some(120_000) };
    assert!(matches!(partner.platform(), Err(Error::Forbidden(_))), "only the platform changes tiers and tenants");
    let free = h.sluice.update_tier(&h.platform, "free", None, change).await.expect("update");
    assert_eq!((free.success_target, free.latency_target_ms), (0.98, 120_000));
    let listed = h.sluice.list_tiers().await.expect("tiers");
    assert_eq!(listed[0], free, "stored");
    let bad = UpdateTier { success_target: Some(1.0), latency_target_ms: Some(5) };
    let Err(Error::Validation(fields)) = h.sluice.update_tier(&h.platform, "free", None, bad).await else {
        panic!("expected a validation error");
    };
    assert_eq!(fields.len(), 2);
    assert!(matches!(
        h.sluice.update_tier(&h.platform, "gold", None, UpdateTier::default()).await,
        Err(Error::NotFound { .. })
    ));

    let to_gold = PatchTenant { tier: Some("gold".into()), ..Default::default() };
    assert!(matches!(h.sluice.patch_tenant(&h.platform, &h.tenant, None, to_gold).await, Err(Error::Validation(_))));
    let to_free = PatchTenant { tier: Some("free".into()), name: Some("Acme Ltd".into()), ..Default::default() };
    let t = h.sluice.patch_tenant(&h.platform, &h.tenant, None, to_free).await.expect("patch");
    assert_eq!((t.name.as_str(), t.tier.as_str()), ("Acme Ltd", "free"));
    assert_eq!(h.sluice.get_tenant(&h.scope).await.expect("get").tier, "free");
}

/// Two admins who read version 1 of a tenant and of a tier, then saved at the same
/// moment: one change applies, the other is told it is stale (412), on any backend.
async fn concurrent_writes_to_one_version_let_one_through(db: TestDb) {
    let h = Harness::new(db).await;
    for round in 0..5 {
        let version =
            h.sluice.get_tenant(&h.platform.tenant(&h.tenant).expect("not the canary")).await.expect("tenant").version;
        let rename = |name: String| {
            let patch = PatchTenant { name: Some(name), ..Default::default() };
            h.sluice.patch_tenant(&h.platform, &h.tenant, Some(version), patch)
        };
        let (a, b) = tokio::join!(rename(format!("A{round}")), rename(format!("B{round}")));
        let (won, lost) = match (a, b) {
            (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
            other => panic!("exactly one write applies: {other:?}"),
        };
        assert_eq!(won.version, version + 1);
        assert!(matches!(lost, Error::PreconditionFailed { current } if current == version + 1), "{lost:?}");
        let stored = h.sluice.get_tenant(&h.platform.tenant(&h.tenant).expect("not the canary")).await.expect("tenant");
        assert_eq!((stored.name, stored.version), (won.name, won.version), "the winner's write is what is stored");
    }
    let tier = h.sluice.get_tier("free").await.expect("tier");
    let target = |ms: i64| UpdateTier { latency_target_ms: Some(ms), ..Default::default() };
    let (a, b) = tokio::join!(
        h.sluice.update_tier(&h.platform, "free", Some(tier.version), target(20_000)),
        h.sluice.update_tier(&h.platform, "free", Some(tier.version), target(40_000)),
    );
    assert!(a.is_ok() != b.is_ok(), "exactly one tier write applies: {a:?} {b:?}");
}
