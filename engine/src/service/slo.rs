//! SLOs: tiers and their targets, and the tenant overview measured against them.

use sluice_core::ids::TenantId;
use sluice_core::model::{
    ErrorClassCount, LatencyPoint, PatchTenant, SloWindow, Tenant, TenantOverview, Tier, UpdateTier,
};
use sluice_core::slo::{attainment, budget_remaining, percentile};
use sluice_core::validate::{self, Errors};

use super::{Platform, Reach, Sluice, TenantScope};
use crate::error::{Error, Result};
use crate::store::{ms_to_dt, SloHour};

const HOUR_MS: i64 = 3_600_000;

/// The windows the overview reports, as (label, hours).
const WINDOWS: [(&str, i64); 3] = [("24 h", 24), ("7 d", 24 * 7), ("30 d", 24 * 30)];

impl Sluice {
    /// Every tier and its targets. Readable by anyone signed in: a partner sees the
    /// promise they are measured against.
    pub async fn list_tiers(&self) -> Result<Vec<Tier>> {
        self.store.tiers().await
    }

    /// One tier, to anyone signed in, like the list.
    pub async fn get_tier(&self, name: &str) -> Result<Tier> {
        self.store.tier(name).await?.ok_or_else(|| Error::not_found("tier", name))
    }

    /// The tiers, for changing their targets: platform callers only, so the admin page
    /// refuses others before showing forms they could not use.
    pub async fn tiers_to_manage(&self, _platform: &Platform) -> Result<Vec<Tier>> {
        self.store.tiers().await
    }

    /// Changes a tier's targets (platform callers only). Applies to every tenant on it,
    /// over past windows too: the overview measures history against today's target.
    /// Changes a tier's targets. `if_match` is the version the caller last saw (412
    /// when it changed since).
    pub async fn update_tier(
        &self,
        platform: &Platform,
        name: &str,
        if_match: Option<i64>,
        req: UpdateTier,
    ) -> Result<Tier> {
        let mut tier = self.store.tier(name).await?.ok_or_else(|| Error::not_found("tier", name))?;
        Error::require_version(if_match, tier.version)?;
        let mut errors = Errors::default();
        if let Some(t) = req.success_target {
            // Below 50 % is not a promise; 100 % leaves no error budget to measure.
            if !(0.5..1.0).contains(&t) {
                errors.add("success_target", "must be at least 0.5 and below 1 (e.g. 0.999)");
            }
            tier.success_target = t;
        }
        if let Some(ms) = req.latency_target_ms {
            if !(1_000..=86_400_000).contains(&ms) {
                errors.add("latency_target_ms", "must be between 1000 (1 s) and 86400000 (24 h)");
            }
            tier.latency_target_ms = ms;
        }
        errors.into_result().map_err(Error::Validation)?;
        tier.updated_at = ms_to_dt(crate::ids::now_ms());
        if !self.store.update_tier(platform, &tier, tier.version).await? {
            // Someone else saved in between our read and our write.
            let current = self.store.tier(name).await?.ok_or_else(|| Error::not_found("tier", name))?;
            return Err(Error::PreconditionFailed { current: current.version });
        }
        tier.version += 1;
        let detail =
            serde_json::json!({ "success_target": tier.success_target, "latency_target_ms": tier.latency_target_ms });
        self.audit(platform.actor(), None, "tier.updated", Some(&tier.name), detail).await;
        Ok(tier)
    }

    /// Renames a tenant, moves it to another tier, or changes its retention, backlog
    /// cap or quotas (platform callers only). `if_match` is the version the caller
    /// last saw (412 when it changed since).
    pub async fn patch_tenant(
        &self,
        platform: &Platform,
        id: &TenantId,
        if_match: Option<i64>,
        req: PatchTenant,
    ) -> Result<Tenant> {
        let mut tenant = self.get_tenant(&*platform.tenant(id)?).await?;
        Error::require_version(if_match, tenant.version)?;
        let mut errors = Errors::default();
        if let Some(name) = req.name {
            errors.check(validate::name(&name), "name");
            tenant.name = name.trim().to_owned();
        }
        if let Some(tier) = req.tier {
            self.check_tier(&mut errors, &tier).await?;
            tenant.tier = tier;
        }
        if let Some(cap) = req.backlog_cap {
            errors.check(validate::backlog_cap(cap), "backlog_cap");
            tenant.backlog_cap = cap;
        }
        if let Some(days) = req.retention_days {
            errors.check(validate::retention_days(days), "retention_days");
            tenant.retention_days = days;
        }
        super::tenants::check_quotas(&mut errors, req.max_endpoints.flatten(), req.max_api_keys.flatten());
        if let Some(n) = req.max_endpoints {
            tenant.max_endpoints = n;
        }
        if let Some(n) = req.max_api_keys {
            tenant.max_api_keys = n;
        }
        if let Some(n) = req.auto_disable_after_seconds {
            if let Some(n) = n {
                errors.check(validate::auto_disable_seconds(n), "auto_disable_after_seconds");
            }
            tenant.auto_disable_after_seconds = n;
        }
        if let Some(all) = req.receives_all_notices {
            tenant.receives_all_notices = all;
        }
        errors.into_result().map_err(Error::Validation)?;
        let tenant = self.save_tenant(platform, tenant).await?;
        let detail = serde_json::json!({
            "name": tenant.name, "tier": tenant.tier, "backlog_cap": tenant.backlog_cap,
            "retention_days": tenant.retention_days,
            "max_endpoints": tenant.max_endpoints, "max_api_keys": tenant.max_api_keys,
            "auto_disable_after_seconds": tenant.auto_disable_after_seconds,
            "receives_all_notices": tenant.receives_all_notices,
        });
        self.audit(platform.actor(), Some(&tenant.id), "tenant.updated", Some(tenant.id.as_str()), detail).await;
        Ok(tenant)
    }

    /// SLO attainment and error budget over 24 h, 7 d and 30 d, hourly latency
    /// percentiles over the last 24 h, backlog now and the last day's error classes.
    ///
    /// Read from the hourly roll-ups (see `rollups.rs`) for the hours the job has
    /// counted, from the deliveries for the last few: at most 720 small rows and an
    /// hour or so of deliveries, whatever the tenant's volume.
    pub async fn tenant_overview(&self, scope: &TenantScope) -> Result<TenantOverview> {
        let id = scope.id();
        let tenant = self.get_tenant(scope).await?;
        let tier = self.store.tier(&tenant.tier).await?.ok_or_else(|| {
            Error::Internal(format!("tenant {id} is on tier {:?}, which has no targets", tenant.tier))
        })?;
        let now = crate::ids::now_ms();
        let this_hour = now.div_euclid(HOUR_MS);
        let longest = WINDOWS.iter().map(|(_, h)| *h).max().unwrap_or(24);
        let hours = self.overview_hours(scope, &tier, this_hour - longest + 1, now).await?;

        let within = |h: i64| hours.iter().filter(move |b| b.hour > this_hour - h);
        let windows = WINDOWS
            .iter()
            .map(|(label, h)| {
                let (counted, good) = within(*h).fold((0, 0), |(c, g), b| (c + b.counted, g + b.good));
                SloWindow {
                    label: (*label).into(),
                    hours: *h,
                    counted,
                    good,
                    attainment: attainment(counted, good),
                    budget_remaining: budget_remaining(counted, good, tier.success_target),
                }
            })
            .collect();

        let latency = (this_hour - 23..=this_hour)
            .map(|hour| {
                let empty = SloHour::empty(hour);
                let b = hours.iter().find(|b| b.hour == hour).unwrap_or(&empty);
                point(hour, b.succeeded, b.failed, &b.latency_le)
            })
            .collect();
        let day = within(24).fold(SloHour::empty(this_hour), |mut acc, b| {
            acc.succeeded += b.succeeded;
            for (a, n) in acc.latency_le.iter_mut().zip(&b.latency_le) {
                *a += n;
            }
            acc
        });
        let error_classes = self
            .store
            .error_classes(Reach::Tenant(scope), now - 24 * HOUR_MS)
            .await?
            .into_iter()
            .map(|(error_class, deliveries)| ErrorClassCount { error_class, deliveries })
            .collect();
        Ok(TenantOverview {
            backlog: self.store.backlog(scope).await?,
            p50_ms: percentile(&day.latency_le, day.succeeded, 0.50),
            p95_ms: percentile(&day.latency_le, day.succeeded, 0.95),
            p99_ms: percentile(&day.latency_le, day.succeeded, 0.99),
            tenant,
            tier,
            windows,
            latency,
            error_classes,
            incidents: self.incident_stats(Reach::Tenant(scope)).await?,
            by_label: self.success_by_label(scope, now).await?,
        })
    }
}

fn point(hour: i64, succeeded: i64, failed: i64, latency_le: &[i64]) -> LatencyPoint {
    LatencyPoint {
        start: ms_to_dt(hour * HOUR_MS),
        succeeded,
        failed,
        p50_ms: percentile(latency_le, succeeded, 0.50),
        p95_ms: percentile(latency_le, succeeded, 0.95),
        p99_ms: percentile(latency_le, succeeded, 0.99),
    }
}
