// Statements both databases run alike. This file is `include!`d by `sqlite.rs` and
// `postgres.rs`, each of which defines `Db` (the sqlx database), `This` (the store
// type, with `read` and `write` pools) and the backend-specific `*_impl` methods.
// Placeholders are `$N`, which both SQLite and PostgreSQL accept.

use crate::store::rows::*;
use crate::store::{json_map, ms_to_dt, opt_id, parse_id};

fn tenant_from(r: TenantRow) -> Result<Tenant> {
    Ok(Tenant {
        id: parse_id(r.id)?,
        name: r.name,
        tier: r.tier,
        retention_days: r.retention_days,
        backlog_cap: r.backlog_cap,
        created_at: ms_to_dt(r.created_at),
    })
}

fn api_key_from(r: ApiKeyRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: parse_id(r.id)?,
        tenant_id: opt_id(r.tenant_id)?,
        name: r.name,
        prefix: r.prefix,
        created_at: ms_to_dt(r.created_at),
        last_used_at: r.last_used_at.map(ms_to_dt),
        revoked_at: r.revoked_at.map(ms_to_dt),
    })
}

/// The SLO rule, written once for every query that applies it (arguments are SQL
/// expressions): a delivery counts once it finished, or while still pending past the
/// target (already late); it is good when its first success came within the target.
fn slo_counted(late_before: &str) -> String {
    format!("(state IN ('succeeded', 'failed') OR (state = 'pending' AND created_at <= {late_before}))")
}

fn slo_good(latency_target: &str) -> String {
    format!("(state = 'succeeded' AND succeeded_at - created_at <= {latency_target})")
}

fn tier_from((name, success_target, latency_target_ms, updated_at): (String, f64, i64, i64)) -> Tier {
    Tier { name, success_target, latency_target_ms, updated_at: ms_to_dt(updated_at) }
}

fn user_from(r: UserRow) -> Result<User> {
    Ok(User {
        id: parse_id(r.id)?,
        email: r.email,
        role: Role::parse(&r.role).ok_or_else(|| Error::Internal(format!("unknown role {:?} in the database", r.role)))?,
        tenant_id: opt_id(r.tenant_id)?,
        created_at: ms_to_dt(r.created_at),
    })
}

const API_KEY_COLUMNS: &str = "id, tenant_id, name, prefix, created_at, last_used_at, revoked_at";

const USER_COLUMNS: &str = "users.id, users.email, users.role, users.tenant_id, users.created_at";

fn schedule_from(s: Option<String>) -> Result<Option<Vec<u32>>> {
    Ok(s.map(|s| serde_json::from_str(&s)).transpose()?)
}

fn endpoint_from(r: EndpointRow) -> Result<Endpoint> {
    Ok(Endpoint {
        id: parse_id(r.id)?,
        tenant_id: parse_id(r.tenant_id)?,
        url: r.url,
        description: r.description,
        event_types: serde_json::from_str(&r.event_types)?,
        status: if r.enabled { EndpointStatus::Enabled } else { EndpointStatus::Disabled },
        disabled_reason: r.disabled_reason,
        disabled_at: r.disabled_at.map(ms_to_dt),
        rate_limit_per_second: r.rate_limit_per_second.and_then(|v| u32::try_from(v).ok()),
        retry_schedule_seconds: schedule_from(r.retry_schedule)?,
        version: r.version,
        created_at: ms_to_dt(r.created_at),
        updated_at: ms_to_dt(r.updated_at),
    })
}

fn secret_from(r: SecretRow) -> Result<SecretRecord> {
    Ok(SecretRecord { id: parse_id(r.id)?, secret: r.secret, created_at_ms: r.created_at, expires_at_ms: r.expires_at })
}

fn message_from(r: MessageRow) -> Result<Message> {
    Ok(Message {
        id: parse_id(r.id)?,
        tenant_id: parse_id(r.tenant_id)?,
        event_type: r.event_type,
        payload: serde_json::value::RawValue::from_string(r.payload)?,
        idempotency_key: r.idempotency_key,
        created_at: ms_to_dt(r.created_at),
    })
}

fn delivery_from(r: DeliveryRow) -> Result<Delivery> {
    let status = DeliveryStatus::parse(&r.state).ok_or_else(|| Error::Internal(format!("unknown delivery state {}", r.state)))?;
    Ok(Delivery {
        id: parse_id(r.id)?,
        message_id: parse_id(r.message_id)?,
        endpoint_id: parse_id(r.endpoint_id)?,
        tenant_id: parse_id(r.tenant_id)?,
        event_type: r.event_type,
        status,
        attempts: r.attempts,
        // A leased row's next_attempt_at is its lease expiry: show it as "now".
        next_attempt_at: match (status, r.lease_owner) {
            (DeliveryStatus::Pending, Some(_)) => r.next_attempt_at.map(|_| ms_to_dt(r.updated_at)),
            _ => r.next_attempt_at.map(ms_to_dt),
        },
        last_error_class: r.last_error_class.as_deref().and_then(ErrorClass::parse),
        last_response_status: r.last_response_status,
        created_at: ms_to_dt(r.created_at),
        updated_at: ms_to_dt(r.updated_at),
    })
}

fn attempt_from(r: AttemptRow) -> Result<Attempt> {
    Ok(Attempt {
        id: parse_id(r.id)?,
        delivery_id: parse_id(r.delivery_id)?,
        message_id: parse_id(r.message_id)?,
        endpoint_id: parse_id(r.endpoint_id)?,
        number: r.number,
        trigger: AttemptTrigger::parse(&r.trigger).unwrap_or(AttemptTrigger::Scheduled),
        url: r.url,
        started_at: ms_to_dt(r.started_at),
        duration_ms: r.duration_ms,
        request_headers: json_map(&r.request_headers),
        response_status: r.response_status,
        response_headers: r.response_headers.as_deref().map(json_map),
        response_body: r.response_body,
        error_class: r.error_class.as_deref().and_then(ErrorClass::parse),
        error_message: r.error_message,
    })
}

/// Whether an endpoint subscribed to `types` (a JSON array; empty = all) gets `event_type`.
fn subscribes(types_json: &str, event_type: &str) -> bool {
    let types: Vec<String> = serde_json::from_str(types_json).unwrap_or_default();
    types.is_empty() || types.iter().any(|t| t == event_type)
}

const ENDPOINT_COLUMNS: &str = "id, tenant_id, url, description, event_types, enabled, disabled_reason, disabled_at, \
     rate_limit_per_second, retry_schedule, version, created_at, updated_at";
const MESSAGE_COLUMNS: &str = "id, tenant_id, event_type, payload, idempotency_key, request_hash, created_at";
const DELIVERY_COLUMNS: &str = "id, message_id, endpoint_id, tenant_id, event_type, state, attempts, next_attempt_at, \
     lease_owner, last_error_class, last_response_status, created_at, updated_at";
const ATTEMPT_COLUMNS: &str = "id, delivery_id, message_id, endpoint_id, number, trigger, url, started_at, duration_ms, \
     request_headers, response_status, response_headers, response_body, error_class, error_message";

impl This {
    async fn insert_event_in(tx: &mut sqlx::Transaction<'_, Db>, e: &LifecycleEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO lifecycle_events (id, tenant_id, kind, subject_id, actor, detail, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.id.as_str())
        .bind(e.tenant_id.as_ref().map(|t| t.as_str()))
        .bind(&e.kind)
        .bind(&e.subject_id)
        .bind(&e.actor)
        .bind(e.detail.to_string())
        .bind(e.created_at_ms)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Payloads and creation times of the given messages.
    async fn message_bodies(&self, ids: &[&str]) -> Result<std::collections::HashMap<String, (String, i64)>> {
        let mut out = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<Db>::new("SELECT id, payload, created_at FROM messages WHERE id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            qb.push(")");
            let rows: Vec<(String, String, i64)> = qb.build_query_as().fetch_all(&self.read).await?;
            out.extend(rows.into_iter().map(|(id, p, c)| (id, (p, c))));
        }
        Ok(out)
    }

    async fn claimed_from(&self, rows: Vec<ClaimedRow>) -> Result<Vec<Claimed>> {
        let ids: Vec<&str> = rows.iter().map(|r| r.message_id.as_str()).collect();
        let bodies = self.message_bodies(&ids).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let Some((payload, created)) = bodies.get(&r.message_id) else {
                return Err(Error::Internal(format!("delivery {} points at missing message {}", r.id, r.message_id)));
            };
            out.push(Claimed {
                delivery_id: parse_id(r.id)?,
                message_id: parse_id(r.message_id)?,
                endpoint_id: parse_id(r.endpoint_id)?,
                tenant_id: parse_id(r.tenant_id)?,
                event_type: r.event_type,
                payload: payload.clone(),
                message_created_at_ms: *created,
                attempts: r.attempts,
                retry_base: r.retry_base,
                lease_token: r.lease_token,
                trigger: AttemptTrigger::parse(&r.next_trigger).unwrap_or(AttemptTrigger::Scheduled),
            });
        }
        // Oldest first: ids are time-ordered.
        out.sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
        Ok(out)
    }
}

#[async_trait]
impl Store for This {
    fn backend(&self) -> Backend {
        Self::BACKEND
    }

    async fn migrate(&self) -> Result<()> {
        self.migrate_impl().await
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn listen_for_work(&self, wake: Arc<tokio::sync::Notify>) -> Result<()> {
        self.listen_impl(wake).await
    }

    async fn insert_tenant(&self, t: &Tenant) -> Result<()> {
        sqlx::query("INSERT INTO tenants (id, name, tier, retention_days, backlog_cap, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(t.id.as_str())
            .bind(&t.name)
            .bind(&t.tier)
            .bind(t.retention_days)
            .bind(t.backlog_cap)
            .bind(t.created_at.timestamp_millis())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
        let row: Option<TenantRow> = sqlx::query_as("SELECT id, name, tier, retention_days, backlog_cap, created_at FROM tenants WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?;
        row.map(tenant_from).transpose()
    }

    async fn list_tenants(&self, page: &PageArgs) -> Result<Vec<Tenant>> {
        let rows: Vec<TenantRow> = sqlx::query_as(
            "SELECT id, name, tier, retention_days, backlog_cap, created_at FROM tenants \
             WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(page.before.as_deref())
        .bind(page.limit)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(tenant_from).collect()
    }

    async fn insert_api_key(&self, k: &ApiKey, key_hash: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(k.id.as_str())
        .bind(k.tenant_id.as_ref().map(|t| t.as_str()))
        .bind(&k.name)
        .bind(&k.prefix)
        .bind(key_hash)
        .bind(k.created_at.timestamp_millis())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        let row: Option<ApiKeyRow> =
            sqlx::query_as(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"))
                .bind(key_hash)
                .fetch_optional(&self.read)
                .await?;
        row.map(api_key_from).transpose()
    }

    async fn api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>> {
        let row: Option<ApiKeyRow> = sqlx::query_as(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?;
        row.map(api_key_from).transpose()
    }

    async fn list_api_keys(&self, tenant: Option<&TenantId>) -> Result<Vec<ApiKey>> {
        let rows: Vec<ApiKeyRow> = sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE ($1 IS NULL OR tenant_id = $1) ORDER BY id DESC LIMIT 1000"
        ))
        .bind(tenant.map(|t| t.as_str()))
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(api_key_from).collect()
    }

    async fn revoke_api_key(&self, id: &ApiKeyId, at_ms: i64) -> Result<Option<ApiKey>> {
        // One statement, so two admins revoking the last two platform keys at once
        // cannot both succeed on SQLite (one writer); on PostgreSQL the subquery
        // sees the committed state, which narrows the window to concurrent commits.
        let row: Option<ApiKeyRow> = sqlx::query_as(&format!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 \
             AND (tenant_id IS NOT NULL OR revoked_at IS NOT NULL \
                  OR (SELECT COUNT(*) FROM api_keys k WHERE k.tenant_id IS NULL AND k.revoked_at IS NULL) > 1) \
             RETURNING {API_KEY_COLUMNS}"
        ))
        .bind(id.as_str())
        .bind(at_ms)
        .fetch_optional(&self.write)
        .await?;
        match row {
            Some(r) => Ok(Some(api_key_from(r)?)),
            None if self.api_key(id).await?.is_some() => Ok(None),
            None => Err(Error::not_found("api key", id)),
        }
    }

    async fn touch_api_key(&self, id: &ApiKeyId, at_ms: i64) -> Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(at_ms)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn platform_key_exists(&self) -> Result<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM api_keys WHERE tenant_id IS NULL AND revoked_at IS NULL LIMIT 1")
                .fetch_optional(&self.read)
                .await?;
        Ok(row.is_some())
    }

    async fn triage(&self, since_ms: i64, now_ms: i64) -> Result<Vec<TenantHealth>> {
        use sqlx::Row as _;
        // The SLO columns apply the rule of `slo_hours`, per tenant, with each
        // tenant's own tier targets (unqualified columns are the subquery's `d`).
        let (counted, good) = (slo_counted("$2 - tr.latency_target_ms"), slo_good("tr.latency_target_ms"));
        let sql = format!(
            "SELECT t.id, t.name, t.tier, \
             (SELECT COUNT(*) FROM deliveries d WHERE d.tenant_id = t.id AND d.state = 'succeeded' AND d.updated_at >= $1), \
             (SELECT COUNT(*) FROM deliveries d WHERE d.tenant_id = t.id AND d.state = 'failed' AND d.updated_at >= $1), \
             (SELECT COUNT(*) FROM deliveries d WHERE d.tenant_id = t.id AND d.state = 'pending'), \
             (SELECT COUNT(*) FROM endpoints e WHERE e.tenant_id = t.id AND e.enabled = FALSE AND e.deleted_at IS NULL), \
             (SELECT COUNT(*) FROM deliveries d WHERE d.tenant_id = t.id AND d.id >= $3 AND d.created_at >= $1 \
                AND {counted}), \
             (SELECT COUNT(*) FROM deliveries d WHERE d.tenant_id = t.id AND d.id >= $3 AND d.created_at >= $1 \
                AND {good}), \
             tr.success_target \
             FROM tenants t JOIN tiers tr ON tr.name = t.tier"
        );
        let rows = sqlx::query(&sql)
        .bind(since_ms)
        .bind(now_ms)
        .bind(DeliveryId::lower_bound_at(since_ms).into_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TenantHealth {
                    tenant_id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    tier: r.try_get(2)?,
                    succeeded: r.try_get(3)?,
                    failed: r.try_get(4)?,
                    backlog: r.try_get(5)?,
                    disabled_endpoints: r.try_get(6)?,
                    slo_counted: r.try_get(7)?,
                    slo_good: r.try_get(8)?,
                    success_target: r.try_get(9)?,
                })
            })
            .collect()
    }

    async fn error_classes(&self, tenant: Option<&TenantId>, since_ms: i64) -> Result<Vec<(String, i64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT last_error_class, COUNT(*) FROM deliveries WHERE updated_at >= $1 AND state <> 'succeeded' \
             AND last_error_class IS NOT NULL AND ($2 IS NULL OR tenant_id = $2) \
             GROUP BY last_error_class ORDER BY COUNT(*) DESC",
        )
        .bind(since_ms)
        .bind(tenant.map(|t| t.as_str()))
        .fetch_all(&self.read)
        .await?;
        Ok(rows)
    }

    async fn take_job_lease(&self, name: &str, owner: &str, now_ms: i64, until_ms: i64) -> Result<bool> {
        let taken = sqlx::query(
            "UPDATE job_leases SET owner = $2, lease_until = $4 WHERE name = $1 AND (owner = $2 OR lease_until < $3)",
        )
        .bind(name)
        .bind(owner)
        .bind(now_ms)
        .bind(until_ms)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    async fn purge_expired(&self, now_ms: i64, limit: i64) -> Result<PurgeCounts> {
        // Which messages: past their tenant's retention and with nothing pending,
        // oldest first by id (time-ordered), so the primary key finds them. One
        // transaction, children first (attempts, deliveries, then messages), so a
        // crash mid-purge leaves either all of a message or none of it.
        const EXPIRED: &str = "SELECT m.id FROM messages m JOIN tenants t ON t.id = m.tenant_id \
             WHERE m.created_at < $1 - t.retention_days * 86400000 \
             AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.message_id = m.id AND p.state = 'pending') \
             ORDER BY m.id LIMIT $2";
        let mut tx = self.write.begin().await?;
        let ids: Vec<(String,)> = sqlx::query_as(EXPIRED).bind(now_ms).bind(limit).fetch_all(&mut *tx).await?;
        let mut counts = PurgeCounts::default();
        for chunk in ids.chunks(200) {
            let list = |sql: &str| {
                let mut qb = sqlx::QueryBuilder::<Db>::new(sql);
                let mut sep = qb.separated(", ");
                for (id,) in chunk {
                    sep.push_bind(id.as_str());
                }
                qb.push(")");
                qb
            };
            counts.attempts += list(
                "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE message_id IN (",
            )
            .push(")")
            .build()
            .execute(&mut *tx)
            .await?
            .rows_affected();
            counts.deliveries +=
                list("DELETE FROM deliveries WHERE message_id IN (").build().execute(&mut *tx).await?.rows_affected();
            counts.messages += list("DELETE FROM messages WHERE id IN (").build().execute(&mut *tx).await?.rows_affected();
        }
        counts.events = sqlx::query(
            "DELETE FROM lifecycle_events WHERE id IN (SELECT e.id FROM lifecycle_events e \
             JOIN tenants t ON t.id = e.tenant_id WHERE e.created_at < $1 - t.retention_days * 86400000 \
             ORDER BY e.id LIMIT $2)",
        )
        .bind(now_ms)
        .bind(limit)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(counts)
    }

    async fn tiers(&self) -> Result<Vec<Tier>> {
        let rows: Vec<(String, f64, i64, i64)> =
            sqlx::query_as("SELECT name, success_target, latency_target_ms, updated_at FROM tiers ORDER BY success_target")
                .fetch_all(&self.read)
                .await?;
        Ok(rows.into_iter().map(tier_from).collect())
    }

    async fn tier(&self, name: &str) -> Result<Option<Tier>> {
        let row: Option<(String, f64, i64, i64)> =
            sqlx::query_as("SELECT name, success_target, latency_target_ms, updated_at FROM tiers WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.map(tier_from))
    }

    async fn update_tier(&self, t: &Tier) -> Result<()> {
        sqlx::query("UPDATE tiers SET success_target = $2, latency_target_ms = $3, updated_at = $4 WHERE name = $1")
            .bind(&t.name)
            .bind(t.success_target)
            .bind(t.latency_target_ms)
            .bind(t.updated_at.timestamp_millis())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn update_tenant(&self, t: &Tenant) -> Result<()> {
        sqlx::query("UPDATE tenants SET name = $2, tier = $3 WHERE id = $1")
            .bind(t.id.as_str())
            .bind(&t.name)
            .bind(&t.tier)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn slo_hours(
        &self,
        tenant: &TenantId,
        since_ms: i64,
        late_before_ms: i64,
        latency_target_ms: i64,
    ) -> Result<Vec<SloHour>> {
        use sqlx::Row as _;
        // Counts, not samples: one pass over the window's rows (by the tenant and
        // creation-time index) whatever its size, and the same SQL on both backends.
        let buckets: String = sluice_core::slo::LATENCY_BOUNDS_MS
            .iter()
            .map(|b| format!(", SUM(CASE WHEN state = 'succeeded' AND succeeded_at - created_at <= {b} THEN 1 ELSE 0 END)"))
            .collect();
        let (counted, good) = (slo_counted("$3"), slo_good("$4"));
        let sql = format!(
            "SELECT created_at / 3600000, \
             SUM(CASE WHEN {counted} THEN 1 ELSE 0 END), \
             SUM(CASE WHEN {good} THEN 1 ELSE 0 END), \
             SUM(CASE WHEN state = 'succeeded' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END){buckets} \
             FROM deliveries WHERE tenant_id = $1 AND id >= $5 AND created_at >= $2 \
             GROUP BY created_at / 3600000 ORDER BY 1"
        );
        // Ids are time-ordered: bounding the id lets the (tenant_id, id) index find the
        // window, so no index on created_at (each costs every publish) is needed.
        let rows = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(since_ms)
            .bind(late_before_ms)
            .bind(latency_target_ms)
            .bind(DeliveryId::lower_bound_at(since_ms).into_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| {
                let latency_le = (0..sluice_core::slo::LATENCY_BOUNDS_MS.len())
                    .map(|i| r.try_get::<i64, _>(5 + i))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(SloHour {
                    hour: r.try_get(0)?,
                    counted: r.try_get(1)?,
                    good: r.try_get(2)?,
                    succeeded: r.try_get(3)?,
                    failed: r.try_get(4)?,
                    latency_le,
                })
            })
            .collect()
    }

    async fn search(&self, query: &str, limit: i64) -> Result<Vec<SearchHit>> {
        let messages: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT id, tenant_id, event_type FROM messages WHERE id = $1 OR idempotency_key = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(query)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        // A URL fragment matches anywhere in the URL; LIKE's wildcards in the query are
        // taken literally.
        let pattern = format!("%{}%", query.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let endpoints: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT id, tenant_id, url FROM endpoints WHERE deleted_at IS NULL AND (id = $1 OR LOWER(url) LIKE LOWER($2) ESCAPE '\\') \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(query)
        .bind(pattern)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        let hit = |kind: &str| {
            let kind = kind.to_owned();
            move |(id, tenant_id, label): (String, String, String)| SearchHit { kind: kind.clone(), id, tenant_id, label }
        };
        Ok(messages.into_iter().map(hit("message")).chain(endpoints.into_iter().map(hit("endpoint"))).collect())
    }

    async fn recover(&self, op: &NewOperation, now_ms: i64) -> Result<i64> {
        let mut tx = self.write.begin().await?;
        // Same transition as a replay: due now, leases cleared, the retry schedule
        // restarted from here (retry_base), and tagged so progress can be counted.
        let total = sqlx::query(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $1, lease_owner = NULL, \
             next_trigger = 'bulk_recover', retry_base = attempts, updated_at = $1, operation_id = $2 \
             WHERE tenant_id = $3 AND endpoint_id = $4 AND state = 'failed' AND created_at >= $5 AND created_at < $6",
        )
        .bind(now_ms)
        .bind(op.id.as_str())
        .bind(op.tenant_id.as_str())
        .bind(op.endpoint_id.as_str())
        .bind(op.since_ms)
        .bind(op.until_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
        sqlx::query(
            "INSERT INTO operations (id, tenant_id, kind, endpoint_id, since_at, until_at, total, created_by, created_at) \
             VALUES ($1, $2, 'recover', $3, $4, $5, $6, $7, $8)",
        )
        .bind(op.id.as_str())
        .bind(op.tenant_id.as_str())
        .bind(op.endpoint_id.as_str())
        .bind(op.since_ms)
        .bind(op.until_ms)
        .bind(total)
        .bind(&op.created_by)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if total > 0 {
            Self::announce_work(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(total)
    }

    async fn get_operation(&self, id: &OperationId) -> Result<Option<Operation>> {
        type Row = (String, String, String, String, i64, i64, i64, String, i64);
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, tenant_id, kind, endpoint_id, since_at, until_at, total, created_by, created_at \
             FROM operations WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.read)
        .await?;
        let Some((id, tenant_id, kind, endpoint_id, since_at, until_at, total, created_by, created_at)) = row else {
            return Ok(None);
        };
        let counts: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM deliveries WHERE operation_id = $1 GROUP BY state")
                .bind(&id)
                .fetch_all(&self.read)
                .await?;
        let count = |s: &str| counts.iter().find(|(state, _)| state == s).map_or(0, |(_, n)| *n);
        let pending = count("pending");
        Ok(Some(Operation {
            id: parse_id(id)?,
            tenant_id: parse_id(tenant_id)?,
            kind,
            endpoint_id: parse_id(endpoint_id)?,
            since: ms_to_dt(since_at),
            until: ms_to_dt(until_at),
            state: if pending > 0 { "running".into() } else { "completed".into() },
            total,
            pending,
            succeeded: count("succeeded"),
            failed: count("failed"),
            created_by,
            created_at: ms_to_dt(created_at),
        }))
    }

    async fn insert_user(&self, u: &User, password_hash: &str) -> Result<()> {
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

    async fn list_users(&self, page: &PageArgs) -> Result<Vec<User>> {
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

    async fn record_sign_in_failure(&self, email: &str, now_ms: i64, window_floor_ms: i64) -> Result<i64> {
        let (failures,): (i64,) = sqlx::query_as(
            "INSERT INTO sign_in_failures (email, failures, window_start) VALUES ($1, 1, $2) \
             ON CONFLICT (email) DO UPDATE SET \
             failures = CASE WHEN sign_in_failures.window_start < $3 THEN 1 ELSE sign_in_failures.failures + 1 END, \
             window_start = CASE WHEN sign_in_failures.window_start < $3 THEN $2 ELSE sign_in_failures.window_start END \
             RETURNING failures",
        )
        .bind(email)
        .bind(now_ms)
        .bind(window_floor_ms)
        .fetch_one(&self.write)
        .await?;
        Ok(failures)
    }

    async fn sign_in_failures(&self, email: &str, window_floor_ms: i64) -> Result<i64> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT failures FROM sign_in_failures WHERE email = $1 AND window_start >= $2")
                .bind(email)
                .bind(window_floor_ms)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.map_or(0, |(n,)| n))
    }

    async fn clear_sign_in_failures(&self, email: &str) -> Result<()> {
        sqlx::query("DELETE FROM sign_in_failures WHERE email = $1").bind(email).execute(&self.write).await?;
        Ok(())
    }

    async fn insert_endpoint(&self, e: &Endpoint, secret: &SecretRecord, event: &LifecycleEvent) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO endpoints (id, tenant_id, url, description, event_types, enabled, disabled_reason, disabled_at, \
             rate_limit_per_second, retry_schedule, version, created_at, updated_at, deleted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL)",
        )
        .bind(e.id.as_str())
        .bind(e.tenant_id.as_str())
        .bind(&e.url)
        .bind(&e.description)
        .bind(serde_json::to_string(&e.event_types)?)
        .bind(e.status == EndpointStatus::Enabled)
        .bind(e.disabled_reason.as_deref())
        .bind(e.disabled_at.map(|d| d.timestamp_millis()))
        .bind(e.rate_limit_per_second.map(i64::from))
        .bind(e.retry_schedule_seconds.as_ref().map(serde_json::to_string).transpose()?)
        .bind(e.version)
        .bind(e.created_at.timestamp_millis())
        .bind(e.updated_at.timestamp_millis())
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO endpoint_secrets (id, endpoint_id, secret, created_at, expires_at) VALUES ($1, $2, $3, $4, NULL)")
            .bind(secret.id.as_str())
            .bind(e.id.as_str())
            .bind(&secret.secret)
            .bind(secret.created_at_ms)
            .execute(&mut *tx)
            .await?;
        Self::insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<Option<Endpoint>> {
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL");
        let row: Option<EndpointRow> =
            sqlx::query_as(&sql).bind(tenant.as_str()).bind(id.as_str()).fetch_optional(&self.read).await?;
        row.map(endpoint_from).transpose()
    }

    async fn list_endpoints(&self, tenant: &TenantId, page: &PageArgs) -> Result<Vec<Endpoint>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE tenant_id = $1 AND deleted_at IS NULL \
             AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<EndpointRow> = sqlx::query_as(&sql)
            .bind(tenant.as_str())
            .bind(page.before.as_deref())
            .bind(page.limit)
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(endpoint_from).collect()
    }

    async fn update_endpoint(&self, e: &Endpoint, expected_version: i64, event: Option<&LifecycleEvent>) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE endpoints SET url = $1, description = $2, event_types = $3, enabled = $4, disabled_reason = $5, \
             disabled_at = $6, rate_limit_per_second = $7, retry_schedule = $8, version = $9, updated_at = $10 \
             WHERE id = $11 AND tenant_id = $12 AND version = $13 AND deleted_at IS NULL",
        )
        .bind(&e.url)
        .bind(&e.description)
        .bind(serde_json::to_string(&e.event_types)?)
        .bind(e.status == EndpointStatus::Enabled)
        .bind(e.disabled_reason.as_deref())
        .bind(e.disabled_at.map(|d| d.timestamp_millis()))
        .bind(e.rate_limit_per_second.map(i64::from))
        .bind(e.retry_schedule_seconds.as_ref().map(serde_json::to_string).transpose()?)
        .bind(e.version)
        .bind(e.updated_at.timestamp_millis())
        .bind(e.id.as_str())
        .bind(e.tenant_id.as_str())
        .bind(expected_version)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if done {
            if let Some(event) = event {
                Self::insert_event_in(&mut tx, event).await?;
            }
            tx.commit().await?;
        }
        Ok(done)
    }

    async fn delete_endpoint(&self, tenant: &TenantId, id: &EndpointId, now_ms: i64, event: &LifecycleEvent) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE endpoints SET deleted_at = $1, enabled = FALSE, version = version + 1, updated_at = $1 \
             WHERE tenant_id = $2 AND id = $3 AND deleted_at IS NULL",
        )
        .bind(now_ms)
        .bind(tenant.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !done {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE deliveries SET state = 'cancelled', next_attempt_at = NULL, lease_owner = NULL, updated_at = $1 \
             WHERE endpoint_id = $2 AND state = 'pending'",
        )
        .bind(now_ms)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        Self::insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn valid_secrets(&self, endpoint: &EndpointId, now_ms: i64) -> Result<Vec<SecretRecord>> {
        let rows: Vec<SecretRow> = sqlx::query_as(
            "SELECT id, secret, created_at, expires_at FROM endpoint_secrets \
             WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY id DESC",
        )
        .bind(endpoint.as_str())
        .bind(now_ms)
        .fetch_all(&self.read)
        .await?;
        let mut secrets: Vec<SecretRecord> = rows.into_iter().map(secret_from).collect::<Result<_>>()?;
        // The active secret (no expiry) first, then the others newest first.
        secrets.sort_by_key(|s| (s.expires_at_ms.is_some(), std::cmp::Reverse(s.created_at_ms)));
        Ok(secrets)
    }

    async fn rotate_secret(&self, e: &Endpoint, new: &SecretRecord, old_expires_ms: i64, event: &LifecycleEvent) -> Result<()> {
        let mut tx = self.write.begin().await?;
        // Bumping the version tells every node's dispatcher to reload the secrets.
        sqlx::query("UPDATE endpoints SET version = version + 1, updated_at = $1 WHERE id = $2")
            .bind(new.created_at_ms)
            .bind(e.id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE endpoint_secrets SET expires_at = $1 WHERE endpoint_id = $2 AND expires_at IS NULL")
            .bind(old_expires_ms)
            .bind(e.id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO endpoint_secrets (id, endpoint_id, secret, created_at, expires_at) VALUES ($1, $2, $3, $4, NULL)")
            .bind(new.id.as_str())
            .bind(e.id.as_str())
            .bind(&new.secret)
            .bind(new.created_at_ms)
            .execute(&mut *tx)
            .await?;
        Self::insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn publish_batch(&self, batch: &[NewMessage]) -> Result<Vec<PublishResult>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // A constant number of statements per batch, whatever its size: one multi-row
        // insert of the messages, one endpoint lookup per tenant, one multi-row insert of
        // the deliveries. That, and one commit, is what makes group commit pay.
        let mut tx = self.write.begin().await?;
        let mut inserted: std::collections::HashSet<String> = std::collections::HashSet::new();
        for chunk in batch.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO messages (id, tenant_id, event_type, payload, idempotency_key, request_hash, created_at) ",
            );
            qb.push_values(chunk, |mut b, m| {
                b.push_bind(m.id.as_str())
                    .push_bind(m.tenant_id.as_str())
                    .push_bind(m.event_type.as_str())
                    .push_bind(m.payload.as_str())
                    .push_bind(m.idempotency_key.as_deref())
                    .push_bind(m.request_hash.as_deref())
                    .push_bind(m.created_at_ms);
            });
            // Repeats of a key (earlier, or earlier in this very batch) insert nothing.
            qb.push(" ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id");
            let ids: Vec<(String,)> = qb.build_query_as().fetch_all(&mut *tx).await?;
            inserted.extend(ids.into_iter().map(|(id,)| id));
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

        for chunk in deliveries.chunks(200) {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO deliveries (id, message_id, endpoint_id, tenant_id, event_type, state, attempts, retry_base, \
                 next_attempt_at, lease_owner, lease_token, next_trigger, created_at, updated_at) ",
            );
            qb.push_values(chunk, |mut b, (m, endpoint_id)| {
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
            qb.build().execute(&mut *tx).await?;
        }
        if !deliveries.is_empty() {
            Self::announce_work(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn get_message(&self, tenant: &TenantId, id: &MessageId) -> Result<Option<Message>> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND id = $2");
        let row: Option<MessageRow> =
            sqlx::query_as(&sql).bind(tenant.as_str()).bind(id.as_str()).fetch_optional(&self.read).await?;
        row.map(message_from).transpose()
    }

    async fn message_by_idempotency_key(&self, tenant: &TenantId, key: &str) -> Result<Option<(Message, Option<String>)>> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND idempotency_key = $2");
        let row: Option<MessageRow> = sqlx::query_as(&sql).bind(tenant.as_str()).bind(key).fetch_optional(&self.read).await?;
        row.map(|r| {
            let hash = r.request_hash.clone();
            message_from(r).map(|m| (m, hash))
        })
        .transpose()
    }

    async fn list_messages(&self, tenant: &TenantId, f: &MessageFilter, page: &PageArgs) -> Result<Vec<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 \
             AND ($2 IS NULL OR event_type = $2) AND ($3 IS NULL OR id >= $3) AND ($4 IS NULL OR id < $4) \
             AND ($5 IS NULL OR id < $5) ORDER BY id DESC LIMIT $6"
        );
        let rows: Vec<MessageRow> = sqlx::query_as(&sql)
            .bind(tenant.as_str())
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
        tenant: &TenantId,
        message: &MessageId,
        endpoint: Option<&EndpointId>,
        trigger: AttemptTrigger,
        now_ms: i64,
    ) -> Result<Vec<DeliveryId>> {
        let mut tx = self.write.begin().await?;
        let rows: Vec<(String,)> = sqlx::query_as(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $1, lease_owner = NULL, next_trigger = $2, \
             retry_base = attempts, updated_at = $1 \
             WHERE tenant_id = $3 AND message_id = $4 AND ($5 IS NULL OR endpoint_id = $5) \
             AND NOT (state = 'pending' AND lease_owner IS NOT NULL AND next_attempt_at > $1) \
             AND endpoint_id IN (SELECT id FROM endpoints WHERE tenant_id = $3 AND deleted_at IS NULL) \
             RETURNING id",
        )
        .bind(now_ms)
        .bind(trigger.as_str())
        .bind(tenant.as_str())
        .bind(message.as_str())
        .bind(endpoint.map(|e| e.as_str()))
        .fetch_all(&mut *tx)
        .await?;
        let mut queued: Vec<DeliveryId> = rows.into_iter().map(|(id,)| parse_id(id)).collect::<Result<_>>()?;
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
                .bind(tenant.as_str())
                .bind(endpoint.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 1 {
                    queued.push(id);
                }
            }
        }
        if !queued.is_empty() {
            Self::announce_work(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(queued)
    }

    async fn backlog(&self, tenant: &TenantId) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM deliveries WHERE tenant_id = $1 AND state = 'pending'")
            .bind(tenant.as_str())
            .fetch_one(&self.read)
            .await?;
        Ok(n)
    }

    async fn list_deliveries(&self, tenant: &TenantId, f: &DeliveryFilter, page: &PageArgs) -> Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE tenant_id = $1 \
             AND ($2 IS NULL OR state = $2) AND ($3 IS NULL OR endpoint_id = $3) AND ($4 IS NULL OR message_id = $4) \
             AND ($5 IS NULL OR event_type = $5) AND ($6 IS NULL OR id >= $6) AND ($7 IS NULL OR id < $7) \
             ORDER BY id DESC LIMIT $8"
        );
        let rows: Vec<DeliveryRow> = sqlx::query_as(&sql)
            .bind(tenant.as_str())
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

    async fn get_delivery(&self, tenant: &TenantId, id: &DeliveryId) -> Result<Option<Delivery>> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE tenant_id = $1 AND id = $2");
        let row: Option<DeliveryRow> =
            sqlx::query_as(&sql).bind(tenant.as_str()).bind(id.as_str()).fetch_optional(&self.read).await?;
        row.map(delivery_from).transpose()
    }

    async fn list_attempts(&self, tenant: &TenantId, delivery: &DeliveryId, page: &PageArgs) -> Result<Vec<Attempt>> {
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE tenant_id = $1 AND delivery_id = $2 \
             AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
        );
        let rows: Vec<AttemptRow> = sqlx::query_as(&sql)
            .bind(tenant.as_str())
            .bind(delivery.as_str())
            .bind(page.before.as_deref())
            .bind(page.limit)
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(attempt_from).collect()
    }

    async fn insert_event(&self, event: &LifecycleEvent) -> Result<()> {
        let mut tx = self.write.begin().await?;
        Self::insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_events(&self, tenant: Option<&TenantId>, page: &PageArgs) -> Result<Vec<StoredEvent>> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, tenant_id, kind, subject_id, actor, detail, created_at FROM lifecycle_events \
             WHERE ($1 IS NULL OR tenant_id = $1) AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(tenant.map(|t| t.as_str()))
        .bind(page.before.as_deref())
        .bind(page.limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| StoredEvent {
                id: r.id,
                tenant_id: r.tenant_id,
                kind: r.kind,
                subject_id: r.subject_id,
                actor: r.actor,
                detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
                created_at: ms_to_dt(r.created_at),
            })
            .collect())
    }

    async fn due_endpoints(&self, now_ms: i64, limit: i64) -> Result<Vec<DueEndpoint>> {
        let rows: Vec<DueEndpointRow> = sqlx::query_as(
            "SELECT e.id, e.tenant_id, e.url, e.version, e.rate_limit_per_second, e.retry_schedule FROM endpoints e \
             WHERE e.enabled = TRUE AND e.deleted_at IS NULL AND EXISTS (SELECT 1 FROM deliveries d \
             WHERE d.endpoint_id = e.id AND d.state = 'pending' AND d.next_attempt_at <= $1) \
             ORDER BY e.id LIMIT $2",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(DueEndpoint {
                    id: parse_id(r.id)?,
                    tenant_id: parse_id(r.tenant_id)?,
                    url: r.url,
                    version: r.version,
                    rate_limit_per_second: r.rate_limit_per_second.and_then(|v| u32::try_from(v).ok()),
                    retry_schedule: schedule_from(r.retry_schedule)?,
                })
            })
            .collect()
    }

    async fn claim(&self, endpoint: &EndpointId, now_ms: i64, lease_until_ms: i64, owner: &str, limit: i64) -> Result<Vec<Claimed>> {
        let rows = self.claim_impl(endpoint, now_ms, lease_until_ms, owner, limit).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.claimed_from(rows).await
    }

    async fn record(&self, outcomes: &[Outcome], disable: &[(EndpointId, String)], events: &[LifecycleEvent], now_ms: i64) -> Result<()> {
        // Multi-row statements: a batch of outcomes costs a handful of round trips and
        // one commit, not two statements per outcome (which, on PostgreSQL over a
        // socket, was what bounded the delivery rate).
        let mut tx = self.write.begin().await?;
        for chunk in outcomes.chunks(200) {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO attempts (id, delivery_id, message_id, endpoint_id, tenant_id, number, trigger, url, \
                 started_at, duration_ms, request_headers, response_status, response_headers, response_body, \
                 error_class, error_message) ",
            );
            qb.push_values(chunk, |mut b, o| {
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
                    .push_bind(a.error_message.as_deref());
            });
            qb.build().execute(&mut *tx).await?;

            // Fenced by the lease token: if our lease expired and another worker
            // re-claimed the row, its outcome wins and ours is only an attempt record.
            // VALUES columns are column1… on both SQLite and PostgreSQL.
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "UPDATE deliveries SET state = v.column3, attempts = v.column4, next_attempt_at = v.column5, \
                 lease_owner = NULL, next_trigger = 'scheduled', last_error_class = v.column6, \
                 last_response_status = v.column7, updated_at = ",
            );
            qb.push_bind(now_ms);
            // The first success only: a replay of a delivered message must not make
            // its delivery look later (or, after a failure, on time) for the SLO.
            qb.push(", succeeded_at = CASE WHEN v.column3 = 'succeeded' THEN COALESCE(deliveries.succeeded_at, ");
            qb.push_bind(now_ms);
            qb.push(") ELSE deliveries.succeeded_at END");
            qb.push(" FROM (");
            qb.push_values(chunk, |mut b, o| {
                let a = &o.attempt;
                let (state, next) = match o.next {
                    NextStep::Succeeded => ("succeeded", None),
                    NextStep::RetryAt(at) => ("pending", Some(at)),
                    NextStep::Exhausted => ("failed", None),
                };
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
            qb.build().execute(&mut *tx).await?;
        }
        for (endpoint, reason) in disable {
            sqlx::query(
                "UPDATE endpoints SET enabled = FALSE, disabled_reason = $1, disabled_at = $2, version = version + 1, \
                 updated_at = $2 WHERE id = $3 AND enabled = TRUE",
            )
            .bind(reason)
            .bind(now_ms)
            .bind(endpoint.as_str())
            .execute(&mut *tx)
            .await?;
        }
        for e in events {
            Self::insert_event_in(&mut tx, e).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn release_leases(&self, owner: &str, now_ms: i64) -> Result<u64> {
        let n = sqlx::query(
            "UPDATE deliveries SET next_attempt_at = $1, lease_owner = NULL WHERE lease_owner = $2 AND state = 'pending'",
        )
        .bind(now_ms)
        .bind(owner)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n)
    }
}
