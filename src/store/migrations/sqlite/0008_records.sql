-- 0008: records (SQLite). Collections with a classification and field
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
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    created_by     TEXT NOT NULL,
    PRIMARY KEY (org_id, name)
) STRICT;

CREATE TABLE bw_records (
    org_id     TEXT NOT NULL,
    collection TEXT NOT NULL,
    id         TEXT NOT NULL,
    version    INTEGER NOT NULL CHECK (version >= 1),
    body       BLOB NOT NULL,                         -- JSON, or nonce||ciphertext||tag
    encrypted  INTEGER NOT NULL CHECK (encrypted IN (0, 1)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER,                               -- NULL: live; set: restorable until purged
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, collection) REFERENCES bw_collections(org_id, name) ON DELETE CASCADE
) STRICT;
CREATE INDEX bw_records_page ON bw_records(org_id, collection, id);
CREATE INDEX bw_records_deleted ON bw_records(deleted_at) WHERE deleted_at IS NOT NULL;

-- The key store. Destroying a row here makes every copy of the matching
-- ciphertext (older backups included) unreadable.
CREATE TABLE bw_org_keys (
    org_id     TEXT PRIMARY KEY NOT NULL,
    mversion   INTEGER NOT NULL CHECK (mversion >= 1),  -- master key version that wraps it
    wrapped    BLOB NOT NULL CHECK (length(wrapped) = 60),
    created_at INTEGER NOT NULL,
    rotated_at INTEGER
) STRICT;

CREATE TABLE bw_data_keys (
    org_id     TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    wrapped    BLOB NOT NULL CHECK (length(wrapped) = 60),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, record_id)
) STRICT;

CREATE TABLE bw_key_inventory (
    kind         TEXT NOT NULL CHECK (kind IN ('master', 'org')),
    scope        TEXT NOT NULL,                        -- '-' for master keys, else the org id
    version      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    activated_at INTEGER,
    retired_at   INTEGER,
    destroyed_at INTEGER,
    PRIMARY KEY (kind, scope, version)
) STRICT;
