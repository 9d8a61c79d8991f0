// Endpoints and their signing secrets: `impl EndpointStore`.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

impl This {
    /// Stores an endpoint's new active secret (it expires only when rotated out),
    /// sealed: the column never holds a secret in the clear.
    async fn insert_secret_in(
        &self,
        tx: &mut sqlx::Transaction<'_, Db>,
        endpoint: &EndpointId,
        secret: &SecretRecord,
    ) -> Result<()> {
        let sealed = self.sealer.seal(secret.id.as_str(), &secret.secret)?;
        sqlx::query(
            "INSERT INTO endpoint_secrets (id, endpoint_id, secret, created_at, expires_at) VALUES ($1, $2, $3, $4, NULL)",
        )
        .bind(secret.id.as_str())
        .bind(endpoint.as_str())
        .bind(&sealed)
        .bind(secret.created_at_ms)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

impl This {
    /// Re-seals, under the current key, every secret stored in the clear (from before
    /// sealing) or under a previous key; returns how many. Run at start, before the
    /// engine signs anything, so a secret that no key here opens stops the start.
    pub(super) async fn reseal_secrets(&self) -> Result<usize> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, secret FROM endpoint_secrets").fetch_all(&self.read).await?;
        let mut resealed = 0;
        for (id, stored) in rows {
            if self.sealer.is_current(&stored) {
                continue;
            }
            let sealed = self.sealer.seal(&id, &self.sealer.open(&id, &stored)?)?;
            // Compare-and-set: a rotation that wrote a new value meanwhile wins.
            resealed += sqlx::query("UPDATE endpoint_secrets SET secret = $1 WHERE id = $2 AND secret = $3")
                .bind(&sealed)
                .bind(&id)
                .bind(&stored)
                .execute(&self.write)
                .await?
                .rows_affected() as usize;
        }
        Ok(resealed)
    }
}

#[async_trait]
impl EndpointStore for This {
    async fn insert_endpoint(
        &self,
        tenant: &TenantScope,
        e: &Endpoint,
        secret: &SecretRecord,
        event: &LifecycleEvent,
        quota: i64,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let count = "SELECT COUNT(*) FROM endpoints WHERE tenant_id = $1 AND deleted_at IS NULL";
        Self::check_quota_in(&mut tx, tenant, count, quota, "endpoints").await?;
        sqlx::query(
            "INSERT INTO endpoints (id, tenant_id, url, description, event_types, enabled, disabled_reason, disabled_at, \
             rate_limit_per_second, max_concurrency, retry_schedule, version, created_at, updated_at, deleted_at, labels) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL, $15)",
        )
        .bind(e.id.as_str())
        .bind(tenant.id().as_str())
        .bind(&e.url)
        .bind(&e.description)
        .bind(serde_json::to_string(&e.event_types)?)
        .bind(e.status == EndpointStatus::Enabled)
        .bind(e.disabled_reason.as_deref())
        .bind(e.disabled_at.map(|d| d.timestamp_millis()))
        .bind(e.rate_limit_per_second.map(i64::from))
        .bind(e.max_concurrency.map(i64::from))
        .bind(e.retry_schedule_seconds.as_ref().map(serde_json::to_string).transpose()?)
        .bind(e.version)
        .bind(e.created_at.timestamp_millis())
        .bind(e.updated_at.timestamp_millis())
        .bind(serde_json::to_string(&e.labels)?)
        .execute(&mut *tx)
        .await?;
        self.insert_secret_in(&mut tx, &e.id, secret).await?;
        Self::insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn endpoint_labels(
        &self,
        tenant: &TenantScope,
    ) -> Result<Vec<(EndpointId, std::collections::BTreeMap<String, String>)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, labels FROM endpoints WHERE tenant_id = $1 AND deleted_at IS NULL AND labels <> '{}'",
        )
        .bind(tenant.id().as_str())
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(|(id, labels)| Ok((parse_id(id)?, serde_json::from_str(&labels)?))).collect()
    }

    async fn get_endpoint(&self, tenant: &TenantScope, id: &EndpointId) -> Result<Option<Endpoint>> {
        let sql =
            format!("SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL AND {LIVE_TENANT}");
        let row: Option<EndpointRow> =
            sqlx::query_as(&sql).bind(tenant.id().as_str()).bind(id.as_str()).fetch_optional(&self.read).await?;
        row.map(endpoint_from).transpose()
    }

    async fn endpoints_by_id(&self, tenant: &TenantScope, ids: &[EndpointId]) -> Result<Vec<Endpoint>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let mut qb =
                sqlx::QueryBuilder::<Db>::new(format!("SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE tenant_id = "));
            qb.push_bind(tenant.id().as_str());
            qb.push(" AND deleted_at IS NULL AND id IN ");
            push_id_list(&mut qb, chunk.iter().map(|id| id.as_str()));
            let rows: Vec<EndpointRow> = qb.build_query_as().fetch_all(&self.read).await?;
            for row in rows {
                out.push(endpoint_from(row)?);
            }
        }
        Ok(out)
    }

    async fn list_endpoints(&self, tenant: &TenantScope, page: &PageArgs) -> Result<Vec<Endpoint>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE tenant_id = $1 AND deleted_at IS NULL \
             AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<EndpointRow> = sqlx::query_as(&sql)
            .bind(tenant.id().as_str())
            .bind(page.before.as_deref())
            .bind(page.limit)
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(endpoint_from).collect()
    }

    async fn update_endpoint(
        &self,
        tenant: &TenantScope,
        e: &Endpoint,
        expected_version: i64,
        event: Option<&LifecycleEvent>,
    ) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE endpoints SET url = $1, description = $2, event_types = $3, enabled = $4, disabled_reason = $5, \
             disabled_at = $6, rate_limit_per_second = $7, retry_schedule = $8, version = $9, updated_at = $10, \
             max_concurrency = $14, labels = $15 WHERE id = $11 AND tenant_id = $12 AND version = $13 AND deleted_at IS NULL",
        )
        .bind(&e.url)
        .bind(&e.description)
        .bind(serde_json::to_string(&e.event_types)?)
        .bind(e.status == EndpointStatus::Enabled)
        .bind(e.disabled_reason.as_deref())
        .bind(e.disabled_at.map(|d| d.timestamp_millis()))
        .bind(e.rate_limit_per_second.map(i64::from))
        .bind(e.retry_schedule_seconds.as_ref().map(serde_json::to_string).transpose()?)
        .bind(e.version)
        .bind(e.updated_at.timestamp_millis())
        .bind(e.id.as_str())
        .bind(tenant.id().as_str())
        .bind(expected_version)
        .bind(e.max_concurrency.map(i64::from))
        .bind(serde_json::to_string(&e.labels)?)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if done {
            if let Some(event) = event {
                Self::insert_event_in(&mut tx, event).await?;
            }
            tx.commit().await?;
        }
        Ok(done)
    }

    async fn delete_endpoint(
        &self,
        tenant: &TenantScope,
        id: &EndpointId,
        expected: Option<i64>,
        now_ms: i64,
        event: &LifecycleEvent,
    ) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        // Its failure streak, then deliveries, then the endpoint: the order every
        // other transaction that touches them takes (the recorder locks streaks
        // first; record, replay, release lower the endpoint's queue head after their
        // deliveries), so on PostgreSQL they queue instead of deadlocking. Dropping
        // the transaction when the endpoint is not there rolls it all back.
        sqlx::query("DELETE FROM endpoint_failure_streaks WHERE endpoint_id = $1 AND tenant_id = $2")
            .bind(id.as_str())
            .bind(tenant.id().as_str())
            .execute(&mut *tx)
            .await?;
        let cancelled: Vec<(String, i64)> = sqlx::query_as(
            "UPDATE deliveries SET state = 'cancelled', next_attempt_at = NULL, lease_owner = NULL, updated_at = $1 \
             WHERE endpoint_id = $2 AND state = 'pending' \
             AND endpoint_id IN (SELECT id FROM endpoints WHERE tenant_id = $3 AND deleted_at IS NULL) \
             RETURNING tenant_id, created_at",
        )
        .bind(now_ms)
        .bind(id.as_str())
        .bind(tenant.id().as_str())
        .fetch_all(&mut *tx)
        .await?;
        let done = sqlx::query(
            "UPDATE endpoints SET deleted_at = $1, enabled = FALSE, version = version + 1, updated_at = $1 \
             WHERE tenant_id = $2 AND id = $3 AND deleted_at IS NULL AND ($4 IS NULL OR version = $4)",
        )
        .bind(now_ms)
        .bind(tenant.id().as_str())
        .bind(id.as_str())
        .bind(expected)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !done {
            return Ok(false);
        }
        Self::insert_event_in(&mut tx, event).await?;
        Self::mark_hours_in(&mut tx, cancelled.iter().map(|(t, at)| (t.as_str(), *at)), now_ms).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn subscriptions(&self, tenant: &TenantScope) -> Result<Vec<Vec<String>>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT event_types FROM endpoints WHERE tenant_id = $1 AND enabled = TRUE AND deleted_at IS NULL",
        )
        .bind(tenant.id().as_str())
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(|(types,)| serde_json::from_str(&types).map_err(Error::from)).collect()
    }

    async fn valid_secrets(&self, endpoint: &EndpointId, now_ms: i64) -> Result<Vec<SecretRecord>> {
        let rows: Vec<SecretRow> = sqlx::query_as(
            "SELECT id, secret, created_at, expires_at FROM endpoint_secrets \
             WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY id DESC",
        )
        .bind(endpoint.as_str())
        .bind(now_ms)
        .fetch_all(&self.read)
        .await?;
        let mut secrets: Vec<SecretRecord> = rows
            .into_iter()
            .map(|row| {
                let secret = self.sealer.open(&row.id, &row.secret)?;
                secret_from(SecretRow { secret, ..row })
            })
            .collect::<Result<_>>()?;
        // The active secret (no expiry) first, then the others newest first.
        secrets.sort_by_key(|s| (s.expires_at_ms.is_some(), std::cmp::Reverse(s.created_at_ms)));
        Ok(secrets)
    }

    async fn rotate_secret(
        &self,
        e: &Endpoint,
        new: &SecretRecord,
        old_expires_ms: i64,
        event: &LifecycleEvent,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        // Bumping the version tells every node's dispatcher to reload the secrets.
        sqlx::query("UPDATE endpoints SET version = version + 1, updated_at = $1 WHERE id = $2")
            .bind(new.created_at_ms)
            .bind(e.id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE endpoint_secrets SET expires_at = $1 WHERE endpoint_id = $2 AND expires_at IS NULL")
            .bind(old_expires_ms)
            .bind(e.id.as_str())
            .execute(&mut *tx)
            .await?;
        self.insert_secret_in(&mut tx, &e.id, new).await?;
        Self::insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }
}
