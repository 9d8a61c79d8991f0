//! The PostgreSQL store: for more than one machine. Many Sluice nodes share one
//! database; `FOR UPDATE SKIP LOCKED` lets them claim without stepping on each other,
//! and LISTEN/NOTIFY wakes every node when work is published anywhere.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sluice_core::ids::*;
use sluice_core::model::*;
use sqlx::postgres::{PgListener, PgPoolOptions};

use super::*;
use crate::error::Result;

type Db = sqlx::Postgres;
type This = PgStore;

/// The channel publishers NOTIFY and dispatchers LISTEN on.
const WORK_CHANNEL: &str = "sluice_work";

pub struct PgStore {
    read: sqlx::PgPool,
    write: sqlx::PgPool,
    url: String,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl PgStore {
    const BACKEND: Backend = Backend::Postgres;

    pub async fn connect(url: &str) -> Result<Self> {
        let max = std::env::var("SLUICE_DATABASE_MAX_CONNECTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(16);
        let pool =
            PgPoolOptions::new().max_connections(max).acquire_timeout(Duration::from_secs(10)).connect(url).await?;
        Ok(Self { read: pool.clone(), write: pool, url: url.to_owned() })
    }

    async fn migrate_impl(&self) -> Result<()> {
        MIGRATOR.run(&self.write).await?;
        Ok(())
    }

    /// Forwards NOTIFYs from any node to this node's dispatcher. Reconnects on its own
    /// (PgListener does); a lost notification only costs one poll interval.
    async fn listen_impl(&self, wake: Arc<tokio::sync::Notify>) -> Result<()> {
        let mut listener = PgListener::connect(&self.url).await?;
        listener.listen(WORK_CHANNEL).await?;
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(_) => wake.notify_one(),
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN connection failed; relying on polling until it is back");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(())
    }

    async fn announce_work(tx: &mut sqlx::Transaction<'_, Db>) -> Result<()> {
        // Delivered at commit, and collapsed with identical notifications in the same
        // transaction, so a burst costs one wake-up per transaction.
        sqlx::query("SELECT pg_notify($1, '')").bind(WORK_CHANNEL).execute(&mut **tx).await?;
        Ok(())
    }

    /// Rows another node is claiming are skipped, not waited for.
    async fn claim_impl(
        &self,
        endpoint: &EndpointId,
        now_ms: i64,
        lease_until_ms: i64,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<rows::ClaimedRow>> {
        let rows = sqlx::query_as(
            "WITH picked AS (SELECT id FROM deliveries WHERE endpoint_id = $3 AND state = 'pending' \
             AND next_attempt_at <= $4 ORDER BY next_attempt_at LIMIT $5 FOR UPDATE SKIP LOCKED) \
             UPDATE deliveries d SET next_attempt_at = $1, lease_owner = $2, lease_token = d.lease_token + 1 \
             FROM picked WHERE d.id = picked.id \
             RETURNING d.id, d.message_id, d.endpoint_id, d.tenant_id, d.event_type, d.attempts, d.retry_base, \
             d.lease_token, d.next_trigger",
        )
        .bind(lease_until_ms)
        .bind(owner)
        .bind(endpoint.as_str())
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.write)
        .await?;
        Ok(rows)
    }
}

include!("common.rs");
