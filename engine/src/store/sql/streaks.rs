// Failure streaks and auto-disable, written by the recorder's transaction.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

/// The endpoints whose streak rows the recorder locked: those that had one.
type Streaking = std::collections::HashSet<String>;

impl This {
    /// On PostgreSQL, locks the streak rows the batch will touch, in endpoint id order,
    /// as the recorder's first statement: two nodes' recorders then take streak rows in
    /// one order, before any endpoint row (whose heads they lower in one sorted pass
    /// at the end; only a disable, which is rare, takes an endpoint row out of that
    /// order, and a deadlock it causes is retried). Rows that do not exist yet are not
    /// locked; inserting them waits on a concurrent insert of the same key, again in
    /// id order (the upsert is sorted).
    ///
    /// Answers the endpoints that had a streak row: at the others a success has
    /// nothing to clear, and the batch skips the delete (a statement per batch, which the
    /// smaller batches of several nodes pay often). A streak another node inserts
    /// after this lock is then left, as if that node had recorded after this batch.
    /// `None` on SQLite, whose batches clear unconditionally.
    async fn lock_streaks_in(tx: &mut sqlx::Transaction<'_, Db>, outcomes: &[Outcome]) -> Result<Option<Streaking>> {
        if This::BACKEND != Backend::Postgres || outcomes.is_empty() {
            return Ok(None);
        }
        let endpoints: std::collections::BTreeSet<&str> =
            outcomes.iter().map(|o| o.attempt.endpoint_id.as_str()).collect();
        let endpoints: Vec<&str> = endpoints.into_iter().collect();
        let mut streaking = Streaking::new();
        for chunk in endpoints.chunks(500) {
            let mut qb =
                sqlx::QueryBuilder::<Db>::new("SELECT endpoint_id FROM endpoint_failure_streaks WHERE endpoint_id IN ");
            push_id_list(&mut qb, chunk.iter().copied());
            qb.push(" ORDER BY endpoint_id FOR UPDATE");
            let rows: Vec<(String,)> = qb.build_query_as().fetch_all(&mut **tx).await?;
            streaking.extend(rows.into_iter().map(|(id,)| id));
        }
        Ok(Some(streaking))
    }

    /// Applies the batch's streak changes, then disables the endpoints whose every
    /// attempt has now failed for their tenant's period and at least the minimum
    /// number of times, for more than one delivery, each with an `endpoint.disabled`
    /// event (answered, for the notices); their pending deliveries wait (paused) until
    /// someone enables the endpoint again.
    ///
    /// A healthy endpoint has no streak row, so its success costs nothing here on
    /// PostgreSQL (the lock found no row) and, on SQLite, an index probe of a delete
    /// that finds nothing: no row written, no row locked.
    async fn track_streaks_in(
        tx: &mut sqlx::Transaction<'_, Db>,
        outcomes: &[Outcome],
        streaking: Option<&Streaking>,
        policy: AutoDisable,
        now_ms: i64,
    ) -> Result<Vec<LifecycleEvent>> {
        let changes = streaks::fold(outcomes);
        let cleared: Vec<&str> = changes
            .iter()
            .filter(|(_, (_, change))| matches!(change, StreakChange::Clear | StreakChange::Restart(_)))
            .map(|(endpoint, _)| *endpoint)
            .filter(|endpoint| streaking.is_none_or(|rows| rows.contains(*endpoint)))
            .collect();
        for chunk in cleared.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<Db>::new("DELETE FROM endpoint_failure_streaks WHERE endpoint_id IN ");
            push_id_list(&mut qb, chunk.iter().copied());
            qb.build().execute(&mut **tx).await?;
        }
        let failing: Vec<(&str, &str, streaks::Run<'_>)> = changes
            .iter()
            .filter_map(|(endpoint, (tenant, change))| match change {
                StreakChange::Clear => None,
                StreakChange::Restart(run) | StreakChange::Extend(run) => Some((*endpoint, *tenant, *run)),
            })
            .collect();
        let mut candidates: Vec<String> = Vec::new();
        for chunk in failing.chunks(200) {
            // A streak another node started first keeps its start (and first
            // delivery); the counts add up.
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO endpoint_failure_streaks (endpoint_id, tenant_id, failing_since, failed_attempts, \
                 last_failure_at, first_delivery_id, several_deliveries) ",
            );
            qb.push_values(chunk, |mut b, (endpoint, tenant, run)| {
                b.push_bind(*endpoint)
                    .push_bind(*tenant)
                    .push_bind(run.failures.since_ms)
                    .push_bind(run.failures.count)
                    .push_bind(run.failures.last_ms)
                    .push_bind(run.first_delivery)
                    .push_bind(run.several_deliveries);
            });
            qb.push(
                " ON CONFLICT (endpoint_id) DO UPDATE SET \
                 failed_attempts = endpoint_failure_streaks.failed_attempts + excluded.failed_attempts, \
                 several_deliveries = (endpoint_failure_streaks.several_deliveries OR excluded.several_deliveries \
                 OR excluded.first_delivery_id <> endpoint_failure_streaks.first_delivery_id), \
                 first_delivery_id = CASE WHEN excluded.failing_since < endpoint_failure_streaks.failing_since \
                 THEN excluded.first_delivery_id ELSE endpoint_failure_streaks.first_delivery_id END, \
                 failing_since = CASE WHEN excluded.failing_since < endpoint_failure_streaks.failing_since \
                 THEN excluded.failing_since ELSE endpoint_failure_streaks.failing_since END, \
                 last_failure_at = CASE WHEN excluded.last_failure_at > endpoint_failure_streaks.last_failure_at \
                 THEN excluded.last_failure_at ELSE endpoint_failure_streaks.last_failure_at END \
                 RETURNING endpoint_id, failed_attempts, several_deliveries",
            );
            let rows: Vec<(String, i64, bool)> = qb.build_query_as().fetch_all(&mut **tx).await?;
            candidates.extend(
                rows.into_iter().filter(|(_, n, several)| *several && *n >= policy.min_attempts).map(|(id, _, _)| id),
            );
        }
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        // Read-only unless a period has really run out: a streak past the minimum
        // count is checked on every batch that extends it.
        let mut due: Vec<(String, String, i64, i64, i64)> = Vec::new();
        for chunk in candidates.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "SELECT e.id, e.tenant_id, s.failing_since, s.failed_attempts, \
                 COALESCE(t.auto_disable_after_seconds, ",
            );
            qb.push_bind(policy.after_ms / 1000);
            qb.push(
                ") AS after_s FROM endpoints e JOIN tenants t ON t.id = e.tenant_id \
                 JOIN endpoint_failure_streaks s ON s.endpoint_id = e.id \
                 WHERE e.enabled = TRUE AND e.deleted_at IS NULL AND s.several_deliveries = TRUE AND e.id IN ",
            );
            push_id_list(&mut qb, chunk.iter().map(String::as_str));
            qb.push(" ORDER BY e.id");
            let rows: Vec<(String, String, i64, i64, i64)> = qb.build_query_as().fetch_all(&mut **tx).await?;
            due.extend(rows.into_iter().filter(|(_, _, since, n, after_s)| {
                *after_s > 0
                    && *n >= policy.min_attempts
                    && *since <= now_ms.saturating_sub(after_s.saturating_mul(1000))
            }));
        }
        let mut disabled = Vec::new();
        for (endpoint, tenant, since, n, after_s) in due {
            let reason =
                format!("every attempt failed for {} ({n} attempts in a row)", streaks::describe_period(after_s));
            let changed = sqlx::query(
                "UPDATE endpoints SET enabled = FALSE, disabled_reason = $1, disabled_at = $2, version = version + 1, \
                 updated_at = $2 WHERE id = $3 AND enabled = TRUE",
            )
            .bind(&reason)
            .bind(now_ms)
            .bind(&endpoint)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if changed == 0 {
                continue;
            }
            let event = LifecycleEvent {
                id: crate::ids::new_id(),
                tenant_id: Some(parse_id(tenant)?),
                kind: LifecycleKind::EndpointDisabled,
                subject_id: endpoint,
                actor: "engine".into(),
                detail: serde_json::json!({
                    "reason": reason,
                    "cause": "sustained_failure",
                    "failing_since": ms_to_dt(since),
                    "failed_attempts": n,
                }),
                created_at_ms: now_ms,
            };
            Self::insert_event_in(tx, &event).await?;
            disabled.push(event);
        }
        Ok(disabled)
    }
}

#[async_trait]
impl StreakStore for This {
    async fn failure_streaks(&self, tenant: &TenantScope) -> Result<Vec<FailureStreak>> {
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT endpoint_id, failing_since, failed_attempts, last_failure_at FROM endpoint_failure_streaks \
             WHERE tenant_id = $1 ORDER BY endpoint_id",
        )
        .bind(tenant.id().as_str())
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(streak_of).collect()
    }

    async fn end_failure_streak(&self, tenant: &TenantScope, endpoint: &EndpointId) -> Result<Option<FailureStreak>> {
        let row: Option<(String, i64, i64, i64)> = sqlx::query_as(
            "DELETE FROM endpoint_failure_streaks WHERE endpoint_id = $1 AND tenant_id = $2 \
             RETURNING endpoint_id, failing_since, failed_attempts, last_failure_at",
        )
        .bind(endpoint.as_str())
        .bind(tenant.id().as_str())
        .fetch_optional(&self.write)
        .await?;
        row.map(streak_of).transpose()
    }

    async fn end_tenant_streaks(&self, tenant: &TenantScope) -> Result<u64> {
        let ended = sqlx::query("DELETE FROM endpoint_failure_streaks WHERE tenant_id = $1")
            .bind(tenant.id().as_str())
            .execute(&self.write)
            .await?
            .rows_affected();
        Ok(ended)
    }
}

fn streak_of((endpoint_id, since_ms, count, last_ms): (String, i64, i64, i64)) -> Result<FailureStreak> {
    Ok(FailureStreak { endpoint_id: parse_id(endpoint_id)?, failures: streaks::Failures { since_ms, count, last_ms } })
}
