-- User lifecycle: a disabled user's sessions end and sign-in is refused; a session
-- ends after a while without a request (idle timeout), not only at its expiry.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET last_seen_at = created_at;
