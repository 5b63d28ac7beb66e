/*
 * auth.h - identity: password policy and hashing today; sessions, lockout,
 * MFA and API keys arrive with the rest of the identity issue.
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
};

/* Trims and lower-cases an address and checks its shape (local@domain). */
BW_MUST_CHECK enum bw_rc bw_email_normalize(const char *in, char out[BW_EMAIL_MAX + 1]);
/* BW_ERR_NOTFOUND when absent. */
BW_MUST_CHECK enum bw_rc bw_user_by_email(struct bw_tx *tx, const char *email,
                                          struct bw_user *out);
BW_MUST_CHECK enum bw_rc bw_user_by_id(struct bw_tx *tx, const char *id, struct bw_user *out);

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
};

struct bw_login {
    char token[BW_TOKEN_LEN + 1]; /* shown once; only its hash is stored */
    char session_id[BW_ID_LEN + 1];
    char user_id[BW_ID_LEN + 1];
    int64_t expires_at;
    bool password_expired;
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

#endif
