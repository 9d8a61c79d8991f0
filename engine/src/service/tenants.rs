//! Tenants: create, read, list, suspend and resume.

use sluice_core::ids::TenantId;
use sluice_core::model::{CreateTenant, Page, SuspendTenant, Tenant, DEFAULT_TIER};
use sluice_core::validate::{self, Errors};

use super::{finish_page, page_args, Caller, Platform, Sluice, TenantScope};
use crate::error::{Error, Result};

// Which tiers exist is data: the `tiers` table, seeded by a migration and edited by
// admins, is the one list; `DEFAULT_TIER` names the one a new tenant gets.

impl Sluice {
    pub async fn create_tenant(&self, platform: &Platform, req: CreateTenant) -> Result<Tenant> {
        let mut errors = Errors::default();
        errors.check(validate::name(&req.name), "name");
        let tier = req.tier.unwrap_or_else(|| DEFAULT_TIER.into());
        self.check_tier(&mut errors, &tier).await?;
        let retention_days = req.retention_days.unwrap_or(30);
        errors.check(validate::retention_days(retention_days), "retention_days");
        let backlog_cap = req.backlog_cap.unwrap_or(1_000_000);
        errors.check(validate::backlog_cap(backlog_cap), "backlog_cap");
        check_quotas(&mut errors, req.max_endpoints, req.max_api_keys);
        if let Some(n) = req.auto_disable_after_seconds {
            errors.check(validate::auto_disable_seconds(n), "auto_disable_after_seconds");
        }
        errors.into_result().map_err(Error::Validation)?;
        let tenant = Tenant {
            id: crate::ids::new_id(),
            name: req.name.trim().to_owned(),
            tier,
            retention_days,
            backlog_cap,
            max_endpoints: req.max_endpoints,
            max_api_keys: req.max_api_keys,
            auto_disable_after_seconds: req.auto_disable_after_seconds,
            receives_all_notices: req.receives_all_notices.unwrap_or(false),
            suspended_at: None,
            suspended_reason: None,
            created_at: crate::store::ms_to_dt(crate::ids::now_ms()),
            version: 1,
        };
        self.store.insert_tenant(platform, &tenant).await?;
        let detail = serde_json::json!({ "name": tenant.name, "tier": tenant.tier });
        self.audit(platform.actor(), Some(&tenant.id), "tenant.created", Some(tenant.id.as_str()), detail).await;
        Ok(tenant)
    }

    pub async fn get_tenant(&self, tenant: &TenantScope) -> Result<Tenant> {
        self.store.get_tenant(tenant).await?.ok_or_else(|| Error::not_found("tenant", tenant.id()))
    }

    pub async fn list_tenants(
        &self,
        caller: &Caller,
        limit: Option<i64>,
        cursor: Option<String>,
    ) -> Result<Page<Tenant>> {
        let page = page_args(limit, cursor)?;
        match caller {
            Caller::Platform { .. } | Caller::Support { .. } => {
                let rows = self.store.list_tenants(&caller.operator()?, &page).await?;
                Ok(finish_page(rows, &page, |t| t.id.to_string()))
            }
            // A tenant key sees exactly one tenant: its own.
            Caller::Tenant { tenant, .. } => {
                let own = self.store.get_tenant(&caller.tenant(tenant)?).await?;
                Ok(Page { data: own.into_iter().collect(), next_cursor: None })
            }
        }
    }

    /// Suspends a tenant (platform callers only): from the commit on, nothing more is
    /// queued for it (409 `tenant_suspended`; on other nodes within the second their
    /// cached view of the tenant lives) and the dispatchers leave its endpoints out, so
    /// only requests already on their way finish. What waits stays queued. Suspending
    /// a suspended tenant changes nothing.
    pub async fn suspend_tenant(&self, platform: &Platform, id: &TenantId, req: SuspendTenant) -> Result<Tenant> {
        let reason = req.reason.unwrap_or_else(|| format!("suspended by {}", platform.actor()));
        validate::description(&reason).map_err(|e| Error::invalid("reason", e))?;
        let tenant = self.get_tenant(&*platform.tenant(id)?).await?;
        if tenant.suspended_at.is_some() {
            return Ok(tenant);
        }
        let mut next = tenant.clone();
        next.suspended_at = Some(crate::store::ms_to_dt(crate::ids::now_ms()));
        next.suspended_reason = Some(reason.clone());
        let saved = self.save_tenant(platform, next).await?;
        let detail = serde_json::json!({ "reason": reason });
        self.audit(platform.actor(), Some(id), "tenant.suspended", Some(id.as_str()), detail).await;
        Ok(saved)
    }

    /// Resumes a suspended tenant: it may publish again, and what waited is delivered,
    /// oldest first, as the dispatchers reach it. Resuming an active tenant changes
    /// nothing.
    pub async fn resume_tenant(&self, platform: &Platform, id: &TenantId) -> Result<Tenant> {
        let tenant = self.get_tenant(&*platform.tenant(id)?).await?;
        if tenant.suspended_at.is_none() {
            return Ok(tenant);
        }
        // Its endpoints start a fresh auto-disable period: while suspended nothing was
        // sent, so a streak begun before would otherwise count the pause as failing
        // and disable an endpoint at its first failure after the resume. Ended while
        // still suspended, so no failure recorded after the resume is lost.
        self.store.end_tenant_streaks(&*platform.tenant(id)?).await?;
        let mut next = tenant.clone();
        next.suspended_at = None;
        next.suspended_reason = None;
        let saved = self.save_tenant(platform, next).await?;
        self.audit(platform.actor(), Some(id), "tenant.resumed", Some(id.as_str()), serde_json::json!({})).await;
        self.wake.notify_one();
        Ok(saved)
    }

    /// Writes a tenant read at `next.version`, or 412 when it changed since.
    pub(super) async fn save_tenant(&self, platform: &Platform, mut next: Tenant) -> Result<Tenant> {
        if !self.store.update_tenant(platform, &next, next.version).await? {
            let current = self.get_tenant(&*platform.tenant(&next.id)?).await?;
            return Err(Error::PreconditionFailed { current: current.version });
        }
        next.version += 1;
        // Its backlog cap, quotas or suspension may have changed.
        self.forget_tenant_facts(&next.id);
        Ok(next)
    }

    /// Adds a field error unless a tier of that name exists.
    pub(super) async fn check_tier(&self, errors: &mut Errors, tier: &str) -> Result<()> {
        if self.store.tier(tier).await?.is_none() {
            let names: Vec<String> = self.store.tiers().await?.into_iter().map(|t| t.name).collect();
            errors.add("tier", format!("must be one of {}", names.join(", ")));
        }
        Ok(())
    }
}

/// Field errors for per-tenant quotas that are out of range.
pub(super) fn check_quotas(errors: &mut Errors, endpoints: Option<u32>, api_keys: Option<u32>) {
    if let Some(n) = endpoints {
        errors.check(validate::quota(n, validate::MAX_ENDPOINTS_QUOTA), "max_endpoints");
    }
    if let Some(n) = api_keys {
        errors.check(validate::quota(n, validate::MAX_API_KEYS_QUOTA), "max_api_keys");
    }
}
