//! API keys: creation (shown once), the bootstrap key, and authentication.
//!
//! Keys are 32 random bytes, so a plain SHA-256 is the right hash: unlike passwords
//! they cannot be guessed, and a fast hash keeps every authenticated request cheap.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sluice_core::ids::{ApiKeyId, TenantId};
use sluice_core::model::{ApiKey, CreateApiKey, CreatedApiKey};
use sluice_core::validate::{self, Errors};

use super::{lock, Caller, KeyReach, Platform, Sluice, AUTH_TTL};
use crate::error::{Error, Result};

/// Every key starts with this, so leaked keys are easy to spot in logs and scanners.
pub const KEY_PREFIX: &str = "sk_";

/// The stored form of a key.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn visible_prefix(key: &str) -> String {
    key.chars().take(8).collect()
}

impl Sluice {
    /// Creates a key scoped to `tenant`. The key is in the answer and nowhere else.
    /// Platform callers only: a tenant key that could mint keys would let a leaked key
    /// outlive its own revocation.
    pub async fn create_api_key(
        &self,
        platform: &Platform,
        tenant: &TenantId,
        req: CreateApiKey,
    ) -> Result<CreatedApiKey> {
        let tenant = &platform.tenant(tenant)?;
        let owner = self.get_tenant(tenant).await?;
        let name = req.name.unwrap_or_else(|| "default".into());
        let mut errors = Errors::default();
        errors.check(validate::name(&name), "name");
        errors.into_result().map_err(Error::Validation)?;
        let key = generate_key();
        let api_key = ApiKey {
            id: crate::ids::new_id(),
            tenant_id: Some(tenant.id().clone()),
            name,
            prefix: visible_prefix(&key),
            created_at: crate::store::ms_to_dt(crate::ids::now_ms()),
            last_used_at: None,
            revoked_at: None,
        };
        let quota = i64::from(owner.max_api_keys.unwrap_or(self.quotas.api_keys));
        self.store.insert_api_key(&api_key, &hash_api_key(&key), Some((&**tenant, quota))).await?;
        let detail = serde_json::json!({ "name": api_key.name, "prefix": api_key.prefix });
        self.audit(platform.actor(), Some(tenant.id()), "api_key.created", Some(api_key.id.as_str()), detail).await;
        Ok(CreatedApiKey { api_key, key })
    }

    /// A new platform key, for an admin (a platform caller) to hand to a producer.
    /// A platform key made at the server's console (`sluice keys create`), acting as
    /// `console`: whoever runs the binary against the database and its secret key holds
    /// the platform already.
    pub async fn create_platform_key_at_console(&self, name: &str) -> Result<CreatedApiKey> {
        let console = Platform::system("console");
        self.create_platform_api_key(&console, CreateApiKey { name: Some(name.to_owned()) }).await
    }

    pub async fn create_platform_api_key(&self, platform: &Platform, req: CreateApiKey) -> Result<CreatedApiKey> {
        let name = req.name.unwrap_or_else(|| "platform".into());
        validate::name(&name).map_err(|m| Error::invalid("name", m))?;
        self.create_platform_key(platform.actor(), &name).await
    }

    /// One tenant's keys, or (platform callers only) every key. Never the keys
    /// themselves: only their prefixes.
    pub async fn list_api_keys(&self, reach: KeyReach<'_>) -> Result<Vec<ApiKey>> {
        if let KeyReach::Tenant(tenant) = reach {
            self.get_tenant(tenant).await?;
        }
        self.store.list_api_keys(reach).await
    }

    /// Revokes a key; revoking a revoked key changes nothing. Platform callers only,
    /// like issuing; the last platform key stays (409), so the platform cannot lock
    /// itself out. Takes effect at once on this node and within `AUTH_TTL` on others,
    /// whose caches then expire.
    pub async fn revoke_api_key(&self, platform: &Platform, id: &ApiKeyId) -> Result<ApiKey> {
        self.store.api_key(id).await?.ok_or_else(|| Error::not_found("api key", id))?;
        let revoked = self.store.revoke_api_key(id, crate::ids::now_ms()).await?.ok_or_else(|| {
            Error::Conflict("this is the last platform key; create another before revoking it".into())
        })?;
        // The cache is keyed by the key's hash, which is not at hand: drop it all.
        // Revocations are rare and every entry refills with one indexed read.
        lock(&self.auth_cache).clear();
        // What the key handed out goes with it: portal links it made, and the sessions
        // they opened (a leaked key's links must not outlive it).
        let portal = self.store.revoke_portal_links_by(id.as_str()).await?;
        let detail =
            serde_json::json!({ "name": revoked.name, "prefix": revoked.prefix, "portal_rows_revoked": portal });
        self.audit(platform.actor(), revoked.tenant_id.as_ref(), "api_key.revoked", Some(id.as_str()), detail).await;
        Ok(revoked)
    }

    /// Creates the platform key `key` unless a platform key already exists. Returns
    /// whether it was created.
    pub async fn ensure_bootstrap_key(&self, key: &str) -> Result<bool> {
        if key.len() < 16 {
            return Err(Error::invalid("SLUICE_BOOTSTRAP_API_KEY", "must be at least 16 characters"));
        }
        if self.store.platform_key_exists().await? {
            return Ok(false);
        }
        let api_key = ApiKey {
            id: crate::ids::new_id(),
            tenant_id: None,
            name: "bootstrap".into(),
            prefix: visible_prefix(key),
            created_at: crate::store::ms_to_dt(crate::ids::now_ms()),
            last_used_at: None,
            revoked_at: None,
        };
        self.store.insert_api_key(&api_key, &hash_api_key(key), None).await?;
        Ok(true)
    }

    /// At first start without `SLUICE_BOOTSTRAP_API_KEY`: generates a platform key
    /// unless one exists, and returns it so it can be shown once. No caller: this runs
    /// before anyone can authenticate.
    pub async fn ensure_generated_platform_key(&self) -> Result<Option<CreatedApiKey>> {
        if self.store.platform_key_exists().await? {
            return Ok(None);
        }
        self.create_platform_key("bootstrap", "generated at first start").await.map(Some)
    }

    async fn create_platform_key(&self, actor: &str, name: &str) -> Result<CreatedApiKey> {
        let key = generate_key();
        let api_key = ApiKey {
            id: crate::ids::new_id(),
            tenant_id: None,
            name: name.into(),
            prefix: visible_prefix(&key),
            created_at: crate::store::ms_to_dt(crate::ids::now_ms()),
            last_used_at: None,
            revoked_at: None,
        };
        self.store.insert_api_key(&api_key, &hash_api_key(&key), None).await?;
        let detail = serde_json::json!({ "name": api_key.name, "prefix": api_key.prefix, "platform": true });
        self.audit(actor, None, "api_key.created", Some(api_key.id.as_str()), detail).await;
        Ok(CreatedApiKey { api_key, key })
    }

    /// The caller a bearer key stands for, or `None` for an unknown or revoked key.
    pub async fn authenticate(&self, key: &str) -> Result<Option<Caller>> {
        let hash = hash_api_key(key);
        if let Some((caller, at)) = lock(&self.auth_cache).get(&hash) {
            if at.elapsed() < AUTH_TTL {
                return Ok(caller.clone());
            }
        }
        let key = self.store.api_key_by_hash(&hash).await?.filter(|k| k.revoked_at.is_none());
        if let Some(k) = &key {
            // On a cache miss only (so at most once per `AUTH_TTL` per node), and only
            // when the stored time is stale by a minute: "last used" to the minute
            // without a write per request.
            let now = crate::ids::now_ms();
            if k.last_used_at.is_none_or(|t| now - t.timestamp_millis() > 60_000) {
                // A busy writer must not turn a valid key into a failed request.
                if let Err(e) = self.store.touch_api_key(&k.id, now).await {
                    tracing::warn!(error = %e, key = %k.id, "could not record when an API key was last used");
                }
            }
        }
        let caller = key.map(|k| {
            let actor = k.id.to_string();
            match k.tenant_id {
                None => Caller::Platform { actor },
                Some(tenant) => Caller::Tenant { tenant, actor, read_only: false },
            }
        });
        let mut cache = lock(&self.auth_cache);
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(hash, (caller.clone(), std::time::Instant::now()));
        Ok(caller)
    }
}
