-- Portal links: one-time URLs that sign their opener into the dashboard as a tenant's
-- partner, and the sessions they open. Only hashes of the tokens are kept, as for
-- user sessions. A link is used up by setting `opened_at`; its session lasts
-- `session_seconds` from then (and ends after idling, as every session).
CREATE TABLE portal_links (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    token_hash       TEXT NOT NULL UNIQUE,
    read_only        BOOLEAN NOT NULL,
    session_seconds  BIGINT NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    opened_at        BIGINT
);
CREATE INDEX portal_links_expires ON portal_links (expires_at);

CREATE TABLE portal_sessions (
    token_hash    TEXT PRIMARY KEY,
    link_id       TEXT NOT NULL REFERENCES portal_links(id),
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    read_only     BOOLEAN NOT NULL,
    csrf_token    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL
);
CREATE INDEX portal_sessions_link ON portal_sessions (link_id);
