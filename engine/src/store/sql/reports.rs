// Triage, SLO hours, search and lifecycle events: `impl ReportStore`, and
// `insert_event_in`, which every transaction that writes an event shares.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

impl This {
    async fn insert_event_in(tx: &mut sqlx::Transaction<'_, Db>, e: &LifecycleEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO lifecycle_events (id, tenant_id, kind, subject_id, actor, detail, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.id.as_str())
        .bind(e.tenant_id.as_ref().map(|t| t.as_str()))
        .bind(e.kind.as_str())
        .bind(&e.subject_id)
        .bind(&e.actor)
        .bind(e.detail.to_string())
        .bind(e.created_at_ms)
        .execute(&mut **tx)
        .await?;
        // What a person did (not the engine's own exhausted deliveries) also goes to
        // the audit trail, in the same transaction: no change without its entry.
        if e.kind != LifecycleKind::DeliveryExhausted {
            sqlx::query(
                "INSERT INTO audit_events (id, at, actor, tenant_id, action, target, client_ip, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(crate::ids::new_id::<sluice_core::ids::AuditKind>().as_str())
            .bind(e.created_at_ms)
            .bind(&e.actor)
            .bind(e.tenant_id.as_ref().map(|t| t.as_str()))
            .bind(e.kind.as_str())
            .bind(&e.subject_id)
            .bind(crate::service::current_client_ip())
            .bind(e.detail.to_string())
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ReportStore for This {
    async fn triage(&self, _operator: &Operator, since_ms: i64, now_ms: i64) -> Result<Vec<TenantHealth>> {
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
             FROM tenants t JOIN tiers tr ON tr.name = t.tier WHERE t.deleted_at IS NULL AND {}",
            not_canary("t.id")
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

    async fn endpoint_health(&self, tenant: &TenantScope, since_ms: i64) -> Result<Vec<EndpointHealthRow>> {
        // Bounded by the time-ordered id on the (tenant_id, id) index, so the scan is
        // the window's deliveries, not the tenant's history.
        let counts: Vec<(String, i64, i64, Option<String>)> = sqlx::query_as(
            "SELECT endpoint_id, \
             SUM(CASE WHEN state = 'succeeded' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), \
             MAX(CASE WHEN last_error_class IS NOT NULL THEN id END) \
             FROM deliveries WHERE tenant_id = $1 AND id >= $2 GROUP BY endpoint_id",
        )
        .bind(tenant.id().as_str())
        .bind(DeliveryId::lower_bound_at(since_ms).into_string())
        .fetch_all(&self.read)
        .await?;
        let newest_errors: Vec<&str> = counts.iter().filter_map(|c| c.3.as_deref()).collect();
        let mut errors = std::collections::HashMap::new();
        for chunk in newest_errors.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "SELECT endpoint_id, last_error_class, last_response_status FROM deliveries WHERE id IN ",
            );
            push_id_list(&mut qb, chunk.iter().copied());
            let rows: Vec<(String, Option<String>, Option<i64>)> = qb.build_query_as().fetch_all(&self.read).await?;
            errors.extend(rows.into_iter().map(|(endpoint, class, status)| (endpoint, (class, status))));
        }
        counts
            .into_iter()
            .map(|(endpoint_id, succeeded, failed, _)| {
                let (class, last_response_status) = errors.remove(&endpoint_id).unwrap_or_default();
                Ok(EndpointHealthRow {
                    endpoint_id: parse_id(endpoint_id)?,
                    succeeded,
                    failed,
                    last_error_class: class.as_deref().and_then(ErrorClass::parse),
                    last_response_status,
                })
            })
            .collect()
    }

    async fn shared_open_circuits(&self, tenant: &TenantScope) -> Result<Vec<(EndpointId, i64)>> {
        if This::BACKEND == Backend::Sqlite {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT p.endpoint_id, p.circuit_open_until_us / 1000 FROM endpoint_pacing p \
             JOIN endpoints e ON e.id = p.endpoint_id WHERE e.tenant_id = $1 AND p.circuit_open_until_us IS NOT NULL",
        )
        .bind(tenant.id().as_str())
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(|(id, until)| Ok((parse_id(id)?, until))).collect()
    }

    async fn error_classes(&self, reach: Reach<'_>, since_ms: i64) -> Result<Vec<(String, i64)>> {
        // A tenant's by the partial index of failing deliveries (migration 0029), so
        // the overview does not read the tenant's whole history; every tenant's (for
        // triage) by the same predicate.
        let tenant = if reach.tenant_id().is_some() { "tenant_id = $2" } else { "$2 IS NULL" };
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT last_error_class, COUNT(*) FROM deliveries WHERE {tenant} AND updated_at >= $1 \
             AND state <> 'succeeded' AND last_error_class IS NOT NULL AND {} \
             GROUP BY last_error_class ORDER BY COUNT(*) DESC",
            not_canary("tenant_id")
        ))
        .bind(since_ms)
        .bind(reach.tenant_id().map(|t| t.as_str()))
        .fetch_all(&self.read)
        .await?;
        Ok(rows)
    }

    async fn slo_hours(
        &self,
        tenant: &TenantScope,
        since_ms: i64,
        late_before_ms: i64,
        latency_target_ms: i64,
    ) -> Result<Vec<SloHour>> {
        use sqlx::Row as _;
        // Counts, not samples: one pass over the window's rows (by the tenant and
        // creation-time index) whatever its size, and the same SQL on both backends.
        let buckets: String = sluice_core::slo::LATENCY_BOUNDS_MS
            .iter()
            .map(|b| {
                format!(", SUM(CASE WHEN state = 'succeeded' AND succeeded_at - created_at <= {b} THEN 1 ELSE 0 END)")
            })
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
            .bind(tenant.id().as_str())
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

    async fn search(&self, _operator: &Operator, query: &str, limit: i64) -> Result<Vec<SearchHit>> {
        let messages: Vec<(String, String, String)> = sqlx::query_as(&format!(
            "SELECT id, tenant_id, event_type FROM messages WHERE (id = $1 OR idempotency_key = $1) AND {} \
             ORDER BY id DESC LIMIT $2",
            not_canary("tenant_id")
        ))
        .bind(query)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        // A URL fragment matches anywhere in the URL; LIKE's wildcards in the query are
        // taken literally.
        let pattern = format!("%{}%", query.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let endpoints: Vec<(String, String, String)> = sqlx::query_as(&format!(
            "SELECT id, tenant_id, url FROM endpoints WHERE deleted_at IS NULL AND {} \
             AND (id = $1 OR LOWER(url) LIKE LOWER($2) ESCAPE '\\') ORDER BY id DESC LIMIT $3",
            not_canary("tenant_id")
        ))
        .bind(query)
        .bind(pattern)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        let hit = |kind: &str| {
            let kind = kind.to_owned();
            move |(id, tenant_id, label): (String, String, String)| SearchHit {
                kind: kind.clone(),
                id,
                tenant_id,
                label,
            }
        };
        Ok(messages.into_iter().map(hit("message")).chain(endpoints.into_iter().map(hit("endpoint"))).collect())
    }

    async fn insert_event(&self, event: &LifecycleEvent) -> Result<()> {
        let mut tx = self.write.begin().await?;
        Self::insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_events(&self, f: &EventFilter, page: &PageArgs) -> Result<Vec<ActivityEvent>> {
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT id, tenant_id, kind, subject_id, actor, detail, created_at FROM lifecycle_events \
             WHERE ($1 IS NULL OR tenant_id = $1) AND {} AND ($2 IS NULL OR kind = $2) AND ($3 IS NULL OR kind LIKE $3) \
             AND ($4 IS NULL OR subject_id = $4) AND ($5 IS NULL OR created_at >= $5) \
             AND ($6 IS NULL OR created_at < $6) AND ($7 IS NULL OR id < $7) ORDER BY id DESC LIMIT $8",
            not_canary("tenant_id")
        ))
        .bind(f.tenant.as_ref().map(|t| t.as_str()))
        .bind(f.kind.map(LifecycleKind::as_str))
        .bind(f.subject_kind.as_ref().map(|s| format!("{}.%", s.replace(['%', '_'], ""))))
        .bind(f.subject_id.as_deref())
        .bind(f.since_ms)
        .bind(f.until_ms)
        .bind(page.before.as_deref())
        .bind(page.limit)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(event_from).collect()
    }
}
