-- Periodic jobs (the retention purge) run on one node at a time: a node takes a job's
-- lease by a conditional update, so nodes sharing a database need no other
-- coordination. The index serves the purge's scan for old finished deliveries.
CREATE TABLE job_leases (
    name        TEXT PRIMARY KEY,
    owner       TEXT,
    lease_until BIGINT NOT NULL
);
INSERT INTO job_leases (name, owner, lease_until) VALUES ('retention', NULL, 0);
CREATE INDEX messages_created ON messages (created_at);
CREATE INDEX lifecycle_events_created ON lifecycle_events (created_at);
