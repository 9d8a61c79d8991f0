-- SLOs. Tiers carry the targets a tenant's deliveries are measured against (editable
-- by admins). A delivery's first success time makes "delivered within the target" a
-- comparison of two columns, and a later replay cannot make a late delivery look
-- good. The (tenant, created_at) index serves the overview's window scans.
CREATE TABLE tiers (
    name              TEXT PRIMARY KEY,
    success_target    REAL NOT NULL,
    latency_target_ms INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
INSERT INTO tiers (name, success_target, latency_target_ms, updated_at) VALUES
    ('free', 0.99, 300000, 0),
    ('standard', 0.995, 60000, 0),
    ('premium', 0.999, 10000, 0);

ALTER TABLE deliveries ADD COLUMN succeeded_at INTEGER;
UPDATE deliveries SET succeeded_at = updated_at WHERE state = 'succeeded';
CREATE INDEX deliveries_tenant_created ON deliveries (tenant_id, created_at);
