// What a recorded batch causes beyond the deliveries' own rows: endpoints disabled (a
// 410, or auto-disable), lifecycle events and their notices, and the queue heads of
// retries and notices. Run inside the recorder's transaction by `record`, as is the
// count of late successes its fence turned away (duplicate sends). And what a circuit
// that opened or closed for every node causes, run by `record_circuits`.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

impl This {
    /// Of `chunk`'s successful outcomes, those fenced off because another claim took
    /// the lease over: the receiver accepted a send of a delivery that is (or was) sent
    /// again. Read only when the fenced update changed fewer rows than it was given,
    /// which a healthy node never sees, so the hot path pays nothing for it.
    async fn late_successes_in(tx: &mut sqlx::Transaction<'_, Db>, chunk: &[Outcome]) -> Result<u64> {
        let successes: Vec<&Outcome> = chunk.iter().filter(|o| matches!(o.next, NextStep::Succeeded)).collect();
        if successes.is_empty() {
            return Ok(0);
        }
        let mut qb = sqlx::QueryBuilder::<Db>::new("SELECT id, lease_token FROM deliveries WHERE id IN (");
        let mut ids = qb.separated(", ");
        for o in &successes {
            ids.push_bind(o.attempt.delivery_id.as_str());
        }
        qb.push(")");
        let tokens: std::collections::HashMap<String, i64> =
            qb.build_query_as::<(String, i64)>().fetch_all(&mut **tx).await?.into_iter().collect();
        let late = successes
            .iter()
            .filter(|o| tokens.get(o.attempt.delivery_id.as_str()).is_some_and(|token| *token != o.lease_token));
        Ok(late.count() as u64)
    }

    async fn record_consequences_in(
        tx: &mut sqlx::Transaction<'_, Db>,
        outcomes: &[Outcome],
        streaking: Option<&Streaking>,
        disable: &[(EndpointId, String)],
        events: &[LifecycleEvent],
        auto_disable: AutoDisable,
        now_ms: i64,
    ) -> Result<()> {
        // Several requests in flight can all come back 410: the endpoint is disabled,
        // and its event (and notice) written, by the first only.
        let mut gone = std::collections::HashSet::new();
        for (endpoint, reason) in disable {
            let changed = sqlx::query(
                "UPDATE endpoints SET enabled = FALSE, disabled_reason = $1, disabled_at = $2, version = version + 1, \
             updated_at = $2 WHERE id = $3 AND enabled = TRUE",
            )
            .bind(reason)
            .bind(now_ms)
            .bind(endpoint.as_str())
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if changed > 0 {
                gone.insert(endpoint.as_str());
            }
        }
        let events: Vec<&LifecycleEvent> = events
            .iter()
            .filter(|e| e.kind != LifecycleKind::EndpointDisabled || gone.remove(e.subject_id.as_str()))
            .collect();
        for e in &events {
            Self::insert_event_in(tx, e).await?;
        }
        let disabled = Self::track_streaks_in(tx, outcomes, streaking, auto_disable, now_ms).await?;
        let notified = Self::send_notices_in(tx, events.into_iter().chain(&disabled), now_ms).await?;
        // Retries and notices lower their endpoints' heads in one sorted pass, so two
        // recorders take those rows in one order.
        let heads: Vec<(&str, i64)> = outcomes
            .iter()
            .filter_map(|o| match o.next {
                NextStep::RetryAt(at) => Some((o.attempt.endpoint_id.as_str(), at)),
                NextStep::Succeeded | NextStep::Exhausted => None,
            })
            .chain(notified.iter().map(|(e, at)| (e.as_str(), *at)))
            .collect();
        Self::lower_heads_in(tx, &heads).await?;
        if !notified.is_empty() {
            Self::announce_work(tx).await?;
        }
        Ok(())
    }
}

impl This {
    /// The event of a circuit that opened or closed for every node, its incident (a
    /// circuit that opens is an incident detected, unless one is open) and their
    /// notices, in the transaction that shared the change.
    async fn circuit_consequences_in(
        tx: &mut sqlx::Transaction<'_, Db>,
        tenant: &TenantId,
        endpoint: &EndpointId,
        kind: LifecycleKind,
        change: CircuitChange,
    ) -> Result<()> {
        let detail = match change {
            CircuitChange::Opened { cooldown_ms } => serde_json::json!({ "cooldown_ms": cooldown_ms }),
            _ => serde_json::json!({}),
        };
        let event = LifecycleEvent::new(Some(tenant), kind, endpoint.as_str(), "system", detail);
        Self::insert_event_in(tx, &event).await?;
        let incident = match kind {
            LifecycleKind::EndpointCircuitOpened => {
                Self::open_circuit_incident_in(tx, tenant, endpoint, event.created_at_ms).await?
            }
            _ => None,
        };
        Self::queue_notices_in(tx, std::iter::once(&event).chain(&incident), event.created_at_ms).await
    }
}
