//! List queries as clients and people type them (every field optional text), parsed
//! into the store's filters in one place, so the REST API and the dashboard accept
//! the same values and refuse the rest with the same field errors (422).

use sluice_core::ids::{EndpointId, Id, IdKind, MessageId};
use sluice_core::model::DeliveryStatus;
use sluice_core::validate::Errors;

use super::parse_time;
use crate::error::{Error, Result};
use crate::store::DeliveryFilter;

/// `?status=&endpoint_id=&message_id=&event_type=&since=` of the delivery log. Empty
/// or blank values mean "any", as an untouched form field does.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct DeliveryQuery {
    pub status: Option<String>,
    pub endpoint_id: Option<String>,
    pub message_id: Option<String>,
    pub event_type: Option<String>,
    /// RFC 3339.
    pub since: Option<String>,
}

impl DeliveryQuery {
    pub fn into_filter(self) -> Result<DeliveryFilter> {
        let given = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let mut errors = Errors::default();
        let status = given(self.status).and_then(|s| {
            let parsed = DeliveryStatus::parse(&s);
            if parsed.is_none() {
                errors.add("status", "must be pending, succeeded, failed or cancelled");
            }
            parsed
        });
        let endpoint_id: Option<EndpointId> = parse_id(&mut errors, "endpoint_id", given(self.endpoint_id));
        let message_id: Option<MessageId> = parse_id(&mut errors, "message_id", given(self.message_id));
        let since_ms = match parse_time("since", given(self.since).as_deref()) {
            Ok(t) => t,
            Err(Error::Validation(fields)) => {
                for f in fields {
                    errors.add(&f.field, f.message);
                }
                None
            }
            Err(other) => return Err(other),
        };
        errors.into_result().map_err(Error::Validation)?;
        Ok(DeliveryFilter { status, endpoint_id, message_id, event_type: given(self.event_type), since_ms })
    }
}

/// A typed id from a filter field, or a field error (and `None`) for a bad one.
fn parse_id<K: IdKind>(errors: &mut Errors, field: &str, value: Option<String>) -> Option<Id<K>> {
    let value = value?;
    Id::parse(&value).map_err(|e| errors.add(field, e.to_string())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_mean_any_and_values_parse() {
        let q = DeliveryQuery { status: Some(" ".into()), since: Some(String::new()), ..Default::default() };
        let f = q.into_filter().expect("blank is any");
        assert!(f.status.is_none() && f.since_ms.is_none());
        let q = DeliveryQuery {
            status: Some("failed".into()),
            since: Some("2026-01-31T12:00:00Z".into()),
            event_type: Some("order.created".into()),
            ..Default::default()
        };
        let f = q.into_filter().expect("valid");
        assert_eq!(f.status, Some(DeliveryStatus::Failed));
        assert_eq!(f.since_ms, Some(1_769_860_800_000));
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let q = DeliveryQuery {
            status: Some("lost".into()),
            endpoint_id: Some("msg_nope".into()),
            since: Some("yesterday".into()),
            ..Default::default()
        };
        let Err(Error::Validation(fields)) = q.into_filter() else { panic!("expected validation errors") };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["status", "endpoint_id", "since"]);
    }
}
