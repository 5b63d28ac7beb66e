/*
 * keyring.c - the holder of long-term keys (STYLE rule 9; CONTROL: G-09).
 * Keys are generated from the system RNG, stored base64 in 0600 files and,
 * once loaded, kept only in sodium_malloc memory which is wiped and freed by
 * bw_keyring_free. Temporary copies (file text, decode buffers) are wiped on
 * every path. Key material never reaches a log line or an error message.
 * Secrets at rest (TOTP seeds) are sealed here with AES-256-GCM under a
 * subkey of the master key that is derived per operation and wiped at once.
 * Later issues extend this module with envelope wrap/unwrap and rotation.
 */
#include "crypto/crypto.h"
#include "sys/sys.h"

#include <gnutls/crypto.h>
#include <sodium.h>
#include <string.h>

#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL

struct bw_keyring {
    uint8_t *master;   /* BW_MASTER_KEY_BYTES, sodium_malloc */
    uint8_t *sign_sk;  /* crypto_sign_SECRETKEYBYTES, sodium_malloc */
    uint8_t sign_pk[BW_SIGN_PUBLIC_BYTES];
    struct data_masters *dm; /* record-data master key versions (envelope keys, below) */
};

static struct data_masters *dm_create(const char *keys_dir);
static void dm_free(struct data_masters *dm);

enum bw_rc bw_crypto_init(void)
{
    return sodium_init() < 0 ? BW_ERR_CRYPTO : BW_OK;
}

/* Encodes `len` secret bytes as one base64 line and writes it privately. */
static enum bw_rc write_key_file(const char *dir, const char *name, const uint8_t *key, size_t len,
                                 char *why, size_t whylen)
{
    char path[4096];
    char b64[256];
    if (bw_sys_path(path, sizeof(path), dir, name) != BW_OK ||
        sodium_base64_ENCODED_LEN(len, B64_VARIANT) + 1 > sizeof(b64))
        return BW_ERR_TOOBIG;
    sodium_bin2base64(b64, sizeof(b64), key, len, B64_VARIANT);
    size_t n = strlen(b64);
    b64[n] = '\n';
    enum bw_rc rc = bw_sys_write_private(path, b64, n + 1, false, why, whylen);
    sodium_memzero(b64, sizeof(b64));
    return rc;
}

/* Reads a base64 key file of exactly `len` decoded bytes into `out`. */
static enum bw_rc read_key_file(const char *dir, const char *name, uint8_t *out, size_t len,
                                char *why, size_t whylen)
{
    char path[4096];
    char b64[256];
    size_t n = 0, bin_len = 0;
    if (bw_sys_path(path, sizeof(path), dir, name) != BW_OK)
        return BW_ERR_TOOBIG;
    enum bw_rc rc = bw_sys_read_file(path, b64, sizeof(b64) - 1, &n, true, why, whylen);
    if (rc != BW_OK)
        goto out;
    b64[n] = '\0';
    if (sodium_base642bin(out, len, b64, n, "\r\n", &bin_len, NULL, B64_VARIANT) != 0 ||
        bin_len != len) {
        bw_why(why, whylen, "%s is not a valid key file", path);
        rc = BW_ERR_CRYPTO;
    }
out:
    sodium_memzero(b64, sizeof(b64));
    return rc;
}

enum bw_rc bw_keyring_generate(const char *keys_dir, char *why, size_t whylen)
{
    enum bw_rc rc = BW_ERR_NOMEM;
    uint8_t *master = sodium_malloc(BW_MASTER_KEY_BYTES);
    uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    if (master == NULL || sk == NULL)
        goto out;
    randombytes_buf(master, BW_MASTER_KEY_BYTES); /* getrandom(2) */
    crypto_sign_keypair(pk, sk);
    rc = write_key_file(keys_dir, "master.key", master, BW_MASTER_KEY_BYTES, why, whylen);
    if (rc == BW_OK)
        rc = write_key_file(keys_dir, "audit-signing.key", sk, crypto_sign_SECRETKEYBYTES, why,
                            whylen);
    if (rc == BW_OK)
        rc = write_key_file(keys_dir, "audit-signing.pub", pk, sizeof(pk), why, whylen);
out:
    sodium_free(master);
    sodium_free(sk);
    return rc;
}

void bw_keyring_free(struct bw_keyring *kr)
{
    if (kr == NULL)
        return;
    sodium_free(kr->master);
    sodium_free(kr->sign_sk);
    dm_free(kr->dm);
    sodium_memzero(kr, sizeof(*kr));
    bw_free(kr);
}

enum bw_rc bw_keyring_load(const char *keys_dir, struct bw_keyring **out, char *why,
                           size_t whylen)
{
    enum bw_rc rc = BW_ERR_NOMEM;
    struct bw_keyring *kr = bw_calloc(1, sizeof(*kr));
    if (kr == NULL)
        return BW_ERR_NOMEM;
    kr->master = sodium_malloc(BW_MASTER_KEY_BYTES);
    kr->sign_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (kr->master == NULL || kr->sign_sk == NULL)
        goto out;
    rc = read_key_file(keys_dir, "master.key", kr->master, BW_MASTER_KEY_BYTES, why, whylen);
    if (rc == BW_OK)
        rc = read_key_file(keys_dir, "audit-signing.key", kr->sign_sk,
                           crypto_sign_SECRETKEYBYTES, why, whylen);
    if (rc == BW_OK && crypto_sign_ed25519_sk_to_pk(kr->sign_pk, kr->sign_sk) != 0)
        rc = BW_ERR_CRYPTO;
    if (rc == BW_OK && (kr->dm = dm_create(keys_dir)) == NULL)
        rc = BW_ERR_NOMEM;
    if (rc == BW_OK) {
        sodium_mprotect_readonly(kr->master);
        sodium_mprotect_readonly(kr->sign_sk);
    }
out:
    if (rc != BW_OK) {
        bw_keyring_free(kr);
        return rc;
    }
    *out = kr;
    return BW_OK;
}

enum bw_rc bw_keyring_sign(const struct bw_keyring *kr, const void *msg, size_t len,
                           uint8_t sig[BW_SIGN_BYTES])
{
    return crypto_sign_detached(sig, NULL, msg, len, kr->sign_sk) == 0 ? BW_OK : BW_ERR_CRYPTO;
}

void bw_keyring_public(const struct bw_keyring *kr, uint8_t pk[BW_SIGN_PUBLIC_BYTES])
{
    memcpy(pk, kr->sign_pk, BW_SIGN_PUBLIC_BYTES);
}

enum bw_rc bw_sign_verify(const uint8_t pk[BW_SIGN_PUBLIC_BYTES], const void *msg, size_t len,
                          const uint8_t sig[BW_SIGN_BYTES])
{
    return crypto_sign_verify_detached(sig, msg, len, pk) == 0 ? BW_OK : BW_ERR_CRYPTO;
}

/* ---- sealing secrets at rest ------------------------------------------------ */

#define SEAL_CONTEXT "bwsecret" /* crypto_kdf_CONTEXTBYTES characters */
#define SEAL_SUBKEY_ID 1

/* Derives subkey `id` of `context` from the master key into sodium_malloc
 * memory of `n` bytes (caller frees). */
static enum bw_rc derive_key(const struct bw_keyring *kr, const char *context, uint64_t id,
                             size_t n, uint8_t **out)
{
    uint8_t *k = sodium_malloc(n);
    if (k == NULL)
        return BW_ERR_NOMEM;
    if (crypto_kdf_derive_from_key(k, n, id, context, kr->master) != 0) {
        sodium_free(k);
        return BW_ERR_CRYPTO;
    }
    *out = k;
    return BW_OK;
}

/* The sealing subkey (caller frees). */
static enum bw_rc seal_key(const struct bw_keyring *kr, uint8_t **out)
{
    if (crypto_aead_aes256gcm_is_available() == 0)
        return BW_ERR_UNSUPPORTED;
    return derive_key(kr, SEAL_CONTEXT, SEAL_SUBKEY_ID, crypto_aead_aes256gcm_KEYBYTES, out);
}

/* AES-256-GCM under `key` with a fresh random nonce: out = nonce || ct || tag.
 * The one seal/open pair of this file (secrets, backups, record envelopes). */
static enum bw_rc gcm_seal(const uint8_t *key, const void *aad, size_t aadlen,
                           const uint8_t *plain, size_t len, uint8_t *out, size_t cap,
                           size_t *out_len)
{
    unsigned long long clen = 0;
    if (len > cap || cap - len < BW_SEAL_OVERHEAD)
        return BW_ERR_TOOBIG;
    randombytes_buf(out, BW_SEAL_NONCE_BYTES);
    if (crypto_aead_aes256gcm_encrypt(out + BW_SEAL_NONCE_BYTES, &clen, plain, len, aad, aadlen,
                                      NULL, out, key) != 0)
        return BW_ERR_CRYPTO;
    *out_len = BW_SEAL_NONCE_BYTES + (size_t)clen;
    return BW_OK;
}

static enum bw_rc gcm_open(const uint8_t *key, const void *aad, size_t aadlen,
                           const uint8_t *sealed, size_t len, uint8_t *plain, size_t cap,
                           size_t *out_len)
{
    unsigned long long mlen = 0;
    if (len < BW_SEAL_OVERHEAD)
        return BW_ERR_INVALID;
    if (len - BW_SEAL_OVERHEAD > cap)
        return BW_ERR_TOOBIG;
    if (crypto_aead_aes256gcm_decrypt(plain, &mlen, NULL, sealed + BW_SEAL_NONCE_BYTES,
                                      len - BW_SEAL_NONCE_BYTES, aad, aadlen, sealed, key) != 0)
        return BW_ERR_CRYPTO;
    *out_len = (size_t)mlen;
    return BW_OK;
}

enum bw_rc bw_keyring_seal(const struct bw_keyring *kr, const char *aad, const uint8_t *plain,
                           size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    _Static_assert(BW_SEAL_NONCE_BYTES == crypto_aead_aes256gcm_NPUBBYTES, "nonce size");
    _Static_assert(BW_SEAL_TAG_BYTES == crypto_aead_aes256gcm_ABYTES, "tag size");
    if (len > cap || cap - len < BW_SEAL_OVERHEAD)
        return BW_ERR_TOOBIG;
    uint8_t *key = NULL;
    enum bw_rc rc = seal_key(kr, &key);
    if (rc == BW_OK)
        rc = gcm_seal(key, aad, strlen(aad), plain, len, out, cap, out_len);
    sodium_free(key);
    return rc;
}

enum bw_rc bw_keyring_open(const struct bw_keyring *kr, const char *aad, const uint8_t *sealed,
                           size_t len, uint8_t *plain, size_t cap, size_t *out_len)
{
    if (len < BW_SEAL_OVERHEAD)
        return BW_ERR_INVALID;
    if (len - BW_SEAL_OVERHEAD > cap)
        return BW_ERR_TOOBIG;
    uint8_t *key = NULL;
    enum bw_rc rc = seal_key(kr, &key);
    if (rc == BW_OK)
        rc = gcm_open(key, aad, strlen(aad), sealed, len, plain, cap, out_len);
    sodium_free(key);
    return rc;
}

/* ---- MACs -------------------------------------------------------------------- */

#define MAC_CONTEXT "bwmackey"
#define MAC_SUBKEY_ID 2

enum bw_rc bw_keyring_mac(const struct bw_keyring *kr, const char *purpose, const void *msg,
                          size_t len, uint8_t out[BW_MAC_BYTES])
{
    enum bw_rc rc = BW_ERR_CRYPTO;
    crypto_auth_hmacsha256_state st;
    uint8_t *k = sodium_malloc(crypto_auth_hmacsha256_KEYBYTES);
    if (k == NULL)
        return BW_ERR_NOMEM;
    if (crypto_kdf_derive_from_key(k, crypto_auth_hmacsha256_KEYBYTES, MAC_SUBKEY_ID,
                                   MAC_CONTEXT, kr->master) != 0)
        goto out;
    /* purpose and message are length-delimited so no two inputs collide */
    uint64_t plen = strlen(purpose);
    crypto_auth_hmacsha256_init(&st, k, crypto_auth_hmacsha256_KEYBYTES);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)&plen, sizeof(plen));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)purpose, plen);
    crypto_auth_hmacsha256_update(&st, msg, len);
    crypto_auth_hmacsha256_final(&st, out);
    rc = BW_OK;
out:
    sodium_memzero(&st, sizeof(st));
    sodium_free(k);
    return rc;
}

/* ---- audit trail (issue 5) ------------------------------------------------------ */

enum bw_rc bw_sign_load_public(const char *path, uint8_t pk[BW_SIGN_PUBLIC_BYTES], char *why,
                               size_t whylen)
{
    char b64[128];
    size_t n = 0, bin = 0;
    enum bw_rc rc = bw_sys_read_file(path, b64, sizeof(b64) - 1, &n, false, why, whylen);
    if (rc != BW_OK)
        return rc;
    b64[n] = '\0';
    if (sodium_base642bin(pk, BW_SIGN_PUBLIC_BYTES, b64, n, "\r\n", &bin, NULL, B64_VARIANT) !=
            0 ||
        bin != BW_SIGN_PUBLIC_BYTES) {
        bw_why(why, whylen, "%s is not an Ed25519 public key file", path);
        return BW_ERR_CRYPTO;
    }
    return BW_OK;
}
/* ---- backups (issue 6) --------------------------------------------------------
 * CONTROL: CRY-03. Subkeys of the master key under context "bwbackup":
 * 1 wraps data keys and seals manifests/log segments (AES-256-GCM),
 * 2 keys the BLAKE2b content addresses, 3 seeds the chunker's gear table. */

#define BACKUP_CONTEXT "bwbackup"
#define BACKUP_SUBKEY_SEAL 1
#define BACKUP_SUBKEY_ID 2
#define BACKUP_SUBKEY_GEAR 3

struct bw_backup_key {
    crypto_aead_aes256gcm_state *st; /* sodium_malloc: expanded key */
};

static enum bw_rc backup_subkey(const struct bw_keyring *kr, uint64_t id, uint8_t **out)
{
    return derive_key(kr, BACKUP_CONTEXT, id, 32, out);
}

void bw_backup_key_free(struct bw_backup_key *k)
{
    if (k == NULL)
        return;
    sodium_free(k->st);
    bw_free(k);
}

static enum bw_rc backup_key_from(const uint8_t raw[32], struct bw_backup_key **out)
{
    struct bw_backup_key *k = bw_calloc(1, sizeof(*k));
    if (k == NULL)
        return BW_ERR_NOMEM;
    k->st = sodium_malloc(sizeof(*k->st));
    enum bw_rc rc = k->st == NULL ? BW_ERR_NOMEM
                    : crypto_aead_aes256gcm_beforenm(k->st, raw) != 0 ? BW_ERR_CRYPTO
                                                                      : BW_OK;
    if (rc != BW_OK) {
        bw_backup_key_free(k);
        return rc;
    }
    sodium_mprotect_readonly(k->st);
    *out = k;
    return BW_OK;
}

enum bw_rc bw_keyring_backup_key_new(const struct bw_keyring *kr, const char *aad,
                                     struct bw_backup_key **out,
                                     uint8_t wrapped[BW_BACKUP_KEY_WRAPPED_BYTES])
{
    uint8_t *wk = NULL, *raw = sodium_malloc(32);
    size_t n = 0;
    struct bw_backup_key *k = NULL;
    enum bw_rc rc = BW_ERR_NOMEM;
    if (crypto_aead_aes256gcm_is_available() == 0) {
        sodium_free(raw);
        return BW_ERR_UNSUPPORTED;
    }
    if (raw == NULL || (rc = backup_subkey(kr, BACKUP_SUBKEY_SEAL, &wk)) != BW_OK)
        goto out;
    randombytes_buf(raw, 32);
    rc = gcm_seal(wk, aad, strlen(aad), raw, 32, wrapped, BW_BACKUP_KEY_WRAPPED_BYTES, &n);
    if (rc == BW_OK)
        rc = backup_key_from(raw, &k);
out:
    sodium_free(raw);
    sodium_free(wk);
    if (rc == BW_OK)
        *out = k;
    return rc;
}

enum bw_rc bw_keyring_backup_key_unwrap(const struct bw_keyring *kr, const char *aad,
                                        const uint8_t *wrapped, size_t len,
                                        struct bw_backup_key **out)
{
    uint8_t *wk = NULL, *raw = sodium_malloc(32);
    size_t n = 0;
    struct bw_backup_key *k = NULL;
    enum bw_rc rc = BW_ERR_NOMEM;
    if (crypto_aead_aes256gcm_is_available() == 0) {
        sodium_free(raw);
        return BW_ERR_UNSUPPORTED;
    }
    if (raw == NULL || (rc = backup_subkey(kr, BACKUP_SUBKEY_SEAL, &wk)) != BW_OK)
        goto out;
    rc = gcm_open(wk, aad, strlen(aad), wrapped, len, raw, 32, &n);
    if (rc == BW_OK && n != 32)
        rc = BW_ERR_CRYPTO;
    if (rc == BW_OK)
        rc = backup_key_from(raw, &k);
out:
    sodium_free(raw);
    sodium_free(wk);
    if (rc == BW_OK)
        *out = k;
    return rc;
}

enum bw_rc bw_backup_key_seal(const struct bw_backup_key *k, const void *aad, size_t aadlen,
                              const uint8_t *plain, size_t len, uint8_t *out, size_t cap,
                              size_t *out_len)
{
    unsigned long long clen = 0;
    if (len > cap || cap - len < BW_SEAL_OVERHEAD)
        return BW_ERR_TOOBIG;
    randombytes_buf(out, BW_SEAL_NONCE_BYTES);
    if (crypto_aead_aes256gcm_encrypt_afternm(out + BW_SEAL_NONCE_BYTES, &clen, plain, len, aad,
                                              aadlen, NULL, out, k->st) != 0)
        return BW_ERR_CRYPTO;
    *out_len = BW_SEAL_NONCE_BYTES + (size_t)clen;
    return BW_OK;
}

enum bw_rc bw_backup_key_open(const struct bw_backup_key *k, const void *aad, size_t aadlen,
                              const uint8_t *sealed, size_t len, uint8_t *plain, size_t cap,
                              size_t *out_len)
{
    unsigned long long mlen = 0;
    if (len < BW_SEAL_OVERHEAD)
        return BW_ERR_INVALID;
    if (len - BW_SEAL_OVERHEAD > cap)
        return BW_ERR_TOOBIG;
    if (crypto_aead_aes256gcm_decrypt_afternm(plain, &mlen, NULL, sealed + BW_SEAL_NONCE_BYTES,
                                              len - BW_SEAL_NONCE_BYTES, aad, aadlen, sealed,
                                              k->st) != 0)
        return BW_ERR_CRYPTO;
    *out_len = (size_t)mlen;
    return BW_OK;
}

enum bw_rc bw_keyring_backup_seal(const struct bw_keyring *kr, const char *aad,
                                  const uint8_t *plain, size_t len, uint8_t *out, size_t cap,
                                  size_t *out_len)
{
    uint8_t *wk = NULL;
    if (crypto_aead_aes256gcm_is_available() == 0)
        return BW_ERR_UNSUPPORTED;
    enum bw_rc rc = backup_subkey(kr, BACKUP_SUBKEY_SEAL, &wk);
    if (rc == BW_OK)
        rc = gcm_seal(wk, aad, strlen(aad), plain, len, out, cap, out_len);
    sodium_free(wk);
    return rc;
}

enum bw_rc bw_keyring_backup_open(const struct bw_keyring *kr, const char *aad,
                                  const uint8_t *sealed, size_t len, uint8_t *plain, size_t cap,
                                  size_t *out_len)
{
    uint8_t *wk = NULL;
    if (crypto_aead_aes256gcm_is_available() == 0)
        return BW_ERR_UNSUPPORTED;
    enum bw_rc rc = backup_subkey(kr, BACKUP_SUBKEY_SEAL, &wk);
    if (rc == BW_OK)
        rc = gcm_open(wk, aad, strlen(aad), sealed, len, plain, cap, out_len);
    sodium_free(wk);
    return rc;
}

enum bw_rc bw_keyring_backup_id_key(const struct bw_keyring *kr, uint8_t **key)
{
    *key = NULL;
    return backup_subkey(kr, BACKUP_SUBKEY_ID, key);
}

void bw_backup_id_key_free(uint8_t *key)
{
    if (key != NULL)
        sodium_free(key);
}

enum bw_rc bw_backup_id(enum bw_backup_id_scheme scheme, const uint8_t *key, const void *data,
                        size_t len, uint8_t out[BW_BACKUP_ID_BYTES])
{
    _Static_assert(BW_BACKUP_ID_BYTES == 32, "both schemes give 32 bytes");
    if (scheme == BW_BACKUP_ID_HMAC_SHA256)
        return gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, BW_BACKUP_ID_KEY_BYTES, data, len, out) ==
                       0
                   ? BW_OK
                   : BW_ERR_CRYPTO;
    return crypto_generichash(out, BW_BACKUP_ID_BYTES, data, len, key, BW_BACKUP_ID_KEY_BYTES) ==
                   0
               ? BW_OK
               : BW_ERR_CRYPTO;
}

enum bw_rc bw_keyring_backup_id(const struct bw_keyring *kr, const void *data, size_t len,
                                uint8_t out[BW_BACKUP_ID_BYTES])
{
    uint8_t *k = NULL;
    enum bw_rc rc = bw_keyring_backup_id_key(kr, &k);
    if (rc == BW_OK)
        rc = bw_backup_id(BW_BACKUP_ID_BLAKE2B, k, data, len, out);
    bw_backup_id_key_free(k);
    return rc;
}

enum bw_rc bw_keyring_backup_gear(const struct bw_keyring *kr, uint64_t gear[256])
{
    uint8_t *k = NULL;
    enum bw_rc rc = backup_subkey(kr, BACKUP_SUBKEY_GEAR, &k);
    if (rc == BW_OK)
        crypto_stream_chacha20_ietf((unsigned char *)gear, 256 * sizeof(uint64_t),
                                    (const unsigned char *)"bwgeartable1", k);
    sodium_free(k);
    return rc;
}

/* ---- envelope keys for record data (data issue; CONTROL: CRY-01, G-09) -------
 * master key version -> organisation key -> per-record data key. Version 1
 * of the data master is a subkey of keys/master.key; rotation adds
 * keys/master-N.key files. Unwrapped organisation and data keys exist only
 * in sodium_malloc memory for the duration of one call. */

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#define DM_MAX 64                 /* master versions one process can hold */
#define DM_CONTEXT "bwdatakk"     /* crypto_kdf context of version 1 */
#define DM_SUBKEY_ID 3
#define ENV_KEY_BYTES 32
#define DEK_AAD_MAX 128

struct data_masters {
    pthread_mutex_t mu;
    char keys_dir[4096];
    int newest;               /* highest version loaded */
    uint8_t *key[DM_MAX + 1]; /* index = version; sodium_malloc, read-only */
};

static void dm_free(struct data_masters *dm)
{
    if (dm == NULL)
        return;
    for (size_t i = 0; i <= DM_MAX; i++)
        sodium_free(dm->key[i]);
    pthread_mutex_destroy(&dm->mu);
    bw_free(dm);
}

static enum bw_rc dm_load_file(struct data_masters *dm, int v)
{
    char name[32];
    uint8_t *k = sodium_malloc(ENV_KEY_BYTES);
    if (k == NULL)
        return BW_ERR_NOMEM;
    snprintf(name, sizeof(name), "master-%d.key", v);
    enum bw_rc rc = read_key_file(dm->keys_dir, name, k, ENV_KEY_BYTES, NULL, 0);
    if (rc != BW_OK) {
        sodium_free(k);
        return rc;
    }
    sodium_mprotect_readonly(k);
    dm->key[v] = k;
    dm->newest = v;
    return BW_OK;
}

/* Loads versions above the newest until a file is missing. Holds dm->mu. */
static enum bw_rc dm_scan(struct data_masters *dm)
{
    enum bw_rc rc = BW_OK;
    while (rc == BW_OK && dm->newest < DM_MAX)
        rc = dm_load_file(dm, dm->newest + 1);
    return rc == BW_ERR_NOTFOUND ? BW_OK : rc;
}

static struct data_masters *dm_create(const char *keys_dir)
{
    struct data_masters *dm = bw_calloc(1, sizeof(*dm));
    if (dm == NULL)
        return NULL;
    pthread_mutex_init(&dm->mu, NULL);
    dm->newest = 1; /* version 1 is derived from master.key, never a file */
    if (snprintf(dm->keys_dir, sizeof(dm->keys_dir), "%s", keys_dir) >=
            (int)sizeof(dm->keys_dir) ||
        dm_scan(dm) != BW_OK) {
        dm_free(dm);
        return NULL;
    }
    return dm;
}

int bw_keyring_master_version(const struct bw_keyring *kr)
{
    pthread_mutex_lock(&kr->dm->mu);
    int v = kr->dm->newest;
    pthread_mutex_unlock(&kr->dm->mu);
    return v;
}

enum bw_rc bw_keyring_master_refresh(const struct bw_keyring *kr)
{
    pthread_mutex_lock(&kr->dm->mu);
    enum bw_rc rc = dm_scan(kr->dm);
    pthread_mutex_unlock(&kr->dm->mu);
    return rc;
}

enum bw_rc bw_keyring_master_create(const char *keys_dir, int *version, char *why,
                                    size_t whylen)
{
    char name[32], path[4096];
    int v = 2;
    for (; v <= DM_MAX; v++) {
        snprintf(name, sizeof(name), "master-%d.key", v);
        if (bw_sys_path(path, sizeof(path), keys_dir, name) != BW_OK)
            return BW_ERR_TOOBIG;
        if (access(path, F_OK) != 0)
            break;
    }
    if (v > DM_MAX) {
        bw_why(why, whylen, "%d master key versions exist already", DM_MAX);
        return BW_ERR_TOOBIG;
    }
    uint8_t *k = sodium_malloc(ENV_KEY_BYTES);
    if (k == NULL)
        return BW_ERR_NOMEM;
    randombytes_buf(k, ENV_KEY_BYTES);
    enum bw_rc rc = write_key_file(keys_dir, name, k, ENV_KEY_BYTES, why, whylen);
    sodium_free(k);
    if (rc == BW_OK)
        *version = v;
    return rc;
}

/* The key-encryption key of master version v, copied into sodium_malloc
 * memory the caller frees. */
static enum bw_rc master_key(const struct bw_keyring *kr, int v, uint8_t **out)
{
    if (crypto_aead_aes256gcm_is_available() == 0)
        return BW_ERR_UNSUPPORTED;
    if (v < 1 || v > DM_MAX)
        return BW_ERR_CRYPTO;
    uint8_t *k = sodium_malloc(ENV_KEY_BYTES);
    if (k == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc = BW_OK;
    if (v == 1) {
        if (crypto_kdf_derive_from_key(k, ENV_KEY_BYTES, DM_SUBKEY_ID, DM_CONTEXT, kr->master) != 0)
            rc = BW_ERR_CRYPTO;
    } else {
        pthread_mutex_lock(&kr->dm->mu);
        if (kr->dm->key[v] == NULL && dm_scan(kr->dm) != BW_OK)
            rc = BW_ERR_CRYPTO;
        if (rc == BW_OK && kr->dm->key[v] == NULL)
            rc = BW_ERR_CRYPTO; /* no such version: fails closed */
        if (rc == BW_OK)
            memcpy(k, kr->dm->key[v], ENV_KEY_BYTES);
        pthread_mutex_unlock(&kr->dm->mu);
    }
    if (rc != BW_OK) {
        sodium_free(k);
        return rc;
    }
    *out = k;
    return BW_OK;
}

static size_t orgkey_aad(char out[DEK_AAD_MAX], const char *org_id, int v)
{
    int n = snprintf(out, DEK_AAD_MAX, "bw-orgkey:v1:%s:%d", org_id, v);
    return n > 0 && n < DEK_AAD_MAX ? (size_t)n : 0;
}

static size_t dek_aad(char out[DEK_AAD_MAX], const char *org_id, const char *record_id)
{
    int n = snprintf(out, DEK_AAD_MAX, "bw-datakey:v1:%s:%s", org_id, record_id);
    return n > 0 && n < DEK_AAD_MAX ? (size_t)n : 0;
}

/* Wraps a fresh random key under `kek` into wrapped[]. */
static enum bw_rc wrap_new(const uint8_t *kek, const char *aad, size_t aadlen,
                           uint8_t wrapped[BW_WRAPPED_KEY_BYTES])
{
    size_t n = 0;
    uint8_t *k = sodium_malloc(ENV_KEY_BYTES);
    if (k == NULL)
        return BW_ERR_NOMEM;
    randombytes_buf(k, ENV_KEY_BYTES);
    enum bw_rc rc =
        gcm_seal(kek, aad, aadlen, k, ENV_KEY_BYTES, wrapped, BW_WRAPPED_KEY_BYTES, &n);
    sodium_free(k);
    return rc == BW_OK && n != BW_WRAPPED_KEY_BYTES ? BW_ERR_INTERNAL : rc;
}

/* Unwraps into sodium_malloc memory the caller frees. */
static enum bw_rc unwrap(const uint8_t *kek, const char *aad, size_t aadlen,
                         const uint8_t wrapped[BW_WRAPPED_KEY_BYTES], uint8_t **out)
{
    size_t n = 0;
    uint8_t *k = sodium_malloc(ENV_KEY_BYTES);
    if (k == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc =
        gcm_open(kek, aad, aadlen, wrapped, BW_WRAPPED_KEY_BYTES, k, ENV_KEY_BYTES, &n);
    if (rc == BW_OK && n != ENV_KEY_BYTES)
        rc = BW_ERR_CRYPTO;
    if (rc != BW_OK) {
        sodium_free(k);
        return rc;
    }
    *out = k;
    return BW_OK;
}

enum bw_rc bw_keyring_orgkey_new(const struct bw_keyring *kr, const char *org_id, int *mversion,
                                 uint8_t wrapped[BW_WRAPPED_KEY_BYTES])
{
    char aad[DEK_AAD_MAX];
    uint8_t *kek = NULL;
    int v = bw_keyring_master_version(kr);
    size_t alen = orgkey_aad(aad, org_id, v);
    if (alen == 0)
        return BW_ERR_INVALID;
    enum bw_rc rc = master_key(kr, v, &kek);
    if (rc == BW_OK)
        rc = wrap_new(kek, aad, alen, wrapped);
    sodium_free(kek);
    if (rc == BW_OK)
        *mversion = v;
    return rc;
}

enum bw_rc bw_keyring_orgkey_rewrap(const struct bw_keyring *kr, const char *org_id, int from,
                                    const uint8_t in[BW_WRAPPED_KEY_BYTES], int to,
                                    uint8_t out[BW_WRAPPED_KEY_BYTES])
{
    char a1[DEK_AAD_MAX], a2[DEK_AAD_MAX];
    uint8_t *kek = NULL, *ok = NULL;
    size_t n = 0, l1 = orgkey_aad(a1, org_id, from), l2 = orgkey_aad(a2, org_id, to);
    if (l1 == 0 || l2 == 0)
        return BW_ERR_INVALID;
    enum bw_rc rc = master_key(kr, from, &kek);
    if (rc == BW_OK)
        rc = unwrap(kek, a1, l1, in, &ok);
    sodium_free(kek);
    kek = NULL;
    if (rc == BW_OK)
        rc = master_key(kr, to, &kek);
    if (rc == BW_OK)
        rc = gcm_seal(kek, a2, l2, ok, ENV_KEY_BYTES, out, BW_WRAPPED_KEY_BYTES, &n);
    sodium_free(kek);
    sodium_free(ok);
    return rc;
}

/* The organisation key in sodium_malloc memory (caller frees). */
static enum bw_rc orgkey_open(const struct bw_keyring *kr, const struct bw_orgkey *okr,
                              uint8_t **out)
{
    char aad[DEK_AAD_MAX];
    uint8_t *kek = NULL;
    size_t alen = orgkey_aad(aad, okr->org_id, okr->mversion);
    if (alen == 0)
        return BW_ERR_INVALID;
    enum bw_rc rc = master_key(kr, okr->mversion, &kek);
    if (rc == BW_OK)
        rc = unwrap(kek, aad, alen, okr->wrapped, out);
    sodium_free(kek);
    return rc;
}

enum bw_rc bw_keyring_datakey_new(const struct bw_keyring *kr, const struct bw_orgkey *okr,
                                  const char *record_id, uint8_t wrapped[BW_WRAPPED_KEY_BYTES])
{
    char aad[DEK_AAD_MAX];
    uint8_t *ok = NULL;
    size_t alen = dek_aad(aad, okr->org_id, record_id);
    if (alen == 0)
        return BW_ERR_INVALID;
    enum bw_rc rc = orgkey_open(kr, okr, &ok);
    if (rc == BW_OK)
        rc = wrap_new(ok, aad, alen, wrapped);
    sodium_free(ok);
    return rc;
}

/* The record's data key in sodium_malloc memory (caller frees). */
static enum bw_rc datakey_open(const struct bw_keyring *kr, const struct bw_orgkey *okr,
                               const char *record_id, const uint8_t dek[BW_WRAPPED_KEY_BYTES],
                               uint8_t **out)
{
    char aad[DEK_AAD_MAX];
    uint8_t *ok = NULL;
    size_t alen = dek_aad(aad, okr->org_id, record_id);
    if (alen == 0)
        return BW_ERR_INVALID;
    enum bw_rc rc = orgkey_open(kr, okr, &ok);
    if (rc == BW_OK)
        rc = unwrap(ok, aad, alen, dek, out);
    sodium_free(ok);
    return rc;
}

enum bw_rc bw_keyring_record_seal(const struct bw_keyring *kr, const struct bw_orgkey *okr,
                                  const char *record_id, const uint8_t dek[BW_WRAPPED_KEY_BYTES],
                                  const void *aad, size_t aadlen, const uint8_t *plain,
                                  size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    uint8_t *k = NULL;
    size_t n = 0;
    enum bw_rc rc = datakey_open(kr, okr, record_id, dek, &k);
    if (rc == BW_OK)
        rc = gcm_seal(k, aad, aadlen, plain, len, out, cap, &n);
    sodium_free(k);
    if (rc == BW_OK)
        *out_len = n;
    return rc;
}

enum bw_rc bw_keyring_record_open(const struct bw_keyring *kr, const struct bw_orgkey *okr,
                                  const char *record_id, const uint8_t dek[BW_WRAPPED_KEY_BYTES],
                                  const void *aad, size_t aadlen, const uint8_t *sealed,
                                  size_t len, uint8_t *plain, size_t cap, size_t *out_len)
{
    uint8_t *k = NULL;
    size_t n = 0;
    enum bw_rc rc = datakey_open(kr, okr, record_id, dek, &k);
    if (rc == BW_OK && (rc = gcm_open(k, aad, aadlen, sealed, len, plain, cap, &n)) ==
                           BW_ERR_INVALID)
        rc = BW_ERR_CRYPTO; /* a stored body too short to be sealed: fails closed */
    sodium_free(k);
    if (rc == BW_OK)
        *out_len = n;
    return rc;
}

/* ---- recovery kit (issue 6, backup2) ------------------------------------------
 * The master key sealed under a key derived from a passphrase with Argon2id;
 * the parameters travel in the kit and are bounded on import so a forged
 * kit cannot demand unbounded memory or time. */

#define KIT_PREFIX "bwrk1:"
#define KIT_OPS_MAX (crypto_pwhash_OPSLIMIT_SENSITIVE * 4)
#define KIT_MEM_MAX (crypto_pwhash_MEMLIMIT_SENSITIVE)
#define KIT_SECRET (BW_MASTER_KEY_BYTES + crypto_sign_SECRETKEYBYTES)

static enum bw_rc kit_key(uint8_t *key, const char *pw, size_t plen, const uint8_t *salt,
                          unsigned long long ops, size_t mem)
{
    return crypto_pwhash(key, crypto_secretbox_KEYBYTES, pw, plen, salt, ops, mem,
                         crypto_pwhash_ALG_ARGON2ID13) == 0
               ? BW_OK
               : BW_ERR_NOMEM; /* the only failure: memory for Argon2id */
}

enum bw_rc bw_keyring_recovery_export(const struct bw_keyring *kr, const char *passphrase,
                                      size_t plen, char *out, size_t cap)
{
    uint8_t salt[crypto_pwhash_SALTBYTES], nonce[crypto_secretbox_NONCEBYTES];
    uint8_t box[KIT_SECRET + crypto_secretbox_MACBYTES];
    uint8_t *plain = sodium_malloc(KIT_SECRET);
    char s64[64], n64[64], b64[256];
    unsigned long long ops = crypto_pwhash_OPSLIMIT_SENSITIVE;
    size_t mem = crypto_pwhash_MEMLIMIT_MODERATE;
    uint8_t *key = sodium_malloc(crypto_secretbox_KEYBYTES);
    enum bw_rc rc = key != NULL && plain != NULL ? BW_OK : BW_ERR_NOMEM;
    if (rc == BW_OK && plen < BW_RECOVERY_PASSPHRASE_MIN)
        rc = BW_ERR_INVALID;
    if (rc == BW_OK) { /* master key || audit-signing secret key */
        memcpy(plain, kr->master, BW_MASTER_KEY_BYTES);
        memcpy(plain + BW_MASTER_KEY_BYTES, kr->sign_sk, crypto_sign_SECRETKEYBYTES);
    }
    randombytes_buf(salt, sizeof(salt));
    randombytes_buf(nonce, sizeof(nonce));
    if (rc == BW_OK)
        rc = kit_key(key, passphrase, plen, salt, ops, mem);
    if (rc == BW_OK &&
        crypto_secretbox_easy(box, plain, KIT_SECRET, nonce, key) != 0)
        rc = BW_ERR_CRYPTO;
    if (rc == BW_OK) {
        sodium_bin2base64(s64, sizeof(s64), salt, sizeof(salt), B64_VARIANT);
        sodium_bin2base64(n64, sizeof(n64), nonce, sizeof(nonce), B64_VARIANT);
        sodium_bin2base64(b64, sizeof(b64), box, sizeof(box), B64_VARIANT);
        int n = snprintf(out, cap, KIT_PREFIX "%llu:%zu:%s:%s:%s", ops, mem, s64, n64, b64);
        if (n < 0 || (size_t)n >= cap)
            rc = BW_ERR_TOOBIG;
    }
    sodium_free(key);
    sodium_free(plain);
    sodium_memzero(box, sizeof(box));
    return rc;
}

/* Splits the kit into its five fields (bounded, no allocation). */
static enum bw_rc kit_parse(const char *kit, size_t len, unsigned long long *ops, size_t *mem,
                            uint8_t salt[crypto_pwhash_SALTBYTES],
                            uint8_t nonce[crypto_secretbox_NONCEBYTES],
                            uint8_t box[KIT_SECRET + crypto_secretbox_MACBYTES])
{
    char f[5][256];
    size_t nf = 0, k = 0, bl = 0;
    uint64_t v = 0;
    while (len > 0 && (kit[len - 1] == '\n' || kit[len - 1] == '\r' || kit[len - 1] == ' '))
        len--;
    if (len < strlen(KIT_PREFIX) || memcmp(kit, KIT_PREFIX, strlen(KIT_PREFIX)) != 0)
        return BW_ERR_INVALID;
    for (size_t i = strlen(KIT_PREFIX); i <= len; i++) {
        if (i == len || kit[i] == ':') {
            if (nf >= 5)
                return BW_ERR_INVALID;
            f[nf++][k] = '\0';
            k = 0;
        } else if (k + 1 >= sizeof(f[0])) {
            return BW_ERR_INVALID;
        } else {
            f[nf < 5 ? nf : 4][k++] = kit[i];
        }
    }
    if (nf != 5 || bw_parse_u64(f[0], KIT_OPS_MAX, &v) != BW_OK ||
        v < crypto_pwhash_OPSLIMIT_MIN)
        return BW_ERR_INVALID;
    *ops = v;
    if (bw_parse_u64(f[1], KIT_MEM_MAX, &v) != BW_OK || v < crypto_pwhash_MEMLIMIT_MIN)
        return BW_ERR_INVALID;
    *mem = (size_t)v;
    if (sodium_base642bin(salt, crypto_pwhash_SALTBYTES, f[2], strlen(f[2]), NULL, &bl, NULL,
                          B64_VARIANT) != 0 || bl != crypto_pwhash_SALTBYTES ||
        sodium_base642bin(nonce, crypto_secretbox_NONCEBYTES, f[3], strlen(f[3]), NULL, &bl,
                          NULL, B64_VARIANT) != 0 || bl != crypto_secretbox_NONCEBYTES ||
        sodium_base642bin(box, KIT_SECRET + crypto_secretbox_MACBYTES, f[4], strlen(f[4]), NULL,
                          &bl, NULL, B64_VARIANT) != 0 ||
        bl != KIT_SECRET + crypto_secretbox_MACBYTES)
        return BW_ERR_INVALID;
    return BW_OK;
}

enum bw_rc bw_keyring_recovery_import(const char *kit, size_t kitlen, const char *passphrase,
                                      size_t plen, const char *keys_dir, char *why,
                                      size_t whylen)
{
    uint8_t salt[crypto_pwhash_SALTBYTES], nonce[crypto_secretbox_NONCEBYTES];
    uint8_t box[KIT_SECRET + crypto_secretbox_MACBYTES], pk[crypto_sign_PUBLICKEYBYTES];
    unsigned long long ops = 0;
    size_t mem = 0;
    const char *line = kit, *end = kit + kitlen;
    uint8_t *key = sodium_malloc(crypto_secretbox_KEYBYTES);
    uint8_t *plain = sodium_malloc(KIT_SECRET);
    enum bw_rc rc = key != NULL && plain != NULL ? BW_OK : BW_ERR_NOMEM;
    /* the kit line among comment lines: the first that starts with the prefix */
    while (line < end && (size_t)(end - line) >= strlen(KIT_PREFIX) &&
           memcmp(line, KIT_PREFIX, strlen(KIT_PREFIX)) != 0) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        line = nl != NULL ? nl + 1 : end;
    }
    const char *eol = line < end ? memchr(line, '\n', (size_t)(end - line)) : NULL;
    size_t ll = line < end ? (size_t)((eol != NULL ? eol : end) - line) : 0;
    if (rc == BW_OK && (rc = kit_parse(line, ll, &ops, &mem, salt, nonce, box)) != BW_OK)
        bw_why(why, whylen, "the recovery kit is malformed");
    if (rc == BW_OK)
        rc = kit_key(key, passphrase, plen, salt, ops, mem);
    if (rc == BW_OK && crypto_secretbox_open_easy(plain, box, sizeof(box), nonce, key) != 0) {
        bw_why(why, whylen, "the recovery kit does not open with this passphrase (or was "
               "changed)");
        rc = BW_ERR_CRYPTO;
    }
    if (rc == BW_OK &&
        crypto_sign_ed25519_sk_to_pk(pk, plain + BW_MASTER_KEY_BYTES) != 0)
        rc = BW_ERR_CRYPTO;
    if (rc == BW_OK)
        rc = write_key_file(keys_dir, "master.key", plain, BW_MASTER_KEY_BYTES, why, whylen);
    if (rc == BW_OK)
        rc = write_key_file(keys_dir, "audit-signing.key", plain + BW_MASTER_KEY_BYTES,
                            crypto_sign_SECRETKEYBYTES, why, whylen);
    if (rc == BW_OK)
        rc = write_key_file(keys_dir, "audit-signing.pub", pk, sizeof(pk), why, whylen);
    sodium_free(key);
    sodium_free(plain);
    sodium_memzero(box, sizeof(box));
    return rc;
}
