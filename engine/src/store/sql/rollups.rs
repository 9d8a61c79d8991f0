// SLO roll-ups: `impl RollupStore`, and the marks writers leave in their transactions.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

/// The latency buckets' columns, `, le0, …, le13`.
fn rollup_bucket_columns() -> String {
    (0..sluice_core::slo::LATENCY_BOUNDS_MS.len()).map(|i| format!(", le{i}")).collect()
}

use super::rollups;

/// Counts the deliveries created in one hour into `slo_rollups`, one row per tenant
/// (or for the tenant bound as $7). Binds: $1 the hour, $2 now, $3/$4 the id range,
/// $5/$6 the creation-time range. A count that finds fewer deliveries than the one
/// stored was made after the retention purge took some: the stored one stays.
fn rollup_insert_sql(one_tenant: bool) -> String {
    let buckets: String = sluice_core::slo::LATENCY_BOUNDS_MS
        .iter()
        .map(|b| {
            format!(", SUM(CASE WHEN d.state = 'succeeded' AND d.succeeded_at - d.created_at <= {b} THEN 1 ELSE 0 END)")
        })
        .collect();
    // One tenant's hour by the (tenant_id, id) index; every tenant's by the id.
    let tenant = if one_tenant { "d.tenant_id = $7 AND " } else { "" };
    format!(
        "INSERT INTO slo_rollups (tenant_id, hour, target_ms, succeeded, failed, pending, total, good{cols}, rolled_at) \
         SELECT d.tenant_id, $1, ti.latency_target_ms, \
         SUM(CASE WHEN d.state = 'succeeded' THEN 1 ELSE 0 END), \
         SUM(CASE WHEN d.state = 'failed' THEN 1 ELSE 0 END), \
         SUM(CASE WHEN d.state = 'pending' THEN 1 ELSE 0 END), \
         COUNT(*), \
         SUM(CASE WHEN d.state = 'succeeded' AND d.succeeded_at - d.created_at <= ti.latency_target_ms \
         THEN 1 ELSE 0 END){buckets}, $2 \
         FROM deliveries d JOIN tenants t ON t.id = d.tenant_id JOIN tiers ti ON ti.name = t.tier \
         WHERE {tenant}d.id >= $3 AND d.id < $4 AND d.created_at >= $5 AND d.created_at < $6 AND {not_canary} \
         GROUP BY d.tenant_id, ti.latency_target_ms \
         ON CONFLICT (tenant_id, hour) DO UPDATE SET target_ms = excluded.target_ms, \
         succeeded = excluded.succeeded, failed = excluded.failed, pending = excluded.pending, \
         total = excluded.total, good = excluded.good{updates}, rolled_at = excluded.rolled_at \
         WHERE excluded.total >= slo_rollups.total",
        cols = rollup_bucket_columns(),
        not_canary = not_canary("d.tenant_id"),
        updates = (0..sluice_core::slo::LATENCY_BOUNDS_MS.len())
            .map(|i| format!(", le{i} = excluded.le{i}"))
            .collect::<String>(),
    )
}

/// What a writer's mark does when the hour is marked already: takes the row's lock,
/// so that the job, whose transaction deletes the mark before it counts, waits for
/// this writer's commit and counts its change (PostgreSQL; SQLite has one writer).
const MARK_CONFLICT: &str = "ON CONFLICT (tenant_id, hour) DO UPDATE SET hour = excluded.hour";

impl This {
    /// Marks the hours of the given (tenant, created_at) deliveries that are over (see
    /// `rollups::mark_cutoff_ms`). In sorted order, last in its transaction: marks are
    /// the last locks a writer takes, so writers cannot deadlock over them.
    async fn mark_hours_in(
        tx: &mut sqlx::Transaction<'_, Db>,
        deliveries: impl Iterator<Item = (&str, i64)>,
        now_ms: i64,
    ) -> Result<()> {
        let cutoff = rollups::mark_cutoff_ms(now_ms);
        let hours: std::collections::BTreeSet<(&str, i64)> = deliveries
            .filter(|(_, created)| *created < cutoff)
            .map(|(tenant, created)| (tenant, created.div_euclid(rollups::HOUR_MS)))
            .collect();
        if hours.is_empty() {
            return Ok(());
        }
        let mut qb = sqlx::QueryBuilder::<Db>::new("INSERT INTO slo_dirty (tenant_id, hour) ");
        qb.push_values(hours, |mut b, (tenant, hour)| {
            b.push_bind(tenant).push_bind(hour);
        });
        qb.push(" ");
        qb.push(MARK_CONFLICT);
        qb.build().execute(&mut **tx).await?;
        Ok(())
    }

    /// Marks the hours of the recorded deliveries that are over. A delivery is never
    /// created before its message's id was minted (the id first, then the clock, in
    /// one request), so a batch whose messages are all of this hour costs no
    /// statement: during a burst, every batch.
    async fn mark_recorded_hours_in(
        tx: &mut sqlx::Transaction<'_, Db>,
        outcomes: &[Outcome],
        now_ms: i64,
    ) -> Result<()> {
        let cutoff = rollups::mark_cutoff_ms(now_ms);
        // A second's margin for a clock read a millisecond apart.
        let old: Vec<&str> = outcomes
            .iter()
            .filter(|o| o.attempt.message_id.created_ms() < cutoff + 1_000)
            .map(|o| o.attempt.delivery_id.as_str())
            .collect();
        if old.is_empty() {
            return Ok(());
        }
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO slo_dirty (tenant_id, hour) SELECT DISTINCT tenant_id, created_at / 3600000 \
             FROM deliveries WHERE created_at < ",
        );
        qb.push_bind(cutoff).push(" AND id IN (");
        let mut ids = qb.separated(", ");
        for id in old {
            ids.push_bind(id);
        }
        qb.push(") ORDER BY 1, 2 ");
        qb.push(MARK_CONFLICT);
        qb.build().execute(&mut **tx).await?;
        Ok(())
    }

    /// Marks the hours of the deliveries `filter` selects (binding `$1`, and the cutoff
    /// as `$2`), for changes that touch deliveries by message, operation or endpoint.
    async fn mark_hours_where_in(
        tx: &mut sqlx::Transaction<'_, Db>,
        filter: &str,
        key: &str,
        now_ms: i64,
    ) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO slo_dirty (tenant_id, hour) SELECT DISTINCT tenant_id, created_at / 3600000 \
             FROM deliveries WHERE {filter} AND created_at < $2 ORDER BY 1, 2 {MARK_CONFLICT}"
        ))
        .bind(key)
        .bind(rollups::mark_cutoff_ms(now_ms))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Marks every counted hour whose tenant's latency target is no longer the one it
    /// was counted against (`filter` on `t`, the tenant, binding `$1`).
    async fn mark_retargeted_in(tx: &mut sqlx::Transaction<'_, Db>, filter: &str, key: &str) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO slo_dirty (tenant_id, hour) SELECT r.tenant_id, r.hour FROM slo_rollups r \
             JOIN tenants t ON t.id = r.tenant_id JOIN tiers ti ON ti.name = t.tier \
             WHERE {filter} AND r.target_ms <> ti.latency_target_ms ORDER BY 1, 2 {MARK_CONFLICT}"
        ))
        .bind(key)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Counts `hour` again (for one tenant or all) in `tx`, after clearing its marks:
    /// a writer's mark that lands after the clearing is for a change this count may
    /// not have seen, so it stays for the next run.
    async fn count_hour_in(
        tx: &mut sqlx::Transaction<'_, Db>,
        hour: i64,
        tenant: Option<&str>,
        now_ms: i64,
    ) -> Result<()> {
        let start = hour * rollups::HOUR_MS;
        let end = start + rollups::HOUR_MS;
        sqlx::query("DELETE FROM slo_dirty WHERE hour = $1 AND ($2 IS NULL OR tenant_id = $2)")
            .bind(hour)
            .bind(tenant)
            .execute(&mut **tx)
            .await?;
        let sql = rollup_insert_sql(tenant.is_some());
        let mut count = sqlx::query(&sql)
            .bind(hour)
            .bind(now_ms)
            .bind(DeliveryId::lower_bound_at(start).into_string())
            .bind(DeliveryId::lower_bound_at(end + rollups::ID_SLACK_MS).into_string())
            .bind(start)
            .bind(end);
        if let Some(tenant) = tenant {
            count = count.bind(tenant);
        }
        count.execute(&mut **tx).await?;
        // A tier whose target changed while this count read the old one marked only
        // what was committed then: look again, now.
        sqlx::query(&format!(
            "INSERT INTO slo_dirty (tenant_id, hour) SELECT r.tenant_id, r.hour FROM slo_rollups r \
             JOIN tenants t ON t.id = r.tenant_id JOIN tiers ti ON ti.name = t.tier \
             WHERE r.hour = $1 AND r.rolled_at = $2 AND ($3 IS NULL OR r.tenant_id = $3) \
             AND r.target_ms <> ti.latency_target_ms ORDER BY 1, 2 {MARK_CONFLICT}"
        ))
        .bind(hour)
        .bind(now_ms)
        .bind(tenant)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl RollupStore for This {
    async fn rollup_next_hour(&self) -> Result<Option<i64>> {
        let (next,): (Option<i64>,) =
            sqlx::query_as("SELECT next_hour FROM slo_rollup_state WHERE id = 1").fetch_one(&self.read).await?;
        Ok(next)
    }

    async fn oldest_delivery_hour(&self, since_ms: i64) -> Result<Option<i64>> {
        // By id, the primary key: ids are minted at or after their creation time.
        let (oldest,): (Option<i64>,) =
            sqlx::query_as("SELECT MIN(created_at) FROM deliveries WHERE id >= $1 AND id < $2 AND created_at >= $3")
                .bind(DeliveryId::lower_bound_at(since_ms).into_string())
                .bind(DeliveryId::lower_bound_at(since_ms + rollups::HOUR_MS + rollups::ID_SLACK_MS).into_string())
                .bind(since_ms)
                .fetch_one(&self.read)
                .await?;
        if let Some(ms) = oldest {
            return Ok(Some(ms.div_euclid(rollups::HOUR_MS)));
        }
        // Nothing in the first hour: the oldest id after it says where to start.
        let (first,): (Option<String>,) = sqlx::query_as("SELECT MIN(id) FROM deliveries WHERE id >= $1")
            .bind(DeliveryId::lower_bound_at(since_ms).into_string())
            .fetch_one(&self.read)
            .await?;
        first
            .map(|id| {
                let id: DeliveryId = parse_id(id)?;
                // Its creation may precede its id by up to the slack.
                Ok((id.created_ms() - rollups::ID_SLACK_MS).max(since_ms).div_euclid(rollups::HOUR_MS))
            })
            .transpose()
    }

    async fn roll_hour(&self, hour: i64, expected: Option<i64>, now_ms: i64) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        // First, so two nodes rolling at once queue here and the second finds the
        // hour moved on.
        let moved = sqlx::query(
            "UPDATE slo_rollup_state SET next_hour = $1 \
             WHERE id = 1 AND (next_hour = $2 OR (next_hour IS NULL AND $2 IS NULL))",
        )
        .bind(hour + 1)
        .bind(expected)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved != 1 {
            return Ok(false);
        }
        Self::count_hour_in(&mut tx, hour, None, now_ms).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn marked_hours(&self, before_hour: i64, limit: i64) -> Result<Vec<(TenantId, i64)>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT tenant_id, hour FROM slo_dirty WHERE hour < $1 ORDER BY hour, tenant_id LIMIT $2")
                .bind(before_hour)
                .bind(limit)
                .fetch_all(&self.read)
                .await?;
        rows.into_iter().map(|(t, h)| Ok((parse_id(t)?, h))).collect()
    }

    async fn reroll(&self, tenant: Option<&TenantId>, hour: i64, now_ms: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        Self::count_hour_in(&mut tx, hour, tenant.map(|t| t.as_str()), now_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rolled_hours(&self, tenant: &TenantScope, from_hour: i64, to_hour: i64) -> Result<Vec<RolledHour>> {
        use sqlx::Row as _;
        let rows = sqlx::query(&format!(
            "SELECT hour, target_ms, succeeded, failed, pending, good{} FROM slo_rollups \
             WHERE tenant_id = $1 AND hour >= $2 AND hour < $3 ORDER BY hour",
            rollup_bucket_columns()
        ))
        .bind(tenant.id().as_str())
        .bind(from_hour)
        .bind(to_hour)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RolledHour {
                    hour: r.try_get(0)?,
                    target_ms: r.try_get(1)?,
                    succeeded: r.try_get(2)?,
                    failed: r.try_get(3)?,
                    pending: r.try_get(4)?,
                    good: r.try_get(5)?,
                    latency_le: (0..sluice_core::slo::LATENCY_BOUNDS_MS.len())
                        .map(|i| r.try_get::<i64, _>(6 + i))
                        .collect::<Result<Vec<_>, _>>()?,
                })
            })
            .collect()
    }

    async fn insert_history(&self, rows: &[PastDelivery]) -> Result<Vec<(MessageId, DeliveryId)>> {
        let ids: Vec<(MessageId, DeliveryId)> = rows
            .iter()
            .map(|r| (crate::ids::new_id_at(r.created_at_ms), crate::ids::new_id_at(r.created_at_ms)))
            .collect();
        let mut tx = self.write.begin().await?;
        let pairs: Vec<(&PastDelivery, &(MessageId, DeliveryId))> = rows.iter().zip(&ids).collect();
        for chunk in pairs.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO messages (id, tenant_id, event_type, payload, idempotency_key, request_hash, created_at) ",
            );
            qb.push_values(chunk, |mut b, (r, (message, _))| {
                b.push_bind(message.as_str())
                    .push_bind(r.tenant_id.as_str())
                    .push_bind("history.recorded")
                    .push_bind("{}")
                    .push_bind(None::<String>)
                    .push_bind(None::<String>)
                    .push_bind(r.created_at_ms);
            });
            qb.build().execute(&mut *tx).await?;
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO deliveries (id, message_id, endpoint_id, tenant_id, event_type, state, attempts, retry_base, \
                 next_attempt_at, lease_owner, lease_token, next_trigger, created_at, updated_at, succeeded_at) ",
            );
            qb.push_values(chunk, |mut b, (r, (message, delivery))| {
                let (state, attempts, next, done) = match r.outcome {
                    PastOutcome::Pending => ("pending", 0i64, Some(r.created_at_ms), None),
                    PastOutcome::SucceededAfter(ms) => ("succeeded", 1, None, Some(r.created_at_ms + ms)),
                    PastOutcome::Failed => ("failed", 1, None, None),
                };
                b.push_bind(delivery.as_str())
                    .push_bind(message.as_str())
                    .push_bind(r.endpoint_id.as_str())
                    .push_bind(r.tenant_id.as_str())
                    .push_bind("history.recorded")
                    .push_bind(state)
                    .push_bind(attempts)
                    .push_bind(0i64)
                    .push_bind(next)
                    .push_bind(None::<String>)
                    .push_bind(0i64)
                    .push_bind("scheduled")
                    .push_bind(r.created_at_ms)
                    .push_bind(done.unwrap_or(r.created_at_ms))
                    .push_bind(done);
            });
            qb.build().execute(&mut *tx).await?;
        }
        let heads: Vec<(&str, i64)> = rows
            .iter()
            .filter(|r| r.outcome == PastOutcome::Pending)
            .map(|r| (r.endpoint_id.as_str(), r.created_at_ms))
            .collect();
        if !heads.is_empty() {
            Self::lower_heads_in(&mut tx, &heads).await?;
        }
        let hours = rows.iter().map(|r| (r.tenant_id.as_str(), r.created_at_ms));
        Self::mark_hours_in(&mut tx, hours, crate::ids::now_ms()).await?;
        tx.commit().await?;
        Ok(ids)
    }

    async fn purge_rollups(&self, before_hour: i64) -> Result<u64> {
        let mut tx = self.write.begin().await?;
        let rows = sqlx::query("DELETE FROM slo_rollups WHERE hour < $1")
            .bind(before_hour)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM slo_dirty WHERE hour < $1").bind(before_hour).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(rows)
    }
}
