//! Input rules shared by the API and the dashboard, so both reject the same things
//! with the same words.

use crate::error::FieldError;
use crate::retry::MAX_DELAY_SECONDS;
use crate::signing::decode_secret;

pub const MAX_EVENT_TYPE_LEN: usize = 128;
pub const MAX_URL_LEN: usize = 2_048;
pub const MAX_DESCRIPTION_LEN: usize = 1_024;
pub const MAX_NAME_LEN: usize = 256;
pub const MAX_EVENT_TYPE_FILTERS: usize = 256;
/// A custom retry schedule: at most this many waits, each at least a second, all
/// together at most 30 days, so no endpoint can turn its failures into a storm of
/// instant retries or keep a delivery pending for a season.
pub const MAX_RETRY_ENTRIES: usize = 30;
pub const MIN_RETRY_DELAY_SECONDS: u32 = 1;
pub const MAX_RETRY_TOTAL_SECONDS: u64 = 30 * 24 * 3600;
pub const MAX_RATE_LIMIT: u32 = 100_000;
pub const MAX_GRACE_PERIOD_SECONDS: u32 = 7 * 24 * 3600;
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// Collects field errors so one response can list all of them.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn check(&mut self, result: Result<(), String>, field: &str) {
        if let Err(message) = result {
            self.add(field, message);
        }
    }

    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

/// Event types: `a-z A-Z 0-9 . _ - :`, 1 to 128 characters (`invoice.paid`).
pub fn event_type(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > MAX_EVENT_TYPE_LEN {
        return Err(format!("must be 1 to {MAX_EVENT_TYPE_LEN} characters"));
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':')) {
        return Err("may contain only letters, digits and . _ - :".into());
    }
    Ok(())
}

/// Event types that start with this are Sluice's own: no one may publish them, and an
/// endpoint gets them only by naming them.
pub const RESERVED_PREFIX: &str = "sluice.";

/// Sluice's own event types an endpoint may subscribe to (operational webhooks): what
/// happened to the tenant's endpoints and deliveries, sent like any other message.
pub const OPERATIONAL_EVENT_TYPES: [&str; 6] = [
    "sluice.endpoint.disabled",
    "sluice.endpoint.circuit_opened",
    "sluice.endpoint.recovered",
    "sluice.delivery.exhausted",
    "sluice.incident.opened",
    "sluice.incident.resolved",
];

pub fn is_reserved(event_type: &str) -> bool {
    event_type.starts_with(RESERVED_PREFIX)
}

/// An event type a caller may publish: a valid one outside Sluice's own.
pub fn publishable_event_type(s: &str) -> Result<(), String> {
    event_type(s)?;
    if is_reserved(s) {
        return Err(format!("must not start with {RESERVED_PREFIX:?}: those are Sluice's own events"));
    }
    Ok(())
}

/// Endpoint URLs: absolute http(s) with a host, no credentials, at most 2 KiB.
///
/// Whether the host may be private is decided at connect time, against the addresses
/// it resolves to then: checking here would miss DNS that changes after creation.
pub fn endpoint_url(s: &str) -> Result<(), String> {
    if s.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    let url = url::Url::parse(s).map_err(|e| format!("is not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must use http or https".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must have a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials; use a secret or a header instead".into());
    }
    if url.fragment().is_some() {
        return Err("must not contain a #fragment".into());
    }
    Ok(())
}

pub fn name(s: &str) -> Result<(), String> {
    // Characters, not bytes: the limit the API description states.
    if s.trim().is_empty() || s.chars().count() > MAX_NAME_LEN {
        return Err(format!("must be 1 to {MAX_NAME_LEN} characters"));
    }
    Ok(())
}

/// Labels an endpoint may have, and their keys' and values' lengths.
pub const MAX_LABELS: usize = 10;
pub const MAX_LABEL_KEY_LEN: usize = 32;
pub const MAX_LABEL_VALUE_LEN: usize = 64;

/// An endpoint's labels: at most ten, each key a short identifier (`kind`,
/// `team.region`), each value short and printable. Answers (field suffix, message)
/// for each problem, so the caller can name `labels.kind`.
pub fn labels(labels: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    if labels.len() > MAX_LABELS {
        errors.push((String::new(), format!("may have at most {MAX_LABELS} labels")));
    }
    for (key, value) in labels {
        let key_ok = key.len() <= MAX_LABEL_KEY_LEN
            && key.starts_with(|c: char| c.is_ascii_lowercase())
            && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
        // Keys go into field names of error answers: never echo a bad one whole.
        let shown: String = key.chars().filter(char::is_ascii_graphic).take(MAX_LABEL_KEY_LEN).collect();
        if !key_ok {
            errors.push((
                format!(".{shown}"),
                format!(
                    "a label key must be 1 to {MAX_LABEL_KEY_LEN} characters: lower-case letters, digits, '_', '.' \
                     or '-', starting with a letter"
                ),
            ));
        } else if value.is_empty() || value.chars().count() > MAX_LABEL_VALUE_LEN || value.chars().any(char::is_control)
        {
            errors.push((format!(".{key}"), format!("must be 1 to {MAX_LABEL_VALUE_LEN} printable characters")));
        }
    }
    errors
}

pub fn description(s: &str) -> Result<(), String> {
    if s.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(format!("must be at most {MAX_DESCRIPTION_LEN} characters"));
    }
    Ok(())
}

pub fn event_type_filter(types: &[String]) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    if types.len() > MAX_EVENT_TYPE_FILTERS {
        errors.push((String::new(), format!("at most {MAX_EVENT_TYPE_FILTERS} event types")));
    }
    for (i, t) in types.iter().enumerate() {
        if let Err(e) = event_type(t) {
            errors.push((format!("[{i}]"), e));
        } else if is_reserved(t) && !OPERATIONAL_EVENT_TYPES.contains(&t.as_str()) {
            let known = OPERATIONAL_EVENT_TYPES.join(", ");
            errors.push((format!("[{i}]"), format!("is not one of Sluice's own event types ({known})")));
        }
    }
    errors
}

pub fn rate_limit(r: u32) -> Result<(), String> {
    if r == 0 || r > MAX_RATE_LIMIT {
        return Err(format!("must be between 1 and {MAX_RATE_LIMIT} per second"));
    }
    Ok(())
}

/// Whether an endpoint subscribed to `types` (empty means every type) gets a message
/// of `event_type`. Sluice's own types go only to endpoints that name them: an
/// endpoint taking "everything" was set up for the platform's events, not for notices
/// about its own failures.
pub fn subscribes(types: &[String], event_type: &str) -> bool {
    (types.is_empty() && !is_reserved(event_type)) || types.iter().any(|t| t == event_type)
}

/// The largest per-tenant quotas the platform may set.
pub const MAX_ENDPOINTS_QUOTA: u32 = 100_000;
pub const MAX_API_KEYS_QUOTA: u32 = 10_000;

/// The longest auto-disable period a tenant may have: a year, in seconds.
pub const MAX_AUTO_DISABLE_SECONDS: u32 = 365 * 86_400;

/// An auto-disable period in seconds: 0 (never) up to a year.
pub fn auto_disable_seconds(n: u32) -> Result<(), String> {
    if n > MAX_AUTO_DISABLE_SECONDS {
        return Err(format!("must be between 0 (never) and {MAX_AUTO_DISABLE_SECONDS} (a year)"));
    }
    Ok(())
}

pub fn quota(n: u32, max: u32) -> Result<(), String> {
    if !(1..=max).contains(&n) {
        return Err(format!("must be between 1 and {max}"));
    }
    Ok(())
}

/// How many days a tenant's messages are kept once delivered: a day to ten years.
pub fn retention_days(n: i64) -> Result<(), String> {
    if !(1..=3650).contains(&n) {
        return Err("must be between 1 and 3650".into());
    }
    Ok(())
}

pub fn backlog_cap(n: i64) -> Result<(), String> {
    if !(1..=1_000_000_000).contains(&n) {
        return Err("must be between 1 and 1000000000".into());
    }
    Ok(())
}

/// An endpoint's own cap on requests in flight.
pub const MAX_CONCURRENCY: u32 = 64;

pub fn max_concurrency(n: u32) -> Result<(), String> {
    if !(1..=MAX_CONCURRENCY).contains(&n) {
        return Err(format!("must be between 1 and {MAX_CONCURRENCY}"));
    }
    Ok(())
}

pub fn retry_schedule(s: &[u32]) -> Result<(), String> {
    if s.len() > MAX_RETRY_ENTRIES {
        return Err(format!("may have at most {MAX_RETRY_ENTRIES} entries"));
    }
    if s.iter().any(|&d| !(MIN_RETRY_DELAY_SECONDS..=MAX_DELAY_SECONDS).contains(&d)) {
        return Err(format!("each wait must be {MIN_RETRY_DELAY_SECONDS} to {MAX_DELAY_SECONDS} seconds"));
    }
    if s.iter().map(|&d| u64::from(d)).sum::<u64>() > MAX_RETRY_TOTAL_SECONDS {
        return Err(format!("the waits may add up to at most {MAX_RETRY_TOTAL_SECONDS} seconds (30 days)"));
    }
    Ok(())
}

pub fn secret(s: &str) -> Result<(), String> {
    decode_secret(s).map(|_| ()).ok_or_else(|| "must be whsec_ followed by base64 of 24 to 64 bytes".into())
}

pub fn grace_period(seconds: u32) -> Result<(), String> {
    if seconds > MAX_GRACE_PERIOD_SECONDS {
        return Err(format!("must be at most {MAX_GRACE_PERIOD_SECONDS} seconds (7 days)"));
    }
    Ok(())
}

/// Idempotency keys: 1 to 255 printable ASCII characters.
pub fn idempotency_key(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > MAX_IDEMPOTENCY_KEY_LEN || !s.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(format!("must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} printable ASCII characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_few_short_and_plain() {
        let of = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        assert!(labels(&of(&[("kind", "erp"), ("team.region-2", "EU West")])).is_empty());
        assert!(labels(&of(&[])).is_empty());
        let bad = labels(&of(&[("Kind", "erp"), ("kind", ""), ("ok", "a\u{0}b"), ("", "x")]));
        let fields: Vec<&str> = bad.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, [".", ".Kind", ".kind", ".ok"]);
        let many: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        let many = many.into_iter().collect();
        assert_eq!(labels(&many)[0].0, "", "too many, said once for the whole map");
        assert_eq!(labels(&of(&[("k", &"v".repeat(65))])).len(), 1);
    }

    #[test]
    fn retry_schedules() {
        assert!(retry_schedule(&[]).is_ok(), "one attempt, no retries");
        assert!(retry_schedule(&[1, 60, 3_600]).is_ok());
        assert!(retry_schedule(&[0, 10]).is_err(), "a 0 s wait is a retry storm");
        assert!(retry_schedule(&[1; 30]).is_ok());
        assert!(retry_schedule(&[1; 31]).is_err(), "too many steps");
        assert!(retry_schedule(&[MAX_DELAY_SECONDS + 1]).is_err());
        assert!(retry_schedule(&[MAX_DELAY_SECONDS; 4]).is_ok(), "28 days");
        assert!(retry_schedule(&[MAX_DELAY_SECONDS; 5]).is_err(), "35 days");
    }

    #[test]
    fn urls() {
        assert!(endpoint_url("https://example.com/hook").is_ok());
        assert!(endpoint_url("http://127.0.0.1:8080/x?y=1").is_ok());
        assert!(endpoint_url("ftp://example.com").is_err());
        assert!(endpoint_url("not a url").is_err());
        assert!(endpoint_url("https://user:pw@example.com/").is_err());
        assert!(endpoint_url("https://user@example.com/").is_err());
        assert!(endpoint_url("mailto:a@example.com").is_err());
    }

    #[test]
    fn event_types() {
        assert!(event_type("invoice.paid").is_ok());
        assert!(event_type("a:b-c_d").is_ok());
        assert!(event_type("").is_err());
        assert!(event_type("has space").is_err());
        assert!(event_type(&"x".repeat(129)).is_err());
    }
    #[test]
    fn sluice_events_are_reserved_and_go_only_to_endpoints_that_name_them() {
        assert!(publishable_event_type("invoice.paid").is_ok());
        assert!(publishable_event_type("sluice.endpoint.disabled").is_err());
        assert!(!subscribes(&[], "sluice.endpoint.disabled"), "everything means the platform's events");
        assert!(subscribes(&[], "invoice.paid"));
        assert!(subscribes(&["sluice.endpoint.disabled".into()], "sluice.endpoint.disabled"));
        assert!(event_type_filter(&["sluice.endpoint.disabled".into(), "invoice.paid".into()]).is_empty());
        let errors = event_type_filter(&["invoice.paid".into(), "sluice.nope".into()]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, "[1]");
    }

    #[test]
    fn idempotency_keys() {
        assert!(idempotency_key("order-123").is_ok());
        assert!(idempotency_key("").is_err());
        assert!(idempotency_key("with space").is_err());
    }
}
