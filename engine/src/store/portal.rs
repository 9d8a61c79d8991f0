//! Portal links and the dashboard sessions they open: [`PortalStore`] and its records.

use async_trait::async_trait;
use sluice_core::ids::{PortalLinkId, TenantId};

use crate::access::TenantScope;
use crate::error::Result;

/// A portal link to keep: the hash of its token, never the token.
#[derive(Debug, Clone)]
pub struct NewPortalLink {
    pub id: PortalLinkId,
    pub token_hash: String,
    pub read_only: bool,
    pub session_seconds: u32,
    pub created_by: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

/// What a portal session may reach: one tenant, maybe only to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalGrant {
    pub link_id: PortalLinkId,
    pub tenant_id: TenantId,
    pub read_only: bool,
}

/// A portal session opened by a link: what it may reach and when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedPortal {
    pub grant: PortalGrant,
    pub expires_at_ms: i64,
}

/// A live portal session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPortalSession {
    pub grant: PortalGrant,
    pub csrf_token: String,
    pub last_seen_ms: i64,
}

#[async_trait]
pub trait PortalStore: Send + Sync {
    /// Keeps a new link, unless the tenant already has `max_waiting` links waiting to
    /// be opened (`QuotaExceeded`): a leaked key cannot fill the table.
    async fn insert_portal_link(&self, tenant: &TenantScope, link: &NewPortalLink, max_waiting: i64) -> Result<()>;
    /// Ends every session opened by a link `created_by` made and removes those links,
    /// opened or not: their maker's access is gone (a revoked API key). How many rows.
    async fn revoke_portal_links_by(&self, created_by: &str) -> Result<u64>;
    /// The same for every link of the tenant.
    async fn revoke_portal_links_of(&self, tenant: &TenantScope) -> Result<u64>;
    /// Uses the link up and opens its session, in one transaction: only if the link
    /// exists, is unused and has not expired at `now_ms`. Of two openings racing, one
    /// gets the session and the other `None`, as does every later one.
    async fn open_portal_link(
        &self,
        link_token_hash: &str,
        session_token_hash: &str,
        csrf_token: &str,
        now_ms: i64,
    ) -> Result<Option<OpenedPortal>>;
    /// The session, if it has not expired at `now_ms` and was last seen after
    /// `idle_floor_ms`.
    async fn portal_session(
        &self,
        token_hash: &str,
        now_ms: i64,
        idle_floor_ms: i64,
    ) -> Result<Option<StoredPortalSession>>;
    async fn touch_portal_session(&self, token_hash: &str, now_ms: i64) -> Result<()>;
    async fn delete_portal_session(&self, token_hash: &str) -> Result<()>;
    /// Deletes expired and idle portal sessions, then links that expired before
    /// `links_before_ms` and no session refers to; returns how many rows of both.
    async fn purge_portal(&self, now_ms: i64, idle_floor_ms: i64, links_before_ms: i64) -> Result<u64>;
}
