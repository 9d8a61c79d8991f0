//! argon2id computed in memory that each hashing thread allocates once and reuses.
//!
//! Why not `Argon2::verify_password`: it allocates the 19 MiB block array on every call
//! and frees it after. glibc's malloc serves the first such block with mmap, and when
//! it is freed raises its mmap threshold to that size, so every later block came from
//! the heap arenas instead, where they fragment and stay: 500 parallel wrong sign-ins
//! peaked at 265 MB with two hashing threads. Here each thread owns one block array for
//! its whole life, so the memory argon2 uses is the thread count times 19 MiB, and
//! nothing of that size is ever allocated again.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::error::{Error, Result};

/// A hashing thread's argon2 memory.
#[derive(Default)]
pub(super) struct Workspace {
    blocks: Vec<Block>,
}

fn internal(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("{what}: {e}"))
}

impl Workspace {
    /// Exactly the blocks `params` needs, grown (once) if an older hash asks for more.
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let needed = params.block_count();
        if self.blocks.len() < needed {
            self.blocks.resize(needed, Block::default());
        }
        &mut self.blocks[..needed]
    }

    /// Computes the raw argon2 output for `password` and `salt` into `out`.
    fn compute(
        &mut self,
        argon2: &Argon2<'_>,
        params: &Params,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        argon2
            .hash_password_into_with_memory(password, salt, out, self.blocks(params))
            .map_err(|e| internal("argon2", e))
    }

    /// A new PHC-format hash of `password` with the default parameters and a random salt.
    pub(super) fn hash(&mut self, password: &[u8]) -> Result<String> {
        let params = Params::default();
        let argon2 = Argon2::new(Algorithm::default(), Version::default(), params.clone());
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_bytes = [0u8; 64];
        let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(|e| internal("salt", e))?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        self.compute(&argon2, &params, password, salt_raw, &mut out)?;
        let phc = PasswordHash {
            algorithm: Algorithm::default().ident(),
            version: Some(Version::default().into()),
            params: ParamsString::try_from(&params).map_err(|e| internal("parameters", e))?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| internal("output", e))?),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches the PHC-format `hash`, with whatever parameters it
    /// was made with.
    pub(super) fn verify(&mut self, password: &[u8], hash: &str) -> Result<bool> {
        let parsed = PasswordHash::new(hash).map_err(|e| internal("stored password hash", e))?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Err(Error::Internal("stored password hash has no salt or output".into()));
        };
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| internal("stored hash algorithm", e))?;
        let version = parsed.version.map(Version::try_from).transpose().map_err(|e| internal("stored version", e))?;
        let params = Params::try_from(&parsed).map_err(|e| internal("stored parameters", e))?;
        let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params.clone());
        let mut salt_bytes = [0u8; 64];
        let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(|e| internal("stored salt", e))?;
        let mut out = vec![0u8; expected.len()];
        self.compute(&argon2, &params, password, salt_raw, &mut out)?;
        let computed = Output::new(&out).map_err(|e| internal("output", e))?;
        // `Output`'s equality is constant-time.
        Ok(computed == expected)
    }

    /// The work of checking a password against the default parameters, for an account
    /// that does not exist: the answer is always no, and it takes as long as a real one.
    pub(super) fn decoy(&mut self, password: &[u8]) -> Result<bool> {
        let params = Params::default();
        let argon2 = Argon2::new(Algorithm::default(), Version::default(), params.clone());
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        self.compute(&argon2, &params, password, b"sluice-decoy-salt", &mut out)?;
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[test]
    fn hashes_verify_both_ways_with_the_standard_implementation() -> Result<()> {
        let mut ws = Workspace::default();
        let ours = ws.hash(b"correct horse battery")?;
        let parsed = PasswordHash::new(&ours).map_err(|e| internal("parse", e))?;
        assert!(Argon2::default().verify_password(b"correct horse battery", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"wrong", &parsed).is_err());

        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"staple", &salt).map_err(|e| internal("hash", e))?.to_string();
        assert!(ws.verify(b"staple", &theirs)?);
        assert!(!ws.verify(b"stapler", &theirs)?);
        assert!(!ws.decoy(b"staple")?);
        Ok(())
    }

    #[test]
    fn older_parameters_still_verify_and_grow_the_memory_once() -> Result<()> {
        let params = Params::new(32 * 1024, 1, 1, None).map_err(|e| internal("params", e))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let old = argon2.hash_password(b"old one", &salt).map_err(|e| internal("hash", e))?.to_string();
        let mut ws = Workspace::default();
        assert!(ws.hash(b"x").is_ok());
        assert_eq!(ws.blocks.len(), Params::default().block_count());
        assert!(ws.verify(b"old one", &old)?);
        assert_eq!(ws.blocks.len(), 32 * 1024);
        let fresh = ws.hash(b"x")?;
        assert!(ws.verify(b"x", &fresh)?, "the bigger memory serves the default too");
        Ok(())
    }

    #[test]
    fn malformed_stored_hashes_are_errors_not_matches() {
        let mut ws = Workspace::default();
        assert!(ws.verify(b"x", "not a hash").is_err());
        assert!(ws.verify(b"x", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ").is_err());
    }
}
