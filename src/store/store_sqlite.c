/*
 * store_sqlite.c - the embedded SQLite driver.
 *
 * One writer connection and a pool of reader connections on one database
 * file in WAL mode. Writers never fsync one by one: concurrent bw_store_write
 * calls queue up, the first becomes the leader and runs the whole queue in
 * one transaction (each caller inside its own savepoint, so one caller's
 * failure rolls back only its own changes), then commits once with
 * synchronous=FULL and wakes everybody. A call returns only after the commit
 * that contains it is durable (SPEC 6.2).
 *
 * The key store (decision C6) is a second database file, keys.db beside
 * the data file, ATTACHed as schema `keys` on every connection (writer and
 * readers) with the same pragmas. A transaction that writes both files is
 * committed file by file (WAL mode), never atomically across them: callers
 * commit a new key in a transaction of its own before the row that needs
 * it (data/record.c), and the migration that moved the keys out runs in
 * steps that each write one file (sq_migrate).
 *
 * Trusts: the SQL text in sql_sqlite.c and the compiled-in migrations.
 * Never: formats SQL from values, follows a symlink for the database file,
 * or leaves a file readable by group/other.
 */
#include "store/store_int.h"

/* the session extension (change log for backups, issue 6) */
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAX_BATCH = 128 };

struct sq_conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[BW_STMT__COUNT];
    sqlite3_stmt *begin, *commit; /* prepared once: reads are the hot path */
};

struct sq_tx {
    struct bw_tx base;
    struct sq_conn *conn;
};

struct sq_row {
    struct bw_row base;
    sqlite3_stmt *st;
};

struct sq_job {
    bw_tx_fn fn;
    void *arg;
    enum bw_rc rc;
    bool done;
    struct sq_job *next;
};

struct sq_store {
    char *path;
    char *keys_path; /* the key store: keys.db in the directory of path */
    struct sq_conn writer;
    pthread_mutex_t wmu;
    pthread_cond_t wcv;
    struct sq_job *head, *tail;
    bool leader_active;

    struct sq_conn *readers;
    bool *reader_busy;
    unsigned nreaders;
    unsigned readers_in_use;
    pthread_mutex_t rmu;
    pthread_cond_t rcv;

    _Atomic uint64_t commits;
    _Atomic uint64_t batches;
    _Atomic uint64_t waits;

    /* change log (backup issue 6); touched only by the writer leader */
    sqlite3_session *session;
    bw_store_change_fn log_fn;
    void *log_arg;
    uint64_t log_seq;
    int64_t log_data_version;
};

static void log_before_batch(struct sq_store *s);
static void log_after_batch(struct sq_store *s, bool committed);

static enum bw_rc map_err(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return BW_OK;
    case SQLITE_CONSTRAINT:
        return (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
                   ? BW_ERR_EXISTS
                   : BW_ERR_INVALID;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return BW_ERR_BUSY;
    case SQLITE_NOMEM:
        return BW_ERR_NOMEM;
    case SQLITE_TOOBIG:
        return BW_ERR_TOOBIG;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_IOERR:
    case SQLITE_FULL:
        return BW_ERR_IO;
    default:
        return BW_ERR_STORE;
    }
}

static void conn_close(struct sq_conn *c)
{
    for (size_t i = 0; i < BW_STMT__COUNT; i++) {
        sqlite3_finalize(c->stmts[i]);
        c->stmts[i] = NULL;
    }
    sqlite3_finalize(c->begin);
    sqlite3_finalize(c->commit);
    c->begin = c->commit = NULL;
    sqlite3_close_v2(c->db);
    c->db = NULL;
}

static void log_session_drop(struct sq_store *s);

/* Opens one connection with Bulwark's pragmas. CONTROL: BCK-durability (WAL, FULL). */
/* Attaches the key store as schema `keys` (the path is bound, never SQL text). */
static int conn_attach_keys(sqlite3 *db, const char *keys_path)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "ATTACH DATABASE ?1 AS keys", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, keys_path, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    sqlite3_finalize(st);
    return rc;
}

static enum bw_rc conn_open(struct sq_conn *c, const char *path, const char *keys_path,
                            bool create, bool reader, unsigned busy_ms, char *why, size_t whylen)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
    if (create)
        flags |= SQLITE_OPEN_CREATE;
    memset(c, 0, sizeof(*c));
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        bw_why(why, whylen, "cannot open %s: %s", path,
                c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        conn_close(c);
        return map_err(rc) == BW_ERR_IO ? BW_ERR_IO : BW_ERR_STORE;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, (int)busy_ms);
    if (keys_path != NULL && (rc = conn_attach_keys(c->db, keys_path)) != SQLITE_OK) {
        bw_why(why, whylen, "cannot attach the key store %s: %s", keys_path,
               sqlite3_errmsg(c->db));
        conn_close(c);
        return map_err(rc) == BW_ERR_IO ? BW_ERR_IO : BW_ERR_STORE;
    }
    /* secure_delete and journal_mode without a schema apply to every attached file */
    static const char *const common =
        "PRAGMA foreign_keys=ON; PRAGMA trusted_schema=OFF; PRAGMA cell_size_check=ON;"
        "PRAGMA secure_delete=ON;";
    rc = sqlite3_exec(c->db, common, NULL, NULL, NULL);
    if (rc == SQLITE_OK && !reader)
        rc = sqlite3_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL,
                          NULL, NULL);
    if (rc == SQLITE_OK && !reader && keys_path != NULL)
        rc = sqlite3_exec(c->db, "PRAGMA keys.journal_mode=WAL; PRAGMA keys.synchronous=FULL;",
                          NULL, NULL, NULL);
    if (rc == SQLITE_OK && reader)
        rc = sqlite3_exec(c->db, "PRAGMA query_only=ON;", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        bw_why(why, whylen, "cannot configure %s: %s", path, sqlite3_errmsg(c->db));
        conn_close(c);
        return map_err(rc) == BW_ERR_IO ? BW_ERR_IO : BW_ERR_STORE;
    }
    return BW_OK;
}

static void sq_close(void *impl)
{
    struct sq_store *s = impl;
    if (s == NULL)
        return;
    for (unsigned i = 0; i < s->nreaders; i++)
        conn_close(&s->readers[i]);
    log_session_drop(s);
    conn_close(&s->writer);
    pthread_mutex_destroy(&s->wmu);
    pthread_cond_destroy(&s->wcv);
    pthread_mutex_destroy(&s->rmu);
    pthread_cond_destroy(&s->rcv);
    bw_free(s->readers);
    bw_free(s->reader_busy);
    bw_free(s->path);
    bw_free(s->keys_path);
    bw_free(s);
}

/* The database file must not exist as a symlink and must stay private. */
static enum bw_rc prepare_file(const char *path, bool create, char *why, size_t whylen)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno != ENOENT || !create) {
            bw_why(why, whylen, "cannot open database %s: %s", path, strerror(errno));
            return errno == ENOENT ? BW_ERR_NOTFOUND : BW_ERR_IO;
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            bw_why(why, whylen, "cannot create database %s: %s", path, strerror(errno));
            return BW_ERR_IO;
        }
        close(fd);
        return BW_OK;
    }
    if (!S_ISREG(st.st_mode)) {
        bw_why(why, whylen, "database %s is not a regular file", path);
        return BW_ERR_PERM;
    }
    if ((st.st_mode & 077) != 0) {
        bw_why(why, whylen, "database %s is accessible by group or others (mode %03o)", path,
                (unsigned)(st.st_mode & 0777));
        return BW_ERR_PERM;
    }
    return BW_OK;
}

/* ---- the key store file (decision C6) ----------------------------------------- */

enum { KEYS_FROM_MAIN = 13 }; /* main migration 0013 needs the key store migrated first */

static enum bw_rc read_version(sqlite3 *db, int *out);

/* keys.db in the directory of the database file (bw_malloc'd). */
static char *keys_path_of(const char *target)
{
    const char *slash = strrchr(target, '/');
    size_t dlen = slash != NULL ? (size_t)(slash - target) + 1 : 0;
    if (strcmp(target + dlen, "keys.db") == 0)
        return NULL; /* the key store is never a data store */
    char *p = bw_malloc(dlen + sizeof("keys.db"));
    if (p == NULL)
        return NULL;
    memcpy(p, target, dlen);
    memcpy(p + dlen, "keys.db", sizeof("keys.db"));
    return p;
}

/* The key store must exist once the data file is at 0013 or later: a
 * missing one is never silently replaced by an empty one (every sealed
 * record would fail to open, and new keys would mix with old ones). */
static enum bw_rc keys_file(struct sq_store *s, bool create, unsigned busy, char *why,
                            size_t whylen)
{
    struct stat st;
    int have = 0;
    if (lstat(s->keys_path, &st) == 0)
        return prepare_file(s->keys_path, false, why, whylen);
    if (errno != ENOENT) {
        bw_why(why, whylen, "cannot open the key store %s: %s", s->keys_path, strerror(errno));
        return BW_ERR_IO;
    }
    enum bw_rc rc = conn_open(&s->writer, s->path, NULL, false, false, busy, why, whylen);
    if (rc == BW_OK)
        rc = read_version(s->writer.db, &have);
    conn_close(&s->writer);
    if (rc != BW_OK)
        return rc;
    if (!create && have >= KEYS_FROM_MAIN) {
        bw_why(why, whylen, "the key store %s is missing: restore it beside the data "
               "(docs/RESTORE.md)", s->keys_path);
        return BW_ERR_NOTFOUND;
    }
    return prepare_file(s->keys_path, true, why, whylen);
}

static enum bw_rc sq_open(const char *target, const struct bw_store_opts *opts, void **impl,
                          char *why, size_t whylen)
{
    unsigned pool = opts != NULL && opts->pool_size > 0 ? opts->pool_size : 4;
    unsigned busy = opts != NULL && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
    bool create = opts != NULL && opts->create;
    enum bw_rc rc = prepare_file(target, create, why, whylen);
    if (rc != BW_OK)
        return rc;
    struct sq_store *s = bw_calloc(1, sizeof(*s));
    if (s == NULL)
        return BW_ERR_NOMEM;
    pthread_mutex_init(&s->wmu, NULL);
    pthread_cond_init(&s->wcv, NULL);
    pthread_mutex_init(&s->rmu, NULL);
    pthread_cond_init(&s->rcv, NULL);
    s->path = bw_strdup(target);
    s->keys_path = keys_path_of(target);
    s->readers = bw_calloc(pool, sizeof(*s->readers));
    s->reader_busy = bw_calloc(pool, sizeof(*s->reader_busy));
    if (s->path == NULL || s->keys_path == NULL || s->readers == NULL ||
        s->reader_busy == NULL) {
        rc = BW_ERR_NOMEM;
        goto out;
    }
    rc = keys_file(s, create, busy, why, whylen);
    if (rc == BW_OK)
        rc = conn_open(&s->writer, target, s->keys_path, false, false, busy, why, whylen);
    for (unsigned i = 0; rc == BW_OK && i < pool; i++) {
        rc = conn_open(&s->readers[i], target, s->keys_path, false, true, busy, why, whylen);
        if (rc == BW_OK)
            s->nreaders++;
    }
out:
    if (rc != BW_OK) {
        sq_close(s);
        return rc;
    }
    *impl = s;
    return BW_OK;
}

/* ---- statements ----------------------------------------------------------- */

static enum bw_rc stmt_get(struct sq_conn *c, enum bw_stmt id, const struct bw_val *params,
                           size_t n, sqlite3_stmt **out)
{
    if (c->stmts[id] == NULL) {
        const char *sql = bw_sql_sqlite[id];
        if (sql == NULL)
            return BW_ERR_INTERNAL;
        int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->stmts[id],
                                    NULL);
        if (rc != SQLITE_OK) {
            bw_log(BW_LOG_ERROR, "store.sqlite", "prepare of statement %d failed: %s", (int)id,
                   sqlite3_errmsg(c->db));
            return BW_ERR_STORE;
        }
    }
    sqlite3_stmt *st = c->stmts[id];
    if ((size_t)sqlite3_bind_parameter_count(st) != n)
        return BW_ERR_INTERNAL; /* caller passed the wrong parameter list */
    for (size_t i = 0; i < n; i++) {
        int col = (int)i + 1;
        int rc = SQLITE_OK;
        const struct bw_val *v = &params[i];
        switch (v->type) {
        case BW_VAL_NULL:
            rc = sqlite3_bind_null(st, col);
            break;
        case BW_VAL_INT:
            rc = sqlite3_bind_int64(st, col, v->i);
            break;
        case BW_VAL_TEXT:
            rc = sqlite3_bind_text64(st, col, v->p, v->len, SQLITE_STATIC, SQLITE_UTF8);
            break;
        case BW_VAL_BLOB:
            rc = v->len == 0 ? sqlite3_bind_zeroblob(st, col, 0)
                             : sqlite3_bind_blob64(st, col, v->p, v->len, SQLITE_STATIC);
            break;
        }
        if (rc != SQLITE_OK) {
            sqlite3_clear_bindings(st);
            return map_err(rc);
        }
    }
    *out = st;
    return BW_OK;
}

static void stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static enum bw_rc sq_exec(struct bw_tx *tx, enum bw_stmt id, const struct bw_val *params,
                          size_t n, uint64_t *changes)
{
    struct sq_tx *t = (struct sq_tx *)tx;
    sqlite3_stmt *st;
    enum bw_rc rc = stmt_get(t->conn, id, params, n, &st);
    if (rc != BW_OK)
        return rc;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        ;
    rc = map_err(s);
    if (rc == BW_OK && changes != NULL)
        *changes = (uint64_t)sqlite3_changes64(t->conn->db);
    stmt_done(st);
    return rc;
}

static enum bw_rc sq_query(struct bw_tx *tx, enum bw_stmt id, const struct bw_val *params,
                           size_t n, bw_row_fn fn, void *arg)
{
    struct sq_tx *t = (struct sq_tx *)tx;
    sqlite3_stmt *st;
    enum bw_rc rc = stmt_get(t->conn, id, params, n, &st);
    if (rc != BW_OK)
        return rc;
    struct sq_row row = {.base = {.ops = &bw_store_sqlite_ops}, .st = st};
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        rc = fn(arg, &row.base);
        if (rc != BW_OK)
            break;
    }
    if (rc == BW_OK)
        rc = map_err(s);
    stmt_done(st);
    return rc;
}

static size_t sq_row_count(const struct bw_row *row)
{
    return (size_t)sqlite3_column_count(((const struct sq_row *)row)->st);
}

static bool sq_row_is_null(const struct bw_row *row, size_t col)
{
    return sqlite3_column_type(((const struct sq_row *)row)->st, (int)col) == SQLITE_NULL;
}

static int64_t sq_row_int(const struct bw_row *row, size_t col)
{
    return sqlite3_column_int64(((const struct sq_row *)row)->st, (int)col);
}

static const char *sq_row_text(const struct bw_row *row, size_t col, size_t *len)
{
    sqlite3_stmt *st = ((const struct sq_row *)row)->st;
    const char *t = (const char *)sqlite3_column_text(st, (int)col);
    if (len != NULL)
        *len = (size_t)sqlite3_column_bytes(st, (int)col);
    return t;
}

static const void *sq_row_blob(const struct bw_row *row, size_t col, size_t *len)
{
    sqlite3_stmt *st = ((const struct sq_row *)row)->st;
    const void *b = sqlite3_column_blob(st, (int)col);
    if (len != NULL)
        *len = (size_t)sqlite3_column_bytes(st, (int)col);
    return b;
}

/* ---- transactions: group commit ------------------------------------------- */

static enum bw_rc exec_sql(sqlite3 *db, const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        bw_log(BW_LOG_ERROR, "store.sqlite", "%s: %s", sql, sqlite3_errmsg(db));
    return map_err(rc);
}

/* Runs one batch of jobs in a single transaction on the writer connection.
 * Called by the leader without wmu held; only the leader touches writer. */
static void run_batch(struct sq_store *s, struct sq_job *batch)
{
    struct sq_tx tx = {.base = {.ops = &bw_store_sqlite_ops}, .conn = &s->writer};
    sqlite3 *db = s->writer.db;
    if (s->log_fn != NULL)
        log_before_batch(s);
    enum bw_rc rc = exec_sql(db, "BEGIN IMMEDIATE");
    for (struct sq_job *j = batch; j != NULL; j = j->next) {
        if (rc != BW_OK) {
            j->rc = rc;
            continue;
        }
        j->rc = exec_sql(db, "SAVEPOINT bw_job");
        if (j->rc == BW_OK)
            j->rc = j->fn(&tx.base, j->arg);
        if (j->rc != BW_OK && exec_sql(db, "ROLLBACK TO bw_job") != BW_OK)
            rc = BW_ERR_STORE; /* the transaction is unusable: fail the rest */
        if (exec_sql(db, "RELEASE bw_job") != BW_OK && j->rc == BW_OK)
            j->rc = rc = BW_ERR_STORE;
    }
    if (rc == BW_OK)
        rc = exec_sql(db, "COMMIT");
    if (rc != BW_OK) {
        if (!sqlite3_get_autocommit(db))
            (void)exec_sql(db, "ROLLBACK");
        for (struct sq_job *j = batch; j != NULL; j = j->next) {
            if (j->rc == BW_OK)
                j->rc = rc;
        }
        if (s->log_fn != NULL)
            log_after_batch(s, false);
        return;
    }
    if (s->log_fn != NULL)
        log_after_batch(s, true);
    atomic_fetch_add(&s->batches, 1);
    for (struct sq_job *j = batch; j != NULL; j = j->next) {
        if (j->rc == BW_OK)
            atomic_fetch_add(&s->commits, 1);
    }
}

static enum bw_rc sq_write(void *impl, bw_tx_fn fn, void *arg)
{
    struct sq_store *s = impl;
    struct sq_job job = {.fn = fn, .arg = arg};
    pthread_mutex_lock(&s->wmu);
    if (s->tail != NULL)
        s->tail->next = &job;
    else
        s->head = &job;
    s->tail = &job;
    while (!job.done) {
        if (s->leader_active) {
            pthread_cond_wait(&s->wcv, &s->wmu);
            continue;
        }
        /* become the leader: take up to MAX_BATCH queued jobs */
        s->leader_active = true;
        struct sq_job *batch = s->head, *last = s->head;
        for (int n = 1; n < MAX_BATCH && last->next != NULL; n++)
            last = last->next;
        s->head = last->next;
        if (s->head == NULL)
            s->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&s->wmu);
        run_batch(s, batch);
        pthread_mutex_lock(&s->wmu);
        for (struct sq_job *j = batch, *nx; j != NULL; j = nx) {
            nx = j->next;
            j->done = true;
        }
        s->leader_active = false;
        pthread_cond_broadcast(&s->wcv);
    }
    enum bw_rc rc = job.rc;
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

/* Runs a fixed statement prepared once per connection (BEGIN, COMMIT). */
static enum bw_rc step_once(sqlite3 *db, sqlite3_stmt **st, const char *sql)
{
    if (*st == NULL && sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) !=
                           SQLITE_OK)
        return BW_ERR_STORE;
    int rc = sqlite3_step(*st);
    sqlite3_reset(*st);
    if (rc != SQLITE_DONE)
        bw_log(BW_LOG_ERROR, "store.sqlite", "%s: %s", sql, sqlite3_errmsg(db));
    return rc == SQLITE_DONE ? BW_OK : map_err(rc);
}

static enum bw_rc sq_read(void *impl, bw_tx_fn fn, void *arg)
{
    struct sq_store *s = impl;
    unsigned idx = 0;
    pthread_mutex_lock(&s->rmu);
    while (s->readers_in_use == s->nreaders) {
        atomic_fetch_add(&s->waits, 1);
        pthread_cond_wait(&s->rcv, &s->rmu);
    }
    while (s->reader_busy[idx])
        idx++;
    s->reader_busy[idx] = true;
    s->readers_in_use++;
    pthread_mutex_unlock(&s->rmu);

    struct sq_tx tx = {.base = {.ops = &bw_store_sqlite_ops}, .conn = &s->readers[idx]};
    sqlite3 *db = s->readers[idx].db;
    enum bw_rc rc = step_once(db, &s->readers[idx].begin, "BEGIN");
    if (rc == BW_OK) {
        rc = fn(&tx.base, arg);
        enum bw_rc crc = step_once(db, &s->readers[idx].commit, "COMMIT");
        if (rc == BW_OK)
            rc = crc;
        if (!sqlite3_get_autocommit(db))
            (void)exec_sql(db, "ROLLBACK");
    }

    pthread_mutex_lock(&s->rmu);
    s->reader_busy[idx] = false;
    s->readers_in_use--;
    pthread_cond_signal(&s->rcv);
    pthread_mutex_unlock(&s->rmu);
    return rc;
}

/* ---- schema ---------------------------------------------------------------- */

struct version_q {
    int version;
};

static int version_cb(void *arg, int ncol, char **vals, char **names)
{
    struct version_q *q = arg;
    uint64_t v = 0;
    if (ncol == 1 && vals[0] != NULL && bw_parse_u64(vals[0], 1000000, &v) == BW_OK)
        q->version = (int)v;
    return 0;
}

static enum bw_rc read_version(sqlite3 *db, int *out)
{
    struct version_q q = {0};
    int rc = sqlite3_exec(db,
                          "SELECT CASE WHEN EXISTS (SELECT 1 FROM sqlite_schema WHERE type='table'"
                          " AND name='bw_schema_migrations') THEN 1 ELSE 0 END",
                          version_cb, &q, NULL);
    if (rc != SQLITE_OK)
        return map_err(rc);
    if (q.version == 0) {
        *out = 0;
        return BW_OK;
    }
    q.version = 0;
    rc = sqlite3_exec(db, "SELECT coalesce(max(version),0) FROM bw_schema_migrations", version_cb,
                      &q, NULL);
    if (rc != SQLITE_OK)
        return map_err(rc);
    *out = q.version;
    return BW_OK;
}

/* Version of the key store's own migrations (0: none yet). */
static enum bw_rc read_keys_version(sqlite3 *db, int *out)
{
    struct version_q q = {0};
    int rc = sqlite3_exec(db,
                          "SELECT CASE WHEN EXISTS (SELECT 1 FROM keys.sqlite_schema WHERE "
                          "type='table' AND name='bw_keys_migrations') THEN 1 ELSE 0 END",
                          version_cb, &q, NULL);
    if (rc == SQLITE_OK && q.version == 1) {
        q.version = 0;
        rc = sqlite3_exec(db, "SELECT coalesce(max(version),0) FROM keys.bw_keys_migrations",
                          version_cb, &q, NULL);
    }
    if (rc != SQLITE_OK)
        return map_err(rc);
    *out = q.version;
    return BW_OK;
}

/* One step of sq_migrate: the main migrations in [from, below), or (keys)
 * the key store's migrations. Each step writes one file only. */
struct migrate_ctx {
    int version;
    int from, below;
    bool keys;
};

static enum bw_rc migrate_keys(sqlite3 *db)
{
    enum bw_rc rc = exec_sql(db, "CREATE TABLE IF NOT EXISTS keys.bw_keys_migrations ("
                                 " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                                 " applied_at TEXT NOT NULL DEFAULT"
                                 " (strftime('%Y-%m-%dT%H:%M:%SZ','now'))) STRICT");
    int have = 0;
    if (rc == BW_OK)
        rc = read_keys_version(db, &have);
    for (size_t i = 0; rc == BW_OK && i < bw_migrations_sqlite_keys_count; i++) {
        const struct bw_migration *mg = &bw_migrations_sqlite_keys[i];
        sqlite3_stmt *st = NULL;
        if (mg->version <= have)
            continue;
        rc = exec_sql(db, mg->sql);
        if (rc == BW_OK && sqlite3_prepare_v2(db, "INSERT INTO keys.bw_keys_migrations(version, "
                                                  "name) VALUES (?1, ?2)",
                                              -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int(st, 1, mg->version);
            sqlite3_bind_text(st, 2, mg->name, -1, SQLITE_STATIC);
            rc = map_err(sqlite3_step(st));
        } else if (rc == BW_OK) {
            rc = BW_ERR_STORE;
        }
        sqlite3_finalize(st);
    }
    return rc;
}

static enum bw_rc migrate_fn(struct bw_tx *tx, void *arg)
{
    struct migrate_ctx *m = arg;
    sqlite3 *db = ((struct sq_tx *)tx)->conn->db;
    if (m->keys)
        return migrate_keys(db);
    enum bw_rc rc = exec_sql(db, "CREATE TABLE IF NOT EXISTS main.bw_schema_migrations ("
                                 " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                                 " applied_at TEXT NOT NULL DEFAULT"
                                 " (strftime('%Y-%m-%dT%H:%M:%SZ','now'))) STRICT");
    int have = 0;
    if (rc == BW_OK)
        rc = read_version(db, &have);
    for (size_t i = 0; rc == BW_OK && i < bw_migrations_sqlite_count; i++) {
        const struct bw_migration *mg = &bw_migrations_sqlite[i];
        if (mg->version <= have || mg->version < m->from || mg->version >= m->below)
            continue;
        rc = exec_sql(db, mg->sql);
        sqlite3_stmt *st = NULL;
        if (rc == BW_OK &&
            sqlite3_prepare_v2(db, "INSERT INTO main.bw_schema_migrations(version, name) VALUES (?1, ?2)",
                               -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int(st, 1, mg->version);
            sqlite3_bind_text(st, 2, mg->name, -1, SQLITE_STATIC);
            rc = map_err(sqlite3_step(st));
        } else if (rc == BW_OK) {
            rc = BW_ERR_STORE;
        }
        sqlite3_finalize(st);
    }
    if (rc == BW_OK)
        rc = read_version(db, &m->version);
    return rc;
}

/* Three committed steps, each writing one file: the data file's migrations
 * before 0013, the key store's own (tables, and a copy of the key rows the
 * data file still holds), then 0013 and later (which drop those rows from
 * the data file). A crash between two steps leaves a state the next run
 * completes; never a data file whose keys exist nowhere. */
static enum bw_rc sq_migrate(void *impl, int *version)
{
    struct migrate_ctx before = {.from = 0, .below = KEYS_FROM_MAIN};
    struct migrate_ctx keys = {.keys = true};
    struct migrate_ctx after = {.from = KEYS_FROM_MAIN, .below = INT32_MAX};
    enum bw_rc rc = sq_write(impl, migrate_fn, &before);
    if (rc == BW_OK)
        rc = sq_write(impl, migrate_fn, &keys);
    if (rc == BW_OK)
        rc = sq_write(impl, migrate_fn, &after);
    if (rc == BW_OK)
        *version = after.version;
    return rc;
}

/* The data file's version, held below 0013 while the key store lags. */
static enum bw_rc version_fn(struct bw_tx *tx, void *arg)
{
    int *have = arg, main_v = 0, keys_v = 0;
    sqlite3 *db = ((struct sq_tx *)tx)->conn->db;
    enum bw_rc rc = read_version(db, &main_v);
    if (rc == BW_OK)
        rc = read_keys_version(db, &keys_v);
    if (rc != BW_OK)
        return rc;
    int want_keys = bw_migrations_latest(bw_migrations_sqlite_keys,
                                         bw_migrations_sqlite_keys_count);
    *have = keys_v < want_keys && main_v >= KEYS_FROM_MAIN ? KEYS_FROM_MAIN - 1 : main_v;
    return BW_OK;
}

static enum bw_rc sq_schema_version(void *impl, int *have)
{
    int v = 0;
    enum bw_rc rc = sq_read(impl, version_fn, &v);
    if (rc == BW_OK)
        *have = v;
    return rc;
}

struct check_ctx {
    char *why;
    size_t whylen;
    bool ok;
    int rows;
};

static int check_cb(void *arg, int ncol, char **vals, char **names)
{
    struct check_ctx *c = arg;
    c->rows++;
    if (ncol >= 1 && vals[0] != NULL && strcmp(vals[0], "ok") == 0 && c->rows == 1)
        return 0;
    if (c->ok)
        bw_why(c->why, c->whylen, "integrity check: %s", vals[0] ? vals[0] : "(null)");
    c->ok = false;
    return 0;
}

static enum bw_rc check_fn(struct bw_tx *tx, void *arg)
{
    struct check_ctx *c = arg;
    sqlite3 *db = ((struct sq_tx *)tx)->conn->db;
    int rc = sqlite3_exec(db, "PRAGMA integrity_check", check_cb, c, NULL);
    if (rc == SQLITE_OK && c->ok) {
        c->rows = 1; /* foreign_key_check returns no rows when clean */
        rc = sqlite3_exec(db, "PRAGMA foreign_key_check", check_cb, c, NULL);
    }
    if (rc != SQLITE_OK) {
        bw_why(c->why, c->whylen, "integrity check failed: %s", sqlite3_errmsg(db));
        return map_err(rc) == BW_OK ? BW_ERR_STORE : map_err(rc);
    }
    return c->ok ? BW_OK : BW_ERR_IO;
}

static enum bw_rc sq_check(void *impl, char *why, size_t whylen)
{
    struct check_ctx c = {.why = why, .whylen = whylen, .ok = true};
    return sq_read(impl, check_fn, &c);
}

static void sq_stats(void *impl, struct bw_store_stats *out)
{
    struct sq_store *s = impl;
    pthread_mutex_lock(&s->rmu);
    out->pool_size = s->nreaders;
    out->pool_in_use = s->readers_in_use;
    pthread_mutex_unlock(&s->rmu);
    out->commits = atomic_load(&s->commits);
    out->commit_batches = atomic_load(&s->batches);
    out->waits = atomic_load(&s->waits);
}

/* ---- backup support (issue 6) ----------------------------------------------
 * Snapshot: a read-only connection starts its read transaction while the
 * writer is held between batches, so the change-log position of the copy is
 * exact; the pages are then copied with the online backup API while writers
 * go on. Change log: a session-extension session on the writer connection
 * records every row change of a batch; after the COMMIT the batch's
 * changeset goes to the registered function with the next sequence number.
 * A commit by another connection (PRAGMA data_version moved) is reported as
 * a gap, so a restore never silently misses it. */

/* Makes the caller the writer leader (waits for the batch in flight). */
static void writer_hold(struct sq_store *s)
{
    pthread_mutex_lock(&s->wmu);
    while (s->leader_active)
        pthread_cond_wait(&s->wcv, &s->wmu);
    s->leader_active = true;
    pthread_mutex_unlock(&s->wmu);
}

static void writer_release(struct sq_store *s)
{
    pthread_mutex_lock(&s->wmu);
    s->leader_active = false;
    pthread_cond_broadcast(&s->wcv);
    pthread_mutex_unlock(&s->wmu);
}

static int64_t data_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void log_session_drop(struct sq_store *s)
{
    if (s->session != NULL)
        sqlite3session_delete(s->session);
    s->session = NULL;
}

static enum bw_rc log_session_new(struct sq_store *s)
{
    log_session_drop(s);
    if (sqlite3session_create(s->writer.db, "main", &s->session) != SQLITE_OK)
        return BW_ERR_STORE;
    if (sqlite3session_attach(s->session, NULL) != SQLITE_OK) { /* every table, also later ones */
        log_session_drop(s);
        return BW_ERR_STORE;
    }
    return BW_OK;
}

static void log_gap(struct sq_store *s)
{
    s->log_seq++;
    s->log_fn(s->log_arg, s->log_seq, bw_time_now_ms(), NULL, 0);
}

static void log_before_batch(struct sq_store *s)
{
    int64_t v = data_version(s->writer.db);
    if (v != s->log_data_version) {
        s->log_data_version = v;
        log_gap(s);
    }
    if (s->session == NULL && log_session_new(s) != BW_OK)
        log_gap(s);
}

static void log_after_batch(struct sq_store *s, bool committed)
{
    int n = 0;
    void *p = NULL;
    if (committed && s->session != NULL) {
        if (sqlite3session_changeset(s->session, &n, &p) != SQLITE_OK) {
            log_gap(s); /* the commit happened but could not be captured */
        } else if (n > 0) {
            s->log_seq++;
            s->log_fn(s->log_arg, s->log_seq, bw_time_now_ms(), p, (size_t)n);
        }
        sqlite3_free(p);
    }
    if (log_session_new(s) != BW_OK)
        log_gap(s);
}

/* Names the tables the session extension cannot log (no PRIMARY KEY). */
static void tables_without_pk(sqlite3 *db, char *why, size_t whylen)
{
    sqlite3_stmt *st = NULL;
    size_t off = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT m.name FROM sqlite_schema m WHERE m.type = 'table' AND "
                           "m.name NOT LIKE 'sqlite_%' AND NOT EXISTS (SELECT 1 FROM "
                           "pragma_table_info(m.name) p WHERE p.pk > 0) ORDER BY m.name",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    while (sqlite3_step(st) == SQLITE_ROW && why != NULL && off < whylen) {
        int n = snprintf(why + off, whylen - off, "%s%s", off == 0 ? "not logged (no primary key): "
                                                                   : ", ",
                         (const char *)sqlite3_column_text(st, 0));
        if (n < 0)
            break;
        off += (size_t)n;
    }
    sqlite3_finalize(st);
}

static enum bw_rc sq_changelog(void *impl, bw_store_change_fn fn, void *arg, char *why,
                               size_t whylen)
{
    struct sq_store *s = impl;
    enum bw_rc rc = BW_OK;
    writer_hold(s);
    if (fn == NULL) {
        log_session_drop(s);
        s->log_fn = NULL;
    } else {
        s->log_fn = fn;
        s->log_arg = arg;
        s->log_data_version = data_version(s->writer.db);
        rc = log_session_new(s);
        if (rc != BW_OK)
            s->log_fn = NULL;
        else
            tables_without_pk(s->writer.db, why, whylen);
    }
    writer_release(s);
    return rc;
}

/* Copies the open database `src` into the file `dest` with the online backup
 * API while writers go on; an SQLite code. *dst stays open for the caller
 * (its error message), which closes it. */
static int copy_database(sqlite3 *src, const char *dest, sqlite3 **dst)
{
    int r = sqlite3_open_v2(dest, dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
    if (r != SQLITE_OK)
        return r;
    sqlite3_backup *b = sqlite3_backup_init(*dst, "main", src, "main");
    r = b == NULL ? sqlite3_errcode(*dst) : sqlite3_backup_step(b, -1);
    if (r == SQLITE_DONE)
        r = SQLITE_OK;
    int f = b != NULL ? sqlite3_backup_finish(b) : SQLITE_OK;
    return r == SQLITE_OK ? f : r;
}

/* The answer of a failed copy_database, naming what and why. */
static enum bw_rc copy_failed(int r, sqlite3 *src, sqlite3 *dst, const char *what,
                              const char *path, char *why, size_t whylen)
{
    bw_why(why, whylen, "%s %s failed: %s", what, path,
           dst != NULL ? sqlite3_errmsg(dst) : src != NULL ? sqlite3_errmsg(src)
                                                           : sqlite3_errstr(r));
    return map_err(r) == BW_ERR_IO ? BW_ERR_IO : BW_ERR_STORE;
}

/* Copies the first `size` bytes of the file `from` into the new file `to`
 * inside the kernel; false when it cannot (the caller falls back). The copy
 * runs in a child process: closing a descriptor of the database file in
 * this process would drop every POSIX lock SQLite holds on it here, and
 * another process could then take the write-ahead log away from under our
 * connections. The child makes system calls only, then _exit()s. */
static bool copy_bytes(const char *from, const char *to, off_t size)
{
    int status = 0;
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        int in = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        int out = open(to, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
        bool ok = in >= 0 && out >= 0;
        for (off_t done = 0; ok && done < size;) {
            ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)(size - done), 0);
            ok = n > 0;
            done += ok ? n : 0;
        }
        if (!ok && out >= 0 && ftruncate(out, 0) != 0)
            _exit(2);
        _exit(ok ? 0 : 1);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return false;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Whether the write-ahead log beside the database is empty (or absent). */
static bool wal_empty(const char *db)
{
    char wal[4096];
    struct stat st;
    if (snprintf(wal, sizeof(wal), "%s-wal", db) >= (int)sizeof(wal))
        return false;
    return lstat(wal, &st) == 0 ? S_ISREG(st.st_mode) && st.st_size == 0 : errno == ENOENT;
}

/* Opens *src read-only and starts its read transaction between two commit
 * batches, right after a TRUNCATE checkpoint; *file_alone: the write-ahead
 * log is empty with the snapshot held, so the snapshot is the database file
 * alone. *seq: the change-log position. An SQLite code. */
static int pin_read(struct sq_store *s, sqlite3 **src, bool *file_alone, uint64_t *seq)
{
    int ck = SQLITE_ERROR, wal_frames = -1, backfilled = -1;
    int r = sqlite3_open_v2(s->path, src,
                            SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
                            NULL);
    if (r == SQLITE_OK) {
        writer_hold(s);
        ck = sqlite3_wal_checkpoint_v2(s->writer.db, "main", SQLITE_CHECKPOINT_TRUNCATE,
                                       &wal_frames, &backfilled);
        r = sqlite3_exec(*src, "BEGIN; SELECT count(*) FROM sqlite_schema;", NULL, NULL, NULL);
        *seq = s->log_seq;
        writer_release(s);
    }
    *file_alone = r == SQLITE_OK && ck == SQLITE_OK && wal_frames == 0 && wal_empty(s->path);
    return r;
}

/* The read snapshot is pinned between two commit batches, right after a
 * TRUNCATE checkpoint. When the checkpoint emptied the write-ahead log and it
 * is still empty once the read transaction holds its snapshot, that snapshot
 * is the database file alone: SQLite then reads it through read-lock 0, and
 * no checkpoint may write into the file while such a reader lives. The file's
 * bytes are copied in the kernel (no page-by-page copy through SQLite); a
 * backup copies only when sq_pin cannot read the file in place (a file
 * beyond SQLite's memory-map limit).
 * Otherwise (readers kept the log, another process wrote in between, a
 * kernel without copy_file_range) the online backup API copies the pages. */
static enum bw_rc sq_snapshot(void *impl, const char *dest, uint64_t *log_seq, char *why,
                              size_t whylen)
{
    struct sq_store *s = impl;
    sqlite3 *src = NULL, *dst = NULL;
    uint64_t seq = 0;
    bool file_alone = false;
    struct stat fst;
    enum bw_rc rc = prepare_file(dest, true, why, whylen);
    if (rc != BW_OK)
        return rc;
    int r = pin_read(s, &src, &file_alone, &seq);
    bool whole_file = r == SQLITE_OK && file_alone && stat(s->path, &fst) == 0 &&
                      copy_bytes(s->path, dest, fst.st_size);
    if (r == SQLITE_OK && !whole_file)
        r = copy_database(src, dest, &dst);
    if (r != SQLITE_OK)
        rc = copy_failed(r, src, dst, "snapshot of", s->path, why, whylen);
    sqlite3_close_v2(dst);
    sqlite3_close_v2(src); /* ends the read transaction: after the copy */
    if (rc == BW_OK)
        *log_seq = seq;
    return rc;
}

/* ---- the snapshot read in place (bw_store_snapshot_pin) ------------------
 * The read snapshot is pinned as in sq_snapshot. When it is the database
 * file alone, SQLite's own handle of that file maps it (xFetch of the
 * version-3 VFS methods, after SQLITE_FCNTL_MMAP_SIZE): this process never
 * opens or closes the file itself, so SQLite's POSIX locks stay. */
struct sq_pin {
    sqlite3 *src;
    sqlite3_file *f;
    void *map;
};

static void sq_unpin(void *handle)
{
    struct sq_pin *p = handle;
    if (p == NULL)
        return;
    if (p->map != NULL)
        (void)p->f->pMethods->xUnfetch(p->f, 0, p->map);
    sqlite3_close_v2(p->src); /* ends the read transaction: after the last read */
    bw_free(p);
}

static enum bw_rc sq_pin(void *impl, const uint8_t **data, size_t *len, uint64_t *log_seq,
                         void **handle, char *why, size_t whylen)
{
    struct sq_store *s = impl;
    struct sq_pin *p = bw_calloc(1, sizeof(*p));
    uint64_t seq = 0;
    bool file_alone = false;
    struct stat fst;
    (void)why;
    (void)whylen;
    if (p == NULL)
        return BW_ERR_NOMEM;
    /* a file beyond what one fetch maps is copied instead: decline before
     * pinning, so the caller's pin does the only checkpoint */
    if (stat(s->path, &fst) != 0 || fst.st_size <= 0 || fst.st_size > INT_MAX) {
        bw_free(p);
        return BW_ERR_UNSUPPORTED;
    }
    int r = pin_read(s, &p->src, &file_alone, &seq);
    bool ok = r == SQLITE_OK && file_alone && stat(s->path, &fst) == 0 && fst.st_size > 0 &&
              fst.st_size <= INT_MAX &&
              sqlite3_file_control(p->src, "main", SQLITE_FCNTL_FILE_POINTER, &p->f) ==
                  SQLITE_OK &&
              p->f != NULL && p->f->pMethods != NULL && p->f->pMethods->iVersion >= 3 &&
              p->f->pMethods->xFetch != NULL;
    sqlite3_int64 limit = ok ? (sqlite3_int64)fst.st_size : 0;
    ok = ok && sqlite3_file_control(p->src, "main", SQLITE_FCNTL_MMAP_SIZE, &limit) == SQLITE_OK &&
         p->f->pMethods->xFetch(p->f, 0, (int)fst.st_size, &p->map) == SQLITE_OK &&
         p->map != NULL;
    if (!ok) { /* no error: the caller copies the snapshot instead */
        sq_unpin(p);
        return BW_ERR_UNSUPPORTED;
    }
    *data = p->map;
    *len = (size_t)fst.st_size;
    *log_seq = seq;
    *handle = p;
    return BW_OK;
}

/* Replay is convergent: a changed or already present row is replaced, a
 * missing row of a delete or update is skipped. */
static int apply_conflict(void *ctx, int kind, sqlite3_changeset_iter *it)
{
    (void)ctx;
    (void)it;
    if (kind == SQLITE_CHANGESET_DATA || kind == SQLITE_CHANGESET_CONFLICT)
        return SQLITE_CHANGESET_REPLACE;
    return SQLITE_CHANGESET_OMIT;
}

static enum bw_rc sq_apply_changes(void *impl, const void *data, size_t len)
{
    struct sq_store *s = impl;
    if (len > INT32_MAX)
        return BW_ERR_TOOBIG;
    writer_hold(s);
    int r = sqlite3changeset_apply(s->writer.db, (int)len, (void *)data, NULL, apply_conflict,
                                   NULL);
    if (r != SQLITE_OK)
        bw_log(BW_LOG_ERROR, "store.sqlite", "applying a change set: %s",
               sqlite3_errmsg(s->writer.db));
    writer_release(s);
    return map_err(r);
}

/* The snapshot is a database file: it becomes the target by rename. */
static enum bw_rc sq_load_snapshot(const char *target, const char *snapshot, char *why,
                                   size_t whylen)
{
    struct stat st;
    if (lstat(target, &st) == 0) {
        bw_why(why, whylen, "%s already exists", target);
        return BW_ERR_EXISTS;
    }
    if (rename(snapshot, target) != 0) {
        bw_why(why, whylen, "cannot move the snapshot to %s: %s", target, strerror(errno));
        return BW_ERR_IO;
    }
    return BW_OK;
}

/* records feature: a TRUNCATE checkpoint on the writer connection while no
 * batch runs (the writer takes the leader's place for its duration). zDb
 * NULL checkpoints every attached file: the data file AND the key store
 * (decision C6: no destroyed key stays behind in keys.db-wal). */
static enum bw_rc sq_checkpoint(void *impl)
{
    struct sq_store *s = impl;
    pthread_mutex_lock(&s->wmu);
    while (s->leader_active)
        pthread_cond_wait(&s->wcv, &s->wmu);
    s->leader_active = true;
    pthread_mutex_unlock(&s->wmu);
    int log = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(s->writer.db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log,
                                       &done);
    pthread_mutex_lock(&s->wmu);
    s->leader_active = false;
    pthread_cond_broadcast(&s->wcv);
    pthread_mutex_unlock(&s->wmu);
    return map_err(rc);
}

/* backup incrementals from the change log (issue 6, backup2): a commit by
 * another process since the last batch becomes a gap now, not at the next
 * batch, so a backup built from the log up to here cannot miss it. */
static enum bw_rc sq_changelog_sync(void *impl)
{
    struct sq_store *s = impl;
    writer_hold(s);
    if (s->log_fn != NULL) {
        int64_t v = data_version(s->writer.db);
        if (v != s->log_data_version) {
            s->log_data_version = v;
            log_gap(s);
        }
    }
    writer_release(s);
    return BW_OK;
}

/* ---- the key store's own copy (decision C6) ----------------------------------
 * A separate read-only connection on keys.db alone: the online backup API
 * copies it from one read snapshot while the writer goes on. */
static enum bw_rc sq_keys_snapshot(void *impl, const char *dest, char *why, size_t whylen)
{
    struct sq_store *s = impl;
    sqlite3 *src = NULL, *dst = NULL;
    enum bw_rc rc = prepare_file(dest, true, why, whylen);
    if (rc != BW_OK)
        return rc;
    int r = sqlite3_open_v2(s->keys_path, &src,
                            SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
                            NULL);
    if (r == SQLITE_OK)
        r = copy_database(src, dest, &dst);
    if (r != SQLITE_OK)
        rc = copy_failed(r, src, dst, "copy of the key store", s->keys_path, why, whylen);
    sqlite3_close_v2(dst);
    sqlite3_close_v2(src);
    return rc;
}

/* The copy becomes keys.db beside the target by rename (same file system). */
static enum bw_rc sq_keys_load(const char *target, const char *snapshot, char *why,
                               size_t whylen)
{
    struct stat st;
    char *kp = keys_path_of(target);
    enum bw_rc rc = BW_OK;
    if (kp == NULL)
        return BW_ERR_INVALID;
    if (lstat(kp, &st) == 0) {
        bw_why(why, whylen, "%s already exists", kp);
        rc = BW_ERR_EXISTS;
    } else if (rename(snapshot, kp) != 0) {
        bw_why(why, whylen, "cannot move the key store to %s: %s", kp, strerror(errno));
        rc = BW_ERR_IO;
    }
    bw_free(kp);
    return rc;
}

const struct bw_store_ops bw_store_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .write = sq_write,
    .read = sq_read,
    .exec = sq_exec,
    .query = sq_query,
    .migrate = sq_migrate,
    .schema_version = sq_schema_version,
    .check = sq_check,
    .stats = sq_stats,
    .row_count = sq_row_count,
    .row_is_null = sq_row_is_null,
    .row_int = sq_row_int,
    .row_text = sq_row_text,
    .row_blob = sq_row_blob,
    .snapshot = sq_snapshot,
    .pin = sq_pin,
    .unpin = sq_unpin,
    .changelog = sq_changelog,
    .apply_changes = sq_apply_changes,
    .load_snapshot = sq_load_snapshot,
    .checkpoint = sq_checkpoint,
    .changelog_sync = sq_changelog_sync,
    .keys_snapshot = sq_keys_snapshot,
    .keys_load = sq_keys_load,
};
