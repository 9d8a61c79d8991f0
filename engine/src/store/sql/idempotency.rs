// Idempotency records of POST requests: `impl IdempotencyStore`. Compiled once per
// backend: `include!`d by `sqlite.rs` and `postgres.rs`.

#[derive(sqlx::FromRow)]
struct IdempotencyRow {
    request_hash: String,
    owner: String,
    started_at: i64,
    status: Option<i64>,
    content_type: Option<String>,
    location: Option<String>,
    etag: Option<String>,
    body: Option<String>,
}

/// What an answer is sealed for: a sealed body copied to another row does not open.
fn answer_row(caller: &str, key: &str, owner: &str) -> String {
    format!("{caller}\n{key}\n{owner}")
}

#[async_trait]
impl IdempotencyStore for This {
    fn request_fingerprint(&self, parts: &[&[u8]]) -> String {
        self.sealer.fingerprint(parts)
    }

    async fn begin_idempotent(
        &self,
        caller: &str,
        key: &str,
        request_hash: &str,
        owner: &str,
        now_ms: i64,
        stale_before_ms: i64,
        expired_before_ms: i64,
    ) -> Result<IdempotencyBegin> {
        // Insert first: of two requests racing for a new key, the primary key lets
        // exactly one in.
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (caller, key, request_hash, owner, started_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (caller, key) DO NOTHING",
        )
        .bind(caller)
        .bind(key)
        .bind(request_hash)
        .bind(owner)
        .bind(now_ms)
        .execute(&self.write)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(IdempotencyBegin::Started);
        }
        let row: Option<IdempotencyRow> = sqlx::query_as(
            "SELECT request_hash, owner, started_at, status, content_type, location, etag, body FROM idempotency_keys \
             WHERE caller = $1 AND key = $2",
        )
        .bind(caller)
        .bind(key)
        .fetch_optional(&self.write)
        .await?;
        let Some(row) = row else {
            // Purged between the two statements: a retry finds it free.
            return Ok(IdempotencyBegin::InFlight);
        };
        let expired = row.started_at < expired_before_ms;
        let abandoned = row.status.is_none() && row.started_at < stale_before_ms;
        if expired || abandoned {
            // Taken over by compare-and-set: the holder is the one read, and the row
            // still expired or abandoned when written (its holder may have answered
            // since the read), so of two retries only one acts and no answer is lost.
            let taken = sqlx::query(
                "UPDATE idempotency_keys SET request_hash = $3, owner = $4, started_at = $5, status = NULL, \
                 content_type = NULL, location = NULL, etag = NULL, body = NULL \
                 WHERE caller = $1 AND key = $2 AND owner = $6 \
                 AND (started_at < $7 OR (status IS NULL AND started_at < $8))",
            )
            .bind(caller)
            .bind(key)
            .bind(request_hash)
            .bind(owner)
            .bind(now_ms)
            .bind(&row.owner)
            .bind(expired_before_ms)
            .bind(stale_before_ms)
            .execute(&self.write)
            .await?
            .rows_affected();
            return Ok(if taken == 1 { IdempotencyBegin::Started } else { IdempotencyBegin::InFlight });
        }
        if row.request_hash != request_hash {
            return Ok(IdempotencyBegin::Mismatch);
        }
        Ok(match (row.status, row.body) {
            (Some(status), Some(sealed)) => IdempotencyBegin::Answered(StoredAnswer {
                status: u16::try_from(status).unwrap_or(500),
                content_type: row.content_type,
                location: row.location,
                etag: row.etag,
                body: self.sealer.open(&answer_row(caller, key, &row.owner), &sealed)?,
            }),
            _ => IdempotencyBegin::InFlight,
        })
    }

    async fn complete_idempotent(&self, caller: &str, key: &str, owner: &str, answer: &StoredAnswer) -> Result<()> {
        // Sealed like signing secrets: an answer may carry one (a new API key, a
        // rotated secret), and the database holds no secret in the clear.
        let sealed = self.sealer.seal(&answer_row(caller, key, owner), &answer.body)?;
        sqlx::query(
            "UPDATE idempotency_keys SET status = $4, content_type = $5, location = $6, etag = $7, body = $8 \
             WHERE caller = $1 AND key = $2 AND owner = $3",
        )
        .bind(caller)
        .bind(key)
        .bind(owner)
        .bind(i64::from(answer.status))
        .bind(answer.content_type.as_deref())
        .bind(answer.location.as_deref())
        .bind(answer.etag.as_deref())
        .bind(&sealed)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn abandon_idempotent(&self, caller: &str, key: &str, owner: &str) -> Result<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE caller = $1 AND key = $2 AND owner = $3")
            .bind(caller)
            .bind(key)
            .bind(owner)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn purge_idempotency(&self, before_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE started_at < $1")
            .bind(before_ms)
            .execute(&self.write)
            .await?
            .rows_affected();
        Ok(done)
    }
}
