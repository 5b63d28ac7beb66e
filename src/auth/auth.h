/*
 * auth.h - identity: password policy and hashing, users, sessions and
 * lockout, and the TOTP second factor with recovery codes; API keys arrive
 * with the rest of the identity issue.
 *
 * Passwords are hashed with Argon2id (libsodium crypto_pwhash_str) on a
 * bounded pool of hashing slots sized to the cores, so a login flood queues
 * instead of starving the server. Plain passwords are borrowed, never
 * copied except into sodium_malloc memory, and never logged.
 */
#ifndef BW_AUTH_H
#define BW_AUTH_H

#include "core/core.h"

/* Argon2id parameters: at least OWASP's m=19 MiB, t=2, p=1. */
#define BW_PWHASH_MEMLIMIT (19u * 1024 * 1024)
#define BW_PWHASH_OPSLIMIT 2u
#define BW_PWHASH_STRBYTES 128
#define BW_PASSWORD_MAX_BYTES 1024 /* far above 64 characters of any script */

/* The rules a new password must satisfy (CONTROL: AUTH-01..04, decision C2). */
struct bw_password_policy {
    bool modern;          /* profile "modern": no composition rules, no expiry */
    uint64_t min_length;  /* in characters (code points), not bytes */
    bool require_upper;
    bool require_lower;
    bool require_digit;
    bool reject_common;   /* cracklib dictionary via libpwquality */
};

/* Field errors from a policy check; messages never contain the password. */
#define BW_PW_MAX_ERRORS 6
struct bw_password_errors {
    size_t n;
    const char *msg[BW_PW_MAX_ERRORS];
};

/* Fills the policy from configuration (profile modern => >= 15 characters). */
void bw_password_policy_from_config(const struct bw_config *cfg, struct bw_password_policy *p);
/* Checks `pw` (UTF-8, len bytes) against the policy for the account `email`.
 * BW_OK when acceptable; BW_ERR_INVALID with errors filled otherwise. */
BW_MUST_CHECK enum bw_rc bw_password_check(const struct bw_password_policy *p, const char *pw,
                                           size_t len, const char *email,
                                           struct bw_password_errors *errors);

/* Sizes the hashing pool; call once at start (0 = one slot per core). */
void bw_pwhash_init(unsigned slots);
/* Hashes into out (a NUL-terminated $argon2id$ string). Blocks for a slot. */
BW_MUST_CHECK enum bw_rc bw_pwhash(const char *pw, size_t len, char out[BW_PWHASH_STRBYTES]);
/* BW_OK on match, BW_ERR_PERM on mismatch. *rehash is set when the stored
 * hash uses weaker parameters than today's. Constant-time in the password. */
BW_MUST_CHECK enum bw_rc bw_pwhash_verify(const char *stored, const char *pw, size_t len,
                                          bool *rehash);
/* Verifies against a fixed dummy hash: unknown accounts cost the same time. */
void bw_pwhash_dummy(const char *pw, size_t len);
/* An administrator-issued initial password: 20 characters from a set
 * without look-alikes, with upper, lower and digit so that any profile
 * accepts it. Wipe `out` after use. */
#define BW_PASSWORD_GEN_LEN 20
void bw_password_generate(char out[BW_PASSWORD_GEN_LEN + 1]);

/* ---- users (user.c) ------------------------------------------------------- */
struct bw_store;
struct bw_tx;
struct bw_audit_ctx;

#define BW_EMAIL_MAX 254

struct bw_user {
    char id[BW_ID_LEN + 1];
    char email[BW_EMAIL_MAX + 1];
    char status[16]; /* active | disabled */
    bool platform_admin;
    char password_hash[BW_PWHASH_STRBYTES];
    int64_t password_changed_at;
    int64_t password_expires_at; /* 0 = never */
    bool must_change;            /* admin-issued initial password */
    int64_t failed_count;
    int64_t locked_until;
    int64_t created_at;
    int64_t last_login_at;
    bool mfa_enabled;         /* TOTP confirmed: every session needs the second factor */
    bool mfa_pending;         /* an enrolment awaits confirmation */
    int64_t otp_failed_count; /* counted apart from password failures */
    int64_t otp_locked_until;
    bool admin_locked;        /* locked by an administrator until unlocked */
};

/* Trims and lower-cases an address and checks its shape (local@domain). */
BW_MUST_CHECK enum bw_rc bw_email_normalize(const char *in, char out[BW_EMAIL_MAX + 1]);
/* BW_ERR_NOTFOUND when absent. */
BW_MUST_CHECK enum bw_rc bw_user_by_email(struct bw_tx *tx, const char *email,
                                          struct bw_user *out);
BW_MUST_CHECK enum bw_rc bw_user_by_id(struct bw_tx *tx, const char *id, struct bw_user *out);
/* Same, and holds the user's row until the transaction ends, so that a
 * concurrent lock, disable or password change is ordered before or after
 * this transaction as a whole (writes on SQLite are serial anyway). */
BW_MUST_CHECK enum bw_rc bw_user_by_id_locked(struct bw_tx *tx, const char *id,
                                              struct bw_user *out);

/* Creates a user with a policy-checked password. An `initial` password
 * (issued by an administrator) expires in 24 h and must be changed at first
 * use (CONTROL: G-08). BW_ERR_EXISTS for a taken e-mail. */
struct bw_user_new {
    const char *email;
    const char *password;
    size_t password_len;
    bool platform_admin;
    bool initial;
};
BW_MUST_CHECK enum bw_rc bw_user_create(struct bw_store *st, const struct bw_config *cfg,
                                        const struct bw_audit_ctx *ctx, const char *actor,
                                        const struct bw_user_new *nu,
                                        struct bw_password_errors *errors,
                                        struct bw_user *out);
/* Changes the password after checking policy and history; ends every
 * session of the user (CONTROL: SESS-03). BW_ERR_PERM if `current` is wrong. */
BW_MUST_CHECK enum bw_rc bw_user_change_password(struct bw_store *st, const struct bw_config *cfg,
                                                 const struct bw_audit_ctx *ctx,
                                                 const char *user_id, const char *current,
                                                 size_t current_len, const char *next,
                                                 size_t next_len,
                                                 struct bw_password_errors *errors);
/* Administrative changes by `actor`: "lock", "unlock", "disable", "enable".
 * lock and disable end every session of the user. */
BW_MUST_CHECK enum bw_rc bw_user_admin(struct bw_store *st, const struct bw_config *cfg,
                                       const struct bw_audit_ctx *ctx, const char *actor,
                                       const char *email, const char *op);

/* ---- sessions (session.c) ------------------------------------------------- */
#define BW_TOKEN_LEN 47 /* "bws_" + 43 base64url characters (256 bits) */

struct bw_principal {
    char user_id[BW_ID_LEN + 1];
    char session_id[BW_ID_LEN + 1];
    char email[BW_EMAIL_MAX + 1];
    bool platform_admin;
    bool password_only; /* expired password: may only change it or log out */
    bool mfa_enabled;   /* the user has a confirmed second factor */
    bool mfa_verified;  /* this session has completed it */
    char status[16];    /* the account as read with the session, for /users/me */
    int64_t created_at;
    int64_t password_expires_at;
    /* API-key principals (apikey.c): user_id and session_id are empty and
     * the key acts with apikey_role inside apikey_org only. */
    char apikey_id[BW_ID_LEN + 1];
    char apikey_org[BW_ID_LEN + 1];
    char apikey_role[16];
};

struct bw_login {
    char token[BW_TOKEN_LEN + 1]; /* shown once; only its hash is stored */
    char session_id[BW_ID_LEN + 1];
    char user_id[BW_ID_LEN + 1];
    int64_t expires_at;
    bool password_expired;
    bool mfa_required; /* the user has MFA: the session starts without its second factor */
};

/* The login flow (CONTROL: AUTH-07, SESS-01..02): lockout counted atomically
 * in the store before the password is checked, so no race lets more than
 * lockout.max_failures guesses be verified; unknown accounts and locked ones
 * cost the same time and give the same answer (BW_ERR_PERM) as a wrong
 * password. On success a session is created and the least recently used
 * sessions beyond session.max_concurrent are evicted. */
BW_MUST_CHECK enum bw_rc bw_auth_login(struct bw_store *st, const struct bw_config *cfg,
                                       const struct bw_audit_ctx *ctx, const char *email,
                                       const char *password, size_t password_len,
                                       struct bw_login *out);
/* Checks a bearer token: known, not idle, not past its absolute timeout,
 * user active. BW_ERR_PERM otherwise. Records the use. */
BW_MUST_CHECK enum bw_rc bw_session_authenticate(struct bw_store *st, const struct bw_config *cfg,
                                                 const char *token, struct bw_principal *out);
/* Ends one session of the user (BW_ERR_NOTFOUND if it is not theirs). */
BW_MUST_CHECK enum bw_rc bw_session_revoke(struct bw_store *st, const struct bw_audit_ctx *ctx,
                                           const struct bw_principal *p, const char *session_id);
/* Lists the user's sessions as a JSON array (new reference). */
BW_MUST_CHECK enum bw_rc bw_session_list(struct bw_store *st, const struct bw_principal *p,
                                         struct json_t **out);
/* Removes every session past its idle or absolute timeout. */
BW_MUST_CHECK enum bw_rc bw_session_purge(struct bw_store *st, const struct bw_config *cfg);
/* Within a write transaction: ends every session of a user. */
BW_MUST_CHECK enum bw_rc bw_session_end_all(struct bw_tx *tx, const char *user_id);

/* ---- TOTP (totp.c): RFC 6238 through liboath ------------------------------ */
#define BW_TOTP_SEED_BYTES 20 /* 160 bits, RFC 4226's recommendation for SHA-1 */
#define BW_TOTP_DIGITS 6
#define BW_TOTP_PERIOD 30 /* seconds per time step */
#define BW_TOTP_WINDOW 1  /* steps accepted either side of now */
#define BW_TOTP_B32_LEN 32 /* base32 of the seed, no padding */

/* Checks a code of exactly `digits` ASCII digits (6..8) against the seed at
 * time `now`, accepting the steps now-window..now+window; HMAC-SHA-1, steps
 * of BW_TOTP_PERIOD from the epoch. BW_OK with *step set to the matching
 * time-step counter; BW_ERR_PERM when none matches; BW_ERR_INVALID for a
 * malformed code. Compares in constant time. Knows nothing of replay: the
 * caller refuses steps at or before the last one it accepted. */
BW_MUST_CHECK enum bw_rc bw_totp_verify(const uint8_t *seed, size_t seed_len, unsigned digits,
                                        const char *code, int64_t now, unsigned window,
                                        int64_t *step);
/* The code of the step containing `now` (tests, tooling); out holds digits+1. */
BW_MUST_CHECK enum bw_rc bw_totp_generate(const uint8_t *seed, size_t seed_len, unsigned digits,
                                          int64_t now, char out[9]);
/* RFC 4648 base32, upper case, no padding, NUL-terminated; BW_ERR_TOOBIG
 * when out[cap] is too small. */
BW_MUST_CHECK enum bw_rc bw_base32_encode(const uint8_t *bin, size_t len, char *out, size_t cap);
/* Appends the Key URI of an authenticator app:
 * otpauth://totp/Bulwark:<email>?secret=...&issuer=Bulwark&algorithm=SHA1&digits=6&period=30
 * with the e-mail percent-encoded. The URI holds the secret: free with wipe. */
BW_MUST_CHECK enum bw_rc bw_totp_uri(const char *email, const char *secret_b32,
                                     struct bw_buf *out);
/* Appends `text` as a QR code (libqrencode, level M) drawn as an SVG of
 * rectangles: xmlns set, no scripts, no external references. */
BW_MUST_CHECK enum bw_rc bw_qr_svg(const char *text, struct bw_buf *out);

/* ---- the second factor (mfa.c; CONTROL: AUTH-02, AC-05) -------------------- */
struct bw_keyring;

#define BW_RECOVERY_CODES 10
#define BW_RECOVERY_CODE_LEN 11 /* "xxxxx-xxxxx": 10 Crockford base32 characters, 50 bits */

/* An enrolment shown once to its owner. Holds the secret (also inside uri
 * and svg): release with bw_mfa_enrolment_cleanup, which wipes. */
struct bw_mfa_enrolment {
    char secret[BW_TOTP_B32_LEN + 1];
    struct bw_buf uri;
    struct bw_buf svg;
};
void bw_mfa_enrolment_cleanup(struct bw_mfa_enrolment *e);

/* New recovery codes, shown once; the store keeps only their hashes. Wipe. */
struct bw_recovery_codes {
    char code[BW_RECOVERY_CODES][BW_RECOVERY_CODE_LEN + 1];
};

/* Starts (or restarts) an enrolment for the principal's user: a new random
 * seed, sealed under "totp:<user id>", stored as pending. BW_ERR_EXISTS
 * when MFA is already enabled; BW_ERR_UNSUPPORTED without AES-GCM. */
BW_MUST_CHECK enum bw_rc bw_mfa_enroll(struct bw_store *st, const struct bw_keyring *kr,
                                       const struct bw_audit_ctx *ctx,
                                       const struct bw_principal *p,
                                       struct bw_mfa_enrolment *out);
/* Confirms the pending enrolment with a current code: MFA becomes enabled,
 * this session counts as verified and ten new recovery codes are issued.
 * BW_ERR_NOTFOUND without a pending enrolment; BW_ERR_EXISTS when already
 * enabled; BW_ERR_INVALID for a malformed code; BW_ERR_PERM for a wrong or
 * used code or while OTP attempts are locked out (one answer for all). */
BW_MUST_CHECK enum bw_rc bw_mfa_confirm(struct bw_store *st, const struct bw_config *cfg,
                                        const struct bw_keyring *kr,
                                        const struct bw_audit_ctx *ctx,
                                        const struct bw_principal *p, const char *code,
                                        struct bw_recovery_codes *out);
/* Completes the session's second factor with a TOTP code or a recovery
 * code (each usable once). *recovery tells which was used. BW_ERR_NOTFOUND
 * when the user has no MFA; otherwise as bw_mfa_confirm. */
BW_MUST_CHECK enum bw_rc bw_mfa_verify(struct bw_store *st, const struct bw_config *cfg,
                                       const struct bw_keyring *kr,
                                       const struct bw_audit_ctx *ctx,
                                       const struct bw_principal *p, const char *code,
                                       bool *recovery);
/* Administrative reset by `actor`: MFA off, seeds and recovery codes gone,
 * every session of the user ended; audited with a G-15 notification event.
 * BW_ERR_NOTFOUND / BW_ERR_INVALID for an unknown or malformed e-mail. */
BW_MUST_CHECK enum bw_rc bw_mfa_reset(struct bw_store *st, const struct bw_audit_ctx *ctx,
                                      const char *actor, const char *email);
/* Within a transaction: how many unused recovery codes the user has. */
BW_MUST_CHECK enum bw_rc bw_mfa_recovery_left(struct bw_tx *tx, const char *user_id,
                                              int64_t *out);

/* ---- API keys (apikey.c; CONTROL: AC-04) ---------------------------------
 * A key is "bwk_" + 43 base64url characters (256 random bits), shown once at
 * creation; the store keeps only its SHA-256. It belongs to one
 * organisation, carries one role (no administrative role: a key has no
 * second factor) and a non-empty list of IPv4/IPv6 networks it may be used
 * from, optionally an expiry. */
#define BW_APIKEY_LEN 47
#define BW_APIKEY_MAX_CIDRS 32
#define BW_APIKEY_NAME_MAX 100
#define BW_ACTOR_LEN (BW_ID_LEN + 8) /* "user:<id>" / "apikey:<id>" */

/* "user:<id>" for a session, "apikey:<id>" for an API key. */
void bw_principal_actor(const struct bw_principal *p, char out[BW_ACTOR_LEN]);

struct bw_apikey_new {
    const char *org_id;
    const char *name;
    const char *role;        /* a role name bw_role_apikey_ok accepts (checked by the caller) */
    const char *allowed_ips; /* canonical CIDR list, non-empty */
    int64_t expires_at;      /* 0 = none */
};

struct bw_apikey_created {
    char id[BW_ID_LEN + 1];
    char key[BW_APIKEY_LEN + 1]; /* shown once; wipe after use */
};

/* Normalises a list of CIDRs (JSON strings or "a,b" text, parsed by
 * bw_cidr_parse_list) into canonical "net/bits,..." text in out[cap].
 * BW_ERR_INVALID for a malformed entry or an empty list, BW_ERR_TOOBIG for
 * more than BW_APIKEY_MAX_CIDRS. */
BW_MUST_CHECK enum bw_rc bw_apikey_cidrs(const char *list, char *out, size_t cap);

/* Within a write transaction: inserts the key and its apikey.created event
 * (never the secret) by `actor`. The caller has authorized the actor. */
BW_MUST_CHECK enum bw_rc bw_apikey_insert(struct bw_tx *tx, const struct bw_audit_ctx *ctx,
                                          const char *actor, const struct bw_apikey_new *nk,
                                          struct bw_apikey_created *out);
/* Within a write transaction: revokes key `id` of organisation `org_id`
 * (audited apikey.revoked). BW_ERR_NOTFOUND when unknown, of another
 * organisation, or already revoked. */
BW_MUST_CHECK enum bw_rc bw_apikey_revoke(struct bw_tx *tx, const struct bw_audit_ctx *ctx,
                                          const char *actor, const char *org_id,
                                          const char *id);
/* Within a transaction: the organisation's keys as a JSON array (new
 * reference); never a secret or its hash. */
BW_MUST_CHECK enum bw_rc bw_apikey_list(struct bw_tx *tx, const char *org_id,
                                        struct json_t **out);
/* Authenticates "bwk_..." used from `client` (the request's client address).
 * BW_ERR_NOTFOUND (401) for an unknown, malformed, revoked or expired key
 * or one of a deleted organisation; BW_ERR_PERM (403) when `client` is
 * outside the key's allow-list - then an apikey.denied event is written.
 * Records the last use (time, address) at most every 30 s per key. */
BW_MUST_CHECK enum bw_rc bw_apikey_authenticate(struct bw_store *st,
                                                const struct bw_audit_ctx *ctx,
                                                const char *key, const char *client,
                                                struct bw_principal *out);

#endif
