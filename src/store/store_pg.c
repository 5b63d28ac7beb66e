/*
 * store_pg.c - the PostgreSQL driver behind store.h, on libpq. It owns a
 * fixed pool of connections (one transaction per borrowed connection), runs
 * each bw_store_write/read callback inside BEGIN ... COMMIT on one of them,
 * executes the named statements of sql_pg.c as lazily prepared statements
 * with every parameter bound, and applies the compiled-in migrations under an
 * advisory lock so that several processes sharing one database never race.
 *
 * It trusts the statement text of sql_pg.c and the migration text (both are
 * compiled in), and the catalogue's table names (quoted nonetheless). It
 * trusts nothing in parameter values, nor in what the server sends back:
 * integers and bytea are parsed strictly.
 *
 * It must never put a parameter value into SQL text, never accept a TCP
 * connection that does not require TLS, and never let the password or a
 * parameter value reach a log line or a `why` message (server messages are
 * logged at debug level only, with their quoted parts redacted).
 *
 * Dialect note: a failed statement aborts a whole PostgreSQL transaction,
 * whereas on SQLite only the statement is undone. Every statement therefore
 * runs under a savepoint (sent in the same pipeline, so still one round
 * trip) and a failure rolls back to it: callers see the same semantics on
 * both drivers.
 */
#include "store/store_pg_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <spawn.h>
#include <sys/wait.h>
#include <stdio.h>
#include <unistd.h>

#define PG_DEFAULT_POOL    4
#define PG_MAX_POOL        256
#define PG_MAX_PARAMS      64
#define PG_CONNECT_TIMEOUT "10"
/* Key of the transaction-level advisory lock serialising migrations ("bwmigrat"). */
#define PG_MIGRATION_LOCK "7095260037420048756"
#define PG_OID_BOOL       16
#define PG_OID_BYTEA      17

#define PG_SESSION_SQL                                                                             \
    "SET synchronous_commit = on; SET statement_timeout = '30s'; "                                 \
    "SET client_encoding = 'UTF8'; SET bytea_output = 'hex'"

#define PG_SCHEMA_TABLE_SQL                                                                        \
    "CREATE TABLE IF NOT EXISTS bw_schema_migrations ("                                            \
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "                                            \
    "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"

struct pg_conn {
    PGconn *conn; /* NULL after a broken connection was dropped */
    bool busy;    /* lent out; guarded by pg_store.mu */
    bool broken;  /* protocol state unknown: drop it when returned */
    bool prepared[BW_STMT__COUNT];
};

struct pg_store {
    char *target; /* the URL, password included: wiped on close */
    struct pg_conn *conns;
    unsigned n;
    unsigned in_use;
    uint64_t commits;
    uint64_t waits;
    bool sync_ready;
    struct pg_log *log; /* the change log while `serve` ships it */
    bool replayed;      /* change-log records were applied: resync sequences */
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

struct pg_tx {
    struct bw_tx base; /* first: store.c sees only this */
    struct pg_conn *c;
    bool failed; /* the transaction can no longer commit */
};

/* Decoded bytea of one column, valid until the row callback returns. */
struct pg_scratch {
    unsigned char *p;
    size_t len;
};

struct pg_row {
    struct bw_row base; /* first: store.c sees only this */
    const PGresult *res;
    int row;
    int ncols;
    struct pg_scratch *scratch; /* ncols entries, owned by pg_query */
    enum bw_rc *err;            /* an accessor's failure, returned by pg_query */
};

struct pg_params {
    int n;
    const char *values[PG_MAX_PARAMS];
    int lengths[PG_MAX_PARAMS];
    int formats[PG_MAX_PARAMS];
    char ints[PG_MAX_PARAMS][24];
    char *copies[PG_MAX_PARAMS]; /* NUL-terminated copies of TEXT values */
};

/* ---- messages ------------------------------------------------------------ */

/* Copies the first line of msg (libpq messages end in "\n"). */
static void first_line(const char *msg, char *out, size_t cap)
{
    size_t n = 0;
    if (msg == NULL)
        msg = "no message";
    while (msg[n] != '\0' && msg[n] != '\n' && n + 1 < cap) {
        out[n] = msg[n];
        n++;
    }
    out[n] = '\0';
}

/* Server messages may quote a value ('invalid input syntax for type bigint:
 * "..."'); the quoted parts are replaced by "?" before they are logged. */
static void redact(const char *msg, char *out, size_t cap)
{
    size_t o = 0;
    bool quoted = false;
    for (const char *p = msg != NULL ? msg : ""; *p != '\0' && *p != '\n' && o + 3 < cap; p++) {
        if (*p == '"') {
            out[o++] = '"';
            if (!quoted)
                out[o++] = '?';
            quoted = !quoted;
        } else if (!quoted) {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

/* Fills out with the first line of the connection's error message, unless it
 * contains the URL's password (it never should), in which case it is withheld. */
static void conn_error(const struct pg_store *st, const PGconn *conn, char *out, size_t cap)
{
    first_line(conn != NULL ? PQerrorMessage(conn) : "out of memory", out, cap);
    PQconninfoOption *opts = PQconninfoParse(st->target, NULL);
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0' &&
            strstr(out, o->val) != NULL)
            snprintf(out, cap, "error message withheld (it contained the password)");
    }
    PQconninfoFree(opts);
}

static void pg_notice(void *arg, const char *message)
{
    (void)arg;
    char line[256];
    redact(message, line, sizeof(line));
    bw_log(BW_LOG_DEBUG, "store.pg", "server notice: %s", line);
}

/* Maps a failed result to a bw_rc and logs it at debug level, redacted. */
static enum bw_rc map_error(const PGresult *res, const char *what)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *cons = res != NULL ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char msg[256];
    if (primary == NULL) /* a client-side failure, e.g. the connection was lost */
        primary = res != NULL ? PQresultErrorMessage(res) : "no result";
    redact(primary, msg, sizeof(msg));
    bw_log(BW_LOG_DEBUG, "store.pg", "%s failed: sqlstate %s: %s%s%s", what,
           state != NULL ? state : "none", msg, cons != NULL ? "; constraint " : "",
           cons != NULL ? cons : "");
    if (state == NULL)
        return BW_ERR_STORE;
    if (strcmp(state, "23505") == 0)
        return BW_ERR_EXISTS;
    if (strncmp(state, "23", 2) == 0)
        return BW_ERR_INVALID;
    return BW_ERR_STORE;
}

/* Runs trusted SQL text without parameters (may hold several statements). */
static enum bw_rc exec_simple(PGconn *conn, const char *sql, const char *what)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType s = PQresultStatus(res);
    enum bw_rc rc = BW_OK;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        rc = map_error(res, what);
    PQclear(res);
    return rc;
}

enum bw_rc bw_pg_exec(PGconn *conn, const char *sql, const char *what)
{
    return exec_simple(conn, sql, what);
}

enum bw_rc bw_pg_map_error(const PGresult *res, const char *what)
{
    return map_error(res, what);
}

/* ---- URL policy ------------------------------------------------------------ */

/* True when every host of a comma-separated list is a unix socket directory. */
static bool hosts_are_sockets(const char *hosts)
{
    if (hosts == NULL || hosts[0] != '/')
        return false;
    for (const char *p = strchr(hosts, ','); p != NULL; p = strchr(p + 1, ','))
        if (p[1] != '/')
            return false;
    return true;
}

/* CONTROL: CRY-04 - a TCP connection must require TLS: sslmode=require or
 * stronger (SPEC 3), stated in the URL itself, with no environment or service
 * file fallback. require does not verify the server certificate; that is
 * logged here and left for `bulwark check` to report. On success *mode
 * describes the certificate check for the log. */
static enum bw_rc check_url(const char *target, const char **mode, char *why, size_t whylen)
{
    const char *sslmode = NULL, *host = NULL, *hostaddr = NULL;
    enum bw_rc rc = BW_ERR_UNSUPPORTED;
    PQconninfoOption *opts = PQconninfoParse(target, NULL); /* its message may echo the URL */
    if (opts == NULL) {
        bw_why(why, whylen, "database url is not a valid postgresql:// url");
        return BW_ERR_INVALID;
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "sslmode") == 0)
            sslmode = o->val;
        else if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            hostaddr = o->val;
    }
    if (hostaddr == NULL && hosts_are_sockets(host)) {
        *mode = "unix socket: local connection, tls not used";
        rc = BW_OK;
    } else if (sslmode == NULL) {
        bw_why(why, whylen,
               "database url has no sslmode: add sslmode=verify-full "
               "(or verify-ca, require) or use a unix socket host");
    } else if (strcmp(sslmode, "require") == 0) {
        *mode = "sslmode=require: encrypted, server certificate not verified";
        rc = BW_OK;
    } else if (strcmp(sslmode, "verify-ca") == 0) {
        *mode = "sslmode=verify-ca: encrypted, server certificate verified, host name not checked";
        rc = BW_OK;
    } else if (strcmp(sslmode, "verify-full") == 0) {
        *mode = "sslmode=verify-full: encrypted, server certificate and host name verified";
        rc = BW_OK;
    } else if (strcmp(sslmode, "disable") == 0 || strcmp(sslmode, "allow") == 0 ||
               strcmp(sslmode, "prefer") == 0) {
        bw_why(why, whylen,
               "database url sslmode=%s does not require tls: use sslmode=verify-full "
               "(or verify-ca, require)",
               sslmode);
    } else {
        bw_why(why, whylen, "database url has an unknown sslmode value");
        rc = BW_ERR_INVALID;
    }
    PQconninfoFree(opts);
    return rc;
}

/* ---- connections and the pool ---------------------------------------------- */

static void conn_forget_prepared(struct pg_conn *c)
{
    memset(c->prepared, 0, sizeof(c->prepared));
}

/* Session settings every connection needs; re-applied after a reset. */
static enum bw_rc conn_setup(struct pg_conn *c)
{
    PQsetNoticeProcessor(c->conn, pg_notice, NULL);
    conn_forget_prepared(c);
    return exec_simple(c->conn, PG_SESSION_SQL, "session set-up");
}

/* Opens c->conn; the URL's own settings override the defaults given here. */
static enum bw_rc conn_open(const struct pg_store *st, struct pg_conn *c, char *why, size_t whylen)
{
    static const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname",
                                       NULL};
    const char *vals[] = {PG_CONNECT_TIMEOUT, "bulwark", st->target, NULL};
    char msg[256];
    c->conn = PQconnectdbParams(keys, vals, 1);
    if (c->conn == NULL || PQstatus(c->conn) != CONNECTION_OK) {
        conn_error(st, c->conn, msg, sizeof(msg));
        bw_why(why, whylen, "cannot connect to postgresql: %s", msg);
        PQfinish(c->conn);
        c->conn = NULL;
        return BW_ERR_STORE;
    }
    if (conn_setup(c) != BW_OK) {
        conn_error(st, c->conn, msg, sizeof(msg));
        bw_why(why, whylen, "cannot set up postgresql session: %s", msg);
        PQfinish(c->conn);
        c->conn = NULL;
        return BW_ERR_STORE;
    }
    return BW_OK;
}

enum bw_rc bw_pg_connect(const struct pg_store *st, PGconn **out, char *why, size_t whylen)
{
    struct pg_conn c = {0};
    enum bw_rc rc = conn_open(st, &c, why, whylen);
    *out = rc == BW_OK ? c.conn : NULL;
    return rc;
}

/* Makes a borrowed connection usable: reconnects a dropped one, resets a
 * broken one. */
static enum bw_rc conn_ready(const struct pg_store *st, struct pg_conn *c)
{
    char why[256];
    if (c->conn == NULL) {
        if (conn_open(st, c, why, sizeof(why)) == BW_OK)
            return BW_OK;
        bw_log(BW_LOG_WARN, "store.pg", "%s", why);
        return BW_ERR_STORE;
    }
    if (PQstatus(c->conn) == CONNECTION_OK)
        return BW_OK;
    PQreset(c->conn);
    if (PQstatus(c->conn) == CONNECTION_OK && conn_setup(c) == BW_OK) {
        bw_log(BW_LOG_INFO, "store.pg", "connection re-established");
        return BW_OK;
    }
    conn_error(st, c->conn, why, sizeof(why));
    bw_log(BW_LOG_WARN, "store.pg", "cannot re-establish connection: %s", why);
    return BW_ERR_STORE;
}

static void pool_put(struct pg_store *st, struct pg_conn *c, bool committed)
{
    if (c->conn != NULL && !c->broken && PQstatus(c->conn) == CONNECTION_OK &&
        PQtransactionStatus(c->conn) != PQTRANS_IDLE) {
        PQclear(PQexec(c->conn, "ROLLBACK"));
        c->broken = PQtransactionStatus(c->conn) != PQTRANS_IDLE;
    }
    if (c->broken) {
        PQfinish(c->conn);
        c->conn = NULL;
        c->broken = false;
        conn_forget_prepared(c);
    }
    pthread_mutex_lock(&st->mu);
    c->busy = false;
    st->in_use--;
    if (committed)
        st->commits++;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

static enum bw_rc pool_get(struct pg_store *st, struct pg_conn **out)
{
    struct pg_conn *c = NULL;
    pthread_mutex_lock(&st->mu);
    if (st->in_use == st->n)
        st->waits++;
    while (st->in_use == st->n)
        pthread_cond_wait(&st->cv, &st->mu);
    for (unsigned i = 0; i < st->n && c == NULL; i++) {
        if (!st->conns[i].busy)
            c = &st->conns[i];
    }
    assert(c != NULL); /* in_use < n guarantees a free slot */
    c->busy = true;
    st->in_use++;
    pthread_mutex_unlock(&st->mu);
    enum bw_rc rc = conn_ready(st, c);
    if (rc != BW_OK) {
        pool_put(st, c, false);
        return rc;
    }
    *out = c;
    return BW_OK;
}

static void pg_close(void *impl)
{
    struct pg_store *st = impl;
    if (st == NULL)
        return;
    bw_pg_log_stop(st->log);
    if (st->replayed && st->conns != NULL && st->conns[0].conn != NULL &&
        exec_simple(st->conns[0].conn, "SELECT bw_changelog_resync()", "sequence resync") != BW_OK)
        bw_log(BW_LOG_ERROR, "store.pg", "cannot move the sequences past the replayed rows");
    for (unsigned i = 0; st->conns != NULL && i < st->n; i++)
        PQfinish(st->conns[i].conn);
    if (st->sync_ready) {
        pthread_cond_destroy(&st->cv);
        pthread_mutex_destroy(&st->mu);
    }
    if (st->target != NULL)
        sodium_memzero(st->target, strlen(st->target));
    bw_free(st->target);
    bw_free(st->conns);
    bw_free(st);
}

static enum bw_rc store_alloc(const char *target, unsigned n, struct pg_store **out)
{
    struct pg_store *st = bw_calloc(1, sizeof(*st));
    if (st == NULL)
        return BW_ERR_NOMEM;
    st->n = n;
    st->target = bw_strdup(target);
    st->conns = bw_calloc(n, sizeof(*st->conns));
    if (st->target == NULL || st->conns == NULL) {
        pg_close(st);
        return BW_ERR_NOMEM;
    }
    if (pthread_mutex_init(&st->mu, NULL) != 0) {
        pg_close(st);
        return BW_ERR_INTERNAL;
    }
    if (pthread_cond_init(&st->cv, NULL) != 0) {
        pthread_mutex_destroy(&st->mu);
        pg_close(st);
        return BW_ERR_INTERNAL;
    }
    st->sync_ready = true;
    *out = st;
    return BW_OK;
}

static enum bw_rc pg_open(const char *target, const struct bw_store_opts *opts, void **impl,
                          char *why, size_t whylen)
{
    struct pg_store *st = NULL;
    const char *mode = NULL;
    unsigned n = opts != NULL && opts->pool_size > 0 ? opts->pool_size : PG_DEFAULT_POOL;
    enum bw_rc rc = check_url(target, &mode, why, whylen);
    if (rc != BW_OK)
        goto out;
    rc = BW_ERR_UNSUPPORTED;
    if (!PQisthreadsafe()) {
        bw_why(why, whylen, "libpq was built without thread safety");
        goto out;
    }
    rc = BW_ERR_INVALID;
    if (n > PG_MAX_POOL) {
        bw_why(why, whylen, "database pool_size %u exceeds %d", n, PG_MAX_POOL);
        goto out;
    }
    rc = store_alloc(target, n, &st);
    if (rc != BW_OK)
        goto out;
    for (unsigned i = 0; i < n && rc == BW_OK; i++)
        rc = conn_open(st, &st->conns[i], why, whylen);
    if (rc != BW_OK)
        goto out;
    bw_log(BW_LOG_INFO, "store.pg", "%s (pool of %u connections)", mode, n);
    *impl = st;
    st = NULL;
out:
    pg_close(st);
    return rc;
}

/* ---- transactions ------------------------------------------------------------ */

/* Starts a transaction; a connection found dead at BEGIN is reset and the
 * BEGIN retried once (nothing has happened yet, so this is safe). */
static enum bw_rc tx_begin(const struct pg_store *st, struct pg_conn *c, const char *begin)
{
    enum bw_rc rc = exec_simple(c->conn, begin, "begin");
    if (rc == BW_OK || PQstatus(c->conn) == CONNECTION_OK)
        return rc;
    rc = conn_ready(st, c);
    if (rc != BW_OK)
        return rc;
    return exec_simple(c->conn, begin, "begin");
}

/* COMMIT, checking the command tag: PostgreSQL answers COMMIT of an aborted
 * transaction with a successful ROLLBACK. */
static enum bw_rc tx_commit(struct pg_conn *c)
{
    PGresult *res = PQexec(c->conn, "COMMIT");
    enum bw_rc rc = BW_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        (void)map_error(res, "commit");
        rc = BW_ERR_STORE;
    } else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        rc = BW_ERR_STORE;
    }
    if (rc != BW_OK)
        bw_log(BW_LOG_WARN, "store.pg", "commit failed: the transaction's changes are not durable");
    PQclear(res);
    return rc;
}

static enum bw_rc run_tx(struct pg_store *st, const char *begin, bool write, bw_tx_fn fn, void *arg)
{
    struct pg_tx tx = {.base.ops = &bw_store_pg_ops};
    struct pg_conn *c = NULL;
    bool committed = false;
    enum bw_rc rc = pool_get(st, &c);
    if (rc != BW_OK)
        return rc;
    tx.c = c;
    rc = tx_begin(st, c, begin);
    if (rc != BW_OK)
        goto out;
    rc = fn(&tx.base, arg);
    if (rc == BW_OK && tx.failed)
        rc = BW_ERR_STORE; /* fn ignored a failure that doomed the transaction */
    if (rc != BW_OK) {
        if (!c->broken)
            (void)exec_simple(c->conn, "ROLLBACK", "rollback"); /* pool_put re-checks */
        goto out;
    }
    rc = tx_commit(c);
    committed = write && rc == BW_OK;
out:
    pool_put(st, c, committed);
    return rc;
}

static enum bw_rc pg_write(void *impl, bw_tx_fn fn, void *arg)
{
    return run_tx(impl, "BEGIN", true, fn, arg);
}

static enum bw_rc pg_read(void *impl, bw_tx_fn fn, void *arg)
{
    return run_tx(impl, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", false, fn, arg);
}

/* ---- statements ---------------------------------------------------------------- */

static void params_free(struct pg_params *pp)
{
    for (int i = 0; i < pp->n; i++) {
        if (pp->copies[i] != NULL) {
            sodium_memzero(pp->copies[i], strlen(pp->copies[i]));
            bw_free(pp->copies[i]);
        }
    }
}

static enum bw_rc bind_one(struct pg_params *pp, int i, const struct bw_val *v)
{
    switch (v->type) {
    case BW_VAL_NULL:
        return BW_OK;
    case BW_VAL_INT:
        snprintf(pp->ints[i], sizeof(pp->ints[i]), "%" PRId64, v->i);
        pp->values[i] = pp->ints[i];
        return BW_OK;
    case BW_VAL_TEXT:
        if (v->len > 0 && (v->p == NULL || memchr(v->p, '\0', v->len) != NULL))
            return BW_ERR_INVALID; /* PostgreSQL text cannot hold NUL */
        if (v->len > INT_MAX)
            return BW_ERR_TOOBIG;
        pp->copies[i] = bw_strndup(v->len > 0 ? v->p : "", v->len);
        if (pp->copies[i] == NULL)
            return BW_ERR_NOMEM;
        pp->values[i] = pp->copies[i];
        return BW_OK;
    case BW_VAL_BLOB:
        if (v->len > INT_MAX)
            return BW_ERR_TOOBIG;
        if (v->len > 0 && v->p == NULL)
            return BW_ERR_INVALID;
        pp->values[i] = v->len > 0 ? v->p : ""; /* non-NULL: an empty blob is not NULL */
        pp->lengths[i] = (int)v->len;
        pp->formats[i] = 1;
        return BW_OK;
    }
    return BW_ERR_INVALID;
}

/* CONTROL: APP-02 - values travel as bound parameters, never as SQL text.
 * Fills pp; on failure pp is still safe to pass to params_free. */
static enum bw_rc bind_params(struct pg_params *pp, const struct bw_val *params, size_t n)
{
    memset(pp, 0, sizeof(*pp));
    if (n > PG_MAX_PARAMS)
        return BW_ERR_TOOBIG;
    if (n > 0 && params == NULL)
        return BW_ERR_INTERNAL;
    pp->n = (int)n;
    for (int i = 0; i < pp->n; i++) {
        enum bw_rc rc = bind_one(pp, i, &params[i]);
        if (rc != BW_OK)
            return rc;
    }
    return BW_OK;
}

/* Reads the results of `n` pipelined commands and the sync point, then
 * leaves pipeline mode. False when the protocol went out of step. */
static bool pipeline_collect(PGconn *conn, PGresult **res, int n)
{
    for (int i = 0; i < n; i++) {
        res[i] = PQgetResult(conn);
        if (res[i] == NULL)
            return false;
        PGresult *end = PQgetResult(conn);
        if (end != NULL) {
            PQclear(end);
            return false;
        }
    }
    PGresult *sync = PQgetResult(conn);
    bool ok = PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
    return ok && PQexitPipelineMode(conn) == 1;
}

static bool pipeline_send(struct pg_conn *c, enum bw_stmt stmt, const char *name,
                          const struct pg_params *pp)
{
    PGconn *conn = c->conn;
    return PQenterPipelineMode(conn) == 1 &&
           PQsendQueryParams(conn, "SAVEPOINT bw_stmt", 0, NULL, NULL, NULL, NULL, 0) == 1 &&
           (c->prepared[stmt] || PQsendPrepare(conn, name, bw_sql_pg[stmt], 0, NULL) == 1) &&
           PQsendQueryPrepared(conn, name, pp->n, pp->values, pp->lengths, pp->formats, 0) == 1 &&
           PQsendQueryParams(conn, "RELEASE SAVEPOINT bw_stmt", 0, NULL, NULL, NULL, NULL, 0) ==
               1 &&
           PQpipelineSync(conn) == 1;
}

/* Judges the pipeline's results: res = SAVEPOINT, [PREPARE], EXECUTE, RELEASE. */
static enum bw_rc pipeline_judge(struct pg_tx *tx, enum bw_stmt stmt, PGresult **res, int n,
                                 PGresult **out)
{
    char what[32];
    snprintf(what, sizeof(what), "statement %d", (int)stmt);
    if (PQresultStatus(res[0]) != PGRES_COMMAND_OK) {
        tx->failed = true; /* no savepoint: the transaction was already unusable */
        return map_error(res[0], what);
    }
    if (n == 4) {
        if (PQresultStatus(res[1]) != PGRES_COMMAND_OK)
            return map_error(res[1], what);
        tx->c->prepared[stmt] = true;
    }
    PGresult *r = res[n - 2];
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        return map_error(r, what);
    if (PQresultStatus(res[n - 1]) != PGRES_COMMAND_OK) {
        tx->failed = true;
        return map_error(res[n - 1], what);
    }
    *out = r;
    res[n - 2] = NULL;
    return BW_OK;
}

/* Runs one named statement under its own savepoint, in one round trip:
 * SAVEPOINT, [PREPARE once per connection], EXECUTE, RELEASE, Sync. On a
 * statement error the savepoint is rolled back and the transaction goes on. */
static enum bw_rc run_stmt(struct pg_tx *tx, enum bw_stmt stmt, const struct pg_params *pp,
                           PGresult **out)
{
    PGresult *res[4] = {NULL, NULL, NULL, NULL};
    int n = tx->c->prepared[stmt] ? 3 : 4;
    char name[16];
    enum bw_rc rc = BW_ERR_STORE;
    if (tx->failed)
        return BW_ERR_STORE;
    snprintf(name, sizeof(name), "bw_%d", (int)stmt);
    if (!pipeline_send(tx->c, stmt, name, pp) || !pipeline_collect(tx->c->conn, res, n)) {
        bw_log(BW_LOG_WARN, "store.pg", "statement %d: connection failed", (int)stmt);
        tx->c->broken = true;
        tx->failed = true;
        goto out;
    }
    rc = pipeline_judge(tx, stmt, res, n, out);
    if (rc != BW_OK && !tx->failed &&
        exec_simple(tx->c->conn, "ROLLBACK TO SAVEPOINT bw_stmt; RELEASE SAVEPOINT bw_stmt",
                    "rollback to savepoint") != BW_OK)
        tx->failed = true;
out:
    for (int i = 0; i < 4; i++)
        PQclear(res[i]);
    return rc;
}

/* Parameters of trusted statement text: the highest $N outside quoted
 * literals and identifiers (as the server counts them). */
static size_t stmt_nparams(const char *sql)
{
    size_t max = 0;
    char quote = 0;
    for (const char *p = sql; *p != '\0'; p++) {
        if (quote != 0) {
            if (*p == quote)
                quote = 0;
            continue;
        }
        if (*p == '\'' || *p == '"') {
            quote = *p;
            continue;
        }
        if (*p != '$' || p[1] < '1' || p[1] > '9')
            continue;
        size_t n = 0;
        for (; p[1] >= '0' && p[1] <= '9'; p++)
            n = n * 10 + (size_t)(p[1] - '0');
        if (n > max)
            max = n;
    }
    return max;
}

static enum bw_rc run(struct bw_tx *base, enum bw_stmt stmt, const struct bw_val *params,
                      size_t nparams, PGresult **out)
{
    struct pg_tx *tx = (struct pg_tx *)base;
    struct pg_params pp;
    assert(base->ops == &bw_store_pg_ops);
    if (nparams != stmt_nparams(bw_sql_pg[stmt])) {
        bw_log(BW_LOG_DEBUG, "store.pg", "statement %d: wrong number of parameters (%zu)",
               (int)stmt, nparams);
        return BW_ERR_INTERNAL; /* a caller bug, as on SQLite */
    }
    enum bw_rc rc = bind_params(&pp, params, nparams);
    if (rc == BW_OK)
        rc = run_stmt(tx, stmt, &pp, out);
    params_free(&pp);
    return rc;
}

static enum bw_rc pg_exec(struct bw_tx *tx, enum bw_stmt stmt, const struct bw_val *params,
                          size_t nparams, uint64_t *changes)
{
    PGresult *res = NULL;
    enum bw_rc rc = run(tx, stmt, params, nparams, &res);
    if (rc != BW_OK)
        return rc;
    uint64_t n = 0;
    const char *tuples = PQcmdTuples(res);
    if (tuples[0] != '\0' && bw_parse_u64(tuples, UINT64_MAX, &n) != BW_OK)
        rc = BW_ERR_STORE;
    PQclear(res);
    if (rc == BW_OK && changes != NULL)
        *changes = n;
    return rc;
}

static void scratch_clear(struct pg_scratch *s, int n)
{
    for (int i = 0; s != NULL && i < n; i++) {
        if (s[i].p != NULL) {
            sodium_memzero(s[i].p, s[i].len);
            bw_free(s[i].p);
        }
        s[i].p = NULL;
        s[i].len = 0;
    }
}

static enum bw_rc pg_query(struct bw_tx *tx, enum bw_stmt stmt, const struct bw_val *params,
                           size_t nparams, bw_row_fn fn, void *arg)
{
    PGresult *res = NULL;
    struct pg_scratch *scratch = NULL;
    enum bw_rc err = BW_OK;
    enum bw_rc rc = run(tx, stmt, params, nparams, &res);
    if (rc != BW_OK)
        goto out;
    int ncols = PQnfields(res), nrows = PQntuples(res);
    if (nrows > 0) {
        scratch = bw_calloc((size_t)ncols, sizeof(*scratch));
        if (scratch == NULL) {
            rc = BW_ERR_NOMEM;
            goto out;
        }
    }
    struct pg_row row = {
        .base.ops = &bw_store_pg_ops, .res = res, .ncols = ncols, .scratch = scratch, .err = &err};
    for (int i = 0; i < nrows && rc == BW_OK; i++) {
        row.row = i;
        rc = fn(arg, &row.base);
        scratch_clear(scratch, ncols);
        if (rc == BW_OK)
            rc = err;
    }
out:
    bw_free(scratch);
    PQclear(res);
    return rc;
}

/* ---- row accessors --------------------------------------------------------------
 * They cannot return an error; a failure (bad column, unparsable value, no
 * memory) is recorded in *row->err and returned by pg_query once the callback
 * has returned. */

static const struct pg_row *row_of(const struct bw_row *row, size_t col)
{
    const struct pg_row *r = (const struct pg_row *)row;
    assert(row->ops == &bw_store_pg_ops);
    assert(col < (size_t)r->ncols);
    if (col >= (size_t)r->ncols) {
        *r->err = BW_ERR_INTERNAL;
        return NULL;
    }
    return r;
}

static size_t pg_row_count(const struct bw_row *row)
{
    return (size_t)((const struct pg_row *)row)->ncols;
}

static bool pg_row_is_null(const struct bw_row *row, size_t col)
{
    const struct pg_row *r = row_of(row, col);
    return r == NULL || PQgetisnull(r->res, r->row, (int)col);
}

/* NULL reads as 0 (as on SQLite); booleans as 0/1; anything else must be a
 * whole decimal int64. */
static int64_t pg_row_int(const struct bw_row *row, size_t col)
{
    const struct pg_row *r = row_of(row, col);
    if (r == NULL || PQgetisnull(r->res, r->row, (int)col))
        return 0;
    const char *s = PQgetvalue(r->res, r->row, (int)col);
    if (PQftype(r->res, (int)col) == PG_OID_BOOL)
        return s[0] == 't';
    bool neg = s[0] == '-';
    uint64_t u;
    if (bw_parse_u64(s + neg, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &u) != BW_OK) {
        *r->err = BW_ERR_INTERNAL;
        bw_log(BW_LOG_DEBUG, "store.pg", "column %zu is not an integer", col);
        return 0;
    }
    if (!neg)
        return (int64_t)u;
    return u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
}

/* The text form of the value (for bytea, its "\x..." hex: use row_blob). */
static const char *pg_row_text(const struct bw_row *row, size_t col, size_t *len)
{
    const struct pg_row *r = row_of(row, col);
    if (len != NULL)
        *len = 0;
    if (r == NULL || PQgetisnull(r->res, r->row, (int)col))
        return NULL;
    if (len != NULL)
        *len = (size_t)PQgetlength(r->res, r->row, (int)col);
    return PQgetvalue(r->res, r->row, (int)col);
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes bytea hex output ("\x0a1b...") into out (n bytes). */
static bool hex_decode(const char *s, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* bytea columns are decoded into the row's scratch; other types are
 * returned as their text bytes. A zero-length value is a non-NULL pointer. */
static const void *pg_row_blob(const struct bw_row *row, size_t col, size_t *len)
{
    static const unsigned char empty[1];
    const struct pg_row *r = row_of(row, col);
    size_t tlen;
    const char *s = pg_row_text(row, col, &tlen);
    if (len != NULL)
        *len = 0;
    if (r == NULL || s == NULL)
        return NULL;
    if (PQftype(r->res, (int)col) != PG_OID_BYTEA) {
        if (len != NULL)
            *len = tlen;
        return s;
    }
    struct pg_scratch *sc = &r->scratch[col];
    if (sc->p == NULL) {
        if (tlen < 2 || s[0] != '\\' || s[1] != 'x' || tlen % 2 != 0) {
            *r->err = BW_ERR_STORE;
            return NULL;
        }
        if (tlen == 2)
            return empty;
        sc->p = bw_malloc((tlen - 2) / 2);
        if (sc->p == NULL) {
            *r->err = BW_ERR_NOMEM;
            return NULL;
        }
        sc->len = (tlen - 2) / 2;
        if (!hex_decode(s + 2, sc->len, sc->p)) {
            *r->err = BW_ERR_STORE;
            return NULL;
        }
    }
    if (len != NULL)
        *len = sc->len;
    return sc->p;
}

/* ---- schema ------------------------------------------------------------------------ */

/* Runs fn on a pooled connection outside any transaction of ours. */
static enum bw_rc with_conn(struct pg_store *st, enum bw_rc (*fn)(PGconn *, void *), void *arg)
{
    struct pg_conn *c = NULL;
    enum bw_rc rc = pool_get(st, &c);
    if (rc != BW_OK)
        return rc;
    rc = fn(c->conn, arg);
    pool_put(st, c, false); /* rolls back whatever fn left open */
    return rc;
}

/* One-value query of trusted text, with optional text parameters. */
static enum bw_rc query_value(PGconn *conn, const char *sql, int n, const char *const *vals,
                              char *out, size_t cap)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, vals, NULL, NULL, 0);
    enum bw_rc rc = BW_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = map_error(res, "schema query");
    else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
        out[0] = '\0';
    else
        snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

enum bw_rc bw_pg_query_value(PGconn *conn, const char *sql, int n, const char *const *vals,
                             char *out, size_t cap)
{
    return query_value(conn, sql, n, vals, out, cap);
}

/* Current schema version on conn: 0 when the migrations table is absent. */
static enum bw_rc read_version(PGconn *conn, int *have)
{
    char v[32];
    uint64_t u = 0;
    enum bw_rc rc = query_value(conn, "SELECT to_regclass('bw_schema_migrations') IS NOT NULL", 0,
                                NULL, v, sizeof(v));
    if (rc != BW_OK || strcmp(v, "t") != 0)
        goto out;
    rc = query_value(conn, "SELECT COALESCE(max(version), 0) FROM bw_schema_migrations", 0, NULL, v,
                     sizeof(v));
    if (rc == BW_OK && bw_parse_u64(v, INT_MAX, &u) != BW_OK)
        rc = BW_ERR_SCHEMA;
out:
    if (rc == BW_OK)
        *have = (int)u;
    return rc;
}

/* Applies one migration unless recorded, in one transaction holding the
 * migration lock: concurrent `init`/`serve` processes apply each exactly
 * once. Migration text must therefore not contain transaction control or
 * CREATE INDEX CONCURRENTLY. */
static enum bw_rc migrate_one(PGconn *conn, const struct bw_migration *m)
{
    char ver[16], found[8];
    snprintf(ver, sizeof(ver), "%d", m->version);
    const char *params[] = {ver, m->name};
    enum bw_rc rc =
        exec_simple(conn,
                    "BEGIN; SET LOCAL statement_timeout = 0; "
                    "SELECT pg_advisory_xact_lock(" PG_MIGRATION_LOCK "); " PG_SCHEMA_TABLE_SQL,
                    "migration lock");
    if (rc != BW_OK)
        return rc;
    rc = query_value(conn, "SELECT 1 FROM bw_schema_migrations WHERE version = $1", 1, params,
                     found, sizeof(found));
    if (rc != BW_OK || found[0] != '\0')
        goto out; /* already applied, maybe by another process meanwhile */
    rc = exec_simple(conn, m->sql, m->name);
    if (rc != BW_OK) {
        char msg[256];
        first_line(PQerrorMessage(conn), msg, sizeof(msg)); /* trusted text, no parameters */
        bw_log(BW_LOG_ERROR, "store.pg", "migration %s failed: %s", m->name, msg);
        goto out;
    }
    PGresult *res = PQexecParams(conn,
                                 "INSERT INTO bw_schema_migrations(version, name) "
                                 "VALUES ($1, $2)",
                                 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = map_error(res, "migration record");
    PQclear(res);
    if (rc == BW_OK)
        bw_log(BW_LOG_INFO, "store.pg", "applied migration %s", m->name);
out:
    if (rc == BW_OK)
        rc = exec_simple(conn, "COMMIT", "migration commit");
    return rc; /* on failure with_conn rolls back */
}

static enum bw_rc migrate_all(PGconn *conn, void *arg)
{
    enum bw_rc rc = BW_OK;
    for (size_t i = 0; i < bw_migrations_pg_count && rc == BW_OK; i++)
        rc = migrate_one(conn, &bw_migrations_pg[i]);
    if (rc == BW_OK)
        rc = read_version(conn, arg);
    return rc;
}

static enum bw_rc pg_migrate(void *impl, int *version)
{
    int v = 0;
    enum bw_rc rc = with_conn(impl, migrate_all, &v);
    if (rc == BW_OK)
        *version = v;
    return rc;
}

static enum bw_rc version_cb(PGconn *conn, void *arg)
{
    return read_version(conn, arg);
}

static enum bw_rc pg_schema_version(void *impl, int *have)
{
    int v = 0;
    enum bw_rc rc = with_conn(impl, version_cb, &v);
    if (rc == BW_OK)
        *have = v;
    return rc;
}

struct check_ctx {
    char *why;
    size_t whylen;
};

/* Reads every table of the schema in one fixed statement: the server itself
 * quotes the catalogue names (format %I), so no SQL text is built here. */
static enum bw_rc check_tables(PGconn *conn, struct check_ctx *cx)
{
    char msg[256];
    PGresult *res = PQexec(
        conn, "SELECT t.tablename FROM pg_tables t WHERE t.schemaname = current_schema() AND "
              "(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', "
              "t.schemaname, t.tablename), false, true, '')))[1] IS NULL");
    enum bw_rc rc = BW_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = BW_ERR_STORE;
        first_line(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), msg, sizeof(msg));
        bw_why(cx->why, cx->whylen, "cannot read every table of the schema: %s", msg);
    } else if (PQntuples(res) > 0) {
        rc = BW_ERR_STORE;
        bw_why(cx->why, cx->whylen, "table %s cannot be counted", PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return rc;
}

static enum bw_rc check_cb(PGconn *conn, void *arg)
{
    struct check_ctx *cx = arg;
    char v[8];
    int have = 0;
    enum bw_rc rc = query_value(conn, "SELECT 1", 0, NULL, v, sizeof(v));
    if (rc != BW_OK || strcmp(v, "1") != 0) {
        bw_why(cx->why, cx->whylen, "database does not answer SELECT 1");
        return BW_ERR_STORE;
    }
    rc = exec_simple(conn,
                     "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
                     "SET LOCAL statement_timeout = 0",
                     "check");
    if (rc == BW_OK)
        rc = read_version(conn, &have);
    if (rc != BW_OK) {
        bw_why(cx->why, cx->whylen, "cannot read the schema version");
        return rc;
    }
    if (have == 0) {
        bw_why(cx->why, cx->whylen, "schema not initialised: bw_schema_migrations is missing");
        return BW_ERR_SCHEMA;
    }
    return check_tables(conn, cx); /* with_conn rolls the read-only transaction back */
}

static enum bw_rc pg_check(void *impl, char *why, size_t whylen)
{
    struct check_ctx cx = {.why = why, .whylen = whylen};
    return with_conn(impl, check_cb, &cx);
}

static void pg_stats(void *impl, struct bw_store_stats *out)
{
    struct pg_store *st = impl;
    pthread_mutex_lock(&st->mu);
    out->pool_size = st->n;
    out->pool_in_use = st->in_use;
    out->commits = st->commits;
    out->commit_batches = st->commits; /* one physical commit per transaction */
    out->waits = st->waits;
    pthread_mutex_unlock(&st->mu);
}

/* ---- backup support (issue 6) ----------------------------------------------
 * A consistent export of the whole database is pg_dump's job: it reads every
 * table in one REPEATABLE READ snapshot and writes a custom-format archive;
 * pg_restore loads it into an empty database. Both tools get the connection
 * parameters through PG* environment variables built by libpq's own URL
 * parser, so the password never appears on a command line (visible in
 * /proc to every local user). The change log is store_pg_log.c's. */

extern char **environ;

static void env_free(char **env)
{
    if (env == NULL)
        return;
    for (char **e = env; *e != NULL; e++) {
        sodium_memzero(*e, strlen(*e));
        bw_free(*e);
    }
    bw_free(env);
}

static char *env_pair(const char *k, const char *v)
{
    struct bw_buf b;
    bw_buf_init(&b, 64 * 1024);
    if (bw_buf_appendf(&b, "%s=%s", k, v) != BW_OK) {
        bw_buf_free(&b, true);
        return NULL;
    }
    return bw_buf_steal(&b, NULL);
}

/* PG* variables for `url` plus PATH; *dbname borrows into nothing (copied). */
static enum bw_rc tool_env(const char *url, char ***out, char *dbname, size_t dbcap)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &err);
    if (opts == NULL) {
        PQfreemem(err);
        return BW_ERR_INVALID;
    }
    size_t n = 0, i = 0;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        n++;
    char **env = bw_calloc(n + 2, sizeof(*env));
    enum bw_rc rc = env != NULL ? BW_OK : BW_ERR_NOMEM;
    for (PQconninfoOption *o = opts; rc == BW_OK && o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0' || o->envvar == NULL)
            continue;
        if (strcmp(o->keyword, "dbname") == 0)
            snprintf(dbname, dbcap, "%s", o->val);
        if ((env[i++] = env_pair(o->envvar, o->val)) == NULL)
            rc = BW_ERR_NOMEM;
    }
    const char *path = getenv("PATH");
    if (rc == BW_OK && (env[i++] = env_pair("PATH", path != NULL ? path : "/usr/bin:/bin")) == NULL)
        rc = BW_ERR_NOMEM;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val != NULL)
            sodium_memzero(o->val, strlen(o->val));
    }
    PQconninfoFree(opts);
    if (rc != BW_OK) {
        env_free(env);
        return rc;
    }
    *out = env;
    return BW_OK;
}

static enum bw_rc run_tool(char *const argv[], char **env, char *why, size_t whylen)
{
    pid_t pid;
    int status = 0;
    if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, env) != 0) {
        bw_why(why, whylen, "cannot run %s: %s", argv[0], strerror(errno));
        return BW_ERR_UNSUPPORTED;
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return BW_ERR_IO;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        bw_why(why, whylen, "%s failed (status %d)", argv[0],
               WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return BW_ERR_STORE;
    }
    return BW_OK;
}

/* With the change log running, the dump shares the snapshot of a
 * REPEATABLE READ transaction in which the log delivered exactly what that
 * snapshot sees: *log_seq is exact, as on SQLite. The log's own tables are
 * dumped empty (their rows belong to this database's stream). */
static enum bw_rc pg_snapshot(void *impl, const char *dest, uint64_t *log_seq, char *why,
                              size_t whylen)
{
    struct pg_store *s = impl;
    char **env = NULL, dbname[256] = "", snap[128] = "", snaparg[160] = "";
    PGconn *pin = NULL;
    uint64_t seq = 0;
    int fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        bw_why(why, whylen, "cannot create %s: %s", dest, strerror(errno));
        return BW_ERR_IO;
    }
    close(fd);
    enum bw_rc rc = tool_env(s->target, &env, dbname, sizeof(dbname));
    if (rc == BW_OK && s->log != NULL) {
        rc = bw_pg_connect(s, &pin, why, whylen);
        if (rc == BW_OK && (rc = bw_pg_log_pin(s->log, pin, snap, sizeof(snap), &seq)) != BW_OK)
            bw_why(why, whylen, "cannot pin the snapshot's change-log position");
        snprintf(snaparg, sizeof(snaparg), "--snapshot=%s", snap);
    }
    if (rc == BW_OK) {
        /* decision C6: the key schema is never part of a data backup */
        char *argv[] = {"pg_dump",
                        "--format=custom",
                        "--compress=0",
                        "--no-owner",
                        "--no-acl",
                        "--exclude-schema=bulwark_keys",
                        "--exclude-table-data=bw_changelog",
                        "--exclude-table-data=bw_changelog_commit",
                        "--file",
                        (char *)dest,
                        snap[0] != '\0' ? snaparg : NULL,
                        NULL};
        rc = run_tool(argv, env, why, whylen);
    }
    PQfinish(pin); /* ends the pinned transaction after the dump */
    env_free(env);
    if (rc == BW_OK)
        *log_seq = seq;
    return rc;
}

/* The capture triggers travel in a dump taken while the log ran; a loaded
 * copy starts without them (its own `serve` installs them again). */
static enum bw_rc scratch_conn(const char *target, PGconn **conn, char *why, size_t whylen);

static enum bw_rc drop_capture(const char *target, char *why, size_t whylen)
{
    PGconn *conn = NULL;
    enum bw_rc rc = scratch_conn(target, &conn, why, whylen);
    if (rc == BW_OK)
        rc = exec_simple(conn,
                         "DO $$ BEGIN IF to_regproc('bw_changelog_install') IS NOT NULL THEN "
                         "PERFORM bw_changelog_install(false); END IF; END $$",
                         "log uninstall");
    if (rc != BW_OK && why[0] == '\0')
        bw_why(why, whylen, "cannot drop the change-log triggers of the restored database");
    PQfinish(conn);
    return rc;
}

static enum bw_rc restore_dump(const char *target, const char *snapshot, char *why,
                               size_t whylen)
{
    char **env = NULL, dbname[256] = "";
    enum bw_rc rc = tool_env(target, &env, dbname, sizeof(dbname));
    if (rc == BW_OK) {
        char *argv[] = {"pg_restore", "--no-owner",        "--no-acl", "--exit-on-error",
                        "--single-transaction", "--dbname", dbname,     (char *)snapshot,
                        NULL};
        rc = run_tool(argv, env, why, whylen);
    }
    env_free(env);
    return rc;
}

static enum bw_rc pg_load_snapshot(const char *target, const char *snapshot, char *why,
                                   size_t whylen)
{
    enum bw_rc rc = restore_dump(target, snapshot, why, whylen);
    return rc == BW_OK ? drop_capture(target, why, whylen) : rc;
}

/* ---- scratch databases of the drill ------------------------------------------ */

#define PG_SCRATCH_OBJECTS_SQL                                                                     \
    "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = current_schema()::regnamespace "    \
    "AND relkind IN ('r', 'p', 'S', 'v', 'm')) + (SELECT count(*) FROM pg_proc WHERE "             \
    "pronamespace = current_schema()::regnamespace) + (SELECT count(*) FROM pg_namespace WHERE "   \
    "nspname = 'bulwark_keys')"

#define PG_SCRATCH_WIPE_SQL                                                                        \
    "DROP SCHEMA IF EXISTS bulwark_keys CASCADE; DO $$ DECLARE r RECORD; BEGIN "                   \
    "FOR r IN SELECT oid::regclass AS o FROM pg_class WHERE relnamespace = "                       \
    "current_schema()::regnamespace AND relkind IN ('r', 'p') LOOP "                               \
    "EXECUTE format('DROP TABLE IF EXISTS %s CASCADE', r.o); END LOOP; "                           \
    "FOR r IN SELECT oid::regclass AS o FROM pg_class WHERE relnamespace = "                       \
    "current_schema()::regnamespace AND relkind = 'S' LOOP "                                       \
    "EXECUTE format('DROP SEQUENCE IF EXISTS %s CASCADE', r.o); END LOOP; "                        \
    "FOR r IN SELECT oid::regprocedure AS o FROM pg_proc WHERE pronamespace = "                    \
    "current_schema()::regnamespace LOOP "                                                         \
    "EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', r.o); END LOOP; END $$"

static enum bw_rc scratch_conn(const char *target, PGconn **conn, char *why, size_t whylen)
{
    const char *mode = NULL;
    enum bw_rc rc = check_url(target, &mode, why, whylen);
    if (rc != BW_OK)
        return rc;
    struct pg_store tmp = {.target = (char *)target};
    return bw_pg_connect(&tmp, conn, why, whylen);
}

enum bw_rc bw_store_scratch_empty(const char *target, bool *empty, char *why, size_t whylen)
{
    PGconn *conn = NULL;
    char n[32] = "";
    enum bw_rc rc = scratch_conn(target, &conn, why, whylen);
    if (rc == BW_OK)
        rc = query_value(conn, PG_SCRATCH_OBJECTS_SQL, 0, NULL, n, sizeof(n));
    if (rc == BW_OK)
        *empty = strcmp(n, "0") == 0;
    else if (why[0] == '\0')
        bw_why(why, whylen, "cannot inspect the scratch database");
    PQfinish(conn);
    return rc;
}

enum bw_rc bw_store_scratch_wipe(const char *target, char *why, size_t whylen)
{
    PGconn *conn = NULL;
    enum bw_rc rc = scratch_conn(target, &conn, why, whylen);
    if (rc == BW_OK)
        rc = exec_simple(conn, "BEGIN; " PG_SCRATCH_WIPE_SQL "; COMMIT", "scratch wipe");
    if (rc != BW_OK && why[0] == '\0')
        bw_why(why, whylen, "cannot empty the scratch database");
    PQfinish(conn);
    return rc;
}

/* ---- the change log (store_pg_log.c) ------------------------------------------ */

static enum bw_rc pg_changelog(void *impl, bw_store_change_fn fn, void *arg, char *why,
                               size_t whylen)
{
    struct pg_store *s = impl;
    bw_pg_log_stop(s->log);
    s->log = NULL;
    return fn != NULL ? bw_pg_log_start(s, fn, arg, &s->log, why, whylen) : BW_OK;
}

static enum bw_rc pg_changelog_sync(void *impl)
{
    struct pg_store *s = impl;
    return s->log != NULL ? bw_pg_log_sync(s->log) : BW_OK;
}

struct apply_arg {
    const void *data;
    size_t len;
};

static enum bw_rc apply_fn(struct bw_tx *tx, void *arg)
{
    const struct apply_arg *a = arg;
    return bw_pg_log_apply(((struct pg_tx *)tx)->c->conn, a->data, a->len);
}

static enum bw_rc pg_apply_changes(void *impl, const void *data, size_t len)
{
    struct pg_store *s = impl;
    struct apply_arg a = {data, len};
    enum bw_rc rc = pg_write(s, apply_fn, &a);
    if (rc == BW_OK)
        s->replayed = true;
    return rc;
}

/* ---- the key store's own copy (decision C6) ----------------------------------
 * The schema bulwark_keys alone, dumped and restored by the same tools. */
static enum bw_rc pg_keys_snapshot(void *impl, const char *dest, char *why, size_t whylen)
{
    struct pg_store *s = impl;
    char **env = NULL, dbname[256] = "";
    int fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        bw_why(why, whylen, "cannot create %s: %s", dest, strerror(errno));
        return BW_ERR_IO;
    }
    close(fd);
    enum bw_rc rc = tool_env(s->target, &env, dbname, sizeof(dbname));
    if (rc == BW_OK) {
        char *argv[] = {"pg_dump",    "--format=custom", "--compress=0",
                        "--no-owner", "--no-acl",        "--schema=bulwark_keys",
                        "--file",     (char *)dest,      NULL};
        rc = run_tool(argv, env, why, whylen);
    }
    env_free(env);
    return rc;
}

static enum bw_rc pg_keys_load(const char *target, const char *snapshot, char *why,
                               size_t whylen)
{
    return restore_dump(target, snapshot, why, whylen);
}

const struct bw_store_ops bw_store_pg_ops = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .write = pg_write,
    .read = pg_read,
    .exec = pg_exec,
    .query = pg_query,
    .migrate = pg_migrate,
    .schema_version = pg_schema_version,
    .check = pg_check,
    .stats = pg_stats,
    .row_count = pg_row_count,
    .row_is_null = pg_row_is_null,
    .row_int = pg_row_int,
    .row_text = pg_row_text,
    .row_blob = pg_row_blob,
    .snapshot = pg_snapshot,
    .load_snapshot = pg_load_snapshot,
    .changelog = pg_changelog,
    .apply_changes = pg_apply_changes,
    .changelog_sync = pg_changelog_sync,
    .keys_snapshot = pg_keys_snapshot,
    .keys_load = pg_keys_load,
};
