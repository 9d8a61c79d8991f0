-- Sign-in throttling by key (a client address, an account, the pair), replacing the
-- per-email failure count: attempts are counted before the password is checked, and
-- beyond a key's free attempts each one waits twice as long as the one before
-- (delay_ms), so a stranger slows an account down but cannot lock it.
DROP TABLE sign_in_failures;
CREATE TABLE sign_in_throttle (
    key           TEXT PRIMARY KEY,
    attempts      BIGINT NOT NULL,
    window_start  BIGINT NOT NULL,
    last_at       BIGINT NOT NULL,
    delay_ms      BIGINT NOT NULL
);
