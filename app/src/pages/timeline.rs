//! A message's own timeline: when it was published, every attempt to every endpoint,
//! the replays and recovers people asked for, and where each delivery gave up, in the
//! order they happened. Built by a plain function, so the order is a unit test.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use sluice_core::model::{ActivityEvent, DeliveryStatus, Operation};

use super::message::MessageDetail;

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Moment {
    pub at: DateTime<Utc>,
    /// `published`, `attempt`, `replay`, `recover`, `gave_up`: what the line is, for styling and
    /// tests.
    pub kind: String,
    pub text: String,
    pub failed: bool,
}

/// The message's moments, oldest first; `replays` are its `replay.requested` events,
/// `recovers` the recover operations that last queued its deliveries again.
// Called by the page's server function, so the browser build never does.
#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
pub fn moments(m: &MessageDetail, replays: &[ActivityEvent], recovers: &[Operation]) -> Vec<Moment> {
    let mut out = vec![Moment {
        at: m.created_at,
        kind: "published".into(),
        text: format!("Published as {}", m.event_type),
        failed: false,
    }];
    for e in replays {
        let n = e.detail.get("deliveries").and_then(serde_json::Value::as_array).map_or(0, Vec::len);
        out.push(Moment {
            at: e.created_at,
            kind: "replay".into(),
            text: format!("Replay requested by {} ({n} {})", e.actor, if n == 1 { "delivery" } else { "deliveries" }),
            failed: false,
        });
    }
    for op in recovers {
        let to: Vec<&str> = m
            .deliveries
            .iter()
            .filter(|d| d.delivery.operation_id.as_ref() == Some(&op.id))
            .map(|d| d.endpoint_url.as_str())
            .collect();
        let scope = if op.endpoint_id.is_some() { "an endpoint's recover" } else { "a recover of every endpoint" };
        out.push(Moment {
            at: op.created_at,
            kind: "recover".into(),
            text: format!("Queued again to {} by {scope} ({}, by {})", to.join(", "), op.id, op.created_by),
            failed: false,
        });
    }
    for d in &m.deliveries {
        for a in &d.attempts {
            let outcome = match (a.response_status, a.error_class) {
                (Some(s), _) => format!("HTTP {s}"),
                (None, Some(c)) => c.as_str().replace('_', " "),
                (None, None) => "no answer".into(),
            };
            out.push(Moment {
                at: a.started_at,
                kind: "attempt".into(),
                text: format!(
                    "Attempt {} to {} ({}): {outcome} in {} ms",
                    a.number,
                    d.endpoint_url,
                    a.trigger.as_str(),
                    a.duration_ms
                ),
                failed: a.error_class.is_some(),
            });
        }
        if d.delivery.status == DeliveryStatus::Failed {
            if let Some(last) = d.attempts.last() {
                out.push(Moment {
                    at: last.started_at,
                    kind: "gave_up".into(),
                    text: format!("Gave up on {} after {} attempts", d.endpoint_url, d.attempts.len()),
                    failed: true,
                });
            }
        }
    }
    // Stable: at one instant, a delivery's attempt stays before its giving up.
    out.sort_by_key(|moment| moment.at);
    out
}

#[component]
pub fn Timeline(moments: Vec<Moment>) -> impl IntoView {
    let items = moments
        .into_iter()
        .map(|moment| {
            let class = if moment.failed { "text-red-700" } else { "" };
            view! {
                <li data-testid="timeline-moment" data-kind=moment.kind class=class>
                    <time>{super::when(&moment.at)}</time>
                    " · "
                    {moment.text}
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="card" aria-labelledby="timeline-heading">
            <h2 id="timeline-heading">"Timeline"</h2>
            <ol>{items}</ol>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::message::DeliveryDetail;
    use sluice_core::model::{Attempt, Delivery, ErrorClass, LifecycleKind};

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    fn attempt(number: i64, s: i64, status: u16) -> Attempt {
        let json = serde_json::json!({
            "id": format!("att_01hzy5v3k2f8m9q0w1x2y3z4a{number}"),
            "delivery_id": "dlv_01hzy5v3k2f8m9q0w1x2y3z4a5",
            "message_id": "msg_01hzy5v3k2f8m9q0w1x2y3z4a5",
            "endpoint_id": "ep_01hzy5v3k2f8m9q0w1x2y3z4a5",
            "number": number,
            "trigger": "scheduled",
            "url": "https://example.com/hook",
            "started_at": at(s),
            "duration_ms": 12,
            "request_headers": {},
            "response_status": status,
            "response_headers": null,
            "response_body": null,
            "error_class": ErrorClass::of_status(status),
            "error_message": null,
            "retry_after_seconds": null,
        });
        serde_json::from_value(json).expect("an attempt")
    }

    #[test]
    fn moments_run_in_time_order_and_say_where_a_delivery_gave_up() {
        let delivery: Delivery = serde_json::from_value(serde_json::json!({
            "id": "dlv_01hzy5v3k2f8m9q0w1x2y3z4a5",
            "message_id": "msg_01hzy5v3k2f8m9q0w1x2y3z4a5",
            "endpoint_id": "ep_01hzy5v3k2f8m9q0w1x2y3z4a5",
            "tenant_id": "tn_01hzy5v3k2f8m9q0w1x2y3z4a5",
            "event_type": "order.paid",
            "status": "failed",
            "attempts": 2,
            "next_attempt_at": null,
            "last_error_class": "http5xx",
            "last_response_status": 500,
            "created_at": at(0),
            "updated_at": at(60),
        }))
        .expect("a delivery");
        let m = MessageDetail {
            id: "msg_01hzy5v3k2f8m9q0w1x2y3z4a5".into(),
            tenant_id: "tn_01hzy5v3k2f8m9q0w1x2y3z4a5".into(),
            event_type: "order.paid".into(),
            created_at: at(0),
            idempotency_key: None,
            payload_pretty: "{}".into(),
            deliveries: vec![DeliveryDetail {
                delivery,
                endpoint_url: "https://example.com/hook".into(),
                attempts: vec![attempt(1, 1, 500), attempt(2, 60, 500)],
            }],
        };
        let replay = ActivityEvent {
            id: "evt_01hzy5v3k2f8m9q0w1x2y3z4a5".parse().expect("id"),
            tenant_id: None,
            kind: LifecycleKind::ReplayRequested,
            subject_id: m.id.clone(),
            actor: "usr_pat".into(),
            detail: serde_json::json!({ "deliveries": ["dlv_a"] }),
            created_at: at(30),
        };
        let kinds: Vec<String> = moments(&m, &[replay], &[]).into_iter().map(|m| m.kind).collect();
        assert_eq!(kinds, ["published", "attempt", "replay", "attempt", "gave_up"]);

        // A recover that queued the delivery again, between the two attempts.
        let mut recovered = m.clone();
        let op: Operation = serde_json::from_value(serde_json::json!({
            "id": "op_01hzy5v3k2f8m9q0w1x2y3z4a5",
            "tenant_id": "tn_01hzy5v3k2f8m9q0w1x2y3z4a5",
            "kind": "recover",
            "endpoint_id": null,
            "since": at(0),
            "until": at(40),
            "event_type": null,
            "error_class": null,
            "state": "completed",
            "cancelled_at": null,
            "total": 1, "pending": 0, "succeeded": 0, "failed": 1,
            "created_by": "usr_sue",
            "created_at": at(40),
        }))
        .expect("an operation");
        recovered.deliveries[0].delivery.operation_id = Some(op.id.clone());
        let lines = moments(&recovered, &[], std::slice::from_ref(&op));
        let kinds: Vec<&str> = lines.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!(kinds, ["published", "attempt", "recover", "attempt", "gave_up"]);
        assert!(lines[2].text.contains("https://example.com/hook") && lines[2].text.contains("every endpoint"));
    }
}
