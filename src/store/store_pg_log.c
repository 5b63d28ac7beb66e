/*
 * store_pg_log.c - the continuous change log on PostgreSQL (issue 6, BCK-05).
 * Migration 0014 holds the SQL half: capture triggers copy row images into
 * bw_changelog, and each writing transaction draws its commit number and time
 * under an advisory lock at COMMIT, so numbers follow commit order and a
 * reader that sees number N sees every smaller committed number. This file
 * is the C half: it installs the triggers while `serve` ships the log, polls
 * the committed transactions in number order on a connection of its own,
 * hands each to the backup layer's callback as one record (a JSON array of
 * {"t": table, "o": "U"|"D", "r": row image}) with the next stream sequence,
 * and deletes what it delivered. Every commit is captured, also those of
 * other processes (the CLI): PostgreSQL streams have no gaps.
 *
 * Trusts: the migration's SQL and the catalogue. Replay input comes from an
 * authenticated backup and is still checked by bw_changelog_apply (unknown
 * tables, operations and shapes are errors). Never: delivers a transaction
 * out of commit order, or twice, or delivers a number beyond what a pinned
 * snapshot sees before that snapshot's position is taken.
 */
#include "store/store_pg_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LOG_POLL_MS 200
#define LOG_BATCH   "500"
#define LOG_BATCH_N 500
/* Session-level advisory lock of the process that ships the log ("bwlogown"). */
#define LOG_OWNER_LOCK "7095260068624463726"

#define LOG_FETCH_SQL                                                                              \
    "SELECT m.seq, m.ts_ms, COALESCE((SELECT json_agg(json_build_object('t', c.tbl, 'o', c.op, "   \
    "'r', c.img) ORDER BY c.id) FROM bw_changelog c WHERE c.xid = m.xid), '[]')::text "            \
    "FROM bw_changelog_commit m WHERE m.seq > $1 ORDER BY m.seq LIMIT " LOG_BATCH

/* Waits for the transaction drawing a commit number, if any, and reads the
 * clock while holding the commit lock (released at the statement's end):
 * every commit stamped before that time is visible to the next statement,
 * every later one is stamped after it. */
#define LOG_WATERMARK_SQL                                                                          \
    "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT "                               \
    "FROM (SELECT pg_advisory_xact_lock(7163425625707669351)) AS l"

#define LOG_PRUNE_SQL                                                                              \
    "DELETE FROM bw_changelog c USING bw_changelog_commit m WHERE c.xid = m.xid AND m.seq <= $1"
#define LOG_PRUNE_COMMITS_SQL "DELETE FROM bw_changelog_commit WHERE seq <= $1"

struct pg_log {
    pthread_mutex_t mu; /* one delivery at a time: poller, sync, pin */
    pthread_cond_t cv;
    pthread_t th;
    bool running;
    bool stop;
    PGconn *conn; /* the poller's; holds LOG_OWNER_LOCK for the log's life */
    bw_store_change_fn fn;
    void *arg;
    uint64_t seq;        /* last stream sequence handed to fn */
    int64_t last_commit; /* bw_changelog_commit.seq of that transaction */
    int64_t pruned;      /* commits up to here are deleted */
};

/* ---- delivery ------------------------------------------------------------------- */

static enum bw_rc parse_i64(const char *s, int64_t *out)
{
    uint64_t u = 0;
    if (bw_parse_u64(s, INT64_MAX, &u) != BW_OK)
        return BW_ERR_STORE;
    *out = (int64_t)u;
    return BW_OK;
}

/* One batch of committed transactions after last_commit, delivered in order;
 * *more when the batch was full. Caller holds l->mu. */
static enum bw_rc deliver_batch(struct pg_log *l, PGconn *conn, bool *more)
{
    char after[24];
    snprintf(after, sizeof(after), "%" PRId64, l->last_commit);
    const char *params[] = {after};
    PGresult *res = PQexecParams(conn, LOG_FETCH_SQL, 1, NULL, params, NULL, NULL, 0);
    enum bw_rc rc = BW_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = bw_pg_map_error(res, "change log fetch");
        PQclear(res);
        return rc;
    }
    int n = PQntuples(res);
    for (int i = 0; i < n && rc == BW_OK; i++) {
        int64_t commit = 0, ts = 0;
        rc = parse_i64(PQgetvalue(res, i, 0), &commit);
        if (rc == BW_OK)
            rc = parse_i64(PQgetvalue(res, i, 1), &ts);
        if (rc == BW_OK && commit <= l->last_commit)
            rc = BW_ERR_STORE; /* out of order: never deliver it */
        if (rc != BW_OK)
            break;
        l->fn(l->arg, ++l->seq, ts, PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2));
        l->last_commit = commit;
    }
    *more = rc == BW_OK && n == LOG_BATCH_N;
    PQclear(res);
    return rc;
}

static enum bw_rc deliver_all(struct pg_log *l, PGconn *conn)
{
    bool more = true;
    enum bw_rc rc = BW_OK;
    while (rc == BW_OK && more)
        rc = deliver_batch(l, conn, &more);
    return rc;
}

/* Deletes what was delivered (one statement each, autocommit). */
static enum bw_rc prune(struct pg_log *l)
{
    if (l->last_commit == l->pruned)
        return BW_OK;
    char upto[24];
    snprintf(upto, sizeof(upto), "%" PRId64, l->last_commit);
    const char *params[] = {upto};
    static const char *const sql[] = {LOG_PRUNE_SQL, LOG_PRUNE_COMMITS_SQL};
    for (size_t i = 0; i < BW_ARRAY_LEN(sql); i++) {
        PGresult *res = PQexecParams(l->conn, sql[i], 1, NULL, params, NULL, NULL, 0);
        enum bw_rc rc =
            PQresultStatus(res) == PGRES_COMMAND_OK ? BW_OK : bw_pg_map_error(res, "log prune");
        PQclear(res);
        if (rc != BW_OK)
            return rc;
    }
    l->pruned = l->last_commit;
    return BW_OK;
}

/* Delivers and prunes on the poller's connection; caller holds l->mu. */
static enum bw_rc poll_locked(struct pg_log *l)
{
    if (PQstatus(l->conn) != CONNECTION_OK) {
        /* the owner lock went with the connection: another process may now
         * ship the log, so this stream cannot go on silently */
        bw_log(BW_LOG_ERROR, "store.pg", "the change log's connection was lost");
        return BW_ERR_STORE;
    }
    char mark[24] = "";
    int64_t watermark = 0;
    enum bw_rc rc = bw_pg_query_value(l->conn, LOG_WATERMARK_SQL, 0, NULL, mark, sizeof(mark));
    if (rc == BW_OK)
        rc = parse_i64(mark, &watermark);
    if (rc == BW_OK)
        rc = deliver_all(l, l->conn);
    if (rc == BW_OK)
        l->fn(l->arg, 0, watermark, NULL, 0); /* everything stamped before it is delivered */
    if (rc == BW_OK)
        rc = prune(l);
    return rc;
}

static void *poller(void *arg)
{
    struct pg_log *l = arg;
    bool warned = false;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        enum bw_rc rc = poll_locked(l);
        if (rc != BW_OK && !warned)
            bw_log(BW_LOG_WARN, "store.pg", "change log poll failed: %s", bw_rc_str(rc));
        warned = rc != BW_OK;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += LOG_POLL_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ---- start and stop --------------------------------------------------------------- */

/* Installs the triggers and drops what was captured before this stream, in
 * one transaction (creating a trigger waits for the table's writers, so a
 * transaction that wrote before the trigger existed has committed by then and
 * any snapshot pinned later holds it). Deadlocks with writers are retried. */
static enum bw_rc install(struct pg_log *l, char *why, size_t whylen)
{
    char skipped[1024] = "", last[24] = "";
    enum bw_rc rc = BW_ERR_STORE;
    for (int attempt = 0; attempt < 3 && rc != BW_OK; attempt++) {
        rc = bw_pg_exec(l->conn, "BEGIN; SET LOCAL lock_timeout = '10s'", "log install");
        if (rc == BW_OK)
            rc = bw_pg_query_value(l->conn, "SELECT bw_changelog_install(true)", 0, NULL, skipped,
                                   sizeof(skipped));
        if (rc == BW_OK)
            rc = bw_pg_query_value(l->conn, "SELECT COALESCE(max(seq), 0) FROM bw_changelog_commit",
                                   0, NULL, last, sizeof(last));
        if (rc == BW_OK)
            rc = bw_pg_exec(l->conn,
                            "DELETE FROM bw_changelog; DELETE FROM bw_changelog_commit; COMMIT",
                            "log install");
        if (rc != BW_OK && bw_pg_exec(l->conn, "ROLLBACK", "log install") != BW_OK)
            bw_log(BW_LOG_DEBUG, "store.pg", "rollback after a failed install failed");
    }
    if (rc != BW_OK) {
        bw_why(why, whylen, "cannot install the change-log triggers");
        return rc;
    }
    /* rows committed after the install's snapshot but numbered before it
     * cannot exist: the install held every table against writers */
    rc = parse_i64(last, &l->last_commit);
    l->pruned = 0;
    if (rc == BW_OK && skipped[0] != '\0')
        bw_why(why, whylen, "tables without a PRIMARY KEY are not in the change log: %s", skipped);
    return rc;
}

static void log_free(struct pg_log *l)
{
    if (l == NULL)
        return;
    PQfinish(l->conn); /* also releases LOG_OWNER_LOCK */
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    bw_free(l);
}

enum bw_rc bw_pg_log_start(const struct pg_store *st, bw_store_change_fn fn, void *arg,
                           struct pg_log **out, char *why, size_t whylen)
{
    char got[8] = "";
    struct pg_log *l = bw_calloc(1, sizeof(*l));
    if (l == NULL)
        return BW_ERR_NOMEM;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->fn = fn;
    l->arg = arg;
    enum bw_rc rc = bw_pg_connect(st, &l->conn, why, whylen);
    if (rc == BW_OK)
        rc = bw_pg_query_value(l->conn, "SELECT pg_try_advisory_lock(" LOG_OWNER_LOCK ")", 0, NULL,
                               got, sizeof(got));
    if (rc == BW_OK && strcmp(got, "t") != 0) {
        bw_why(why, whylen,
               "another process ships this database's change log (one `bulwark "
               "serve` with backups per database)");
        rc = BW_ERR_BUSY;
    }
    if (rc == BW_OK)
        rc = install(l, why, whylen);
    if (rc == BW_OK && pthread_create(&l->th, NULL, poller, l) != 0) {
        rc = BW_ERR_NOMEM; /* no poller: capture must not run unpruned */
        if (bw_pg_exec(l->conn, "SELECT bw_changelog_install(false)", "log uninstall") != BW_OK)
            bw_log(BW_LOG_WARN, "store.pg", "cannot drop the change-log triggers");
    }
    if (rc != BW_OK) {
        log_free(l);
        return rc;
    }
    l->running = true;
    *out = l;
    return BW_OK;
}

void bw_pg_log_stop(struct pg_log *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (l->running)
        pthread_join(l->th, NULL);
    /* no capture after this; then what was captured is delivered */
    if (PQstatus(l->conn) == CONNECTION_OK &&
        bw_pg_exec(l->conn, "SELECT bw_changelog_install(false)", "log uninstall") != BW_OK)
        bw_log(BW_LOG_WARN, "store.pg", "cannot drop the change-log triggers");
    if (poll_locked(l) != BW_OK)
        bw_log(BW_LOG_WARN, "store.pg", "the last change-log poll failed");
    log_free(l);
}

enum bw_rc bw_pg_log_sync(struct pg_log *l)
{
    pthread_mutex_lock(&l->mu);
    enum bw_rc rc = poll_locked(l);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

enum bw_rc bw_pg_log_pin(struct pg_log *l, PGconn *conn, char *snap, size_t cap, uint64_t *log_seq)
{
    pthread_mutex_lock(&l->mu);
    enum bw_rc rc =
        bw_pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "snapshot begin");
    if (rc == BW_OK)
        rc = bw_pg_query_value(conn, "SELECT pg_export_snapshot()", 0, NULL, snap, cap);
    if (rc == BW_OK)
        rc = deliver_all(l, conn);
    if (rc == BW_OK)
        *log_seq = l->seq;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/* ---- replay ---------------------------------------------------------------------- */

enum bw_rc bw_pg_log_apply(PGconn *conn, const void *data, size_t len)
{
    if (len == 0 || len > INT32_MAX || memchr(data, '\0', len) != NULL)
        return BW_ERR_INVALID;
    char *text = bw_malloc(len + 1);
    if (text == NULL)
        return BW_ERR_NOMEM;
    memcpy(text, data, len);
    text[len] = '\0';
    const char *params[] = {text};
    PGresult *res =
        PQexecParams(conn, "SELECT bw_changelog_apply($1::jsonb)", 1, NULL, params, NULL, NULL, 0);
    enum bw_rc rc =
        PQresultStatus(res) == PGRES_TUPLES_OK ? BW_OK : bw_pg_map_error(res, "log apply");
    PQclear(res);
    bw_free(text);
    return rc == BW_ERR_EXISTS ? BW_ERR_STORE : rc;
}
