//! The retention purge: messages older than their tenant's `retention_days` go, with
//! their deliveries and attempts, unless something of theirs is still pending.
//! One node at a time does it, under a lease in the database.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{Platform, Sluice};
use crate::error::Result;
use crate::ids::{duration_ms, now_ms};
use crate::store::PurgeCounts;

/// Messages per transaction: small enough that the single SQLite writer is never held
/// for long, so publishing carries on during a big purge.
const PURGE_BATCH: i64 = 500;

/// The job's name in `job_leases`.
const RETENTION_JOB: &str = "retention";

impl Sluice {
    /// Purges everything past retention as of `now_ms`, a batch at a time, and says
    /// how much went. Platform callers only (operators may run it by hand).
    pub async fn purge_expired(&self, _platform: &Platform, now_ms: i64) -> Result<PurgeCounts> {
        let mut total = PurgeCounts::default();
        loop {
            let n = self.store.purge_expired(now_ms, PURGE_BATCH).await?;
            total.messages += n.messages;
            total.deliveries += n.deliveries;
            total.attempts += n.attempts;
            total.events += n.events;
            if n.messages < PURGE_BATCH as u64 && n.events < PURGE_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    /// Deletes sessions (users' and portal ones) that expired or went idle, portal links
    /// no session needs any more, and sign-in counts whose window is
    /// over (addresses' `seen` marks after 30 days): what a table of strangers'
    /// attempts would otherwise grow by forever. Returns (sessions, throttle rows).
    pub async fn purge_stale_sign_ins(&self, _platform: &Platform, now_ms: i64) -> Result<(u64, u64)> {
        let idle_floor = now_ms - duration_ms(super::SESSION_IDLE);
        let sessions = self.store.purge_sessions(now_ms, idle_floor).await?
            + self.store.purge_portal(now_ms, idle_floor, now_ms - duration_ms(super::portal::USED_LINKS_KEPT)).await?;
        let throttle = self
            .store
            .purge_sign_in_throttle(
                now_ms - duration_ms(super::sign_in::THROTTLE_WINDOW),
                now_ms - duration_ms(super::sign_in::SEEN_FOR),
            )
            .await?;
        Ok((sessions, throttle))
    }

    /// Takes the retention job's lease for `owner` if free (or already ours) until
    /// `until_ms`. A node that dies simply stops renewing; another takes over after.
    pub async fn take_retention_lease(&self, owner: &str, until_ms: i64) -> Result<bool> {
        self.store.take_job_lease(RETENTION_JOB, owner, now_ms(), until_ms).await
    }

    /// Every `every`, on whichever node holds the lease: purge. Errors are logged and
    /// retried next time; the data waits, nothing is lost by waiting.
    pub async fn run_retention_until_stopped(
        self: Arc<Self>,
        owner: String,
        every: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let system = Platform::system(format!("retention@{owner}"));
        let lease_ms = i64::try_from((every * 2).as_millis()).unwrap_or(i64::MAX / 2);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            match self.take_retention_lease(&owner, now_ms() + lease_ms).await {
                Ok(true) => {
                    match self.purge_expired(&system, now_ms()).await {
                        Ok(n) if n != PurgeCounts::default() => tracing::info!(?n, "retention purge"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "retention purge failed; retrying next time"),
                    }
                    match self.purge_deleted_tenants(&system, now_ms()).await {
                        Ok(n) if n != PurgeCounts::default() => tracing::info!(?n, "purged deleted tenants' data"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "purging deleted tenants failed; retrying next time"),
                    }
                    match self.purge_audit(&system, now_ms()).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(entries = n, "purged audit entries past their retention"),
                        Err(e) => tracing::warn!(error = %e, "purging the audit trail failed; retrying next time"),
                    }
                    match self.purge_incidents(&system, now_ms()).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(incidents = n, "purged incidents past the audit retention"),
                        Err(e) => tracing::warn!(error = %e, "purging old incidents failed; retrying next time"),
                    }
                    match self.purge_canary_runs(&system, now_ms()).await {
                        Ok(0) => {}
                        Ok(n) => tracing::debug!(runs = n, "purged canary runs past a week"),
                        Err(e) => tracing::warn!(error = %e, "purging canary runs failed; retrying next time"),
                    }
                    match self.purge_idempotency_keys(now_ms()).await {
                        Ok(0) => {}
                        Ok(n) => tracing::debug!(keys = n, "purged idempotency keys past a day"),
                        Err(e) => tracing::warn!(error = %e, "purging idempotency keys failed; retrying next time"),
                    }
                    match self.purge_stale_sign_ins(&system, now_ms()).await {
                        Ok((0, 0)) => {}
                        Ok((sessions, throttle)) => tracing::debug!(sessions, throttle, "purged stale sign-ins"),
                        Err(e) => tracing::warn!(error = %e, "purging stale sessions failed; retrying next time"),
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "could not take the retention lease; retrying next time"),
            }
        }
    }
}
