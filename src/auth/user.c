/*
 * user.c - user accounts: e-mail normalisation, creation with a
 * policy-checked password, password change with history (CONTROL: AUTH-01,
 * AUTH-04, SESS-03, G-08) and administrative lock/unlock/disable.
 *
 * Every change and its audit event commit in one transaction. Passwords are
 * borrowed and only ever passed to the hashing functions; old password
 * hashes are kept (history) only as Argon2id strings.
 */
#include "audit/audit.h"
#include "auth/auth.h"
#include "store/store.h"

#include <jansson.h>
#include <string.h>

enum bw_rc bw_email_normalize(const char *in, char out[BW_EMAIL_MAX + 1])
{
    while (*in == ' ' || *in == '\t')
        in++;
    size_t len = strlen(in);
    while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t'))
        len--;
    if (len < 3 || len > BW_EMAIL_MAX)
        return BW_ERR_INVALID;
    const char *at = memchr(in, '@', len);
    if (at == NULL || at == in || at == in + len - 1 || memchr(at + 1, '@', (size_t)(in + len - at - 1)))
        return BW_ERR_INVALID;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"' || c == '\\' ||
            c == ',' || c == ';' || c == '(' || c == ')')
            return BW_ERR_INVALID;
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out[len] = '\0';
    return bw_utf8_valid(out, len) ? BW_OK : BW_ERR_INVALID;
}

static void copy_text(const struct bw_row *row, size_t col, char *out, size_t cap)
{
    size_t len = 0;
    const char *t = bw_row_text(row, col, &len);
    if (t == NULL || len >= cap)
        len = 0;
    if (len > 0)
        memcpy(out, t, len);
    out[len] = '\0';
}

static enum bw_rc user_row(void *arg, const struct bw_row *row)
{
    struct bw_user *u = arg;
    memset(u, 0, sizeof(*u));
    copy_text(row, BW_UCOL_ID, u->id, sizeof(u->id));
    copy_text(row, BW_UCOL_EMAIL, u->email, sizeof(u->email));
    copy_text(row, BW_UCOL_STATUS, u->status, sizeof(u->status));
    copy_text(row, BW_UCOL_PASSWORD_HASH, u->password_hash, sizeof(u->password_hash));
    u->platform_admin = bw_row_int(row, BW_UCOL_PLATFORM_ADMIN) != 0;
    u->password_changed_at = bw_row_int(row, BW_UCOL_PASSWORD_CHANGED_AT);
    u->password_expires_at = bw_row_is_null(row, BW_UCOL_PASSWORD_EXPIRES_AT)
                                 ? 0
                                 : bw_row_int(row, BW_UCOL_PASSWORD_EXPIRES_AT);
    u->must_change = bw_row_int(row, BW_UCOL_MUST_CHANGE) != 0;
    u->failed_count = bw_row_int(row, BW_UCOL_FAILED_COUNT);
    u->locked_until = bw_row_int(row, BW_UCOL_LOCKED_UNTIL);
    u->created_at = bw_row_int(row, BW_UCOL_CREATED_AT);
    u->last_login_at = bw_row_is_null(row, BW_UCOL_LAST_LOGIN_AT)
                           ? 0
                           : bw_row_int(row, BW_UCOL_LAST_LOGIN_AT);
    u->mfa_enabled = bw_row_int(row, BW_UCOL_MFA_ENABLED) != 0;
    u->mfa_pending = bw_row_int(row, BW_UCOL_MFA_PENDING) != 0;
    u->otp_failed_count = bw_row_int(row, BW_UCOL_OTP_FAILED_COUNT);
    u->otp_locked_until = bw_row_int(row, BW_UCOL_OTP_LOCKED_UNTIL);
    u->admin_locked = bw_row_int(row, BW_UCOL_ADMIN_LOCKED) != 0;
    return u->id[0] != '\0' ? BW_OK : BW_ERR_STORE;
}

static enum bw_rc user_lookup(struct bw_tx *tx, enum bw_stmt stmt, const char *key,
                              struct bw_user *out)
{
    struct bw_user u;
    struct bw_val p[] = {BW_VTEXT(key)};
    u.id[0] = '\0';
    enum bw_rc rc = bw_tx_query(tx, stmt, p, 1, user_row, &u);
    if (rc != BW_OK)
        return rc;
    if (u.id[0] == '\0')
        return BW_ERR_NOTFOUND;
    *out = u;
    return BW_OK;
}

enum bw_rc bw_user_by_email(struct bw_tx *tx, const char *email, struct bw_user *out)
{
    return user_lookup(tx, BW_STMT_USER_BY_EMAIL, email, out);
}

enum bw_rc bw_user_by_id(struct bw_tx *tx, const char *id, struct bw_user *out)
{
    return user_lookup(tx, BW_STMT_USER_BY_ID, id, out);
}

enum bw_rc bw_user_by_id_locked(struct bw_tx *tx, const char *id, struct bw_user *out)
{
    return user_lookup(tx, BW_STMT_USER_BY_ID_FOR_UPDATE, id, out);
}

/* Expiry of a password set now: policy profile max_age, or 24 h for an
 * administrator-issued initial password; 0 = never. */
static int64_t expiry_for(const struct bw_config *cfg, int64_t now, bool initial)
{
    if (initial)
        return now + 86400;
    if (strcmp(cfg->password_profile, "modern") == 0 || cfg->password_max_age == 0)
        return 0;
    return now + cfg->password_max_age;
}

struct create_job {
    const struct bw_audit_ctx *ctx;
    const char *actor;
    struct bw_user *u;
};

static enum bw_rc create_fn(struct bw_tx *tx, void *arg)
{
    struct create_job *j = arg;
    struct bw_user *u = j->u;
    struct bw_val p[] = {
        BW_VTEXT(u->id),
        BW_VTEXT(u->email),
        BW_VINT(u->platform_admin),
        BW_VTEXT(u->password_hash),
        BW_VINT(u->password_changed_at),
        u->password_expires_at ? BW_VINT(u->password_expires_at) : BW_VNULL,
        BW_VINT(u->must_change),
        BW_VINT(u->created_at),
    };
    enum bw_rc rc = bw_tx_exec(tx, BW_STMT_USER_INSERT, p, BW_ARRAY_LEN(p), NULL);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, j->actor, "user.created", u->id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:b, s:b}", "email", u->email, "platform_admin",
                                       u->platform_admin, "initial_password", u->must_change));
    return rc;
}

enum bw_rc bw_user_create(struct bw_store *st, const struct bw_config *cfg,
                          const struct bw_audit_ctx *ctx, const char *actor,
                          const struct bw_user_new *nu, struct bw_password_errors *errors,
                          struct bw_user *out)
{
    struct bw_user u;
    struct bw_password_policy pol;
    memset(&u, 0, sizeof(u));
    errors->n = 0;
    if (bw_email_normalize(nu->email, u.email) != BW_OK)
        return BW_ERR_INVALID;
    bw_password_policy_from_config(cfg, &pol);
    enum bw_rc rc = bw_password_check(&pol, nu->password, nu->password_len, u.email, errors);
    if (rc != BW_OK)
        return rc;
    rc = bw_pwhash(nu->password, nu->password_len, u.password_hash);
    if (rc != BW_OK)
        return rc;
    bw_id_new(u.id);
    memcpy(u.status, "active", 7);
    u.platform_admin = nu->platform_admin;
    u.created_at = u.password_changed_at = bw_time_now();
    u.password_expires_at = expiry_for(cfg, u.created_at, nu->initial);
    u.must_change = nu->initial;
    struct create_job j = {ctx, actor, &u};
    rc = bw_store_write(st, create_fn, &j);
    if (rc == BW_OK)
        *out = u;
    return rc;
}

/* ---- password change -------------------------------------------------------- */

struct history {
    char hashes[100][BW_PWHASH_STRBYTES];
    size_t n;
};

static enum bw_rc history_row(void *arg, const struct bw_row *row)
{
    struct history *h = arg;
    if (h->n < BW_ARRAY_LEN(h->hashes))
        copy_text(row, 0, h->hashes[h->n++], BW_PWHASH_STRBYTES);
    return BW_OK;
}

struct change_read {
    const char *user_id;
    uint64_t depth;
    struct bw_user u;
    struct history *h;
};

static enum bw_rc change_read_fn(struct bw_tx *tx, void *arg)
{
    struct change_read *c = arg;
    enum bw_rc rc = bw_user_by_id(tx, c->user_id, &c->u);
    struct bw_val p[] = {BW_VTEXT(c->user_id), BW_VINT(c->depth)};
    if (rc == BW_OK && c->depth > 0)
        rc = bw_tx_query(tx, BW_STMT_PWHIST_RECENT, p, 2, history_row, c->h);
    return rc;
}

struct change_write {
    const struct bw_audit_ctx *ctx;
    const struct bw_user *u;
    const char *new_hash;
    int64_t now, expires;
    uint64_t depth;
};

/* CONTROL: SESS-03 - a password change ends every session of the user. */
static enum bw_rc change_write_fn(struct bw_tx *tx, void *arg)
{
    struct change_write *c = arg;
    char actor[BW_ID_LEN + 8];
    snprintf(actor, sizeof(actor), "user:%s", c->u->id);
    struct bw_val set[] = {BW_VTEXT(c->u->id), BW_VTEXT(c->new_hash), BW_VINT(c->now),
                           c->expires ? BW_VINT(c->expires) : BW_VNULL, BW_VINT(0)};
    struct bw_val hist[] = {BW_VTEXT(c->u->id), BW_VTEXT(c->u->password_hash), BW_VINT(c->now)};
    struct bw_val trim[] = {BW_VTEXT(c->u->id), BW_VINT(c->depth)};
    enum bw_rc rc = bw_tx_exec(tx, BW_STMT_USER_SET_PASSWORD, set, BW_ARRAY_LEN(set), NULL);
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_PWHIST_INSERT, hist, BW_ARRAY_LEN(hist), NULL);
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_PWHIST_TRIM, trim, BW_ARRAY_LEN(trim), NULL);
    if (rc == BW_OK)
        rc = bw_session_end_all(tx, c->u->id);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, c->ctx, actor, "auth.password.changed", c->u->id,
                             BW_AUDIT_SUCCESS, json_pack("{s:b}", "sessions_ended", 1));
    /* G-15: the notification hook; delivery arrives with the incident issue */
    if (rc == BW_OK)
        rc = bw_audit_append(tx, c->ctx, "system", "notify.user.password_changed", c->u->id,
                             BW_AUDIT_SUCCESS, json_pack("{s:s}", "to", c->u->email));
    return rc;
}

/* True when pw matches the current hash or one of the history hashes. */
static bool reused(const struct change_read *r, const char *pw, size_t len)
{
    bool rehash;
    if (bw_pwhash_verify(r->u.password_hash, pw, len, &rehash) == BW_OK)
        return true;
    for (size_t i = 0; i < r->h->n; i++) {
        if (bw_pwhash_verify(r->h->hashes[i], pw, len, &rehash) == BW_OK)
            return true;
    }
    return false;
}

enum bw_rc bw_user_change_password(struct bw_store *st, const struct bw_config *cfg,
                                   const struct bw_audit_ctx *ctx, const char *user_id,
                                   const char *current, size_t current_len, const char *next,
                                   size_t next_len, struct bw_password_errors *errors)
{
    struct bw_password_policy pol;
    char new_hash[BW_PWHASH_STRBYTES];
    bool rehash;
    struct history *h = bw_calloc(1, sizeof(*h));
    struct change_read r = {.user_id = user_id, .depth = cfg->password_history, .h = h};
    errors->n = 0;
    if (h == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc = bw_store_read(st, change_read_fn, &r);
    if (rc == BW_OK && bw_pwhash_verify(r.u.password_hash, current, current_len, &rehash) != BW_OK)
        rc = BW_ERR_PERM;
    bw_password_policy_from_config(cfg, &pol);
    if (rc == BW_OK)
        rc = bw_password_check(&pol, next, next_len, r.u.email, errors);
    if (rc == BW_OK && reused(&r, next, next_len)) {
        errors->msg[errors->n++] = "password was used recently: choose one not among the last "
                                   "passwords";
        rc = BW_ERR_INVALID;
    }
    if (rc == BW_OK)
        rc = bw_pwhash(next, next_len, new_hash);
    if (rc == BW_OK) {
        int64_t now = bw_time_now();
        struct change_write w = {ctx, &r.u, new_hash, now, expiry_for(cfg, now, false),
                                 cfg->password_history};
        rc = bw_store_write(st, change_write_fn, &w);
    }
    bw_free(h);
    return rc;
}

/* ---- administration ---------------------------------------------------------- */

struct admin_job {
    const struct bw_config *cfg;
    const struct bw_audit_ctx *ctx;
    const char *actor;
    const char *email;
    const char *op;
};

static enum bw_rc admin_fn(struct bw_tx *tx, void *arg)
{
    struct admin_job *j = arg;
    struct bw_user u;
    enum bw_rc rc = bw_user_by_email(tx, j->email, &u);
    if (rc != BW_OK)
        return rc;
    struct bw_val id[] = {BW_VTEXT(u.id)};
    struct bw_val dis[] = {BW_VTEXT(u.id), BW_VTEXT("disabled")};
    struct bw_val en[] = {BW_VTEXT(u.id), BW_VTEXT("active")};
    const char *action;
    if (strcmp(j->op, "unlock") == 0) {
        rc = bw_tx_exec(tx, BW_STMT_USER_UNLOCK, id, 1, NULL);
        action = "user.unlocked";
    } else if (strcmp(j->op, "lock") == 0) {
        rc = bw_tx_exec(tx, BW_STMT_USER_LOCK, id, 1, NULL);
        action = "user.locked";
    } else if (strcmp(j->op, "disable") == 0) {
        rc = bw_tx_exec(tx, BW_STMT_USER_SET_STATUS, dis, 2, NULL);
        action = "user.disabled";
    } else if (strcmp(j->op, "enable") == 0) {
        rc = bw_tx_exec(tx, BW_STMT_USER_SET_STATUS, en, 2, NULL);
        action = "user.enabled";
    } else {
        return BW_ERR_INVALID;
    }
    /* G-07: locking or disabling ends the user's sessions at once */
    if (rc == BW_OK && (strcmp(j->op, "lock") == 0 || strcmp(j->op, "disable") == 0))
        rc = bw_session_end_all(tx, u.id);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, j->actor, action, u.id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s}", "email", u.email));
    return rc;
}

enum bw_rc bw_user_admin(struct bw_store *st, const struct bw_config *cfg,
                         const struct bw_audit_ctx *ctx, const char *actor, const char *email,
                         const char *op)
{
    char norm[BW_EMAIL_MAX + 1];
    if (bw_email_normalize(email, norm) != BW_OK)
        return BW_ERR_INVALID;
    struct admin_job j = {cfg, ctx, actor, norm, op};
    return bw_store_write(st, admin_fn, &j);
}
