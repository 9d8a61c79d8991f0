//! Standard Webhooks signing: secrets, the signed content and the signature header.
//!
//! `webhook-signature` carries `v1,<base64(HMAC-SHA256(key, "{id}.{ts}.{body}"))>`, one
//! entry per valid secret separated by spaces, so a receiver mid-rotation accepts
//! either its old or its new secret.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Prefix of every signing secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Secret key sizes we accept, in bytes.
pub const MIN_SECRET_BYTES: usize = 24;
pub const MAX_SECRET_BYTES: usize = 64;

/// Formats raw key bytes as a `whsec_…` secret.
pub fn encode_secret(key: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The key bytes of a `whsec_…` secret, or `None` if it is malformed or the wrong size.
pub fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    let body = secret.strip_prefix(SECRET_PREFIX)?;
    let key = STANDARD.decode(body).ok()?;
    (MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&key.len()).then_some(key)
}

/// One `v1,<base64>` signature of a message body.
pub fn sign(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for HMAC.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any size"),
    };
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The full `webhook-signature` header value: one signature per key, space separated.
pub fn signature_header<'a>(
    keys: impl IntoIterator<Item = &'a [u8]>,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    keys.into_iter().map(|k| sign(k, msg_id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// How far a webhook's timestamp may be from the receiver's clock, as the Standard
/// Webhooks libraries allow: older is a replay, newer a forgery or a broken clock.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

/// Why a received webhook does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The secret is not a `whsec_…` secret of a valid size.
    BadSecret,
    /// `webhook-timestamp` is not whole seconds since the epoch.
    BadTimestamp,
    /// The timestamp is this many seconds from now (negative: in the past), more than
    /// the tolerance allows.
    OutsideTolerance { seconds_from_now: i64 },
    /// No `v1,…` entry of `webhook-signature` matches the body under the secret.
    NoMatch,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadSecret => {
                write!(f, "the secret is not a whsec_ secret of {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")
            }
            Self::BadTimestamp => write!(f, "webhook-timestamp is not whole seconds since the Unix epoch"),
            Self::OutsideTolerance { seconds_from_now } => {
                write!(f, "webhook-timestamp is {seconds_from_now} s from now, beyond the tolerance")
            }
            Self::NoMatch => write!(f, "no signature in webhook-signature matches this body and secret"),
        }
    }
}

/// Checks a received webhook as a receiver should: the timestamp within `tolerance`
/// seconds of `now`, and any `v1,` entry of the signature header (there is one per
/// secret during a rotation) matching the body, compared in constant time.
pub fn verify(
    secret: &str,
    (msg_id, timestamp, signature): (&str, &str, &str),
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<(), VerifyError> {
    let key = decode_secret(secret.trim()).ok_or(VerifyError::BadSecret)?;
    let ts: i64 = timestamp.trim().parse().map_err(|_| VerifyError::BadTimestamp)?;
    let from_now = ts.saturating_sub(now);
    if from_now.abs() > tolerance {
        return Err(VerifyError::OutsideTolerance { seconds_from_now: from_now });
    }
    let expected = sign(&key, msg_id.trim(), ts, body);
    let matches = signature
        .split_whitespace()
        .any(|entry| entry.len() == expected.len() && constant_time_eq(entry.as_bytes(), expected.as_bytes()));
    if matches {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

/// Equal-length byte strings compared without an early exit, so the time taken says
/// nothing about where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The body every receiver gets: the envelope around the published payload.
///
/// Built by concatenation so the payload's bytes reach the receiver exactly as they were
/// published (key order and number formatting preserved).
pub fn envelope(event_type: &str, timestamp_rfc3339: &str, payload_json: &str) -> String {
    let event_type = serde_json::to_string(event_type).unwrap_or_else(|_| "\"\"".into());
    let ts = serde_json::to_string(timestamp_rfc3339).unwrap_or_else(|_| "\"\"".into());
    format!(r#"{{"type":{event_type},"timestamp":{ts},"data":{payload_json}}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example from the Standard Webhooks specification's reference test vectors.
    #[test]
    fn matches_spec_vector() {
        let key = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("spec secret");
        let sig = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn verifies_like_a_receiver() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let (id, ts, body) = ("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        let check = |sig: &str, body: &[u8], now: i64| verify(secret, (id, &ts.to_string(), sig), body, now, 300);
        assert_eq!(check(good, body, ts), Ok(()));
        // Mid-rotation the header carries the old secret's signature too.
        assert_eq!(check(&format!("v1,AAAA {good}"), body, ts + 299), Ok(()));
        assert_eq!(check(good, br#"{"test": 2432232315}"#, ts), Err(VerifyError::NoMatch), "a changed body");
        assert_eq!(check("v1,AAAA", body, ts), Err(VerifyError::NoMatch));
        assert_eq!(check(good, body, ts + 301), Err(VerifyError::OutsideTolerance { seconds_from_now: -301 }));
        assert_eq!(check(good, body, ts - 301), Err(VerifyError::OutsideTolerance { seconds_from_now: 301 }));
        assert_eq!(verify("whsec_short", (id, "1", good), body, 1, 300), Err(VerifyError::BadSecret));
        assert_eq!(verify(secret, (id, "soon", good), body, ts, 300), Err(VerifyError::BadTimestamp));
        assert_eq!(verify(secret, ("msg_other", &ts.to_string(), good), body, ts, 300), Err(VerifyError::NoMatch));
    }

    #[test]
    fn header_has_one_entry_per_key() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        let h = signature_header([&a[..], &b[..]], "msg_x", 1, b"{}");
        let parts: Vec<_> = h.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn secrets_round_trip_and_reject_bad_sizes() {
        let s = encode_secret(&[7u8; 32]);
        assert_eq!(decode_secret(&s), Some(vec![7u8; 32]));
        assert_eq!(decode_secret(&encode_secret(&[7u8; 8])), None);
        assert_eq!(decode_secret("nope"), None);
    }

    #[test]
    fn envelope_keeps_payload_bytes() {
        let body = envelope("user.created", "2026-01-01T00:00:00Z", r#"{"b":1,"a":2.50}"#);
        assert_eq!(body, r#"{"type":"user.created","timestamp":"2026-01-01T00:00:00Z","data":{"b":1,"a":2.50}}"#);
    }
}
