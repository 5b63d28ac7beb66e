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
/* Sealing secrets at rest (CONTROL: AUTH-02, G-09): AES-256-GCM under a
 * subkey derived from the master key (crypto_kdf, context "bwsecret"), a
 * random 96-bit nonce per seal. Sealed form: nonce || ciphertext || tag.
 * `aad` binds purpose and owner (e.g. "totp:<user id>"): bytes sealed for
 * one owner never open for another. The subkey exists only in sodium_malloc
 * memory for the duration of one call. Both return BW_ERR_UNSUPPORTED when
 * the CPU lacks AES-NI/PCLMUL (libsodium's AES-GCM needs them). */
#define BW_SEAL_NONCE_BYTES 12
#define BW_SEAL_TAG_BYTES 16
#define BW_SEAL_OVERHEAD (BW_SEAL_NONCE_BYTES + BW_SEAL_TAG_BYTES)
/* Seals plain[len] into out[cap] (cap >= len + BW_SEAL_OVERHEAD); *out_len
 * is the sealed length. Borrowed arguments; nothing is kept. */
/* HMAC-SHA-256 of (purpose, msg) under a subkey of the master key, for
 * values the server must recognise later without storing them (CSRF tokens).
 * `purpose` separates uses; out receives 32 bytes. */
#define BW_MAC_BYTES 32
BW_MUST_CHECK enum bw_rc bw_keyring_mac(const struct bw_keyring *kr, const char *purpose,
                                        const void *msg, size_t len, uint8_t out[BW_MAC_BYTES]);
BW_MUST_CHECK enum bw_rc bw_keyring_seal(const struct bw_keyring *kr, const char *aad,
                                         const uint8_t *plain, size_t len, uint8_t *out,
                                         size_t cap, size_t *out_len);
/* Opens sealed[len] into plain[cap] (cap >= len - BW_SEAL_OVERHEAD), which
 * the caller should allocate with sodium_malloc and wipe. BW_ERR_CRYPTO for
 * a wrong key or aad, or any changed byte; BW_ERR_INVALID when too short. */
BW_MUST_CHECK enum bw_rc bw_keyring_open(const struct bw_keyring *kr, const char *aad,
                                         const uint8_t *sealed, size_t len, uint8_t *plain,
                                         size_t cap, size_t *out_len);
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

/* audit trail (issue 5): reads a public key file as written by
 * bw_keyring_generate (keys/audit-signing.pub: one base64 line), so a
 * verifier needs no secret. */
BW_MUST_CHECK enum bw_rc bw_sign_load_public(const char *path, uint8_t pk[BW_SIGN_PUBLIC_BYTES],
                                             char *why, size_t whylen);
/* ---- backups (issue 6: src/backup/) ------------------------------------------
 * CONTROL: CRY-03. Every backup object is AES-256-GCM. The backup key is a
 * subkey of the master key (crypto_kdf context "bwbackup") and never leaves
 * this module: it seals manifests and log segments, and wraps the random
 * per-backup data keys that seal chunks. A data key lives in an opaque
 * struct bw_backup_key (sodium_malloc, the AES state precomputed); the
 * backup target only ever sees wrapped keys. Chunk names are keyed BLAKE2b
 * hashes (a second subkey), so the store's names leak nothing about content.
 * Restoring on a new machine needs only the master key. */
#define BW_BACKUP_KEY_WRAPPED_BYTES (32 + BW_SEAL_OVERHEAD)
#define BW_BACKUP_ID_BYTES 32
struct bw_backup_key;
/* A new random data key; `wrapped` receives it sealed under the backup key
 * with `aad` (binds it to its backup). */
BW_MUST_CHECK enum bw_rc bw_keyring_backup_key_new(const struct bw_keyring *kr, const char *aad,
                                                   struct bw_backup_key **out,
                                                   uint8_t wrapped[BW_BACKUP_KEY_WRAPPED_BYTES]);
/* Unwraps a data key; BW_ERR_CRYPTO for a wrong master key, aad or any change. */
BW_MUST_CHECK enum bw_rc bw_keyring_backup_key_unwrap(const struct bw_keyring *kr, const char *aad,
                                                      const uint8_t *wrapped, size_t len,
                                                      struct bw_backup_key **out);
void bw_backup_key_free(struct bw_backup_key *k); /* wipes; accepts NULL */
/* AES-256-GCM under a data key: out = nonce || ciphertext || tag (cap >= len
 * + BW_SEAL_OVERHEAD); open reverses it, BW_ERR_CRYPTO on any change. The
 * key is only read: several threads may seal with one key at once. */
BW_MUST_CHECK enum bw_rc bw_backup_key_seal(const struct bw_backup_key *k, const void *aad,
                                            size_t aadlen, const uint8_t *plain, size_t len,
                                            uint8_t *out, size_t cap, size_t *out_len);
BW_MUST_CHECK enum bw_rc bw_backup_key_open(const struct bw_backup_key *k, const void *aad,
                                            size_t aadlen, const uint8_t *sealed, size_t len,
                                            uint8_t *plain, size_t cap, size_t *out_len);
/* Seals/opens a manifest or log segment directly under the backup key. */
BW_MUST_CHECK enum bw_rc bw_keyring_backup_seal(const struct bw_keyring *kr, const char *aad,
                                                const uint8_t *plain, size_t len, uint8_t *out,
                                                size_t cap, size_t *out_len);
BW_MUST_CHECK enum bw_rc bw_keyring_backup_open(const struct bw_keyring *kr, const char *aad,
                                                const uint8_t *sealed, size_t len,
                                                uint8_t *plain, size_t cap, size_t *out_len);
/* Keyed BLAKE2b-256 of data: the content address of a chunk. */
BW_MUST_CHECK enum bw_rc bw_keyring_backup_id(const struct bw_keyring *kr, const void *data,
                                              size_t len, uint8_t out[BW_BACKUP_ID_BYTES]);
/* Content addresses of chunks, by backup format: keyed BLAKE2b-256 up to
 * manifest format 3 (bw_keyring_backup_id), HMAC-SHA-256 under the same
 * subkey from format 4 on (SHA-256 runs on the CPU's SHA instructions
 * through GnuTLS: about 2.7 times as fast as BLAKE2b there). */
enum bw_backup_id_scheme { BW_BACKUP_ID_BLAKE2B, BW_BACKUP_ID_HMAC_SHA256 };
/* For callers that address many chunks: the key once (secure memory,
 * release with bw_backup_id_key_free), then bw_backup_id per chunk, which
 * then costs only the hash. */
#define BW_BACKUP_ID_KEY_BYTES 32
BW_MUST_CHECK enum bw_rc bw_keyring_backup_id_key(const struct bw_keyring *kr, uint8_t **key);
void bw_backup_id_key_free(uint8_t *key); /* accepts NULL */
BW_MUST_CHECK enum bw_rc bw_backup_id(enum bw_backup_id_scheme scheme, const uint8_t *key,
                                      const void *data, size_t len,
                                      uint8_t out[BW_BACKUP_ID_BYTES]);
/* 256 pseudo-random words derived from the master key: the chunker's gear
 * table, so chunk boundaries (sizes) are keyed too. Not secret-grade. */
BW_MUST_CHECK enum bw_rc bw_keyring_backup_gear(const struct bw_keyring *kr, uint64_t gear[256]);
/* ---- envelope keys for record data (data issue; CONTROL: CRY-01, G-09) ----
 * master key -> organisation key -> per-record data key, each AES-256-GCM.
 * Master key versions: version 1 is derived from keys/master.key
 * (crypto_kdf, context "bwdatakk"); `bulwark key rotate` adds
 * keys/master-N.key (N >= 2, 256 random bits, 0600) and rewraps every
 * organisation key under it. The keyring loads every version present and,
 * when it meets a version it has not loaded (a rotation by another process
 * while this one runs), rereads the keys directory once. Organisation and
 * data keys leave this module only wrapped: callers store the wrapped bytes
 * (in key tables apart from the record data, decision C6) and hand them
 * back for each operation; unwrapped keys live in sodium_malloc memory for
 * one call. Wrapping binds the owner: an organisation key wrapped for one
 * organisation (or master version) never unwraps for another, a data key
 * never for another record. */
#define BW_WRAPPED_KEY_BYTES (32 + BW_SEAL_OVERHEAD)
/* The newest master key version loaded (>= 1). */
int bw_keyring_master_version(const struct bw_keyring *kr);
/* Rereads the keys directory for master versions not loaded yet. */
BW_MUST_CHECK enum bw_rc bw_keyring_master_refresh(const struct bw_keyring *kr);
/* Writes keys/master-N.key with N one above the newest file present;
 * *version = N. Does not load it (call bw_keyring_master_refresh). */
BW_MUST_CHECK enum bw_rc bw_keyring_master_create(const char *keys_dir, int *version, char *why,
                                                  size_t whylen);
/* A new random organisation key wrapped under the newest master version
 * (*mversion says which). */
BW_MUST_CHECK enum bw_rc bw_keyring_orgkey_new(const struct bw_keyring *kr, const char *org_id,
                                               int *mversion,
                                               uint8_t wrapped[BW_WRAPPED_KEY_BYTES]);
/* Unwraps an organisation key wrapped under master `from` and wraps it
 * again under master `to` (rotation). BW_ERR_CRYPTO when it does not open. */
BW_MUST_CHECK enum bw_rc bw_keyring_orgkey_rewrap(const struct bw_keyring *kr, const char *org_id,
                                                  int from, const uint8_t in[BW_WRAPPED_KEY_BYTES],
                                                  int to, uint8_t out[BW_WRAPPED_KEY_BYTES]);
/* An organisation key as stored: borrowed. */
struct bw_orgkey {
    const char *org_id;
    int mversion;
    const uint8_t *wrapped; /* BW_WRAPPED_KEY_BYTES */
};
/* A new random data key for `record_id`, wrapped under the organisation key. */
BW_MUST_CHECK enum bw_rc bw_keyring_datakey_new(const struct bw_keyring *kr,
                                                const struct bw_orgkey *ok, const char *record_id,
                                                uint8_t wrapped[BW_WRAPPED_KEY_BYTES]);
/* Seals a record body under its data key with a fresh random nonce and
 * associated data `aad` (organisation, collection, record, version):
 * out[cap] gets nonce || ciphertext || tag (cap >= len + BW_SEAL_OVERHEAD). */
BW_MUST_CHECK enum bw_rc bw_keyring_record_seal(const struct bw_keyring *kr,
                                                const struct bw_orgkey *ok, const char *record_id,
                                                const uint8_t dek[BW_WRAPPED_KEY_BYTES],
                                                const void *aad, size_t aadlen,
                                                const uint8_t *plain, size_t len, uint8_t *out,
                                                size_t cap, size_t *out_len);
/* Opens a body sealed by bw_keyring_record_seal into plain[cap] (the caller
 * wipes it after use). BW_ERR_CRYPTO when any key or byte or the associated
 * data differs: a body copied onto another row does not open. */
BW_MUST_CHECK enum bw_rc bw_keyring_record_open(const struct bw_keyring *kr,
                                                const struct bw_orgkey *ok, const char *record_id,
                                                const uint8_t dek[BW_WRAPPED_KEY_BYTES],
                                                const void *aad, size_t aadlen,
                                                const uint8_t *sealed, size_t len, uint8_t *plain,
                                                size_t cap, size_t *out_len);

/* ---- recovery kit (issue 6, backup2): `bulwark key export-recovery` ---------
 * The master key and the audit-signing key sealed under a passphrase:
 * Argon2id (crypto_pwhash, OPSLIMIT_SENSITIVE / MEMLIMIT_MODERATE, random
 * salt) derives the key of an XSalsa20-Poly1305 box (crypto_secretbox).
 * Changing the parameters, salt, nonce or box makes it not open. Kit line:
 * "bwrk1:<opslimit>:<memlimit>:<salt b64>:<nonce b64>:<box b64>"; import
 * skips other lines (comments) and bounds the parameters. Neither function
 * keeps anything; the passphrase is borrowed. */
#define BW_RECOVERY_KIT_MAX 512
#define BW_RECOVERY_PASSPHRASE_MIN 12
/* Writes the kit line (NUL-terminated) into out[cap]. */
BW_MUST_CHECK enum bw_rc bw_keyring_recovery_export(const struct bw_keyring *kr,
                                                    const char *passphrase, size_t plen,
                                                    char *out, size_t cap);
/* Opens a kit and writes master.key, audit-signing.key and .pub under
 * keys_dir (0600, never overwriting). BW_ERR_CRYPTO for a wrong passphrase or any changed byte,
 * BW_ERR_INVALID for a malformed kit. */
BW_MUST_CHECK enum bw_rc bw_keyring_recovery_import(const char *kit, size_t kitlen,
                                                    const char *passphrase, size_t plen,
                                                    const char *keys_dir, char *why,
                                                    size_t whylen);

#endif
