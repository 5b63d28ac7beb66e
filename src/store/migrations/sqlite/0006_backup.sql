-- 0006_backup: the change log of backups (issue 6) records row changes with
-- SQLite's session extension, which needs a PRIMARY KEY on every table.
-- bw_password_history had none: rebuild it with an INTEGER PRIMARY KEY that
-- is the old rowid (same rows, same rowids, same index, same statements).
CREATE TABLE bw_password_history_new (
    rid        INTEGER PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES bw_users(id) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
INSERT INTO bw_password_history_new(rid, user_id, hash, created_at)
    SELECT rowid, user_id, hash, created_at FROM bw_password_history;
DROP TABLE bw_password_history;
ALTER TABLE bw_password_history_new RENAME TO bw_password_history;
CREATE INDEX bw_password_history_user ON bw_password_history(user_id, created_at);
