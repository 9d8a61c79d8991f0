-- Bulk recover: an operation re-queues an endpoint's failed deliveries in one
-- statement and tags them, so its progress is a count over the tagged rows.

CREATE TABLE operations (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    kind        TEXT NOT NULL,
    endpoint_id TEXT NOT NULL REFERENCES endpoints(id),
    since_at    BIGINT NOT NULL,
    until_at    BIGINT NOT NULL,
    total       BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX operations_tenant ON operations (tenant_id, id);

ALTER TABLE deliveries ADD COLUMN operation_id TEXT;
CREATE INDEX deliveries_operation ON deliveries (operation_id) WHERE operation_id IS NOT NULL;
