-- Sluice schema, PostgreSQL flavour. Times are unix milliseconds (BIGINT); ids are
-- prefixed ULIDs (TEXT), so ORDER BY id is ORDER BY creation time.

CREATE TABLE tenants (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    tier           TEXT NOT NULL,
    retention_days BIGINT NOT NULL,
    backlog_cap    BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT REFERENCES tenants(id),
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);

CREATE TABLE endpoints (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT NOT NULL REFERENCES tenants(id),
    url                   TEXT NOT NULL,
    description           TEXT NOT NULL,
    event_types           TEXT NOT NULL,
    enabled               BOOLEAN NOT NULL,
    disabled_reason       TEXT,
    disabled_at           BIGINT,
    rate_limit_per_second BIGINT,
    retry_schedule        TEXT,
    version               BIGINT NOT NULL,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    deleted_at            BIGINT
);
CREATE INDEX endpoints_tenant ON endpoints (tenant_id, id);

CREATE TABLE endpoint_secrets (
    id          TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES endpoints(id),
    secret      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT
);
CREATE INDEX endpoint_secrets_endpoint ON endpoint_secrets (endpoint_id, id);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    idempotency_key TEXT,
    request_hash    TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX messages_tenant ON messages (tenant_id, id);
CREATE UNIQUE INDEX messages_idempotency ON messages (tenant_id, idempotency_key);

-- The queue. A pending row is due when next_attempt_at <= now. Claiming sets
-- next_attempt_at to the lease expiry, so a crashed worker's rows fall due again by
-- themselves: lease expiry and retry time are the same column.
CREATE TABLE deliveries (
    id                   TEXT PRIMARY KEY,
    message_id           TEXT NOT NULL REFERENCES messages(id),
    endpoint_id          TEXT NOT NULL REFERENCES endpoints(id),
    tenant_id            TEXT NOT NULL,
    event_type           TEXT NOT NULL,
    state                TEXT NOT NULL,
    attempts             BIGINT NOT NULL,
    retry_base           BIGINT NOT NULL,
    next_attempt_at      BIGINT,
    lease_owner          TEXT,
    lease_token          BIGINT NOT NULL,
    next_trigger         TEXT NOT NULL,
    last_error_class     TEXT,
    last_response_status BIGINT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE UNIQUE INDEX deliveries_message_endpoint ON deliveries (message_id, endpoint_id);
CREATE INDEX deliveries_due ON deliveries (endpoint_id, next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_tenant ON deliveries (tenant_id, id);
CREATE INDEX deliveries_tenant_pending ON deliveries (tenant_id) WHERE state = 'pending';

CREATE TABLE attempts (
    id               TEXT PRIMARY KEY,
    delivery_id      TEXT NOT NULL REFERENCES deliveries(id),
    message_id       TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL,
    tenant_id        TEXT NOT NULL,
    number           BIGINT NOT NULL,
    trigger          TEXT NOT NULL,
    url              TEXT NOT NULL,
    started_at       BIGINT NOT NULL,
    duration_ms      BIGINT NOT NULL,
    request_headers  TEXT NOT NULL,
    response_status  BIGINT,
    response_headers TEXT,
    response_body    TEXT,
    error_class      TEXT,
    error_message    TEXT
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, id);

CREATE TABLE lifecycle_events (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT,
    kind       TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    actor      TEXT NOT NULL,
    detail     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX lifecycle_events_tenant ON lifecycle_events (tenant_id, id);
