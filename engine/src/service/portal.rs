//! Portal links: a platform (or the tenant itself) asks for a one-time URL that signs
//! its opener into the dashboard as the tenant's partner, maybe only to look. This is
//! how a platform puts webhook self-service inside its own product without giving
//! every customer a password.
//!
//! The link's token is shown once and kept only as a hash. Opening it is a separate,
//! deliberate step (a button on the page the URL shows): a chat preview or a mail
//! scanner that fetches the URL does not use it up. Opening uses it up and opens the
//! session in one transaction, so two browsers racing for one link get one session.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sluice_core::ids::{PortalLinkId, TenantId};
use sluice_core::model::{CreatePortalLink, PortalLink};
use sluice_core::validate::Errors;

use super::sign_in::{random_token, token_hash};
use super::{ManageScope, Sluice};
use crate::error::{Error, Result};
use crate::ids::{duration_ms as ms, now_ms};
use crate::store::{ms_to_dt, NewPortalLink, PortalGrant};

/// What starts a portal session's cookie token; a user session's token (base64url)
/// never holds a dot, so the lookup knows which table to read.
const PORTAL_TOKEN_PREFIX: &str = "p.";
/// How long a link waits to be opened when the request does not say.
const LINK_WAITS: Duration = Duration::from_secs(300);
const LINK_WAITS_RANGE: std::ops::RangeInclusive<u32> = 30..=3600;
/// How long the session lasts when the request does not say.
const SESSION_LASTS: Duration = Duration::from_secs(3600);
const SESSION_RANGE: std::ops::RangeInclusive<u32> = 300..=43_200;
/// How many links a tenant may have waiting to be opened at once.
const MAX_WAITING_LINKS: i64 = 100;
/// How long a used or expired link is kept (for the audit trail's sake it is named
/// there too) before the purge removes it: longer than any session it opened.
pub(crate) const USED_LINKS_KEPT: Duration = Duration::from_secs(13 * 3600);

pub(crate) fn is_portal_token(token: &str) -> bool {
    token.starts_with(PORTAL_TOKEN_PREFIX)
}

/// A link just made: its token is here and nowhere else.
#[derive(Debug, Clone)]
pub struct IssuedPortalLink {
    pub id: PortalLinkId,
    pub tenant_id: TenantId,
    pub token: String,
    pub read_only: bool,
    pub expires_at: DateTime<Utc>,
    pub session_seconds: u32,
}

impl IssuedPortalLink {
    /// The answer to give, with the URL under `base` (scheme and host, no slash at
    /// the end) that shows the page to open it from.
    pub fn into_link(self, base: &str) -> PortalLink {
        PortalLink {
            url: format!("{}/portal/{}", base.trim_end_matches('/'), self.token),
            id: self.id,
            tenant_id: self.tenant_id,
            read_only: self.read_only,
            expires_at: self.expires_at,
            session_seconds: self.session_seconds,
        }
    }
}

/// A portal session just opened: the token goes into the cookie and nowhere else.
#[derive(Debug, Clone)]
pub struct OpenedPortalSession {
    pub token: String,
    pub csrf_token: String,
    pub grant: PortalGrant,
    pub expires_at: DateTime<Utc>,
}

fn within(
    value: Option<u32>,
    default: Duration,
    range: std::ops::RangeInclusive<u32>,
    field: &str,
    errors: &mut Errors,
) -> u32 {
    let fallback = u32::try_from(default.as_secs()).unwrap_or(*range.start());
    let value = value.unwrap_or(fallback);
    if !range.contains(&value) {
        errors.add(field, format!("must be {} to {} seconds", range.start(), range.end()));
    }
    value
}

impl Sluice {
    /// Makes a one-time link into the dashboard as `tenant`'s partner. The tenant and
    /// the platform may; support may not (it could otherwise hand out a tenant's
    /// access). A read-only link opens a session that changes nothing.
    pub async fn create_portal_link(&self, tenant: &ManageScope, req: CreatePortalLink) -> Result<IssuedPortalLink> {
        let mut errors = Errors::default();
        let waits = within(req.expires_in_seconds, LINK_WAITS, LINK_WAITS_RANGE, "expires_in_seconds", &mut errors);
        let session_seconds = within(req.session_seconds, SESSION_LASTS, SESSION_RANGE, "session_seconds", &mut errors);
        errors.into_result().map_err(Error::Validation)?;
        self.get_tenant(tenant).await?;
        let now = now_ms();
        let token = random_token();
        let link = NewPortalLink {
            id: crate::ids::new_id(),
            token_hash: token_hash(&token),
            read_only: req.read_only,
            session_seconds,
            created_by: tenant.actor().to_owned(),
            created_at_ms: now,
            expires_at_ms: now + ms(Duration::from_secs(waits.into())),
        };
        self.store.insert_portal_link(tenant, &link, MAX_WAITING_LINKS).await?;
        let detail = serde_json::json!({ "read_only": link.read_only, "session_seconds": session_seconds });
        self.audit(tenant.actor(), Some(tenant.id()), "portal_link.created", Some(link.id.as_str()), detail).await;
        Ok(IssuedPortalLink {
            id: link.id,
            tenant_id: tenant.id().clone(),
            token,
            read_only: link.read_only,
            expires_at: ms_to_dt(link.expires_at_ms),
            session_seconds,
        })
    }

    /// Revokes every portal link of the tenant and ends every session they opened, at
    /// once on every node (sessions live in the database). Returns how many rows went.
    pub async fn revoke_portal_links(&self, tenant: &ManageScope) -> Result<u64> {
        self.get_tenant(tenant).await?;
        let revoked = self.store.revoke_portal_links_of(tenant).await?;
        let detail = serde_json::json!({ "rows": revoked });
        self.audit(tenant.actor(), Some(tenant.id()), "portal_link.revoked_all", Some(tenant.id().as_str()), detail)
            .await;
        Ok(revoked)
    }

    /// Uses a link up and opens its session. An unknown, used or expired link gets
    /// the same answer: which of them it is, is nobody's business.
    /// The audit entry records the client's address, as every entry does.
    ///
    /// `replacing` is the session token the browser held until now, if any: its
    /// cookie is about to be overwritten, so that session ends here. A user who opened
    /// someone's link is not left signed in where nobody sees it.
    pub async fn open_portal_link(&self, token: &str, replacing: Option<&str>) -> Result<OpenedPortalSession> {
        let refused = || Error::Unauthorized("this link has expired or has been used; ask for a new one".into());
        if token.is_empty() || token.len() > 128 {
            return Err(refused());
        }
        let session_token = format!("{PORTAL_TOKEN_PREFIX}{}", random_token());
        let csrf_token = random_token();
        let opened = self
            .store
            .open_portal_link(&token_hash(token), &token_hash(&session_token), &csrf_token, now_ms())
            .await?
            .ok_or_else(refused)?;
        let grant = opened.grant;
        let detail = serde_json::json!({ "read_only": grant.read_only });
        let link = grant.link_id.as_str();
        self.audit(link, Some(&grant.tenant_id), "portal_link.opened", Some(link), detail).await;
        if let Some(previous) = replacing {
            self.sign_out(previous).await?;
        }
        Ok(OpenedPortalSession { token: session_token, csrf_token, grant, expires_at: ms_to_dt(opened.expires_at_ms) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_tokens_are_told_from_user_tokens_by_their_prefix() {
        // A user session's token is base64url: it can never start with the prefix.
        for _ in 0..64 {
            assert!(!is_portal_token(&random_token()));
        }
        assert!(is_portal_token(&format!("{PORTAL_TOKEN_PREFIX}{}", random_token())));
    }

    #[test]
    fn durations_default_and_are_bounded() {
        let mut errors = Errors::default();
        assert_eq!(within(None, LINK_WAITS, LINK_WAITS_RANGE, "a", &mut errors), 300);
        assert_eq!(within(Some(3600), LINK_WAITS, LINK_WAITS_RANGE, "a", &mut errors), 3600);
        assert!(errors.into_result().is_ok());
        let mut errors = Errors::default();
        within(Some(29), LINK_WAITS, LINK_WAITS_RANGE, "a", &mut errors);
        within(Some(43_201), SESSION_LASTS, SESSION_RANGE, "b", &mut errors);
        assert_eq!(errors.into_result().map_err(|e| e.len()), Err(2));
    }
}
