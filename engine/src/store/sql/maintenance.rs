// Periodic jobs' leases and the retention purge: `impl MaintenanceStore`.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

impl This {
    /// Deletes these messages with their deliveries and attempts, children first, in
    /// the caller's transaction, so a crash mid-purge leaves all of a message or none.
    async fn delete_messages_in(tx: &mut sqlx::Transaction<'_, Db>, ids: &[(String,)]) -> Result<PurgeCounts> {
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
            counts.attempts +=
                list("DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE message_id IN (")
                    .push(")")
                    .build()
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
            counts.deliveries +=
                list("DELETE FROM deliveries WHERE message_id IN (").build().execute(&mut **tx).await?.rows_affected();
            counts.messages +=
                list("DELETE FROM messages WHERE id IN (").build().execute(&mut **tx).await?.rows_affected();
        }
        Ok(counts)
    }
}

#[async_trait]
impl MaintenanceStore for This {
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

    async fn heartbeat(&self, beat: &NodeRow, forget_before_ms: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO nodes (id, version, started_at, heartbeat_at, in_flight, attempts, stopped_at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, \
             in_flight = excluded.in_flight, attempts = excluded.attempts, stopped_at = NULL",
        )
        .bind(&beat.id)
        .bind(&beat.version)
        .bind(beat.started_at)
        .bind(beat.heartbeat_at)
        .bind(beat.in_flight)
        .bind(beat.attempts)
        .execute(&mut *tx)
        .await?;
        if This::BACKEND == Backend::Postgres {
            // What forgotten nodes last said they had in flight (migration 0031):
            // their leases, if any are left, count for them.
            sqlx::query("DELETE FROM claim_reports WHERE node_id IN (SELECT id FROM nodes WHERE heartbeat_at < $1)")
                .bind(forget_before_ms)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM nodes WHERE heartbeat_at < $1").bind(forget_before_ms).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn node_stopped(&self, id: &str, now_ms: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("UPDATE nodes SET stopped_at = $2, in_flight = 0 WHERE id = $1")
            .bind(id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        if This::BACKEND == Backend::Postgres {
            sqlx::query("DELETE FROM claim_reports WHERE node_id = $1").bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn refresh_planner_statistics(&self) -> Result<Vec<String>> {
        if This::BACKEND == Backend::Sqlite {
            return Ok(Vec::new());
        }
        // The tables as the statements find them, by `search_path`; `reltuples` is -1
        // before a table's first analysis. Left out: a table this user may not
        // analyze (PostgreSQL would skip it with a warning, every time), and one being
        // vacuumed or analyzed right now, by autovacuum or another node (its lock is
        // taken: a warning, and work already under way).
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "SELECT c.relname::TEXT FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid IN (",
        );
        {
            let mut tables = qb.separated(", ");
            for table in PLANNED_TABLES {
                tables.push("to_regclass(").push_bind_unseparated(table).push_unseparated(")");
            }
        }
        qb.push(") AND s.n_mod_since_analyze >= GREATEST(");
        qb.push_bind(REANALYZE_AT_LEAST);
        qb.push(
            ", c.reltuples) AND pg_has_role(c.relowner, 'USAGE') \
             AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_vacuum p WHERE p.relid = c.oid) \
             AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_analyze p WHERE p.relid = c.oid) \
             ORDER BY 1",
        );
        // The read pool: an analysis samples the table for a while and must not hold
        // up a writer.
        let stale: Vec<(String,)> = qb.build_query_as().fetch_all(&self.read).await?;
        let mut analyzed = Vec::with_capacity(stale.len());
        let mut failed = None;
        for (name,) in stale {
            // Names from the list above, never from input.
            let Some(table) = PLANNED_TABLES.iter().find(|t| **t == name) else { continue };
            // A statement of its own kind, run once in a while: not kept prepared.
            // One that fails (a statement timeout on a big table) does not keep the
            // others from being analyzed.
            match sqlx::raw_sql(&format!("ANALYZE (SKIP_LOCKED) {table}")).execute(&self.read).await {
                Ok(_) => analyzed.push(name),
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        if let Some(e) = failed {
            return Err(e.into());
        }
        Ok(analyzed)
    }

    async fn list_nodes(&self) -> Result<Vec<NodeRow>> {
        let rows = sqlx::query_as(
            "SELECT id, version, started_at, heartbeat_at, in_flight, attempts, stopped_at FROM nodes \
             ORDER BY heartbeat_at DESC, id LIMIT 1000",
        )
        .fetch_all(&self.read)
        .await?;
        Ok(rows)
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
        let mut counts = Self::delete_messages_in(&mut tx, &ids).await?;
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
}
