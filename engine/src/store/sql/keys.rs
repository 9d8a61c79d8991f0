// API keys: `impl KeyStore`.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

#[async_trait]
impl KeyStore for This {
    async fn insert_api_key(&self, k: &ApiKey, key_hash: &str, quota: Option<(&TenantScope, i64)>) -> Result<()> {
        let mut tx = self.write.begin().await?;
        if let Some((tenant, quota)) = quota {
            let count = "SELECT COUNT(*) FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL";
            Self::check_quota_in(&mut tx, tenant, count, quota, "active API keys").await?;
        }
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(k.id.as_str())
        .bind(k.tenant_id.as_ref().map(|t| t.as_str()))
        .bind(&k.name)
        .bind(&k.prefix)
        .bind(key_hash)
        .bind(k.created_at.timestamp_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        let row: Option<ApiKeyRow> =
            sqlx::query_as(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"))
                .bind(key_hash)
                .fetch_optional(&self.read)
                .await?;
        row.map(api_key_from).transpose()
    }

    async fn api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>> {
        let row: Option<ApiKeyRow> = sqlx::query_as(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?;
        row.map(api_key_from).transpose()
    }

    async fn list_api_keys(&self, reach: KeyReach<'_>) -> Result<Vec<ApiKey>> {
        let rows: Vec<ApiKeyRow> = sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE ($1 IS NULL OR tenant_id = $1) ORDER BY id DESC LIMIT 1000"
        ))
        .bind(reach.tenant_id().map(|t| t.as_str()))
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(api_key_from).collect()
    }

    async fn revoke_api_key(&self, id: &ApiKeyId, at_ms: i64) -> Result<Option<ApiKey>> {
        // One statement, so two admins revoking the last two platform keys at once
        // cannot both succeed on SQLite (one writer); on PostgreSQL the subquery
        // sees the committed state, which narrows the window to concurrent commits.
        let row: Option<ApiKeyRow> = sqlx::query_as(&format!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 \
             AND (tenant_id IS NOT NULL OR revoked_at IS NOT NULL \
                  OR (SELECT COUNT(*) FROM api_keys k WHERE k.tenant_id IS NULL AND k.revoked_at IS NULL) > 1) \
             RETURNING {API_KEY_COLUMNS}"
        ))
        .bind(id.as_str())
        .bind(at_ms)
        .fetch_optional(&self.write)
        .await?;
        match row {
            Some(r) => Ok(Some(api_key_from(r)?)),
            None if self.api_key(id).await?.is_some() => Ok(None),
            None => Err(Error::not_found("api key", id)),
        }
    }

    async fn touch_api_key(&self, id: &ApiKeyId, at_ms: i64) -> Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(at_ms)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn platform_key_exists(&self) -> Result<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM api_keys WHERE tenant_id IS NULL AND revoked_at IS NULL LIMIT 1")
                .fetch_optional(&self.read)
                .await?;
        Ok(row.is_some())
    }
}
