/*
 * Store conformance suite (STYLE rule 11): the same cases run unchanged
 * against the SQLite driver and the PostgreSQL driver.
 *   test_store_conformance sqlite            (temporary database file)
 *   test_store_conformance postgresql://...  (a fresh, empty database)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

static char target[4096];
static char tmpdir[256];
static struct bw_store *st;

static void open_store(void)
{
    char why[512] = "";
    struct bw_store_opts opts = {.pool_size = 4, .busy_timeout_ms = 5000, .create = true};
    enum bw_rc rc = bw_store_open(target, &opts, &st, why, sizeof(why));
    if (rc != BW_OK)
        fail_msg("open %s: %s (%s)", strncmp(target, "postgres", 8) == 0 ? "postgresql" : target,
                 bw_rc_str(rc), why); /* never print a URL: it holds the password */
}

static int setup(void **state)
{
    int version = 0;
    open_store();
    return bw_store_migrate(st, &version) == BW_OK && version >= 1 ? 0 : -1;
}

static int teardown(void **state)
{
    bw_store_close(st);
    st = NULL;
    if (tmpdir[0] != '\0') {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

struct kv {
    const char *key;
    const char *value;
};

static enum bw_rc put_fn(struct bw_tx *tx, void *arg)
{
    const struct kv *kv = arg;
    return bw_store_meta_put(tx, kv->key, kv->value);
}

static enum bw_rc put_then_fail_fn(struct bw_tx *tx, void *arg)
{
    enum bw_rc rc = put_fn(tx, arg);
    return rc == BW_OK ? BW_ERR_CONFLICT : rc;
}

struct get {
    const char *key;
    struct bw_buf out;
    enum bw_rc rc;
};

static enum bw_rc get_fn(struct bw_tx *tx, void *arg)
{
    struct get *g = arg;
    g->rc = bw_store_meta_get(tx, g->key, &g->out);
    return BW_OK;
}

/* Returns the value (caller frees) or NULL when absent. */
static char *get_value(const char *key)
{
    struct get g = {.key = key};
    bw_buf_init(&g.out, 1 << 20);
    assert_int_equal(bw_store_read(st, get_fn, &g), BW_OK);
    if (g.rc == BW_ERR_NOTFOUND) {
        bw_buf_free(&g.out, false);
        return NULL;
    }
    assert_int_equal(g.rc, BW_OK);
    char *v = bw_buf_steal(&g.out, NULL);
    return v != NULL ? v : bw_strdup("");
}

static void test_schema(void **state)
{
    int have = -1, want = -1, again = 0;
    assert_int_equal(bw_store_schema_version(st, &have, &want), BW_OK);
    assert_int_equal(have, want);
    assert_int_equal(bw_store_migrate(st, &again), BW_OK); /* idempotent */
    assert_int_equal(again, want);
    char why[256] = "";
    assert_int_equal(bw_store_check(st, why, sizeof(why)), BW_OK);
}

static void test_put_get_overwrite(void **state)
{
    static const struct kv cases[] = {
        {"plain", "value"},
        {"empty", ""},
        {"utf8", "gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"injection", "'; DROP TABLE bw_meta; --"},
        {"quote\"key'", "x\\y%_"},
    };
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++)
        assert_int_equal(bw_store_write(st, put_fn, (void *)&cases[i]), BW_OK);
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        char *v = get_value(cases[i].key);
        assert_non_null(v);
        assert_string_equal(v, cases[i].value);
        bw_free(v);
    }
    struct kv over = {"plain", "second"};
    assert_int_equal(bw_store_write(st, put_fn, &over), BW_OK);
    char *v = get_value("plain");
    assert_string_equal(v, "second");
    bw_free(v);
    assert_null(get_value("absent"));
}

static void test_failed_fn_rolls_back(void **state)
{
    struct kv kv = {"rollback", "must-not-persist"};
    assert_int_equal(bw_store_write(st, put_then_fail_fn, &kv), BW_ERR_CONFLICT);
    assert_null(get_value("rollback"));
}

struct worker {
    int id;
    int n;
    enum bw_rc rc;
};

static void *writer_thread(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->n && w->rc == BW_OK; i++) {
        char key[64];
        snprintf(key, sizeof(key), "conc.%02d.%05d", w->id, i);
        struct kv kv = {key, "v"};
        /* every third write fails on purpose: it must not disturb the batch */
        if (i % 3 == 2) {
            if (bw_store_write(st, put_then_fail_fn, &kv) != BW_ERR_CONFLICT)
                w->rc = BW_ERR_INTERNAL;
        } else {
            w->rc = bw_store_write(st, put_fn, &kv);
        }
    }
    return NULL;
}

struct count {
    const char *prefix;
    int64_t n;
};

static enum bw_rc count_row(void *arg, const struct bw_row *row)
{
    struct count *c = arg;
    c->n = bw_row_int(row, 0);
    return BW_OK;
}

static enum bw_rc count_fn(struct bw_tx *tx, void *arg)
{
    struct count *c = arg;
    struct bw_val p[] = {BW_VTEXT(c->prefix)};
    return bw_tx_query(tx, BW_STMT_META_COUNT_LIKE, p, 1, count_row, c);
}

static void test_concurrent_writers(void **state)
{
    enum { THREADS = 8, PER = 150 };
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.id = i, .n = PER, .rc = BW_OK};
        assert_int_equal(pthread_create(&th[i], NULL, writer_thread, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].rc, BW_OK);
    }
    struct count c = {.prefix = "conc.", .n = -1};
    assert_int_equal(bw_store_read(st, count_fn, &c), BW_OK);
    assert_int_equal(c.n, THREADS * (PER - PER / 3));
    struct bw_store_stats s;
    bw_store_stats(st, &s);
    assert_true(s.commits >= (uint64_t)c.n);
    assert_true(s.pool_size >= 1);
}

struct listing {
    int rows;
    char last[64];
    bool ordered;
};

static enum bw_rc list_row(void *arg, const struct bw_row *row)
{
    struct listing *l = arg;
    size_t len = 0;
    const char *k = bw_row_text(row, 0, &len);
    assert_int_equal(bw_row_count(row), 2);
    assert_false(bw_row_is_null(row, 0));
    if (l->rows > 0 && strcmp(l->last, k) >= 0)
        l->ordered = false;
    snprintf(l->last, sizeof(l->last), "%s", k);
    l->rows++;
    return BW_OK;
}

static enum bw_rc list_fn(struct bw_tx *tx, void *arg)
{
    struct bw_val p[] = {BW_VTEXT("conc.03."), BW_VINT(10)};
    return bw_tx_query(tx, BW_STMT_META_LIST_LIKE, p, 2, list_row, arg);
}

static enum bw_rc stop_row(void *arg, const struct bw_row *row)
{
    return BW_ERR_CONFLICT;
}

static enum bw_rc stop_fn(struct bw_tx *tx, void *arg)
{
    struct bw_val p[] = {BW_VTEXT("conc."), BW_VINT(10)};
    return bw_tx_query(tx, BW_STMT_META_LIST_LIKE, p, 2, stop_row, arg);
}

static enum bw_rc wrong_params_fn(struct bw_tx *tx, void *arg)
{
    struct bw_val p[] = {BW_VTEXT("a")};
    return bw_tx_exec(tx, BW_STMT_META_PUT, p, 1, NULL);
}

static void test_query_and_errors(void **state)
{
    struct listing l = {.ordered = true};
    assert_int_equal(bw_store_read(st, list_fn, &l), BW_OK);
    assert_int_equal(l.rows, 10);
    assert_true(l.ordered);
    assert_int_equal(bw_store_read(st, stop_fn, NULL), BW_ERR_CONFLICT);
    assert_int_equal(bw_store_write(st, wrong_params_fn, NULL), BW_ERR_INTERNAL);
}

static enum bw_rc delete_fn(struct bw_tx *tx, void *arg)
{
    uint64_t changes = 0;
    struct bw_val p[] = {BW_VTEXT("plain")};
    enum bw_rc rc = bw_tx_exec(tx, BW_STMT_META_DELETE, p, 1, &changes);
    return rc == BW_OK && changes != 1 ? BW_ERR_INTERNAL : rc;
}

static void test_delete_and_reopen(void **state)
{
    assert_int_equal(bw_store_write(st, delete_fn, NULL), BW_OK);
    assert_null(get_value("plain"));
    bw_store_close(st);
    open_store(); /* durable across close/open */
    char *v = get_value("injection");
    assert_string_equal(v, "'; DROP TABLE bw_meta; --");
    bw_free(v);
    assert_null(get_value("plain"));
}

/* ---- the change log (issue 6): commit order under contention ------------------ */

struct logrec {
    uint64_t seq;
    int64_t ts;
    void *data;
    size_t len;
};

struct collector {
    pthread_mutex_t mu;
    struct logrec v[4096];
    size_t n;
    bool gap, overflow;
};

static void collect(void *arg, uint64_t seq, int64_t ts_ms, const void *data, size_t len)
{
    struct collector *c = arg;
    if (seq == 0)
        return; /* a watermark */
    pthread_mutex_lock(&c->mu);
    if (data == NULL) {
        c->gap = true;
    } else if (c->n == sizeof(c->v) / sizeof(c->v[0])) {
        c->overflow = true;
    } else {
        void *copy = bw_malloc(len);
        if (copy != NULL)
            memcpy(copy, data, len);
        c->v[c->n++] = (struct logrec){.seq = seq, .ts = ts_ms, .data = copy, .len = len};
    }
    pthread_mutex_unlock(&c->mu);
}

static void *contender(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->n && w->rc == BW_OK; i++) {
        char value[32], own[32];
        snprintf(value, sizeof(value), "t%02d.%03d", w->id, i);
        snprintf(own, sizeof(own), "order.own.%02d", w->id);
        struct kv hot = {"order.hot", value}, mine = {own, value};
        struct kv doomed = {"order.doomed", value};
        w->rc = bw_store_write(st, put_fn, &hot);
        if (w->rc == BW_OK)
            w->rc = bw_store_write(st, put_fn, &mine);
        if (w->rc == BW_OK && bw_store_write(st, put_then_fail_fn, &doomed) != BW_ERR_CONFLICT)
            w->rc = BW_ERR_INTERNAL;
    }
    return NULL;
}

static enum bw_rc delete_key_fn(struct bw_tx *tx, void *arg)
{
    uint64_t changes = 0;
    struct bw_val p[] = {BW_VTEXT((const char *)arg)};
    return bw_tx_exec(tx, BW_STMT_META_DELETE, p, 1, &changes);
}

/* Eight writers overwrite one row while the log runs: the records come with
 * consecutive sequence numbers and non-decreasing times, hold no rolled-back
 * write, and replaying them in order onto the store with the rows deleted
 * rebuilds exactly the final values (a record delivered out of commit order
 * would leave another writer's value). */
static void test_changelog_commit_order(void **state)
{
    enum { THREADS = 8, PER = 40 };
    static struct collector col;
    char why[512] = "";
    pthread_t th[THREADS];
    struct worker w[THREADS];
    pthread_mutex_init(&col.mu, NULL);
    assert_int_equal(bw_store_changelog(st, collect, &col, why, sizeof(why)), BW_OK);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.id = i, .n = PER, .rc = BW_OK};
        assert_int_equal(pthread_create(&th[i], NULL, contender, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].rc, BW_OK);
    }
    assert_int_equal(bw_store_changelog(st, NULL, NULL, why, sizeof(why)), BW_OK);
    assert_false(col.gap);
    assert_false(col.overflow);
    assert_true(col.n >= 2);
    for (size_t i = 1; i < col.n; i++) {
        assert_int_equal(col.v[i].seq, col.v[i - 1].seq + 1);
        assert_true(col.v[i].ts >= col.v[i - 1].ts);
    }
    char *hot = get_value("order.hot");
    char *own[THREADS];
    assert_non_null(hot);
    for (int i = 0; i < THREADS; i++) {
        char key[32];
        snprintf(key, sizeof(key), "order.own.%02d", i);
        own[i] = get_value(key);
        assert_non_null(own[i]);
        assert_int_equal(bw_store_write(st, delete_key_fn, key), BW_OK);
    }
    assert_int_equal(bw_store_write(st, delete_key_fn, "order.hot"), BW_OK);
    for (size_t i = 0; i < col.n; i++) {
        assert_int_equal(bw_store_apply_changes(st, col.v[i].data, col.v[i].len), BW_OK);
        bw_free(col.v[i].data);
    }
    char *again = get_value("order.hot");
    assert_non_null(again);
    assert_string_equal(again, hot);
    for (int i = 0; i < THREADS; i++) {
        char key[32];
        snprintf(key, sizeof(key), "order.own.%02d", i);
        char *v = get_value(key);
        assert_non_null(v);
        assert_string_equal(v, own[i]);
        bw_free(v);
        bw_free(own[i]);
    }
    assert_null(get_value("order.doomed"));
    bw_free(hot);
    bw_free(again);
    pthread_mutex_destroy(&col.mu);
}

/* A snapshot pinned in place (SQLite): the bytes are a database file that
 * holds what was committed before the pin, and they do not change while
 * writes go on; PostgreSQL declines (its snapshot is a pg_dump file). */
static void test_snapshot_pin(void **state)
{
    const uint8_t *data = NULL;
    size_t len = 0;
    uint64_t seq = 0;
    struct bw_store_pin *pin = NULL;
    char why[256] = "";
    struct kv before = {"pin.before", "committed before the pin"};
    (void)state;
    assert_int_equal(bw_store_write(st, put_fn, &before), BW_OK);
    enum bw_rc rc = bw_store_snapshot_pin(st, &data, &len, &seq, &pin, why, sizeof(why));
    if (strcmp(bw_store_driver(st), "sqlite") != 0) {
        assert_int_equal(rc, BW_ERR_UNSUPPORTED);
        assert_null(pin);
        return;
    }
    assert_int_equal(rc, BW_OK);
    assert_true(len > 100 && memcmp(data, "SQLite format 3", 16) == 0);
    assert_non_null(memmem(data, len, before.value, strlen(before.value)));
    uint8_t *copy = bw_malloc(len);
    assert_non_null(copy);
    memcpy(copy, data, len);
    for (int i = 0; i < 200; i++) { /* writes while pinned go to the log, not the file */
        char key[32];
        snprintf(key, sizeof(key), "pin.after.%d", i);
        struct kv after = {key, "written while the snapshot is pinned"};
        assert_int_equal(bw_store_write(st, put_fn, &after), BW_OK);
    }
    assert_memory_equal(copy, data, len);
    assert_null(memmem(data, len, "written while the snapshot", 26));
    bw_free(copy);
    bw_store_pin_release(pin);
    char *v = get_value("pin.after.199");
    assert_non_null(v);
    bw_free(v);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s sqlite|postgresql://...\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "sqlite") == 0) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/bw-conformance-XXXXXX");
        if (mkdtemp(tmpdir) == NULL)
            return 1;
        snprintf(target, sizeof(target), "%s/bulwark.db", tmpdir);
    } else {
        snprintf(target, sizeof(target), "%s", argv[1]);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema),
        cmocka_unit_test(test_put_get_overwrite),
        cmocka_unit_test(test_failed_fn_rolls_back),
        cmocka_unit_test(test_concurrent_writers),
        cmocka_unit_test(test_query_and_errors),
        cmocka_unit_test(test_delete_and_reopen),
        cmocka_unit_test(test_changelog_commit_order),
        cmocka_unit_test(test_snapshot_pin),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
