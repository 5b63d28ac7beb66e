/* Unit tests for src/crypto/keyring.c and cert.c. */
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
#include "sys/sys.h"

static char dir[256];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/bw-test-keys-XXXXXX");
    if (mkdtemp(dir) == NULL || bw_crypto_init() != BW_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_generate_load_sign(void **state)
{
    char why[256];
    struct bw_keyring *kr = NULL;
    uint8_t sig[BW_SIGN_BYTES], pk[BW_SIGN_PUBLIC_BYTES];
    assert_int_equal(bw_keyring_generate(dir, why, sizeof(why)), BW_OK);
    assert_int_equal(bw_keyring_generate(dir, why, sizeof(why)), BW_ERR_EXISTS);
    assert_int_equal(bw_keyring_load(dir, &kr, why, sizeof(why)), BW_OK);
    assert_int_equal(bw_keyring_sign(kr, "checkpoint", 10, sig), BW_OK);
    bw_keyring_public(kr, pk);
    assert_int_equal(bw_sign_verify(pk, "checkpoint", 10, sig), BW_OK);
    sig[0] ^= 1;
    assert_int_equal(bw_sign_verify(pk, "checkpoint", 10, sig), BW_ERR_CRYPTO);
    bw_keyring_free(kr);
}

static void test_load_refuses_open_key(void **state)
{
    char why[256], path[300];
    struct bw_keyring *kr = NULL;
    assert_int_equal(bw_sys_path(path, sizeof(path), dir, "master.key"), BW_OK);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(bw_keyring_load(dir, &kr, why, sizeof(why)), BW_ERR_PERM);
    assert_null(kr);
    assert_non_null(strstr(why, "master.key"));
    assert_int_equal(chmod(path, 0600), 0);
    /* a corrupted key file is refused, and its content is not echoed */
    assert_int_equal(bw_sys_write_private(path, "not-base64!!\n", 13, true, why, sizeof(why)),
                     BW_OK);
    assert_int_equal(bw_keyring_load(dir, &kr, why, sizeof(why)), BW_ERR_CRYPTO);
    assert_null(strstr(why, "not-base64"));
}

static void test_selfsigned(void **state)
{
    char why[256], cert[300], key[300];
    struct stat st;
    assert_int_equal(bw_sys_path(cert, sizeof(cert), dir, "cert.pem"), BW_OK);
    assert_int_equal(bw_sys_path(key, sizeof(key), dir, "key.pem"), BW_OK);
    assert_int_equal(bw_tls_generate_selfsigned(cert, key, "localhost", 30, why, sizeof(why)),
                     BW_OK);
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "openssl x509 -in '%s' -noout -text | grep -q 'prime256v1' && "
             "openssl x509 -in '%s' -noout -text | grep -q 'IP Address:127.0.0.1'",
             cert, cert);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_load_sign),
        cmocka_unit_test(test_load_refuses_open_key),
        cmocka_unit_test(test_selfsigned),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
