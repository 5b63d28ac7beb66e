/* Unit tests for src/core/strparse.c: table-driven, valid and invalid input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/core.h"

static void test_duration(void **state)
{
    static const struct {
        const char *in;
        enum bw_rc rc;
        int64_t secs;
    } cases[] = {
        {"90s", BW_OK, 90},          {"15m", BW_OK, 900},       {"12h", BW_OK, 43200},
        {"30d", BW_OK, 2592000},     {"2w", BW_OK, 1209600},    {"2y", BW_OK, 63072000},
        {"1h30m", BW_OK, 5400},      {"0s", BW_OK, 0},          {"15M", BW_OK, 900},
        {"", BW_ERR_INVALID, 0},     {"15", BW_ERR_INVALID, 0}, {"m", BW_ERR_INVALID, 0},
        {"-5m", BW_ERR_INVALID, 0},  {"5 m", BW_ERR_INVALID, 0}, {"5mx", BW_ERR_INVALID, 0},
        {"99999999999999999999y", BW_ERR_INVALID, 0},          {"201y", BW_ERR_INVALID, 0},
        {"1.5h", BW_ERR_INVALID, 0}, {" 5m", BW_ERR_INVALID, 0},
    };
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        int64_t v = -1;
        enum bw_rc rc = bw_parse_duration(cases[i].in, &v);
        if (rc != cases[i].rc)
            fail_msg("duration '%s': rc %d, want %d", cases[i].in, rc, cases[i].rc);
        if (rc == BW_OK)
            assert_int_equal(v, cases[i].secs);
        else
            assert_int_equal(v, -1); /* out-param untouched on failure */
    }
}

static void test_size(void **state)
{
    static const struct {
        const char *in;
        enum bw_rc rc;
        uint64_t bytes;
    } cases[] = {
        {"1MiB", BW_OK, 1048576}, {"512KiB", BW_OK, 524288}, {"10MB", BW_OK, 10000000},
        {"100", BW_OK, 100},      {"100B", BW_OK, 100},      {"1GiB", BW_OK, 1073741824},
        {"", BW_ERR_INVALID, 0},  {"MiB", BW_ERR_INVALID, 0}, {"1 MiB", BW_ERR_INVALID, 0},
        {"1XiB", BW_ERR_INVALID, 0}, {"-1", BW_ERR_INVALID, 0},
        {"18446744073709551615TiB", BW_ERR_INVALID, 0},
    };
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        uint64_t v = 7;
        enum bw_rc rc = bw_parse_size(cases[i].in, &v);
        if (rc != cases[i].rc)
            fail_msg("size '%s': rc %d, want %d", cases[i].in, rc, cases[i].rc);
        assert_int_equal(v, rc == BW_OK ? cases[i].bytes : 7);
    }
}

static void test_u64_bool(void **state)
{
    uint64_t v;
    assert_int_equal(bw_parse_u64("18446744073709551615", UINT64_MAX, &v), BW_OK);
    assert_true(v == UINT64_MAX);
    assert_int_equal(bw_parse_u64("18446744073709551616", UINT64_MAX, &v), BW_ERR_INVALID);
    assert_int_equal(bw_parse_u64("11", 10, &v), BW_ERR_INVALID);
    assert_int_equal(bw_parse_u64("+1", 10, &v), BW_ERR_INVALID);
    assert_int_equal(bw_parse_u64("", 10, &v), BW_ERR_INVALID);
    /* regression (fuzz_units): a digit above a small max wrapped (max - d) */
    assert_int_equal(bw_parse_u64("1", 0, &v), BW_ERR_INVALID);
    assert_int_equal(bw_parse_u64("65536", 0, &v), BW_ERR_INVALID);
    assert_int_equal(bw_parse_u64("35", 3, &v), BW_ERR_INVALID);
    assert_int_equal(bw_parse_u64("3", 3, &v), BW_OK);
    bool b = false;
    assert_int_equal(bw_parse_bool("YES", &b), BW_OK);
    assert_true(b);
    assert_int_equal(bw_parse_bool("off", &b), BW_OK);
    assert_false(b);
    assert_int_equal(bw_parse_bool("maybe", &b), BW_ERR_INVALID);
}

static void test_hostport_cidr(void **state)
{
    char host[64];
    uint16_t port = 0;
    assert_int_equal(bw_parse_hostport("127.0.0.1:8443", host, sizeof(host), &port), BW_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8443);
    assert_int_equal(bw_parse_hostport("[::1]:443", host, sizeof(host), &port), BW_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(bw_parse_hostport("localhost:443", host, sizeof(host), &port),
                     BW_ERR_INVALID);
    assert_int_equal(bw_parse_hostport("127.0.0.1:0", host, sizeof(host), &port), BW_ERR_INVALID);
    assert_int_equal(bw_parse_hostport("127.0.0.1:65536", host, sizeof(host), &port),
                     BW_ERR_INVALID);
    assert_int_equal(bw_parse_hostport("::1:443", host, sizeof(host), &port), BW_ERR_INVALID);
    assert_int_equal(bw_parse_cidr_list(""), BW_OK);
    assert_int_equal(bw_parse_cidr_list("10.0.0.0/8, 192.168.1.1,::1/128"), BW_OK);
    assert_int_equal(bw_parse_cidr_list("10.0.0.0/33"), BW_ERR_INVALID);
    assert_int_equal(bw_parse_cidr_list("10.0.0/8"), BW_ERR_INVALID);
    assert_int_equal(bw_parse_cidr_list("::1/129"), BW_ERR_INVALID);
}

static void test_format_duration(void **state)
{
    static const int64_t vals[] = {0, 1, 59, 60, 900, 3600, 86400, 90 * 86400, 63072000, 5400};
    for (size_t i = 0; i < BW_ARRAY_LEN(vals); i++) {
        char out[32];
        int64_t back = -1;
        bw_format_duration(vals[i], out, sizeof(out));
        assert_int_equal(bw_parse_duration(out, &back), BW_OK);
        assert_int_equal(back, vals[i]);
    }
}

static void test_utf8(void **state)
{
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"plain", true},          {"gr\xc3\xbc\xc3\x9f", true}, {"\xe2\x82\xac", true},
        {"\xf0\x9f\x98\x80", true}, {"\xc0\xaf", false},          {"\xe0\x80\xaf", false},
        {"\xed\xa0\x80", false},  {"\xf4\x90\x80\x80", false},  {"\xff", false},
        {"\xc3", false},          {"\x80", false},
    };
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++)
        assert_int_equal(bw_utf8_valid(cases[i].s, strlen(cases[i].s)), cases[i].ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration),    cmocka_unit_test(test_size),
        cmocka_unit_test(test_u64_bool),    cmocka_unit_test(test_hostport_cidr),
        cmocka_unit_test(test_format_duration), cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
