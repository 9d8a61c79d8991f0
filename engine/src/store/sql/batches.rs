// The batch statements of publish and record, as VALUES lists: a batch costs one
// statement per table, not one per row. Callers keep each batch within SQLite's limit
// of bound parameters (500 messages or 200 rows of the wider tables).
//
// Tried twice and not kept (issue 14): on PostgreSQL, one statement text per kind with
// the rows bound as arrays and unnested, so that sqlx does not prepare a statement per
// batch size on every pooled connection. The second time (with the messages' insert
// also listing their tenants' endpoints, and the recorder's insert a CTE of its
// update) it halved the plans of a three-node burst (14,656 to 7,542), but in
// alternating one-node runs the last delivery came 0.2–0.4 s after the last publish
// instead of at once, and the three-node drain did not measurably improve.

impl This {
    /// Inserts the messages; the ids of those inserted (a repeated idempotency key,
    /// earlier or earlier in this very batch, inserts nothing).
    async fn insert_messages_in(tx: &mut sqlx::Transaction<'_, Db>, batch: &[NewMessage]) -> Result<Vec<String>> {
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO messages (id, tenant_id, event_type, payload, idempotency_key, request_hash, created_at) ",
        );
        qb.push_values(batch, |mut b, m| {
            b.push_bind(m.id.as_str())
                .push_bind(m.tenant_id.as_str())
                .push_bind(m.event_type.as_str())
                .push_bind(m.payload.as_str())
                .push_bind(m.idempotency_key.as_deref())
                .push_bind(m.request_hash.as_deref())
                .push_bind(m.created_at_ms);
        });
        qb.push(" ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id");
        let ids: Vec<(String,)> = qb.build_query_as().fetch_all(&mut **tx).await?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    /// Inserts a pending delivery of each message to each endpoint, due when the
    /// message was created, and announces the work to every node: on PostgreSQL a
    /// NOTIFY per row returned, which PostgreSQL folds into one at commit (a round
    /// trip fewer than a statement of its own); SQLite's one node is woken in process.
    async fn insert_deliveries_in(
        tx: &mut sqlx::Transaction<'_, Db>,
        deliveries: &[(&NewMessage, &str)],
    ) -> Result<()> {
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO deliveries (id, message_id, endpoint_id, tenant_id, event_type, state, attempts, retry_base, \
             next_attempt_at, lease_owner, lease_token, next_trigger, created_at, updated_at) ",
        );
        qb.push_values(deliveries, |mut b, (m, endpoint_id)| {
            b.push_bind(crate::ids::new_id::<DeliveryKind>().into_string())
                .push_bind(m.id.as_str())
                .push_bind(*endpoint_id)
                .push_bind(m.tenant_id.as_str())
                .push_bind(m.event_type.as_str())
                .push_bind("pending")
                .push_bind(0i64)
                .push_bind(0i64)
                .push_bind(m.created_at_ms)
                .push_bind(None::<String>)
                .push_bind(0i64)
                .push_bind("scheduled")
                .push_bind(m.created_at_ms)
                .push_bind(m.created_at_ms);
        });
        qb.push(announce_deliveries_returning(deliveries));
        qb.build().execute(&mut **tx).await?;
        Ok(())
    }

    /// Inserts the outcomes' attempts.
    async fn insert_attempts_in(tx: &mut sqlx::Transaction<'_, Db>, outcomes: &[Outcome]) -> Result<()> {
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO attempts (id, delivery_id, message_id, endpoint_id, tenant_id, number, trigger, url, \
             started_at, duration_ms, request_headers, response_status, response_headers, response_body, \
             error_class, error_message, retry_after_seconds) ",
        );
        qb.push_values(outcomes, |mut b, o| {
            let a = &o.attempt;
            b.push_bind(a.id.as_str())
                .push_bind(a.delivery_id.as_str())
                .push_bind(a.message_id.as_str())
                .push_bind(a.endpoint_id.as_str())
                .push_bind(a.tenant_id.as_str())
                .push_bind(a.number)
                .push_bind(a.trigger.as_str())
                .push_bind(a.url.as_str())
                .push_bind(a.started_at_ms)
                .push_bind(a.duration_ms)
                .push_bind(a.request_headers.as_str())
                .push_bind(a.response_status)
                .push_bind(a.response_headers.as_deref())
                .push_bind(a.response_body.as_deref())
                .push_bind(a.error_class.map(ErrorClass::as_str))
                .push_bind(a.error_message.as_deref())
                .push_bind(a.retry_after_seconds);
        });
        qb.build().execute(&mut **tx).await?;
        Ok(())
    }

    /// Writes each outcome to its delivery, fenced by the lease token: if our lease
    /// expired and another worker re-claimed the row, its outcome wins and ours is
    /// only an attempt record. The deliveries changed.
    async fn apply_outcomes_in(tx: &mut sqlx::Transaction<'_, Db>, outcomes: &[Outcome], now_ms: i64) -> Result<u64> {
        // VALUES columns are column1… on both SQLite and PostgreSQL.
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "UPDATE deliveries SET state = v.column3, attempts = v.column4, next_attempt_at = v.column5, \
             lease_owner = NULL, next_trigger = 'scheduled', last_error_class = v.column6, \
             last_response_status = v.column7, updated_at = ",
        );
        qb.push_bind(now_ms);
        // The first success only: a replay of a delivered message must not make its
        // delivery look later (or, after a failure, on time) for the SLO.
        qb.push(", succeeded_at = CASE WHEN v.column3 = 'succeeded' THEN COALESCE(deliveries.succeeded_at, ");
        qb.push_bind(now_ms);
        qb.push(") ELSE deliveries.succeeded_at END");
        qb.push(" FROM (");
        qb.push_values(outcomes, |mut b, o| {
            let a = &o.attempt;
            let (state, next) = o.next.stored();
            b.push_bind(a.delivery_id.as_str())
                .push_bind(o.lease_token)
                .push_bind(state)
                .push_bind(a.number)
                .push_bind(next)
                .push_bind(a.error_class.map(ErrorClass::as_str))
                .push_bind(a.response_status);
        });
        qb.push(
            ") AS v WHERE deliveries.id = v.column1 AND deliveries.lease_token = v.column2 \
             AND deliveries.state = 'pending'",
        );
        Ok(qb.build().execute(&mut **tx).await?.rows_affected())
    }
}
