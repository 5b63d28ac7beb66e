/* Unit tests for src/sys/files.c: private modes, atomic writes, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys/sys.h"

static char dir[256];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/bw-test-files-XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_write_private(void **state)
{
    char path[300], why[256];
    struct stat st;
    umask(0);
    assert_int_equal(bw_sys_path(path, sizeof(path), dir, "secret"), BW_OK);
    assert_int_equal(bw_sys_write_private(path, "abc", 3, false, why, sizeof(why)), BW_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(bw_sys_write_private(path, "xyz", 3, false, why, sizeof(why)),
                     BW_ERR_EXISTS);
    char buf[16];
    size_t len = 0;
    assert_int_equal(bw_sys_read_file(path, buf, sizeof(buf), &len, true, why, sizeof(why)),
                     BW_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "abc", 3); /* the refused overwrite changed nothing */
    assert_int_equal(bw_sys_write_private(path, "xyz", 3, true, why, sizeof(why)), BW_OK);
    umask(022);
}

static void test_read_refusals(void **state)
{
    char path[300], link[300], why[256], buf[8];
    size_t len;
    assert_int_equal(bw_sys_path(path, sizeof(path), dir, "open"), BW_OK);
    assert_int_equal(bw_sys_write_private(path, "0123456789", 10, false, why, sizeof(why)),
                     BW_OK);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(bw_sys_read_file(path, buf, sizeof(buf), &len, true, why, sizeof(why)),
                     BW_ERR_PERM);
    assert_non_null(strstr(why, "accessible by group or others"));
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(bw_sys_read_file(path, buf, sizeof(buf), &len, true, why, sizeof(why)),
                     BW_ERR_TOOBIG);
    assert_int_equal(bw_sys_path(link, sizeof(link), dir, "link"), BW_OK);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(bw_sys_read_file(link, buf, sizeof(buf), &len, false, why, sizeof(why)),
                     BW_ERR_PERM);
    assert_int_equal(bw_sys_read_file("/nonexistent/x", buf, sizeof(buf), &len, false, why,
                                      sizeof(why)),
                     BW_ERR_NOTFOUND);
}

static void test_private_dir(void **state)
{
    char path[300], why[256];
    assert_int_equal(bw_sys_path(path, sizeof(path), dir, "d"), BW_OK);
    assert_int_equal(bw_sys_mkdir_private(path, why, sizeof(why)), BW_OK);
    assert_int_equal(bw_sys_check_private_dir(path, why, sizeof(why)), BW_OK);
    assert_int_equal(bw_sys_mkdir_private(path, why, sizeof(why)), BW_ERR_EXISTS);
    assert_int_equal(chmod(path, 0755), 0);
    assert_int_equal(bw_sys_check_private_dir(path, why, sizeof(why)), BW_ERR_PERM);
    assert_int_equal(bw_sys_path(path, sizeof(path), dir, "missing"), BW_OK);
    assert_int_equal(bw_sys_check_private_dir(path, why, sizeof(why)), BW_ERR_NOTFOUND);
    assert_non_null(strstr(why, "bulwark init"));
    char big[8];
    assert_int_equal(bw_sys_path(big, sizeof(big), "/long/dir", "name"), BW_ERR_TOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_private),
        cmocka_unit_test(test_read_refusals),
        cmocka_unit_test(test_private_dir),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
