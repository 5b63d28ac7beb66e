-- 0014: the continuous change log on PostgreSQL (issue 6, BCK-05), the
-- counterpart of SQLite's session extension. While `bulwark serve` ships the
-- log, a row trigger on every table of Bulwark's schema (installed by the
-- driver when the log starts, dropped when it stops; store_pg_log.c) copies
-- each changed row's image into bw_changelog, in the writing transaction.
-- The first captured row of a transaction also inserts its bw_changelog_commit
-- row, whose deferred constraint trigger runs at COMMIT: it takes the
-- transaction-level advisory lock "bwchglog" and only then draws the commit
-- sequence number and the commit time. The lock is released after the commit
-- is visible, so commit numbers are handed out in commit order and a reader
-- that sees number N also sees every smaller number that was ever committed.
-- Replaying whole transactions in that order reproduces every state the
-- database passed through (bw_changelog_apply, used by restore only).
CREATE TABLE bw_changelog (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid  XID8 NOT NULL DEFAULT pg_current_xact_id(),
    tbl  TEXT NOT NULL,
    op   TEXT NOT NULL CHECK (op IN ('U', 'D')),
    img  JSONB NOT NULL
);
CREATE INDEX bw_changelog_xid ON bw_changelog(xid);

CREATE TABLE bw_changelog_commit (
    xid   XID8 PRIMARY KEY DEFAULT pg_current_xact_id(),
    seq   BIGINT UNIQUE,
    ts_ms BIGINT
);
CREATE SEQUENCE bw_changelog_seq;

CREATE FUNCTION bw_changelog_capture() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    k TEXT;
    o JSONB;
    n JSONB;
BEGIN
    IF current_setting('bulwark.replay', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF current_setting('bulwark.changelog_tx', true) IS DISTINCT FROM 'on' THEN
        INSERT INTO bw_changelog_commit DEFAULT VALUES ON CONFLICT (xid) DO NOTHING;
        PERFORM set_config('bulwark.changelog_tx', 'on', true);
    END IF;
    IF TG_OP <> 'INSERT' THEN
        o := to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        n := to_jsonb(NEW);
    END IF;
    IF TG_OP = 'UPDATE' THEN
        -- the trigger's arguments are the primary key's columns: a changed
        -- key is a delete of the old row followed by the new row
        FOREACH k IN ARRAY TG_ARGV LOOP
            IF o -> k IS DISTINCT FROM n -> k THEN
                INSERT INTO bw_changelog(tbl, op, img) VALUES (TG_TABLE_NAME, 'D', o);
                EXIT;
            END IF;
        END LOOP;
    END IF;
    IF TG_OP = 'DELETE' THEN
        INSERT INTO bw_changelog(tbl, op, img) VALUES (TG_TABLE_NAME, 'D', o);
    ELSE
        INSERT INTO bw_changelog(tbl, op, img) VALUES (TG_TABLE_NAME, 'U', n);
    END IF;
    RETURN NULL;
END $$;

-- Installs (p_on) or drops the capture trigger on every table of the
-- current schema but the log's own and the migrations table; returns the
-- names of tables it cannot log (no primary key), comma-separated.
CREATE FUNCTION bw_changelog_install(p_on BOOLEAN) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    r RECORD;
    args TEXT;
    skipped TEXT := '';
BEGIN
    FOR r IN SELECT c.oid::regclass AS rel, c.relname
               FROM pg_class c
              WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
                AND c.relname NOT IN ('bw_changelog', 'bw_changelog_commit', 'bw_schema_migrations')
              ORDER BY c.relname LOOP
        IF NOT p_on THEN
            EXECUTE format('DROP TRIGGER IF EXISTS bw_changelog_capture ON %s', r.rel);
            CONTINUE;
        END IF;
        SELECT string_agg(quote_literal(a.attname), ',' ORDER BY a.attnum) INTO args
          FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = r.rel AND i.indisprimary;
        IF args IS NULL THEN
            skipped := skipped || CASE WHEN skipped = '' THEN '' ELSE ', ' END || r.relname;
            CONTINUE;
        END IF;
        EXECUTE format('CREATE OR REPLACE TRIGGER bw_changelog_capture AFTER INSERT OR UPDATE OR DELETE '
                       'ON %s FOR EACH ROW EXECUTE FUNCTION bw_changelog_capture(%s)', r.rel, args);
    END LOOP;
    RETURN skipped;
END $$;

CREATE FUNCTION bw_changelog_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7163425625707669351); -- "bwchglog"
    UPDATE bw_changelog_commit
       SET seq = nextval('bw_changelog_seq'),
           ts_ms = (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT
     WHERE xid = NEW.xid;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER bw_changelog_mark AFTER INSERT ON bw_changelog_commit
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bw_changelog_mark();

-- Applies one transaction's images (a JSON array of {t, o, r}) in order:
-- 'U' inserts the row or replaces the row with its primary key, 'D' deletes
-- the row with the image's primary key (absent: nothing to do). Capture is
-- off meanwhile. Restore only; trusts the table names no further than the
-- catalogue (an unknown table or one without a primary key is an error).
CREATE FUNCTION bw_changelog_apply(p JSONB) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    e JSONB;
    rel REGCLASS;
    pk TEXT;
    cols TEXT;
    setl TEXT;
    n BIGINT := 0;
BEGIN
    IF jsonb_typeof(p) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'change log transaction is not an array';
    END IF;
    PERFORM set_config('bulwark.replay', 'on', true);
    FOR e IN SELECT value FROM jsonb_array_elements(p) LOOP
        rel := to_regclass(quote_ident(e->>'t'));
        IF rel IS NULL OR e->>'t' LIKE 'bw\_changelog%' THEN
            RAISE EXCEPTION 'change log names an unknown table';
        END IF;
        SELECT string_agg(quote_ident(a.attname), ',' ORDER BY a.attnum) INTO pk
          FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = rel AND i.indisprimary;
        IF pk IS NULL THEN
            RAISE EXCEPTION 'table % has no primary key', rel;
        END IF;
        IF e->>'o' = 'D' THEN
            EXECUTE format('DELETE FROM %s WHERE (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%s, $1))',
                           rel, pk, pk, rel) USING e->'r';
        ELSIF e->>'o' = 'U' THEN
            SELECT string_agg(quote_ident(attname), ',' ORDER BY attnum) INTO cols
              FROM pg_attribute WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
            SELECT string_agg(format('%1$I = EXCLUDED.%1$I', a.attname), ',' ORDER BY a.attnum) INTO setl
              FROM pg_attribute a
             WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
               AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = rel AND i.indisprimary
                                                          AND a.attnum = ANY (i.indkey));
            EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM jsonb_populate_record(NULL::%s, $1) ON CONFLICT (%s) DO %s',
                           rel, cols, cols, rel, pk,
                           CASE WHEN setl IS NULL THEN 'NOTHING' ELSE 'UPDATE SET ' || setl END) USING e->'r';
        ELSE
            RAISE EXCEPTION 'change log operation is unknown';
        END IF;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- After a replay: every sequence behind a column of Bulwark's schema moves
-- past the largest value the replay inserted, so new rows never collide.
CREATE FUNCTION bw_changelog_resync() RETURNS VOID LANGUAGE plpgsql AS $$
DECLARE
    r RECORD;
    m BIGINT;
BEGIN
    FOR r IN SELECT s.oid::regclass AS seq, t.oid::regclass AS rel, a.attname AS col
               FROM pg_class s
               JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
                               AND d.deptype IN ('a', 'i')
               JOIN pg_class t ON t.oid = d.refobjid
               JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
              WHERE s.relkind = 'S' AND t.relnamespace = current_schema()::regnamespace LOOP
        EXECUTE format('SELECT max(%I)::BIGINT FROM %s', r.col, r.rel) INTO m;
        IF m IS NOT NULL THEN
            PERFORM setval(r.seq, GREATEST(m, (SELECT last_value FROM pg_sequences
                                                WHERE format('%I.%I', schemaname, sequencename)::regclass = r.seq)));
        END IF;
    END LOOP;
END $$;
