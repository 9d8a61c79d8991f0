-- Auto-disable: an endpoint whose every attempt has failed for a while is disabled.
--
-- A streak row exists while an endpoint's latest attempts have all failed: when the
-- first of them started, how many there were, when the last one started, and whether
-- they were for more than one delivery (one message the receiver rejects, retried
-- through its schedule, must not disable an endpoint on its own). The recorder
-- writes it in the transaction that records the attempts, so every node sharing the
-- database counts the same streak; a success deletes it. Healthy endpoints have no
-- row, so recording a success costs one read of an (almost always) empty set.
CREATE TABLE endpoint_failure_streaks (
    endpoint_id      TEXT PRIMARY KEY REFERENCES endpoints(id),
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    failing_since    BIGINT NOT NULL,
    failed_attempts  BIGINT NOT NULL,
    last_failure_at  BIGINT NOT NULL,
    first_delivery_id  TEXT NOT NULL,
    several_deliveries BOOLEAN NOT NULL
);

-- How long a tenant's endpoints may fail every attempt before they are disabled, in
-- seconds: NULL means the platform's default (SLUICE_AUTO_DISABLE_AFTER), 0 never.
ALTER TABLE tenants ADD COLUMN auto_disable_after_seconds BIGINT;

-- A tenant whose endpoints get Sluice's own event types (operational webhooks) for
-- every tenant, not only its own: the platform's inbox for notices about its
-- customers' endpoints. Its endpoints still get only the types they name.
ALTER TABLE tenants ADD COLUMN receives_all_notices BOOLEAN NOT NULL DEFAULT FALSE;
