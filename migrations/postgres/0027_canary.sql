-- The canary: every SLUICE_CANARY_INTERVAL_SECONDS a node publishes a message to its
-- own built-in receiver through the whole path (queue, dispatcher, signed HTTP). A run
-- is received when a verified request for it arrives (at any node: the receiver only
-- writes here), or failed when its publisher finds it overdue. Kept a week.
CREATE TABLE canary_runs (
    message_id   TEXT PRIMARY KEY,
    node_id      TEXT NOT NULL,
    endpoint_id  TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    received_at  BIGINT,
    failed_at    BIGINT
);
CREATE INDEX canary_runs_published ON canary_runs (published_at);
