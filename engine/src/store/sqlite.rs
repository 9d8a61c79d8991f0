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

use super::incidents::{IncidentRow, INCIDENT_COLUMNS};
use super::rows::*;
use super::*;
use crate::error::{Error, Result};

type Db = sqlx::Sqlite;
type This = SqliteStore;

/// `announce_work` as a `RETURNING` clause: nothing, as SQLite's one node is woken
/// in process.
const ANNOUNCE_WORK_RETURNING: &str = "";

/// The same for an insert of deliveries: nothing either.
fn announce_deliveries_returning(_deliveries: &[(&NewMessage, &str)]) -> &'static str {
    ANNOUNCE_WORK_RETURNING
}

pub struct SqliteStore {
    read: sqlx::SqlitePool,
    write: sqlx::SqlitePool,
    sealer: Arc<Sealer>,
}

/// Creates a new database file readable by its owner only (0600); SQLite gives its
/// WAL and shared-memory files the database's permissions. An existing file is left
/// as it is: its owner chose.
fn create_private(path: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if path.as_os_str().is_empty() || path.to_string_lossy().contains(":memory:") {
        return Ok(());
    }
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::Unavailable(format!("cannot create {}: {e}", path.display()))),
    }
}

/// Page cache per connection, negative for KiB (SQLite's convention).
const WRITER_CACHE_KIB: &str = "-16000";
const READER_CACHE_KIB: &str = "-4000";
const READERS: u32 = 4;

impl SqliteStore {
    const BACKEND: Backend = Backend::Sqlite;

    pub async fn connect(url: &str, sealer: Arc<Sealer>) -> Result<Self> {
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
            .pragma("temp_store", "memory");
        if let Some(dir) = opts.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
            }
        }
        create_private(opts.get_filename())?;
        // Each connection has its own page cache, and a big queue fills them all: the
        // budget is what bounds the node's memory under a backlog, not the backlog's
        // size. The writer gets most of it (it walks the queue's indexes on every
        // publish, claim and record); readers mostly read recent rows. The OS page
        // cache holds the rest of the file either way.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.clone().pragma("cache_size", WRITER_CACHE_KIB))
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.pragma("cache_size", READER_CACHE_KIB))
            .await?;
        Ok(Self { read, write, sealer })
    }

    async fn announce_work(_tx: &mut sqlx::Transaction<'_, Db>) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Self::BACKEND
    }

    async fn migrate(&self) -> Result<()> {
        // Migrations this release does not know were applied by a newer one: under
        // the expand-then-contract rule this release still works on that schema, so
        // it starts (a node of release N-1 restarting during a rolling upgrade).
        let mut migrator = sqlx::migrate!("../migrations/sqlite");
        migrator.set_ignore_missing(true);
        migrator.run(&self.write).await?;
        let resealed = self.reseal_secrets().await?;
        if resealed > 0 {
            tracing::info!(resealed, key = self.sealer.key_id(), "sealed signing secrets under the current key");
        }
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// SQLite has one process per database: the in-process wake-up is all there is.
    async fn listen_for_work(&self, _wake: Arc<crate::wake::Wake>) -> Result<()> {
        Ok(())
    }
}

// The statements both backends run alike, one file per aggregate. They are `include!`d
// rather than shared through a module because the text is identical but sqlx needs a
// concrete database type (`Db`) and store (`This`) to compile it against: each file is
// compiled once here and once in `postgres.rs`.
include!("sql/tenants.rs");
include!("sql/keys.rs");
include!("sql/users.rs");
include!("sql/sign_in.rs");
include!("sql/audit.rs");
include!("sql/endpoints.rs");
include!("sql/messages.rs");
include!("sql/queue.rs");
include!("sql/consequences.rs");
include!("sql/operations.rs");
include!("sql/reports.rs");
include!("sql/maintenance.rs");
include!("sql/idempotency.rs");
include!("sql/portal.rs");
include!("sql/gauges.rs");
include!("sql/streaks.rs");
include!("sql/operational.rs");
include!("sql/deletion.rs");
include!("sql/incidents.rs");
include!("sql/canary.rs");
include!("sql/rollups.rs");
include!("sql/batches.rs");
