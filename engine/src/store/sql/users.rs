// Users and sessions: `impl UserStore`.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

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
        let row: Option<(String, String, String, Option<String>, i64, String)> =
            sqlx::query_as(&sql).bind(email).fetch_optional(&self.read).await?;
        row.map(|(id, email, role, tenant_id, created_at, hash)| {
            user_from(UserRow { id, email, role, tenant_id, created_at }).map(|u| (u, hash))
        })
        .transpose()
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
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
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

    async fn session(&self, token_hash: &str, now_ms: i64) -> Result<Option<(User, String)>> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, sessions.csrf_token FROM sessions JOIN users ON users.id = sessions.user_id \
             WHERE sessions.token_hash = $1 AND sessions.expires_at > $2"
        );
        let row: Option<(String, String, String, Option<String>, i64, String)> =
            sqlx::query_as(&sql).bind(token_hash).bind(now_ms).fetch_optional(&self.read).await?;
        row.map(|(id, email, role, tenant_id, created_at, csrf)| {
            user_from(UserRow { id, email, role, tenant_id, created_at }).map(|u| (u, csrf))
        })
        .transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&self.write).await?;
        Ok(())
    }
}
