//! Signing secrets sealed at rest: XChaCha20-Poly1305 under the platform's secret key
//! (`SLUICE_SECRET_KEY` or a key file), so a copy of the database, a backup or a
//! replica, reveals no secret that could forge a tenant's webhooks.
//!
//! The store seals on the way in and opens on the way out; nothing else in Sluice
//! sees the sealed form. A sealed value names the key that sealed it (the first
//! 8 hex digits of its SHA-256), so a node holding the previous keys
//! (`SLUICE_PREVIOUS_SECRET_KEYS`) opens what they sealed while it re-seals everything
//! under the current key at start. The secret's row id is the associated data: a
//! sealed value copied onto another row does not open.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const PREFIX: &str = "sealed:v1:";
const NONCE_LEN: usize = 24;

/// One key: its id, its cipher, and the key it derives for fingerprints.
struct SealingKey {
    id: String,
    cipher: XChaCha20Poly1305,
    fingerprint_key: [u8; 32],
}

impl SealingKey {
    fn new(key: &[u8; 32]) -> Self {
        let id = hex::encode(&Sha256::digest(key)[..4]);
        let mut derive = Sha256::new();
        derive.update(b"sluice request fingerprints v1\n");
        derive.update(key);
        Self { id, cipher: XChaCha20Poly1305::new(key.into()), fingerprint_key: derive.finalize().into() }
    }
}

/// Seals and opens signing secrets with the current key; opens with previous ones.
pub struct Sealer {
    current: SealingKey,
    previous: Vec<SealingKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key ids only: never the keys.
        let previous: Vec<&str> = self.previous.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Sealer").field("current", &self.current.id).field("previous", &previous).finish()
    }
}

impl Sealer {
    pub fn new(current: &[u8; 32], previous: &[[u8; 32]]) -> Self {
        Self { current: SealingKey::new(current), previous: previous.iter().map(SealingKey::new).collect() }
    }

    /// A sealer with a fresh random key that nothing else has: for a database that
    /// lives only as long as the process (`sqlite::memory:`).
    pub fn ephemeral() -> Self {
        Self::new(&random_key(), &[])
    }

    /// The current key's id, as it appears in sealed values.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// A fingerprint of `parts` keyed by the current key: equal for equal input, and
    /// useless to anyone without the key for guessing what went in (a request body may
    /// carry a password). A secret prefix is enough here: the fingerprint is compared,
    /// never checked as a signature, so length extension gains nothing. Fingerprints
    /// taken before a key rotation no longer match after it.
    pub fn fingerprint(&self, parts: &[&[u8]]) -> String {
        let mut hash = Sha256::new();
        hash.update(self.current.fingerprint_key);
        for part in parts {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        hex::encode(hash.finalize())
    }

    /// Seals `secret` for the row `row_id`.
    pub fn seal(&self, row_id: &str, secret: &str) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .current
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: secret.as_bytes(), aad: row_id.as_bytes() })
            .map_err(|_| Error::Internal("sealing a secret failed".into()))?;
        let mut body = nonce.to_vec();
        body.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}:{}", self.current.id, STANDARD.encode(body)))
    }

    /// Opens what [`Sealer::seal`] made for `row_id`. A value from before sealing
    /// existed (no prefix) is returned as it is, to be re-sealed at start.
    pub fn open(&self, row_id: &str, stored: &str) -> Result<String> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (key_id, body) =
            rest.split_once(':').ok_or_else(|| Error::Internal(format!("secret {row_id}: malformed sealed value")))?;
        let key = std::iter::once(&self.current).chain(&self.previous).find(|k| k.id == key_id).ok_or_else(|| {
            Error::Internal(format!(
                "secret {row_id} is sealed with key {key_id}, which this node does not have (its key is {}); \
                 set SLUICE_PREVIOUS_SECRET_KEYS to the key it was sealed with",
                self.current.id
            ))
        })?;
        let body =
            STANDARD.decode(body).map_err(|_| Error::Internal(format!("secret {row_id}: malformed sealed value")))?;
        if body.len() < NONCE_LEN {
            return Err(Error::Internal(format!("secret {row_id}: malformed sealed value")));
        }
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        let opened = key
            .cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad: row_id.as_bytes() })
            .map_err(|_| Error::Internal(format!("secret {row_id} does not open with key {key_id}: tampered with")))?;
        String::from_utf8(opened).map_err(|_| Error::Internal(format!("secret {row_id}: not text")))
    }

    /// Whether `stored` is sealed under the current key (and needs no re-sealing).
    pub fn is_current(&self, stored: &str) -> bool {
        stored.strip_prefix(PREFIX).and_then(|rest| rest.split_once(':')).is_some_and(|(id, _)| id == self.current.id)
    }
}

/// A new random key.
pub fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    key
}

/// A key as written in settings and key files: standard base64 of 32 bytes, or 64
/// hex digits.
pub fn parse_key(text: &str) -> std::result::Result<[u8; 32], String> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).map_err(|e| e.to_string())?
    } else {
        STANDARD.decode(text).map_err(|_| "is neither base64 nor hex".to_owned())?
    };
    bytes.try_into().map_err(|b: Vec<u8>| format!("is {} bytes; a secret key is 32", b.len()))
}

/// How a key is written to a key file.
pub fn format_key(key: &[u8; 32]) -> String {
    STANDARD.encode(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_row() {
        let (k1, k2) = (random_key(), random_key());
        let sealer = Sealer::new(&k1, &[]);
        let sealed = sealer.seal("sec_1", "whsec_abc").expect("seal");
        assert!(!sealed.contains("whsec_abc") && sealed.starts_with("sealed:v1:"));
        assert_ne!(sealed, sealer.seal("sec_1", "whsec_abc").expect("seal"), "a fresh nonce every time");
        assert_eq!(sealer.open("sec_1", &sealed).expect("open"), "whsec_abc");
        assert!(sealer.open("sec_2", &sealed).is_err(), "copied onto another row, it does not open");
        assert!(sealer.is_current(&sealed));

        let other = Sealer::new(&k2, &[]);
        let refused = other.open("sec_1", &sealed).expect_err("unknown key");
        assert!(refused.to_string().contains(sealer.key_id()), "{refused}");

        // Rotation: the new key opens the old one's values, and they are not current.
        let rotated = Sealer::new(&k2, &[k1]);
        assert_eq!(rotated.open("sec_1", &sealed).expect("open with previous"), "whsec_abc");
        assert!(!rotated.is_current(&sealed));

        let mut tampered = sealed.clone();
        tampered.replace_range(tampered.len() - 4.., "AAAA");
        assert!(sealer.open("sec_1", &tampered).is_err());
        assert_eq!(sealer.open("sec_1", "whsec_plain").expect("legacy"), "whsec_plain", "from before sealing");
    }

    #[test]
    fn keys_parse_from_base64_or_hex() {
        let key = random_key();
        assert_eq!(parse_key(&format_key(&key)), Ok(key));
        assert_eq!(parse_key(&format!(" {}\n", hex::encode(key))), Ok(key));
        assert!(parse_key("c2hvcnQ=").is_err(), "too short");
        assert!(parse_key("not a key at all!").is_err());
    }
}
