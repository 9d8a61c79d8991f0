//! Endpoints: create, read, edit with optimistic concurrency, enable and disable,
//! delete, and their signing secrets.

use rand::RngCore;
use sluice_core::ids::EndpointId;
use sluice_core::model::*;
use sluice_core::signing;
use sluice_core::validate::{self, Errors};

use super::{finish_page, page_args, ManageScope, Sluice, TenantScope};
use crate::error::{Error, Result};
use crate::ids::now_ms;
use crate::store::{ms_to_dt, Failures, LifecycleEvent, SecretRecord};

/// How long a rotated-out secret keeps signing when the caller does not say.
pub const DEFAULT_GRACE_SECONDS: u32 = 24 * 3600;

fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    signing::encode_secret(&key)
}

fn check_event_types(errors: &mut Errors, types: &[String]) {
    for (suffix, message) in validate::event_type_filter(types) {
        errors.add(&format!("event_types{suffix}"), message);
    }
}

fn check_labels(errors: &mut Errors, labels: &std::collections::BTreeMap<String, String>) {
    for (suffix, message) in validate::labels(labels) {
        errors.add(&format!("labels{suffix}"), message);
    }
}

impl Sluice {
    pub async fn create_endpoint(&self, tenant: &ManageScope, req: CreateEndpoint) -> Result<Endpoint> {
        let owner = self.get_tenant(tenant).await?;
        let mut errors = Errors::default();
        errors.check(validate::endpoint_url(&req.url), "url");
        let description = req.description.unwrap_or_default();
        errors.check(validate::description(&description), "description");
        let event_types = req.event_types.unwrap_or_default();
        check_event_types(&mut errors, &event_types);
        if let Some(r) = req.rate_limit_per_second {
            errors.check(validate::rate_limit(r), "rate_limit_per_second");
        }
        if let Some(n) = req.max_concurrency {
            errors.check(validate::max_concurrency(n), "max_concurrency");
        }
        if let Some(s) = &req.retry_schedule_seconds {
            errors.check(validate::retry_schedule(s), "retry_schedule_seconds");
        }
        if let Some(s) = &req.secret {
            errors.check(validate::secret(s), "secret");
        }
        let labels = req.labels.unwrap_or_default();
        check_labels(&mut errors, &labels);
        errors.into_result().map_err(Error::Validation)?;

        let now = now_ms();
        let endpoint = Endpoint {
            id: crate::ids::new_id(),
            tenant_id: tenant.id().clone(),
            url: req.url,
            description,
            event_types,
            status: EndpointStatus::Enabled,
            disabled_reason: None,
            disabled_at: None,
            rate_limit_per_second: req.rate_limit_per_second,
            max_concurrency: req.max_concurrency,
            retry_schedule_seconds: req.retry_schedule_seconds,
            labels,
            version: 1,
            created_at: ms_to_dt(now),
            updated_at: ms_to_dt(now),
        };
        let secret = SecretRecord {
            id: crate::ids::new_id(),
            secret: req.secret.unwrap_or_else(new_secret),
            created_at_ms: now,
            expires_at_ms: None,
        };
        let event = LifecycleEvent::new(
            Some(tenant.id()),
            LifecycleKind::EndpointCreated,
            endpoint.id.as_str(),
            tenant.actor(),
            serde_json::json!({ "url": endpoint.url }),
        );
        let quota = owner.max_endpoints.unwrap_or(self.quotas.endpoints);
        self.store.insert_endpoint(tenant, &endpoint, &secret, &event, i64::from(quota)).await?;
        self.forget_tenant_facts(tenant.id());
        Ok(endpoint)
    }

    pub async fn get_endpoint(&self, tenant: &TenantScope, id: &EndpointId) -> Result<Endpoint> {
        self.store.get_endpoint(tenant, id).await?.ok_or_else(|| Error::not_found("endpoint", id))
    }

    pub async fn list_endpoints(
        &self,
        tenant: &TenantScope,
        limit: Option<i64>,
        cursor: Option<String>,
    ) -> Result<Page<Endpoint>> {
        self.get_tenant(tenant).await?;
        let page = page_args(limit, cursor)?;
        let rows = self.store.list_endpoints(tenant, &page).await?;
        Ok(finish_page(rows, &page, |e| e.id.to_string()))
    }

    /// Applies a partial update. `if_match` is the version the caller last saw: if the
    /// endpoint changed since, nothing is written and the caller learns the current
    /// version (412), so two people editing never silently overwrite each other.
    pub async fn patch_endpoint(
        &self,
        tenant: &ManageScope,
        id: &EndpointId,
        if_match: Option<i64>,
        req: PatchEndpoint,
    ) -> Result<Endpoint> {
        let current = self.get_endpoint(tenant, id).await?;
        Error::require_version(if_match, current.version)?;
        let mut errors = Errors::default();
        let mut next = current.clone();
        if let Some(url) = req.url {
            errors.check(validate::endpoint_url(&url), "url");
            next.url = url;
        }
        if let Some(d) = req.description {
            errors.check(validate::description(&d), "description");
            next.description = d;
        }
        if let Some(types) = req.event_types {
            check_event_types(&mut errors, &types);
            next.event_types = types;
        }
        if let Some(r) = req.rate_limit_per_second {
            if let Some(r) = r {
                errors.check(validate::rate_limit(r), "rate_limit_per_second");
            }
            next.rate_limit_per_second = r;
        }
        if let Some(n) = req.max_concurrency {
            if let Some(n) = n {
                errors.check(validate::max_concurrency(n), "max_concurrency");
            }
            next.max_concurrency = n;
        }
        if let Some(s) = req.retry_schedule_seconds {
            if let Some(s) = &s {
                errors.check(validate::retry_schedule(s), "retry_schedule_seconds");
            }
            next.retry_schedule_seconds = s;
        }
        if let Some(labels) = req.labels {
            check_labels(&mut errors, &labels);
            next.labels = labels;
        }
        errors.into_result().map_err(Error::Validation)?;
        if next == current {
            return Ok(current);
        }
        next.version = current.version + 1;
        next.updated_at = ms_to_dt(now_ms());
        let event = LifecycleEvent::new(
            Some(tenant.id()),
            LifecycleKind::EndpointUpdated,
            id.as_str(),
            tenant.actor(),
            serde_json::json!({ "version": next.version }),
        );
        self.save_endpoint(tenant, next, current.version, Some(&event)).await
    }

    pub async fn disable_endpoint(
        &self,
        tenant: &ManageScope,
        id: &EndpointId,
        req: DisableEndpoint,
    ) -> Result<Endpoint> {
        let current = self.get_endpoint(tenant, id).await?;
        if current.status == EndpointStatus::Disabled {
            return Ok(current);
        }
        let reason = req.reason.unwrap_or_else(|| format!("disabled by {}", tenant.actor()));
        if let Err(e) = validate::description(&reason) {
            return Err(Error::invalid("reason", e));
        }
        let mut next = current.clone();
        let now = ms_to_dt(now_ms());
        next.status = EndpointStatus::Disabled;
        next.disabled_reason = Some(reason.clone());
        next.disabled_at = Some(now);
        next.version += 1;
        next.updated_at = now;
        let event = LifecycleEvent::new(
            Some(tenant.id()),
            LifecycleKind::EndpointDisabled,
            id.as_str(),
            tenant.actor(),
            serde_json::json!({ "reason": reason }),
        );
        self.save_endpoint(tenant, next, current.version, Some(&event)).await
    }

    pub async fn enable_endpoint(&self, tenant: &ManageScope, id: &EndpointId) -> Result<Endpoint> {
        Ok(self.enable_ending_streak(tenant, id).await?.0)
    }

    /// Enables the endpoint and ends its failure streak, so it gets a fresh period
    /// before it can be disabled for failing again; answers the streak it ended.
    pub(super) async fn enable_ending_streak(
        &self,
        tenant: &ManageScope,
        id: &EndpointId,
    ) -> Result<(Endpoint, Option<Failures>)> {
        let current = self.get_endpoint(tenant, id).await?;
        if current.status == EndpointStatus::Enabled {
            return Ok((current, None));
        }
        let mut next = current.clone();
        next.status = EndpointStatus::Enabled;
        next.disabled_reason = None;
        next.disabled_at = None;
        next.version += 1;
        next.updated_at = ms_to_dt(now_ms());
        let event = LifecycleEvent::new(
            Some(tenant.id()),
            LifecycleKind::EndpointEnabled,
            id.as_str(),
            tenant.actor(),
            serde_json::json!({}),
        );
        let saved = self.save_endpoint(tenant, next, current.version, Some(&event)).await?;
        // Ended once enabled, so a refused enable (412) keeps it. Failures recorded
        // in between (the endpoint's first sends) are dropped with it: the fresh
        // period starts a moment late, never early.
        let streak = self.store.end_failure_streak(tenant, id).await?.map(|s| s.failures);
        // Its pending deliveries are claimable again.
        self.wake.notify_one();
        Ok((saved, streak))
    }

    async fn save_endpoint(
        &self,
        tenant: &TenantScope,
        next: Endpoint,
        expected: i64,
        event: Option<&LifecycleEvent>,
    ) -> Result<Endpoint> {
        if self.store.update_endpoint(tenant, &next, expected, event).await? {
            self.forget_tenant_facts(tenant.id());
            return Ok(next);
        }
        // Someone else saved in between our read and our write.
        let current =
            self.store.get_endpoint(tenant, &next.id).await?.ok_or_else(|| Error::not_found("endpoint", &next.id))?;
        Err(Error::PreconditionFailed { current: current.version })
    }

    /// Deletes an endpoint and cancels its pending deliveries; not when `if_match`
    /// names a version other than the current one (412).
    pub async fn delete_endpoint(&self, tenant: &ManageScope, id: &EndpointId, if_match: Option<i64>) -> Result<()> {
        let event = LifecycleEvent::new(
            Some(tenant.id()),
            LifecycleKind::EndpointDeleted,
            id.as_str(),
            tenant.actor(),
            serde_json::json!({}),
        );
        if self.store.delete_endpoint(tenant, id, if_match, now_ms(), &event).await? {
            self.forget_tenant_facts(tenant.id());
            return Ok(());
        }
        // Gone already (404), or changed since the version named (412).
        let current = self.get_endpoint(tenant, id).await?;
        Err(Error::PreconditionFailed { current: current.version })
    }

    /// The secrets that currently sign this endpoint's deliveries. Reading a secret is
    /// sensitive, so it is recorded.
    pub async fn endpoint_secrets(&self, tenant: &ManageScope, id: &EndpointId) -> Result<EndpointSecrets> {
        self.get_endpoint(tenant, id).await?;
        let secrets = self.store.valid_secrets(id, now_ms()).await?;
        let mut iter = secrets.into_iter();
        let active = iter.next().ok_or_else(|| Error::Internal(format!("endpoint {id} has no active secret")))?;
        let previous = iter
            .map(|s| SigningSecret {
                key: s.secret,
                created_at: ms_to_dt(s.created_at_ms),
                expires_at: s.expires_at_ms.map(ms_to_dt),
            })
            .collect();
        let event = LifecycleEvent::new(
            Some(tenant.id()),
            LifecycleKind::SecretRevealed,
            id.as_str(),
            tenant.actor(),
            serde_json::json!({}),
        );
        self.store.insert_event(&event).await?;
        Ok(EndpointSecrets { key: active.secret, previous })
    }

    /// Replaces the active secret. The old one keeps signing (every delivery carries
    /// both signatures) until the grace period ends, so a receiver can switch at leisure.
    pub async fn rotate_secret(
        &self,
        tenant: &ManageScope,
        id: &EndpointId,
        req: RotateSecret,
    ) -> Result<EndpointSecrets> {
        let endpoint = self.get_endpoint(tenant, id).await?;
        let grace = req.grace_period_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
        let mut errors = Errors::default();
        errors.check(validate::grace_period(grace), "grace_period_seconds");
        if let Some(k) = &req.key {
            errors.check(validate::secret(k), "key");
        }
        errors.into_result().map_err(Error::Validation)?;
        let now = now_ms();
        let new = SecretRecord {
            id: crate::ids::new_id(),
            secret: req.key.unwrap_or_else(new_secret),
            created_at_ms: now,
            expires_at_ms: None,
        };
        let event = LifecycleEvent::new(
            Some(tenant.id()),
            LifecycleKind::SecretRotated,
            id.as_str(),
            tenant.actor(),
            serde_json::json!({ "grace_period_seconds": grace }),
        );
        self.store.rotate_secret(&endpoint, &new, now + i64::from(grace) * 1000, &event).await?;
        self.endpoint_secrets(tenant, id).await
    }
}
