// The lease protocol: `impl QueueStore` (due scan, claim, record, release), with both
// backends' claim statements side by side.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

/// Appends `($1, $2, …)` binding `ids`, for an `IN` over one chunk of ids; callers
/// chunk by 500, well under both databases' limit on bound parameters. Used by the
/// other statement files too (they are all compiled into one module per backend).
fn push_id_list<'a>(qb: &mut sqlx::QueryBuilder<'a, Db>, ids: impl IntoIterator<Item = &'a str>) {
    qb.push("(");
    {
        let mut list = qb.separated(", ");
        for id in ids {
            list.push_bind(id);
        }
    }
    qb.push(")");
}

impl This {
    /// Lowers the queue heads of the endpoints in `heads` (endpoint id, due at) to at
    /// most that time, inside the transaction that queues the work. Used by every
    /// statement file that makes deliveries due (they are all compiled into one
    /// module per backend).
    ///
    /// The queue head is the protocol between producers (publish, retries, replay)
    /// and `settle_head`, which moves a drained endpoint's head on: a head must never
    /// end up later than a pending delivery. On PostgreSQL a producer holds a KEY
    /// SHARE lock on each endpoint row until it commits, and `settle_head` only
    /// settles a row it can lock FOR UPDATE, which conflicts with it: a settle never
    /// runs beside a producer it cannot see. KEY SHARE locks do not conflict with one
    /// another, so producers whose head is already early (the usual case in a burst)
    /// run side by side and their commits are flushed together; only a producer that
    /// really moves a head takes that row's write lock. Before, every publish took
    /// it, and publishes to one endpoint from several nodes queued up behind each
    /// other's WAL flush.
    async fn lower_heads_in(tx: &mut sqlx::Transaction<'_, Db>, heads: &[(&str, i64)]) -> Result<()> {
        let mut earliest: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
        for &(endpoint, at) in heads {
            earliest.entry(endpoint).and_modify(|e| *e = (*e).min(at)).or_insert(at);
        }
        let earliest: Vec<(&str, i64)> = earliest.into_iter().collect();
        for chunk in earliest.chunks(200) {
            if This::BACKEND == Backend::Postgres {
                // Held until the commit; taken after a settle in progress has
                // committed, so the statements below see what it left.
                let mut qb = sqlx::QueryBuilder::<Db>::new("SELECT id FROM endpoints WHERE id IN ");
                push_id_list(&mut qb, chunk.iter().map(|(id, _)| *id));
                qb.push(" FOR KEY SHARE");
                qb.build().execute(&mut **tx).await?;
                if chunk.len() > 1 {
                    // The heads that move, write-locked in id order, so two producers
                    // moving several heads can never wait on each other.
                    let mut qb = sqlx::QueryBuilder::<Db>::new("SELECT e.id FROM endpoints e JOIN (");
                    push_heads(&mut qb, chunk);
                    qb.push(
                        ") AS v ON e.id = v.column1 WHERE e.next_due_at IS NULL OR e.next_due_at > v.column2 \
                         ORDER BY e.id FOR NO KEY UPDATE OF e",
                    );
                    qb.build().execute(&mut **tx).await?;
                }
            }
            // `due_version` is no longer read. It is still bumped where a head moves,
            // which fences off the previous release's settle (a compare-and-set on it)
            // in that case only; see docs/upgrades.md for why the releases must not
            // run side by side.
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "UPDATE endpoints SET due_version = due_version + 1, next_due_at = v.column2 FROM (",
            );
            push_heads(&mut qb, chunk);
            qb.push(
                ") AS v WHERE endpoints.id = v.column1 \
                 AND (endpoints.next_due_at IS NULL OR endpoints.next_due_at > v.column2)",
            );
            qb.build().execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// `VALUES (id, at), …` for [`This::lower_heads_in`].
fn push_heads<'a>(qb: &mut sqlx::QueryBuilder<'a, Db>, heads: &'a [(&'a str, i64)]) {
    qb.push_values(heads, |mut b, (id, at)| {
        b.push_bind(*id).push_bind(*at);
    });
}

// The claim, per backend. Both bind $1 lease_until_ms, $2 owner, $3 endpoint id,
// $4 now_ms, $5 limit, and return `ClaimedRow`'s columns. A suspended tenant's rows
// are never claimed: the scan leaves its endpoints out too, but an endpoint a node
// listed before the suspension (its tenant at its cap, its circuit open) is claimed
// for without another scan. The subquery reads the partial index of suspended
// tenants once per claim; the lease is the row's
// next_attempt_at (a crashed node's rows come due again) and lease_owner, and the
// bumped lease_token fences off a stale holder's outcome (see `record`).

/// One `UPDATE … RETURNING`: on the single writer connection it is atomic, so two
/// dispatchers can never lease the same row.
const CLAIM_SQLITE: &str =
    "UPDATE deliveries SET next_attempt_at = $1, lease_owner = $2, lease_token = lease_token + 1 \
     WHERE id IN (SELECT id FROM deliveries WHERE endpoint_id = $3 AND state = 'pending' \
     AND next_attempt_at <= $4 AND tenant_id NOT IN (SELECT id FROM tenants WHERE suspended_at IS NOT NULL) \
     ORDER BY next_attempt_at LIMIT $5) \
     RETURNING id, message_id, endpoint_id, tenant_id, event_type, attempts, retry_base, lease_token, next_trigger";

/// Rows another node is claiming are skipped, not waited for.
const CLAIM_POSTGRES: &str = "WITH picked AS (SELECT id FROM deliveries WHERE endpoint_id = $3 AND state = 'pending' \
     AND next_attempt_at <= $4 AND tenant_id NOT IN (SELECT id FROM tenants WHERE suspended_at IS NOT NULL) \
     ORDER BY next_attempt_at LIMIT $5 FOR UPDATE SKIP LOCKED) \
     UPDATE deliveries d SET next_attempt_at = $1, lease_owner = $2, lease_token = d.lease_token + 1 \
     FROM picked WHERE d.id = picked.id \
     RETURNING d.id, d.message_id, d.endpoint_id, d.tenant_id, d.event_type, d.attempts, d.retry_base, \
     d.lease_token, d.next_trigger";

/// The shared claim (PostgreSQL, inside `claim_shared`): as `CLAIM_POSTGRES`, and the
/// token is at least $6, the database's clock in µs. That claim commits without
/// waiting for the WAL flush, so a database crash can lose it: the token it handed out
/// must never be handed out again, or the fence in `record` would let the stale
/// holder's outcome overwrite the next one's. A clock-valued token moves past it.
const CLAIM_POSTGRES_SHARED: &str = "WITH picked AS (SELECT id FROM deliveries WHERE endpoint_id = $3 \
     AND state = 'pending' AND next_attempt_at <= $4 \
     AND tenant_id NOT IN (SELECT id FROM tenants WHERE suspended_at IS NOT NULL) \
     ORDER BY next_attempt_at LIMIT $5 FOR UPDATE SKIP LOCKED) \
     UPDATE deliveries d SET next_attempt_at = $1, lease_owner = $2, lease_token = GREATEST(d.lease_token + 1, $6) \
     FROM picked WHERE d.id = picked.id \
     RETURNING d.id, d.message_id, d.endpoint_id, d.tenant_id, d.event_type, d.attempts, d.retry_base, \
     d.lease_token, d.next_trigger";

#[async_trait]
impl QueueStore for This {
    async fn due_endpoints(
        &self,
        now_ms: i64,
        per_tenant: i64,
        limit: i64,
        skip: &[TenantId],
        skip_endpoints: &[EndpointId],
    ) -> Result<Vec<DueEndpoint>> {
        // Ranked within each tenant by how long the head has waited, then ordered by
        // that rank: every tenant's first endpoint comes before any tenant's second.
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "SELECT id, tenant_id, url, version, rate_limit_per_second, max_concurrency, retry_schedule \
             FROM (SELECT e.id, e.tenant_id, e.url, e.version, e.rate_limit_per_second, e.max_concurrency, \
             e.retry_schedule, \
             e.next_due_at, ROW_NUMBER() OVER (PARTITION BY e.tenant_id ORDER BY e.next_due_at, e.id) AS rank_in_tenant \
             FROM endpoints e WHERE e.next_due_at <= ",
        );
        qb.push_bind(now_ms);
        qb.push(" AND e.enabled = TRUE AND e.deleted_at IS NULL");
        // A suspended tenant is delivered nothing; the subquery reads a partial index
        // that holds only the suspended tenants, once per call.
        qb.push(" AND e.tenant_id NOT IN (SELECT id FROM tenants WHERE suspended_at IS NOT NULL)");
        for chunk in skip.chunks(500) {
            qb.push(" AND e.tenant_id NOT IN ");
            push_id_list(&mut qb, chunk.iter().map(|t| t.as_str()));
        }
        for chunk in skip_endpoints.chunks(500) {
            qb.push(" AND e.id NOT IN ");
            push_id_list(&mut qb, chunk.iter().map(|e| e.as_str()));
        }
        qb.push(") ranked WHERE rank_in_tenant <= ");
        qb.push_bind(per_tenant);
        qb.push(" ORDER BY rank_in_tenant, next_due_at, id LIMIT ");
        qb.push_bind(limit);
        let rows: Vec<DueEndpointRow> = qb.build_query_as().fetch_all(&self.read).await?;
        rows.into_iter().map(due_endpoint_from).collect()
    }

    async fn settle_head(&self, endpoint: &EndpointId) -> Result<()> {
        const SETTLE: &str = "UPDATE endpoints SET next_due_at = (SELECT MIN(d.next_attempt_at) FROM deliveries d \
             WHERE d.endpoint_id = endpoints.id AND d.state = 'pending') WHERE id = $1";
        if This::BACKEND == Backend::Sqlite {
            // The database file's write lock: no producer's transaction can be open
            // beside this statement, whichever connection (or store) it is on.
            sqlx::query(SETTLE).bind(endpoint.as_str()).execute(&self.write).await?;
            return Ok(());
        }
        // A producer still open holds KEY SHARE on the row (see `lower_heads_in`), and
        // its deliveries are invisible here: leave the head early rather than wait or
        // hide them. Early costs an empty claim, and the next drain settles again.
        // Losing this commit to a crash leaves the head early too, so it need not wait
        // for the WAL flush.
        let mut tx = self.write.begin().await?;
        // The lock holds back every producer of this endpoint until the commit: a node
        // that stalls between the statements (a paused VM) must not hold it for long,
        // so the database ends the transaction after a second idle.
        let lockable: Option<(String, String)> = sqlx::query_as(
            "SELECT set_config('synchronous_commit', 'off', true), \
             set_config('idle_in_transaction_session_timeout', '1s', true) \
             FROM endpoints WHERE id = $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(endpoint.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if lockable.is_some() {
            // A statement of its own, so its snapshot is taken after the lock: every
            // producer that held the row before has committed and is seen.
            sqlx::query(SETTLE).bind(endpoint.as_str()).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn claim_shared(
        &self,
        endpoint: &EndpointId,
        tenant: &TenantId,
        limits: &SharedLimits,
        want: usize,
        now_ms: i64,
        lease_until_ms: i64,
        owner: &str,
    ) -> Result<Option<SharedClaim>> {
        if This::BACKEND == Backend::Sqlite {
            return Ok(None);
        }
        let mut tx = self.write.begin().await?;
        // Every node's claims for this tenant queue up on the tenant's row, so the
        // counts below and the claim are one step: two nodes cannot both take the
        // last slot. NO KEY UPDATE does not conflict with the KEY SHARE locks that
        // publishing (foreign keys) takes. The lock is held until the commit, so the
        // commit does not wait for the WAL flush: a claim is only a lease, and one
        // lost to a database crash means the deliveries fall due again and are sent
        // once more (at least once), never that one is lost.
        //
        // A node that freezes holding the lock (paused VM, partition) must not stall
        // every other node's dispatcher: the lock is waited for at most a second (then
        // this endpoint is skipped for the pass), and the database ends a transaction
        // left idle for five.
        let locked = sqlx::query(
            "SELECT set_config('synchronous_commit', 'off', true), set_config('lock_timeout', '1s', true), \
             set_config('idle_in_transaction_session_timeout', '5s', true), id FROM tenants WHERE id = $1 \
             FOR NO KEY UPDATE",
        )
        .bind(tenant.as_str())
        .execute(&mut *tx)
        .await;
        if let Err(sqlx::Error::Database(ref e)) = locked {
            if e.code().as_deref() == Some("55P03") {
                return Err(Error::Unavailable(format!("tenant {tenant} is being claimed for by another node")));
            }
        }
        locked?;
        let gate = match Self::endpoint_gate(&mut tx, endpoint, tenant, owner, now_ms).await? {
            Some(gate) => gate,
            None => {
                sqlx::query("INSERT INTO endpoint_pacing (endpoint_id, tat_us) VALUES ($1, 0) ON CONFLICT DO NOTHING")
                    .bind(endpoint.as_str())
                    .execute(&mut *tx)
                    .await?;
                Self::endpoint_gate(&mut tx, endpoint, tenant, owner, now_ms)
                    .await?
                    .ok_or_else(|| Error::Internal(format!("no pacing row for endpoint {endpoint}")))?
            }
        };
        let now_us = gate.now_us;
        let mine = gate.circuit_probe_owner.as_deref() == Some(owner);
        let circuit = SharedCircuit::at(gate.circuit_open_until_us, gate.circuit_probe_until_us, mine, now_us);
        let count = |n: i64| usize::try_from(n).unwrap_or(usize::MAX);
        let mut room = want
            .min(limits.endpoint_max.saturating_sub(limits.endpoint_here + count(gate.endpoint_elsewhere)))
            .min(limits.tenant_max.saturating_sub(limits.tenant_here + count(gate.tenant_elsewhere)));
        match circuit {
            SharedCircuit::Closed => {}
            SharedCircuit::Probe => room = room.min(1),
            SharedCircuit::OpenFor(_) | SharedCircuit::Probing => room = 0,
        }
        let pace = limits.rate.map(crate::pacing::Pace::per_second);
        if let Some(pace) = pace {
            room = pace.grant(gate.tat_us, now_us, room).0;
        }
        let rows: Vec<ClaimedRow> = if room == 0 {
            Vec::new()
        } else {
            sqlx::query_as(CLAIM_POSTGRES_SHARED)
                .bind(lease_until_ms)
                .bind(owner)
                .bind(endpoint.as_str())
                .bind(now_ms)
                .bind(i64::try_from(room).unwrap_or(i64::MAX))
                .bind(now_us)
                .fetch_all(&mut *tx)
                .await?
        };
        // What was claimed is what the schedule is charged for, and only a claim that
        // leased something holds the probe.
        let tat_after = pace.map(|p| p.grant(gate.tat_us, now_us, rows.len()).1);
        let probe_until = (circuit == SharedCircuit::Probe && !rows.is_empty())
            .then(|| now_us.saturating_add((lease_until_ms - now_ms).saturating_mul(1_000)));
        if !rows.is_empty() && (tat_after.is_some() || probe_until.is_some()) {
            sqlx::query(
                "UPDATE endpoint_pacing SET tat_us = COALESCE($2, tat_us), \
                 circuit_probe_until_us = COALESCE($3, circuit_probe_until_us), \
                 circuit_probe_owner = CASE WHEN $3 IS NULL THEN circuit_probe_owner ELSE $4 END WHERE endpoint_id = $1",
            )
            .bind(endpoint.as_str())
            .bind(tat_after)
            .bind(probe_until)
            .bind(owner)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        let claimed = if rows.is_empty() { Vec::new() } else { self.claimed_from(rows).await? };
        let rate_ahead_us = tat_after.map(|tat| tat.saturating_sub(now_us));
        Ok(Some(SharedClaim { claimed, granted: room, rate_ahead_us, circuit }))
    }

    async fn record_circuits(&self, changes: &[CircuitRecord]) -> Result<()> {
        // One small transaction each, so two nodes' recorders never hold two rows
        // each and wait on each other.
        for CircuitRecord { endpoint, tenant, change } in changes {
            let kind = match change {
                CircuitChange::Opened { .. } => Some(LifecycleKind::EndpointCircuitOpened),
                CircuitChange::Closed => Some(LifecycleKind::EndpointCircuitClosed),
                CircuitChange::ProbeFailed { .. } => None,
            };
            if This::BACKEND == Backend::Sqlite && kind.is_none() {
                continue;
            }
            let mut tx = self.write.begin().await?;
            // SQLite's one node is the only one: each of its changes is the change.
            let changed =
                This::BACKEND == Backend::Sqlite || Self::share_circuit_in(&mut tx, endpoint, *change).await?;
            if let (Some(kind), true) = (kind, changed) {
                Self::circuit_consequences_in(&mut tx, tenant, endpoint, kind, *change).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    async fn claim(
        &self,
        endpoint: &EndpointId,
        now_ms: i64,
        lease_until_ms: i64,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<Claimed>> {
        let sql = match This::BACKEND {
            Backend::Sqlite => CLAIM_SQLITE,
            Backend::Postgres => CLAIM_POSTGRES,
        };
        let rows: Vec<ClaimedRow> = sqlx::query_as(sql)
            .bind(lease_until_ms)
            .bind(owner)
            .bind(endpoint.as_str())
            .bind(now_ms)
            .bind(limit)
            .fetch_all(&self.write)
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.claimed_from(rows).await
    }

    async fn record(
        &self,
        outcomes: &[Outcome],
        disable: &[(EndpointId, String)],
        events: &[LifecycleEvent],
        auto_disable: AutoDisable,
        now_ms: i64,
    ) -> Result<u64> {
        // Multi-row statements: a batch of outcomes costs a handful of round trips and
        // one commit, not two statements per outcome (which, on PostgreSQL over a
        // socket, was what bounded the delivery rate).
        let mut tx = self.write.begin().await?;
        let mut duplicates = 0;
        Self::lock_streaks_in(&mut tx, outcomes).await?;
        for chunk in outcomes.chunks(200) {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO attempts (id, delivery_id, message_id, endpoint_id, tenant_id, number, trigger, url, \
                 started_at, duration_ms, request_headers, response_status, response_headers, response_body, \
                 error_class, error_message, retry_after_seconds) ",
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
                    .push_bind(a.error_message.as_deref())
                    .push_bind(a.retry_after_seconds);
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
            let applied = qb.build().execute(&mut *tx).await?.rows_affected();
            if applied < chunk.len() as u64 {
                duplicates += Self::late_successes_in(&mut tx, chunk).await?;
            }
        }
        Self::record_consequences_in(&mut tx, outcomes, disable, events, auto_disable, now_ms).await?;
        Self::mark_recorded_hours_in(&mut tx, outcomes, now_ms).await?;
        tx.commit().await?;
        Ok(duplicates)
    }

    async fn release_leases(&self, owner: &str, now_ms: i64) -> Result<u64> {
        let mut tx = self.write.begin().await?;
        let released: Vec<(String,)> = sqlx::query_as(
            "UPDATE deliveries SET next_attempt_at = $1, lease_owner = NULL WHERE lease_owner = $2 AND state = 'pending' \
             RETURNING endpoint_id",
        )
        .bind(now_ms)
        .bind(owner)
        .fetch_all(&mut *tx)
        .await?;
        let heads: Vec<(&str, i64)> = released.iter().map(|(e,)| (e.as_str(), now_ms)).collect();
        Self::lower_heads_in(&mut tx, &heads).await?;
        tx.commit().await?;
        Ok(released.len() as u64)
    }
}

/// An endpoint's shared state and what other nodes have in flight, read under the
/// tenant's lock.
#[derive(sqlx::FromRow)]
struct GateRow {
    tat_us: i64,
    circuit_open_until_us: Option<i64>,
    circuit_probe_until_us: Option<i64>,
    circuit_probe_owner: Option<String>,
    now_us: i64,
    endpoint_elsewhere: i64,
    tenant_elsewhere: i64,
}

impl This {
    /// The endpoint's pacing row, locked, with the database's clock and the requests
    /// other nodes have in flight (unexpired leases) to the endpoint and for the
    /// tenant; `None` before the endpoint's first shared claim.
    async fn endpoint_gate(
        tx: &mut sqlx::Transaction<'_, Db>,
        endpoint: &EndpointId,
        tenant: &TenantId,
        owner: &str,
        now_ms: i64,
    ) -> Result<Option<GateRow>> {
        let row = sqlx::query_as(
            "SELECT p.tat_us, p.circuit_open_until_us, p.circuit_probe_until_us, p.circuit_probe_owner, \
             CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) AS now_us, \
             COALESCE(l.endpoint_elsewhere, 0) AS endpoint_elsewhere, COALESCE(l.tenant_elsewhere, 0) AS tenant_elsewhere \
             FROM endpoint_pacing p, (SELECT COUNT(*) FILTER (WHERE endpoint_id = $1) AS endpoint_elsewhere, \
             COUNT(*) AS tenant_elsewhere FROM deliveries WHERE tenant_id = $2 AND state = 'pending' \
             AND lease_owner IS NOT NULL AND lease_owner <> $3 AND next_attempt_at > $4) l \
             WHERE p.endpoint_id = $1 FOR UPDATE OF p",
        )
        .bind(endpoint.as_str())
        .bind(tenant.as_str())
        .bind(owner)
        .bind(now_ms)
        .fetch_optional(&mut **tx)
        .await?;
        Ok(row)
    }

    /// Writes one circuit change to the endpoint's shared row; whether it changed the
    /// row (an `Opened` of a circuit already open, or a `Closed` of one already
    /// closed, changes nothing).
    async fn share_circuit_in(
        tx: &mut sqlx::Transaction<'_, Db>,
        endpoint: &EndpointId,
        change: CircuitChange,
    ) -> Result<bool> {
        let query = match change {
            // Unless it is open already: the late failures of requests sent
            // before it opened must not push the probe back.
            CircuitChange::Opened { cooldown_ms } => sqlx::query(
                "INSERT INTO endpoint_pacing (endpoint_id, tat_us, circuit_open_until_us, circuit_cooldown_ms) \
                 VALUES ($1, 0, CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) + $2 * 1000, $2) \
                 ON CONFLICT (endpoint_id) DO UPDATE SET circuit_open_until_us = excluded.circuit_open_until_us, \
                 circuit_cooldown_ms = excluded.circuit_cooldown_ms, circuit_probe_until_us = NULL, circuit_probe_owner = NULL \
                 WHERE endpoint_pacing.circuit_open_until_us IS NULL",
            )
            .bind(endpoint.as_str())
            .bind(cooldown_ms),
            // The wait doubles cluster-wide: the prober's own breaker may have
            // seen fewer of the failed probes than the row has.
            CircuitChange::ProbeFailed { cooldown_ms } => sqlx::query(
                "INSERT INTO endpoint_pacing (endpoint_id, tat_us, circuit_open_until_us, circuit_cooldown_ms) \
                 VALUES ($1, 0, CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) + $2 * 1000, $2) \
                 ON CONFLICT (endpoint_id) DO UPDATE SET \
                 circuit_cooldown_ms = LEAST(GREATEST(COALESCE(endpoint_pacing.circuit_cooldown_ms, 0) * 2, $2), $3), \
                 circuit_open_until_us = CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) \
                 + LEAST(GREATEST(COALESCE(endpoint_pacing.circuit_cooldown_ms, 0) * 2, $2), $3) * 1000, \
                 circuit_probe_until_us = NULL, circuit_probe_owner = NULL",
            )
            .bind(endpoint.as_str())
            .bind(cooldown_ms)
            .bind(i64::try_from(crate::delivery::breaker::MAX_COOLDOWN.as_millis()).unwrap_or(i64::MAX)),
            CircuitChange::Closed => sqlx::query(
                "UPDATE endpoint_pacing SET circuit_open_until_us = NULL, circuit_probe_until_us = NULL, circuit_probe_owner = NULL, \
                 circuit_cooldown_ms = NULL WHERE endpoint_id = $1 AND circuit_open_until_us IS NOT NULL",
            )
            .bind(endpoint.as_str()),
        };
        Ok(query.execute(&mut **tx).await?.rows_affected() > 0)
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

    /// Payloads and creation times of the given messages.
    async fn message_bodies(&self, ids: &[&str]) -> Result<std::collections::HashMap<String, (String, i64)>> {
        let mut out = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<Db>::new("SELECT id, payload, created_at FROM messages WHERE id IN ");
            push_id_list(&mut qb, chunk.iter().copied());
            let rows: Vec<(String, String, i64)> = qb.build_query_as().fetch_all(&self.read).await?;
            out.extend(rows.into_iter().map(|(id, p, c)| (id, (p, c))));
        }
        Ok(out)
    }
}
