//! The operations page's live view (admins and support): the last hour's attempts
//! minute by minute and by error class, the queue now, endpoints disabled or with an
//! open circuit. Read when someone looks, and kept a few seconds for whoever looks
//! next: one pass over the hour's range of attempt ids, one over the pending
//! deliveries, one count of endpoints.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sluice_core::live::{ClassCount, LiveOperations, MinuteVolume, QueueTotals};

use super::{Operator, Sluice};
use crate::error::Result;
use crate::ids::now_ms;
use crate::store::{ms_to_dt, AttemptMinute};

const MINUTE_MS: i64 = 60_000;
/// Whole minutes shown before the current one.
const WHOLE_MINUTES: i64 = 60;
/// How long one reading serves every viewer of this node: pages refresh every 15 s,
/// so many open tabs cost one reading at most this often.
const KEEP_FOR: Duration = Duration::from_secs(5);

/// The last reading, shared by every viewer of this node.
#[derive(Debug, Default)]
pub(super) struct LiveCache(tokio::sync::Mutex<Option<(Instant, LiveOperations)>>);

impl Sluice {
    pub async fn live_operations(&self, operator: &Operator) -> Result<LiveOperations> {
        // Held while reading: viewers arriving meanwhile wait for this reading.
        let mut kept = self.live.0.lock().await;
        if let Some((_, live)) = kept.as_ref().filter(|(at, _)| at.elapsed() < KEEP_FOR) {
            return Ok(live.clone());
        }
        let live = self.read_live(operator).await?;
        *kept = Some((Instant::now(), live.clone()));
        Ok(live)
    }

    async fn read_live(&self, operator: &Operator) -> Result<LiveOperations> {
        let now = now_ms();
        let start = (now / MINUTE_MS - WHOLE_MINUTES) * MINUTE_MS;
        let rows = self.store.attempt_minutes(operator, start).await?;
        let (minutes, error_classes) = fold_minutes(start, WHOLE_MINUTES as usize + 1, &rows);
        let mut queue = QueueTotals::default();
        for q in self.store.queue_depths(operator, now).await?.into_iter().filter(|q| !q.tenant_id.is_canary()) {
            queue.due += q.due;
            queue.scheduled += q.scheduled;
            queue.in_flight += q.in_flight;
            queue.paused += q.paused;
            if let Some(at) = q.oldest_due_ms {
                queue.oldest_due_seconds = queue.oldest_due_seconds.max((now - at).max(0) as f64 / 1000.0);
            }
        }
        let endpoints = self.store.endpoint_counts(operator).await?;
        // On PostgreSQL every node's breaker writes the shared row; on SQLite there is
        // one node, and it knows its own (the canary's left out, as everywhere).
        let mut on_this_node = 0;
        if let Some(engine) = self.engine.get().filter(|e| !e.circuits.is_empty()) {
            let canary = self.canary_endpoint_ids().await?;
            on_this_node = engine.circuits.len() as i64
                - canary.iter().filter(|id| engine.circuits.get(id).is_some()).count() as i64;
        }
        let circuits_open = self.store.shared_open_circuit_count(operator).await?.max(on_this_node);
        Ok(LiveOperations {
            minutes,
            error_classes,
            queue,
            endpoints_enabled: endpoints.enabled,
            endpoints_disabled: endpoints.disabled,
            circuits_open,
        })
    }
}

/// `count` minutes from `start_ms`, each with its attempts, and the failed ones by
/// class, most first (ties by name, so the order is stable). Rows outside the minutes
/// (a clock that moved) are left out.
fn fold_minutes(start_ms: i64, count: usize, rows: &[AttemptMinute]) -> (Vec<MinuteVolume>, Vec<ClassCount>) {
    let mut minutes: Vec<MinuteVolume> = (0..count)
        .map(|i| MinuteVolume { at: ms_to_dt(start_ms + i as i64 * MINUTE_MS), succeeded: 0, failed: 0 })
        .collect();
    let mut classes: HashMap<&str, i64> = HashMap::new();
    for row in rows {
        let Some(minute) = usize::try_from(row.minute).ok().and_then(|i| minutes.get_mut(i)) else {
            continue;
        };
        match &row.error_class {
            None => minute.succeeded += row.attempts,
            Some(class) => {
                minute.failed += row.attempts;
                *classes.entry(class).or_default() += row.attempts;
            }
        }
    }
    let mut classes: Vec<ClassCount> =
        classes.into_iter().map(|(c, attempts)| ClassCount { error_class: c.to_owned(), attempts }).collect();
    classes.sort_by(|a, b| b.attempts.cmp(&a.attempts).then_with(|| a.error_class.cmp(&b.error_class)));
    (minutes, classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(minute: i64, class: Option<&str>, attempts: i64) -> AttemptMinute {
        AttemptMinute { minute, error_class: class.map(str::to_owned), attempts }
    }

    #[test]
    fn minutes_and_classes() {
        let rows = [
            row(0, None, 5),
            row(0, Some("timeout"), 2),
            row(2, Some("http_5xx"), 3),
            row(2, None, 1),
            row(2, Some("timeout"), 1),
            row(9, None, 100),
            row(-1, None, 100),
        ];
        let (minutes, classes) = fold_minutes(60_000, 3, &rows);
        assert_eq!(minutes.len(), 3);
        assert_eq!((minutes[0].succeeded, minutes[0].failed), (5, 2));
        assert_eq!((minutes[1].succeeded, minutes[1].failed), (0, 0));
        assert_eq!((minutes[2].succeeded, minutes[2].failed), (1, 4));
        assert_eq!(minutes[1].at.timestamp_millis(), 120_000);
        let classes: Vec<(&str, i64)> = classes.iter().map(|c| (c.error_class.as_str(), c.attempts)).collect();
        assert_eq!(classes, [("http_5xx", 3), ("timeout", 3)], "most first, ties by name; out of range left out");
    }
}
