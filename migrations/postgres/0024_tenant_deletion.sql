-- Deleting a tenant: its row stays as a tombstone (who asked, when, and when the
-- last of its data went), hidden from every read; the retention job finds the
-- deleted tenants in this small index.
ALTER TABLE tenants ADD COLUMN deleted_at BIGINT;
ALTER TABLE tenants ADD COLUMN deleted_by TEXT;
ALTER TABLE tenants ADD COLUMN purged_at BIGINT;
CREATE INDEX tenants_deleted ON tenants (deleted_at) WHERE deleted_at IS NOT NULL;
