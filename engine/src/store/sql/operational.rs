// Operational webhooks: the notices of the engine's lifecycle events, published in the
// transaction that writes the events, so a notice is sent exactly when its event is.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

/// Endpoints that named one of Sluice's own types: (id, tenant, event types).
type NoticeSubscribers = Vec<(String, String, String)>;

impl This {
    /// [`This::send_notices_in`] for a transaction that queues nothing else: the
    /// notices' endpoints are due at once, and the other nodes are told.
    async fn queue_notices_in<'e>(
        tx: &mut sqlx::Transaction<'_, Db>,
        events: impl IntoIterator<Item = &'e LifecycleEvent>,
        now_ms: i64,
    ) -> Result<()> {
        let notified = Self::send_notices_in(tx, events, now_ms).await?;
        if !notified.is_empty() {
            let heads: Vec<(&str, i64)> = notified.iter().map(|(e, at)| (e.as_str(), *at)).collect();
            Self::lower_heads_in(tx, &heads).await?;
            Self::announce_work(tx).await?;
        }
        Ok(())
    }

    /// Publishes a message for each of `events` that is a notice (see
    /// `store/operational.rs`) to its subscribers: the enabled endpoints that named
    /// its type, of its tenant and of the tenants that receive every tenant's notices
    /// (one message per tenant), never the endpoint it is about. One subscriber lookup
    /// per tenant, and only of endpoints that named one of Sluice's own types at all.
    /// Answers the (endpoint, due at) heads the caller must lower, with its own, in one
    /// sorted pass, then announce.
    async fn send_notices_in<'e>(
        tx: &mut sqlx::Transaction<'_, Db>,
        events: impl IntoIterator<Item = &'e LifecycleEvent>,
        now_ms: i64,
    ) -> Result<Vec<(String, i64)>> {
        let notices = operational::coalesce(events.into_iter().filter_map(operational::notice_of).collect());
        if notices.is_empty() {
            return Ok(Vec::new());
        }
        let inboxes: NoticeSubscribers = sqlx::query_as(
            "SELECT e.id, e.tenant_id, e.event_types FROM endpoints e JOIN tenants t ON t.id = e.tenant_id \
             WHERE t.receives_all_notices = TRUE AND e.enabled = TRUE AND e.deleted_at IS NULL \
             AND e.event_types LIKE '%\"sluice.%' ORDER BY e.id",
        )
        .fetch_all(&mut **tx)
        .await?;
        let mut own: std::collections::HashMap<String, NoticeSubscribers> = std::collections::HashMap::new();
        let mut heads: Vec<(String, i64)> = Vec::new();
        for notice in &notices {
            let tenant = notice.tenant_id.as_str();
            if !own.contains_key(tenant) {
                let rows: NoticeSubscribers = sqlx::query_as(
                    "SELECT id, tenant_id, event_types FROM endpoints WHERE tenant_id = $1 AND enabled = TRUE \
                     AND deleted_at IS NULL AND event_types LIKE '%\"sluice.%' ORDER BY id",
                )
                .bind(tenant)
                .fetch_all(&mut **tx)
                .await?;
                own.insert(tenant.to_owned(), rows);
            }
            // Grouped by the tenant the message is published in: the notice's own,
            // then each inbox tenant (its own endpoints are already in the first).
            let mut targets: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
            let inbox_of_others = inboxes.iter().filter(|(_, t, _)| t != tenant);
            for (id, in_tenant, types) in own.get(tenant).into_iter().flatten().chain(inbox_of_others) {
                if notice.about_endpoint.as_deref() != Some(id.as_str()) && subscribes(types, notice.event_type) {
                    targets.entry(in_tenant.as_str()).or_default().push(id.as_str());
                }
            }
            for (in_tenant, endpoints) in targets {
                Self::insert_notice_in(tx, in_tenant, notice, &endpoints, now_ms).await?;
                heads.extend(endpoints.iter().map(|e| ((*e).to_owned(), now_ms)));
            }
        }
        Ok(heads)
    }

    /// One notice as a message of `tenant` with a delivery to each of `endpoints`.
    async fn insert_notice_in(
        tx: &mut sqlx::Transaction<'_, Db>,
        tenant: &str,
        notice: &operational::Notice,
        endpoints: &[&str],
        now_ms: i64,
    ) -> Result<()> {
        let message_id = crate::ids::new_id::<MessageKind>();
        sqlx::query(
            "INSERT INTO messages (id, tenant_id, event_type, payload, idempotency_key, request_hash, created_at) \
             VALUES ($1, $2, $3, $4, NULL, NULL, $5)",
        )
        .bind(message_id.as_str())
        .bind(tenant)
        .bind(notice.event_type)
        .bind(notice.payload.to_string())
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
        for endpoint in endpoints {
            sqlx::query(
                "INSERT INTO deliveries (id, message_id, endpoint_id, tenant_id, event_type, state, attempts, \
                 retry_base, next_attempt_at, lease_owner, lease_token, next_trigger, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', 0, 0, $6, NULL, 0, 'scheduled', $6, $6)",
            )
            .bind(crate::ids::new_id::<DeliveryKind>().as_str())
            .bind(message_id.as_str())
            .bind(*endpoint)
            .bind(tenant)
            .bind(notice.event_type)
            .bind(now_ms)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}
