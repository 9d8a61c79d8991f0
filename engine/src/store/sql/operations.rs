// Bulk operations (recover): `impl OperationStore`.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

#[async_trait]
impl OperationStore for This {
    async fn recover(&self, tenant: &TenantScope, op: &NewOperation, now_ms: i64) -> Result<i64> {
        let mut tx = self.write.begin().await?;
        // Same transition as a replay: due now, leases cleared, the retry schedule
        // restarted from here (retry_base), and tagged so progress can be counted.
        let total = sqlx::query(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $1, lease_owner = NULL, \
             next_trigger = 'bulk_recover', retry_base = attempts, updated_at = $1, operation_id = $2 \
             WHERE tenant_id = $3 AND endpoint_id = $4 AND state = 'failed' AND created_at >= $5 AND created_at < $6 \
             AND updated_at >= $7",
        )
        .bind(now_ms)
        .bind(op.id.as_str())
        .bind(tenant.id().as_str())
        .bind(op.endpoint_id.as_str())
        .bind(op.since_ms)
        .bind(op.until_ms)
        .bind(op.failed_since_ms.unwrap_or(i64::MIN))
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
        sqlx::query(
            "INSERT INTO operations (id, tenant_id, kind, endpoint_id, since_at, until_at, total, created_by, created_at) \
             VALUES ($1, $2, 'recover', $3, $4, $5, $6, $7, $8)",
        )
        .bind(op.id.as_str())
        .bind(tenant.id().as_str())
        .bind(op.endpoint_id.as_str())
        .bind(op.since_ms)
        .bind(op.until_ms)
        .bind(total)
        .bind(&op.created_by)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if total > 0 {
            Self::lower_heads_in(&mut tx, &[(op.endpoint_id.as_str(), now_ms)]).await?;
            Self::announce_work(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(total)
    }

    async fn recoverable(&self, tenant: &TenantScope, op: &NewOperation) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM deliveries WHERE tenant_id = $1 AND endpoint_id = $2 AND state = 'failed' \
             AND created_at >= $3 AND created_at < $4 AND updated_at >= $5",
        )
        .bind(tenant.id().as_str())
        .bind(op.endpoint_id.as_str())
        .bind(op.since_ms)
        .bind(op.until_ms)
        .bind(op.failed_since_ms.unwrap_or(i64::MIN))
        .fetch_one(&self.read)
        .await?;
        Ok(n)
    }

    async fn get_operation(&self, id: &OperationId) -> Result<Option<Operation>> {
        type Row = (String, String, String, String, i64, i64, i64, String, i64);
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, tenant_id, kind, endpoint_id, since_at, until_at, total, created_by, created_at \
             FROM operations WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.read)
        .await?;
        let Some((id, tenant_id, kind, endpoint_id, since_at, until_at, total, created_by, created_at)) = row else {
            return Ok(None);
        };
        let counts: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM deliveries WHERE operation_id = $1 GROUP BY state")
                .bind(&id)
                .fetch_all(&self.read)
                .await?;
        let count = |s: &str| counts.iter().find(|(state, _)| state == s).map_or(0, |(_, n)| *n);
        let pending = count("pending");
        Ok(Some(Operation {
            id: parse_id(id)?,
            tenant_id: parse_id(tenant_id)?,
            kind,
            endpoint_id: parse_id(endpoint_id)?,
            since: ms_to_dt(since_at),
            until: ms_to_dt(until_at),
            state: if pending > 0 { "running".into() } else { "completed".into() },
            total,
            pending,
            succeeded: count("succeeded"),
            failed: count("failed"),
            created_by,
            created_at: ms_to_dt(created_at),
        }))
    }
}
