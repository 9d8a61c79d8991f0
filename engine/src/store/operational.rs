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
    // The canary's doings are the canary's news (its metric and the home page), not a
    // notice to the platform's inbox.
    if !matches!(event.actor.as_str(), "engine" | "system") || tenant_id.is_canary() {
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
        LifecycleKind::IncidentOpened | LifecycleKind::IncidentResolved => {
            let endpoint = event.detail.get("endpoint_id").and_then(serde_json::Value::as_str).map(str::to_owned);
            let event_type = if event.kind == LifecycleKind::IncidentOpened {
                "sluice.incident.opened"
            } else {
                "sluice.incident.resolved"
            };
            (event_type, endpoint, "incident_id")
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

/// Delivery ids a coalesced `sluice.delivery.exhausted` notice lists at most.
const LISTED_DELIVERIES: usize = 100;

/// One `sluice.delivery.exhausted` notice per endpoint per batch, not one per
/// delivery: a tenant whose dead endpoint fails thousands of deliveries a second must
/// not turn each into a message for every subscriber (and the platform's inbox). The
/// first delivery's details stay; `deliveries` counts them all and `delivery_ids`
/// lists the first hundred. Other notices pass as they are.
pub fn coalesce(notices: Vec<Notice>) -> Vec<Notice> {
    let mut out: Vec<Notice> = Vec::with_capacity(notices.len());
    let mut at: std::collections::HashMap<(String, Option<String>), usize> = std::collections::HashMap::new();
    for notice in notices {
        if notice.event_type != "sluice.delivery.exhausted" {
            out.push(notice);
            continue;
        }
        let delivery = notice.payload.get("delivery_id").cloned().unwrap_or_default();
        let key = (notice.tenant_id.as_str().to_owned(), notice.about_endpoint.clone());
        if let Some(&i) = at.get(&key) {
            let first = &mut out[i].payload;
            let n = first.get("deliveries").and_then(serde_json::Value::as_i64).unwrap_or(1);
            first["deliveries"] = (n + 1).into();
            if let Some(ids) = first.get_mut("delivery_ids").and_then(serde_json::Value::as_array_mut) {
                if ids.len() < LISTED_DELIVERIES {
                    ids.push(delivery);
                }
            }
            continue;
        }
        let mut notice = notice;
        notice.payload["deliveries"] = 1.into();
        notice.payload["delivery_ids"] = serde_json::json!([delivery]);
        at.insert(key, out.len());
        out.push(notice);
    }
    out
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
        let canary = sluice_core::ids::TenantId::canary();
        let opened =
            LifecycleEvent::new(Some(&canary), LifecycleKind::EndpointCircuitOpened, "ep_c", "system", closed.detail);
        assert_eq!(notice_of(&opened), None, "the canary's circuit is nobody's notice");
    }

    #[test]
    fn incidents_are_noticed_never_to_their_own_endpoint_and_their_acknowledgement_not_at_all() {
        let detail = serde_json::json!({ "endpoint_id": "ep_failing", "cause": "failure_rate" });
        let opened = LifecycleEvent::new(Some(&new_id()), LifecycleKind::IncidentOpened, "inc_x", "engine", detail);
        let notice = notice_of(&opened).expect("a notice");
        assert_eq!(notice.event_type, "sluice.incident.opened");
        assert_eq!(notice.about_endpoint.as_deref(), Some("ep_failing"), "never sent to the failing endpoint");
        assert_eq!(notice.payload["incident_id"], "inc_x");
        assert_eq!(notice.payload["endpoint_id"], "ep_failing");
        assert_eq!(notice.payload["cause"], "failure_rate");
        let detail = serde_json::json!({ "endpoint_id": "ep_failing" });
        let resolved = LifecycleEvent::new(Some(&new_id()), LifecycleKind::IncidentResolved, "inc_x", "engine", detail);
        assert_eq!(notice_of(&resolved).map(|n| n.event_type), Some("sluice.incident.resolved"));
        let acked = event(LifecycleKind::IncidentAcknowledged, "system", serde_json::json!({}));
        assert_eq!(notice_of(&acked), None, "a person looked: nothing for the engine to announce");
    }

    #[test]
    fn a_storm_of_exhausted_deliveries_is_one_notice_per_endpoint() {
        let tenant = new_id();
        let exhausted = |endpoint: &str| {
            let detail = serde_json::json!({ "event_type": "order.paid", "endpoint_id": endpoint });
            let e = LifecycleEvent::new(Some(&tenant), LifecycleKind::DeliveryExhausted, "dlv_x", "engine", detail);
            notice_of(&e).expect("a notice")
        };
        let mut storm: Vec<Notice> = (0..250).map(|_| exhausted("ep_dead")).collect();
        storm.push(exhausted("ep_other"));
        let closed = LifecycleEvent::new(
            Some(&tenant),
            LifecycleKind::EndpointCircuitClosed,
            "ep_dead",
            "system",
            serde_json::json!({}),
        );
        storm.push(notice_of(&closed).expect("a notice"));
        let out = coalesce(storm);
        assert_eq!(out.len(), 3, "one per endpoint, and the circuit's own");
        assert_eq!(out[0].payload["deliveries"], 250);
        assert_eq!(out[0].payload["delivery_ids"].as_array().map(Vec::len), Some(LISTED_DELIVERIES));
        assert_eq!(out[1].payload["deliveries"], 1);
        assert_eq!(out[2].event_type, "sluice.endpoint.recovered");
    }
}
