// Portal links and their sessions: `impl PortalStore`. Compiled once per backend:
// `include!`d by `sqlite.rs` and `postgres.rs`.

#[derive(sqlx::FromRow)]
struct PortalGrantRow {
    link_id: String,
    tenant_id: String,
    read_only: bool,
}

fn grant_from(r: PortalGrantRow) -> Result<PortalGrant> {
    Ok(PortalGrant { link_id: parse_id(r.link_id)?, tenant_id: parse_id(r.tenant_id)?, read_only: r.read_only })
}

/// Ends the sessions of the links whose `column` (a fixed column name, never input) is
/// `value`, then removes the links, in one transaction.
async fn revoke_portal_links(pool: &sqlx::Pool<Db>, column: &'static str, value: &str) -> Result<u64> {
    let mut tx = pool.begin().await?;
    let sessions = sqlx::query(&format!(
        "DELETE FROM portal_sessions WHERE link_id IN (SELECT id FROM portal_links WHERE {column} = $1)"
    ))
    .bind(value)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let links = sqlx::query(&format!("DELETE FROM portal_links WHERE {column} = $1"))
        .bind(value)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(sessions + links)
}

#[async_trait]
impl PortalStore for This {
    async fn insert_portal_link(&self, tenant: &TenantScope, link: &NewPortalLink, max_waiting: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        // A soft cap on PostgreSQL (two creates at once may both see room), exact on
        // SQLite; either way bounded.
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM portal_links WHERE tenant_id = $1 AND opened_at IS NULL AND expires_at > $2",
        )
        .bind(tenant.id().as_str())
        .bind(link.created_at_ms)
        .fetch_one(&mut *tx)
        .await?;
        if waiting >= max_waiting {
            return Err(Error::QuotaExceeded(format!(
                "the tenant has {waiting} portal links waiting to be opened, the most it may have; \
                 wait for them to expire or revoke them"
            )));
        }
        sqlx::query(
            "INSERT INTO portal_links (id, tenant_id, token_hash, read_only, session_seconds, created_by, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(link.id.as_str())
        .bind(tenant.id().as_str())
        .bind(&link.token_hash)
        .bind(link.read_only)
        .bind(i64::from(link.session_seconds))
        .bind(&link.created_by)
        .bind(link.created_at_ms)
        .bind(link.expires_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_portal_links_by(&self, created_by: &str) -> Result<u64> {
        revoke_portal_links(&self.write, "created_by", created_by).await
    }

    async fn revoke_portal_links_of(&self, tenant: &TenantScope) -> Result<u64> {
        revoke_portal_links(&self.write, "tenant_id", tenant.id().as_str()).await
    }

    async fn open_portal_link(
        &self,
        link_token_hash: &str,
        session_token_hash: &str,
        csrf_token: &str,
        now_ms: i64,
    ) -> Result<Option<OpenedPortal>> {
        let mut tx = self.write.begin().await?;
        // The conditional UPDATE is the use: on PostgreSQL a second opener blocks on
        // the row and then sees `opened_at` set; SQLite has one writer.
        let used: Option<(String, String, bool, i64)> = sqlx::query_as(
            "UPDATE portal_links SET opened_at = $1 \
             WHERE token_hash = $2 AND opened_at IS NULL AND expires_at > $1 \
             RETURNING id, tenant_id, read_only, session_seconds",
        )
        .bind(now_ms)
        .bind(link_token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((link_id, tenant_id, read_only, session_seconds)) = used else {
            return Ok(None);
        };
        let expires_at_ms = now_ms + session_seconds * 1000;
        sqlx::query(
            "INSERT INTO portal_sessions (token_hash, link_id, tenant_id, read_only, csrf_token, created_at, \
             expires_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $6)",
        )
        .bind(session_token_hash)
        .bind(&link_id)
        .bind(&tenant_id)
        .bind(read_only)
        .bind(csrf_token)
        .bind(now_ms)
        .bind(expires_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let grant = grant_from(PortalGrantRow { link_id, tenant_id, read_only })?;
        Ok(Some(OpenedPortal { grant, expires_at_ms }))
    }

    async fn portal_session(
        &self,
        token_hash: &str,
        now_ms: i64,
        idle_floor_ms: i64,
    ) -> Result<Option<StoredPortalSession>> {
        let row: Option<(String, String, bool, String, i64)> = sqlx::query_as(
            "SELECT link_id, tenant_id, read_only, csrf_token, last_seen_at FROM portal_sessions \
             WHERE token_hash = $1 AND expires_at > $2 AND last_seen_at > $3",
        )
        .bind(token_hash)
        .bind(now_ms)
        .bind(idle_floor_ms)
        .fetch_optional(&self.read)
        .await?;
        row.map(|(link_id, tenant_id, read_only, csrf_token, last_seen_ms)| {
            let grant = grant_from(PortalGrantRow { link_id, tenant_id, read_only })?;
            Ok(StoredPortalSession { grant, csrf_token, last_seen_ms })
        })
        .transpose()
    }

    async fn touch_portal_session(&self, token_hash: &str, now_ms: i64) -> Result<()> {
        sqlx::query("UPDATE portal_sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now_ms)
            .bind(token_hash)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn delete_portal_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM portal_sessions WHERE token_hash = $1").bind(token_hash).execute(&self.write).await?;
        Ok(())
    }

    async fn purge_portal(&self, now_ms: i64, idle_floor_ms: i64, links_before_ms: i64) -> Result<u64> {
        let sessions = sqlx::query("DELETE FROM portal_sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
            .bind(now_ms)
            .bind(idle_floor_ms)
            .execute(&self.write)
            .await?
            .rows_affected();
        let links = sqlx::query(
            "DELETE FROM portal_links WHERE expires_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM portal_sessions s WHERE s.link_id = portal_links.id)",
        )
        .bind(links_before_ms)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(sessions + links)
    }
}
