-- SLO roll-ups: each tenant's deliveries counted by the hour they were published in,
-- so the overview reads at most 720 small rows for 30 days instead of scanning every
-- delivery. Kept by one node at a time (the `slo_rollups` job lease):
--   * an hour is rolled for every tenant once it has been over for a few minutes
--     (slo_rollup_state.next_hour is the first hour not rolled yet);
--   * anything that changes a delivery of an hour that is over (an attempt's
--     outcome, a replay, a recovery, a cancellation, a late publish) marks
--     (tenant, hour) in slo_dirty in the same transaction, and the job counts that
--     hour again and removes the mark in one transaction.
-- `good` is measured against target_ms, the tier's latency target when counted; the
-- job counts an hour again when the tenant's target changes (while its deliveries
-- are kept). le0..le13 are cumulative counts at sluice_core::slo::LATENCY_BOUNDS_MS.
CREATE TABLE slo_rollups (
    tenant_id  TEXT NOT NULL,
    hour       BIGINT NOT NULL,
    target_ms  BIGINT NOT NULL,
    succeeded  BIGINT NOT NULL,
    failed     BIGINT NOT NULL,
    pending    BIGINT NOT NULL,
    -- Every delivery of the hour, cancelled ones too: a count that finds fewer was
    -- made after the retention purge took some, and does not replace this one.
    total      BIGINT NOT NULL,
    good       BIGINT NOT NULL,
    le0 BIGINT NOT NULL, le1 BIGINT NOT NULL, le2 BIGINT NOT NULL, le3 BIGINT NOT NULL,
    le4 BIGINT NOT NULL, le5 BIGINT NOT NULL, le6 BIGINT NOT NULL, le7 BIGINT NOT NULL,
    le8 BIGINT NOT NULL, le9 BIGINT NOT NULL, le10 BIGINT NOT NULL, le11 BIGINT NOT NULL,
    le12 BIGINT NOT NULL, le13 BIGINT NOT NULL,
    rolled_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, hour)
);
CREATE INDEX slo_rollups_hour ON slo_rollups (hour);
CREATE TABLE slo_dirty (
    tenant_id TEXT NOT NULL,
    hour      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, hour)
);
CREATE INDEX slo_dirty_hour ON slo_dirty (hour);
CREATE TABLE slo_rollup_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    -- NULL until the job's first run, which starts at the oldest delivery of the
    -- last 30 days.
    next_hour BIGINT
);
INSERT INTO slo_rollup_state (id, next_hour) VALUES (1, NULL);
INSERT INTO job_leases (name, owner, lease_until) VALUES ('slo_rollups', NULL, 0);

-- The overview's error classes of the last day, without reading the tenant's whole
-- history: only deliveries that are failing are in it, so a healthy delivery's
-- updates never touch it.
CREATE INDEX deliveries_failing ON deliveries (tenant_id, updated_at)
    WHERE state <> 'succeeded' AND last_error_class IS NOT NULL;
