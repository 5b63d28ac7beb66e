/*
 * test_rbac.c - the role -> permission matrix of src/tenant/rbac.c against
 * the table in docs/RBAC.md, cell by cell (they must never drift apart),
 * plus deny-by-default, role names and the roles an API key may hold.
 */
#include "tenant/tenant.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static const enum bw_role roles[] = {BW_ROLE_OWNER, BW_ROLE_ADMIN, BW_ROLE_EDITOR,
                                     BW_ROLE_VIEWER, BW_ROLE_AUDITOR};

/* Splits "| a | b | ... |" into trimmed cells; returns the count. */
static size_t cells(char *line, char *out[10])
{
    size_t n = 0;
    char *p = strchr(line, '|');
    while (p != NULL && n < 10) {
        char *q = strchr(p + 1, '|');
        if (q == NULL)
            break;
        char *a = p + 1, *b = q;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        *b = '\0';
        out[n++] = a;
        p = q;
    }
    return n;
}

static void test_docs_match_code(void **state)
{
    FILE *f = fopen(BW_SOURCE_DIR "/docs/RBAC.md", "r");
    char line[512];
    bool in = false, seen[BW_PERM__COUNT] = {false};
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, "<!-- matrix") != NULL)
            in = true;
        if (strstr(line, "<!-- end matrix") != NULL)
            in = false;
        char *c[10];
        if (!in || line[0] != '|' || cells(line, c) != 7 || strcmp(c[0], "permission") == 0 ||
            strcmp(c[0], "---") == 0)
            continue;
        unsigned p = 0;
        while (p < BW_PERM__COUNT && strcmp(bw_perm_name((enum bw_perm)p), c[0]) != 0)
            p++;
        assert_true(p < BW_PERM__COUNT); /* every documented permission exists */
        seen[p] = true;
        for (size_t r = 0; r < BW_ARRAY_LEN(roles); r++) {
            if (bw_role_allows(roles[r], (enum bw_perm)p) != (strcmp(c[1 + r], "Y") == 0))
                fail_msg("%s / %s: code and docs/RBAC.md disagree", c[0], bw_role_name(roles[r]));
        }
        assert_int_equal(bw_perm_is_admin((enum bw_perm)p), strcmp(c[6], "Y") == 0);
    }
    fclose(f);
    for (unsigned p = 0; p < BW_PERM__COUNT; p++) {
        if (!seen[p])
            fail_msg("permission %s missing from docs/RBAC.md", bw_perm_name((enum bw_perm)p));
    }
}

static void test_deny_by_default(void **state)
{
    for (unsigned p = 0; p < BW_PERM__COUNT; p++) {
        assert_false(bw_role_allows(BW_ROLE_NONE, (enum bw_perm)p));
        assert_false(bw_role_allows(BW_ROLE__COUNT, (enum bw_perm)p));
        assert_false(bw_role_allows((enum bw_role)-1, (enum bw_perm)p));
    }
    assert_false(bw_role_allows(BW_ROLE_OWNER, BW_PERM__COUNT));
    assert_false(bw_perm_is_admin(BW_PERM__COUNT));
    assert_string_equal(bw_perm_name(BW_PERM__COUNT), "unknown");
}

static void test_role_names(void **state)
{
    static const struct {
        const char *in;
        enum bw_rc rc;
        enum bw_role want;
    } cases[] = {
        {"owner", BW_OK, BW_ROLE_OWNER},      {"admin", BW_OK, BW_ROLE_ADMIN},
        {"editor", BW_OK, BW_ROLE_EDITOR},    {"viewer", BW_OK, BW_ROLE_VIEWER},
        {"auditor", BW_OK, BW_ROLE_AUDITOR},  {"none", BW_ERR_INVALID, BW_ROLE_NONE},
        {"Owner", BW_ERR_INVALID, BW_ROLE_NONE}, {"", BW_ERR_INVALID, BW_ROLE_NONE},
        {"owner ", BW_ERR_INVALID, BW_ROLE_NONE}, {"platform", BW_ERR_INVALID, BW_ROLE_NONE},
    };
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        enum bw_role r = BW_ROLE_NONE;
        assert_int_equal(bw_role_parse(cases[i].in, &r), cases[i].rc);
        assert_int_equal(r, cases[i].want);
        if (cases[i].rc == BW_OK)
            assert_string_equal(bw_role_name(r), cases[i].in);
    }
    enum bw_role r = BW_ROLE_NONE;
    assert_int_equal(bw_role_parse(NULL, &r), BW_ERR_INVALID);
}

/* A key has no second factor: it may hold no role with an admin permission. */
static void test_apikey_roles(void **state)
{
    assert_false(bw_role_apikey_ok(BW_ROLE_OWNER));
    assert_false(bw_role_apikey_ok(BW_ROLE_ADMIN));
    assert_true(bw_role_apikey_ok(BW_ROLE_EDITOR));
    assert_true(bw_role_apikey_ok(BW_ROLE_VIEWER));
    assert_true(bw_role_apikey_ok(BW_ROLE_AUDITOR));
    assert_false(bw_role_apikey_ok(BW_ROLE_NONE));
    for (size_t r = 0; r < BW_ARRAY_LEN(roles); r++) {
        for (unsigned p = 0; p < BW_PERM__COUNT && bw_role_apikey_ok(roles[r]); p++)
            assert_false(bw_perm_is_admin((enum bw_perm)p) &&
                         bw_role_allows(roles[r], (enum bw_perm)p));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docs_match_code),
        cmocka_unit_test(test_deny_by_default),
        cmocka_unit_test(test_role_names),
        cmocka_unit_test(test_apikey_roles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
