-- keys 0001: the key store (decision C6), in its own database file
-- db/keys.db, ATTACHed as schema `keys` on every connection. The driver
-- runs it in a transaction of its own AFTER main migration 0012 and BEFORE
-- main migration 0013 (store_sqlite.c, sq_migrate): SQLite commits the two
-- files of one transaction one after the other, never atomically, so this
-- step writes only keys.db (tables and a copy of the rows 0008 kept beside
-- the data) and 0013 then writes only bulwark.db (drops those tables). A
-- crash between the two leaves both copies, never none.
CREATE TABLE IF NOT EXISTS keys.bw_org_keys (
    org_id     TEXT PRIMARY KEY NOT NULL,
    mversion   INTEGER NOT NULL CHECK (mversion >= 1),  -- master key version that wraps it
    wrapped    BLOB NOT NULL CHECK (length(wrapped) = 60),
    created_at INTEGER NOT NULL,
    rotated_at INTEGER
) STRICT;

CREATE TABLE IF NOT EXISTS keys.bw_data_keys (
    org_id     TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    wrapped    BLOB NOT NULL CHECK (length(wrapped) = 60),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, record_id)
) STRICT;
CREATE INDEX IF NOT EXISTS keys.bw_data_keys_created ON bw_data_keys(created_at);

CREATE TABLE IF NOT EXISTS keys.bw_key_inventory (
    kind         TEXT NOT NULL CHECK (kind IN ('master', 'org')),
    scope        TEXT NOT NULL,                        -- '-' for master keys, else the org id
    version      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    activated_at INTEGER,
    retired_at   INTEGER,
    destroyed_at INTEGER,
    PRIMARY KEY (kind, scope, version)
) STRICT;

INSERT OR IGNORE INTO keys.bw_org_keys SELECT org_id, mversion, wrapped, created_at, rotated_at
    FROM main.bw_org_keys;
INSERT OR IGNORE INTO keys.bw_data_keys SELECT org_id, record_id, wrapped, created_at
    FROM main.bw_data_keys;
INSERT OR IGNORE INTO keys.bw_key_inventory SELECT kind, scope, version, created_at,
    activated_at, retired_at, destroyed_at FROM main.bw_key_inventory;
