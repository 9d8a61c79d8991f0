//! Operational webhooks: which of the engine's lifecycle events become messages of
//! Sluice's own event types (`sluice.endpoint.disabled`, …) for the tenant's endpoints
//! that subscribed to them, and what those messages say.
//!
//! A pure mapping, so the rules that keep notices from looping are plain tests: only
//! what the engine did (not what a person did, who knows already), never to the
//! endpoint the notice is about, and never about a delivery of a notice.

use sluice_core::ids::TenantId;
use sluice_core::model::LifecycleKind;
use sluice_core::validate;

use super::{ms_to_dt, LifecycleEvent};

/// A message to publish for a lifecycle event.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub tenant_id: TenantId,
    pub event_type: &'static str,
    /// The endpoint it is about, which must not get it.
    pub about_endpoint: Option<String>,
    pub payload: serde_json::Value,
}

/// The notice for `event`, if it is one the engine sends.
pub fn notice_of(event: &LifecycleEvent) -> Option<Notice> {
    let tenant_id = event.tenant_id.clone()?;
    if !matches!(event.actor.as_str(), "engine" | "system") {
        return None;
    }
    let (event_type, about_endpoint, subject_key) = match event.kind {
        LifecycleKind::EndpointDisabled => ("sluice.endpoint.disabled", Some(event.subject_id.clone()), "endpoint_id"),
        LifecycleKind::EndpointCircuitOpened => {
            ("sluice.endpoint.circuit_opened", Some(event.subject_id.clone()), "endpoint_id")
        }
        LifecycleKind::EndpointCircuitClosed => {
            ("sluice.endpoint.recovered", Some(event.subject_id.clone()), "endpoint_id")
        }
        LifecycleKind::DeliveryExhausted => {
            // A notice that could not be delivered is not itself noticed: two broken
            // subscribers would otherwise tell each other about each other forever.
            let of = event.detail.get("event_type").and_then(serde_json::Value::as_str).unwrap_or_default();
            if validate::is_reserved(of) {
                return None;
            }
            let endpoint = event.detail.get("endpoint_id").and_then(serde_json::Value::as_str).map(str::to_owned);
            ("sluice.delivery.exhausted", endpoint, "delivery_id")
        }
        _ => return None,
    };
    let mut payload = serde_json::Map::new();
    payload.insert(subject_key.into(), event.subject_id.clone().into());
    payload.insert("tenant_id".into(), tenant_id.as_str().into());
    payload.insert("lifecycle_event_id".into(), event.id.as_str().into());
    payload.insert("occurred_at".into(), serde_json::json!(ms_to_dt(event.created_at_ms)));
    if let serde_json::Value::Object(detail) = &event.detail {
        for (k, v) in detail {
            payload.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Some(Notice { tenant_id, event_type, about_endpoint, payload: payload.into() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::new_id;

    fn event(kind: LifecycleKind, actor: &str, detail: serde_json::Value) -> LifecycleEvent {
        LifecycleEvent::new(Some(&new_id()), kind, "ep_subject", actor, detail)
    }

    #[test]
    fn only_the_engines_doings_become_notices_and_never_about_notices() {
        let auto = event(LifecycleKind::EndpointDisabled, "engine", serde_json::json!({ "reason": "down" }));
        let notice = notice_of(&auto).expect("a notice");
        assert_eq!(notice.event_type, "sluice.endpoint.disabled");
        assert_eq!(notice.about_endpoint.as_deref(), Some("ep_subject"));
        assert_eq!(notice.payload["endpoint_id"], "ep_subject");
        assert_eq!(notice.payload["reason"], "down");
        assert_eq!(notice.payload["lifecycle_event_id"], auto.id.as_str());

        let by_hand = event(LifecycleKind::EndpointDisabled, "usr_someone", serde_json::json!({}));
        assert_eq!(notice_of(&by_hand), None, "whoever disabled it knows");
        let rotated = event(LifecycleKind::SecretRotated, "system", serde_json::json!({}));
        assert_eq!(notice_of(&rotated), None);

        let detail = serde_json::json!({ "event_type": "order.paid", "endpoint_id": "ep_other" });
        let exhausted = notice_of(&event(LifecycleKind::DeliveryExhausted, "engine", detail)).expect("a notice");
        assert_eq!(exhausted.event_type, "sluice.delivery.exhausted");
        assert_eq!(exhausted.about_endpoint.as_deref(), Some("ep_other"));
        assert_eq!(exhausted.payload["delivery_id"], "ep_subject");
        let detail = serde_json::json!({ "event_type": "sluice.delivery.exhausted", "endpoint_id": "ep_other" });
        assert_eq!(notice_of(&event(LifecycleKind::DeliveryExhausted, "engine", detail)), None, "no loops");

        let closed = event(LifecycleKind::EndpointCircuitClosed, "system", serde_json::json!({}));
        assert_eq!(notice_of(&closed).map(|n| n.event_type), Some("sluice.endpoint.recovered"));
    }
}
