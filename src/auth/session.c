/*
 * session.c - login, sessions and lockout (CONTROL: AUTH-07, SESS-01,
 * SESS-02, SESS-03).
 *
 * Tokens are 256 bits from the system RNG, shown to the client once and
 * stored only as their SHA-256. Lockout is counted in the store, atomically,
 * before a password is verified: the UPDATE that claims an attempt also sets
 * the lock when the claim reaches lockout.max_failures, and refuses claims
 * while the lock holds, so concurrent guesses cannot outrun the counter and
 * several serve processes share it. A locked account, an unknown e-mail and
 * a wrong password cost the same Argon2id verification and give the same
 * answer. A session of a user with MFA starts without its second factor
 * (mfa_verified = 0; mfa.c completes it) and the principal says so, for the
 * router to enforce (CONTROL: AUTH-02). Never logs or stores a token or
 * password.
 */
#include "audit/audit.h"
#include "auth/auth.h"
#include "store/store.h"

#include <jansson.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#define TOUCH_EVERY 30    /* at most this many seconds between last_seen_at updates */
#define CLAIM_TRIES 100   /* a login waits at most CLAIM_TRIES * CLAIM_WAIT_MS for a slot */
#define CLAIM_WAIT_MS 30

static void token_hash(const char *token, uint8_t out[crypto_hash_sha256_BYTES])
{
    crypto_hash_sha256(out, (const unsigned char *)token, strlen(token));
}

static void token_new(char out[BW_TOKEN_LEN + 1])
{
    uint8_t raw[32];
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, BW_TOKEN_LEN + 1, "bws_%s", b64);
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(b64, sizeof(b64));
}

enum bw_rc bw_session_end_all(struct bw_tx *tx, const char *user_id)
{
    struct bw_val p[] = {BW_VTEXT(user_id)};
    return bw_tx_exec(tx, BW_STMT_SESSION_DELETE_USER, p, 1, NULL);
}

/* ---- login -------------------------------------------------------------------- */

struct claim {
    const struct bw_config *cfg;
    const struct bw_audit_ctx *ctx;
    const struct bw_user *u;
    int64_t now;
    bool claimed;
    bool locked; /* refused because the account is locked (else: checks saturated) */
};

static enum bw_rc claim_row(void *arg, const struct bw_row *row)
{
    struct claim *c = arg;
    c->claimed = true;
    return BW_OK;
}

/* CONTROL: AUTH-07 - claims one password check. The claim is refused while
 * the account is locked, and while failures so far plus checks under way
 * already reach lockout.max_failures: no interleaving lets more than
 * max_failures wrong passwords be verified before the lock. A claim whose
 * process died is forgotten after STALE_CLAIM seconds. */
#define STALE_CLAIM 30
static enum bw_rc claim_fn(struct bw_tx *tx, void *arg)
{
    struct claim *c = arg;
    struct bw_user cur;
    struct bw_val p[] = {BW_VTEXT(c->u->id), BW_VINT(c->cfg->lockout_max_failures),
                         BW_VINT(c->now), BW_VINT(c->now - STALE_CLAIM)};
    c->claimed = false;
    enum bw_rc rc =
        bw_tx_query(tx, BW_STMT_USER_CLAIM_ATTEMPT, p, BW_ARRAY_LEN(p), claim_row, c);
    if (rc != BW_OK || c->claimed)
        return rc;
    rc = bw_user_by_id(tx, c->u->id, &cur);
    c->locked = rc != BW_OK || cur.admin_locked || cur.locked_until > c->now;
    if (rc == BW_OK && c->locked)
        rc = bw_audit_append(tx, c->ctx, "anonymous", "auth.login.failed", c->u->id,
                             BW_AUDIT_FAILURE, json_pack("{s:s}", "reason", "locked"));
    return rc;
}

struct failure {
    const struct bw_config *cfg;
    const struct bw_audit_ctx *ctx;
    const char *target;
    const char *reason;
    bool claimed; /* a claimed check ends: count the failure */
    int64_t now;
};

static enum bw_rc count_row(void *arg, const struct bw_row *row)
{
    *(int64_t *)arg = bw_row_int(row, 0);
    return BW_OK;
}

static enum bw_rc failure_fn(struct bw_tx *tx, void *arg)
{
    struct failure *f = arg;
    int64_t count = 0;
    int64_t until = f->now + f->cfg->lockout_duration;
    enum bw_rc rc = BW_OK;
    if (f->claimed) {
        struct bw_val p[] = {BW_VTEXT(f->target), BW_VINT(f->cfg->lockout_max_failures),
                             BW_VINT(until)};
        rc = bw_tx_query(tx, BW_STMT_USER_FAIL_ATTEMPT, p, 3, count_row, &count);
    }
    if (rc == BW_OK)
        rc = bw_audit_append(tx, f->ctx, "anonymous", "auth.login.failed", f->target,
                             BW_AUDIT_FAILURE, json_pack("{s:s}", "reason", f->reason));
    if (rc == BW_OK && f->claimed && count == (int64_t)f->cfg->lockout_max_failures)
        rc = bw_audit_append(tx, f->ctx, "system", "auth.lockout", f->target, BW_AUDIT_SUCCESS,
                             json_pack("{s:I}", "locked_until", (json_int_t)until));
    return rc;
}

struct evict {
    char ids[64][BW_ID_LEN + 1];
    size_t n;
};

static enum bw_rc evict_row(void *arg, const struct bw_row *row)
{
    struct evict *e = arg;
    size_t len = 0;
    const char *id = bw_row_text(row, 0, &len);
    if (e->n < BW_ARRAY_LEN(e->ids) && id != NULL && len == BW_ID_LEN)
        memcpy(e->ids[e->n++], id, BW_ID_LEN + 1);
    return BW_OK;
}

struct success {
    const struct bw_config *cfg;
    const struct bw_audit_ctx *ctx;
    const struct bw_user *u;
    const char *rehash; /* new hash when parameters were raised, or NULL */
    struct bw_login *out;
    uint8_t hash[crypto_hash_sha256_BYTES];
    int64_t now;
    bool raced;
};

/* Evicts least recently used sessions so that one more fits (SESS-02). */
static enum bw_rc make_room(struct bw_tx *tx, struct success *s, const char *actor)
{
    struct evict e = {.n = 0};
    struct bw_val p[] = {BW_VTEXT(s->u->id)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_SESSION_LIST_USER, p, 1, evict_row, &e);
    for (size_t i = 0; rc == BW_OK && i + s->cfg->session_max_concurrent <= e.n; i++) {
        struct bw_val d[] = {BW_VTEXT(e.ids[i]), BW_VTEXT(s->u->id)};
        rc = bw_tx_exec(tx, BW_STMT_SESSION_DELETE, d, 2, NULL);
        if (rc == BW_OK)
            rc = bw_audit_append(tx, s->ctx, actor, "session.evicted", e.ids[i],
                                 BW_AUDIT_SUCCESS,
                                 json_pack("{s:s}", "reason", "max_concurrent reached"));
    }
    return rc;
}

/* The password was verified outside any transaction; the account may have
 * changed since (password changed, locked, disabled). Only a login checked
 * against the state that commits may create a session (SESS-03). */
static bool still_valid(struct bw_tx *tx, const struct bw_user *u, enum bw_rc *rc)
{
    struct bw_user cur;
    *rc = bw_user_by_id_locked(tx, u->id, &cur);
    return *rc == BW_OK && strcmp(cur.password_hash, u->password_hash) == 0 &&
           strcmp(cur.status, "active") == 0 && !cur.admin_locked;
}

static enum bw_rc success_fn(struct bw_tx *tx, void *arg)
{
    struct success *s = arg;
    char actor[BW_ID_LEN + 8];
    snprintf(actor, sizeof(actor), "user:%s", s->u->id);
    struct bw_val ok[] = {BW_VTEXT(s->u->id), BW_VINT(s->now)};
    enum bw_rc rc = BW_OK;
    if (!still_valid(tx, s->u, &rc)) {
        s->raced = true; /* end the claim and answer as for a wrong password */
        if (rc == BW_OK)
            rc = bw_tx_exec(tx, BW_STMT_USER_LOGIN_OK, ok, 2, NULL);
        if (rc == BW_OK)
            rc = bw_audit_append(tx, s->ctx, "anonymous", "auth.login.failed", s->u->id,
                                 BW_AUDIT_FAILURE,
                                 json_pack("{s:s}", "reason", "account_changed"));
        return rc;
    }
    rc = bw_tx_exec(tx, BW_STMT_USER_LOGIN_OK, ok, 2, NULL);
    if (rc == BW_OK && s->rehash != NULL) {
        struct bw_val set[] = {
            BW_VTEXT(s->u->id), BW_VTEXT(s->rehash), BW_VINT(s->u->password_changed_at),
            s->u->password_expires_at ? BW_VINT(s->u->password_expires_at) : BW_VNULL,
            BW_VINT(s->u->must_change)};
        rc = bw_tx_exec(tx, BW_STMT_USER_SET_PASSWORD, set, BW_ARRAY_LEN(set), NULL);
    }
    if (rc == BW_OK)
        rc = make_room(tx, s, actor);
    struct bw_val ins[] = {BW_VTEXT(s->out->session_id),
                           BW_VBLOB(s->hash, sizeof(s->hash)),
                           BW_VTEXT(s->u->id),
                           BW_VINT(s->now),
                           BW_VINT(s->now),
                           BW_VINT(s->out->expires_at),
                           BW_VINT(s->out->password_expired),
                           BW_VTEXT(s->ctx->remote != NULL ? s->ctx->remote : "-")};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_SESSION_INSERT, ins, BW_ARRAY_LEN(ins), NULL);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, s->ctx, actor, "auth.login.succeeded", s->u->id,
                             BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:b, s:b}", "session", s->out->session_id,
                                       "password_expired", s->out->password_expired,
                                       "mfa_required", s->out->mfa_required));
    return rc;
}

static enum bw_rc fail(struct bw_store *st, const struct bw_config *cfg,
                       const struct bw_audit_ctx *ctx, const char *target, const char *reason,
                       bool claimed)
{
    struct failure f = {cfg, ctx, target, reason, claimed, bw_time_now()};
    enum bw_rc rc = bw_store_write(st, failure_fn, &f);
    return rc == BW_OK ? BW_ERR_PERM : rc;
}

static enum bw_rc read_user_fn(struct bw_tx *tx, void *arg)
{
    struct bw_user *u = arg;
    return bw_user_by_email(tx, u->email, u);
}

enum bw_rc bw_auth_login(struct bw_store *st, const struct bw_config *cfg,
                         const struct bw_audit_ctx *ctx, const char *email, const char *password,
                         size_t password_len, struct bw_login *out)
{
    struct bw_user u;
    bool rehash = false;
    memset(&u, 0, sizeof(u));
    if (bw_email_normalize(email, u.email) != BW_OK) {
        bw_pwhash_dummy(password, password_len);
        return fail(st, cfg, ctx, "-", "invalid_email", false);
    }
    enum bw_rc rc = bw_store_read(st, read_user_fn, &u);
    if (rc == BW_ERR_NOTFOUND || (rc == BW_OK && strcmp(u.status, "active") != 0)) {
        bw_pwhash_dummy(password, password_len);
        return fail(st, cfg, ctx, rc == BW_OK ? u.id : "-",
                    rc == BW_OK ? "disabled" : "unknown_user", false);
    }
    if (rc != BW_OK)
        return rc;
    /* CONTROL: AUTH-07 - claim the check before verifying; while the account's
     * checks are saturated, wait for a slot (bounded) instead of failing */
    struct claim c = {cfg, ctx, &u, 0, false, false};
    for (int tries = 0; tries < CLAIM_TRIES; tries++) {
        c.now = bw_time_now();
        rc = bw_store_write(st, claim_fn, &c);
        if (rc != BW_OK || c.claimed || c.locked)
            break;
        struct timespec ts = {0, CLAIM_WAIT_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (rc != BW_OK)
        return rc;
    if (!c.claimed) {
        bw_pwhash_dummy(password, password_len); /* same cost as a real check */
        return c.locked ? BW_ERR_PERM : fail(st, cfg, ctx, u.id, "busy", false);
    }
    if (bw_pwhash_verify(u.password_hash, password, password_len, &rehash) != BW_OK)
        return fail(st, cfg, ctx, u.id, "bad_password", true);
    char new_hash[BW_PWHASH_STRBYTES];
    bool have_rehash = rehash && bw_pwhash(password, password_len, new_hash) == BW_OK;
    struct success s = {cfg, ctx, &u, have_rehash ? new_hash : NULL, out, {0}, c.now, false};
    memset(out, 0, sizeof(*out));
    token_new(out->token);
    token_hash(out->token, s.hash);
    bw_id_new(out->session_id);
    memcpy(out->user_id, u.id, sizeof(out->user_id));
    out->expires_at = c.now + cfg->session_absolute_timeout;
    out->password_expired =
        u.must_change || (u.password_expires_at != 0 && u.password_expires_at <= c.now);
    out->mfa_required = u.mfa_enabled; /* CONTROL: AUTH-02 - the session starts unverified */
    rc = bw_audit_write(st, success_fn, &s); /* evictions: appends before deletes */
    if (rc == BW_OK && s.raced)
        rc = BW_ERR_PERM;
    if (rc != BW_OK)
        sodium_memzero(out, sizeof(*out));
    return rc;
}

/* ---- checking a token --------------------------------------------------------- */

struct lookup {
    uint8_t hash[crypto_hash_sha256_BYTES];
    bool found;
    char id[BW_ID_LEN + 1];
    char user_id[BW_ID_LEN + 1];
    int64_t last_seen, expires;
    bool password_only;
    bool mfa_verified;
    struct bw_user u;
};

static enum bw_rc lookup_row(void *arg, const struct bw_row *row)
{
    struct lookup *l = arg;
    size_t a = 0, b = 0;
    const char *id = bw_row_text(row, 0, &a);
    const char *uid = bw_row_text(row, 1, &b);
    if (id == NULL || uid == NULL || a != BW_ID_LEN || b != BW_ID_LEN)
        return BW_ERR_STORE;
    memcpy(l->id, id, BW_ID_LEN + 1);
    memcpy(l->user_id, uid, BW_ID_LEN + 1);
    l->last_seen = bw_row_int(row, 3);
    l->expires = bw_row_int(row, 4);
    l->password_only = bw_row_int(row, 5) != 0;
    l->mfa_verified = bw_row_int(row, 6) != 0;
    l->found = true;
    return BW_OK;
}

static enum bw_rc lookup_fn(struct bw_tx *tx, void *arg)
{
    struct lookup *l = arg;
    struct bw_val p[] = {BW_VBLOB(l->hash, sizeof(l->hash))};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_SESSION_BY_TOKEN, p, 1, lookup_row, l);
    if (rc == BW_OK && l->found)
        rc = bw_user_by_id(tx, l->user_id, &l->u);
    return rc;
}

struct touch {
    const char *id;
    int64_t now;
    int64_t idle_cutoff;
};

static enum bw_rc touch_fn(struct bw_tx *tx, void *arg)
{
    struct touch *t = arg;
    struct bw_val p[] = {BW_VTEXT(t->id), BW_VINT(t->now)};
    return bw_tx_exec(tx, BW_STMT_SESSION_TOUCH, p, 2, NULL);
}

static enum bw_rc purge_fn(struct bw_tx *tx, void *arg)
{
    struct touch *t = arg;
    struct bw_val p[] = {BW_VINT(t->now), BW_VINT(t->idle_cutoff)};
    return bw_tx_exec(tx, BW_STMT_SESSION_PURGE, p, 2, NULL);
}

enum bw_rc bw_session_purge(struct bw_store *st, const struct bw_config *cfg)
{
    int64_t now = bw_time_now();
    struct touch t = {NULL, now, now - cfg->session_idle_timeout};
    return bw_store_write(st, purge_fn, &t);
}

enum bw_rc bw_session_authenticate(struct bw_store *st, const struct bw_config *cfg,
                                   const char *token, struct bw_principal *out)
{
    struct lookup l;
    memset(&l, 0, sizeof(l));
    if (token == NULL || strlen(token) != BW_TOKEN_LEN || strncmp(token, "bws_", 4) != 0)
        return BW_ERR_PERM;
    token_hash(token, l.hash);
    enum bw_rc rc = bw_store_read(st, lookup_fn, &l);
    if (rc != BW_OK && rc != BW_ERR_NOTFOUND)
        return rc;
    if (rc != BW_OK || !l.found || strcmp(l.u.status, "active") != 0)
        return BW_ERR_PERM;
    int64_t now = bw_time_now();
    if (l.last_seen + cfg->session_idle_timeout <= now || l.expires <= now) {
        /* SESS-01: expired sessions are removed, not merely refused */
        rc = bw_session_purge(st, cfg);
        return rc == BW_OK ? BW_ERR_PERM : rc;
    }
    /* refresh often enough that an active session never reaches its idle limit */
    int64_t every = cfg->session_idle_timeout / 4 < TOUCH_EVERY ? cfg->session_idle_timeout / 4
                                                                : TOUCH_EVERY;
    if (now - l.last_seen >= every) {
        struct touch t = {l.id, now, 0};
        rc = bw_store_write(st, touch_fn, &t);
        if (rc != BW_OK)
            return rc;
    }
    memset(out, 0, sizeof(*out));
    memcpy(out->user_id, l.user_id, sizeof(out->user_id));
    memcpy(out->session_id, l.id, sizeof(out->session_id));
    memcpy(out->email, l.u.email, sizeof(out->email));
    out->platform_admin = l.u.platform_admin;
    out->password_only = l.password_only;
    out->mfa_enabled = l.u.mfa_enabled;
    out->mfa_verified = l.u.mfa_enabled && l.mfa_verified;
    memcpy(out->status, l.u.status, sizeof(out->status));
    out->created_at = l.u.created_at;
    out->password_expires_at = l.u.password_expires_at;
    return BW_OK;
}

/* ---- listing and revoking ------------------------------------------------------ */

struct revoke {
    const struct bw_audit_ctx *ctx;
    const struct bw_principal *p;
    const char *session_id;
};

static enum bw_rc revoke_fn(struct bw_tx *tx, void *arg)
{
    struct revoke *r = arg;
    char actor[BW_ID_LEN + 8];
    uint64_t changes = 0;
    snprintf(actor, sizeof(actor), "user:%s", r->p->user_id);
    struct bw_val d[] = {BW_VTEXT(r->session_id), BW_VTEXT(r->p->user_id)};
    enum bw_rc rc = bw_tx_exec(tx, BW_STMT_SESSION_DELETE, d, 2, &changes);
    if (rc == BW_OK && changes == 0)
        return BW_ERR_NOTFOUND; /* not theirs, or gone: the same answer */
    if (rc == BW_OK)
        rc = bw_audit_append(tx, r->ctx, actor, "session.revoked", r->session_id,
                             BW_AUDIT_SUCCESS, NULL);
    return rc;
}

enum bw_rc bw_session_revoke(struct bw_store *st, const struct bw_audit_ctx *ctx,
                             const struct bw_principal *p, const char *session_id)
{
    struct revoke r = {ctx, p, session_id};
    return bw_store_write(st, revoke_fn, &r);
}

struct listing {
    json_t *items;
    const char *current;
};

static enum bw_rc list_row(void *arg, const struct bw_row *row)
{
    struct listing *l = arg;
    char created[21], seen[21], expires[21];
    const char *id = bw_row_text(row, 0, NULL);
    bw_time_format(bw_row_int(row, 1), created);
    bw_time_format(bw_row_int(row, 2), seen);
    bw_time_format(bw_row_int(row, 3), expires);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "id", id != NULL ? id : "",
                          "created_at", created, "last_seen_at", seen, "expires_at", expires,
                          "remote", bw_row_text(row, 4, NULL) != NULL ? bw_row_text(row, 4, NULL)
                                                                      : "-",
                          "current", id != NULL && strcmp(id, l->current) == 0);
    if (o == NULL || json_array_append_new(l->items, o) != 0)
        return BW_ERR_NOMEM;
    return BW_OK;
}

struct list_job {
    const struct bw_principal *p;
    struct listing l;
};

static enum bw_rc list_fn(struct bw_tx *tx, void *arg)
{
    struct list_job *j = arg;
    struct bw_val p[] = {BW_VTEXT(j->p->user_id)};
    return bw_tx_query(tx, BW_STMT_SESSION_LIST_USER, p, 1, list_row, &j->l);
}

enum bw_rc bw_session_list(struct bw_store *st, const struct bw_principal *p, json_t **out)
{
    struct list_job j = {p, {json_array(), p->session_id}};
    if (j.l.items == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc = bw_store_read(st, list_fn, &j);
    if (rc != BW_OK) {
        json_decref(j.l.items);
        return rc;
    }
    *out = j.l.items;
    return BW_OK;
}
