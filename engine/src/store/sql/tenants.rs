// Tenants and tiers: `impl TenantStore`.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

impl This {
    /// Inserts the tenant's row; `tail` ends the statement (`ON CONFLICT …` or nothing).
    async fn insert_tenant_row(&self, t: &Tenant, tail: &str) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO tenants ({TENANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) {tail}"
        ))
        .bind(t.id.as_str())
        .bind(&t.name)
        .bind(&t.tier)
        .bind(t.retention_days)
        .bind(t.backlog_cap)
        .bind(t.max_endpoints.map(i64::from))
        .bind(t.max_api_keys.map(i64::from))
        .bind(t.auto_disable_after_seconds.map(i64::from))
        .bind(t.receives_all_notices)
        .bind(t.suspended_at.map(|at| at.timestamp_millis()))
        .bind(t.suspended_reason.as_deref())
        .bind(t.created_at.timestamp_millis())
        .bind(t.version)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Fails with `QuotaExceeded` if the tenant already has `quota` of what `count_sql`
    /// counts (`$1` is the tenant id), inside the transaction about to add one. On
    /// PostgreSQL the tenant's row is locked first, so two concurrent inserts count
    /// one after the other; SQLite's single writer already does that.
    async fn check_quota_in(
        tx: &mut sqlx::Transaction<'_, Db>,
        tenant: &TenantScope,
        count_sql: &str,
        quota: i64,
        what: &str,
    ) -> Result<()> {
        if This::BACKEND == Backend::Postgres {
            // NO KEY UPDATE serialises quota checks without waiting on every
            // transaction that merely references the tenant (foreign keys).
            sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR NO KEY UPDATE")
                .bind(tenant.id().as_str())
                .execute(&mut **tx)
                .await?;
        }
        let (n,): (i64,) = sqlx::query_as(count_sql).bind(tenant.id().as_str()).fetch_one(&mut **tx).await?;
        if n >= quota {
            return Err(Error::QuotaExceeded(format!(
                "the tenant has {n} {what}, its quota; remove one or ask the platform to raise the quota"
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl TenantStore for This {
    async fn insert_tenant(&self, _platform: &Platform, t: &Tenant) -> Result<()> {
        self.insert_tenant_row(t, "").await
    }

    async fn get_tenant(&self, tenant: &TenantScope) -> Result<Option<Tenant>> {
        let row: Option<TenantRow> =
            sqlx::query_as(&format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1 AND deleted_at IS NULL"))
                .bind(tenant.id().as_str())
                .fetch_optional(&self.read)
                .await?;
        row.map(tenant_from).transpose()
    }

    async fn list_tenants(&self, _operator: &Operator, page: &PageArgs) -> Result<Vec<Tenant>> {
        let rows: Vec<TenantRow> = sqlx::query_as(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE deleted_at IS NULL AND {} AND ($1 IS NULL OR id < $1) \
             ORDER BY id DESC LIMIT $2",
            not_canary("id")
        ))
        .bind(page.before.as_deref())
        .bind(page.limit)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(tenant_from).collect()
    }

    async fn update_tenant(&self, _platform: &Platform, t: &Tenant, expected: i64) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let updated = sqlx::query(
            "UPDATE tenants SET name = $2, tier = $3, backlog_cap = $4, max_endpoints = $5, max_api_keys = $6, \
             retention_days = $7, auto_disable_after_seconds = $8, receives_all_notices = $9, \
             suspended_at = $11, suspended_reason = $12, version = version + 1 \
             WHERE id = $1 AND version = $10 AND deleted_at IS NULL",
        )
        .bind(t.id.as_str())
        .bind(&t.name)
        .bind(&t.tier)
        .bind(t.backlog_cap)
        .bind(t.max_endpoints.map(i64::from))
        .bind(t.max_api_keys.map(i64::from))
        .bind(t.retention_days)
        .bind(t.auto_disable_after_seconds.map(i64::from))
        .bind(t.receives_all_notices)
        .bind(expected)
        .bind(t.suspended_at.map(|at| at.timestamp_millis()))
        .bind(t.suspended_reason.as_deref())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 1 {
            // On another tier now, its counted hours measure against another target.
            Self::mark_retargeted_in(&mut tx, "r.tenant_id = $1", t.id.as_str()).await?;
        }
        tx.commit().await?;
        Ok(updated == 1)
    }

    async fn tiers(&self) -> Result<Vec<Tier>> {
        let rows: Vec<(String, f64, i64, i64, i64)> =
            sqlx::query_as(&format!("SELECT {TIER_COLUMNS} FROM tiers ORDER BY success_target"))
                .fetch_all(&self.read)
                .await?;
        Ok(rows.into_iter().map(tier_from).collect())
    }

    async fn tier(&self, name: &str) -> Result<Option<Tier>> {
        let row: Option<(String, f64, i64, i64, i64)> =
            sqlx::query_as(&format!("SELECT {TIER_COLUMNS} FROM tiers WHERE name = $1"))
                .bind(name)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.map(tier_from))
    }

    async fn update_tier(&self, _platform: &Platform, t: &Tier, expected: i64) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let updated = sqlx::query(
            "UPDATE tiers SET success_target = $2, latency_target_ms = $3, updated_at = $4, version = version + 1 \
             WHERE name = $1 AND version = $5",
        )
        .bind(&t.name)
        .bind(t.success_target)
        .bind(t.latency_target_ms)
        .bind(t.updated_at.timestamp_millis())
        .bind(expected)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 1 {
            Self::mark_retargeted_in(&mut tx, "t.tier = $1", &t.name).await?;
        }
        tx.commit().await?;
        Ok(updated == 1)
    }
}
