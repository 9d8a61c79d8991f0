// Incidents: the detector's reads (the window's attempts per endpoint, the open
// incidents), its writes with their events and notices, a circuit's opening, and the
// reads behind the API, the triage list and time to detect and recover.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

impl This {
    /// Opens an incident for the endpoint unless one is open (the partial unique
    /// index decides, whichever node or path comes first), with its `incident.opened`
    /// event; answers the event if it opened one.
    #[allow(clippy::too_many_arguments)]
    async fn open_incident_in(
        tx: &mut sqlx::Transaction<'_, Db>,
        tenant: &TenantId,
        endpoint: &EndpointId,
        cause: IncidentCause,
        first_failure_at: i64,
        (failed, attempts): (i64, i64),
        now_ms: i64,
    ) -> Result<Option<LifecycleEvent>> {
        let id: IncidentId = crate::ids::new_id();
        let opened = sqlx::query(
            "INSERT INTO incidents (id, tenant_id, endpoint_id, cause, failed_attempts, attempts, first_failure_at, \
             opened_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(id.as_str())
        .bind(tenant.as_str())
        .bind(endpoint.as_str())
        .bind(cause.as_str())
        .bind(failed)
        .bind(attempts)
        .bind(first_failure_at.min(now_ms))
        .bind(now_ms)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if opened == 0 {
            return Ok(None);
        }
        let detail = serde_json::json!({
            "endpoint_id": endpoint,
            "cause": cause.as_str(),
            "first_failure_at": ms_to_dt(first_failure_at.min(now_ms)),
            "failed_attempts": failed,
            "attempts": attempts,
        });
        let event = LifecycleEvent::new(Some(tenant), LifecycleKind::IncidentOpened, id.as_str(), "engine", detail);
        Self::insert_event_in(tx, &event).await?;
        Ok(Some(event))
    }

    /// Opens an incident for a circuit that just opened, dated from the endpoint's
    /// failure streak (the run of failures that opened it).
    async fn open_circuit_incident_in(
        tx: &mut sqlx::Transaction<'_, Db>,
        tenant: &TenantId,
        endpoint: &EndpointId,
        now_ms: i64,
    ) -> Result<Option<LifecycleEvent>> {
        if tenant.is_canary() {
            // The canary's failures are its own metric, not an incident in triage.
            return Ok(None);
        }
        let streak: Option<(i64, i64)> = sqlx::query_as(
            "SELECT failing_since, failed_attempts FROM endpoint_failure_streaks WHERE endpoint_id = $1",
        )
        .bind(endpoint.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        let (since, failed) = streak.unwrap_or((now_ms, 0));
        let cause = IncidentCause::CircuitOpened;
        let opened = Self::open_incident_in(tx, tenant, endpoint, cause, since, (failed, failed), now_ms).await?;
        if opened.is_none() {
            // Its incident is open: whatever run of successes it was counting on to
            // end is over, however the detector last read the window.
            sqlx::query("UPDATE incidents SET recovering_since = NULL WHERE endpoint_id = $1 AND resolution IS NULL")
                .bind(endpoint.as_str())
                .execute(&mut **tx)
                .await?;
        }
        Ok(opened)
    }
}

#[async_trait]
impl IncidentStore for This {
    async fn attempt_windows(&self, since_ms: i64) -> Result<Vec<EndpointWindow>> {
        // The window by the attempts' time-ordered ids (an attempt's id is made as it
        // starts), then by when they started: one range of the primary key (the CTE,
        // used twice, is read once), with the last failure per endpoint found in a
        // second pass over the window's failures. Only live endpoints of live tenants,
        // with the tenant taken from the endpoint: a deleted endpoint's failures must
        // not open an incident again once its own has ended; the canary's are the canary's
        // news (its own metric), not an incident in triage. A failure streak that
        // began before the window dates the first failure.
        type Row = (String, String, i64, i64, Option<i64>, Option<i64>, Option<i64>);
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "WITH w AS (SELECT endpoint_id, started_at, error_class FROM attempts \
             WHERE id >= $1 AND started_at >= $2), \
             f AS (SELECT endpoint_id, MAX(started_at) AS last_failure FROM w \
             WHERE error_class IS NOT NULL GROUP BY endpoint_id) \
             SELECT w.endpoint_id, MIN(e.tenant_id), COUNT(*), \
             SUM(CASE WHEN w.error_class IS NULL THEN 0 ELSE 1 END), \
             MIN(CASE WHEN w.error_class IS NOT NULL THEN w.started_at END), \
             MIN(CASE WHEN w.error_class IS NULL AND (f.last_failure IS NULL OR w.started_at > f.last_failure) \
             THEN w.started_at END), MIN(s.failing_since) \
             FROM w JOIN endpoints e ON e.id = w.endpoint_id AND e.deleted_at IS NULL \
             JOIN tenants t ON t.id = e.tenant_id AND t.deleted_at IS NULL AND {} \
             LEFT JOIN f ON f.endpoint_id = w.endpoint_id \
             LEFT JOIN endpoint_failure_streaks s ON s.endpoint_id = w.endpoint_id \
             GROUP BY w.endpoint_id",
            not_canary("t.id")
        ))
        .bind(AttemptId::lower_bound_at(since_ms).into_string())
        .bind(since_ms)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|(endpoint, tenant, attempts, failed, first_in_window, first_success_after_failures, streak)| {
                // The streak counts only while it is unbroken: a success after the
                // window's last failure ended it (its row is gone, or about to be).
                let streak = streak.filter(|_| first_success_after_failures.is_none());
                let first_failure_at = match (first_in_window, streak) {
                    (Some(w), Some(s)) => Some(w.min(s)),
                    (w, s) => w.or(s),
                };
                Ok(EndpointWindow {
                    endpoint_id: parse_id(endpoint)?,
                    tenant_id: parse_id(tenant)?,
                    attempts,
                    failed,
                    first_failure_at,
                    first_success_after_failures,
                })
            })
            .collect()
    }

    async fn open_incidents(&self) -> Result<Vec<OpenIncident>> {
        let rows: Vec<(String, String, String, Option<i64>, bool)> = sqlx::query_as(
            "SELECT i.id, i.tenant_id, i.endpoint_id, i.recovering_since, e.deleted_at IS NOT NULL \
             FROM incidents i JOIN endpoints e ON e.id = i.endpoint_id JOIN tenants t ON t.id = i.tenant_id \
             WHERE i.resolution IS NULL AND t.deleted_at IS NULL ORDER BY i.id",
        )
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|(id, tenant, endpoint, recovering_since, endpoint_gone)| {
                Ok(OpenIncident {
                    id: parse_id(id)?,
                    tenant_id: parse_id(tenant)?,
                    endpoint_id: parse_id(endpoint)?,
                    recovering_since,
                    endpoint_gone,
                })
            })
            .collect()
    }

    async fn apply_incident_changes(&self, changes: &[IncidentChange], now_ms: i64) -> Result<(u64, u64)> {
        if changes.is_empty() {
            return Ok((0, 0));
        }
        let mut tx = self.write.begin().await?;
        let mut events = Vec::new();
        let (mut opened, mut resolved) = (0, 0);
        for change in changes {
            match change {
                IncidentChange::Open { tenant_id, endpoint_id, cause, first_failure_at, failed_attempts, attempts } => {
                    let counts = (*failed_attempts, *attempts);
                    let at = *first_failure_at;
                    let event =
                        Self::open_incident_in(&mut tx, tenant_id, endpoint_id, *cause, at, counts, now_ms).await?;
                    if let Some(event) = event {
                        opened += 1;
                        events.push(event);
                    }
                }
                IncidentChange::Recovering { id, since } => {
                    sqlx::query("UPDATE incidents SET recovering_since = $1 WHERE id = $2 AND resolution IS NULL")
                        .bind(*since)
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                IncidentChange::Resolve { id, tenant_id, endpoint_id, resolved_at, resolution } => {
                    // Not if the endpoint has failed since the success it would end at
                    // (a failure the window read before did not show, say the one
                    // that opened its circuit again): the streak row says so.
                    let guard = *resolution == IncidentResolution::Recovered;
                    let changed = sqlx::query(
                        "UPDATE incidents SET resolved_at = $1, resolution = $2, recovering_since = NULL \
                         WHERE id = $3 AND resolution IS NULL AND (NOT $4 OR NOT EXISTS \
                         (SELECT 1 FROM endpoint_failure_streaks s WHERE s.endpoint_id = incidents.endpoint_id \
                         AND s.last_failure_at >= $1))",
                    )
                    .bind(*resolved_at)
                    .bind(resolution.as_str())
                    .bind(id.as_str())
                    .bind(guard)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if changed > 0 {
                        resolved += 1;
                        let detail = serde_json::json!({
                            "endpoint_id": endpoint_id,
                            "resolution": resolution.as_str(),
                            "resolved_at": ms_to_dt(*resolved_at),
                        });
                        let event = LifecycleEvent::new(
                            Some(tenant_id),
                            LifecycleKind::IncidentResolved,
                            id.as_str(),
                            "engine",
                            detail,
                        );
                        Self::insert_event_in(&mut tx, &event).await?;
                        events.push(event);
                    }
                }
            }
        }
        // The notices are due now by the wall clock, whatever moment the changes
        // were decided for.
        Self::queue_notices_in(&mut tx, &events, crate::ids::now_ms()).await?;
        tx.commit().await?;
        Ok((opened, resolved))
    }

    async fn list_incidents(&self, f: &IncidentFilter, page: &PageArgs) -> Result<Vec<Incident>> {
        let open = f.state.map(|s| s == IncidentState::Open);
        let order = if f.worst_first { "(acknowledged_at IS NOT NULL), opened_at, id" } else { "id DESC" };
        let rows: Vec<IncidentRow> = sqlx::query_as(&format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE ($1 IS NULL OR tenant_id = $1) \
             AND ($2 IS NULL OR endpoint_id = $2) \
             AND ($3 IS NULL OR (resolution IS NULL) = $3) AND ($4 IS NULL OR id < $4) \
             AND tenant_id NOT IN (SELECT id FROM tenants WHERE deleted_at IS NOT NULL) \
             ORDER BY {order} LIMIT $5"
        ))
        .bind(f.tenant.as_ref().map(|t| t.as_str()))
        .bind(f.endpoint.as_ref().map(|e| e.as_str()))
        .bind(open)
        .bind(page.before.as_deref())
        .bind(page.limit)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(Incident::try_from).collect()
    }

    async fn get_incident(&self, tenant: &TenantScope, id: &IncidentId) -> Result<Option<Incident>> {
        let row: Option<IncidentRow> = sqlx::query_as(&format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE tenant_id = $1 AND id = $2 AND {LIVE_TENANT}"
        ))
        .bind(tenant.id().as_str())
        .bind(id.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.map(Incident::try_from).transpose()
    }

    async fn acknowledge_incidents(
        &self,
        tenant: &TenantScope,
        ids: &[IncidentId],
        by: &str,
        now_ms: i64,
    ) -> Result<Vec<IncidentId>> {
        let mut acknowledged = Vec::new();
        if ids.is_empty() {
            return Ok(acknowledged);
        }
        // In id order, the order the detector writes them in: two transactions
        // taking the same rows in one order cannot deadlock.
        let mut ids = ids.to_vec();
        ids.sort();
        let mut tx = self.write.begin().await?;
        for id in &ids {
            let changed = sqlx::query(
                "UPDATE incidents SET acknowledged_at = $1, acknowledged_by = $2 \
                 WHERE id = $3 AND tenant_id = $4 AND acknowledged_at IS NULL AND resolution IS NULL",
            )
            .bind(now_ms)
            .bind(by)
            .bind(id.as_str())
            .bind(tenant.id().as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed > 0 {
                let mut event = LifecycleEvent::new(
                    Some(tenant.id()),
                    LifecycleKind::IncidentAcknowledged,
                    id.as_str(),
                    by,
                    serde_json::json!({}),
                );
                event.created_at_ms = now_ms;
                Self::insert_event_in(&mut tx, &event).await?;
                acknowledged.push(id.clone());
            }
        }
        tx.commit().await?;
        Ok(acknowledged)
    }

    async fn incident_times(&self, reach: Reach<'_>, since_ms: i64) -> Result<(Vec<IncidentTimesRow>, i64)> {
        let tenant = reach.tenant_id().map(|t| t.as_str());
        // By the time-ordered id: an incident's id is made as it opens.
        let rows: Vec<(i64, i64, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT first_failure_at, opened_at, resolved_at, resolution FROM incidents \
             WHERE ($1 IS NULL OR tenant_id = $1) AND id >= $2 AND opened_at >= $3 \
             AND tenant_id NOT IN (SELECT id FROM tenants WHERE deleted_at IS NOT NULL)",
        )
        .bind(tenant)
        .bind(IncidentId::lower_bound_at(since_ms).into_string())
        .bind(since_ms)
        .fetch_all(&self.read)
        .await?;
        let (open,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM incidents WHERE resolution IS NULL AND ($1 IS NULL OR tenant_id = $1) \
             AND tenant_id NOT IN (SELECT id FROM tenants WHERE deleted_at IS NOT NULL)",
        )
        .bind(tenant)
        .fetch_one(&self.read)
        .await?;
        let recovered = IncidentResolution::Recovered.as_str();
        let times = rows
            .into_iter()
            .map(|(first_failure_at, opened_at, resolved_at, resolution)| IncidentTimesRow {
                first_failure_at,
                opened_at,
                recovered_at: resolved_at.filter(|_| resolution.as_deref() == Some(recovered)),
            })
            .collect();
        Ok((times, open))
    }

    async fn purge_incidents(&self, before_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM incidents WHERE resolution IS NOT NULL AND resolved_at < $1")
            .bind(before_ms)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }
}
