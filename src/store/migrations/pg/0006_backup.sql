-- 0006_backup: keeps the PostgreSQL schema version in step with SQLite's
-- 0006 (which adds a primary key the SQLite change log needs). PostgreSQL
-- backups are pg_dump exports and need no schema change.
COMMENT ON TABLE bw_password_history IS 'password history (backups: exported whole by pg_dump)';
