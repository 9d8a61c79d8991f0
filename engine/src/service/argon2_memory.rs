//! argon2id computed in memory that goes back to the OS the moment it is done.
//!
//! Why not `Argon2::verify_password`: it allocates its 19 MiB block array with a plain
//! allocation. glibc's malloc serves the first one with mmap, and when it is freed
//! raises its mmap threshold to that size, so every later array came from the heap
//! arenas, where they fragmented and stayed: 500 parallel wrong sign-ins peaked at
//! 265 MB with two hashing threads. Keeping one array per thread for life fixed the
//! peak (82 MB) but left 19 MiB per thread resident from the first sign-in on. Here
//! each computation reserves more than glibc's largest possible mmap threshold
//! (32 MiB on 64-bit), which glibc always maps and unmaps on its own, touches only
//! the blocks it needs (pages never touched are never resident), and frees it after:
//! at rest nothing is kept, under a storm at most one array per hashing thread.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::error::{Error, Result};

/// The most a stored hash may ask for; a hash beyond any of these (only a database
/// restored from elsewhere or tampered with holds one) is refused, not computed: it
/// could otherwise take gigabytes, or a hashing thread for hours.
const MAX_MEMORY_KIB: u32 = 64 * 1024;
const MAX_TIME_COST: u32 = 10;
const MAX_LANES: u32 = 4;

/// Reserved for every computation, in blocks of 1 KiB: over glibc's
/// `DEFAULT_MMAP_THRESHOLD_MAX` (32 MiB on 64-bit), so the allocation is always a
/// mapping of its own, returned to the OS when freed. Only what is touched counts.
const ALWAYS_MAPPED_BLOCKS: usize = 33 * 1024;

fn internal(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("{what}: {e}"))
}

/// Computes the raw argon2 output for `password` and `salt` into `out`.
fn compute(argon2: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<()> {
    let needed = argon2.params().block_count();
    let mut blocks = Vec::new();
    blocks.try_reserve_exact(needed.max(ALWAYS_MAPPED_BLOCKS)).map_err(|e| internal("argon2 memory", e))?;
    blocks.resize(needed, Block::default());
    argon2.hash_password_into_with_memory(password, salt, out, &mut blocks).map_err(|e| internal("argon2", e))
}

/// A new PHC-format hash of `password` with the default parameters and a random salt.
pub(super) fn hash(password: &[u8]) -> Result<String> {
    let argon2 = Argon2::default();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(|e| internal("salt", e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    compute(&argon2, password, salt_raw, &mut out)?;
    let phc = PasswordHash {
        algorithm: Algorithm::default().ident(),
        version: Some(Version::default().into()),
        params: ParamsString::try_from(argon2.params()).map_err(|e| internal("parameters", e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| internal("output", e))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC-format `hash`, with whatever parameters it
/// was made with. A stored hash that cannot be used (malformed, another algorithm,
/// parameters beyond the limits) never matches: the check does the decoy's work
/// and says no, as for an unknown account, and the log says why.
pub(super) fn verify(password: &[u8], hash: &str) -> Result<bool> {
    match usable(hash) {
        Ok((argon2, salt, expected)) => {
            let mut out = vec![0u8; expected.len()];
            compute(&argon2, password, &salt, &mut out)?;
            let computed = Output::new(&out).map_err(|e| internal("output", e))?;
            // `Output`'s equality is constant-time.
            Ok(computed == expected)
        }
        Err(why) => {
            tracing::warn!(%why, "a stored password hash cannot be used; it matches nothing");
            decoy(password)
        }
    }
}

/// The work of checking a password against the default parameters, for an account
/// that does not exist: the answer is always no, and it takes as long as a real one.
pub(super) fn decoy(password: &[u8]) -> Result<bool> {
    let argon2 = Argon2::default();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    compute(&argon2, password, b"sluice-decoy-salt", &mut out)?;
    Ok(false)
}

/// A stored hash taken apart: the hasher (with its parameters), the raw salt and the
/// expected output; or why it cannot be used.
fn usable(hash: &str) -> std::result::Result<(Argon2<'static>, Vec<u8>, Output), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| format!("malformed: {e}"))?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err("no salt or no output".into());
    };
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| format!("algorithm: {e}"))?;
    let version = parsed.version.map(Version::try_from).transpose().map_err(|e| format!("version: {e}"))?;
    let params = Params::try_from(&parsed).map_err(|e| format!("parameters: {e}"))?;
    if params.m_cost() > MAX_MEMORY_KIB || params.t_cost() > MAX_TIME_COST || params.p_cost() > MAX_LANES {
        return Err(format!(
            "parameters m={} t={} p={} beyond the limits m={MAX_MEMORY_KIB} t={MAX_TIME_COST} p={MAX_LANES}",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        ));
    }
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(|e| format!("salt: {e}"))?.to_vec();
    Ok((Argon2::new(algorithm, version.unwrap_or_default(), params), salt_raw, expected))
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[test]
    fn hashes_verify_both_ways_with_the_standard_implementation() -> Result<()> {
        let ours = hash(b"correct horse battery")?;
        let parsed = PasswordHash::new(&ours).map_err(|e| internal("parse", e))?;
        assert!(Argon2::default().verify_password(b"correct horse battery", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"wrong", &parsed).is_err());

        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"staple", &salt).map_err(|e| internal("hash", e))?.to_string();
        assert!(verify(b"staple", &theirs)?);
        assert!(!verify(b"stapler", &theirs)?);
        assert!(!decoy(b"staple")?);
        Ok(())
    }

    fn hash_with(m: u32, t: u32, p: u32, password: &[u8]) -> Result<String> {
        let params = Params::new(m, t, p, None).map_err(|e| internal("params", e))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        Ok(argon2.hash_password(password, &salt).map_err(|e| internal("hash", e))?.to_string())
    }

    #[test]
    fn other_parameters_verify() -> Result<()> {
        let bigger = hash_with(40 * 1024, 1, 1, b"old one")?;
        let smaller = hash_with(8 * 1024, 1, 1, b"small")?;
        assert!(verify(b"old one", &bigger)?, "more memory than the mapping reserved by default");
        assert!(verify(b"small", &smaller)?);
        assert!(!verify(b"smalls", &smaller)?);
        Ok(())
    }

    #[test]
    fn unusable_stored_hashes_never_match() -> Result<()> {
        assert!(!verify(b"x", "not a hash")?);
        assert!(!verify(b"x", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ")?, "no output");
        // Within argon2's own limits but beyond ours: refused without computing (it
        // would take 1 GiB, or minutes).
        let output = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let huge_memory = format!("$argon2id$v=19$m=1048576,t=2,p=1$c2FsdHNhbHRzYWx0${output}");
        assert!(!verify(b"x", &huge_memory)?);
        let huge_time = format!("$argon2id$v=19$m=19456,t=100000,p=1$c2FsdHNhbHRzYWx0${output}");
        assert!(!verify(b"x", &huge_time)?);
        Ok(())
    }
}
