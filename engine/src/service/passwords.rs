//! Password hashing behind a gate: at most one argon2 computation per core at a time.
//!
//! argon2id is slow and memory-hard on purpose (people choose guessable passwords, so
//! each guess must cost), and that cost is exactly what a stranger can spend for us:
//! each check takes ~19 MiB and tens of milliseconds of CPU. Unbounded, 64 parallel
//! wrong sign-ins took the process to 2 GB. Behind the gate the memory is bounded by
//! the permit count, and a request that cannot get a permit within [`GATE_WAIT`] is
//! told to come back (429) instead of queueing without end.
//!
//! Parameters are argon2's defaults (OWASP's first recommendation): argon2id, m = 19 MiB,
//! t = 2, p = 1. They are recorded in every hash, so changing them later re-hashes
//! nobody and still verifies every old hash.

use std::sync::OnceLock;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// How long a check waits for a permit before the caller is asked to retry; long
/// enough for a burst of real sign-ins, short enough that waiting requests stay few.
pub const GATE_WAIT: Duration = Duration::from_secs(2);
/// Longer passwords are refused without hashing: argon2's cost grows with input.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Bounds concurrent password hashing to one per core.
pub struct PasswordGate {
    permits: Semaphore,
    wait: Duration,
}

impl Default for PasswordGate {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores.clamp(1, 8), GATE_WAIT)
    }
}

impl PasswordGate {
    pub fn new(permits: usize, wait: Duration) -> Self {
        Self { permits: Semaphore::new(permits.max(1)), wait }
    }

    /// Runs one argon2 computation once a permit is free, on the blocking pool (it
    /// would stall an async worker for its whole duration).
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
        let permit = tokio::time::timeout(self.wait, self.permits.acquire())
            .await
            .map_err(|_| Error::RateLimited { retry_after_seconds: 1 })?
            .map_err(|e| Error::Internal(format!("password gate closed: {e}")))?;
        let result = tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::Internal(format!("password hashing task: {e}")))?;
        drop(permit);
        result
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| Error::Internal(format!("hashing a password: {e}")))
        })
        .await
    }

    /// Whether `password` matches `hash`. `None` for the hash checks a real hash of
    /// nothing anyone knows, so an unknown email costs as much as a wrong password and
    /// response times do not tell which accounts exist.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| decoy_hash().to_owned());
        let matches = self
            .run(move || {
                let parsed =
                    PasswordHash::new(&hash).map_err(|e| Error::Internal(format!("stored password hash: {e}")))?;
                Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            })
            .await?;
        Ok(known && matches)
    }
}

fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(b"not a password anyone has", &salt).map(|h| h.to_string()).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checks_beyond_the_permits_wait_and_then_are_refused() {
        let gate = PasswordGate::new(1, Duration::from_millis(50));
        let hash = gate.hash("correct horse battery".into()).await.expect("hash");
        assert!(gate.verify("correct horse battery".into(), Some(hash.clone())).await.expect("verify"));
        assert!(!gate.verify("wrong".into(), Some(hash.clone())).await.expect("verify"));
        assert!(!gate.verify("correct horse battery".into(), None).await.expect("decoy"), "no hash never matches");

        // Hold the only permit past the wait: the next check is told to retry.
        let held = gate.permits.acquire().await.expect("permit");
        let refused = gate.verify("x".repeat(12), Some(hash)).await;
        assert!(matches!(refused, Err(Error::RateLimited { .. })), "{refused:?}");
        drop(held);
    }

    #[tokio::test]
    async fn oversized_passwords_are_not_hashed() {
        let gate = PasswordGate::new(1, Duration::from_millis(50));
        let _held = gate.permits.acquire().await.expect("permit");
        // With the only permit held, a check that hashed would wait and be refused.
        let long = "a".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(!gate.verify(long, None).await.expect("refused without hashing"));
    }
}
