-- An endpoint's rate limit shared by every node on this database: the theoretical
-- time of its next send (GCRA, see engine/src/pacing.rs), in microseconds of the
-- database's clock. A row per rate-limited endpoint, made on its first reservation.
-- SQLite has no such table: there a single node's own bucket is the whole truth.
CREATE TABLE endpoint_pacing (
    endpoint_id TEXT PRIMARY KEY REFERENCES endpoints (id) ON DELETE CASCADE,
    tat_us      BIGINT NOT NULL
);
