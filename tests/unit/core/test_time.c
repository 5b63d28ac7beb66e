/* Unit tests for src/core/time.c and src/core/id.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/core.h"

static void test_rfc3339(void **state)
{
    static const struct {
        const char *in;
        enum bw_rc rc;
        int64_t t;
    } cases[] = {
        {"1970-01-01T00:00:00Z", BW_OK, 0},
        {"2026-11-24T10:00:00Z", BW_OK, 1795514400},
        {"2026-11-24T12:00:00+02:00", BW_OK, 1795514400},
        {"2024-02-29T00:00:00Z", BW_OK, 1709164800},
        {"2023-02-29T00:00:00Z", BW_ERR_INVALID, 0},
        {"2026-13-01T00:00:00Z", BW_ERR_INVALID, 0},
        {"2026-11-24 10:00:00Z", BW_ERR_INVALID, 0},
        {"2026-11-24T10:00:00", BW_ERR_INVALID, 0},
        {"2026-11-24T10:00:00Zjunk", BW_ERR_INVALID, 0},
        {"", BW_ERR_INVALID, 0},
    };
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        int64_t t = -1;
        enum bw_rc rc = bw_time_parse(cases[i].in, &t);
        if (rc != cases[i].rc)
            fail_msg("'%s': rc %d want %d", cases[i].in, rc, cases[i].rc);
        if (rc == BW_OK)
            assert_int_equal(t, cases[i].t);
    }
    char out[21];
    bw_time_format(1795514400, out);
    assert_string_equal(out, "2026-11-24T10:00:00Z");
}

static void test_clock_offset(void **state)
{
    int64_t a = bw_time_now();
    bw_time_set_offset(86400);
    int64_t b = bw_time_now();
    bw_time_set_offset(0);
    assert_true(b - a >= 86400 && b - a <= 86401);
}

static void test_ids(void **state)
{
    char a[BW_ID_LEN + 1], b[BW_ID_LEN + 1];
    bw_id_new(a);
    bw_id_new(b);
    assert_int_equal(strlen(a), BW_ID_LEN);
    assert_true(bw_id_valid(a));
    assert_string_not_equal(a, b);
    assert_false(bw_id_valid("not-an-id"));
    assert_false(bw_id_valid("ABCDEFGHJKMNPQRSTVWXYZ0123"));
    char hex[9];
    bw_hex((const uint8_t *)"\x01\xab\xff\x00", 4, hex);
    assert_string_equal(hex, "01abff00");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_clock_offset),
        cmocka_unit_test(test_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
