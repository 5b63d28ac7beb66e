/*
 * test_cidr.c - the network parsing and matching behind API-key allow-lists
 * and trusted proxies (core/strparse.c) and the client-address rule for
 * X-Forwarded-For (http/server.c bw_client_address), table-driven.
 */
#include "core/core.h"
#include "http/http_int.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void test_parse_and_format(void **state)
{
    static const struct {
        const char *in;
        enum bw_rc rc;
        const char *canon; /* comma-joined canonical form */
    } cases[] = {
        {"127.0.0.1", BW_OK, "127.0.0.1/32"},
        {"10.1.2.3/8", BW_OK, "10.0.0.0/8"},
        {" 192.168.0.0/16 ,::1", BW_OK, "192.168.0.0/16,::1/128"},
        {"2001:db8::1/32", BW_OK, "2001:db8::/32"},
        {"::ffff:10.0.0.1", BW_OK, "10.0.0.1/32"},
        {"::ffff:10.0.0.0/104", BW_OK, "10.0.0.0/8"},
        {"0.0.0.0/0", BW_OK, "0.0.0.0/0"},
        {"", BW_OK, ""},
        {"10.0.0.0/33", BW_ERR_INVALID, NULL},
        {"10.0.0/8", BW_ERR_INVALID, NULL},
        {"::1/129", BW_ERR_INVALID, NULL},
        {"1.2.3.4/", BW_ERR_INVALID, NULL},
        {"1.2.3.4/-1", BW_ERR_INVALID, NULL},
        {"1.2.3.4/+8", BW_ERR_INVALID, NULL},
        {"host.example", BW_ERR_INVALID, NULL},
        {"1.2.3.4:80", BW_ERR_INVALID, NULL},
        {"300.1.1.1", BW_ERR_INVALID, NULL},
    };
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        struct bw_cidr nets[8];
        size_t n = 99;
        char out[256] = "", one[64];
        enum bw_rc rc = bw_cidr_parse_list(cases[i].in, nets, 8, &n);
        assert_int_equal(rc, cases[i].rc);
        assert_int_equal(bw_parse_cidr_list(cases[i].in), cases[i].rc);
        if (rc != BW_OK)
            continue;
        for (size_t k = 0; k < n; k++) {
            bw_cidr_format(&nets[k], one, sizeof(one));
            size_t len = strlen(out);
            snprintf(out + len, sizeof(out) - len, "%s%s", k ? "," : "", one);
        }
        assert_string_equal(out, cases[i].canon);
    }
    struct bw_cidr two[1];
    size_t n = 0;
    assert_int_equal(bw_cidr_parse_list("1.1.1.1,2.2.2.2", two, 1, &n), BW_ERR_TOOBIG);
}

static void test_contains(void **state)
{
    static const struct {
        const char *net;
        const char *ip;
        bool in;
    } cases[] = {
        {"127.0.0.1/32", "127.0.0.1", true},   {"127.0.0.1/32", "127.0.0.2", false},
        {"10.0.0.0/8", "10.255.1.2", true},    {"10.0.0.0/8", "11.0.0.0", false},
        {"0.0.0.0/0", "203.0.113.9", true},    {"0.0.0.0/0", "::1", false},
        {"::/0", "127.0.0.1", false},          {"2001:db8::/32", "2001:db8:ffff::1", true},
        {"2001:db8::/32", "2001:db9::1", false}, {"10.0.0.0/8", "::ffff:10.9.9.9", true},
        {"192.168.1.128/25", "192.168.1.127", false},
        {"192.168.1.128/25", "192.168.1.200", true},
    };
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        struct bw_cidr net, ip;
        size_t n = 0;
        assert_int_equal(bw_cidr_parse_list(cases[i].net, &net, 1, &n), BW_OK);
        assert_int_equal(bw_ip_parse(cases[i].ip, &ip), BW_OK);
        assert_int_equal(bw_cidr_contains(&net, &ip), cases[i].in);
    }
    struct bw_cidr ip;
    assert_int_equal(bw_ip_parse("10.0.0.0/8", &ip), BW_ERR_INVALID);
    assert_int_equal(bw_ip_parse("", &ip), BW_ERR_INVALID);
}

static void test_client_address(void **state)
{
    static const struct {
        const char *peer;
        const char *xff;
        const char *want;
    } cases[] = {
        {"127.0.0.1", "203.0.113.7", "127.0.0.1"},              /* untrusted peer: ignored */
        {"10.0.0.5", "203.0.113.7", "203.0.113.7"},             /* trusted proxy */
        {"10.0.0.5", "1.1.1.1, 203.0.113.7", "203.0.113.7"},     /* right-most counts */
        {"10.0.0.5", "203.0.113.7, 10.0.0.9", "203.0.113.7"},    /* proxies skipped */
        {"10.0.0.5", "10.0.0.8, 10.0.0.9", "10.0.0.8"},          /* all proxies: left-most */
        {"10.0.0.5", "garbage", "10.0.0.5"},                    /* malformed: the peer */
        {"10.0.0.5", "1.1.1.1, garbage", "10.0.0.5"},
        {"10.0.0.5", "garbage, 10.0.0.9", "10.0.0.9"},
        {"10.0.0.5", "203.0.113.7:443", "10.0.0.5"},            /* ports are not addresses */
        {"10.0.0.5", "", "10.0.0.5"},
        {"10.0.0.5", ",,,", "10.0.0.5"},
        {"10.0.0.5", "2001:DB8::1", "2001:db8::1"},             /* canonical text */
        {"10.0.0.5", "::ffff:198.51.100.4", "198.51.100.4"},
    };
    struct bw_cidr proxies[1];
    size_t n = 0;
    assert_int_equal(bw_cidr_parse_list("10.0.0.0/24", proxies, 1, &n), BW_OK);
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        char out[64];
        bw_client_address(cases[i].peer, cases[i].xff, proxies, n, out, sizeof(out));
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("case %zu: peer %s xff '%s': got %s, want %s", i, cases[i].peer,
                     cases[i].xff, out, cases[i].want);
    }
    char out[64];
    bw_client_address("10.0.0.5", "203.0.113.7", proxies, 0, out, sizeof(out));
    assert_string_equal(out, "10.0.0.5"); /* no trusted proxies: never */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_format),
        cmocka_unit_test(test_contains),
        cmocka_unit_test(test_client_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
