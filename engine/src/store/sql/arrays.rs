// PostgreSQL's batch statements of publish and record: each column of the batch bound
// as one array and unnested, so a statement's text is the same whatever the batch's
// size. `include!`d by `postgres.rs` only; SQLite's are `batches.rs`, as VALUES lists.
//
// Why: sqlx prepares each distinct text on each pooled connection and PostgreSQL
// plans a prepared statement afresh for its first five runs. With VALUES lists every
// batch size was a new text, so nearly every batch was parsed and planned (in a
// three-node burst, 14,656 plans for 2,048 publishes and 1,433 records, 1.4 s of
// planning). One text per kind is prepared once per connection and then runs on its
// generic plan.

/// The ids of the messages inserted, and the live endpoints (tenant, id, event types)
/// of their tenants, which the insert looks up in the same statement.
type InsertedMessages = (Vec<String>, Vec<(String, String, String)>);

impl This {
    /// Inserts the messages; the ids of those inserted (a repeated idempotency key,
    /// earlier or earlier in this very batch, inserts nothing) and, in the same
    /// statement (a round trip fewer), the live endpoints of the batch's tenants.
    async fn insert_messages_in(tx: &mut sqlx::Transaction<'_, Db>, batch: &[NewMessage]) -> Result<InsertedMessages> {
        let tenants: std::collections::BTreeSet<&str> = batch.iter().map(|m| m.tenant_id.as_str()).collect();
        // A message's row has no tenant; an endpoint's has its tenant.
        let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "WITH inserted AS (INSERT INTO messages \
             (id, tenant_id, event_type, payload, idempotency_key, request_hash, created_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::bigint[]) ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id) \
             SELECT id, NULL::text AS tenant_id, NULL::text AS event_types FROM inserted \
             UNION ALL SELECT id, tenant_id, event_types FROM endpoints \
             WHERE enabled = TRUE AND deleted_at IS NULL AND tenant_id = ANY($8::text[])",
        )
        .bind(batch.iter().map(|m| m.id.as_str()).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.tenant_id.as_str()).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.event_type.as_str()).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.payload.as_str()).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.idempotency_key.as_deref()).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.request_hash.as_deref()).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.created_at_ms).collect::<Vec<_>>())
        .bind(tenants.into_iter().collect::<Vec<_>>())
        .fetch_all(&mut **tx)
        .await?;
        let mut inserted = (Vec::new(), Vec::new());
        for (id, tenant, types) in rows {
            match (tenant, types) {
                (Some(tenant), Some(types)) => inserted.1.push((tenant, id, types)),
                _ => inserted.0.push(id),
            }
        }
        Ok(inserted)
    }

    /// Inserts a pending delivery of each message to each endpoint, due when the
    /// message was created, and announces the work to every node: a NOTIFY per row
    /// returned, which PostgreSQL folds into one at commit (a round trip fewer than a
    /// statement of its own).
    async fn insert_deliveries_in(
        tx: &mut sqlx::Transaction<'_, Db>,
        deliveries: &[(&NewMessage, &str)],
    ) -> Result<()> {
        let ids: Vec<String> = deliveries.iter().map(|_| crate::ids::new_id::<DeliveryKind>().into_string()).collect();
        sqlx::query(concat!(
            "INSERT INTO deliveries (id, message_id, endpoint_id, tenant_id, event_type, state, attempts, retry_base, \
             next_attempt_at, lease_owner, lease_token, next_trigger, created_at, updated_at) \
             SELECT d.id, d.message_id, d.endpoint_id, d.tenant_id, d.event_type, 'pending', 0, 0, \
             d.at, NULL, 0, 'scheduled', d.at, d.at \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) \
             AS d(id, message_id, endpoint_id, tenant_id, event_type, at) \
             RETURNING pg_notify('",
            work_channel!(),
            "', '')"
        ))
        .bind(ids)
        .bind(deliveries.iter().map(|(m, _)| m.id.as_str()).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|(_, e)| *e).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|(m, _)| m.tenant_id.as_str()).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|(m, _)| m.event_type.as_str()).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|(m, _)| m.created_at_ms).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Inserts the outcomes' attempts and writes each outcome to its delivery, fenced
    /// by the lease token: if our lease expired and another worker re-claimed the
    /// row, its outcome wins and ours is only an attempt record. One statement, the
    /// insert a CTE of the update; answers the deliveries changed.
    async fn record_outcomes_in(tx: &mut sqlx::Transaction<'_, Db>, outcomes: &[Outcome], now_ms: i64) -> Result<u64> {
        let column = |f: fn(&Outcome) -> Option<&str>| outcomes.iter().map(f).collect::<Vec<_>>();
        let number = |f: fn(&Outcome) -> Option<i64>| outcomes.iter().map(f).collect::<Vec<_>>();
        let applied = sqlx::query(
            "WITH attempted AS (INSERT INTO attempts (id, delivery_id, message_id, endpoint_id, tenant_id, number, \
             trigger, url, started_at, duration_ms, request_headers, response_status, response_headers, \
             response_body, error_class, error_message, retry_after_seconds) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], \
             $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::text[], $12::bigint[], $13::text[], \
             $14::text[], $15::text[], $16::text[], $17::bigint[])) \
             UPDATE deliveries SET state = v.state, attempts = v.number, next_attempt_at = v.next, \
             lease_owner = NULL, next_trigger = 'scheduled', last_error_class = v.error_class, \
             last_response_status = v.response_status, updated_at = $18, \
             succeeded_at = CASE WHEN v.state = 'succeeded' THEN COALESCE(deliveries.succeeded_at, $18) \
             ELSE deliveries.succeeded_at END \
             FROM UNNEST($2::text[], $19::bigint[], $20::text[], $6::bigint[], $21::bigint[], $15::text[], \
             $12::bigint[]) AS v(id, token, state, number, next, error_class, response_status) \
             WHERE deliveries.id = v.id AND deliveries.lease_token = v.token AND deliveries.state = 'pending'",
        )
        .bind(column(|o| Some(o.attempt.id.as_str())))
        .bind(column(|o| Some(o.attempt.delivery_id.as_str())))
        .bind(column(|o| Some(o.attempt.message_id.as_str())))
        .bind(column(|o| Some(o.attempt.endpoint_id.as_str())))
        .bind(column(|o| Some(o.attempt.tenant_id.as_str())))
        .bind(number(|o| Some(o.attempt.number)))
        .bind(column(|o| Some(o.attempt.trigger.as_str())))
        .bind(column(|o| Some(o.attempt.url.as_str())))
        .bind(number(|o| Some(o.attempt.started_at_ms)))
        .bind(number(|o| Some(o.attempt.duration_ms)))
        .bind(column(|o| Some(o.attempt.request_headers.as_str())))
        .bind(number(|o| o.attempt.response_status))
        .bind(column(|o| o.attempt.response_headers.as_deref()))
        .bind(column(|o| o.attempt.response_body.as_deref()))
        .bind(column(|o| o.attempt.error_class.map(ErrorClass::as_str)))
        .bind(column(|o| o.attempt.error_message.as_deref()))
        .bind(number(|o| o.attempt.retry_after_seconds))
        .bind(now_ms)
        .bind(number(|o| Some(o.lease_token)))
        .bind(column(|o| Some(o.next.stored().0)))
        .bind(number(|o| o.next.stored().1))
        .execute(&mut **tx)
        .await?
        .rows_affected();
        Ok(applied)
    }
}
