//! The SLO roll-up job, and the overview's hours read from it: each tenant's
//! deliveries counted by the hour, so the 30-day overview costs the same at ten
//! thousand deliveries as at a million. One node at a time keeps them, under a lease.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_core::model::Tier;
use tokio::sync::watch;

use super::{Platform, Sluice, TenantScope};
use crate::error::Result;
use crate::ids::now_ms;
use crate::store::{RolledHour, SloHour, HOUR_MS, SETTLE_MS};

/// The job's name in `job_leases`.
const ROLLUP_JOB: &str = "slo_rollups";

/// Hours kept: the overview's longest window (30 days) and a day to spare.
const KEPT_HOURS: i64 = 24 * 31;

/// Marked hours taken per run.
const MARKS_PER_RUN: i64 = 5_000;

/// An hour with more marked tenants than this is counted again for all its tenants in
/// one pass (after a tier's target changed, say) rather than one tenant at a time.
const WHOLE_HOUR_AFTER: usize = 8;

/// How long one run may go on before leaving the rest to the next: catching up on a
/// month of history must not hold the lease, or SQLite's writer, for minutes.
const RUN_BUDGET: Duration = Duration::from_secs(10);

/// What one run of the job did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RollupRun {
    /// Hours counted for the first time.
    pub rolled: u64,
    /// (tenant or whole) hours counted again because something in them changed.
    pub recounted: u64,
    /// Counted hours deleted for being older than the longest window.
    pub purged: u64,
    /// Whether every hour that can be counted is, and no mark is left.
    pub caught_up: bool,
}

impl RollupRun {
    /// Adds a later run's work to this one's; caught up as the later run is.
    pub fn then(self, later: RollupRun) -> RollupRun {
        RollupRun {
            rolled: self.rolled + later.rolled,
            recounted: self.recounted + later.recounted,
            purged: self.purged + later.purged,
            caught_up: later.caught_up,
        }
    }
}

impl Sluice {
    /// Counts every hour that has been over for [`SETTLE_MS`] and is not counted yet,
    /// then counts again the hours marked as changed, within [`RUN_BUDGET`]. Platform
    /// callers only (operators and benchmarks may run it by hand).
    pub async fn roll_up_once(&self, _platform: &Platform, now_ms: i64) -> Result<RollupRun> {
        let started = Instant::now();
        let mut run = RollupRun::default();
        // Hours before this one have been over for at least SETTLE_MS.
        let countable = (now_ms - SETTLE_MS).div_euclid(HOUR_MS);
        let horizon = now_ms.div_euclid(HOUR_MS) - KEPT_HOURS;
        let stored = self.store.rollup_next_hour().await?;
        let mut hour = match stored {
            Some(next) => next.max(horizon),
            None => {
                let oldest = self.store.oldest_delivery_hour(horizon * HOUR_MS).await?;
                oldest.unwrap_or(countable - 1).min(countable - 1)
            }
        };
        let mut expected = stored;
        let mut lost = false;
        while hour < countable && started.elapsed() < RUN_BUDGET {
            if !self.store.roll_hour(hour, expected, now_ms).await? {
                lost = true; // Another node is at it.
                break;
            }
            run.rolled += 1;
            expected = Some(hour + 1);
            hour += 1;
        }

        let next = expected.unwrap_or(hour);
        let marked = self.store.marked_hours(next, MARKS_PER_RUN).await?;
        let mut by_hour: BTreeMap<i64, Vec<_>> = BTreeMap::new();
        for (tenant, hour) in &marked {
            by_hour.entry(*hour).or_default().push(tenant);
        }
        let mut done_all = true;
        for (hour, tenants) in by_hour {
            if started.elapsed() >= RUN_BUDGET {
                done_all = false;
                break;
            }
            if hour < horizon {
                continue; // purged below
            }
            if tenants.len() > WHOLE_HOUR_AFTER {
                self.store.reroll(None, hour, now_ms).await?;
                run.recounted += 1;
            } else {
                for tenant in tenants {
                    self.store.reroll(Some(tenant), hour, now_ms).await?;
                    run.recounted += 1;
                }
            }
        }
        run.purged = self.store.purge_rollups(horizon).await?;
        run.caught_up = !lost && hour >= countable && done_all && marked.len() < MARKS_PER_RUN as usize;
        Ok(run)
    }

    /// Counts until caught up, at the server's console (`sluice roll-up`): after a
    /// restore, or to see how far behind the job is. Answers what it did in all.
    pub async fn roll_up_at_console(&self) -> Result<RollupRun> {
        let console = Platform::system("console");
        let mut total = RollupRun::default();
        loop {
            let lease_until = now_ms() + crate::ids::duration_ms(RUN_BUDGET * 3);
            if !self.take_rollup_lease("console", lease_until).await? {
                return Err(crate::error::Error::Conflict(
                    "a node is counting the roll-ups (it holds the job's lease); it does this every minute".into(),
                ));
            }
            total = total.then(self.roll_up_once(&console, now_ms()).await?);
            if total.caught_up {
                return Ok(total);
            }
        }
    }

    /// Takes the roll-up job's lease for `owner` if free (or already ours) until
    /// `until_ms`.
    async fn take_rollup_lease(&self, owner: &str, until_ms: i64) -> Result<bool> {
        self.store.take_job_lease(ROLLUP_JOB, owner, now_ms(), until_ms).await
    }

    /// Right away, then every `every`, on whichever node holds the lease: count. Errors
    /// are logged and retried next time; until then the overview reads the deliveries
    /// themselves for the hours not counted, so it is never wrong, only slower.
    pub async fn run_rollups_until_stopped(
        self: Arc<Self>,
        owner: String,
        every: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let system = Platform::system(format!("slo-rollups@{owner}"));
        let lease_ms = i64::try_from((every * 2 + RUN_BUDGET).as_millis()).unwrap_or(i64::MAX / 2);
        let mut wait = Duration::ZERO;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            wait = every;
            match self.take_rollup_lease(&owner, now_ms() + lease_ms).await {
                Ok(true) => match self.roll_up_once(&system, now_ms()).await {
                    Ok(run) if run.rolled + run.recounted + run.purged > 0 => tracing::debug!(?run, "SLO roll-ups"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "SLO roll-ups failed; retrying next time"),
                },
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "could not take the SLO roll-up lease; retrying next time"),
            }
        }
    }

    /// The overview's hours from `since_hour` to now, measured against `tier`: from the
    /// roll-ups for hours the job has counted and whose pending deliveries are all late
    /// already (so every one of them counts, whatever happens to it next), from the
    /// deliveries themselves for the rest (this hour, and the last latency target's).
    ///
    /// A change to a counted hour shows once the job counts it again (within its
    /// interval); an hour counted against an old target until the job counts it again.
    pub async fn overview_hours(
        &self,
        scope: &TenantScope,
        tier: &Tier,
        since_hour: i64,
        now_ms: i64,
    ) -> Result<Vec<SloHour>> {
        let late_before = now_ms - tier.latency_target_ms;
        let counted_until = self.store.rollup_next_hour().await?.unwrap_or(since_hour);
        let split = counted_until.min(late_before.div_euclid(HOUR_MS)).max(since_hour);
        let mut hours: Vec<SloHour> =
            self.store.rolled_hours(scope, since_hour, split).await?.iter().map(RolledHour::settled).collect();
        hours.extend(self.store.slo_hours(scope, split * HOUR_MS, late_before, tier.latency_target_ms).await?);
        Ok(hours)
    }
}
