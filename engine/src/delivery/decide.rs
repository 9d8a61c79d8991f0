//! What becomes of a delivery after an attempt: the next step and its side effects.
//!
//! A pure function of the attempt, the endpoint, the time and a random number, so
//! every rule (success, retry with jitter, `Retry-After`, exhaustion, 410 disabling
//! the endpoint) is checked by a table of cases without a clock or a network.

use sluice_core::ids::EndpointId;
use sluice_core::model::{ErrorClass, LifecycleKind};
use sluice_core::retry;

use super::sender::SendResult;
use crate::ids::new_id;
use crate::store::{Claimed, DueEndpoint, LifecycleEvent, NextStep, Outcome};

/// An attempt's outcome plus its side effects, ready for the recorder.
#[derive(Debug)]
pub struct Verdict {
    pub outcome: Outcome,
    /// The endpoint to disable, and why (it answered 410 Gone).
    pub disable: Option<(EndpointId, String)>,
    pub events: Vec<LifecycleEvent>,
}

impl Verdict {
    pub fn succeeded(&self) -> bool {
        self.outcome.next == NextStep::Succeeded
    }
}

/// Decides the delivery's next step after the attempt in `result` at `now_ms`;
/// `jitter` is a uniform random number in `[0, 1)` that spreads the retry delay.
pub fn decide(claim: &Claimed, endpoint: &DueEndpoint, result: SendResult, now_ms: i64, jitter: f64) -> Verdict {
    let record = result.record;
    let Some(class) = record.error_class else {
        let outcome = Outcome { lease_token: claim.lease_token, attempt: record, next: NextStep::Succeeded };
        return Verdict { outcome, disable: None, events: Vec::new() };
    };
    let event = |kind: LifecycleKind, subject: &str, detail: serde_json::Value| LifecycleEvent {
        id: new_id(),
        tenant_id: Some(claim.tenant_id.clone()),
        kind,
        subject_id: subject.into(),
        actor: "engine".into(),
        detail,
        created_at_ms: now_ms,
    };
    let mut events = Vec::new();
    let mut disable = None;
    if class == ErrorClass::Http410 {
        let reason = "the endpoint answered 410 Gone".to_owned();
        events.push(event(
            LifecycleKind::EndpointDisabled,
            endpoint.id.as_str(),
            serde_json::json!({ "reason": reason, "cause": "gone", "delivery_id": claim.delivery_id }),
        ));
        disable = Some((endpoint.id.clone(), reason));
    }
    let schedule: &[u32] = endpoint.retry_schedule.as_deref().unwrap_or(&retry::DEFAULT_SCHEDULE);
    // A replay starts the schedule over: count attempts since its base.
    let since_base = u32::try_from(record.number - claim.retry_base).unwrap_or(u32::MAX);
    let next = match retry::next_delay_ms(schedule, since_base, jitter) {
        None => {
            events.push(event(
                LifecycleKind::DeliveryExhausted,
                claim.delivery_id.as_str(),
                serde_json::json!({
                    "message_id": claim.message_id,
                    "event_type": claim.event_type,
                    "endpoint_id": claim.endpoint_id,
                    "attempts": record.number,
                    "last_error_class": class,
                }),
            ));
            NextStep::Exhausted
        }
        Some(delay_ms) => {
            // A receiver may ask for more time, never for less: `Retry-After` (clamped
            // when parsed) lengthens this wait but cannot shorten the schedule, or a
            // receiver in maintenance answering `503 Retry-After: 1` would burn a
            // three-day schedule in seconds.
            let asked_ms = record.retry_after_seconds.map_or(0, |s| u64::try_from(s).unwrap_or(0).saturating_mul(1000));
            let delay_ms = delay_ms.max(asked_ms);
            NextStep::RetryAt(now_ms.saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX / 2)))
        }
    };
    Verdict { outcome: Outcome { lease_token: claim.lease_token, attempt: record, next }, disable, events }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AttemptRecord;
    use sluice_core::model::AttemptTrigger;

    const NOW: i64 = 1_700_000_000_000;

    fn claim(attempts_before: i64, retry_base: i64) -> (Claimed, DueEndpoint) {
        let endpoint = DueEndpoint {
            id: new_id(),
            tenant_id: new_id(),
            url: "https://example.com/hook".into(),
            version: 1,
            rate_limit_per_second: None,
            max_concurrency: None,
            retry_schedule: None,
        };
        let claim = Claimed {
            delivery_id: new_id(),
            message_id: new_id(),
            endpoint_id: endpoint.id.clone(),
            tenant_id: endpoint.tenant_id.clone(),
            event_type: "order.created".into(),
            payload: "{}".into(),
            message_created_at_ms: NOW - 5_000,
            attempts: attempts_before,
            retry_base,
            lease_token: 42,
            trigger: AttemptTrigger::Scheduled,
        };
        (claim, endpoint)
    }

    fn answered(c: &Claimed, status: Option<u16>, class: Option<ErrorClass>, retry_after: Option<u64>) -> SendResult {
        SendResult {
            record: AttemptRecord {
                id: new_id(),
                delivery_id: c.delivery_id.clone(),
                message_id: c.message_id.clone(),
                endpoint_id: c.endpoint_id.clone(),
                tenant_id: c.tenant_id.clone(),
                number: c.attempts + 1,
                trigger: c.trigger,
                url: "https://example.com/hook".into(),
                started_at_ms: NOW,
                duration_ms: 3,
                request_headers: "{}".into(),
                response_status: status.map(i64::from),
                response_headers: None,
                response_body: None,
                error_class: class,
                error_message: None,
                retry_after_seconds: retry_after.map(|s| s as i64),
            },
        }
    }

    #[test]
    fn metrics_number_attempts_within_their_run_and_time_only_the_first_run() {
        use std::time::Duration;
        let telemetry = crate::telemetry::Telemetry::new(5);
        let took = Duration::from_millis(3);
        // The first run's third attempt succeeds, 5 s after the message was published.
        let (first, endpoint) = claim(2, 0);
        let verdict = decide(&first, &endpoint, answered(&first, Some(200), None, None), NOW, 0.5);
        let latency = super::super::stats::observe(&telemetry, &first, &verdict, took, NOW);
        assert_eq!(latency, Some(Duration::from_secs(5)));
        // A replay (the schedule started over after 7 attempts) succeeds at its first
        // try, a day later: attempt 1 of its run, and no latency.
        let (replay, endpoint) = claim(7, 7);
        let day_later = NOW + 86_400_000;
        let verdict = decide(&replay, &endpoint, answered(&replay, Some(200), None, None), day_later, 0.5);
        let latency = super::super::stats::observe(&telemetry, &replay, &verdict, took, day_later);
        assert_eq!(latency, None, "a replay's success is no delivery latency");

        let text = telemetry.render(&Default::default());
        let series = |tenant: &str, attempt: &str| {
            format!("sluice_attempts_total{{tenant=\"{tenant}\",attempt=\"{attempt}\",outcome=\"succeeded\",error_class=\"none\"}} 1")
        };
        for line in [
            series(first.tenant_id.as_str(), "3"),
            series(replay.tenant_id.as_str(), "1"),
            format!("sluice_deliveries_total{{tenant=\"{}\",outcome=\"succeeded\"}} 1", replay.tenant_id),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
    }

    struct Case {
        name: &'static str,
        attempts_before: i64,
        retry_base: i64,
        schedule: Option<Vec<u32>>,
        status: Option<u16>,
        class: Option<ErrorClass>,
        retry_after: Option<u64>,
        jitter: f64,
        next: NextStep,
        disables: bool,
        events: &'static [LifecycleKind],
    }

    fn case(name: &'static str) -> Case {
        Case {
            name,
            attempts_before: 0,
            retry_base: 0,
            schedule: None,
            status: Some(500),
            class: Some(ErrorClass::Http5xx),
            retry_after: None,
            jitter: 0.5,
            next: NextStep::RetryAt(NOW),
            disables: false,
            events: &[],
        }
    }

    #[test]
    fn decisions() {
        let cases = [
            Case { status: Some(200), class: None, next: NextStep::Succeeded, ..case("2xx succeeds") },
            Case { next: NextStep::RetryAt(NOW), ..case("first failure retries at once") },
            Case { attempts_before: 1, next: NextStep::RetryAt(NOW + 10_000), ..case("second waits 10 s") },
            Case {
                attempts_before: 1,
                jitter: 0.0,
                next: NextStep::RetryAt(NOW + 8_000),
                ..case("jitter low end is -20 %")
            },
            Case {
                attempts_before: 1,
                jitter: 1.0,
                next: NextStep::RetryAt(NOW + 12_000),
                ..case("jitter high end is +20 %")
            },
            Case {
                attempts_before: 16,
                next: NextStep::RetryAt(NOW + 43_200_000),
                ..case("the 17th failure still waits the last 12 h")
            },
            Case {
                attempts_before: 17,
                events: &[LifecycleKind::DeliveryExhausted],
                next: NextStep::Exhausted,
                ..case("the 18th failure is final: the default schedule's 17 waits are used up")
            },
            Case {
                attempts_before: 5,
                retry_base: 5,
                next: NextStep::RetryAt(NOW),
                ..case("a replay starts the schedule over")
            },
            Case {
                schedule: Some(vec![7]),
                next: NextStep::RetryAt(NOW + 7_000),
                ..case("an endpoint's own schedule")
            },
            Case {
                schedule: Some(vec![]),
                next: NextStep::Exhausted,
                events: &[LifecycleKind::DeliveryExhausted],
                ..case("an empty schedule means one attempt")
            },
            Case {
                status: Some(503),
                retry_after: Some(120),
                next: NextStep::RetryAt(NOW + 120_000),
                ..case("a longer Retry-After is honoured")
            },
            Case {
                status: Some(503),
                attempts_before: 1,
                retry_after: Some(1),
                next: NextStep::RetryAt(NOW + 10_000),
                ..case("a shorter Retry-After does not shorten the schedule")
            },
            Case {
                status: Some(429),
                class: Some(ErrorClass::Http429),
                attempts_before: 8,
                retry_after: Some(60),
                next: NextStep::RetryAt(NOW + 3_600_000),
                ..case("the schedule's hour wins over a 429's minute")
            },
            Case {
                status: Some(410),
                class: Some(ErrorClass::Http410),
                disables: true,
                events: &[LifecycleKind::EndpointDisabled],
                ..case("410 disables the endpoint and still schedules a retry")
            },
            Case {
                status: None,
                class: Some(ErrorClass::Timeout),
                attempts_before: 2,
                next: NextStep::RetryAt(NOW + 30_000),
                ..case("timeouts retry like any failure")
            },
        ];
        for c in cases {
            let (claimed, mut endpoint) = claim(c.attempts_before, c.retry_base);
            endpoint.retry_schedule = c.schedule.clone();
            let result = answered(&claimed, c.status, c.class, c.retry_after);
            let v = decide(&claimed, &endpoint, result, NOW, c.jitter);
            assert_eq!(v.outcome.next, c.next, "{}", c.name);
            assert_eq!(v.outcome.lease_token, 42, "{}: the claim's fencing token", c.name);
            assert_eq!(v.disable.is_some(), c.disables, "{}", c.name);
            let kinds: Vec<LifecycleKind> = v.events.iter().map(|e| e.kind).collect();
            assert_eq!(kinds, c.events, "{}", c.name);
            assert!(v.events.iter().all(|e| e.created_at_ms == NOW && e.actor == "engine"), "{}", c.name);
        }
    }
}
