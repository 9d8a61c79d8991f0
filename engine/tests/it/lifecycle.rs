//! User lifecycle, as a departing support engineer or a careless admin would test it:
//! disabling, re-roling and re-passwording end sessions at once; idle sessions end;
//! the last admin stays; stale sessions and throttle rows are purged; on both backends.

use std::time::Duration;

use sluice_core::model::*;
use sluice_engine::ids::now_ms;
use sluice_engine::service::{hash_api_key, SESSION_IDLE};
use sluice_engine::store::NewSession;
use sluice_engine::{Caller, Error};
use sluice_testkit::{on_both_backends, TestDb};

use crate::harness::Harness;

on_both_backends!(
    disabling_a_user_ends_their_sessions_at_once,
    a_new_role_ends_the_old_sessions,
    the_last_admin_cannot_be_removed,
    passwords_are_reset_and_changed,
    idle_and_expired_sessions_end_and_are_purged,
);

const PASSWORD: &str = "correct horse battery";

fn user(email: &str, role: Role, tenant: Option<sluice_core::ids::TenantId>) -> CreateUser {
    CreateUser { email: email.into(), password: PASSWORD.into(), role, tenant_id: tenant }
}

async fn disabling_a_user_ends_their_sessions_at_once(db: TestDb) {
    let h = Harness::new(db).await;
    let sue = h.sluice.create_user(&h.platform, user("sue@ops.test", Role::Support, None)).await.expect("user");
    let signed = h.sluice.sign_in("sue@ops.test", PASSWORD, None).await.expect("signs in");
    assert!(h.sluice.session(&signed.token).await.expect("session").is_some());

    let disabled = PatchUser { disabled: Some(true), ..Default::default() };
    let sue = h.sluice.update_user(&h.platform, &sue.id, None, disabled).await.expect("disable");
    assert!(sue.disabled_at.is_some());
    assert_eq!(h.sluice.session(&signed.token).await.expect("session"), None, "the open session ends at once");
    let refused = h.sluice.sign_in("sue@ops.test", PASSWORD, None).await.expect_err("disabled");
    assert!(matches!(refused, Error::Unauthorized(_)), "told what a wrong password is told: {refused:?}");

    let enabled = PatchUser { disabled: Some(false), ..Default::default() };
    h.sluice.update_user(&h.platform, &sue.id, None, enabled).await.expect("enable");
    h.sluice.sign_in("sue@ops.test", PASSWORD, None).await.expect("signs in again");
}

async fn a_new_role_ends_the_old_sessions(db: TestDb) {
    let h = Harness::new(db).await;
    let sue = h.sluice.create_user(&h.platform, user("sue@ops.test", Role::Support, None)).await.expect("user");
    let signed = h.sluice.sign_in("sue@ops.test", PASSWORD, None).await.expect("signs in");

    let invalid = PatchUser { role: Some(Role::Partner), ..Default::default() };
    let refused =
        h.sluice.update_user(&h.platform, &sue.id, None, invalid).await.expect_err("a partner needs a tenant");
    assert!(matches!(refused, Error::Validation(_)), "{refused:?}");
    assert!(h.sluice.session(&signed.token).await.expect("session").is_some(), "a refused change ends nothing");

    let partner = PatchUser { role: Some(Role::Partner), tenant_id: Some(h.tenant.clone()), ..Default::default() };
    h.sluice.update_user(&h.platform, &sue.id, None, partner).await.expect("now a partner");
    assert_eq!(h.sluice.session(&signed.token).await.expect("session"), None);
    let again = h.sluice.sign_in("sue@ops.test", PASSWORD, None).await.expect("signs in");
    let session = h.sluice.session(&again.token).await.expect("session").expect("live");
    assert!(matches!(session.caller(), Caller::Tenant { ref tenant, .. } if tenant == &h.tenant));
    let gone = h.sluice.update_user(&h.platform, &sluice_engine::ids::new_id(), None, PatchUser::default()).await;
    assert!(matches!(gone, Err(Error::NotFound { .. })), "{gone:?}");
}

async fn the_last_admin_cannot_be_removed(db: TestDb) {
    let h = Harness::new(db).await;
    h.sluice.ensure_bootstrap_admin("root@ops.test", Some(PASSWORD)).await.expect("admin");
    let root = h.sluice.list_users(&h.platform, None, None).await.expect("users").data.remove(0);
    let disable = PatchUser { disabled: Some(true), ..Default::default() };
    let refused = h.sluice.update_user(&h.platform, &root.id, None, disable.clone()).await.expect_err("last admin");
    assert!(matches!(refused, Error::Conflict(_)), "{refused:?}");
    let demote = PatchUser { role: Some(Role::Support), ..Default::default() };
    assert!(matches!(h.sluice.update_user(&h.platform, &root.id, None, demote).await, Err(Error::Conflict(_))));
    assert!(matches!(h.sluice.delete_user(&h.platform, &root.id, None).await, Err(Error::Conflict(_))));
    h.sluice.sign_in("root@ops.test", PASSWORD, None).await.expect("still there, still enabled");

    let second = h.sluice.create_user(&h.platform, user("two@ops.test", Role::Admin, None)).await.expect("admin");
    h.sluice.update_user(&h.platform, &root.id, None, disable).await.expect("no longer the last");
    h.sluice.delete_user(&h.platform, &root.id, None).await.expect("deleted");
    assert!(matches!(h.sluice.delete_user(&h.platform, &second.id, None).await, Err(Error::Conflict(_))));
}

async fn passwords_are_reset_and_changed(db: TestDb) {
    let h = Harness::new(db).await;
    let pat = h.sluice.create_user(&h.platform, user("pat@acme.test", Role::Partner, Some(h.tenant.clone()))).await;
    let pat = pat.expect("user");
    let laptop = h.sluice.sign_in("pat@acme.test", PASSWORD, None).await.expect("laptop");
    let phone = h.sluice.sign_in("pat@acme.test", PASSWORD, None).await.expect("phone");

    // Changing your own: the current password is proven, other sessions end.
    let wrong = h.sluice.change_own_password(&laptop.token, "not it at all", "a brand new password".into()).await;
    assert!(matches!(wrong, Err(Error::Validation(ref f)) if f[0].field == "current_password"), "{wrong:?}");
    let short = h.sluice.change_own_password(&laptop.token, PASSWORD, "short".into()).await;
    assert!(matches!(short, Err(Error::Validation(_))), "{short:?}");
    h.sluice.change_own_password(&laptop.token, PASSWORD, "a brand new password".into()).await.expect("changed");
    assert!(h.sluice.session(&laptop.token).await.expect("session").is_some(), "the session that changed it stays");
    assert_eq!(h.sluice.session(&phone.token).await.expect("session"), None, "the others end");
    assert!(h.sluice.sign_in("pat@acme.test", PASSWORD, None).await.is_err());

    // An admin resets it: every session ends.
    h.sluice.reset_password(&h.platform, &pat.id, "set by the admin".into()).await.expect("reset");
    assert_eq!(h.sluice.session(&laptop.token).await.expect("session"), None);
    h.sluice.sign_in("pat@acme.test", "set by the admin", None).await.expect("the new one works");
}

async fn idle_and_expired_sessions_end_and_are_purged(db: TestDb) {
    let h = Harness::new(db).await;
    let sue = h.sluice.create_user(&h.platform, user("sue@ops.test", Role::Support, None)).await.expect("user");
    let now = now_ms();
    let idle_ms = i64::try_from(SESSION_IDLE.as_millis()).expect("ms");
    let session = |token: &str, created_at_ms: i64, expires_at_ms: i64| NewSession {
        token_hash: hash_api_key(token),
        user_id: sue.id.clone(),
        csrf_token: "x".into(),
        created_at_ms,
        expires_at_ms,
    };
    h.store.insert_session(&session("idle", now - idle_ms - 1_000, now + 3_600_000)).await.expect("insert");
    h.store.insert_session(&session("recent", now - idle_ms + 60_000, now + 3_600_000)).await.expect("insert");
    assert_eq!(h.sluice.session("idle").await.expect("session"), None, "unused for longer than the idle timeout");
    assert!(h.sluice.session("recent").await.expect("session").is_some());
    // Using it moved its idle clock: it outlives the idle timeout counted from its start.
    let later = now + 120_000;
    let live = h.store.session(&hash_api_key("recent"), later, later - idle_ms).await.expect("session");
    assert!(live.is_some(), "a session in use stays");

    let purged = h.sluice.purge_stale_sign_ins(&h.platform, now).await.expect("purge");
    assert_eq!(purged.0, 1, "the idle session is deleted, the live one kept");
    let _ = h.sluice.sign_in("sue@ops.test", "wrong guess", None).await;
    let a_day_later = now + Duration::from_secs(24 * 3600).as_millis() as i64;
    let purged = h.sluice.purge_stale_sign_ins(&h.platform, a_day_later).await.expect("purge");
    assert!(purged.1 >= 2, "the stranger's counts go once their window is over: {purged:?}");
}
