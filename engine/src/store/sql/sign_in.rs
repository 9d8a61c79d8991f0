// Sign-in throttling: `impl SignInStore`.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

#[async_trait]
impl SignInStore for This {
    async fn reserve_sign_in(
        &self,
        limits: &[ThrottleLimit],
        now_ms: i64,
        window_floor_ms: i64,
    ) -> Result<Option<i64>> {
        // One upsert per key. Its WHERE is the throttle: an existing row is counted
        // only when its window is over or its wait has passed; otherwise nothing is
        // returned and the whole reservation is rolled back. The row lock the upsert
        // takes (PostgreSQL) or the single writer (SQLite) makes check-and-count one
        // step, so N parallel attempts count N times and the (N+1)th waits.
        let mut tx = self.write.begin().await?;
        for limit in limits {
            let first_delay = if limit.free <= 1 { limit.first_delay_ms } else { 0 };
            let counted: Option<(i64,)> = sqlx::query_as(
                "INSERT INTO sign_in_throttle (key, attempts, window_start, last_at, delay_ms) \
                 VALUES ($1, 1, $2, $2, $7) \
                 ON CONFLICT (key) DO UPDATE SET \
                 attempts = CASE WHEN sign_in_throttle.window_start < $3 THEN 1 \
                     ELSE sign_in_throttle.attempts + 1 END, \
                 window_start = CASE WHEN sign_in_throttle.window_start < $3 THEN $2 \
                     ELSE sign_in_throttle.window_start END, \
                 last_at = $2, \
                 delay_ms = CASE WHEN sign_in_throttle.window_start < $3 THEN $7 \
                     WHEN sign_in_throttle.attempts + 1 < $4 THEN 0 \
                     WHEN sign_in_throttle.delay_ms = 0 THEN $5 \
                     WHEN sign_in_throttle.delay_ms * 2 > $6 THEN $6 \
                     ELSE sign_in_throttle.delay_ms * 2 END \
                 WHERE sign_in_throttle.window_start < $3 \
                     OR sign_in_throttle.last_at + sign_in_throttle.delay_ms <= $2 \
                 RETURNING attempts",
            )
            .bind(&limit.key)
            .bind(now_ms)
            .bind(window_floor_ms)
            .bind(limit.free)
            .bind(limit.first_delay_ms)
            .bind(limit.max_delay_ms)
            .bind(first_delay)
            .fetch_optional(&mut *tx)
            .await?;
            if counted.is_none() {
                let (wait,): (i64,) =
                    sqlx::query_as("SELECT last_at + delay_ms - $2 FROM sign_in_throttle WHERE key = $1")
                        .bind(&limit.key)
                        .bind(now_ms)
                        .fetch_one(&mut *tx)
                        .await?;
                tx.rollback().await?;
                return Ok(Some(wait.max(1)));
            }
        }
        tx.commit().await?;
        Ok(None)
    }

    async fn release_sign_in(&self, limit: &ThrottleLimit) -> Result<()> {
        sqlx::query(
            "UPDATE sign_in_throttle SET attempts = attempts - 1, \
             delay_ms = CASE WHEN attempts - 1 < $2 THEN 0 WHEN delay_ms / 2 < $3 THEN $3 ELSE delay_ms / 2 END \
             WHERE key = $1 AND attempts > 0",
        )
        .bind(&limit.key)
        .bind(limit.free)
        .bind(limit.first_delay_ms)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn clear_sign_in(&self, keys: &[String]) -> Result<()> {
        for key in keys {
            sqlx::query("DELETE FROM sign_in_throttle WHERE key = $1").bind(key).execute(&self.write).await?;
        }
        Ok(())
    }

    async fn mark_sign_in_seen(&self, key: &str, now_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO sign_in_throttle (key, attempts, window_start, last_at, delay_ms) VALUES ($1, 0, $2, $2, 0) \
             ON CONFLICT (key) DO UPDATE SET window_start = $2, last_at = $2",
        )
        .bind(key)
        .bind(now_ms)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn sign_in_seen_since(&self, key: &str, since_ms: i64) -> Result<bool> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT attempts FROM sign_in_throttle WHERE key = $1 AND last_at >= $2")
                .bind(key)
                .bind(since_ms)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.is_some())
    }

    async fn purge_sign_in_throttle(&self, window_floor_ms: i64, seen_floor_ms: i64) -> Result<u64> {
        let purged = sqlx::query(
            "DELETE FROM sign_in_throttle WHERE (key LIKE 'seen:%' AND last_at < $2) \
             OR (key NOT LIKE 'seen:%' AND last_at < $1 AND window_start < $1)",
        )
        .bind(window_floor_ms)
        .bind(seen_floor_ms)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(purged)
    }
}
