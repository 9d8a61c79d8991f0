-- The nodes sharing this database, as their heartbeats tell: for the operations view
-- and GET /v1/nodes. A node writes its row every few seconds and marks it stopped on a
-- graceful exit; one whose heartbeat stops is shown as gone (its leases fall due as
-- always). Rows of nodes not seen for a week are removed by the heartbeats of others.
CREATE TABLE nodes (
    id            TEXT PRIMARY KEY,
    version       TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL,
    in_flight     BIGINT NOT NULL,
    attempts      BIGINT NOT NULL,
    stopped_at    BIGINT
);
