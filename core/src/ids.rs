//! Typed, prefixed identifiers (`tn_…`, `ep_…`, `msg_…`) that cannot be mixed up.
//!
//! The part after the prefix is a 26-character Crockford base32 ULID: time-ordered, so
//! sorting by id is sorting by creation time, which keeps cursor pagination cheap.
//! Generation lives in the engine (it needs a clock and randomness); this module only
//! parses, validates and prints, so it also compiles to wasm.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of the ULID body after the prefix.
pub const ULID_LEN: usize = 26;
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// One kind of resource: its prefix and a human name for error messages.
pub trait IdKind: Copy + Eq + Send + Sync + 'static {
    const PREFIX: &'static str;
    const NAME: &'static str;
    /// The type's name in the OpenAPI description: `TenantId`.
    const SCHEMA_NAME: &'static str;
}

/// An id of one kind of resource.
pub struct Id<K: IdKind> {
    raw: String,
    _kind: PhantomData<K>,
}

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId {
    pub expected: &'static str,
    pub got: String,
}

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a valid {} id", self.got, self.expected)
    }
}

impl std::error::Error for InvalidId {}

impl<K: IdKind> Id<K> {
    /// Builds an id from a ULID body produced by the caller's generator.
    pub fn from_ulid_body(body: &str) -> Result<Self, InvalidId> {
        Self::parse(&format!("{}{}", K::PREFIX, body))
    }

    /// Parses `prefix_ULID`, accepting lower case ULIDs and normalising them.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let invalid = || InvalidId { expected: K::NAME, got: s.chars().take(64).collect() };
        let body = s.strip_prefix(K::PREFIX).ok_or_else(invalid)?;
        if body.len() != ULID_LEN {
            return Err(invalid());
        }
        let body = body.to_ascii_uppercase();
        if !body.bytes().all(|b| CROCKFORD.contains(&b)) || body.as_bytes()[0] > b'7' {
            return Err(invalid());
        }
        Ok(Self { raw: format!("{}{}", K::PREFIX, body), _kind: PhantomData })
    }

    /// The smallest id of this kind created at or after `unix_ms`: turns a time filter
    /// into an id range.
    pub fn lower_bound_at(unix_ms: i64) -> Self {
        let ms = unix_ms.clamp(0, (1i64 << 48) - 1) as u64;
        let mut body = [b'0'; ULID_LEN];
        // The first 10 characters encode the 48-bit millisecond timestamp.
        for (i, slot) in body.iter_mut().take(10).enumerate() {
            let shift = 45 - 5 * i as u32;
            *slot = CROCKFORD[((ms >> shift) & 31) as usize];
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        Self { raw: format!("{}{}", K::PREFIX, body), _kind: PhantomData }
    }

    /// The millisecond its ULID was minted at (the inverse of [`Id::lower_bound_at`]).
    pub fn created_ms(&self) -> i64 {
        let body = &self.raw.as_bytes()[K::PREFIX.len()..];
        body.iter().take(10).fold(0i64, |ms, b| {
            let digit = CROCKFORD.iter().position(|c| c == b).unwrap_or(0) as i64;
            (ms << 5) | digit
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn into_string(self) -> String {
        self.raw
    }
}

impl<K: IdKind> Clone for Id<K> {
    fn clone(&self) -> Self {
        Self { raw: self.raw.clone(), _kind: PhantomData }
    }
}
impl<K: IdKind> PartialEq for Id<K> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}
impl<K: IdKind> Eq for Id<K> {}
impl<K: IdKind> std::hash::Hash for Id<K> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.raw.hash(state)
    }
}
impl<K: IdKind> PartialOrd for Id<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<K: IdKind> Ord for Id<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.raw.cmp(&other.raw)
    }
}
impl<K: IdKind> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}
impl<K: IdKind> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}
impl<K: IdKind> FromStr for Id<K> {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
impl<K: IdKind> AsRef<str> for Id<K> {
    fn as_ref(&self) -> &str {
        &self.raw
    }
}
impl<K: IdKind> Serialize for Id<K> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}
impl<'de, K: IdKind> Deserialize<'de> for Id<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Each kind of id is a string schema of its own, with the pattern every id of that
/// kind matches (the canonical upper-case form the API answers with).
#[cfg(feature = "openapi")]
mod schema {
    use std::borrow::Cow;

    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    use utoipa::openapi::RefOr;

    use super::{Id, IdKind, ULID_LEN};

    impl<K: IdKind> utoipa::PartialSchema for Id<K> {
        fn schema() -> RefOr<Schema> {
            // The first character of a ULID body is at most 7: 26 base32 digits hold 130
            // bits, a ULID 128.
            let pattern = format!("^{}[0-7][0-9A-HJKMNP-TV-Z]{{{}}}$", K::PREFIX, ULID_LEN - 1);
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(format!("The id of a {}: `{}` and a ULID.", K::NAME, K::PREFIX)))
                .pattern(Some(pattern))
                .examples([format!("{}01JC3Z8Q5G7XKQ2V9M4T6W8Y0A", K::PREFIX)])
                .into()
        }
    }

    impl<K: IdKind> utoipa::ToSchema for Id<K> {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed(K::SCHEMA_NAME)
        }
    }
}

macro_rules! id_kinds {
    ($($(#[$doc:meta])* $kind:ident / $alias:ident = $prefix:literal, $name:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $kind;
        impl IdKind for $kind {
            const PREFIX: &'static str = $prefix;
            const NAME: &'static str = $name;
            const SCHEMA_NAME: &'static str = stringify!($alias);
        }
        $(#[$doc])*
        pub type $alias = Id<$kind>;
    )*};
}

id_kinds! {
    /// A tenant: one partner organisation.
    TenantKind / TenantId = "tn_", "tenant";
    /// A partner's HTTP endpoint.
    EndpointKind / EndpointId = "ep_", "endpoint";
    /// One published event.
    MessageKind / MessageId = "msg_", "message";
    /// One (message, endpoint) pair: a row of the queue.
    DeliveryKind / DeliveryId = "dlv_", "delivery";
    /// One HTTP request made for a delivery.
    AttemptKind / AttemptId = "att_", "attempt";
    /// A long-running action such as a bulk recover.
    OperationKind / OperationId = "op_", "operation";
    /// An API key.
    ApiKeyKind / ApiKeyId = "key_", "API key";
    /// A dashboard user.
    UserKind / UserId = "usr_", "user";
    /// A lifecycle event.
    EventKind / EventId = "evt_", "lifecycle event";
    /// A signing secret of an endpoint.
    SecretKind / SecretId = "sec_", "secret";
    /// An entry of the audit trail.
    AuditKind / AuditId = "aud_", "audit event";
    /// A one-time link into the dashboard as a tenant's partner.
    PortalLinkKind / PortalLinkId = "pl_", "portal link";
    /// An endpoint's incident: from detection to recovery.
    IncidentKind / IncidentId = "inc_", "incident";
}

/// The tenant the canary (`sluice.canary`, see the engine's `service/canary.rs`)
/// publishes to. Reserved: no caller reaches it, and no listing shows it, so the
/// canary never counts in a partner's numbers. Its ULID body is the smallest time
/// there is, so it can never be an id the generator makes.
const CANARY_TENANT: &str = "tn_00000000000000000000CANARY";

impl Id<TenantKind> {
    /// The canary's reserved tenant.
    pub fn canary() -> Self {
        Self { raw: CANARY_TENANT.to_owned(), _kind: PhantomData }
    }

    /// Whether this is the canary's reserved tenant.
    pub fn is_canary(&self) -> bool {
        self.raw == CANARY_TENANT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_ms_reads_back_the_time_an_id_was_minted_at() {
        for ms in [0, 1, 1_700_000_000_123, (1i64 << 48) - 1] {
            assert_eq!(DeliveryId::lower_bound_at(ms).created_ms(), ms);
        }
        // The ULID specification's own example (01ARZ3NDEK is its time).
        let minted = DeliveryId::from_ulid_body("01ARZ3NDEKTSV4RRFFQ69G5FAV").expect("valid");
        assert_eq!(minted.created_ms(), 1_469_922_850_259);
    }

    #[test]
    fn the_canary_tenant_is_a_valid_id_no_generator_makes() {
        let canary = TenantId::parse(CANARY_TENANT).expect("a valid tenant id");
        assert_eq!(canary, TenantId::canary());
        assert!(canary.is_canary());
        assert!(canary < TenantId::lower_bound_at(1), "before any id made after 1970");
        assert!(!TenantId::lower_bound_at(0).is_canary());
    }

    #[test]
    fn parses_and_normalises() {
        let id = TenantId::parse("tn_01hzy5v3k2f8m9q0w1x2y3z4a5").expect("valid");
        assert_eq!(id.as_str(), "tn_01HZY5V3K2F8M9Q0W1X2Y3Z4A5");
    }

    #[test]
    fn rejects_wrong_prefix_length_and_alphabet() {
        assert!(EndpointId::parse("tn_01HZY5V3K2F8M9Q0W1X2Y3Z4A5").is_err());
        assert!(EndpointId::parse("ep_01HZY5V3K2").is_err());
        assert!(EndpointId::parse("ep_01HZY5V3K2F8M9Q0W1X2Y3Z4AU").is_err(), "U is not Crockford");
        assert!(EndpointId::parse("ep_81HZY5V3K2F8M9Q0W1X2Y3Z4A5").is_err(), "overflows 128 bits");
    }

    #[test]
    fn lower_bound_sorts_before_ids_of_that_millisecond() {
        let lb = MessageId::lower_bound_at(1_700_000_000_000);
        let later = MessageId::lower_bound_at(1_700_000_000_001);
        assert!(lb < later);
        assert_eq!(lb.as_str().len(), 4 + ULID_LEN);
        assert!(MessageId::parse(lb.as_str()).is_ok());
    }
}
