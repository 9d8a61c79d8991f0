-- A recover may take every endpoint of its tenant at once: an operation's endpoint
-- becomes optional (NULL: tenant-wide).
ALTER TABLE operations ALTER COLUMN endpoint_id DROP NOT NULL;
