//! The PostgreSQL store: for more than one machine. Many Sluice nodes share one
//! database; `FOR UPDATE SKIP LOCKED` lets them claim without stepping on each other,
//! and LISTEN/NOTIFY wakes every node when work is published anywhere.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sluice_core::ids::*;
use sluice_core::model::*;
use sqlx::postgres::{PgListener, PgPoolOptions};

use super::incidents::{IncidentRow, INCIDENT_COLUMNS};
use super::rows::*;
use super::*;
use crate::error::Result;

type Db = sqlx::Postgres;
type This = PgStore;

/// The channel publishers NOTIFY and dispatchers LISTEN on, as a literal for the
/// statements that name it in their text.
macro_rules! work_channel {
    () => {
        "sluice_work"
    };
}
const WORK_CHANNEL: &str = work_channel!();
/// `announce_work` as a `RETURNING` clause of the statement that queues the work.
const ANNOUNCE_WORK_RETURNING: &str = concat!(" RETURNING pg_notify('", work_channel!(), "', '')");

/// The most endpoints an insert of deliveries names in its notifications.
const MOST_NAMED: usize = 8;

/// How an insert of `deliveries` announces them. Naming the endpoints (one
/// notification each at commit) lets a node already sending to them skip its scan
/// (`crate::wake`); a batch to many sends one nameless notification instead, as a
/// wake-up per endpoint would cost each node more than the scan saves.
fn announce_deliveries_returning(deliveries: &[(&NewMessage, &str)]) -> &'static str {
    let mut endpoints = std::collections::HashSet::new();
    for (_, endpoint) in deliveries {
        endpoints.insert(*endpoint);
        if endpoints.len() > MOST_NAMED {
            return ANNOUNCE_WORK_RETURNING;
        }
    }
    concat!(" RETURNING pg_notify('", work_channel!(), "', endpoint_id)")
}

pub struct PgStore {
    read: sqlx::PgPool,
    write: sqlx::PgPool,
    url: String,
    sealer: Arc<Sealer>,
}

impl PgStore {
    const BACKEND: Backend = Backend::Postgres;

    /// Opens `max` connections at most: [`writers`] of them for the statements that
    /// write (publish commits, claims, records, settles), the rest for reads.
    pub async fn connect(url: &str, max: u32, sealer: Arc<Sealer>) -> Result<Self> {
        let (write_max, read_max) = writers(max);
        let pool = |max| PgPoolOptions::new().max_connections(max).acquire_timeout(Duration::from_secs(10));
        let write = pool(write_max).connect(url).await?;
        let read = pool(read_max).connect(url).await?;
        Ok(Self { read, write, url: url.to_owned(), sealer })
    }

    async fn announce_work(tx: &mut sqlx::Transaction<'_, Db>) -> Result<()> {
        // Delivered at commit, and collapsed with identical notifications in the same
        // transaction, so a burst costs one wake-up per transaction.
        sqlx::query("SELECT pg_notify($1, '')").bind(WORK_CHANNEL).execute(&mut **tx).await?;
        Ok(())
    }
}

/// How `max` connections are split: (writers, readers). Writes get a few of their
/// own, a quarter (two to four; one in the smallest pools), as SQLite's one writer
/// does. With one pool of sixteen serving both, a node's writes were spread over all
/// sixteen backends and as many ran at once as were asked: in the PostgreSQL burst
/// each backend did an even share, and PostgreSQL spent 10-30 % more CPU on the same
/// burst than with four writers (one node or three; README, "Writers of their own").
/// Reads (the API, the dashboard, the due scan) keep the rest, so neither can starve
/// the other.
fn writers(max: u32) -> (u32, u32) {
    // Two at least where there is room: one long write (an hour's roll-up, a purge
    // batch) must not hold up publishing and recording alike.
    let least = if max >= 4 { 2 } else { 1 };
    let writers = (max / 4).clamp(least, 4);
    (writers, max.saturating_sub(writers).max(1))
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Self::BACKEND
    }

    async fn migrate(&self) -> Result<()> {
        // Migrations this release does not know were applied by a newer one: under
        // the expand-then-contract rule this release still works on that schema, so
        // it starts (a node of release N-1 restarting during a rolling upgrade).
        let mut migrator = sqlx::migrate!("../migrations/postgres");
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

    fn announces_publishes(&self) -> bool {
        true
    }

    /// Forwards NOTIFYs from any node to this node's dispatcher. Reconnects on its own
    /// (PgListener does); a lost notification only costs one poll interval.
    async fn listen_for_work(&self, wake: Arc<crate::wake::Wake>) -> Result<()> {
        let mut listener = PgListener::connect(&self.url).await?;
        listener.listen(WORK_CHANNEL).await?;
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    // A publish names the endpoint it queued work at; an empty
                    // payload (a replay, a retry, a node of an earlier release) names
                    // none: scan.
                    Ok(n) if n.payload().is_empty() => wake.notify_one(),
                    Ok(n) => wake.announce(n.payload()),
                    Err(e) => {
                        // The next recv reconnects and listens again; whatever was
                        // announced meanwhile is lost, so look for work once anyway.
                        tracing::warn!(error = %e, "LISTEN connection failed; relying on polling until it is back");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        wake.notify_one();
                    }
                }
            }
        });
        Ok(())
    }
}

// The statements both backends run alike, one file per aggregate. They are `include!`d
// rather than shared through a module because the text is identical but sqlx needs a
// concrete database type (`Db`) and store (`This`) to compile it against: each file is
// compiled once here and once in `sqlite.rs`.
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

#[cfg(test)]
mod tests {
    use super::writers;

    #[test]
    fn writes_get_a_quarter_of_the_connections_from_two_to_four() {
        assert_eq!(writers(16), (4, 12));
        assert_eq!(writers(40), (4, 36), "never more than four writers");
        assert_eq!(writers(8), (2, 6));
        assert_eq!(writers(5), (2, 3), "two writers wherever there is room for them");
        assert_eq!(writers(3), (1, 2));
        assert_eq!(writers(2), (1, 1), "the smallest pool allowed still has both");
    }
}
