// Messages, their deliveries and attempts: `impl MessageStore` (publish, read, replay).
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

#[async_trait]
impl MessageStore for This {
    async fn publish_batch(&self, batch: &[NewMessage]) -> Result<Vec<PublishResult>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // A constant number of statements per batch, whatever its size: one multi-row
        // insert of the messages, one endpoint lookup per tenant, one multi-row insert of
        // the deliveries, one update of the queue heads. That, and one commit, is what
        // makes group commit pay. Each statement is a round trip, and several nodes
        // commit smaller batches, so more of them: the heads' row locks and the NOTIFY
        // ride on the deliveries' insert rather than cost statements of their own.
        let mut tx = self.write.begin().await?;
        let mut inserted: std::collections::HashSet<String> = std::collections::HashSet::new();
        for chunk in batch.chunks(500) {
            inserted.extend(Self::insert_messages_in(&mut tx, chunk).await?);
        }

        let mut endpoints_of: std::collections::HashMap<&str, Vec<(String, String)>> = std::collections::HashMap::new();
        for m in batch.iter().filter(|m| inserted.contains(m.id.as_str())) {
            if !endpoints_of.contains_key(m.tenant_id.as_str()) {
                let endpoints: Vec<(String, String)> = sqlx::query_as(
                    "SELECT id, event_types FROM endpoints \
                     WHERE tenant_id = $1 AND enabled = TRUE AND deleted_at IS NULL",
                )
                .bind(m.tenant_id.as_str())
                .fetch_all(&mut *tx)
                .await?;
                endpoints_of.insert(m.tenant_id.as_str(), endpoints);
            }
        }

        let mut results = Vec::with_capacity(batch.len());
        let mut deliveries: Vec<(&NewMessage, &str)> = Vec::new();
        for m in batch {
            if !inserted.contains(m.id.as_str()) {
                let sql =
                    format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND idempotency_key = $2");
                let row: MessageRow = sqlx::query_as(&sql)
                    .bind(m.tenant_id.as_str())
                    .bind(m.idempotency_key.as_deref())
                    .fetch_one(&mut *tx)
                    .await?;
                let request_hash = row.request_hash.clone();
                results.push(PublishResult::Existing { message: message_from(row)?, request_hash });
                continue;
            }
            let before = deliveries.len();
            for (endpoint_id, types) in endpoints_of.get(m.tenant_id.as_str()).into_iter().flatten() {
                let wanted = match &m.only_endpoint {
                    // A test event goes to the one endpoint it tests, whatever its filter.
                    Some(only) => only.as_str() == endpoint_id,
                    None => subscribes(types, &m.event_type),
                };
                if wanted {
                    deliveries.push((m, endpoint_id.as_str()));
                }
            }
            let message = Message {
                id: m.id.clone(),
                tenant_id: m.tenant_id.clone(),
                event_type: m.event_type.clone(),
                payload: serde_json::value::RawValue::from_string(m.payload.clone())?,
                idempotency_key: m.idempotency_key.clone(),
                created_at: ms_to_dt(m.created_at_ms),
            };
            results.push(PublishResult::Created { message, deliveries: deliveries.len() - before });
        }

        // The insert also announces the work (PostgreSQL's NOTIFY, sent at commit).
        for chunk in deliveries.chunks(200) {
            Self::insert_deliveries_in(&mut tx, chunk).await?;
        }
        if !deliveries.is_empty() {
            let heads: Vec<(&str, i64)> = deliveries.iter().map(|(m, e)| (*e, m.created_at_ms)).collect();
            Self::lower_heads_locked_in(&mut tx, &heads, EndpointLocks::HeldByInsertedDeliveries).await?;
            let hours = deliveries.iter().map(|(m, _)| (m.tenant_id.as_str(), m.created_at_ms));
            Self::mark_hours_in(&mut tx, hours, crate::ids::now_ms()).await?;
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn get_message(&self, tenant: &TenantScope, id: &MessageId) -> Result<Option<Message>> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND id = $2 AND {LIVE_TENANT}");
        let row: Option<MessageRow> =
            sqlx::query_as(&sql).bind(tenant.id().as_str()).bind(id.as_str()).fetch_optional(&self.read).await?;
        row.map(message_from).transpose()
    }

    async fn message_by_idempotency_key(
        &self,
        tenant: &TenantScope,
        key: &str,
    ) -> Result<Option<(Message, Option<String>)>> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND idempotency_key = $2");
        let row: Option<MessageRow> =
            sqlx::query_as(&sql).bind(tenant.id().as_str()).bind(key).fetch_optional(&self.read).await?;
        row.map(|r| {
            let hash = r.request_hash.clone();
            message_from(r).map(|m| (m, hash))
        })
        .transpose()
    }

    async fn list_messages(&self, tenant: &TenantScope, f: &MessageFilter, page: &PageArgs) -> Result<Vec<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 \
             AND ($2 IS NULL OR event_type = $2) AND ($3 IS NULL OR id >= $3) AND ($4 IS NULL OR id < $4) \
             AND ($5 IS NULL OR id < $5) ORDER BY id DESC LIMIT $6"
        );
        let rows: Vec<MessageRow> = sqlx::query_as(&sql)
            .bind(tenant.id().as_str())
            .bind(f.event_type.as_deref())
            .bind(f.since_ms.map(|ms| MessageId::lower_bound_at(ms).into_string()))
            .bind(f.until_ms.map(|ms| MessageId::lower_bound_at(ms).into_string()))
            .bind(page.before.as_deref())
            .bind(page.limit)
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(message_from).collect()
    }

    async fn replay(
        &self,
        tenant: &TenantScope,
        message: &MessageId,
        endpoint: Option<&EndpointId>,
        trigger: AttemptTrigger,
        now_ms: i64,
    ) -> Result<Vec<DeliveryId>> {
        let mut tx = self.write.begin().await?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $1, lease_owner = NULL, next_trigger = $2, \
             retry_base = attempts, updated_at = $1, operation_id = NULL \
             WHERE tenant_id = $3 AND message_id = $4 AND ($5 IS NULL OR endpoint_id = $5) \
             AND NOT (state = 'pending' AND lease_owner IS NOT NULL AND next_attempt_at > $1) \
             AND endpoint_id IN (SELECT id FROM endpoints WHERE tenant_id = $3 AND deleted_at IS NULL) \
             RETURNING id, endpoint_id",
        )
        .bind(now_ms)
        .bind(trigger.as_str())
        .bind(tenant.id().as_str())
        .bind(message.as_str())
        .bind(endpoint.map(|e| e.as_str()))
        .fetch_all(&mut *tx)
        .await?;
        let mut heads: Vec<(String, i64)> = rows.iter().map(|(_, e)| (e.clone(), now_ms)).collect();
        let mut queued: Vec<DeliveryId> = rows.into_iter().map(|(id, _)| parse_id(id)).collect::<Result<_>>()?;
        if let (Some(endpoint), true) = (endpoint, queued.is_empty()) {
            // An endpoint created after the message was published has no delivery yet:
            // replaying to it creates one.
            let existing: Option<(String,)> =
                sqlx::query_as("SELECT id FROM deliveries WHERE message_id = $1 AND endpoint_id = $2")
                    .bind(message.as_str())
                    .bind(endpoint.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            if existing.is_none() {
                let id = crate::ids::new_id::<DeliveryKind>();
                let inserted = sqlx::query(
                    "INSERT INTO deliveries (id, message_id, endpoint_id, tenant_id, event_type, state, attempts, retry_base, \
                     next_attempt_at, lease_owner, lease_token, next_trigger, created_at, updated_at) \
                     SELECT $1, m.id, e.id, m.tenant_id, m.event_type, 'pending', 0, 0, $2, NULL, 0, $3, $2, $2 \
                     FROM messages m, endpoints e WHERE m.id = $4 AND m.tenant_id = $5 AND e.id = $6 \
                     AND e.tenant_id = $5 AND e.deleted_at IS NULL",
                )
                .bind(id.as_str())
                .bind(now_ms)
                .bind(trigger.as_str())
                .bind(message.as_str())
                .bind(tenant.id().as_str())
                .bind(endpoint.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 1 {
                    queued.push(id);
                    heads.push((endpoint.to_string(), now_ms));
                }
            }
        }
        if !queued.is_empty() {
            let heads: Vec<(&str, i64)> = heads.iter().map(|(e, at)| (e.as_str(), *at)).collect();
            Self::lower_heads_in(&mut tx, &heads).await?;
            Self::announce_work(&mut tx).await?;
            Self::mark_hours_where_in(&mut tx, "message_id = $1", message.as_str(), now_ms).await?;
        }
        tx.commit().await?;
        Ok(queued)
    }

    async fn backlog(&self, tenant: &TenantScope) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM deliveries WHERE tenant_id = $1 AND state = 'pending'")
            .bind(tenant.id().as_str())
            .fetch_one(&self.read)
            .await?;
        Ok(n)
    }

    async fn list_deliveries(
        &self,
        tenant: &TenantScope,
        f: &DeliveryFilter,
        page: &PageArgs,
    ) -> Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE tenant_id = $1 \
             AND ($2 IS NULL OR state = $2) AND ($3 IS NULL OR endpoint_id = $3) AND ($4 IS NULL OR message_id = $4) \
             AND ($5 IS NULL OR event_type = $5) AND ($6 IS NULL OR id >= $6) AND ($7 IS NULL OR id < $7) \
             ORDER BY id DESC LIMIT $8"
        );
        let rows: Vec<DeliveryRow> = sqlx::query_as(&sql)
            .bind(tenant.id().as_str())
            .bind(f.status.map(DeliveryStatus::as_str))
            .bind(f.endpoint_id.as_ref().map(|e| e.as_str()))
            .bind(f.message_id.as_ref().map(|m| m.as_str()))
            .bind(f.event_type.as_deref())
            .bind(f.since_ms.map(|ms| DeliveryId::lower_bound_at(ms).into_string()))
            .bind(page.before.as_deref())
            .bind(page.limit)
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(delivery_from).collect()
    }

    async fn get_delivery(&self, tenant: &TenantScope, id: &DeliveryId) -> Result<Option<Delivery>> {
        let sql =
            format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE tenant_id = $1 AND id = $2 AND {LIVE_TENANT}");
        let row: Option<DeliveryRow> =
            sqlx::query_as(&sql).bind(tenant.id().as_str()).bind(id.as_str()).fetch_optional(&self.read).await?;
        row.map(delivery_from).transpose()
    }

    async fn list_attempts(
        &self,
        tenant: &TenantScope,
        delivery: &DeliveryId,
        page: &PageArgs,
    ) -> Result<Vec<Attempt>> {
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE tenant_id = $1 AND delivery_id = $2 \
             AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
        );
        let rows: Vec<AttemptRow> = sqlx::query_as(&sql)
            .bind(tenant.id().as_str())
            .bind(delivery.as_str())
            .bind(page.before.as_deref())
            .bind(page.limit)
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(attempt_from).collect()
    }

    async fn attempts_of(&self, tenant: &TenantScope, deliveries: &[DeliveryId]) -> Result<Vec<Attempt>> {
        let mut out = Vec::new();
        // Each chunk rides the (delivery_id, id) index.
        for chunk in deliveries.chunks(500) {
            let mut qb =
                sqlx::QueryBuilder::<Db>::new(format!("SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE tenant_id = "));
            qb.push_bind(tenant.id().as_str());
            qb.push(" AND delivery_id IN ");
            push_id_list(&mut qb, chunk.iter().map(|id| id.as_str()));
            qb.push(" ORDER BY id");
            let rows: Vec<AttemptRow> = qb.build_query_as().fetch_all(&self.read).await?;
            for row in rows {
                out.push(attempt_from(row)?);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}
