-- A tenant the platform suspended: its publishes are refused and nothing is
-- delivered to its endpoints until it is resumed. The dispatcher leaves out the
-- suspended tenants' endpoints with one lookup in this small index.
ALTER TABLE tenants ADD COLUMN suspended_at BIGINT;
ALTER TABLE tenants ADD COLUMN suspended_reason TEXT;
CREATE INDEX tenants_suspended ON tenants (id) WHERE suspended_at IS NOT NULL;
