// What a metrics scrape reads: `impl GaugeStore`. Compiled once per backend:
// `include!`d by `sqlite.rs` and `postgres.rs`.

#[derive(sqlx::FromRow)]
struct TenantQueueRow {
    tenant_id: String,
    due: i64,
    scheduled: i64,
    in_flight: i64,
    paused: i64,
    oldest_due: Option<i64>,
}

#[async_trait]
impl GaugeStore for This {
    async fn queue_depths(&self, _operator: &Operator, now_ms: i64) -> Result<Vec<TenantQueue>> {
        // One pass over the pending rows (the partial index holds exactly those). A
        // leased row's `next_attempt_at` is its lease's end, so a row past it is due.
        // A disabled or deleted endpoint's rows are paused, whatever their times: the
        // due scan skips them.
        let rows: Vec<TenantQueueRow> = sqlx::query_as(
            "SELECT d.tenant_id, \
             COUNT(*) FILTER (WHERE a.live AND d.next_attempt_at <= $1) AS due, \
             COUNT(*) FILTER (WHERE a.live AND d.next_attempt_at > $1 AND d.lease_owner IS NULL) AS scheduled, \
             COUNT(*) FILTER (WHERE a.live AND d.next_attempt_at > $1 AND d.lease_owner IS NOT NULL) AS in_flight, \
             COUNT(*) FILTER (WHERE NOT a.live) AS paused, \
             MIN(d.next_attempt_at) FILTER (WHERE a.live AND d.next_attempt_at <= $1) AS oldest_due \
             FROM deliveries d \
             JOIN (SELECT id, (enabled = TRUE AND deleted_at IS NULL) AS live FROM endpoints) a ON a.id = d.endpoint_id \
             WHERE d.state = 'pending' GROUP BY d.tenant_id",
        )
        .bind(now_ms)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(TenantQueue {
                    tenant_id: parse_id(r.tenant_id)?,
                    due: r.due,
                    scheduled: r.scheduled,
                    in_flight: r.in_flight,
                    paused: r.paused,
                    oldest_due_ms: r.oldest_due,
                })
            })
            .collect()
    }

    async fn endpoint_counts(&self, _operator: &Operator) -> Result<EndpointCounts> {
        // The canary's endpoints are the platform's own, not partners'.
        let (enabled, disabled): (i64, i64) = sqlx::query_as(&format!(
            "SELECT COUNT(*) FILTER (WHERE enabled = TRUE), COUNT(*) FILTER (WHERE enabled = FALSE) \
             FROM endpoints WHERE deleted_at IS NULL AND {}",
            not_canary("tenant_id")
        ))
        .fetch_one(&self.read)
        .await?;
        Ok(EndpointCounts { enabled, disabled })
    }

    async fn attempt_minutes(&self, _operator: &Operator, since_ms: i64) -> Result<Vec<AttemptMinute>> {
        // By the attempts' time-ordered ids (made as each starts), then their start.
        let rows: Vec<(i64, Option<String>, i64)> = sqlx::query_as(&format!(
            "SELECT (started_at - $2) / 60000, error_class, COUNT(*) FROM attempts \
             WHERE id >= $1 AND started_at >= $2 \
             AND endpoint_id NOT IN (SELECT id FROM endpoints WHERE tenant_id = '{}') GROUP BY 1, 2",
            TenantId::canary()
        ))
        .bind(AttemptId::lower_bound_at(since_ms).into_string())
        .bind(since_ms)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(minute, error_class, attempts)| AttemptMinute { minute, error_class, attempts })
            .collect())
    }

    async fn shared_open_circuit_count(&self, _operator: &Operator) -> Result<i64> {
        if This::BACKEND == Backend::Sqlite {
            return Ok(0);
        }
        let (n,): (i64,) = sqlx::query_as(&format!(
            "SELECT COUNT(*) FROM endpoint_pacing p JOIN endpoints e ON e.id = p.endpoint_id \
             WHERE p.circuit_open_until_us IS NOT NULL AND e.deleted_at IS NULL AND {}",
            not_canary("e.tenant_id")
        ))
        .fetch_one(&self.read)
        .await?;
        Ok(n)
    }

    async fn tenant_tier(&self, tenant: &TenantId) -> Result<Option<String>> {
        let tier: Option<(String,)> = sqlx::query_as("SELECT tier FROM tenants WHERE id = $1")
            .bind(tenant.as_str())
            .fetch_optional(&self.read)
            .await?;
        Ok(tier.map(|(t,)| t))
    }

    fn pool_states(&self) -> Vec<PoolState> {
        let state = |pool: &'static str, p: &sqlx::Pool<Db>| PoolState {
            pool,
            idle: u64::try_from(p.num_idle()).unwrap_or(u64::MAX),
            size: u64::from(p.size()),
            max: u64::from(p.options().get_max_connections()),
        };
        vec![state("write", &self.write), state("read", &self.read)]
    }
}
