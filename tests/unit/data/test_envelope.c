/* Unit tests for the envelope keys of src/crypto/keyring.c as src/data uses
 * them, and for src/data/cursor.c (CONTROL: CRY-01, G-09): a body opens only
 * with its own record's key, organisation and associated data; rotation
 * keeps keys usable; cursors do not cross organisations. */
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

#include "crypto/crypto.h"
#include "data/data.h"

#include <sodium.h>

static char dir[64];

static struct bw_keyring *keyring(void)
{
    struct bw_keyring *kr = NULL;
    assert_int_equal(bw_keyring_load(dir, &kr, NULL, 0), BW_OK);
    return kr;
}

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/bw-env-XXXXXX");
    if (bw_crypto_init() != BW_OK || mkdtemp(dir) == NULL)
        return -1;
    return bw_keyring_generate(dir, NULL, 0) == BW_OK ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#define ORG_A "0000000000000000000000000a"
#define ORG_B "0000000000000000000000000b"
#define REC_1 "00000000000000000000000001"
#define REC_2 "00000000000000000000000002"

static void test_seal_open_and_bindings(void **state)
{
    if (!crypto_aead_aes256gcm_is_available())
        skip();
    struct bw_keyring *kr = keyring();
    uint8_t oka[BW_WRAPPED_KEY_BYTES], okb[BW_WRAPPED_KEY_BYTES];
    uint8_t d1[BW_WRAPPED_KEY_BYTES], d2[BW_WRAPPED_KEY_BYTES];
    int va = 0, vb = 0;
    assert_int_equal(bw_keyring_orgkey_new(kr, ORG_A, &va, oka), BW_OK);
    assert_int_equal(bw_keyring_orgkey_new(kr, ORG_B, &vb, okb), BW_OK);
    assert_int_equal(va, 1);
    struct bw_orgkey a = {ORG_A, va, oka}, b = {ORG_B, vb, okb}, a_as_b = {ORG_B, va, oka};
    assert_int_equal(bw_keyring_datakey_new(kr, &a, REC_1, d1), BW_OK);
    assert_int_equal(bw_keyring_datakey_new(kr, &a, REC_2, d2), BW_OK);
    const char *msg = "{\"secret\":\"marker-123\"}";
    uint8_t s1[128], s2[128], plain[128];
    size_t n1 = 0, n2 = 0, pn = 0;
    assert_int_equal(bw_keyring_record_seal(kr, &a, REC_1, d1, "aad1", 4, (const uint8_t *)msg,
                                            strlen(msg), s1, sizeof(s1), &n1),
                     BW_OK);
    assert_int_equal(n1, strlen(msg) + BW_SEAL_OVERHEAD);
    assert_null(memmem(s1, n1, "marker", 6)); /* ciphertext, not the text */
    /* a second seal of the same text uses a fresh nonce */
    assert_int_equal(bw_keyring_record_seal(kr, &a, REC_1, d1, "aad1", 4, (const uint8_t *)msg,
                                            strlen(msg), s2, sizeof(s2), &n2),
                     BW_OK);
    assert_memory_not_equal(s1, s2, BW_SEAL_NONCE_BYTES);
    assert_int_equal(bw_keyring_record_open(kr, &a, REC_1, d1, "aad1", 4, s1, n1, plain,
                                            sizeof(plain), &pn),
                     BW_OK);
    assert_memory_equal(plain, msg, pn);
    /* each binding refuses */
    assert_int_equal(bw_keyring_record_open(kr, &a, REC_1, d1, "aad2", 4, s1, n1, plain,
                                            sizeof(plain), &pn),
                     BW_ERR_CRYPTO);
    assert_int_equal(bw_keyring_record_open(kr, &a, REC_2, d2, "aad1", 4, s1, n1, plain,
                                            sizeof(plain), &pn),
                     BW_ERR_CRYPTO);
    assert_int_equal(bw_keyring_record_open(kr, &a, REC_2, d1, "aad1", 4, s1, n1, plain,
                                            sizeof(plain), &pn),
                     BW_ERR_CRYPTO);
    assert_int_equal(bw_keyring_record_open(kr, &b, REC_1, d1, "aad1", 4, s1, n1, plain,
                                            sizeof(plain), &pn),
                     BW_ERR_CRYPTO);
    assert_int_equal(bw_keyring_record_open(kr, &a_as_b, REC_1, d1, "aad1", 4, s1, n1, plain,
                                            sizeof(plain), &pn),
                     BW_ERR_CRYPTO);
    for (size_t i = 0; i < n1; i++) { /* every flipped byte is caught */
        s1[i] ^= 1;
        assert_int_equal(bw_keyring_record_open(kr, &a, REC_1, d1, "aad1", 4, s1, n1, plain,
                                                sizeof(plain), &pn),
                         BW_ERR_CRYPTO);
        s1[i] ^= 1;
    }
    bw_keyring_free(kr);
}

static void test_rotation(void **state)
{
    if (!crypto_aead_aes256gcm_is_available())
        skip();
    struct bw_keyring *kr = keyring();
    uint8_t ok1[BW_WRAPPED_KEY_BYTES], ok2[BW_WRAPPED_KEY_BYTES], dek[BW_WRAPPED_KEY_BYTES];
    int v = 0, nv = 0;
    assert_int_equal(bw_keyring_orgkey_new(kr, ORG_A, &v, ok1), BW_OK);
    struct bw_orgkey a1 = {ORG_A, v, ok1};
    assert_int_equal(bw_keyring_datakey_new(kr, &a1, REC_1, dek), BW_OK);
    uint8_t s[64], plain[64];
    size_t n = 0, pn = 0;
    assert_int_equal(bw_keyring_record_seal(kr, &a1, REC_1, dek, "x", 1, (const uint8_t *)"hi", 2,
                                            s, sizeof(s), &n),
                     BW_OK);
    /* another process creates version 2; this keyring finds it */
    assert_int_equal(bw_keyring_master_create(dir, &nv, NULL, 0), BW_OK);
    assert_true(nv >= 2);
    assert_int_equal(bw_keyring_master_refresh(kr), BW_OK);
    assert_int_equal(bw_keyring_master_version(kr), nv);
    assert_int_equal(bw_keyring_orgkey_rewrap(kr, ORG_A, v, ok1, nv, ok2), BW_OK);
    struct bw_orgkey a2 = {ORG_A, nv, ok2}, wrong = {ORG_A, v, ok2};
    assert_int_equal(bw_keyring_record_open(kr, &a2, REC_1, dek, "x", 1, s, n, plain,
                                            sizeof(plain), &pn),
                     BW_OK);
    assert_memory_equal(plain, "hi", 2);
    assert_int_equal(bw_keyring_record_open(kr, &wrong, REC_1, dek, "x", 1, s, n, plain,
                                            sizeof(plain), &pn),
                     BW_ERR_CRYPTO);
    /* an unknown version fails closed */
    struct bw_orgkey none = {ORG_A, 60, ok2};
    assert_int_equal(bw_keyring_record_open(kr, &none, REC_1, dek, "x", 1, s, n, plain,
                                            sizeof(plain), &pn),
                     BW_ERR_CRYPTO);
    /* a fresh keyring loads every version present */
    struct bw_keyring *kr2 = keyring();
    assert_int_equal(bw_keyring_master_version(kr2), nv);
    assert_int_equal(bw_keyring_record_open(kr2, &a2, REC_1, dek, "x", 1, s, n, plain,
                                            sizeof(plain), &pn),
                     BW_OK);
    bw_keyring_free(kr2);
    bw_keyring_free(kr);
}

static void test_cursors(void **state)
{
    struct bw_keyring *kr = keyring();
    char c[BW_CURSOR_MAX], id[BW_ID_LEN + 1];
    assert_int_equal(bw_cursor_make(kr, ORG_A, "customers", REC_1, c), BW_OK);
    assert_int_equal(bw_cursor_open(kr, ORG_A, "customers", c, id), BW_OK);
    assert_string_equal(id, REC_1);
    assert_int_equal(bw_cursor_open(kr, ORG_B, "customers", c, id), BW_ERR_NOTFOUND);
    assert_int_equal(bw_cursor_open(kr, ORG_A, "projects", c, id), BW_ERR_NOTFOUND);
    assert_int_equal(bw_cursor_open(kr, ORG_A, "customers", REC_1, id), BW_ERR_NOTFOUND);
    assert_int_equal(bw_cursor_open(kr, ORG_A, "customers", "", id), BW_ERR_NOTFOUND);
    c[3] = c[3] == 'A' ? 'B' : 'A';
    assert_int_equal(bw_cursor_open(kr, ORG_A, "customers", c, id), BW_ERR_NOTFOUND);
    bw_keyring_free(kr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_open_and_bindings),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_cursors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
