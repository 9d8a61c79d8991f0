//! Portal links on both backends: a link opens one session, once, before it expires;
//! two openers racing get one session; the session reaches its tenant only, read-only
//! when made so, and ends when it expires, idles, is signed out or purged.

use std::time::Duration;

use sha2::{Digest, Sha256};
use sluice_core::model::*;
use sluice_engine::ids::now_ms;
use sluice_engine::store::NewPortalLink;
use sluice_engine::{Caller, Error, SessionHolder};
use sluice_testkit::{on_both_backends, TestDb};

use crate::harness::Harness;

on_both_backends!(
    a_link_opens_one_session_once,
    links_expire_and_racing_openers_get_one_session,
    a_read_only_session_reads_and_changes_nothing,
    portal_sessions_end,
    revoking_ends_what_links_opened,
);

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).expect("fits")
}

async fn a_link_opens_one_session_once(db: TestDb) {
    let h = Harness::new(db).await;
    let other = h.other_tenant("Globex").await;
    let before = now_ms();
    let link = h.sluice.create_portal_link(&h.scope, CreatePortalLink::default()).await.expect("link");
    assert_eq!(link.tenant_id, h.tenant);
    assert!(!link.read_only);
    assert_eq!(link.session_seconds, 3600);
    let waits = link.expires_at.timestamp_millis() - before;
    assert!((299_000..=301_000).contains(&waits), "a link waits 5 minutes by default, not {waits} ms");
    let url = link.clone().into_link("https://hooks.example.com/").url;
    assert_eq!(url, format!("https://hooks.example.com/portal/{}", link.token));

    let opened = h.sluice.open_portal_link(&link.token, None).await.expect("opens");
    assert_eq!(opened.grant.tenant_id, h.tenant);
    assert_eq!(opened.grant.link_id, link.id);
    let lasts = opened.expires_at.timestamp_millis() - now_ms();
    assert!((3_590_000..=3_600_000).contains(&lasts), "the session lasts an hour, not {lasts} ms");

    let session = h.sluice.session(&opened.token).await.expect("lookup").expect("live");
    assert!(matches!(session.holder, SessionHolder::Portal(_)));
    assert!(session.user().is_none());
    let caller = session.caller();
    assert_eq!(caller, Caller::Tenant { tenant: h.tenant.clone(), actor: link.id.to_string(), read_only: false });
    assert!(caller.tenant_manage(&h.tenant).is_ok());
    assert!(matches!(caller.tenant(&other), Err(Error::NotFound { .. })), "another tenant is hidden");
    assert!(caller.platform().is_err() && caller.operator().is_err());

    // Used up: the same token again, or a made-up one, opens nothing.
    for token in [link.token.as_str(), "not-a-token", ""] {
        let again = h.sluice.open_portal_link(token, None).await.expect_err("used up");
        assert!(matches!(again, Error::Unauthorized(_)), "{again:?}");
    }
    // A portal session has no password to change.
    let change = h.sluice.change_own_password(&opened.token, "x", "a long new password".into()).await;
    assert!(matches!(change, Err(Error::Forbidden(_))), "{change:?}");

    // Out of range: refused, with the field named.
    let bad = CreatePortalLink { expires_in_seconds: Some(29), session_seconds: Some(43_201), read_only: false };
    match h.sluice.create_portal_link(&h.scope, bad).await {
        Err(Error::Validation(fields)) => {
            let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(names, ["expires_in_seconds", "session_seconds"]);
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    // Support may not hand out a tenant's access.
    let support = Caller::Support { actor: "usr_s".into() };
    assert!(matches!(support.tenant_manage(&h.tenant), Err(Error::Forbidden(_))));
}

async fn links_expire_and_racing_openers_get_one_session(db: TestDb) {
    let h = Harness::new(db).await;
    let now = now_ms();
    let link = |token: &str| NewPortalLink {
        id: sluice_engine::ids::new_id(),
        token_hash: hash(token),
        read_only: false,
        session_seconds: 600,
        created_by: "test".into(),
        created_at_ms: now,
        expires_at_ms: now + 60_000,
    };
    h.store.insert_portal_link(&h.scope, &link("late"), 100).await.expect("insert");
    let at_expiry = h.store.open_portal_link(&hash("late"), "s1", "c", now + 60_000).await.expect("open");
    assert_eq!(at_expiry, None, "expired at its expiry");
    let just_before = h.store.open_portal_link(&hash("late"), "s1", "c", now + 59_999).await.expect("open");
    let opened = just_before.expect("still open a millisecond before");
    assert_eq!(opened.expires_at_ms, now + 59_999 + 600_000, "the session lasts from the opening");

    // Two openers at once: exactly one session. (A real race on PostgreSQL; SQLite's
    // one writer connection takes them in turn, which must give the same answer.)
    h.store.insert_portal_link(&h.scope, &link("raced"), 100).await.expect("insert");
    let raced = hash("raced");
    let (a, b) = tokio::join!(
        h.store.open_portal_link(&raced, "s2", "c", now),
        h.store.open_portal_link(&raced, "s3", "c", now),
    );
    let sessions = [a.expect("a"), b.expect("b")].into_iter().flatten().count();
    assert_eq!(sessions, 1, "one link, one session");
}

async fn a_read_only_session_reads_and_changes_nothing(db: TestDb) {
    let h = Harness::new(db).await;
    let req = CreatePortalLink { read_only: true, ..Default::default() };
    let link = h.sluice.create_portal_link(&h.scope, req).await.expect("link");
    assert!(link.read_only);
    let opened = h.sluice.open_portal_link(&link.token, None).await.expect("opens");
    let caller = h.sluice.session(&opened.token).await.expect("lookup").expect("live").caller();
    let scope = caller.tenant(&h.tenant).expect("reads its tenant");
    h.sluice.list_deliveries(&scope, Default::default(), Some(10), None).await.expect("reads deliveries");
    assert!(matches!(caller.tenant_act(&h.tenant), Err(Error::Forbidden(_))), "no replay, recover or test event");
    // Nor may it make a portal link (which takes the same proof as an endpoint).
    assert!(matches!(caller.tenant_manage(&h.tenant), Err(Error::Forbidden(_))), "no endpoint, secret or link");
}

async fn portal_sessions_end(db: TestDb) {
    let h = Harness::new(db).await;
    let req = CreatePortalLink { session_seconds: Some(300), ..Default::default() };
    let link = h.sluice.create_portal_link(&h.scope, req).await.expect("link");
    let opened = h.sluice.open_portal_link(&link.token, None).await.expect("opens");
    let now = now_ms();
    let token_hash = hash(&opened.token);
    let ends = opened.expires_at.timestamp_millis();
    assert!(ends <= now + 300_000, "300 s from its opening, which was before now");
    let live = h.store.portal_session(&token_hash, ends - 1, 0).await.expect("lookup");
    assert!(live.is_some(), "live until its end");
    assert_eq!(h.store.portal_session(&token_hash, ends, 0).await.expect("lookup"), None, "expired at its end");
    // Opened at most `now`, so last seen at most `now`: idle since then.
    assert_eq!(h.store.portal_session(&token_hash, now, now).await.expect("lookup"), None, "idle");

    // Purged once expired, and the used link with it once no session needs it; a
    // live session and a link still waiting (made to outlast the purge) stay.
    let lasting = CreatePortalLink { expires_in_seconds: Some(3600), session_seconds: Some(3600), read_only: false };
    let kept = h.sluice.create_portal_link(&h.scope, lasting.clone()).await.expect("link");
    let opened_kept = h.sluice.open_portal_link(&kept.token, None).await.expect("opens");
    let waiting = h.sluice.create_portal_link(&h.scope, lasting).await.expect("link");
    let later = now + ms(Duration::from_secs(301));
    let purged = h.store.purge_portal(later, 0, later).await.expect("purge");
    assert_eq!(purged, 2, "the session, then the link");
    let kept_hash = hash(&opened_kept.token);
    assert!(h.store.portal_session(&kept_hash, later, 0).await.expect("lookup").is_some(), "a live session stays");
    h.sluice.open_portal_link(&waiting.token, None).await.expect("a waiting link stays");

    // Signing out ends a session at once.
    let link = h.sluice.create_portal_link(&h.scope, CreatePortalLink::default()).await.expect("link");
    let opened = h.sluice.open_portal_link(&link.token, None).await.expect("opens");
    assert!(h.sluice.session(&opened.token).await.expect("lookup").is_some());
    h.sluice.sign_out(&opened.token).await.expect("sign out");
    assert!(h.sluice.session(&opened.token).await.expect("lookup").is_none());

    // Opening a link in a browser that held a session ends that session (its cookie
    // is overwritten); a link that opens nothing leaves it be.
    let first = h.sluice.create_portal_link(&h.scope, CreatePortalLink::default()).await.expect("link");
    let held = h.sluice.open_portal_link(&first.token, None).await.expect("opens");
    let refused = h.sluice.open_portal_link(&first.token, Some(&held.token)).await;
    assert!(refused.is_err(), "used up");
    assert!(h.sluice.session(&held.token).await.expect("lookup").is_some(), "a refused link ends nothing");
    let second = h.sluice.create_portal_link(&h.scope, CreatePortalLink::default()).await.expect("link");
    let replacing = h.sluice.open_portal_link(&second.token, Some(&held.token)).await.expect("opens");
    assert!(h.sluice.session(&held.token).await.expect("lookup").is_none(), "the replaced session ended");
    assert!(h.sluice.session(&replacing.token).await.expect("lookup").is_some());
}

async fn revoking_ends_what_links_opened(db: TestDb) {
    let h = Harness::new(db).await;
    // A tenant key makes a link; its session lives until the key is revoked.
    let key = h.sluice.create_api_key(&h.platform, &h.tenant, CreateApiKey::default()).await.expect("key");
    let by_key = h.sluice.authenticate(&key.key).await.expect("auth").expect("a caller");
    let key_scope = by_key.tenant_manage(&h.tenant).expect("scope");
    let link = h.sluice.create_portal_link(&key_scope, Default::default()).await.expect("link");
    let waiting = h.sluice.create_portal_link(&key_scope, Default::default()).await.expect("link");
    let opened = h.sluice.open_portal_link(&link.token, None).await.expect("opens");
    // One the platform made is not the key's to take along.
    let platforms = h.sluice.create_portal_link(&h.scope, CreatePortalLink::default()).await.expect("link");
    let platforms = h.sluice.open_portal_link(&platforms.token, None).await.expect("opens");

    h.sluice.revoke_api_key(&h.platform, &key.api_key.id).await.expect("revoke");
    assert!(h.sluice.session(&opened.token).await.expect("lookup").is_none(), "the key's session ended");
    assert!(h.sluice.open_portal_link(&waiting.token, None).await.is_err(), "the key's waiting link is gone");
    assert!(h.sluice.session(&platforms.token).await.expect("lookup").is_some(), "the platform's stays");

    // Revoking all of a tenant's links ends the rest, and no other tenant's.
    let other = h.other_tenant("Globex").await;
    let theirs = h
        .sluice
        .create_portal_link(&h.platform.tenant(&other).expect("not the canary"), Default::default())
        .await
        .expect("link");
    let theirs = h.sluice.open_portal_link(&theirs.token, None).await.expect("opens");
    let revoked = h.sluice.revoke_portal_links(&h.scope).await.expect("revoke all");
    assert_eq!(revoked, 2, "the platform's session and its link");
    assert!(h.sluice.session(&platforms.token).await.expect("lookup").is_none());
    assert!(h.sluice.session(&theirs.token).await.expect("lookup").is_some(), "another tenant's stays");

    // At most so many links wait to be opened at once.
    let now = now_ms();
    for i in 0..3 {
        let link = NewPortalLink {
            id: sluice_engine::ids::new_id(),
            token_hash: hash(&format!("capped-{i}")),
            read_only: false,
            session_seconds: 600,
            created_by: "test".into(),
            created_at_ms: now,
            expires_at_ms: now + 60_000,
        };
        let inserted = h.store.insert_portal_link(&h.scope, &link, 2).await;
        match i {
            0 | 1 => inserted.expect("room"),
            _ => assert!(matches!(inserted, Err(Error::QuotaExceeded(_))), "{inserted:?}"),
        }
    }
}
