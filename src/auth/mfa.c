/*
 * mfa.c - the TOTP second factor (CONTROL: AUTH-02, AC-05): enrolment,
 * confirmation with recovery codes, a session's verification, and the
 * administrative reset.
 *
 * Trusts the principal (authenticated by the router) and the keyring. A
 * seed is generated here, sealed by the keyring under "totp:<user id>"
 * before it reaches the store, and opened only into sodium_malloc memory for
 * one check. Each code is usable once: the accepted time step is recorded by
 * an UPDATE that succeeds only for a later step than the last, so two
 * requests racing with one code cannot both win. OTP attempts are claimed in
 * the store before a code is checked (as session.c does for passwords),
 * counted apart from password failures, and lock the second factor for
 * lockout.duration after lockout.max_failures. Recovery codes are stored only
 * as SHA-256 of user id and code, and used once by one atomic UPDATE.
 * Never: log, audit or store a seed, code or recovery code in the clear; tell
 * the caller whether a refused code was wrong, replayed or locked out (the
 * audit trail says which).
 */
#include "audit/audit.h"
#include "auth/auth.h"
#include "crypto/crypto.h"
#include "store/store.h"

#include <jansson.h>
#include <sodium.h>
#include <string.h>

#define SEALED_LEN (BW_TOTP_SEED_BYTES + BW_SEAL_OVERHEAD)
#define SEALED_MAX 64 /* larger stored values are corrupt */
#define CODE_MAX 32   /* longest code text accepted, separators included */
#define RECOVERY_CHARS 10
#define LABEL_LEN (BW_ID_LEN + 8)

static const char crockford[] = "0123456789abcdefghjkmnpqrstvwxyz";

/* "<prefix>:<user id>": audit actors and the seal's associated data. */
static void label(char out[LABEL_LEN], const char *prefix, const char *user_id)
{
    snprintf(out, LABEL_LEN, "%s:%s", prefix, user_id);
}

/* ---- codes ------------------------------------------------------------------ */

/* A submitted code without separators; recovery codes in canonical form. */
struct code {
    bool recovery;
    char text[RECOVERY_CHARS + 1];
};

/* Six digits are a TOTP code; ten Crockford base32 characters (any case,
 * O read as 0, I and L as 1) a recovery code; spaces and hyphens ignored. */
static enum bw_rc parse_code(const char *in, struct code *out)
{
    struct code c = {.recovery = false};
    size_t n = 0, digits = 0;
    enum bw_rc rc = BW_ERR_INVALID;
    if (in == NULL || strlen(in) > CODE_MAX)
        return BW_ERR_INVALID;
    for (const char *p = in; *p != '\0'; p++) {
        char ch = *p >= 'A' && *p <= 'Z' ? (char)(*p + 32) : *p;
        if (ch == ' ' || ch == '-')
            continue;
        if (n == RECOVERY_CHARS)
            goto out;
        digits += ch >= '0' && ch <= '9';
        c.text[n++] = ch;
    }
    c.text[n] = '\0';
    if (n == BW_TOTP_DIGITS && digits == n) {
        rc = BW_OK;
    } else if (n == RECOVERY_CHARS) {
        c.recovery = true;
        rc = BW_OK;
        for (size_t i = 0; i < n && rc == BW_OK; i++) {
            char ch = c.text[i] == 'o' ? '0' : c.text[i];
            ch = ch == 'i' || ch == 'l' ? '1' : ch;
            rc = strchr(crockford, ch) != NULL ? BW_OK : BW_ERR_INVALID;
            c.text[i] = ch;
        }
    }
    if (rc == BW_OK)
        *out = c;
out:
    sodium_memzero(&c, sizeof(c));
    return rc;
}

static void recovery_hash(const char *user_id, const char *canonical,
                          uint8_t out[crypto_hash_sha256_BYTES])
{
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, (const unsigned char *)"bulwark-recovery-v1:", 20);
    crypto_hash_sha256_update(&h, (const unsigned char *)user_id, strlen(user_id));
    crypto_hash_sha256_update(&h, (const unsigned char *)":", 1);
    crypto_hash_sha256_update(&h, (const unsigned char *)canonical, RECOVERY_CHARS);
    crypto_hash_sha256_final(&h, out);
    sodium_memzero(&h, sizeof(h));
}

/* Ten codes of 50 random bits each, shown as "xxxxx-xxxxx", and their hashes. */
static void recovery_new(const char *user_id, struct bw_recovery_codes *codes,
                         uint8_t hashes[BW_RECOVERY_CODES][crypto_hash_sha256_BYTES])
{
    uint8_t raw[RECOVERY_CHARS];
    char canonical[RECOVERY_CHARS + 1];
    for (size_t i = 0; i < BW_RECOVERY_CODES; i++) {
        randombytes_buf(raw, sizeof(raw));
        for (size_t k = 0; k < RECOVERY_CHARS; k++)
            canonical[k] = crockford[raw[k] & 31]; /* 32 symbols: no modulo bias */
        canonical[RECOVERY_CHARS] = '\0';
        recovery_hash(user_id, canonical, hashes[i]);
        memcpy(codes->code[i], canonical, 5);
        codes->code[i][5] = '-';
        memcpy(codes->code[i] + 6, canonical + 5, 5);
        codes->code[i][BW_RECOVERY_CODE_LEN] = '\0';
    }
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(canonical, sizeof(canonical));
}

/* ---- the user's MFA state ------------------------------------------------------ */

struct keys {
    const char *user_id;
    bool found, enabled, has_secret, has_pending, corrupt;
    uint8_t secret[SEALED_MAX], pending[SEALED_MAX]; /* sealed: ciphertext only */
    size_t secret_len, pending_len;
    int64_t last_step;
};

static bool copy_blob(const struct bw_row *row, size_t col, uint8_t *out, size_t *len,
                      bool *corrupt)
{
    size_t n = 0;
    const void *b = bw_row_is_null(row, col) ? NULL : bw_row_blob(row, col, &n);
    if (b == NULL)
        return false;
    if (n > SEALED_MAX) {
        *corrupt = true;
        n = 0;
    }
    memcpy(out, b, n);
    *len = n;
    return true;
}

static enum bw_rc keys_row(void *arg, const struct bw_row *row)
{
    struct keys *k = arg;
    k->found = true;
    k->enabled = bw_row_int(row, 0) != 0;
    k->has_secret = copy_blob(row, 1, k->secret, &k->secret_len, &k->corrupt);
    k->has_pending = copy_blob(row, 2, k->pending, &k->pending_len, &k->corrupt);
    k->last_step = bw_row_int(row, 3);
    return BW_OK;
}

static enum bw_rc keys_fn(struct bw_tx *tx, void *arg)
{
    struct keys *k = arg;
    struct bw_val p[] = {BW_VTEXT(k->user_id)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_USER_MFA_KEYS, p, 1, keys_row, k);
    if (rc == BW_OK && !k->found)
        rc = BW_ERR_NOTFOUND;
    return rc;
}

/* Opens a sealed seed for one check; the seed never leaves sodium_malloc memory. */
static enum bw_rc check_totp(const struct bw_keyring *kr, const char *user_id,
                             const uint8_t *sealed, size_t len, const char *code, int64_t now,
                             int64_t *step)
{
    char aad[LABEL_LEN];
    size_t n = 0;
    uint8_t *seed = sodium_malloc(SEALED_MAX);
    if (seed == NULL)
        return BW_ERR_NOMEM;
    label(aad, "totp", user_id);
    enum bw_rc rc = bw_keyring_open(kr, aad, sealed, len, seed, SEALED_MAX, &n);
    if (rc == BW_OK && n != BW_TOTP_SEED_BYTES)
        rc = BW_ERR_CRYPTO;
    if (rc == BW_ERR_INVALID || rc == BW_ERR_TOOBIG || rc == BW_ERR_CRYPTO) {
        bw_log(BW_LOG_ERROR, "auth.mfa", "the sealed TOTP seed of user %s does not open",
               user_id);
        rc = BW_ERR_CRYPTO;
    }
    if (rc == BW_OK)
        rc = bw_totp_verify(seed, n, BW_TOTP_DIGITS, code, now, BW_TOTP_WINDOW, step);
    sodium_free(seed);
    return rc;
}

/* ---- OTP attempts (CONTROL: AUTH-07 for the second factor) ----------------------- */

struct claim {
    const struct bw_config *cfg;
    const struct bw_audit_ctx *ctx;
    const struct bw_principal *p;
    const char *method; /* "totp" | "recovery" */
    int64_t now;
    bool claimed;
    int64_t count, until;
};

/* Audits a refused code; when this attempt set the lock, audits that too. */
static enum bw_rc failed(struct bw_tx *tx, const struct claim *c, const char *reason)
{
    char actor[LABEL_LEN];
    label(actor, "user", c->p->user_id);
    enum bw_rc rc = bw_audit_append(tx, c->ctx, actor, "auth.mfa.failed", c->p->user_id,
                                    BW_AUDIT_FAILURE,
                                    json_pack("{s:s, s:s, s:s}", "reason", reason, "method",
                                              c->method, "session", c->p->session_id));
    if (rc == BW_OK && c->claimed && c->count >= (int64_t)c->cfg->lockout_max_failures)
        rc = bw_audit_append(tx, c->ctx, "system", "auth.mfa.lockout", c->p->user_id,
                             BW_AUDIT_SUCCESS,
                             json_pack("{s:I}", "locked_until", (json_int_t)c->until));
    return rc;
}

static enum bw_rc claim_row(void *arg, const struct bw_row *row)
{
    struct claim *c = arg;
    c->claimed = true;
    c->count = bw_row_int(row, 0);
    c->until = bw_row_int(row, 1);
    return BW_OK;
}

/* Claims one attempt before any code is checked; refused while locked. */
static enum bw_rc claim_fn(struct bw_tx *tx, void *arg)
{
    struct claim *c = arg;
    struct bw_val p[] = {BW_VTEXT(c->p->user_id), BW_VINT(c->cfg->lockout_max_failures),
                         BW_VINT(c->now + c->cfg->lockout_duration), BW_VINT(c->now)};
    c->claimed = false;
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_USER_OTP_CLAIM, p, BW_ARRAY_LEN(p), claim_row, c);
    if (rc == BW_OK && !c->claimed)
        rc = failed(tx, c, "locked");
    return rc;
}

struct failure {
    const struct claim *c;
    const char *reason;
};

static enum bw_rc failure_fn(struct bw_tx *tx, void *arg)
{
    struct failure *f = arg;
    return failed(tx, f->c, f->reason);
}

/* Records a wrong code; the answer is always BW_ERR_PERM. */
static enum bw_rc fail(struct bw_store *st, const struct claim *c, const char *reason)
{
    struct failure f = {c, reason};
    enum bw_rc rc = bw_store_write(st, failure_fn, &f);
    return rc == BW_OK ? BW_ERR_PERM : rc;
}

static enum bw_rc hit_row(void *arg, const struct bw_row *row)
{
    *(bool *)arg = true;
    return BW_OK;
}

static enum bw_rc session_verified(struct bw_tx *tx, const struct bw_principal *p)
{
    uint64_t changes = 0;
    struct bw_val v[] = {BW_VTEXT(p->session_id), BW_VTEXT(p->user_id)};
    enum bw_rc rc = bw_tx_exec(tx, BW_STMT_SESSION_SET_MFA, v, 2, &changes);
    return rc == BW_OK && changes == 0 ? BW_ERR_PERM : rc; /* logged out meanwhile */
}

/* ---- enrolment ------------------------------------------------------------------- */

void bw_mfa_enrolment_cleanup(struct bw_mfa_enrolment *e)
{
    if (e == NULL)
        return;
    sodium_memzero(e->secret, sizeof(e->secret));
    bw_buf_free(&e->uri, true);
    bw_buf_free(&e->svg, true);
}

struct pending_job {
    const struct bw_audit_ctx *ctx;
    const struct bw_principal *p;
    uint8_t sealed[SEALED_LEN];
    size_t sealed_len;
};

static enum bw_rc pending_fn(struct bw_tx *tx, void *arg)
{
    struct pending_job *j = arg;
    char actor[LABEL_LEN];
    uint64_t changes = 0;
    struct bw_val v[] = {BW_VTEXT(j->p->user_id), BW_VBLOB(j->sealed, j->sealed_len)};
    enum bw_rc rc = bw_tx_exec(tx, BW_STMT_USER_MFA_SET_PENDING, v, 2, &changes);
    if (rc == BW_OK && changes == 0)
        return BW_ERR_EXISTS; /* enabled already */
    label(actor, "user", j->p->user_id);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, actor, "auth.mfa.enrolment_started", j->p->user_id,
                             BW_AUDIT_SUCCESS, json_pack("{s:s}", "session", j->p->session_id));
    return rc;
}

enum bw_rc bw_mfa_enroll(struct bw_store *st, const struct bw_keyring *kr,
                         const struct bw_audit_ctx *ctx, const struct bw_principal *p,
                         struct bw_mfa_enrolment *out)
{
    struct bw_mfa_enrolment e;
    struct pending_job j = {ctx, p, {0}, 0};
    char aad[LABEL_LEN];
    enum bw_rc rc = BW_ERR_NOMEM;
    uint8_t *seed = sodium_malloc(BW_TOTP_SEED_BYTES);
    memset(&e, 0, sizeof(e));
    bw_buf_init(&e.uri, 1024);
    bw_buf_init(&e.svg, 256 * 1024);
    if (seed == NULL)
        goto out;
    if (p->mfa_enabled) {
        rc = BW_ERR_EXISTS;
        goto out;
    }
    randombytes_buf(seed, BW_TOTP_SEED_BYTES);
    label(aad, "totp", p->user_id);
    rc = bw_keyring_seal(kr, aad, seed, BW_TOTP_SEED_BYTES, j.sealed, sizeof(j.sealed),
                         &j.sealed_len);
    if (rc == BW_OK)
        rc = bw_base32_encode(seed, BW_TOTP_SEED_BYTES, e.secret, sizeof(e.secret));
    if (rc == BW_OK)
        rc = bw_totp_uri(p->email, e.secret, &e.uri);
    if (rc == BW_OK)
        rc = bw_qr_svg(e.uri.data, &e.svg);
    if (rc == BW_OK)
        rc = bw_store_write(st, pending_fn, &j);
out:
    sodium_free(seed);
    if (rc != BW_OK) {
        bw_mfa_enrolment_cleanup(&e);
        return rc;
    }
    *out = e; /* the buffers move to the caller */
    sodium_memzero(&e, sizeof(e));
    return BW_OK;
}

struct activate_job {
    const struct claim *c;
    const struct keys *k;
    int64_t step;
    uint8_t hashes[BW_RECOVERY_CODES][crypto_hash_sha256_BYTES];
    bool lost; /* the enrolment changed, or the code was used, meanwhile */
};

static enum bw_rc store_recovery(struct bw_tx *tx, struct activate_job *j)
{
    const char *uid = j->c->p->user_id;
    struct bw_val d[] = {BW_VTEXT(uid)};
    enum bw_rc rc = bw_tx_exec(tx, BW_STMT_RECOVERY_DELETE_USER, d, 1, NULL);
    for (size_t i = 0; rc == BW_OK && i < BW_RECOVERY_CODES; i++) {
        struct bw_val v[] = {BW_VTEXT(uid), BW_VBLOB(j->hashes[i], crypto_hash_sha256_BYTES),
                             BW_VINT(j->c->now)};
        rc = bw_tx_exec(tx, BW_STMT_RECOVERY_INSERT, v, BW_ARRAY_LEN(v), NULL);
    }
    return rc;
}

/* CONTROL: AUTH-02 - pending becomes active only with the code just checked. */
static enum bw_rc activate_fn(struct bw_tx *tx, void *arg)
{
    struct activate_job *j = arg;
    const struct bw_principal *p = j->c->p;
    char actor[LABEL_LEN];
    bool hit = false;
    struct bw_val v[] = {BW_VTEXT(p->user_id), BW_VBLOB(j->k->pending, j->k->pending_len),
                         BW_VINT(j->step)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_USER_MFA_ACTIVATE, v, BW_ARRAY_LEN(v), hit_row, &hit);
    if (rc == BW_OK && !hit) {
        j->lost = true;
        return failed(tx, j->c, "replayed");
    }
    label(actor, "user", p->user_id);
    if (rc == BW_OK)
        rc = store_recovery(tx, j);
    if (rc == BW_OK)
        rc = session_verified(tx, p);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->c->ctx, actor, "auth.mfa.enrolled", p->user_id,
                             BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s, s:i}", "method", "totp", "session",
                                       p->session_id, "recovery_codes", BW_RECOVERY_CODES));
    /* G-15: the notification hook; delivery arrives with the incident issue */
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->c->ctx, "system", "notify.user.mfa_changed", p->user_id,
                             BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s}", "to", p->email, "change", "enrolled"));
    return rc;
}

enum bw_rc bw_mfa_confirm(struct bw_store *st, const struct bw_config *cfg,
                          const struct bw_keyring *kr, const struct bw_audit_ctx *ctx,
                          const struct bw_principal *p, const char *code_text,
                          struct bw_recovery_codes *out)
{
    struct code code;
    struct keys k = {.user_id = p->user_id};
    struct bw_recovery_codes codes;
    struct claim c = {cfg, ctx, p, "totp", bw_time_now(), false, 0, 0};
    struct activate_job j = {.c = &c, .k = &k};
    memset(&codes, 0, sizeof(codes));
    enum bw_rc rc = parse_code(code_text, &code);
    if (rc == BW_OK && code.recovery)
        rc = BW_ERR_INVALID; /* enrolment needs the app's code */
    if (rc == BW_OK)
        rc = bw_store_read(st, keys_fn, &k);
    if (rc == BW_OK && k.enabled)
        rc = BW_ERR_EXISTS;
    else if (rc == BW_OK && !k.has_pending)
        rc = BW_ERR_NOTFOUND;
    if (rc == BW_OK)
        rc = bw_store_write(st, claim_fn, &c);
    if (rc == BW_OK && !c.claimed)
        rc = BW_ERR_PERM;
    if (rc == BW_OK) {
        rc = check_totp(kr, p->user_id, k.pending, k.pending_len, code.text, c.now, &j.step);
        if (rc == BW_ERR_PERM)
            rc = fail(st, &c, "bad_code");
    }
    if (rc == BW_OK) {
        recovery_new(p->user_id, &codes, j.hashes);
        rc = bw_store_write(st, activate_fn, &j);
    }
    if (rc == BW_OK && j.lost)
        rc = BW_ERR_PERM;
    if (rc == BW_OK)
        *out = codes;
    sodium_memzero(&codes, sizeof(codes));
    sodium_memzero(&code, sizeof(code));
    return rc;
}

/* ---- verification ---------------------------------------------------------------- */

struct accept_job {
    const struct claim *c;
    bool recovery;
    int64_t step;                             /* TOTP: the matching time step */
    uint8_t hash[crypto_hash_sha256_BYTES];   /* recovery: the code's hash */
    bool refused;
};

static enum bw_rc accept_totp(struct bw_tx *tx, struct accept_job *j)
{
    bool hit = false;
    struct bw_val v[] = {BW_VTEXT(j->c->p->user_id), BW_VINT(j->step)};
    /* CONTROL: AUTH-02 - a code's step is accepted once, atomically */
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_USER_OTP_ACCEPT, v, 2, hit_row, &hit);
    if (rc == BW_OK && !hit) {
        j->refused = true;
        rc = failed(tx, j->c, "replayed");
    }
    return rc;
}

static enum bw_rc accept_recovery(struct bw_tx *tx, struct accept_job *j)
{
    const struct bw_principal *p = j->c->p;
    char actor[LABEL_LEN];
    bool hit = false;
    int64_t left = 0;
    struct bw_val v[] = {BW_VTEXT(p->user_id), BW_VBLOB(j->hash, sizeof(j->hash)),
                         BW_VINT(j->c->now)};
    struct bw_val id[] = {BW_VTEXT(p->user_id)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_RECOVERY_USE, v, BW_ARRAY_LEN(v), hit_row, &hit);
    if (rc == BW_OK && !hit) {
        j->refused = true;
        return failed(tx, j->c, "bad_code");
    }
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_USER_OTP_RESET, id, 1, NULL);
    if (rc == BW_OK)
        rc = bw_mfa_recovery_left(tx, p->user_id, &left);
    label(actor, "user", p->user_id);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->c->ctx, actor, "auth.mfa.recovery_used", p->user_id,
                             BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:I}", "session", p->session_id, "remaining",
                                       (json_int_t)left));
    return rc;
}

static enum bw_rc accept_fn(struct bw_tx *tx, void *arg)
{
    struct accept_job *j = arg;
    const struct bw_principal *p = j->c->p;
    char actor[LABEL_LEN];
    enum bw_rc rc = j->recovery ? accept_recovery(tx, j) : accept_totp(tx, j);
    if (rc != BW_OK || j->refused)
        return rc;
    rc = session_verified(tx, p);
    label(actor, "user", p->user_id);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->c->ctx, actor, "auth.mfa.verified", p->user_id,
                             BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s}", "method", j->c->method, "session",
                                       p->session_id));
    return rc;
}

enum bw_rc bw_mfa_verify(struct bw_store *st, const struct bw_config *cfg,
                         const struct bw_keyring *kr, const struct bw_audit_ctx *ctx,
                         const struct bw_principal *p, const char *code_text, bool *recovery)
{
    struct code code;
    struct keys k = {.user_id = p->user_id};
    struct claim c = {cfg, ctx, p, "totp", bw_time_now(), false, 0, 0};
    struct accept_job j = {.c = &c};
    enum bw_rc rc = parse_code(code_text, &code);
    if (rc == BW_OK)
        rc = bw_store_read(st, keys_fn, &k);
    if (rc == BW_OK && (!k.enabled || !k.has_secret))
        rc = BW_ERR_NOTFOUND;
    if (rc == BW_OK) {
        j.recovery = code.recovery;
        c.method = code.recovery ? "recovery" : "totp";
        rc = bw_store_write(st, claim_fn, &c);
    }
    if (rc == BW_OK && !c.claimed)
        rc = BW_ERR_PERM;
    if (rc == BW_OK && j.recovery) {
        recovery_hash(p->user_id, code.text, j.hash);
    } else if (rc == BW_OK) {
        rc = check_totp(kr, p->user_id, k.secret, k.secret_len, code.text, c.now, &j.step);
        if (rc == BW_ERR_PERM)
            rc = fail(st, &c, "bad_code");
    }
    if (rc == BW_OK)
        rc = bw_audit_write(st, accept_fn, &j); /* recovery: append, then session */
    if (rc == BW_OK && j.refused)
        rc = BW_ERR_PERM;
    if (rc == BW_OK)
        *recovery = j.recovery;
    sodium_memzero(&code, sizeof(code));
    sodium_memzero(j.hash, sizeof(j.hash));
    return rc;
}

/* ---- administration -------------------------------------------------------------- */

static enum bw_rc count_row(void *arg, const struct bw_row *row)
{
    *(int64_t *)arg = bw_row_int(row, 0);
    return BW_OK;
}

enum bw_rc bw_mfa_recovery_left(struct bw_tx *tx, const char *user_id, int64_t *out)
{
    int64_t n = 0;
    struct bw_val v[] = {BW_VTEXT(user_id)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_RECOVERY_COUNT, v, 1, count_row, &n);
    if (rc == BW_OK)
        *out = n;
    return rc;
}

struct reset_job {
    const struct bw_audit_ctx *ctx;
    const char *actor;
    const char *email;
};

/* CONTROL: G-07 - an MFA reset ends every session of the user. */
static enum bw_rc reset_fn(struct bw_tx *tx, void *arg)
{
    struct reset_job *j = arg;
    struct bw_user u;
    enum bw_rc rc = bw_user_by_email(tx, j->email, &u);
    if (rc != BW_OK)
        return rc;
    struct bw_val id[] = {BW_VTEXT(u.id)};
    rc = bw_tx_exec(tx, BW_STMT_USER_MFA_CLEAR, id, 1, NULL);
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_RECOVERY_DELETE_USER, id, 1, NULL);
    if (rc == BW_OK)
        rc = bw_session_end_all(tx, u.id);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, j->actor, "user.mfa_reset", u.id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:b, s:b}", "email", u.email, "was_enabled",
                                       u.mfa_enabled, "sessions_ended", 1));
    /* G-15: the notification hook; delivery arrives with the incident issue */
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, "system", "notify.user.mfa_changed", u.id,
                             BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s}", "to", u.email, "change", "reset"));
    return rc;
}

enum bw_rc bw_mfa_reset(struct bw_store *st, const struct bw_audit_ctx *ctx, const char *actor,
                        const char *email)
{
    char norm[BW_EMAIL_MAX + 1];
    if (bw_email_normalize(email, norm) != BW_OK)
        return BW_ERR_INVALID;
    struct reset_job j = {ctx, actor, norm};
    return bw_store_write(st, reset_fn, &j);
}
