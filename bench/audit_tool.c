/*
 * audit_tool.c - test and benchmark helper for the audit trail (issue 5).
 * Drives the real store and the real bw_audit_append; nothing is faked.
 *
 *   audit_tool append TARGET N THREADS [CLOCK_OFFSET_SECONDS]
 *       N durable appends (one bw_store_write each, one event each) from
 *       THREADS threads; with an offset the events carry a shifted clock
 *       (bw_time_set_offset, the test hook of core/time.c) - how the
 *       retention test makes events 731 and 729 days old. Prints JSON.
 *   audit_tool rawsqlite FILE N
 *       the one-fsync-per-event baseline: N single-row transactions on a
 *       WAL database with synchronous=FULL, one after another. Prints JSON.
 *   audit_tool scan TARGET
 *       the storage floor of verify: reads every live event through the
 *       same paged range query (bw_audit_scan) and hashes nothing.
 *       Prints JSON with CPU seconds and canonical MB per CPU second.
 *   audit_tool hash N
 *       the hashing floor of verify: N chain hashes (v2, SHA-256) of a
 *       typical 166-byte event, nothing read. Prints JSON likewise.
 *   audit_tool lockorder URL plain|deferred
 *       PostgreSQL only: the lock-order hazard of the chain head, forced
 *       deterministically. T1 appends an event and then updates a bw_meta
 *       row; T2 updates that row first and then appends. "plain" runs T1
 *       through bw_store_write (head locked at the append: PostgreSQL must
 *       find a deadlock and abort one); "deferred" through bw_audit_write
 *       (head locked at the end: both commit). Prints JSON.
 * TARGET is a SQLite file or a postgresql:// URL.
 */
#include "audit/audit.h"
#include "crypto/crypto.h"
#include "store/store.h"

#include <jansson.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct worker {
    struct bw_store *st;
    long n;
    int id;
    enum bw_rc rc;
};

struct one {
    int id;
    long i;
};

static enum bw_rc append_one(struct bw_tx *tx, void *arg)
{
    const struct one *o = arg;
    struct bw_audit_ctx ctx = {.remote = "127.0.0.1", .request_id = "bench"};
    char target[32];
    snprintf(target, sizeof(target), "writer-%d", o->id);
    return bw_audit_append(tx, &ctx, "system", "bench.append", target, BW_AUDIT_SUCCESS,
                           json_pack("{s:i, s:I}", "writer", o->id, "i", (json_int_t)o->i));
}

static void *work(void *arg)
{
    struct worker *w = arg;
    for (long i = 0; i < w->n && w->rc == BW_OK; i++) {
        struct one o = {w->id, i};
        w->rc = bw_store_write(w->st, append_one, &o);
    }
    return NULL;
}

static int cmd_append(const char *target, long n, int threads, long offset)
{
    struct bw_store *st = NULL;
    char why[512] = "";
    struct bw_store_opts opts = {.pool_size = 8, .busy_timeout_ms = 30000};
    if (threads < 1 || threads > 256 || n < threads) {
        fprintf(stderr, "audit_tool: bad N/THREADS\n");
        return 2;
    }
    if (bw_store_open(target, &opts, &st, why, sizeof(why)) != BW_OK) {
        fprintf(stderr, "audit_tool: %s\n", why);
        return 1;
    }
    bw_time_set_offset(offset);
    pthread_t t[256];
    struct worker w[256];
    uint64_t t0 = bw_time_mono_ns();
    for (int i = 0; i < threads; i++) {
        w[i] = (struct worker){st, n / threads + (i < n % threads), i, BW_OK};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    int bad = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        if (w[i].rc != BW_OK) {
            fprintf(stderr, "audit_tool: writer %d: %s\n", i, bw_rc_str(w[i].rc));
            bad = 1;
        }
    }
    double secs = (double)(bw_time_mono_ns() - t0) / 1e9;
    struct bw_store_stats ss;
    bw_store_stats(st, &ss);
    printf("{\"events\":%ld,\"threads\":%d,\"seconds\":%.3f,\"per_second\":%.0f,"
           "\"commit_batches\":%llu}\n",
           n, threads, secs, (double)n / secs, (unsigned long long)ss.commit_batches);
    bw_store_close(st);
    return bad;
}

static int cmd_rawsqlite(const char *file, long n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    if (sqlite3_open(file, &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE IF NOT "
                         "EXISTS t(seq INTEGER PRIMARY KEY, body TEXT NOT NULL)",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO t(body) VALUES (?1)", -1, &ins, NULL) != SQLITE_OK) {
        fprintf(stderr, "audit_tool: %s\n", sqlite3_errmsg(db));
        sqlite3_close(db);
        return 1;
    }
    uint64_t t0 = bw_time_mono_ns();
    for (long i = 0; i < n; i++) {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        sqlite3_bind_text(ins, 1, "{\"bench\":\"one fsync per event\"}", -1, SQLITE_STATIC);
        sqlite3_step(ins);
        sqlite3_reset(ins);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    double secs = (double)(bw_time_mono_ns() - t0) / 1e9;
    printf("{\"events\":%ld,\"seconds\":%.3f,\"per_second\":%.0f}\n", n, secs, (double)n / secs);
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return 0;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct scan_count {
    uint64_t events, bytes;
};

static enum bw_rc count_event(void *arg, const struct bw_audit_event *ev)
{
    struct scan_count *c = arg;
    c->events++;
    c->bytes += (uint64_t)ev->actor.len + ev->action.len + ev->target.len + ev->outcome.len +
                ev->remote.len + ev->request_id.len + ev->details.len + ev->org.len +
                16 + 32 + 16 + 32; /* domain, prev, seq+ts, lengths: bw_audit_event_size */
    return BW_OK;
}

static void print_floor(const char *what, uint64_t events, uint64_t bytes, double cpu)
{
    cpu = cpu > 0 ? cpu : 1e-9;
    printf("{\"what\":\"%s\",\"events\":%llu,\"cpu_seconds\":%.4f,"
           "\"events_per_cpu_second\":%.0f,\"mb_per_cpu_second\":%.1f}\n",
           what, (unsigned long long)events, cpu, (double)events / cpu, (double)bytes / 1e6 / cpu);
}

static int cmd_scan(const char *target)
{
    struct bw_store *st = NULL;
    char why[512] = "";
    struct bw_store_opts opts = {.pool_size = 1, .busy_timeout_ms = 30000};
    struct scan_count c = {0};
    if (bw_store_open(target, &opts, &st, why, sizeof(why)) != BW_OK) {
        fprintf(stderr, "audit_tool: %s\n", why);
        return 1;
    }
    double t0 = cpu_now();
    enum bw_rc rc = bw_audit_scan(st, INT64_MIN, count_event, &c);
    double cpu = cpu_now() - t0;
    bw_store_close(st);
    if (rc != BW_OK) {
        fprintf(stderr, "audit_tool: scan: %s\n", bw_rc_str(rc));
        return 1;
    }
    print_floor("store scan, no hashing", c.events, c.bytes, cpu);
    return 0;
}

static int cmd_hash(long n)
{
    struct bw_audit_event ev = {
        .seq = 1, .ts = 1700000000,
        .actor = {"system", 6}, .action = {"bench.append", 12}, .target = {"writer-7", 8},
        .outcome = {"success", 7}, .remote = {"127.0.0.1", 9}, .request_id = {"bench", 5},
        .details = {"{\"writer\":7,\"i\":123}", 20}, .org = {"-", 1}};
    uint8_t h[BW_AUDIT_HASH_BYTES] = {0};
    struct scan_count c = {0};
    double t0 = cpu_now();
    for (long i = 0; i < n; i++) {
        ev.seq = i + 1;
        if (bw_audit_event_hash(&ev, h, h) != BW_OK)
            return 1;
        count_event(&c, &ev);
    }
    print_floor("chain hash only (SHA-256)", c.events, c.bytes, cpu_now() - t0);
    return 0;
}

/* ---- lockorder ------------------------------------------------------------- */

struct lo {
    sem_t appended, locked;
    enum bw_rc t1, t2;
};

static const char LO_KEY[] = "audit_tool.lockorder";

static bool lo_wait(sem_t *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 15;
    return sem_timedwait(s, &ts) == 0;
}

static enum bw_rc lo_t1_fn(struct bw_tx *tx, void *arg)
{
    struct lo *l = arg;
    enum bw_rc rc = bw_audit_append(tx, NULL, "system", "bench.lockorder", "t1",
                                    BW_AUDIT_SUCCESS, NULL);
    sem_post(&l->appended);
    if (rc == BW_OK && !lo_wait(&l->locked))
        rc = BW_ERR_BUSY;
    if (rc == BW_OK)
        rc = bw_store_meta_put(tx, LO_KEY, "t1"); /* waits for T2's row lock */
    return rc;
}

static enum bw_rc lo_t2_fn(struct bw_tx *tx, void *arg)
{
    struct lo *l = arg;
    if (!lo_wait(&l->appended))
        return BW_ERR_BUSY;
    enum bw_rc rc = bw_store_meta_put(tx, LO_KEY, "t2");
    sem_post(&l->locked);
    /* give T1 time to block on the row T2 now holds */
    struct timespec pause = {.tv_nsec = 300 * 1000 * 1000};
    nanosleep(&pause, NULL);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, NULL, "system", "bench.lockorder", "t2", BW_AUDIT_SUCCESS,
                             NULL);
    return rc;
}

struct lo_run {
    struct bw_store *st;
    struct lo *l;
    bool deferred;
};

static void *lo_t1(void *arg)
{
    struct lo_run *r = arg;
    r->l->t1 = r->deferred ? bw_audit_write(r->st, lo_t1_fn, r->l)
                           : bw_store_write(r->st, lo_t1_fn, r->l);
    return NULL;
}

static void *lo_t2(void *arg)
{
    struct lo_run *r = arg;
    r->l->t2 = bw_store_write(r->st, lo_t2_fn, r->l);
    return NULL;
}

static enum bw_rc lo_seed(struct bw_tx *tx, void *arg)
{
    (void)arg;
    return bw_store_meta_put(tx, LO_KEY, "seed");
}

static int cmd_lockorder(const char *url, const char *mode)
{
    struct bw_store *st = NULL;
    char why[512] = "";
    struct bw_store_opts opts = {.pool_size = 4, .busy_timeout_ms = 30000};
    struct lo l = {.t1 = BW_OK, .t2 = BW_OK};
    struct lo_run r = {.l = &l, .deferred = strcmp(mode, "deferred") == 0};
    pthread_t a, b;
    if (strncmp(url, "postgres", 8) != 0 || (!r.deferred && strcmp(mode, "plain") != 0)) {
        fprintf(stderr, "audit_tool: lockorder needs a postgresql:// URL and plain|deferred\n");
        return 2;
    }
    if (bw_store_open(url, &opts, &st, why, sizeof(why)) != BW_OK) {
        fprintf(stderr, "audit_tool: %s\n", why);
        return 1;
    }
    r.st = st;
    sem_init(&l.appended, 0, 0);
    sem_init(&l.locked, 0, 0);
    enum bw_rc rc = bw_store_write(st, lo_seed, NULL);
    if (rc == BW_OK) {
        pthread_create(&a, NULL, lo_t1, &r);
        pthread_create(&b, NULL, lo_t2, &r);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
    }
    printf("{\"mode\":\"%s\",\"seed\":\"%s\",\"t1\":\"%s\",\"t2\":\"%s\"}\n", mode,
           bw_rc_str(rc), bw_rc_str(l.t1), bw_rc_str(l.t2));
    sem_destroy(&l.appended);
    sem_destroy(&l.locked);
    bw_store_close(st);
    return rc == BW_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (bw_crypto_init() != BW_OK)
        return 1;
    if (argc >= 5 && strcmp(argv[1], "append") == 0)
        return cmd_append(argv[2], strtol(argv[3], NULL, 10), (int)strtol(argv[4], NULL, 10),
                          argc > 5 ? strtol(argv[5], NULL, 10) : 0);
    if (argc == 4 && strcmp(argv[1], "rawsqlite") == 0)
        return cmd_rawsqlite(argv[2], strtol(argv[3], NULL, 10));
    if (argc == 3 && strcmp(argv[1], "scan") == 0)
        return cmd_scan(argv[2]);
    if (argc == 4 && strcmp(argv[1], "lockorder") == 0)
        return cmd_lockorder(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "hash") == 0)
        return cmd_hash(strtol(argv[2], NULL, 10));
    fprintf(stderr, "usage: audit_tool append TARGET N THREADS [OFFSET] | rawsqlite FILE N | "
                    "scan TARGET | hash N | lockorder URL plain|deferred\n");
    return 2;
}
