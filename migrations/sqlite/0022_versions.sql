-- Tenants, users and tiers get a version, as endpoints have had from the start: it is
-- their ETag, and a change sent with `If-Match` applies only to the version it names.
ALTER TABLE tenants ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE tiers ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
