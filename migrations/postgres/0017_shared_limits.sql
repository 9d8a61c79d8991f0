-- The rest of an endpoint's limits shared by every node on this database (see
-- ARCHITECTURE.md, "Limits across nodes"): its circuit breaker, in the row that
-- already holds its rate schedule, so one node's open circuit holds back every node
-- and only one node at a time may send the half-open probe. Times are microseconds of
-- the database's clock, like tat_us. NULL open_until: closed. The probe's owner is the
-- node sending it, which may go on claiming once it has succeeded.
ALTER TABLE endpoint_pacing ADD COLUMN circuit_open_until_us BIGINT;
ALTER TABLE endpoint_pacing ADD COLUMN circuit_probe_until_us BIGINT;
ALTER TABLE endpoint_pacing ADD COLUMN circuit_probe_owner TEXT;
ALTER TABLE endpoint_pacing ADD COLUMN circuit_cooldown_ms BIGINT;
-- The deliveries some node holds a lease on, for counting an endpoint's and a
-- tenant's requests in flight across the cluster: a handful of rows per tenant, so
-- the count costs what is in flight, not what is queued. Not CONCURRENTLY: nodes that
-- start together wait on the migrator's advisory lock inside a transaction, which a
-- concurrent build waits for in turn (a deadlock). The build takes the write lock on
-- deliveries while it scans the table (longer the bigger the table): see
-- docs/upgrades.md.
CREATE INDEX deliveries_leased ON deliveries (tenant_id, endpoint_id)
    WHERE state = 'pending' AND lease_owner IS NOT NULL;
