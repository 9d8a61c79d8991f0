// Tenants and tiers: `impl TenantStore`.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

#[async_trait]
impl TenantStore for This {
    async fn insert_tenant(&self, _platform: &Platform, t: &Tenant) -> Result<()> {
        sqlx::query("INSERT INTO tenants (id, name, tier, retention_days, backlog_cap, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(t.id.as_str())
            .bind(&t.name)
            .bind(&t.tier)
            .bind(t.retention_days)
            .bind(t.backlog_cap)
            .bind(t.created_at.timestamp_millis())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn get_tenant(&self, tenant: &TenantScope) -> Result<Option<Tenant>> {
        let row: Option<TenantRow> =
            sqlx::query_as("SELECT id, name, tier, retention_days, backlog_cap, created_at FROM tenants WHERE id = $1")
                .bind(tenant.id().as_str())
                .fetch_optional(&self.read)
                .await?;
        row.map(tenant_from).transpose()
    }

    async fn list_tenants(&self, _operator: &Operator, page: &PageArgs) -> Result<Vec<Tenant>> {
        let rows: Vec<TenantRow> = sqlx::query_as(
            "SELECT id, name, tier, retention_days, backlog_cap, created_at FROM tenants \
             WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(page.before.as_deref())
        .bind(page.limit)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(tenant_from).collect()
    }

    async fn update_tenant(&self, _platform: &Platform, t: &Tenant) -> Result<()> {
        sqlx::query("UPDATE tenants SET name = $2, tier = $3 WHERE id = $1")
            .bind(t.id.as_str())
            .bind(&t.name)
            .bind(&t.tier)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn tiers(&self) -> Result<Vec<Tier>> {
        let rows: Vec<(String, f64, i64, i64)> = sqlx::query_as(
            "SELECT name, success_target, latency_target_ms, updated_at FROM tiers ORDER BY success_target",
        )
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(tier_from).collect())
    }

    async fn tier(&self, name: &str) -> Result<Option<Tier>> {
        let row: Option<(String, f64, i64, i64)> =
            sqlx::query_as("SELECT name, success_target, latency_target_ms, updated_at FROM tiers WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.map(tier_from))
    }

    async fn update_tier(&self, _platform: &Platform, t: &Tier) -> Result<()> {
        sqlx::query("UPDATE tiers SET success_target = $2, latency_target_ms = $3, updated_at = $4 WHERE name = $1")
            .bind(&t.name)
            .bind(t.success_target)
            .bind(t.latency_target_ms)
            .bind(t.updated_at.timestamp_millis())
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
