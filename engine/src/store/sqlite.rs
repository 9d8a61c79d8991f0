//! The SQLite store: embedded, zero services to run. One writer connection (SQLite
//! serialises writers anyway; a single connection turns lock contention into a queue)
//! and a small pool of readers that WAL lets run beside it.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sluice_core::ids::*;
use sluice_core::model::*;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::*;
use crate::error::{Error, Result};

type Db = sqlx::Sqlite;
type This = SqliteStore;

pub struct SqliteStore {
    read: sqlx::SqlitePool,
    write: sqlx::SqlitePool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

impl SqliteStore {
    const BACKEND: Backend = Backend::Sqlite;

    pub async fn connect(url: &str) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::invalid("database_url", e.to_string()))?
            .create_if_missing(true)
            // WAL: readers never block the writer. synchronous=NORMAL: a commit survives
            // the process being killed (it is in the OS's WAL file); only a power loss
            // can take the last transactions, the usual trade-off for SQLite in WAL.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("cache_size", "-32000")
            .pragma("temp_store", "memory");
        if let Some(dir) = opts.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
            }
        }
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.read_only(false))
            .await?;
        Ok(Self { read, write })
    }

    async fn migrate_impl(&self) -> Result<()> {
        MIGRATOR.run(&self.write).await?;
        Ok(())
    }

    /// SQLite has one process per database: the in-process wake-up is all there is.
    async fn listen_impl(&self, _wake: Arc<tokio::sync::Notify>) -> Result<()> {
        Ok(())
    }

    async fn announce_work(_tx: &mut sqlx::Transaction<'_, Db>) -> Result<()> {
        Ok(())
    }

    /// One `UPDATE … RETURNING`: on the single writer connection it is atomic, so two
    /// dispatchers can never lease the same row.
    async fn claim_impl(
        &self,
        endpoint: &EndpointId,
        now_ms: i64,
        lease_until_ms: i64,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<rows::ClaimedRow>> {
        let rows = sqlx::query_as(
            "UPDATE deliveries SET next_attempt_at = $1, lease_owner = $2, lease_token = lease_token + 1 \
             WHERE id IN (SELECT id FROM deliveries WHERE endpoint_id = $3 AND state = 'pending' \
             AND next_attempt_at <= $4 ORDER BY next_attempt_at LIMIT $5) \
             RETURNING id, message_id, endpoint_id, tenant_id, event_type, attempts, retry_base, lease_token, next_trigger",
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
