/*
 * crypto.h - key material and the operations on it. The keyring is the only
 * holder of Bulwark's long-term secrets (STYLE rule 9): the 256-bit master
 * key and the Ed25519 audit-signing key live in sodium_malloc memory
 * (guarded, locked, wiped on free) and leave it only as results of
 * operations. Also generates the server's self-signed TLS certificate.
 */
#ifndef BW_CRYPTO_H
#define BW_CRYPTO_H

#include "core/core.h"

#define BW_MASTER_KEY_BYTES 32
#define BW_SIGN_PUBLIC_BYTES 32
#define BW_SIGN_BYTES 64

struct bw_keyring;

/* Initialises libsodium; call once before anything else. */
BW_MUST_CHECK enum bw_rc bw_crypto_init(void);

/* Creates keys/master.key (256 bits from the system RNG) and
 * keys/audit-signing.key (+ .pub) under `keys_dir`, all 0600, refusing to
 * overwrite. */
BW_MUST_CHECK enum bw_rc bw_keyring_generate(const char *keys_dir, char *why, size_t whylen);
/* Loads the keys, refusing files readable by group or others. */
BW_MUST_CHECK enum bw_rc bw_keyring_load(const char *keys_dir, struct bw_keyring **out, char *why,
                                         size_t whylen);
void bw_keyring_free(struct bw_keyring *kr); /* wipes; accepts NULL */
/* Ed25519 detached signature with the audit-signing key. */
BW_MUST_CHECK enum bw_rc bw_keyring_sign(const struct bw_keyring *kr, const void *msg, size_t len,
                                         uint8_t sig[BW_SIGN_BYTES]);
void bw_keyring_public(const struct bw_keyring *kr, uint8_t pk[BW_SIGN_PUBLIC_BYTES]);
BW_MUST_CHECK enum bw_rc bw_sign_verify(const uint8_t pk[BW_SIGN_PUBLIC_BYTES], const void *msg,
                                        size_t len, const uint8_t sig[BW_SIGN_BYTES]);

/* Generates a self-signed ECDSA P-256 certificate for `hostname` (plus
 * 127.0.0.1 and ::1 as subject alternative names), valid `days`, and writes
 * cert and key as PEM (0600). */
BW_MUST_CHECK enum bw_rc bw_tls_generate_selfsigned(const char *cert_path, const char *key_path,
                                                    const char *hostname, unsigned days, char *why,
                                                    size_t whylen);

#endif
