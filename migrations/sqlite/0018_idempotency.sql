-- The first answer to each POST that carried an Idempotency-Key, per caller (the API
-- key or user it authenticated as), so that a retry gets that answer again instead of
-- acting twice. `owner` is the attempt that holds the key: a row without a status is
-- still being answered (a retry meanwhile is told 409), and one whose attempt died
-- (its node killed mid-request) is taken over once it is two minutes old. Rows are
-- kept 24 hours; the retention job removes older ones. The body is sealed with the
-- secret key (AEAD, bound to `owner`): an answer may carry a new API key or secret.
-- Publishes keep their own, longer-lived keys on messages.
CREATE TABLE idempotency_keys (
    caller        TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    owner         TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    status        BIGINT,
    content_type  TEXT,
    location      TEXT,
    etag          TEXT,
    body          TEXT,
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_started ON idempotency_keys (started_at);
