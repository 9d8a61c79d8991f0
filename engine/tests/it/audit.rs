//! The audit trail, as a careful admin checks it after an incident: every
//! security-relevant action is there with its actor, tenant and client address; a
//! tenant reads only its own; message retention does not delete it; on both backends.

use std::net::IpAddr;

use sluice_core::model::*;
use sluice_engine::ids::now_ms;
use sluice_engine::service::with_origin;
use sluice_engine::store::AuditFilter;
use sluice_engine::{AuditReach, ClientOrigin};
use sluice_testkit::{on_both_backends, TestDb};

use crate::harness::Harness;

on_both_backends!(security_actions_are_recorded_and_read_by_whom_they_concern);

async fn security_actions_are_recorded_and_read_by_whom_they_concern(db: TestDb) {
    let h = Harness::new(db).await;
    let office = ClientOrigin { ip: Some(IpAddr::from([198, 51, 100, 7])), https: true };
    let ep = h.endpoint("https://example.com/hook", None).await;
    let pat = with_origin(office, async {
        let req = CreateUser {
            email: "pat@acme.test".into(),
            password: "correct horse battery".into(),
            role: Role::Partner,
            tenant_id: Some(h.tenant.clone()),
        };
        let pat = h.sluice.create_user(&h.platform, req).await.expect("user");
        let _ = h.sluice.sign_in("pat@acme.test", "a wrong guess", Some(office.ip.expect("ip"))).await;
        h.sluice.sign_in("pat@acme.test", "correct horse battery", Some(office.ip.expect("ip"))).await.expect("in");
        h.sluice.endpoint_secrets(&h.scope, &ep.id).await.expect("reveal");
        let key = h.sluice.create_api_key(&h.platform, &h.tenant, CreateApiKey::default()).await.expect("key");
        h.sluice.revoke_api_key(&h.platform, &key.api_key.id).await.expect("revoke");
        let disable = PatchUser { disabled: Some(true), ..Default::default() };
        h.sluice.update_user(&h.platform, &pat.id, None, disable).await.expect("disable");
        let quota = PatchTenant { max_endpoints: Some(Some(7)), ..Default::default() };
        h.sluice.patch_tenant(&h.platform, &h.tenant, None, quota).await.expect("quota");
        pat
    })
    .await;

    let all = h.sluice.list_audit_events(AuditReach::All(&h.platform), AuditFilter::default(), Some(250), None);
    let all = all.await.expect("audit").data;
    let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
    for expected in [
        "endpoint.created",
        "user.created",
        "session.sign_in_failed",
        "session.signed_in",
        "secret.revealed",
        "api_key.created",
        "api_key.revoked",
        "user.updated",
        "tenant.updated",
    ] {
        assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
    }
    let newest_first = all.windows(2).all(|w| w[0].id > w[1].id);
    assert!(newest_first, "newest first");
    let disabled = all.iter().find(|e| e.action == "user.updated").expect("user.updated");
    assert_eq!(disabled.target.as_deref(), Some(pat.id.as_str()));
    assert_eq!(disabled.actor, h.platform.actor());
    assert_eq!(disabled.client_ip.as_deref(), Some("198.51.100.7"), "the client's address, from the request");
    assert_eq!(disabled.detail["disabled"], true);
    let failed = all.iter().find(|e| e.action == "session.sign_in_failed").expect("failure");
    assert_eq!(failed.actor, "pat@acme.test", "a failed sign-in names the email tried");

    // Filters: a subject finds its actions; an actor finds theirs.
    let users = AuditFilter { action: Some("user".into()), ..Default::default() };
    let users = h.sluice.list_audit_events(AuditReach::All(&h.platform), users, None, None).await.expect("audit");
    assert!(users.data.iter().all(|e| e.action.starts_with("user.")) && users.data.len() == 2, "{:?}", users.data);

    // A tenant reads its own entries, never another's or the platform's.
    let other = h.sluice.create_tenant(&h.platform, CreateTenant { name: "Other".into(), ..Default::default() });
    let other = other.await.expect("tenant").id;
    h.endpoint_for(&other, "https://example.com/other", None).await;
    let mine = h.sluice.list_audit_events(AuditReach::Tenant(&h.scope), AuditFilter::default(), Some(250), None);
    let mine = mine.await.expect("audit").data;
    assert!(!mine.is_empty() && mine.iter().all(|e| e.tenant_id.as_ref() == Some(&h.tenant)), "{mine:?}");
    let sneaky = AuditFilter { tenant: Some(other.clone()), ..Default::default() };
    let sneaky = h.sluice.list_audit_events(AuditReach::Tenant(&h.scope), sneaky, None, None).await.expect("audit");
    assert!(sneaky.data.iter().all(|e| e.tenant_id.as_ref() == Some(&h.tenant)), "the filter cannot widen a reach");

    // Message retention, years on, leaves the trail; the trail's own retention purges it.
    let years = 3 * 365 * 24 * 3600 * 1000_i64;
    h.sluice.purge_expired(&h.platform, now_ms() + years).await.expect("retention purge");
    let kept = h.sluice.list_audit_events(AuditReach::All(&h.platform), AuditFilter::default(), Some(250), None);
    assert_eq!(kept.await.expect("audit").data.len(), all.len() + 2, "tenant retention does not touch the trail");
    let purged = h.sluice.purge_audit(&h.platform, now_ms() + years).await.expect("audit purge");
    assert!(purged >= all.len() as u64);
}
