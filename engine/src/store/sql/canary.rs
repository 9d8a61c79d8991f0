// The canary's runs and its reserved tenant: `impl CanaryStore`. Compiled once per
// backend: `include!`d by `sqlite.rs` and `postgres.rs`.

#[derive(sqlx::FromRow)]
struct CanaryRow {
    message_id: String,
    node_id: String,
    endpoint_id: String,
    published_at: i64,
    received_at: Option<i64>,
    failed_at: Option<i64>,
}

const CANARY_COLUMNS: &str = "message_id, node_id, endpoint_id, published_at, received_at, failed_at";

fn canary_from(r: CanaryRow) -> Result<CanaryRunRow> {
    Ok(CanaryRunRow {
        message_id: parse_id(r.message_id)?,
        node_id: r.node_id,
        endpoint_id: parse_id(r.endpoint_id)?,
        published_at_ms: r.published_at,
        received_at_ms: r.received_at,
        failed_at_ms: r.failed_at,
    })
}

#[async_trait]
impl CanaryStore for This {
    async fn ensure_canary_tenant(&self, t: &Tenant) -> Result<()> {
        self.insert_tenant_row(t, "ON CONFLICT (id) DO NOTHING").await
    }

    async fn canary_endpoint(&self, url: &str) -> Result<Option<(EndpointId, bool)>> {
        let row: Option<(String, bool)> = sqlx::query_as(
            "SELECT id, enabled FROM endpoints WHERE tenant_id = $1 AND url = $2 AND deleted_at IS NULL \
             ORDER BY id LIMIT 1",
        )
        .bind(TenantId::canary().as_str())
        .bind(url)
        .fetch_optional(&self.read)
        .await?;
        row.map(|(id, enabled)| Ok((parse_id(id)?, enabled))).transpose()
    }

    async fn insert_canary_run(&self, run: &CanaryRunRow) -> Result<()> {
        sqlx::query(&format!("INSERT INTO canary_runs ({CANARY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"))
            .bind(run.message_id.as_str())
            .bind(&run.node_id)
            .bind(run.endpoint_id.as_str())
            .bind(run.published_at_ms)
            .bind(run.received_at_ms)
            .bind(run.failed_at_ms)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn canary_run(&self, message_id: &MessageId) -> Result<Option<CanaryRunRow>> {
        let row: Option<CanaryRow> =
            sqlx::query_as(&format!("SELECT {CANARY_COLUMNS} FROM canary_runs WHERE message_id = $1"))
                .bind(message_id.as_str())
                .fetch_optional(&self.read)
                .await?;
        row.map(canary_from).transpose()
    }

    async fn mark_canary_received(&self, message_id: &MessageId, at_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE canary_runs SET received_at = $2 \
             WHERE message_id = $1 AND received_at IS NULL AND failed_at IS NULL",
        )
        .bind(message_id.as_str())
        .bind(at_ms)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail_overdue_canaries(&self, before_ms: i64, now_ms: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE canary_runs SET failed_at = $2 WHERE published_at < $1 AND received_at IS NULL AND failed_at IS NULL",
        )
        .bind(before_ms)
        .bind(now_ms)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected())
    }

    async fn canary_endpoint_ids(&self) -> Result<Vec<EndpointId>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM endpoints WHERE tenant_id = $1 AND deleted_at IS NULL")
                .bind(TenantId::canary().as_str())
                .fetch_all(&self.read)
                .await?;
        rows.into_iter().map(|(id,)| parse_id(id)).collect()
    }

    async fn stale_canary_endpoints(&self, before_ms: i64) -> Result<Vec<EndpointId>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT e.id FROM endpoints e WHERE e.tenant_id = $1 AND e.deleted_at IS NULL AND e.created_at < $2 \
             AND NOT EXISTS (SELECT 1 FROM canary_runs r WHERE r.endpoint_id = e.id AND r.published_at >= $2)",
        )
        .bind(TenantId::canary().as_str())
        .bind(before_ms)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(|(id,)| parse_id(id)).collect()
    }

    async fn canary_runs_since(&self, since_ms: i64) -> Result<Vec<CanaryRunRow>> {
        let rows: Vec<CanaryRow> = sqlx::query_as(&format!(
            "SELECT {CANARY_COLUMNS} FROM canary_runs WHERE published_at >= $1 ORDER BY published_at DESC, message_id DESC"
        ))
        .bind(since_ms)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(canary_from).collect()
    }

    async fn purge_canary_runs(&self, before_ms: i64) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM canary_runs WHERE published_at < $1").bind(before_ms).execute(&self.write).await?;
        Ok(done.rows_affected())
    }
}
