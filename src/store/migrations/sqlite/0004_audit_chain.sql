-- 0004: tamper-evident audit trail (SQLite), issue 5. The events of 0002 keep
-- their columns and meanings; each event now also carries its organisation,
-- the hash of its predecessor and its own hash (BLAKE2b-256 over the previous
-- hash and the canonical encoding, src/audit/event.c). seq is assigned by the
-- chain (head row below), contiguous from 1, never by AUTOINCREMENT.
-- Events written before this migration had no chain: they move to
-- bw_audit_legacy and are re-appended, in their order, through the chain the
-- first time the audit module starts (bw_audit_adopt_legacy).
CREATE TABLE bw_audit_legacy AS SELECT seq, ts, actor, action, target, outcome, remote,
    request_id, details FROM bw_audit_events;
DELETE FROM bw_audit_events;
ALTER TABLE bw_audit_events ADD COLUMN org TEXT NOT NULL DEFAULT '-';
ALTER TABLE bw_audit_events ADD COLUMN prev_hash BLOB NOT NULL DEFAULT x'';
ALTER TABLE bw_audit_events ADD COLUMN hash BLOB NOT NULL DEFAULT x'';
CREATE INDEX bw_audit_events_ts ON bw_audit_events(ts, seq);
CREATE INDEX bw_audit_events_actor ON bw_audit_events(actor, seq);

-- The chain head: the newest event's seq and hash. Every append reads and
-- moves it in the appending transaction.
CREATE TABLE bw_audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash BLOB NOT NULL
) STRICT;
INSERT INTO bw_audit_head(id, seq, hash) VALUES (1, 0, zeroblob(32));

-- Signed checkpoints (also appended to DATA/audit/checkpoints.jsonl).
CREATE TABLE bw_audit_checkpoints (
    seq  INTEGER PRIMARY KEY NOT NULL,
    hash BLOB NOT NULL,
    ts   INTEGER NOT NULL,
    sig  BLOB NOT NULL
) STRICT;

-- Archives written by retention (files under DATA/audit/archive/).
CREATE TABLE bw_audit_archives (
    first_seq  INTEGER PRIMARY KEY NOT NULL,
    last_seq   INTEGER NOT NULL,
    last_hash  BLOB NOT NULL,
    file       TEXT NOT NULL,
    file_hash  BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
