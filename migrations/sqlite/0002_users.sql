-- Dashboard users, their sessions, and sign-in throttling.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    tenant_id     TEXT REFERENCES tenants(id),
    created_at    INTEGER NOT NULL
);

-- The cookie holds a random token; only its SHA-256 is stored, so a copy of the
-- database cannot be turned into signed-in sessions.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id),
    csrf_token  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Failed sign-ins per email within the current window; shared by every node.
CREATE TABLE sign_in_failures (
    email         TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    window_start  INTEGER NOT NULL
);
