-- The audit trail: who did what, when, from where. Kept apart from tenant retention
-- (SLUICE_AUDIT_RETENTION_DAYS decides how long), and written by the audit service
-- only. No foreign keys: an entry outlives the user, key or endpoint it names.
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    tenant_id  TEXT,
    action     TEXT NOT NULL,
    target     TEXT,
    client_ip  TEXT,
    detail     TEXT NOT NULL
);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id);
