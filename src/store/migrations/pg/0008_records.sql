-- 0008: records (PostgreSQL). Collections with a classification and field
-- definitions, records (bodies of confidential and restricted collections
-- are AES-256-GCM ciphertext), and - in tables of their own, apart from the
-- record data (decision C6) - the wrapped organisation keys, the wrapped
-- per-record data keys and the key inventory. Every row of tenant data
-- carries org_id, and every statement on these tables binds it.
CREATE TABLE bw_collections (
    org_id         TEXT NOT NULL REFERENCES bw_organisations(id) ON DELETE CASCADE,
    name           TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    classification TEXT NOT NULL
                   CHECK (classification IN ('public', 'internal', 'confidential', 'restricted')),
    fields         TEXT NOT NULL,                     -- JSON field definitions
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    created_by     TEXT NOT NULL,
    PRIMARY KEY (org_id, name)
);

CREATE TABLE bw_records (
    org_id     TEXT NOT NULL,
    collection TEXT NOT NULL,
    id         TEXT NOT NULL,
    version    BIGINT NOT NULL CHECK (version >= 1),
    body       BYTEA NOT NULL,                         -- JSON, or nonce||ciphertext||tag
    encrypted  INTEGER NOT NULL CHECK (encrypted IN (0, 1)),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT,                               -- NULL: live; set: restorable until purged
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, collection) REFERENCES bw_collections(org_id, name) ON DELETE CASCADE
);
CREATE INDEX bw_records_page ON bw_records(org_id, collection, id);
CREATE INDEX bw_records_deleted ON bw_records(deleted_at) WHERE deleted_at IS NOT NULL;

-- The key store. Destroying a row here makes every copy of the matching
-- ciphertext (older backups included) unreadable.
CREATE TABLE bw_org_keys (
    org_id     TEXT PRIMARY KEY NOT NULL,
    mversion   INTEGER NOT NULL CHECK (mversion >= 1),  -- master key version that wraps it
    wrapped    BYTEA NOT NULL CHECK (octet_length(wrapped) = 60),
    created_at BIGINT NOT NULL,
    rotated_at BIGINT
);

CREATE TABLE bw_data_keys (
    org_id     TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    wrapped    BYTEA NOT NULL CHECK (octet_length(wrapped) = 60),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, record_id)
);

CREATE TABLE bw_key_inventory (
    kind         TEXT NOT NULL CHECK (kind IN ('master', 'org')),
    scope        TEXT NOT NULL,                        -- '-' for master keys, else the org id
    version      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at   BIGINT,
    destroyed_at BIGINT,
    PRIMARY KEY (kind, scope, version)
);
