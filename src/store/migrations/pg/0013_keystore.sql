-- 0013: the key store leaves the data set (decision C6). PostgreSQL keeps it
-- in a schema of its own, bulwark_keys, in the same database, so that one
-- transaction still covers a record and its key atomically, while backups
-- dump the data with --exclude-schema=bulwark_keys and the key schema
-- separately (a key-store backup with a short retention). The rows of 0008
-- move over and the old tables are dropped, in this one transaction.
CREATE SCHEMA IF NOT EXISTS bulwark_keys;

CREATE TABLE bulwark_keys.bw_org_keys (
    org_id     TEXT PRIMARY KEY NOT NULL,
    mversion   INTEGER NOT NULL CHECK (mversion >= 1),
    wrapped    BYTEA NOT NULL CHECK (octet_length(wrapped) = 60),
    created_at BIGINT NOT NULL,
    rotated_at BIGINT
);

CREATE TABLE bulwark_keys.bw_data_keys (
    org_id     TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    wrapped    BYTEA NOT NULL CHECK (octet_length(wrapped) = 60),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, record_id)
);
CREATE INDEX bw_data_keys_created ON bulwark_keys.bw_data_keys(created_at);

CREATE TABLE bulwark_keys.bw_key_inventory (
    kind         TEXT NOT NULL CHECK (kind IN ('master', 'org')),
    scope        TEXT NOT NULL,
    version      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at   BIGINT,
    destroyed_at BIGINT,
    PRIMARY KEY (kind, scope, version)
);

INSERT INTO bulwark_keys.bw_org_keys SELECT org_id, mversion, wrapped, created_at, rotated_at
    FROM bw_org_keys;
INSERT INTO bulwark_keys.bw_data_keys SELECT org_id, record_id, wrapped, created_at
    FROM bw_data_keys;
INSERT INTO bulwark_keys.bw_key_inventory SELECT kind, scope, version, created_at,
    activated_at, retired_at, destroyed_at FROM bw_key_inventory;

DROP TABLE bw_org_keys;
DROP TABLE bw_data_keys;
DROP TABLE bw_key_inventory;
