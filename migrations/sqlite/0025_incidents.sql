-- Incidents: an endpoint's stretch of failure, from the first failed attempt
-- (first_failure_at) through detection (opened_at: its circuit opened, or the failure
-- rate over a window passed the threshold) and the first person to look
-- (acknowledged_at), to sustained success (resolved_at: the first success of a run
-- that no failure followed for the resolve period). recovering_since is that run's
-- first success while the period is still running. At most one open incident per
-- endpoint: the partial unique index is what keeps two nodes, or the circuit and the
-- detector, from opening two.
CREATE TABLE incidents (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    endpoint_id      TEXT NOT NULL REFERENCES endpoints(id),
    cause            TEXT NOT NULL,
    failed_attempts  BIGINT NOT NULL,
    attempts         BIGINT NOT NULL,
    first_failure_at BIGINT NOT NULL,
    opened_at        BIGINT NOT NULL,
    acknowledged_at  BIGINT,
    acknowledged_by  TEXT,
    recovering_since BIGINT,
    resolved_at      BIGINT,
    resolution       TEXT
);
CREATE UNIQUE INDEX incidents_open ON incidents (endpoint_id) WHERE resolution IS NULL;
CREATE INDEX incidents_tenant ON incidents (tenant_id, id);

-- The detector runs on one node at a time, under this lease.
INSERT INTO job_leases (name, owner, lease_until) VALUES ('incidents', NULL, 0);
