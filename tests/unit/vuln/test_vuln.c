/*
 * Unit tests for src/vuln: due times per severity and scope (decision C1),
 * version comparison, the OSV parser on the committed fixture feed, and
 * the scan on a temporary SQLite store: the fixture's known-vulnerable
 * sqlite3 version opens a critical product finding due 24 h after it was
 * found, a second scan opens nothing, closing needs a release or an exception.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "store/store.h"
#include "vuln/vuln.h"

#ifndef BW_FIXTURE_FEED
#error "BW_FIXTURE_FEED must name tests/api/fixtures/osv_feed.json"
#endif

static char dir[256];
static struct bw_store *st;
static struct bw_config cfg;
static const struct bw_audit_ctx actx = {.remote = "-", .request_id = "test"};

static int setup(void **state)
{
    char why[256], db[300];
    struct bw_store_opts o = {.pool_size = 2, .busy_timeout_ms = 5000, .create = true};
    int v = 0;
    snprintf(dir, sizeof(dir), "/tmp/bw-test-vuln-XXXXXX");
    if (mkdtemp(dir) == NULL || bw_config_init(&cfg) != BW_OK)
        return -1;
    snprintf(db, sizeof(db), "%s/db", dir);
    json_set_alloc_funcs(bw_malloc, bw_free);
    return bw_store_open(db, &o, &st, why, sizeof(why)) == BW_OK &&
                   bw_store_migrate(st, &v) == BW_OK
               ? 0
               : -1;
}

static int teardown(void **state)
{
    char cmd[300];
    bw_store_close(st);
    bw_config_cleanup(&cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_due(void **state)
{
    static const struct {
        const char *sev, *scope;
        int64_t want;
        enum bw_rc rc;
    } cases[] = {
        {"critical", "product", 86400, BW_OK},       {"high", "product", 7 * 86400, BW_OK},
        {"medium", "product", 30 * 86400, BW_OK},    {"low", "product", 90 * 86400, BW_OK},
        {"critical", "infrastructure", 2 * 86400, BW_OK},
        {"untriaged", "product", 72 * 3600, BW_OK}, {"severe", "product", 0, BW_ERR_INVALID},
        {"high", "cloud", 0, BW_ERR_INVALID},
    };
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        int64_t due = 0;
        assert_int_equal(bw_vuln_due(&cfg, cases[i].sev, cases[i].scope, 1000, &due), cases[i].rc);
        if (cases[i].rc == BW_OK)
            assert_int_equal(due - 1000, cases[i].want);
    }
}

static void test_version_cmp(void **state)
{
    static const struct {
        const char *a, *b;
        int want;
    } cases[] = {{"3.40.1", "3.40.2", -1}, {"3.40.10", "3.40.9", 1}, {"2.14", "2.14", 0},
                 {"1.0.18", "1.0.18.1", -1}, {"15.20", "15.3", 1},   {"010", "10", 0},
                 {"1.0rc1", "1.0.1", -1}};
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        int c = bw_version_cmp(cases[i].a, cases[i].b);
        assert_int_equal(c < 0 ? -1 : c > 0, cases[i].want);
        int r = bw_version_cmp(cases[i].b, cases[i].a);
        assert_int_equal(r < 0 ? -1 : r > 0, -cases[i].want);
    }
}

struct first {
    char id[BW_ID_LEN + 1];
    int64_t found, due;
    char sev[16], cve[32];
};

static void test_scan_fixture(void **state)
{
    struct bw_scan_stats s;
    char why[256] = "";
    json_t *l = NULL, *it;
    size_t i, n = 0;
    size_t nc = 0;
    const struct bw_sbom_component *c = bw_sbom_components(&nc);
    bool has_sqlite = false;
    for (i = 0; i < nc; i++)
        has_sqlite |= strcmp(c[i].name, "sqlite3") == 0 && strcmp(c[i].version, "3.40.1") == 0;
    assert_true(has_sqlite); /* the fixture is written for the pinned sqlite3 */
    assert_int_equal(bw_vuln_scan(st, &cfg, &actx, "test", BW_FIXTURE_FEED, &s, why, sizeof(why)),
                     BW_OK);
    assert_int_equal(s.advisories, 4);
    assert_int_equal(s.opened, 2); /* sqlite3 (range), libsodium (version list) */
    assert_int_equal(bw_vuln_list(st, &l), BW_OK);
    json_array_foreach(json_object_get(l, "items"), i, it) {
        if (strcmp(json_string_value(json_object_get(it, "component")), "sqlite3") != 0)
            continue;
        int64_t found = 0, due = 0;
        assert_int_equal(bw_time_parse(json_string_value(json_object_get(it, "found_at")), &found),
                         BW_OK);
        assert_int_equal(bw_time_parse(json_string_value(json_object_get(it, "due_at")), &due),
                         BW_OK);
        assert_int_equal(due - found, 24 * 3600);
        assert_string_equal(json_string_value(json_object_get(it, "severity")), "critical");
        assert_string_equal(json_string_value(json_object_get(it, "cve")), "CVE-2024-99901");
        n++;
        struct bw_reg_err err;
        const char *id = json_string_value(json_object_get(it, "id"));
        assert_int_equal(bw_vuln_close(st, &actx, "t", id, NULL, NULL, &err), BW_ERR_INVALID);
        assert_int_equal(bw_vuln_close(st, &actx, "t", id, "1.2.3", "x", &err), BW_ERR_INVALID);
        assert_int_equal(bw_vuln_close(st, &actx, "t", id, "0.1.1", NULL, &err), BW_OK);
        assert_int_equal(bw_vuln_close(st, &actx, "t", id, "0.1.1", NULL, &err), BW_ERR_CONFLICT);
    }
    json_decref(l);
    assert_int_equal(n, 1);
    assert_int_equal(bw_vuln_scan(st, &cfg, &actx, "test", BW_FIXTURE_FEED, &s, why, sizeof(why)),
                     BW_OK);
    assert_int_equal(s.opened, 0); /* known advisories are not opened twice */
    assert_int_equal(bw_vuln_scan(st, &cfg, &actx, "test", "/nonexistent/feed.json", &s, why,
                                  sizeof(why)),
                     BW_ERR_NOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_due),
        cmocka_unit_test(test_version_cmp),
        cmocka_unit_test(test_scan_fixture),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
