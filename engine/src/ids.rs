//! Generates new typed ids. Monotonic within the process so that ids minted in the
//! same millisecond still sort in creation order (cursor pagination relies on it).

use std::sync::Mutex;

use sluice_core::ids::{Id, IdKind};
use ulid::Generator;

static GENERATOR: Mutex<Option<Generator>> = Mutex::new(None);

/// A fresh id of kind `K`.
pub fn new_id<K: IdKind>() -> Id<K> {
    let ulid = {
        let mut guard = GENERATOR.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let generator = guard.get_or_insert_with(Generator::new);
        // `generate` fails only when 2^80 ids are minted in one millisecond.
        generator.generate().unwrap_or_else(|_| ulid::Ulid::new())
    };
    match Id::from_ulid_body(&ulid.to_string()) {
        Ok(id) => id,
        Err(e) => unreachable!("ulid crate produced an invalid ULID: {e}"),
    }
}

/// An id of kind `K` minted at `unix_ms` (not monotonic: for rows written as if made
/// then, like the history fixture's).
pub fn new_id_at<K: IdKind>(unix_ms: i64) -> Id<K> {
    let ulid = ulid::Ulid::from_parts(u64::try_from(unix_ms).unwrap_or(0), rand::random::<u128>());
    match Id::from_ulid_body(&ulid.to_string()) {
        Ok(id) => id,
        Err(e) => unreachable!("ulid crate produced an invalid ULID: {e}"),
    }
}

/// Milliseconds since the Unix epoch: the unit of every stored time.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A duration in the milliseconds the store keeps times in (saturating: a setting of
/// centuries is "forever", not an overflow).
pub fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
