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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
