// PostgreSQL's batch statements, `include!`d by `postgres.rs` (SQLite's are in
// `bulk_sqlite.rs`): one statement text whatever the batch's size, its rows bound as
// one array per column and unnested. Built as VALUES lists, every batch size was a
// statement of its own, prepared anew on each pooled connection the first time it met
// that size, and a burst's sizes outnumbered sqlx's hundred cached statements per
// connection, so they were prepared again and again: parse and plan work in the
// database for every batch, more of it the more nodes (connections) there are.

impl This {
    /// Inserts the messages; the ids of those inserted (a repeated idempotency key,
    /// earlier or earlier in this very batch, inserts nothing).
    async fn insert_messages_in(tx: &mut sqlx::Transaction<'_, Db>, batch: &[NewMessage]) -> Result<Vec<String>> {
        let column = |f: fn(&NewMessage) -> &str| batch.iter().map(f).collect::<Vec<&str>>();
        let optional = |f: fn(&NewMessage) -> Option<&str>| batch.iter().map(f).collect::<Vec<Option<&str>>>();
        let ids: Vec<(String,)> = sqlx::query_as(
            "INSERT INTO messages (id, tenant_id, event_type, payload, idempotency_key, request_hash, created_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[]) \
             ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id",
        )
        .bind(column(|m| m.id.as_str()))
        .bind(column(|m| m.tenant_id.as_str()))
        .bind(column(|m| m.event_type.as_str()))
        .bind(column(|m| m.payload.as_str()))
        .bind(optional(|m| m.idempotency_key.as_deref()))
        .bind(optional(|m| m.request_hash.as_deref()))
        .bind(batch.iter().map(|m| m.created_at_ms).collect::<Vec<i64>>())
        .fetch_all(&mut **tx)
        .await?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    /// Inserts a pending delivery of each message to each endpoint, due when the
    /// message was created.
    async fn insert_deliveries_in(
        tx: &mut sqlx::Transaction<'_, Db>,
        deliveries: &[(&NewMessage, &str)],
    ) -> Result<()> {
        let ids: Vec<String> = deliveries.iter().map(|_| crate::ids::new_id::<DeliveryKind>().into_string()).collect();
        let message_ids: Vec<&str> = deliveries.iter().map(|(m, _)| m.id.as_str()).collect();
        let endpoint_ids: Vec<&str> = deliveries.iter().map(|(_, e)| *e).collect();
        let tenant_ids: Vec<&str> = deliveries.iter().map(|(m, _)| m.tenant_id.as_str()).collect();
        let event_types: Vec<&str> = deliveries.iter().map(|(m, _)| m.event_type.as_str()).collect();
        sqlx::query(
            "INSERT INTO deliveries (id, message_id, endpoint_id, tenant_id, event_type, state, attempts, retry_base, \
             next_attempt_at, lease_owner, lease_token, next_trigger, created_at, updated_at) \
             SELECT d.id, d.message_id, d.endpoint_id, d.tenant_id, d.event_type, 'pending', 0, 0, d.at, NULL, 0, \
             'scheduled', d.at, d.at \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) \
             AS d (id, message_id, endpoint_id, tenant_id, event_type, at)",
        )
        .bind(ids)
        .bind(message_ids)
        .bind(endpoint_ids)
        .bind(tenant_ids)
        .bind(event_types)
        .bind(deliveries.iter().map(|(m, _)| m.created_at_ms).collect::<Vec<i64>>())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Inserts the outcomes' attempts.
    async fn insert_attempts_in(tx: &mut sqlx::Transaction<'_, Db>, outcomes: &[Outcome]) -> Result<()> {
        let column = |f: fn(&AttemptRecord) -> &str| outcomes.iter().map(|o| f(&o.attempt)).collect::<Vec<&str>>();
        let optional = |f: fn(&AttemptRecord) -> Option<&str>| {
            outcomes.iter().map(|o| f(&o.attempt)).collect::<Vec<Option<&str>>>()
        };
        let number = |f: fn(&AttemptRecord) -> i64| outcomes.iter().map(|o| f(&o.attempt)).collect::<Vec<i64>>();
        let maybe =
            |f: fn(&AttemptRecord) -> Option<i64>| outcomes.iter().map(|o| f(&o.attempt)).collect::<Vec<Option<i64>>>();
        sqlx::query(
            "INSERT INTO attempts (id, delivery_id, message_id, endpoint_id, tenant_id, number, trigger, url, \
             started_at, duration_ms, request_headers, response_status, response_headers, response_body, \
             error_class, error_message, retry_after_seconds) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], \
             $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::text[], $12::bigint[], $13::text[], \
             $14::text[], $15::text[], $16::text[], $17::bigint[])",
        )
        .bind(column(|a| a.id.as_str()))
        .bind(column(|a| a.delivery_id.as_str()))
        .bind(column(|a| a.message_id.as_str()))
        .bind(column(|a| a.endpoint_id.as_str()))
        .bind(column(|a| a.tenant_id.as_str()))
        .bind(number(|a| a.number))
        .bind(column(|a| a.trigger.as_str()))
        .bind(column(|a| a.url.as_str()))
        .bind(number(|a| a.started_at_ms))
        .bind(number(|a| a.duration_ms))
        .bind(column(|a| a.request_headers.as_str()))
        .bind(maybe(|a| a.response_status))
        .bind(optional(|a| a.response_headers.as_deref()))
        .bind(optional(|a| a.response_body.as_deref()))
        .bind(optional(|a| a.error_class.map(ErrorClass::as_str)))
        .bind(optional(|a| a.error_message.as_deref()))
        .bind(maybe(|a| a.retry_after_seconds))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Writes each outcome to its delivery, fenced by the lease token: if our lease
    /// expired and another worker re-claimed the row, its outcome wins and ours is
    /// only an attempt record. The deliveries changed.
    async fn apply_outcomes_in(tx: &mut sqlx::Transaction<'_, Db>, outcomes: &[Outcome], now_ms: i64) -> Result<u64> {
        let steps: Vec<(&str, Option<i64>)> = outcomes.iter().map(|o| o.next.stored()).collect();
        let applied = sqlx::query(
            "UPDATE deliveries SET state = v.state, attempts = v.number, next_attempt_at = v.next, \
             lease_owner = NULL, next_trigger = 'scheduled', last_error_class = v.error_class, \
             last_response_status = v.status, updated_at = $8, \
             succeeded_at = CASE WHEN v.state = 'succeeded' THEN COALESCE(deliveries.succeeded_at, $8) \
             ELSE deliveries.succeeded_at END \
             FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[]) \
             AS v (id, token, state, number, next, error_class, status) \
             WHERE deliveries.id = v.id AND deliveries.lease_token = v.token AND deliveries.state = 'pending'",
        )
        .bind(outcomes.iter().map(|o| o.attempt.delivery_id.as_str()).collect::<Vec<&str>>())
        .bind(outcomes.iter().map(|o| o.lease_token).collect::<Vec<i64>>())
        .bind(steps.iter().map(|(state, _)| *state).collect::<Vec<&str>>())
        .bind(outcomes.iter().map(|o| o.attempt.number).collect::<Vec<i64>>())
        .bind(steps.iter().map(|(_, next)| *next).collect::<Vec<Option<i64>>>())
        .bind(outcomes.iter().map(|o| o.attempt.error_class.map(ErrorClass::as_str)).collect::<Vec<Option<&str>>>())
        .bind(outcomes.iter().map(|o| o.attempt.response_status).collect::<Vec<Option<i64>>>())
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
        Ok(applied.rows_affected())
    }
}
