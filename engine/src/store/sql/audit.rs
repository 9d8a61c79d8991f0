// The audit trail: `impl AuditStore`.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

#[async_trait]
impl AuditStore for This {
    async fn insert_audit_event(&self, e: &AuditEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_events (id, at, actor, tenant_id, action, target, client_ip, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(e.id.as_str())
        .bind(e.at.timestamp_millis())
        .bind(&e.actor)
        .bind(e.tenant_id.as_ref().map(|t| t.as_str()))
        .bind(&e.action)
        .bind(e.target.as_deref())
        .bind(e.client_ip.as_deref())
        .bind(e.detail.to_string())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn list_audit_events(&self, f: &AuditFilter, page: &PageArgs) -> Result<Vec<AuditEvent>> {
        // `action` matches a whole action or its subject: `user` finds `user.disabled`.
        let rows: Vec<AuditRow> = sqlx::query_as(&format!(
            "SELECT id, at, actor, tenant_id, action, target, client_ip, detail FROM audit_events \
             WHERE ($1 IS NULL OR tenant_id = $1) AND {} AND ($2 IS NULL OR actor = $2) \
             AND ($3 IS NULL OR action = $3 OR action LIKE $4) AND ($5 IS NULL OR at >= $5) \
             AND ($6 IS NULL OR id < $6) ORDER BY id DESC LIMIT $7",
            not_canary("tenant_id")
        ))
        .bind(f.tenant.as_ref().map(|t| t.as_str()))
        .bind(f.actor.as_deref())
        .bind(f.action.as_deref())
        .bind(f.action.as_ref().map(|a| format!("{}.%", a.replace(['%', '_'], ""))))
        .bind(f.since_ms)
        .bind(page.before.as_deref())
        .bind(page.limit)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(audit_from).collect()
    }

    async fn purge_audit_events(&self, before_ms: i64) -> Result<u64> {
        let purged = sqlx::query("DELETE FROM audit_events WHERE at < $1")
            .bind(before_ms)
            .execute(&self.write)
            .await?
            .rows_affected();
        Ok(purged)
    }
}
