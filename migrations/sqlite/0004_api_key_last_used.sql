-- When each API key last authenticated a request, so an admin can tell a key in use
-- from one that is safe to revoke. Written at most once a minute per key.
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
