/* Unit tests for src/core/config.c: defaults, file errors naming file, line
 * and key, environment and -o overrides, rendering round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/core.h"

static void test_defaults_are_policy(void **state)
{
    struct bw_config c;
    assert_int_equal(bw_config_init(&c), BW_OK);
    assert_int_equal(c.password_min_length, 8);
    assert_int_equal(c.password_history, 5);
    assert_int_equal(c.password_max_age, 90 * 86400);
    assert_int_equal(c.lockout_max_failures, 5);
    assert_int_equal(c.lockout_duration, 900);
    assert_int_equal(c.session_idle_timeout, 1800);
    assert_int_equal(c.session_max_concurrent, 3);
    assert_int_equal(c.retention_deleted_records, 30 * 86400);
    assert_int_equal(c.retention_audit, 2 * 365 * 86400);
    assert_int_equal(c.max_body, 1 << 20);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8443);
    assert_string_equal(c.database_url, "");
    bw_config_cleanup(&c);
}

static void test_file_errors(void **state)
{
    static const struct {
        const char *text;
        const char *expect; /* substring of the message */
    } cases[] = {
        {"[server]\nlisten = 127.0.0.1:1\nbogus = 1\n", "conf:3: unknown key 'bogus' in section [server]"},
        {"[nosuch]\nx = 1\n", "conf:2: unknown section [nosuch]"},
        {"[lockout]\nduration = 15\n", "conf:2: invalid value for lockout.duration"},
        {"[lockout]\nmax_failures = 0\n", "conf:2: invalid value for lockout.max_failures"},
        {"[server]\nmax_body = 1MiB\nmax_body = 2MiB\n", "conf:3: key 'max_body' in section [server] is set twice"},
        {"[server]\nthis is not ini\n", "conf:2: syntax error"},
        {"[database]\nurl = mysql://x\n", "conf:2: invalid value for database.url"},
        /* regressions (fuzz_config): values that would not render back */
        {"[tls]\nkey=;\n", "conf:2: invalid value for tls.key"},
        {"[server]\nsecurity_policy=https://example.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
         "conf:2: invalid value for server.security_policy"},
        {"[server]\nlisten = localhost:80\n", "conf:2: invalid value for server.listen"},
    };
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        struct bw_config c;
        struct bw_config_err err = {{0}};
        assert_int_equal(bw_config_init(&c), BW_OK);
        assert_int_not_equal(bw_config_load_string(&c, "conf", cases[i].text, &err), BW_OK);
        if (strstr(err.msg, cases[i].expect) == NULL)
            fail_msg("case %zu: message '%s' lacks '%s'", i, err.msg, cases[i].expect);
        assert_null(strchr(err.msg, '\n'));
        bw_config_cleanup(&c);
    }
}

static void test_long_line_refused(void **state)
{
    char text[600];
    struct bw_config c;
    struct bw_config_err err = {{0}};
    memset(text, 'a', sizeof(text));
    memcpy(text, "[server]\nsecurity_contact = mailto:", 35);
    text[sizeof(text) - 1] = '\0';
    assert_int_equal(bw_config_init(&c), BW_OK);
    assert_int_equal(bw_config_load_string(&c, "conf", text, &err), BW_ERR_INVALID);
    assert_non_null(strstr(err.msg, "conf:2: line too long"));
    bw_config_cleanup(&c);
}

static void test_env_and_flags(void **state)
{
    struct bw_config c;
    struct bw_config_err err = {{0}};
    char *env_ok[] = {"PATH=/bin", "BULWARK_DATA=/x", "BULWARK_LOCKOUT_DURATION=30m",
                      "BULWARK_SESSION_MAX_CONCURRENT=2", NULL};
    char *env_bad[] = {"BULWARK_LOCKOUT_DURATION=s3cret-value", NULL};
    char *env_unknown[] = {"BULWARK_LOCKOUT_COLOUR=red", NULL};
    assert_int_equal(bw_config_init(&c), BW_OK);
    assert_int_equal(bw_config_load_env(&c, env_ok, &err), BW_OK);
    assert_int_equal(c.lockout_duration, 1800);
    assert_int_equal(c.session_max_concurrent, 2);
    assert_int_equal(bw_config_load_env(&c, env_bad, &err), BW_ERR_INVALID);
    assert_non_null(strstr(err.msg, "BULWARK_LOCKOUT_DURATION"));
    assert_null(strstr(err.msg, "s3cret-value")); /* values are never echoed */
    assert_int_equal(c.lockout_duration, 1800);   /* bad input changes nothing */
    assert_int_equal(bw_config_load_env(&c, env_unknown, &err), BW_ERR_INVALID);
    assert_int_equal(bw_config_set_arg(&c, "server.max_body=2MiB", &err), BW_OK);
    assert_int_equal(c.max_body, 2 << 20);
    assert_int_equal(bw_config_set_arg(&c, "server.max_body", &err), BW_ERR_INVALID);
    assert_int_equal(bw_config_set_arg(&c, "nope.key=1", &err), BW_ERR_INVALID);
    bw_config_cleanup(&c);
}

static void test_render_round_trip(void **state)
{
    struct bw_config a, b;
    struct bw_config_err err = {{0}};
    struct bw_buf t1, t2;
    bw_buf_init(&t1, 1 << 20);
    bw_buf_init(&t2, 1 << 20);
    assert_int_equal(bw_config_init(&a), BW_OK);
    assert_int_equal(bw_config_set_arg(&a, "database.url=postgresql://u:pw@h/db?sslmode=require",
                                       &err),
                     BW_OK);
    assert_int_equal(bw_config_render(&a, false, &t1), BW_OK);
    assert_int_equal(bw_config_init(&b), BW_OK);
    assert_int_equal(bw_config_load_string(&b, "r", t1.data, &err), BW_OK);
    assert_int_equal(bw_config_render(&b, false, &t2), BW_OK);
    assert_string_equal(t1.data, t2.data);
    bw_buf_reset(&t2);
    assert_int_equal(bw_config_render(&b, true, &t2), BW_OK);
    assert_null(strstr(t2.data, "pw@")); /* masked */
    bw_buf_free(&t1, false);
    bw_buf_free(&t2, false);
    bw_config_cleanup(&a);
    bw_config_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_policy), cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_long_line_refused),   cmocka_unit_test(test_env_and_flags),
        cmocka_unit_test(test_render_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
