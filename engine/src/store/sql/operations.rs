// Bulk operations (recover, cancel, list): `impl OperationStore`.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

/// Which failed deliveries an operation takes: `$1` tenant, `$2` endpoint (null:
/// every endpoint of the tenant that is not deleted), `$3`–`$4` the creation window,
/// `$5` failed at or after, `$6` event type, `$7` error class (a null filter takes
/// all).
const RECOVERABLE: &str = "tenant_id = $1 AND ($2 IS NULL OR endpoint_id = $2) AND state = 'failed' \
     AND created_at >= $3 AND created_at < $4 AND updated_at >= $5 \
     AND ($6 IS NULL OR event_type = $6) AND ($7 IS NULL OR last_error_class = $7) \
     AND endpoint_id IN (SELECT id FROM endpoints WHERE tenant_id = $1 AND deleted_at IS NULL)";

const OPERATION_COLUMNS: &str = "id, tenant_id, kind, endpoint_id, since_at, until_at, total, created_by, created_at, \
     event_type, error_class, cancelled_at";

#[derive(sqlx::FromRow)]
struct OperationRow {
    id: String,
    tenant_id: String,
    kind: String,
    endpoint_id: Option<String>,
    since_at: i64,
    until_at: i64,
    total: i64,
    created_by: String,
    created_at: i64,
    event_type: Option<String>,
    error_class: Option<String>,
    cancelled_at: Option<i64>,
}

impl This {
    /// The operation with its deliveries counted by state.
    async fn operation_of(&self, r: OperationRow) -> Result<Operation> {
        let counts: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM deliveries WHERE operation_id = $1 GROUP BY state")
                .bind(&r.id)
                .fetch_all(&self.read)
                .await?;
        let count = |s: &str| counts.iter().find(|(state, _)| state == s).map_or(0, |(_, n)| *n);
        let pending = count("pending");
        let state = match (r.cancelled_at, pending) {
            (Some(_), _) => "cancelled",
            (None, 0) => "completed",
            (None, _) => "running",
        };
        Ok(Operation {
            id: parse_id(r.id)?,
            tenant_id: parse_id(r.tenant_id)?,
            kind: r.kind,
            endpoint_id: opt_id(r.endpoint_id)?,
            since: ms_to_dt(r.since_at),
            until: ms_to_dt(r.until_at),
            event_type: r.event_type,
            error_class: r.error_class.as_deref().and_then(ErrorClass::parse),
            state: state.into(),
            cancelled_at: r.cancelled_at.map(ms_to_dt),
            total: r.total,
            pending,
            succeeded: count("succeeded"),
            failed: count("failed"),
            created_by: r.created_by,
            created_at: ms_to_dt(r.created_at),
        })
    }
}

#[async_trait]
impl OperationStore for This {
    async fn recover(&self, tenant: &TenantScope, op: &NewOperation, now_ms: i64) -> Result<i64> {
        let mut tx = self.write.begin().await?;
        // Same transition as a replay: due now, leases cleared, the retry schedule
        // restarted from here (retry_base), and tagged so progress can be counted.
        let total = sqlx::query(&format!(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $8, lease_owner = NULL, \
             next_trigger = 'bulk_recover', retry_base = attempts, updated_at = $8, operation_id = $9 \
             WHERE {RECOVERABLE}"
        ))
        .bind(tenant.id().as_str())
        .bind(op.endpoint_id.as_ref().map(|e| e.as_str()))
        .bind(op.since_ms)
        .bind(op.until_ms)
        .bind(op.failed_since_ms.unwrap_or(i64::MIN))
        .bind(op.event_type.as_deref())
        .bind(op.error_class.map(ErrorClass::as_str))
        .bind(now_ms)
        .bind(op.id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
        sqlx::query(
            "INSERT INTO operations (id, tenant_id, kind, endpoint_id, since_at, until_at, total, created_by, \
             created_at, event_type, error_class) VALUES ($1, $2, 'recover', $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(op.id.as_str())
        .bind(tenant.id().as_str())
        .bind(op.endpoint_id.as_ref().map(|e| e.as_str()))
        .bind(op.since_ms)
        .bind(op.until_ms)
        .bind(total)
        .bind(&op.created_by)
        .bind(now_ms)
        .bind(op.event_type.as_deref())
        .bind(op.error_class.map(ErrorClass::as_str))
        .execute(&mut *tx)
        .await?;
        if total > 0 {
            // Every endpoint it re-queued for (one, or all the tenant's) is due now.
            let endpoints: Vec<(String,)> = sqlx::query_as(
                "SELECT DISTINCT endpoint_id FROM deliveries WHERE operation_id = $1 AND state = 'pending'",
            )
            .bind(op.id.as_str())
            .fetch_all(&mut *tx)
            .await?;
            let heads: Vec<(&str, i64)> = endpoints.iter().map(|(e,)| (e.as_str(), now_ms)).collect();
            Self::lower_heads_in(&mut tx, &heads).await?;
            Self::announce_work(&mut tx).await?;
            Self::mark_hours_where_in(&mut tx, "operation_id = $1", op.id.as_str(), now_ms).await?;
        }
        tx.commit().await?;
        Ok(total)
    }

    async fn recoverable(&self, tenant: &TenantScope, op: &NewOperation) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM deliveries WHERE {RECOVERABLE}"))
            .bind(tenant.id().as_str())
            .bind(op.endpoint_id.as_ref().map(|e| e.as_str()))
            .bind(op.since_ms)
            .bind(op.until_ms)
            .bind(op.failed_since_ms.unwrap_or(i64::MIN))
            .bind(op.event_type.as_deref())
            .bind(op.error_class.map(ErrorClass::as_str))
            .fetch_one(&self.read)
            .await?;
        Ok(n)
    }

    async fn get_operation(&self, id: &OperationId) -> Result<Option<Operation>> {
        let row: Option<OperationRow> = sqlx::query_as(&format!(
            "SELECT {OPERATION_COLUMNS} FROM operations WHERE id = $1 AND NOT EXISTS \
                 (SELECT 1 FROM tenants t WHERE t.id = operations.tenant_id AND t.deleted_at IS NOT NULL)"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.read)
        .await?;
        match row {
            Some(r) => Ok(Some(self.operation_of(r).await?)),
            None => Ok(None),
        }
    }

    async fn list_operations(&self, tenant: &TenantScope, page: &PageArgs) -> Result<Vec<Operation>> {
        let rows: Vec<OperationRow> = sqlx::query_as(&format!(
            "SELECT {OPERATION_COLUMNS} FROM operations WHERE tenant_id = $1 AND ($2 IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(tenant.id().as_str())
        .bind(page.before.as_deref())
        .bind(page.limit)
        .fetch_all(&self.read)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(self.operation_of(r).await?);
        }
        Ok(out)
    }

    async fn cancel_operation(&self, tenant: &TenantScope, id: &OperationId, now_ms: i64) -> Result<Option<i64>> {
        let mut tx = self.write.begin().await?;
        // Marked once; asked again, it only sweeps what has come due since (see below).
        let marked = sqlx::query(
            "UPDATE operations SET cancelled_at = $1 WHERE id = $2 AND tenant_id = $3 AND cancelled_at IS NULL",
        )
        .bind(now_ms)
        .bind(id.as_str())
        .bind(tenant.id().as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // What waits goes back to failed. A delivery on its way (an unexpired lease)
        // finishes its attempt, whose outcome the recorder writes as usual: if that
        // fails it is scheduled again, and cancelling again sends it back to failed.
        let stopped = sqlx::query(
            "UPDATE deliveries SET state = 'failed', next_attempt_at = NULL, next_trigger = 'scheduled', \
             updated_at = $1 WHERE operation_id = $2 AND tenant_id = $3 AND state = 'pending' \
             AND (lease_owner IS NULL OR next_attempt_at <= $1)",
        )
        .bind(now_ms)
        .bind(id.as_str())
        .bind(tenant.id().as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
        if stopped > 0 {
            Self::mark_hours_where_in(&mut tx, "operation_id = $1", id.as_str(), now_ms).await?;
        }
        tx.commit().await?;
        Ok((marked > 0).then_some(stopped))
    }
}
