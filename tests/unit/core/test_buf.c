/* Unit tests for src/core/buf.c and the allocation hook of src/core/mem.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/core.h"

static void test_cap_refuses_growth(void **state)
{
    struct bw_buf b;
    bw_buf_init(&b, 10);
    assert_int_equal(bw_buf_append(&b, "0123456789", 10), BW_OK);
    assert_int_equal(bw_buf_append(&b, "x", 1), BW_ERR_TOOBIG);
    assert_int_equal(b.len, 10); /* never truncated or partially appended */
    assert_string_equal(b.data, "0123456789");
    assert_int_equal(bw_buf_appendf(&b, "%d", 1), BW_ERR_TOOBIG);
    bw_buf_free(&b, true);
    assert_null(b.data);
}

static void test_appendf_and_steal(void **state)
{
    struct bw_buf b;
    bw_buf_init(&b, 1 << 20);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(bw_buf_appendf(&b, "%04d,", i), BW_OK);
    assert_int_equal(b.len, 5000);
    size_t len = 0;
    char *d = bw_buf_steal(&b, &len);
    assert_int_equal(len, 5000);
    assert_memory_equal(d, "0000,0001,", 10);
    assert_null(b.data);
    bw_free(d);
    bw_buf_free(&b, false); /* freeing a stolen buffer is harmless */
}

static void test_overflow_sizes(void **state)
{
    struct bw_buf b;
    bw_buf_init(&b, SIZE_MAX);
    assert_int_equal(bw_buf_append(&b, "a", 1), BW_OK);
    assert_int_equal(bw_buf_append(&b, "a", SIZE_MAX), BW_ERR_TOOBIG);
    bw_buf_free(&b, false);
}

static void test_alloc_failure_each_step(void **state)
{
    /* fail the Nth allocation for every N: appends must fail cleanly */
    for (long n = 0; n < 8; n++) {
        struct bw_buf b;
        bw_buf_init(&b, 1 << 16);
        bw_mem_fail_after(n);
        enum bw_rc rc = BW_OK;
        for (int i = 0; i < 200 && rc == BW_OK; i++)
            rc = bw_buf_appendf(&b, "%08d", i);
        bw_mem_fail_after(-1);
        assert_true(rc == BW_OK || rc == BW_ERR_NOMEM);
        if (rc == BW_ERR_NOMEM)
            assert_true(b.len % 8 == 0); /* whole appends only */
        bw_buf_free(&b, false);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_refuses_growth),
        cmocka_unit_test(test_appendf_and_steal),
        cmocka_unit_test(test_overflow_sizes),
        cmocka_unit_test(test_alloc_failure_each_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
