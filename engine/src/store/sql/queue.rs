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
        Self::lower_heads_locked_in(tx, heads, EndpointLocks::Take).await
    }

    /// [`This::lower_heads_in`], told whether the transaction already holds KEY SHARE
    /// on the heads' endpoint rows.
    async fn lower_heads_locked_in(
        tx: &mut sqlx::Transaction<'_, Db>,
        heads: &[(&str, i64)],
        locks: EndpointLocks,
    ) -> Result<()> {
        let mut earliest: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
        for &(endpoint, at) in heads {
            earliest.entry(endpoint).and_modify(|e| *e = (*e).min(at)).or_insert(at);
        }
        let earliest: Vec<(&str, i64)> = earliest.into_iter().collect();
        for chunk in earliest.chunks(200) {
            if This::BACKEND == Backend::Postgres {
                if locks == EndpointLocks::Take {
                    // Held until the commit; taken after a settle in progress has
                    // committed, so the statements below see what it left.
                    let mut qb = sqlx::QueryBuilder::<Db>::new("SELECT id FROM endpoints WHERE id IN ");
                    push_id_list(&mut qb, chunk.iter().map(|(id, _)| *id));
                    qb.push(" FOR KEY SHARE");
                    qb.build().execute(&mut **tx).await?;
                }
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

/// Whether a producer's transaction must still take KEY SHARE on the endpoint rows
/// whose heads it lowers (see [`This::lower_heads_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndpointLocks {
    /// Take them now.
    Take,
    /// An earlier statement of the transaction inserted deliveries to every one of
    /// them: the foreign key's check (`deliveries.endpoint_id`) took KEY SHARE on
    /// each row, waiting out a settle in progress, just as the explicit lock would.
    /// The test `a_publish_waits_out_a_settle_in_progress_and_lowers_the_head_it_left`
    /// fails if that key goes.
    HeldByInsertedDeliveries,
}

/// `VALUES (id, at), …` for [`This::lower_heads_in`].
fn push_heads<'a>(qb: &mut sqlx::QueryBuilder<'a, Db>, heads: &'a [(&'a str, i64)]) {
    qb.push_values(heads, |mut b, (id, at)| {
        b.push_bind(*id).push_bind(*at);
    });
}

// The claim, per backend. Both bind $1 lease_until_ms, $2 owner, $3 endpoint id,
// $4 now_ms, $5 limit, and return `ClaimedRow`'s columns (PostgreSQL's with the
// message's, `ClaimedWithMessage`). A suspended tenant's rows
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

/// Binds what every claim statement takes, `$1` to `$5`.
macro_rules! claim_binds {
    ($query:expr, $endpoint:expr, ($now_ms:expr, $lease_until_ms:expr, $owner:expr), $limit:expr) => {
        $query.bind($lease_until_ms).bind($owner).bind($endpoint.as_str()).bind($now_ms).bind($limit)
    };
}

/// PostgreSQL's claim, with `$gate` as one more condition on the rows picked, and the
/// messages' payloads in the same round trip. Rows another node is claiming are
/// skipped, not waited for.
macro_rules! claim_postgres {
    ($gate:literal) => {
        concat!(
            "WITH picked AS (SELECT id FROM deliveries WHERE endpoint_id = $3 AND state = 'pending' \
             AND next_attempt_at <= $4 AND tenant_id NOT IN (SELECT id FROM tenants WHERE suspended_at IS NOT NULL) ",
            $gate,
            "ORDER BY next_attempt_at LIMIT $5 FOR UPDATE SKIP LOCKED), \
             claimed AS (UPDATE deliveries d SET next_attempt_at = $1, lease_owner = $2, lease_token = d.lease_token + 1 \
             FROM picked WHERE d.id = picked.id \
             RETURNING d.id, d.message_id, d.endpoint_id, d.tenant_id, d.event_type, d.attempts, d.retry_base, \
             d.lease_token, d.next_trigger) \
             SELECT c.*, m.payload, m.created_at AS message_created_at \
             FROM claimed c LEFT JOIN messages m ON m.id = c.message_id"
        )
    };
}
const CLAIM_POSTGRES: &str = claim_postgres!("");
/// Within a grant: only while both of this node's grants, the endpoint's and its
/// tenant's ($6), still have `$7` ms to run by the database's clock, and nothing while
/// the shared circuit is not closed. The node checked its grants before asking, but
/// by the time this commits another node may have judged them over and counted only
/// the leases it could see; checked here, within the statement that leases, the
/// window is this commit's, not the wait for a connection and the round trip.
const CLAIM_GRANTED_POSTGRES: &str = claim_postgres!(
    "AND (SELECT COUNT(*) FROM claim_reports r WHERE r.node_id = $2 AND r.scope IN ($3, $6) AND r.granted > 0 \
     AND r.granted_until_ms > CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) + $7) = 2 \
     AND NOT EXISTS (SELECT 1 FROM endpoint_pacing p WHERE p.endpoint_id = $3 AND p.circuit_open_until_us IS NOT NULL) "
);

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
        // One call (migration 0033): the row lock, skipped if a producer still open
        // holds KEY SHARE on it (see `lower_heads_in`), then the update in a snapshot
        // of its own that sees every producer that held the row before. A head left
        // early costs an empty claim, and the next drain settles again.
        sqlx::query("SELECT sluice_settle_head_v1($1)").bind(endpoint.as_str()).execute(&self.write).await?;
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
        // One round trip (migration 0030 says why): every node's claims for the
        // tenant queue on its row, so the counts and the claim are one step and two
        // nodes cannot both take the last slot. It also reports this node's requests
        // in flight, so the others need not count the rows it is done with but has
        // not recorded yet (migration 0031), and hands out the grant asked for, so
        // the node's next claims need not come here (migration 0032). A node that
        // freezes cannot hold the lock past its statement, and a claim waits for it
        // at most a second (then this endpoint is skipped for the pass).
        let wide = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let pace = limits.rate.map(crate::pacing::Pace::per_second);
        let ask = limits.grant;
        let rows: Vec<SharedClaimRow> = match sqlx::query_as(
            "SELECT * FROM sluice_claim_shared_v3($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(endpoint.as_str())
        .bind(tenant.as_str())
        .bind(owner)
        .bind(wide(want))
        .bind(wide(limits.endpoint_max))
        .bind(wide(limits.tenant_max))
        .bind(wide(limits.endpoint_here))
        .bind(wide(limits.tenant_here))
        .bind(pace.map(|p| p.interval_us()))
        .bind(pace.map(|p| p.tolerance_us()))
        .bind(now_ms)
        .bind(lease_until_ms)
        .bind(ask.map(|a| wide(a.endpoint_share)))
        .bind(ask.map(|a| wide(a.tenant_share)))
        // 0032 takes the grant's end on the caller's clock and times it by the
        // database's: only its distance from `now_ms` matters.
        .bind(ask.map(|a| now_ms.saturating_add(a.for_ms)))
        .fetch_all(&self.write)
        .await
        {
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => {
                return Err(Error::Unavailable(format!("tenant {tenant} is being claimed for by another node")));
            }
            rows => rows?,
        };
        let first = rows.first().ok_or_else(|| Error::Internal("sluice_claim_shared_v3 answered no row".into()))?;
        let (granted, crowded, now_us, tat_us) = (first.granted, first.crowded, first.now_us, first.tat_us);
        let mine = first.circuit_probe_owner.as_deref() == Some(owner);
        let circuit = SharedCircuit::at(first.circuit_open_until_us, first.circuit_probe_until_us, mine, now_us);
        // The grants ride on the row without a delivery, the last.
        let grant = |n: Option<i64>| n.and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
        let last = rows.last().map(|r| (grant(r.endpoint_grant), grant(r.tenant_grant)));
        let (endpoint_grant, tenant_grant) = last.unwrap_or_default();
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(c) = row.claimed()? {
                claimed.push(c);
            }
        }
        // Oldest first: ids are time-ordered.
        claimed.sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
        // The schedule as the function charged it: for what was claimed.
        let rate_ahead_us = pace.map(|p| p.grant(tat_us, now_us, claimed.len()).1.saturating_sub(now_us));
        let granted = usize::try_from(granted).unwrap_or(0);
        Ok(Some(SharedClaim { claimed, granted, rate_ahead_us, circuit, crowded, endpoint_grant, tenant_grant }))
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
        self.claim_with(sql, endpoint, (now_ms, lease_until_ms, owner), limit).await
    }

    async fn claim_granted(
        &self,
        endpoint: &EndpointId,
        tenant: &TenantId,
        margin_ms: i64,
        (now_ms, lease_until_ms, owner): (i64, i64, &str),
        limit: i64,
    ) -> Result<Vec<Claimed>> {
        if This::BACKEND == Backend::Sqlite {
            // SQLite's one node holds no grants and shares no circuit.
            return self.claim_with(CLAIM_SQLITE, endpoint, (now_ms, lease_until_ms, owner), limit).await;
        }
        let query =
            claim_binds!(sqlx::query_as(CLAIM_GRANTED_POSTGRES), endpoint, (now_ms, lease_until_ms, owner), limit);
        let rows: Vec<ClaimedWithMessage> = query.bind(tenant.as_str()).bind(margin_ms).fetch_all(&self.write).await?;
        oldest_first(rows)
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
        let streaking = Self::lock_streaks_in(&mut tx, outcomes).await?;
        for chunk in outcomes.chunks(200) {
            Self::insert_attempts_in(&mut tx, chunk).await?;
            let applied = Self::apply_outcomes_in(&mut tx, chunk, now_ms).await?;
            if applied < chunk.len() as u64 {
                duplicates += Self::late_successes_in(&mut tx, chunk).await?;
            }
        }
        let streaking = streaking.as_ref();
        Self::record_consequences_in(&mut tx, outcomes, streaking, disable, events, auto_disable, now_ms).await?;
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

/// One row of `sluice_claim_shared_v3`: the room granted, the endpoint's shared row as
/// the claim found it, and one claimed delivery with its message, or, in the last row
/// (which has no delivery), the grants handed out.
#[derive(sqlx::FromRow)]
struct SharedClaimRow {
    granted: i64,
    crowded: bool,
    now_us: i64,
    tat_us: i64,
    circuit_open_until_us: Option<i64>,
    circuit_probe_until_us: Option<i64>,
    circuit_probe_owner: Option<String>,
    id: Option<String>,
    message_id: Option<String>,
    endpoint_id: Option<String>,
    tenant_id: Option<String>,
    event_type: Option<String>,
    attempts: Option<i64>,
    retry_base: Option<i64>,
    lease_token: Option<i64>,
    next_trigger: Option<String>,
    payload: Option<String>,
    message_created_at: Option<i64>,
    endpoint_grant: Option<i64>,
    tenant_grant: Option<i64>,
}

impl SharedClaimRow {
    fn claimed(self) -> Result<Option<Claimed>> {
        let Some(id) = self.id else { return Ok(None) };
        let missing = |what: &str| Error::Internal(format!("claimed delivery {id} came without its {what}"));
        let payload = self.payload.ok_or_else(|| missing("payload"))?;
        let created = self.message_created_at.ok_or_else(|| missing("creation time"))?;
        let row = ClaimedRow {
            message_id: self.message_id.ok_or_else(|| missing("message"))?,
            endpoint_id: self.endpoint_id.ok_or_else(|| missing("endpoint"))?,
            tenant_id: self.tenant_id.ok_or_else(|| missing("tenant"))?,
            event_type: self.event_type.ok_or_else(|| missing("event type"))?,
            attempts: self.attempts.ok_or_else(|| missing("attempts"))?,
            retry_base: self.retry_base.ok_or_else(|| missing("retry base"))?,
            lease_token: self.lease_token.ok_or_else(|| missing("lease token"))?,
            next_trigger: self.next_trigger.ok_or_else(|| missing("trigger"))?,
            id,
        };
        row.into_claimed(payload, created).map(Some)
    }
}

impl This {
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

    /// Runs one of the claim statements (their binds are alike): on PostgreSQL with
    /// the messages joined, on SQLite (whose `RETURNING` cannot feed a join) followed
    /// by a read of them.
    async fn claim_with(
        &self,
        sql: &'static str,
        endpoint: &EndpointId,
        (now_ms, lease_until_ms, owner): (i64, i64, &str),
        limit: i64,
    ) -> Result<Vec<Claimed>> {
        if This::BACKEND == Backend::Postgres {
            let query = claim_binds!(sqlx::query_as(sql), endpoint, (now_ms, lease_until_ms, owner), limit);
            let rows: Vec<ClaimedWithMessage> = query.fetch_all(&self.write).await?;
            return oldest_first(rows);
        }
        let query = claim_binds!(sqlx::query_as(sql), endpoint, (now_ms, lease_until_ms, owner), limit);
        let rows: Vec<ClaimedRow> = query.fetch_all(&self.write).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.claimed_from(rows).await
    }

    async fn claimed_from(&self, rows: Vec<ClaimedRow>) -> Result<Vec<Claimed>> {
        let ids: Vec<&str> = rows.iter().map(|r| r.message_id.as_str()).collect();
        let bodies = self.message_bodies(&ids).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let Some((payload, created)) = bodies.get(&r.message_id) else {
                return Err(Error::Internal(format!("delivery {} points at missing message {}", r.id, r.message_id)));
            };
            let (payload, created) = (payload.clone(), *created);
            out.push(r.into_claimed(payload, created)?);
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

/// PostgreSQL's claimed rows as deliveries, oldest first (ids are time-ordered).
fn oldest_first(rows: Vec<ClaimedWithMessage>) -> Result<Vec<Claimed>> {
    let mut out = rows.into_iter().map(ClaimedWithMessage::into_claimed).collect::<Result<Vec<_>>>()?;
    out.sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
    Ok(out)
}
