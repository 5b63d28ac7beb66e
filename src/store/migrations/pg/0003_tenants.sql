-- 0003: tenants (PostgreSQL). Organisations, memberships with one role each,
-- and API keys bound to an organisation, a role and an IP allow-list.
CREATE TABLE bw_organisations (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    deleted_at BIGINT
);

CREATE TABLE bw_memberships (
    org_id     TEXT NOT NULL REFERENCES bw_organisations(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES bw_users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer', 'auditor')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX bw_memberships_user ON bw_memberships(user_id);

CREATE TABLE bw_apikeys (
    id           TEXT PRIMARY KEY NOT NULL,
    org_id       TEXT NOT NULL REFERENCES bw_organisations(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('editor', 'viewer', 'auditor')),
    secret_hash  BYTEA NOT NULL UNIQUE,
    allowed_ips  TEXT NOT NULL CHECK (allowed_ips <> ''),
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    last_used_at BIGINT,
    last_used_ip TEXT
);
CREATE INDEX bw_apikeys_org ON bw_apikeys(org_id, created_at);
