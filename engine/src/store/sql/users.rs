// Users and sessions: `impl UserStore`.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

impl This {
    /// PostgreSQL: the admins' rows locked, so two admins demoting each other at once
    /// cannot both see the other remain. (SQLite's one writer does that already.)
    async fn lock_admins_in(tx: &mut sqlx::Transaction<'_, Db>) -> Result<()> {
        if This::BACKEND == Backend::Postgres {
            sqlx::query("SELECT id FROM users WHERE role = 'admin' FOR UPDATE").execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Whether `id` is an enabled admin, read inside the transaction about to change it.
    async fn is_enabled_admin_in(tx: &mut sqlx::Transaction<'_, Db>, id: &UserId) -> Result<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM users WHERE id = $1 AND role = 'admin' AND disabled_at IS NULL")
                .bind(id.as_str())
                .fetch_optional(&mut **tx)
                .await?;
        Ok(row.is_some())
    }

    /// `NotFound` unless the user exists: what a write that changed no row learns
    /// before it reports a stale version.
    async fn user_exists_in(tx: &mut sqlx::Transaction<'_, Db>, id: &UserId) -> Result<()> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM users WHERE id = $1").bind(id.as_str()).fetch_optional(&mut **tx).await?;
        row.map(|_| ()).ok_or_else(|| Error::not_found("user", id))
    }

    /// Refuses a change that leaves no enabled admin: nobody could manage users then.
    async fn require_an_admin_in(tx: &mut sqlx::Transaction<'_, Db>) -> Result<()> {
        let (admins,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL")
                .fetch_one(&mut **tx)
                .await?;
        if admins == 0 {
            return Err(Error::Conflict("this would leave no enabled admin; make another admin first".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl UserStore for This {
    async fn insert_user(&self, _platform: &Platform, u: &User, password_hash: &str) -> Result<()> {
        let inserted = sqlx::query(
            "INSERT INTO users (id, email, password_hash, role, tenant_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (email) DO NOTHING",
        )
        .bind(u.id.as_str())
        .bind(&u.email)
        .bind(password_hash)
        .bind(u.role.as_str())
        .bind(u.tenant_id.as_ref().map(|t| t.as_str()))
        .bind(u.created_at.timestamp_millis())
        .execute(&self.write)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(Error::Conflict(format!("a user with email {} exists", u.email)));
        }
        Ok(())
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<(User, String)>> {
        let sql = format!("SELECT {USER_COLUMNS}, users.password_hash FROM users WHERE users.email = $1");
        let row: Option<UserWithHash> = sqlx::query_as(&sql).bind(email).fetch_optional(&self.read).await?;
        row.map(|r| user_from(r.user).map(|u| (u, r.password_hash))).transpose()
    }

    async fn user(&self, id: &UserId) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE users.id = $1");
        let row: Option<UserRow> = sqlx::query_as(&sql).bind(id.as_str()).fetch_optional(&self.read).await?;
        row.map(user_from).transpose()
    }

    async fn update_user(&self, _platform: &Platform, u: &User, expected: i64) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        Self::lock_admins_in(&mut tx).await?;
        let was_admin = Self::is_enabled_admin_in(&mut tx, &u.id).await?;
        let updated = sqlx::query(
            "UPDATE users SET role = $1, tenant_id = $2, disabled_at = $3, version = version + 1 \
             WHERE id = $4 AND version = $5",
        )
        .bind(u.role.as_str())
        .bind(u.tenant_id.as_ref().map(|t| t.as_str()))
        .bind(u.disabled_at.map(|d| d.timestamp_millis()))
        .bind(u.id.as_str())
        .bind(expected)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Self::user_exists_in(&mut tx, &u.id).await.map(|_| false);
        }
        if was_admin {
            Self::require_an_admin_in(&mut tx).await?;
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(u.id.as_str()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_user(&self, _platform: &Platform, id: &UserId, expected: Option<i64>) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        Self::lock_admins_in(&mut tx).await?;
        let was_admin = Self::is_enabled_admin_in(&mut tx, id).await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        let deleted = sqlx::query("DELETE FROM users WHERE id = $1 AND ($2 IS NULL OR version = $2)")
            .bind(id.as_str())
            .bind(expected)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            // Dropping the transaction keeps the sessions it deleted.
            return Self::user_exists_in(&mut tx, id).await.map(|_| false);
        }
        if was_admin {
            Self::require_an_admin_in(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn password_hash(&self, id: &UserId) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT password_hash FROM users WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(|(h,)| h))
    }

    async fn set_password_hash(&self, id: &UserId, hash: &str, keep_session: Option<&str>) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let updated = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated == 0 {
            return Err(Error::not_found("user", id));
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(id.as_str())
            .bind(keep_session.unwrap_or(""))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_users(&self, _platform: &Platform, page: &PageArgs) -> Result<Vec<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE ($1 IS NULL OR users.id < $1) ORDER BY users.id DESC LIMIT $2"
        );
        let rows: Vec<UserRow> =
            sqlx::query_as(&sql).bind(page.before.as_deref()).bind(page.limit).fetch_all(&self.read).await?;
        rows.into_iter().map(user_from).collect()
    }

    async fn admin_exists(&self) -> Result<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM users WHERE role = 'admin' LIMIT 1").fetch_optional(&self.read).await?;
        Ok(row.is_some())
    }

    async fn insert_session(&self, s: &NewSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $4)",
        )
        .bind(&s.token_hash)
        .bind(s.user_id.as_str())
        .bind(&s.csrf_token)
        .bind(s.created_at_ms)
        .bind(s.expires_at_ms)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str, now_ms: i64, idle_floor_ms: i64) -> Result<Option<StoredSession>> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, sessions.csrf_token, sessions.last_seen_at FROM sessions \
             JOIN users ON users.id = sessions.user_id \
             WHERE sessions.token_hash = $1 AND sessions.expires_at > $2 AND sessions.last_seen_at > $3 \
             AND users.disabled_at IS NULL"
        );
        let row: Option<UserWithSession> =
            sqlx::query_as(&sql).bind(token_hash).bind(now_ms).bind(idle_floor_ms).fetch_optional(&self.read).await?;
        row.map(|r| {
            let (csrf_token, last_seen_ms) = (r.csrf_token, r.last_seen_at);
            user_from(r.user).map(|user| StoredSession { user, csrf_token, last_seen_ms })
        })
        .transpose()
    }

    async fn touch_session(&self, token_hash: &str, now_ms: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now_ms)
            .bind(token_hash)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn purge_sessions(&self, now_ms: i64, idle_floor_ms: i64) -> Result<u64> {
        let purged = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
            .bind(now_ms)
            .bind(idle_floor_ms)
            .execute(&self.write)
            .await?
            .rows_affected();
        Ok(purged)
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&self.write).await?;
        Ok(())
    }
}
