//! The decoded signing keys of one endpoint, cached by the dispatcher between claims.
//!
//! Reloaded when the endpoint's version changes (a rotation bumps it) or when the
//! soonest grace-period secret expires, so an expired secret never signs again and a
//! busy endpoint does not cost a secrets query per claim.

use std::sync::Arc;

use crate::store::SecretRecord;

#[derive(Debug, Clone, Default)]
pub struct KeyCache {
    keys: Arc<Vec<Vec<u8>>>,
    /// The endpoint version the keys were loaded at; `None` before the first load.
    version: Option<i64>,
    /// When the soonest grace-period secret expires.
    expires_at_ms: Option<i64>,
}

impl KeyCache {
    /// Whether the keys are still right for an endpoint at `version` at `now_ms`.
    pub fn is_fresh(&self, version: i64, now_ms: i64) -> bool {
        self.version == Some(version) && self.expires_at_ms.is_none_or(|t| t > now_ms)
    }

    /// Replaces the keys with the endpoint's valid secrets, active one first.
    pub fn fill(&mut self, secrets: &[SecretRecord], version: i64) {
        self.expires_at_ms = secrets.iter().filter_map(|s| s.expires_at_ms).min();
        self.keys = Arc::new(secrets.iter().filter_map(|s| sluice_core::signing::decode_secret(&s.secret)).collect());
        self.version = Some(version);
    }

    /// The keys, cheap to hand to a send task.
    pub fn keys(&self) -> Arc<Vec<Vec<u8>>> {
        self.keys.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::new_id;

    fn secret(byte: u8, expires_at_ms: Option<i64>) -> SecretRecord {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode([byte; 24]);
        SecretRecord { id: new_id(), secret: format!("whsec_{b64}"), created_at_ms: 0, expires_at_ms }
    }

    #[test]
    fn stale_until_filled_then_until_the_version_moves() {
        let mut cache = KeyCache::default();
        assert!(!cache.is_fresh(1, 0));
        cache.fill(&[secret(1, None)], 1);
        assert!(cache.is_fresh(1, i64::MAX));
        assert!(!cache.is_fresh(2, 0));
        assert_eq!(cache.keys().as_slice(), &[vec![1u8; 24]]);
    }

    #[test]
    fn stale_once_a_grace_secret_expires() {
        let mut cache = KeyCache::default();
        cache.fill(&[secret(1, None), secret(2, Some(1_000)), secret(3, Some(5_000))], 7);
        assert_eq!(cache.keys().len(), 2 + 1);
        assert!(cache.is_fresh(7, 999));
        assert!(!cache.is_fresh(7, 1_000));
    }
}
