-- A recover may take every endpoint of its tenant at once: an operation's endpoint
-- becomes optional (NULL: tenant-wide). SQLite cannot drop a NOT NULL, so the small
-- operations table is rebuilt as it was, without it; nothing references its rows by
-- a foreign key (deliveries name their operation in a plain column).
CREATE TABLE operations_rebuilt (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    kind         TEXT NOT NULL,
    endpoint_id  TEXT REFERENCES endpoints(id),
    since_at     BIGINT NOT NULL,
    until_at     BIGINT NOT NULL,
    total        BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    event_type   TEXT,
    error_class  TEXT,
    cancelled_at BIGINT
);
INSERT INTO operations_rebuilt (id, tenant_id, kind, endpoint_id, since_at, until_at, total, created_by,
    created_at, event_type, error_class, cancelled_at)
    SELECT id, tenant_id, kind, endpoint_id, since_at, until_at, total, created_by, created_at, event_type,
    error_class, cancelled_at FROM operations;
DROP TABLE operations;
ALTER TABLE operations_rebuilt RENAME TO operations;
CREATE INDEX operations_tenant ON operations (tenant_id, id);
