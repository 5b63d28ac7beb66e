/*
 * org.c - organisations and memberships: creation with a first owner,
 * adding members and changing their roles, removal, listings, and the
 * platform-administrator flag (CONTROL: AC-01, AC-02, LOG-05, G-06).
 *
 * Every change runs in one write transaction that first locks the
 * organisation's row (bw_tenant_lock), then authorizes the caller, then
 * changes and audits: the last-owner rule and the role checks hold under
 * concurrent requests on both drivers. The command line (principal NULL)
 * is the operator and skips the permission check, not the invariants.
 * Never reveals whether another organisation exists: its answers are the
 * ones bw_tenant_authorize gives for ids that do not exist.
 */
#include "audit/audit.h"
#include "store/store.h"
#include "tenant/tenant.h"

#include <jansson.h>
#include <string.h>

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

static void actor_of(const struct bw_principal *p, char out[BW_ACTOR_LEN])
{
    if (p == NULL)
        snprintf(out, BW_ACTOR_LEN, "cli");
    else
        bw_principal_actor(p, out);
}

static enum bw_rc org_row(void *arg, const struct bw_row *row)
{
    struct bw_org *o = arg;
    copy_text(row, 0, o->id, sizeof(o->id));
    copy_text(row, 1, o->name, sizeof(o->name));
    o->created_at = bw_row_int(row, 2);
    return BW_OK;
}

enum bw_rc bw_org_get(struct bw_tx *tx, const char *org_id, struct bw_org *out)
{
    struct bw_org o;
    o.id[0] = '\0';
    if (!bw_id_valid(org_id))
        return BW_ERR_NOTFOUND;
    struct bw_val p[] = {BW_VTEXT(org_id)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_ORG_BY_ID, p, 1, org_row, &o);
    if (rc != BW_OK)
        return rc;
    if (o.id[0] == '\0')
        return BW_ERR_NOTFOUND;
    *out = o;
    return BW_OK;
}

/* A name: 1..BW_ORG_NAME_MAX bytes of UTF-8 without control characters,
 * not only spaces. */
static bool name_ok(const char *name)
{
    size_t len = name != NULL ? strlen(name) : 0;
    bool visible = false;
    if (len == 0 || len > BW_ORG_NAME_MAX || !bw_utf8_valid(name, len))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        visible |= c != ' ';
    }
    return visible;
}

/* ---- creation ------------------------------------------------------------------- */

struct create_job {
    const struct bw_audit_ctx *ctx;
    const struct bw_principal *p;
    const char *owner_email;
    struct bw_org *org;
    struct bw_tenant_result *res;
};

/* The first owner: the named user, or the calling user. */
static enum bw_rc first_owner(struct bw_tx *tx, struct create_job *j, struct bw_user *u)
{
    enum bw_rc rc;
    if (j->owner_email != NULL) {
        char norm[BW_EMAIL_MAX + 1];
        rc = bw_email_normalize(j->owner_email, norm);
        if (rc == BW_OK)
            rc = bw_user_by_email(tx, norm, u);
        if (rc == BW_ERR_INVALID || rc == BW_ERR_NOTFOUND) {
            j->res->no_user = true;
            return BW_ERR_NOTFOUND;
        }
        if (rc != BW_OK)
            return rc;
    } else if (j->p == NULL || j->p->user_id[0] == '\0') {
        return BW_ERR_INVALID; /* the command line must name an owner */
    } else {
        rc = bw_user_by_id(tx, j->p->user_id, u);
        if (rc != BW_OK)
            return rc;
    }
    if (u->platform_admin) {
        j->res->admin_member = true; /* CONTROL: G-06 */
        return BW_ERR_CONFLICT;
    }
    return BW_OK;
}

static enum bw_rc create_fn(struct bw_tx *tx, void *arg)
{
    struct create_job *j = arg;
    struct bw_user u;
    char actor[BW_ACTOR_LEN];
    enum bw_rc rc = first_owner(tx, j, &u);
    if (rc != BW_OK)
        return rc;
    actor_of(j->p, actor);
    struct bw_val o[] = {BW_VTEXT(j->org->id), BW_VTEXT(j->org->name),
                         BW_VINT(j->org->created_at), BW_VTEXT(actor)};
    struct bw_val m[] = {BW_VTEXT(j->org->id), BW_VTEXT(u.id), BW_VTEXT("owner"),
                         BW_VINT(j->org->created_at)};
    rc = bw_tx_exec(tx, BW_STMT_ORG_INSERT, o, BW_ARRAY_LEN(o), NULL);
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_MEMBER_INSERT, m, BW_ARRAY_LEN(m), NULL);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, actor, "org.created", j->org->id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s}", "name", j->org->name, "owner", u.id));
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, actor, "member.added", j->org->id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s, s:s}", "user", u.id, "email", u.email,
                                       "role", "owner"));
    return rc;
}

enum bw_rc bw_org_create(struct bw_store *st, const struct bw_audit_ctx *ctx,
                         const struct bw_principal *p, const char *name,
                         const char *owner_email, struct bw_org *out,
                         struct bw_tenant_result *res)
{
    struct bw_org org;
    memset(res, 0, sizeof(*res));
    if (!name_ok(name))
        return BW_ERR_INVALID;
    memset(&org, 0, sizeof(org));
    bw_id_new(org.id);
    memcpy(org.name, name, strlen(name) + 1);
    org.created_at = bw_time_now();
    struct create_job j = {ctx, p, owner_email, &org, res};
    enum bw_rc rc = bw_store_write(st, create_fn, &j);
    if (rc == BW_OK) {
        res->role = BW_ROLE_OWNER;
        *out = org;
    }
    return rc;
}

/* ---- memberships ---------------------------------------------------------------- */

static enum bw_rc count_row(void *arg, const struct bw_row *row)
{
    *(int64_t *)arg = bw_row_int(row, 0);
    return BW_OK;
}

static enum bw_rc owners(struct bw_tx *tx, const char *org_id, int64_t *n)
{
    struct bw_val p[] = {BW_VTEXT(org_id), BW_VTEXT("owner")};
    *n = 0;
    return bw_tx_query(tx, BW_STMT_MEMBER_COUNT_ROLE, p, 2, count_row, n);
}

static enum bw_rc member_role_row(void *arg, const struct bw_row *row)
{
    const char *t = bw_row_text(row, 0, NULL);
    return t != NULL && bw_role_parse(t, arg) == BW_OK ? BW_OK : BW_ERR_STORE;
}

/* The current role of user_id (BW_ROLE_NONE when not a member). */
static enum bw_rc current_role(struct bw_tx *tx, const char *org_id, const char *user_id,
                               enum bw_role *out)
{
    struct bw_val p[] = {BW_VTEXT(org_id), BW_VTEXT(user_id)};
    *out = BW_ROLE_NONE;
    return bw_tx_query(tx, BW_STMT_MEMBER_ROLE, p, 2, member_role_row, out);
}

/* Lock, then authorize member.manage (the command line is trusted). */
static enum bw_rc gate(struct bw_tx *tx, const struct bw_config *cfg,
                       const struct bw_principal *p, const char *org_id,
                       struct bw_tenant_result *res)
{
    enum bw_rc rc = bw_tenant_lock(tx, org_id);
    if (rc != BW_OK || p == NULL)
        return rc;
    return bw_tenant_authorize(tx, cfg, p, org_id, BW_PERM_MEMBER_MANAGE, res);
}

struct member_job {
    const struct bw_config *cfg;
    const struct bw_audit_ctx *ctx;
    const struct bw_principal *p;
    const char *org_id;
    const char *who; /* e-mail (set) or user id (remove) */
    enum bw_role role;
    bool created;
    struct bw_tenant_result *res;
};

/* The owner role is touched only by owners (and the command line), and an
 * organisation always keeps one owner. */
static enum bw_rc owner_rules(struct bw_tx *tx, struct member_job *j, enum bw_role old,
                              enum bw_role next)
{
    int64_t n = 0;
    bool touches_owner = old == BW_ROLE_OWNER || next == BW_ROLE_OWNER;
    if (touches_owner && j->p != NULL && j->res->role != BW_ROLE_OWNER) {
        j->res->owner_only = true;
        return BW_ERR_PERM;
    }
    if (old != BW_ROLE_OWNER || next == BW_ROLE_OWNER)
        return BW_OK;
    enum bw_rc rc = owners(tx, j->org_id, &n);
    if (rc == BW_OK && n <= 1) {
        j->res->last_owner = true;
        rc = BW_ERR_CONFLICT;
    }
    return rc;
}

static enum bw_rc set_fn(struct bw_tx *tx, void *arg)
{
    struct member_job *j = arg;
    struct bw_user u;
    enum bw_role old = BW_ROLE_NONE;
    char actor[BW_ACTOR_LEN], norm[BW_EMAIL_MAX + 1];
    enum bw_rc rc = gate(tx, j->cfg, j->p, j->org_id, j->res);
    if (rc != BW_OK)
        return rc;
    rc = bw_email_normalize(j->who, norm);
    if (rc == BW_OK)
        rc = bw_user_by_email(tx, norm, &u);
    if (rc == BW_ERR_INVALID || rc == BW_ERR_NOTFOUND) {
        j->res->no_user = true;
        return BW_ERR_NOTFOUND;
    }
    if (rc == BW_OK && u.platform_admin) {
        j->res->admin_member = true; /* CONTROL: G-06 */
        return BW_ERR_CONFLICT;
    }
    if (rc == BW_OK)
        rc = current_role(tx, j->org_id, u.id, &old);
    if (rc == BW_OK)
        rc = owner_rules(tx, j, old, j->role);
    if (rc != BW_OK || old == j->role)
        return rc;
    actor_of(j->p, actor);
    j->created = old == BW_ROLE_NONE;
    struct bw_val ins[] = {BW_VTEXT(j->org_id), BW_VTEXT(u.id), BW_VTEXT(bw_role_name(j->role)),
                           BW_VINT(bw_time_now())};
    rc = bw_tx_exec(tx, j->created ? BW_STMT_MEMBER_INSERT : BW_STMT_MEMBER_SET_ROLE, ins,
                    j->created ? 4 : 3, NULL);
    json_t *d = json_pack("{s:s, s:s, s:s}", "user", u.id, "email", u.email, "role",
                          bw_role_name(j->role));
    if (d != NULL && !j->created)
        json_object_set_new(d, "previous_role", json_string(bw_role_name(old)));
    if (rc == BW_OK)
        return bw_audit_append(tx, j->ctx, actor, j->created ? "member.added"
                                                              : "member.role_changed",
                               j->org_id, BW_AUDIT_SUCCESS, d);
    json_decref(d);
    return rc;
}

enum bw_rc bw_member_set(struct bw_store *st, const struct bw_config *cfg,
                         const struct bw_audit_ctx *ctx, const struct bw_principal *p,
                         const char *org_id, const char *email, enum bw_role role,
                         bool *created, struct bw_tenant_result *res)
{
    memset(res, 0, sizeof(*res));
    if (role <= BW_ROLE_NONE || role >= BW_ROLE__COUNT)
        return BW_ERR_INVALID;
    struct member_job j = {cfg, ctx, p, org_id, email, role, false, res};
    enum bw_rc rc = bw_store_write(st, set_fn, &j);
    if (rc == BW_OK)
        *created = j.created;
    return rc;
}

static enum bw_rc remove_fn(struct bw_tx *tx, void *arg)
{
    struct member_job *j = arg;
    enum bw_role old = BW_ROLE_NONE;
    char actor[BW_ACTOR_LEN];
    struct bw_user u;
    enum bw_rc rc = gate(tx, j->cfg, j->p, j->org_id, j->res);
    if (rc != BW_OK)
        return rc;
    if (bw_id_valid(j->who))
        rc = current_role(tx, j->org_id, j->who, &old);
    if (rc == BW_OK && old == BW_ROLE_NONE) {
        j->res->no_user = true;
        return BW_ERR_NOTFOUND;
    }
    if (rc == BW_OK)
        rc = owner_rules(tx, j, old, BW_ROLE_NONE);
    if (rc == BW_OK)
        rc = bw_user_by_id(tx, j->who, &u);
    struct bw_val d[] = {BW_VTEXT(j->org_id), BW_VTEXT(j->who)};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_MEMBER_DELETE, d, 2, NULL);
    actor_of(j->p, actor);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, actor, "member.removed", j->org_id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s, s:s}", "user", u.id, "email", u.email,
                                       "role", bw_role_name(old)));
    return rc;
}

enum bw_rc bw_member_remove(struct bw_store *st, const struct bw_config *cfg,
                            const struct bw_audit_ctx *ctx, const struct bw_principal *p,
                            const char *org_id, const char *user_id,
                            struct bw_tenant_result *res)
{
    memset(res, 0, sizeof(*res));
    struct member_job j = {cfg, ctx, p, org_id, user_id, BW_ROLE_NONE, false, res};
    return bw_store_write(st, remove_fn, &j);
}

/* ---- listings ------------------------------------------------------------------- */

static enum bw_rc member_row(void *arg, const struct bw_row *row)
{
    char created[21];
    bw_time_format(bw_row_int(row, 3), created);
    json_t *o = json_pack("{s:s?, s:s?, s:s?, s:s}", "user_id", bw_row_text(row, 0, NULL),
                          "email", bw_row_text(row, 1, NULL), "role", bw_row_text(row, 2, NULL),
                          "created_at", created);
    return o != NULL && json_array_append_new(arg, o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

enum bw_rc bw_member_list(struct bw_tx *tx, const char *org_id, json_t **out)
{
    json_t *items = json_array();
    struct bw_val p[] = {BW_VTEXT(org_id)};
    enum bw_rc rc = items != NULL ? bw_tx_query(tx, BW_STMT_MEMBER_LIST, p, 1, member_row, items)
                                  : BW_ERR_NOMEM;
    if (rc != BW_OK) {
        json_decref(items);
        return rc;
    }
    *out = items;
    return BW_OK;
}

static enum bw_rc user_org_row(void *arg, const struct bw_row *row)
{
    char created[21];
    bw_time_format(bw_row_int(row, 2), created);
    json_t *o = json_pack("{s:s?, s:s?, s:s, s:s?}", "id", bw_row_text(row, 0, NULL), "name",
                          bw_row_text(row, 1, NULL), "created_at", created, "role",
                          bw_row_text(row, 3, NULL));
    return o != NULL && json_array_append_new(arg, o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

enum bw_rc bw_org_list_user(struct bw_tx *tx, const char *user_id, json_t **out)
{
    json_t *items = json_array();
    struct bw_val p[] = {BW_VTEXT(user_id)};
    enum bw_rc rc = items != NULL
                        ? bw_tx_query(tx, BW_STMT_ORG_LIST_USER, p, 1, user_org_row, items)
                        : BW_ERR_NOMEM;
    if (rc != BW_OK) {
        json_decref(items);
        return rc;
    }
    *out = items;
    return BW_OK;
}

static enum bw_rc all_row(void *arg, const struct bw_row *row)
{
    char created[21];
    bw_time_format(bw_row_int(row, 2), created);
    json_t *o = json_pack("{s:s?, s:s?, s:s}", "id", bw_row_text(row, 0, NULL), "name",
                          bw_row_text(row, 1, NULL), "created_at", created);
    return o != NULL && json_array_append_new(arg, o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

enum bw_rc bw_org_list_all(struct bw_tx *tx, json_t **out)
{
    json_t *items = json_array();
    struct bw_val p[] = {BW_VINT(100000)};
    enum bw_rc rc = items != NULL ? bw_tx_query(tx, BW_STMT_ORG_LIST_ALL, p, 1, all_row, items)
                                  : BW_ERR_NOMEM;
    if (rc != BW_OK) {
        json_decref(items);
        return rc;
    }
    *out = items;
    return BW_OK;
}

/* ---- platform administrators ----------------------------------------------------- */

struct padmin_job {
    const struct bw_audit_ctx *ctx;
    const char *actor;
    const char *email;
    bool on;
};

static enum bw_rc any_row(void *arg, const struct bw_row *row)
{
    *(bool *)arg = true;
    return BW_OK;
}

static enum bw_rc padmin_fn(struct bw_tx *tx, void *arg)
{
    struct padmin_job *j = arg;
    struct bw_user u;
    bool member = false;
    enum bw_rc rc = bw_user_by_email(tx, j->email, &u);
    if (rc != BW_OK || u.platform_admin == j->on)
        return rc;
    struct bw_val q[] = {BW_VTEXT(u.id)};
    if (j->on)
        rc = bw_tx_query(tx, BW_STMT_ORG_LIST_USER, q, 1, any_row, &member);
    if (rc == BW_OK && member)
        return BW_ERR_CONFLICT; /* CONTROL: G-06 - a standard account is never promoted */
    struct bw_val p[] = {BW_VTEXT(u.id), BW_VINT(j->on ? 1 : 0)};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_USER_SET_PLATFORM_ADMIN, p, 2, NULL);
    if (rc == BW_OK)
        rc = bw_session_end_all(tx, u.id); /* privileges change: log in again */
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, j->actor, "user.role_changed", u.id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:b, s:b}", "email", u.email, "platform_admin",
                                       j->on, "previous", u.platform_admin));
    return rc;
}

enum bw_rc bw_user_set_platform_admin(struct bw_store *st, const struct bw_audit_ctx *ctx,
                                      const char *actor, const char *email, bool on)
{
    char norm[BW_EMAIL_MAX + 1];
    if (bw_email_normalize(email, norm) != BW_OK)
        return BW_ERR_NOTFOUND;
    struct padmin_job j = {ctx, actor, norm, on};
    return bw_store_write(st, padmin_fn, &j);
}
