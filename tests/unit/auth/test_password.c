/* Unit tests for src/auth/password.c: both policy profiles, common-password
 * refusal, e-mail containment, length in characters, Argon2id round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <string.h>

#include "auth/auth.h"
#include "crypto/crypto.h"

static const struct bw_password_policy policy = {false, 8, true, true, true, true};
static const struct bw_password_policy modern = {true, 15, false, false, false, true};

static void test_policy_profile(void **state)
{
    static const struct {
        const char *pw;
        bool ok;
    } cases[] = {
        {"Kx7!vQm2", true},          /* 8 characters, all classes */
        {"Kx7!vQm", false},          /* 7 characters */
        {"kx7!vqm2zz", false},       /* no upper case */
        {"KX7!VQM2ZZ", false},       /* no lower case */
        {"Kxy!vQmzzz", false},       /* no digit */
        {"Password1", false},        /* dictionary word */
        {"Alicia-Kx7-long", false},  /* contains the e-mail's local part */
        {"\xc3\x9c\xc3\x9c\xc3\x9cKx7a", false}, /* 7 characters in 10 bytes: too short */
    };
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        struct bw_password_errors e;
        bool ok = bw_password_check(&policy, cases[i].pw, strlen(cases[i].pw),
                                    "alicia@example.com", &e) == BW_OK;
        if (ok != cases[i].ok)
            fail_msg("policy case %zu (%s): ok=%d", i, cases[i].pw, ok);
        if (!ok) {
            assert_true(e.n > 0);
            for (size_t k = 0; k < e.n; k++)
                assert_null(strstr(e.msg[k], cases[i].pw)); /* never echoed */
        }
    }
}

static void test_modern_profile(void **state)
{
    struct bw_password_errors e;
    const char *ok = "violet staircase humming";
    const char *short_pw = "violetstairs12";
    assert_int_equal(bw_password_check(&modern, ok, strlen(ok), "bob@example.com", &e), BW_OK);
    assert_int_equal(bw_password_check(&modern, short_pw, strlen(short_pw), "bob@example.com", &e),
                     BW_ERR_INVALID);
}

static void test_bad_bytes(void **state)
{
    struct bw_password_errors e;
    assert_int_equal(bw_password_check(&policy, "Kx7!\xffvQm2", 9, "a@b.c", &e), BW_ERR_INVALID);
    assert_int_equal(bw_password_check(&policy, "Kx7!\0vQm2", 9, "a@b.c", &e), BW_ERR_INVALID);
    char huge[BW_PASSWORD_MAX_BYTES + 2];
    memset(huge, 'a', sizeof(huge));
    assert_int_equal(bw_password_check(&policy, huge, sizeof(huge), "a@b.c", &e), BW_ERR_INVALID);
}

static void test_hash_verify(void **state)
{
    char h[BW_PWHASH_STRBYTES];
    bool rehash = true;
    const char *pw = "Kx7!vQm2-\xe2\x82\xac";
    assert_int_equal(bw_crypto_init(), BW_OK);
    bw_pwhash_init(2);
    assert_int_equal(bw_pwhash(pw, strlen(pw), h), BW_OK);
    assert_int_equal(strncmp(h, "$argon2id$", 10), 0);
    assert_int_equal(bw_pwhash_verify(h, pw, strlen(pw), &rehash), BW_OK);
    assert_false(rehash);
    assert_int_equal(bw_pwhash_verify(h, pw, strlen(pw) - 1, &rehash), BW_ERR_PERM);
    /* a hash made with weaker parameters verifies and asks for a rehash */
    char weak[BW_PWHASH_STRBYTES];
    assert_int_equal(crypto_pwhash_str(weak, pw, strlen(pw), 1, 8192 * 1024), 0);
    assert_int_equal(bw_pwhash_verify(weak, pw, strlen(pw), &rehash), BW_OK);
    assert_true(rehash);
}

static void test_email_normalize(void **state)
{
    char out[BW_EMAIL_MAX + 1];
    assert_int_equal(bw_email_normalize("  Alice@Example.COM ", out), BW_OK);
    assert_string_equal(out, "alice@example.com");
    assert_int_equal(bw_email_normalize("no-at-sign", out), BW_ERR_INVALID);
    assert_int_equal(bw_email_normalize("a@b@c", out), BW_ERR_INVALID);
    assert_int_equal(bw_email_normalize("@example.com", out), BW_ERR_INVALID);
    assert_int_equal(bw_email_normalize("a b@example.com", out), BW_ERR_INVALID);
    assert_int_equal(bw_email_normalize("a@example.com\r\nBcc: x", out), BW_ERR_INVALID);
}

static int setup(void **state)
{
    return bw_crypto_init() == BW_OK ? 0 : -1; /* sodium_malloc needs sodium_init */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_profile), cmocka_unit_test(test_modern_profile),
        cmocka_unit_test(test_bad_bytes),      cmocka_unit_test(test_hash_verify),
        cmocka_unit_test(test_email_normalize),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
