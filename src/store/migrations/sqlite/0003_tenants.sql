-- 0003: tenants (SQLite). Organisations, memberships with one role each, and
-- API keys bound to an organisation, a role and an IP allow-list. The role
-- names are checked here too, so an edited row cannot invent a role; what a
-- role may do is the table in src/tenant/rbac.c (docs/RBAC.md).
CREATE TABLE bw_organisations (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,                            -- "user:<id>" or "cli"
    deleted_at INTEGER                                   -- NULL: live; set: answers like absent
) STRICT;

CREATE TABLE bw_memberships (
    org_id     TEXT NOT NULL REFERENCES bw_organisations(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES bw_users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer', 'auditor')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
) STRICT;
CREATE INDEX bw_memberships_user ON bw_memberships(user_id);

CREATE TABLE bw_apikeys (
    id           TEXT PRIMARY KEY NOT NULL,
    org_id       TEXT NOT NULL REFERENCES bw_organisations(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('editor', 'viewer', 'auditor')),
    secret_hash  BLOB NOT NULL UNIQUE,                   -- SHA-256 of the whole key, never the key
    allowed_ips  TEXT NOT NULL CHECK (allowed_ips <> ''), -- canonical CIDR list, never empty
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,                                -- NULL: no expiry
    revoked_at   INTEGER,                                -- NULL: usable
    last_used_at INTEGER,
    last_used_ip TEXT
) STRICT;
CREATE INDEX bw_apikeys_org ON bw_apikeys(org_id, created_at);
