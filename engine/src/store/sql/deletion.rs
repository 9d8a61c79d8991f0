// Deleting a tenant: `impl TenantDeletionStore`.
// Compiled once per backend: `include!`d by `sqlite.rs` and `postgres.rs`, which define
// `Db` (the sqlx database) and `This` (the store, with `read` and `write` pools).

/// What goes of a tenant once its messages are gone, children before parents (the
/// foreign keys; PostgreSQL's `endpoint_pacing` goes with its endpoints by cascade),
/// each statement binding the tenant's id as `$1`. Deliveries and
/// attempts are swept by endpoint as well: a notice about another tenant's endpoint
/// may have been queued to one of this tenant's.
const TENANT_REMAINS: &[(&str, Tally)] = &[
    (
        "DELETE FROM attempts WHERE tenant_id = $1 \
         OR endpoint_id IN (SELECT id FROM endpoints WHERE tenant_id = $1)",
        Tally::Attempts,
    ),
    (
        "DELETE FROM deliveries WHERE tenant_id = $1 \
         OR endpoint_id IN (SELECT id FROM endpoints WHERE tenant_id = $1)",
        Tally::Deliveries,
    ),
    ("DELETE FROM lifecycle_events WHERE tenant_id = $1", Tally::Events),
    ("DELETE FROM operations WHERE tenant_id = $1", Tally::None),
    ("DELETE FROM endpoint_failure_streaks WHERE tenant_id = $1", Tally::None),
    ("DELETE FROM incidents WHERE tenant_id = $1", Tally::None),
    // Marks before counts: the order the roll-up job takes them in.
    ("DELETE FROM slo_dirty WHERE tenant_id = $1", Tally::None),
    ("DELETE FROM slo_rollups WHERE tenant_id = $1", Tally::None),
    ("DELETE FROM endpoint_secrets WHERE endpoint_id IN (SELECT id FROM endpoints WHERE tenant_id = $1)", Tally::None),
    ("DELETE FROM endpoints WHERE tenant_id = $1", Tally::None),
    ("DELETE FROM portal_sessions WHERE tenant_id = $1", Tally::None),
    ("DELETE FROM portal_links WHERE tenant_id = $1", Tally::None),
    ("DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE tenant_id = $1)", Tally::None),
    ("DELETE FROM users WHERE tenant_id = $1", Tally::None),
    ("DELETE FROM api_keys WHERE tenant_id = $1", Tally::None),
];

/// Which of `PurgeCounts` a statement of [`TENANT_REMAINS`] adds to.
#[derive(Clone, Copy)]
enum Tally {
    Attempts,
    Deliveries,
    Events,
    None,
}

#[async_trait]
impl TenantDeletionStore for This {
    async fn request_tenant_deletion(
        &self,
        _platform: &Platform,
        id: &TenantId,
        expected: Option<i64>,
        actor: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let marked = sqlx::query(
            "UPDATE tenants SET deleted_at = $2, deleted_by = $3, \
             suspended_at = COALESCE(suspended_at, $2), suspended_reason = COALESCE(suspended_reason, 'deleted'), \
             receives_all_notices = FALSE, version = version + 1 \
             WHERE id = $1 AND deleted_at IS NULL AND ($4 IS NULL OR version = $4)",
        )
        .bind(id.as_str())
        .bind(now_ms)
        .bind(actor)
        .bind(expected)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked == 0 {
            return Ok(false);
        }
        let stamped = [
            "UPDATE api_keys SET revoked_at = $2 WHERE tenant_id = $1 AND revoked_at IS NULL",
            "UPDATE users SET disabled_at = $2, version = version + 1 WHERE tenant_id = $1 AND disabled_at IS NULL",
        ];
        for sql in stamped {
            sqlx::query(sql).bind(id.as_str()).bind(now_ms).execute(&mut *tx).await?;
        }
        let ended = [
            "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE tenant_id = $1)",
            "DELETE FROM portal_sessions WHERE tenant_id = $1",
            // A link not yet opened must not open a session into what is left.
            "DELETE FROM portal_links WHERE tenant_id = $1",
        ];
        for sql in ended {
            sqlx::query(sql).bind(id.as_str()).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn tenant_deletion(&self, _platform: &Platform, id: &TenantId) -> Result<Option<DeletionRow>> {
        let row: Option<DeletionRow> = sqlx::query_as(
            "SELECT deleted_at AS requested_at, deleted_by AS requested_by, purged_at, \
             (SELECT COUNT(*) FROM messages m WHERE m.tenant_id = tenants.id) AS messages_left \
             FROM tenants WHERE id = $1 AND deleted_at IS NOT NULL",
        )
        .bind(id.as_str())
        .fetch_optional(&self.read)
        .await?;
        Ok(row)
    }

    async fn purge_deleted_tenant(&self, now_ms: i64, limit: i64) -> Result<PurgeCounts> {
        // A purged tenant comes back when something of it turned up after all: a
        // message another node accepted in the second its cached view of the tenant
        // lived, a notice or event of an attempt that was on its way, a key or
        // endpoint whose create raced the deletion. A few index probes per tombstone.
        let tenant: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM tenants WHERE deleted_at IS NOT NULL AND (purged_at IS NULL \
             OR EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = tenants.id) \
             OR EXISTS (SELECT 1 FROM lifecycle_events e WHERE e.tenant_id = tenants.id) \
             OR EXISTS (SELECT 1 FROM endpoints e WHERE e.tenant_id = tenants.id) \
             OR EXISTS (SELECT 1 FROM api_keys k WHERE k.tenant_id = tenants.id) \
             OR EXISTS (SELECT 1 FROM users u WHERE u.tenant_id = tenants.id) \
             OR EXISTS (SELECT 1 FROM portal_links l WHERE l.tenant_id = tenants.id)) \
             ORDER BY deleted_at, id LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await?;
        let Some((tenant,)) = tenant else { return Ok(PurgeCounts::default()) };
        let mut tx = self.write.begin().await?;
        // Not a message with a request still on its way (leased, its lease not run
        // out): the recorder will write that attempt, and the attempt's row needs its
        // delivery's. No claim starts after the deletion, so they end within a lease.
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM messages m WHERE tenant_id = $1 AND NOT EXISTS (SELECT 1 FROM deliveries d \
             WHERE d.message_id = m.id AND d.state = 'pending' AND d.lease_owner IS NOT NULL \
             AND d.next_attempt_at > $3) ORDER BY id LIMIT $2",
        )
        .bind(&tenant)
        .bind(limit)
        .bind(now_ms)
        .fetch_all(&mut *tx)
        .await?;
        let mut counts = Self::delete_messages_in(&mut tx, &ids).await?;
        let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages WHERE tenant_id = $1")
            .bind(&tenant)
            .fetch_one(&mut *tx)
            .await?;
        if left == 0 {
            // Its last messages went: the rest of it is bounded (endpoints and keys by
            // quota, users and links by hand), so it goes in this transaction.
            for (sql, tally) in TENANT_REMAINS {
                let gone = sqlx::query(sql).bind(&tenant).execute(&mut *tx).await?.rows_affected();
                match tally {
                    Tally::Attempts => counts.attempts += gone,
                    Tally::Deliveries => counts.deliveries += gone,
                    Tally::Events => counts.events += gone,
                    Tally::None => {}
                }
            }
            // The tombstone keeps who asked and when, not what the tenant was called or
            // why it was suspended (the audit trail has the name).
            sqlx::query(
                "UPDATE tenants SET purged_at = $2, name = 'deleted', suspended_reason = NULL, \
                 version = version + 1 WHERE id = $1",
            )
            .bind(&tenant)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            counts.tenants += 1;
        }
        tx.commit().await?;
        Ok(counts)
    }
}
