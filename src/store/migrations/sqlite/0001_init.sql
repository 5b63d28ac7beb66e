-- 0001: foundation schema (SQLite). Installation metadata as key/value rows.
CREATE TABLE bw_meta (
    key   TEXT PRIMARY KEY NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    value TEXT NOT NULL
) STRICT;
