-- 0004: tamper-evident audit trail (PostgreSQL), issue 5. See the SQLite file
-- for the design; here appends serialise on the head row (SELECT ... FOR
-- UPDATE inside the appending transaction), so several `bulwark serve`
-- processes sharing this database extend one chain.
CREATE TABLE bw_audit_legacy AS SELECT seq, ts, actor, action, target, outcome, remote,
    request_id, details FROM bw_audit_events;
DELETE FROM bw_audit_events;
ALTER TABLE bw_audit_events ALTER COLUMN seq DROP DEFAULT;
ALTER TABLE bw_audit_events ADD COLUMN org TEXT NOT NULL DEFAULT '-';
ALTER TABLE bw_audit_events ADD COLUMN prev_hash BYTEA NOT NULL DEFAULT '\x'::bytea;
ALTER TABLE bw_audit_events ADD COLUMN hash BYTEA NOT NULL DEFAULT '\x'::bytea;
CREATE INDEX bw_audit_events_ts ON bw_audit_events(ts, seq);
CREATE INDEX bw_audit_events_actor ON bw_audit_events(actor, seq);

CREATE TABLE bw_audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash BYTEA NOT NULL
);
INSERT INTO bw_audit_head(id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

CREATE TABLE bw_audit_checkpoints (
    seq  BIGINT PRIMARY KEY NOT NULL,
    hash BYTEA NOT NULL,
    ts   BIGINT NOT NULL,
    sig  BYTEA NOT NULL
);

CREATE TABLE bw_audit_archives (
    first_seq  BIGINT PRIMARY KEY NOT NULL,
    last_seq   BIGINT NOT NULL,
    last_hash  BYTEA NOT NULL,
    file       TEXT NOT NULL,
    file_hash  BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
