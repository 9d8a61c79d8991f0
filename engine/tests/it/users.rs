//! Dashboard users and sessions: roles map to the right caller, sign-in is throttled,
//! sessions end, and support cannot touch secrets; on both backends.

use sluice_core::model::*;
use sluice_engine::ids::now_ms;
use sluice_engine::store::NewSession;
use sluice_engine::{Caller, Error};
use sluice_testkit::{on_both_backends, TestDb};

use crate::harness::Harness;

on_both_backends!(bootstrap_admin_and_sessions, roles_reach_what_they_should, sign_in_is_throttled);

fn user(email: &str, role: Role, tenant: Option<sluice_core::ids::TenantId>) -> CreateUser {
    CreateUser { email: email.into(), password: "correct horse battery".into(), role, tenant_id: tenant }
}

async fn bootstrap_admin_and_sessions(db: TestDb) {
    let h = Harness::new(db).await;
    let password = h.sluice.ensure_bootstrap_admin("Admin@Example.com", None).await.expect("bootstrap");
    let password = password.expect("a generated password is returned once");
    assert!(password.len() >= 16);
    assert_eq!(h.sluice.ensure_bootstrap_admin("other@example.com", Some("whatever-long")).await.expect("again"), None);

    let wrong = h.sluice.sign_in("admin@example.com", "not it").await.expect_err("wrong password");
    assert!(matches!(wrong, Error::Unauthorized(_)), "{wrong:?}");
    let unknown = h.sluice.sign_in("nobody@example.com", &password).await.expect_err("unknown email");
    assert!(matches!(unknown, Error::Unauthorized(_)), "{unknown:?}");

    // Emails are case-insensitive.
    let signed = h.sluice.sign_in(" ADMIN@example.com", &password).await.expect("sign in");
    assert_eq!(signed.user.email, "admin@example.com");
    let session = h.sluice.session(&signed.token).await.expect("lookup").expect("live session");
    assert_eq!(session.user.role, Role::Admin);
    assert_eq!(session.csrf_token, signed.csrf_token);
    assert!(matches!(session.caller(), Caller::Platform { .. }));
    assert_eq!(h.sluice.session("made-up-token").await.expect("lookup"), None);

    h.sluice.sign_out(&signed.token).await.expect("sign out");
    assert_eq!(h.sluice.session(&signed.token).await.expect("lookup"), None, "signed out");

    // An expired session is no session.
    h.store
        .insert_session(&NewSession {
            token_hash: sluice_engine::service::hash_api_key("expired-token"),
            user_id: signed.user.id.clone(),
            csrf_token: "x".into(),
            created_at_ms: now_ms() - 20_000,
            expires_at_ms: now_ms() - 10_000,
        })
        .await
        .expect("insert");
    assert_eq!(h.sluice.session("expired-token").await.expect("lookup"), None);
}

async fn roles_reach_what_they_should(db: TestDb) {
    let h = Harness::new(db).await;
    let other = h.sluice.create_tenant(&h.platform, CreateTenant { name: "Other".into(), ..Default::default() }).await;
    let other = other.expect("tenant").id;
    let theirs = h.endpoint_for(&other, "https://example.com/theirs", None).await;
    h.endpoint("https://example.com/mine", None).await;

    let partner = h.sluice.create_user(&h.platform, user("p@acme.test", Role::Partner, Some(h.tenant.clone()))).await;
    assert_eq!(partner.expect("partner").tenant_id.as_ref(), Some(&h.tenant));
    h.sluice.create_user(&h.platform, user("s@ops.test", Role::Support, None)).await.expect("support");

    let invalid = h.sluice.create_user(&h.platform, user("no-tenant@acme.test", Role::Partner, None)).await;
    assert!(matches!(invalid, Err(Error::Validation(ref f)) if f[0].field == "tenant_id"), "{invalid:?}");
    let short = CreateUser { password: "short".into(), ..user("x@acme.test", Role::Support, None) };
    assert!(matches!(h.sluice.create_user(&h.platform, short).await, Err(Error::Validation(_))));
    let taken = h.sluice.create_user(&h.platform, user("P@acme.test", Role::Support, None)).await;
    assert!(matches!(taken, Err(Error::Conflict(_))), "{taken:?}");

    let partner = h.sluice.sign_in("p@acme.test", "correct horse battery").await.expect("partner signs in");
    let partner = h.sluice.session(&partner.token).await.expect("lookup").expect("session").caller();
    assert_eq!(partner, Caller::Tenant { tenant: h.tenant.clone(), actor: partner.actor().to_owned() });
    let own = partner.tenant(&h.tenant).expect("own tenant");
    assert_eq!(h.sluice.list_endpoints(&own, None, None).await.expect("own").data.len(), 1);
    let sneaky = partner.tenant(&other).expect_err("another tenant");
    assert!(matches!(sneaky, Error::NotFound { .. }), "{sneaky:?}");
    let escalate = partner.platform().expect_err("creating users is the platform's");
    assert!(matches!(escalate, Error::Forbidden(_)), "{escalate:?}");

    let support = h.sluice.sign_in("s@ops.test", "correct horse battery").await.expect("support signs in");
    let support = h.sluice.session(&support.token).await.expect("lookup").expect("session").caller();
    assert!(matches!(support, Caller::Support { .. }));
    assert_eq!(h.sluice.list_tenants(&support, None, None).await.expect("all tenants").data.len(), 2);
    let theirs_via_support = support.tenant(&other).expect("support reads any tenant");
    h.sluice.get_endpoint(&theirs_via_support, &theirs.id).await.expect("support reads any endpoint");
    let secret = support.tenant_secrets(&other).expect_err("no secrets or rotation");
    assert!(matches!(secret, Error::Forbidden(_)), "{secret:?}");
    let users = support.platform().expect_err("users are for admins");
    assert!(matches!(users, Error::Forbidden(_)));
    assert_eq!(h.sluice.list_users(&h.platform, None, None).await.expect("admin lists").data.len(), 2);
}

async fn sign_in_is_throttled(db: TestDb) {
    let h = Harness::new(db).await;
    h.sluice.create_user(&h.platform, user("p@acme.test", Role::Support, None)).await.expect("user");
    for _ in 0..5 {
        let e = h.sluice.sign_in("p@acme.test", "guess").await.expect_err("wrong");
        assert!(matches!(e, Error::Unauthorized(_)), "{e:?}");
    }
    let locked = h.sluice.sign_in("p@acme.test", "correct horse battery").await.expect_err("locked");
    assert!(matches!(locked, Error::RateLimited { retry_after_seconds } if retry_after_seconds > 0), "{locked:?}");
    // Another account is not locked by this one's failures.
    h.sluice.create_user(&h.platform, user("q@acme.test", Role::Support, None)).await.expect("user");
    h.sluice.sign_in("q@acme.test", "correct horse battery").await.expect("unaffected");
}
