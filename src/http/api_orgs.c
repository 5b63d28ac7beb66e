/*
 * api_orgs.c - the organisation routes of SPEC 5: create and list
 * organisations, read one, list members, add a member or change a role,
 * remove a member (CONTROL: AC-01, AC-02, AC-05, LOG-05), and the answer
 * every organisation-scoped handler gives when bw_tenant_authorize refuses.
 *
 * Trusts the router for authentication, CSRF and body framing; decides
 * nothing about permissions itself: the tenant module's matrix does, inside
 * the same transaction as the read or change. Another organisation's ids
 * and ids that do not exist get the same 404 problem, byte for byte.
 */
#include "audit/audit.h"
#include "http/http_int.h"
#include "store/store.h"
#include "tenant/tenant.h"

#include <stdio.h>
#include <string.h>

#define ORG_NOT_FOUND "no such organisation"

static enum bw_rc fields(struct bw_resp *resp, const struct bw_field_errors *fe)
{
    return bw_resp_problem(resp, 400, "invalid-request", "the request has invalid fields", fe);
}

enum bw_rc bw_tenant_answer(struct bw_req *req, struct bw_resp *resp, enum bw_rc rc,
                            const struct bw_tenant_result *res)
{
    if (rc == BW_ERR_NOTFOUND && !res->no_user) {
        req->denied = "not-found";
        return bw_resp_problem(resp, 404, NULL, ORG_NOT_FOUND, NULL);
    }
    if (rc == BW_ERR_PERM && res->mfa_missing) {
        req->denied = "mfa-required";
        return bw_resp_problem(resp, 403, "mfa-required",
                               "organisation owners and admins must enrol in MFA and verify it "
                               "in this session for administrative actions",
                               NULL);
    }
    if (rc == BW_ERR_PERM && res->owner_only) {
        req->denied = "owner-only";
        return bw_resp_problem(resp, 403, "forbidden",
                               "only owners grant, change or remove the owner role", NULL);
    }
    if (rc == BW_ERR_PERM) {
        req->denied = "forbidden";
        return bw_resp_problem(resp, 403, "forbidden",
                               "your role in this organisation does not allow this", NULL);
    }
    if (rc == BW_ERR_CONFLICT && res->last_owner)
        return bw_resp_problem(resp, 409, "last-owner",
                               "an organisation keeps at least one owner", NULL);
    if (rc == BW_ERR_CONFLICT && res->admin_member)
        return bw_resp_problem(resp, 409, "platform-admin",
                               "platform administrators cannot be members of an organisation "
                               "(separate accounts for administration)",
                               NULL);
    return rc;
}

/* ---- POST /api/v1/orgs, GET /api/v1/orgs ---------------------------------------- */

/* SPEC 5: platform administrators create organisations for a named owner
 * (they never own customer data, CONTROL: G-06); with tenants.self_service
 * any user may create one and becomes its owner. */
enum bw_rc bw_api_org_create(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"name", "owner"};
    const struct bw_principal *p = &req->principal;
    struct bw_field_errors fe = {.n = 0};
    struct bw_tenant_result res;
    struct bw_audit_ctx ctx;
    struct bw_org org;
    size_t nlen = 0, olen = 0;
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    const char *name = bw_body_string(req->json, "name", BW_ORG_NAME_MAX, &nlen, &fe);
    const char *owner = NULL;
    if (json_object_get(req->json, "owner") != NULL)
        owner = bw_body_string(req->json, "owner", BW_EMAIL_MAX, &olen, &fe);
    if (name != NULL && strlen(name) != nlen)
        bw_field_error(&fe, "name", "must not contain NUL characters");
    if (owner != NULL && strlen(owner) != olen)
        bw_field_error(&fe, "owner", "not a valid e-mail address");
    if (p->platform_admin && owner == NULL && json_object_get(req->json, "owner") == NULL)
        bw_field_error(&fe, "owner",
                       "required: platform administrators create organisations for an owner");
    if (fe.n > 0)
        return fields(resp, &fe);
    if (!p->platform_admin && !req->deps->cfg->tenants_self_service) {
        req->denied = "forbidden";
        return bw_resp_problem(resp, 403, "forbidden",
                               "only platform administrators create organisations", NULL);
    }
    if (p->platform_admin && req->deps->cfg->mfa_required_for_admins &&
        !(p->mfa_enabled && p->mfa_verified)) {
        req->denied = "mfa-required";
        return bw_resp_problem(resp, 403, "mfa-required",
                               "administrators must enrol in MFA and verify it in this session",
                               NULL);
    }
    if (!p->platform_admin && owner != NULL) {
        bw_field_error(&fe, "owner", "only platform administrators name another owner");
        return fields(resp, &fe);
    }
    bw_req_audit_ctx(req, &ctx);
    enum bw_rc rc = bw_org_create(req->deps->store, &ctx, p, name, owner, &org, &res);
    if (rc == BW_ERR_INVALID) {
        bw_field_error(&fe, "name", "1 to 200 bytes of text without control characters");
        return fields(resp, &fe);
    }
    if (rc == BW_ERR_NOTFOUND && res.no_user) {
        bw_field_error(&fe, "owner", "no user with this e-mail address");
        return bw_resp_problem(resp, 404, NULL, "no user with this e-mail address", &fe);
    }
    if (rc != BW_OK)
        return bw_tenant_answer(req, resp, rc, &res);
    char created[21];
    bw_time_format(org.created_at, created);
    return bw_resp_json(resp, 201, json_pack("{s:s, s:s, s:s, s:s}", "id", org.id, "name",
                                             org.name, "created_at", created, "role",
                                             p->platform_admin ? "none" : "owner"));
}

struct list_job {
    const char *user_id;
    json_t *items;
};

static enum bw_rc list_fn(struct bw_tx *tx, void *arg)
{
    struct list_job *j = arg;
    return bw_org_list_user(tx, j->user_id, &j->items);
}

enum bw_rc bw_api_org_list(struct bw_req *req, struct bw_resp *resp)
{
    struct list_job j = {req->principal.user_id, NULL};
    enum bw_rc rc = bw_store_read(req->deps->store, list_fn, &j);
    if (rc != BW_OK)
        return rc;
    return bw_resp_json(resp, 200, json_pack("{s:o, s:n}", "items", j.items, "next_cursor"));
}

/* ---- GET /api/v1/orgs/{org}, GET .../members ------------------------------------- */

struct read_job {
    const struct bw_config *cfg;
    const struct bw_principal *p;
    const char *org_id;
    bool members;
    struct bw_tenant_result res;
    struct bw_org org;
    json_t *items;
};

static enum bw_rc read_fn(struct bw_tx *tx, void *arg)
{
    struct read_job *j = arg;
    enum bw_rc rc = bw_tenant_authorize(tx, j->cfg, j->p, j->org_id,
                                        j->members ? BW_PERM_MEMBER_READ : BW_PERM_ORG_READ,
                                        &j->res);
    if (rc == BW_OK && j->members)
        return bw_member_list(tx, j->org_id, &j->items);
    if (rc == BW_OK)
        rc = bw_org_get(tx, j->org_id, &j->org);
    return rc;
}

static enum bw_rc org_read(struct bw_req *req, struct bw_resp *resp, bool members)
{
    struct read_job j;
    memset(&j, 0, sizeof(j));
    j.cfg = req->deps->cfg;
    j.p = &req->principal;
    j.org_id = req->match.values[0];
    j.members = members;
    enum bw_rc rc = bw_store_read(req->deps->store, read_fn, &j);
    if (rc != BW_OK)
        return bw_tenant_answer(req, resp, rc, &j.res);
    if (members)
        return bw_resp_json(resp, 200, json_pack("{s:o, s:n}", "items", j.items, "next_cursor"));
    char created[21];
    bw_time_format(j.org.created_at, created);
    return bw_resp_json(resp, 200, json_pack("{s:s, s:s, s:s, s:s}", "id", j.org.id, "name",
                                             j.org.name, "created_at", created, "role",
                                             bw_role_name(j.res.role)));
}

enum bw_rc bw_api_org_get(struct bw_req *req, struct bw_resp *resp)
{
    return org_read(req, resp, false);
}

enum bw_rc bw_api_members(struct bw_req *req, struct bw_resp *resp)
{
    return org_read(req, resp, true);
}

/* ---- DELETE /api/v1/orgs/{org} ---------------------------------------------------
 * DATA-04/05 for a whole tenant: the organisation disappears at once (every
 * query filters deleted organisations, so members, API keys and ids answer
 * like unknown ones) and the retention job destroys its keys and data after
 * retention.deleted_records (data/retention.c: crypto-shredding). Owners
 * only, with a verified second factor (org.manage is administrative). */

struct delete_job {
    const struct bw_config *cfg;
    const struct bw_principal *p;
    const struct bw_audit_ctx *ctx;
    const char *org_id;
    int64_t now;
    struct bw_tenant_result res;
};

static enum bw_rc delete_fn(struct bw_tx *tx, void *arg)
{
    struct delete_job *j = arg;
    enum bw_rc rc =
        bw_tenant_authorize(tx, j->cfg, j->p, j->org_id, BW_PERM_ORG_MANAGE, &j->res);
    if (rc == BW_OK)
        rc = bw_tenant_lock(tx, j->org_id);
    uint64_t n = 0;
    struct bw_val v[] = {BW_VTEXT(j->org_id), BW_VINT(j->now)};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_ORG_SET_DELETED, v, BW_ARRAY_LEN(v), &n);
    if (rc == BW_OK && n != 1)
        rc = BW_ERR_NOTFOUND;
    char actor[BW_ID_LEN + 8], purge[21];
    snprintf(actor, sizeof(actor), "user:%s", j->p->user_id);
    bw_time_format(j->now + j->cfg->retention_deleted_records, purge);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, actor, "org.deleted", j->org_id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s}", "purge_after", purge));
    return rc;
}

enum bw_rc bw_api_org_delete(struct bw_req *req, struct bw_resp *resp)
{
    struct bw_audit_ctx ctx;
    bw_req_audit_ctx(req, &ctx);
    struct delete_job j = {req->deps->cfg, &req->principal, &ctx, req->match.values[0],
                           bw_time_now(), {0}};
    enum bw_rc rc = bw_store_write(req->deps->store, delete_fn, &j);
    if (rc != BW_OK)
        return bw_tenant_answer(req, resp, rc, &j.res);
    char deleted[21], purge[21];
    bw_time_format(j.now, deleted);
    bw_time_format(j.now + req->deps->cfg->retention_deleted_records, purge);
    return bw_resp_json(resp, 202, json_pack("{s:s, s:s, s:s}", "id", j.org_id, "deleted_at",
                                             deleted, "purge_after", purge));
}

/* ---- POST .../members, DELETE .../members/{user} --------------------------------- */

enum bw_rc bw_api_member_add(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"email", "role"};
    struct bw_field_errors fe = {.n = 0};
    struct bw_tenant_result res;
    struct bw_audit_ctx ctx;
    enum bw_role role = BW_ROLE_NONE;
    size_t elen = 0, rlen = 0;
    bool created = false;
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    const char *email = bw_body_string(req->json, "email", BW_EMAIL_MAX, &elen, &fe);
    const char *rname = bw_body_string(req->json, "role", BW_ROLE_NAME_MAX, &rlen, &fe);
    if (email != NULL && strlen(email) != elen)
        bw_field_error(&fe, "email", "not a valid e-mail address");
    if (rname != NULL && bw_role_parse(rname, &role) != BW_OK)
        bw_field_error(&fe, "role", "one of owner, admin, editor, viewer, auditor");
    if (fe.n > 0)
        return fields(resp, &fe);
    bw_req_audit_ctx(req, &ctx);
    enum bw_rc rc = bw_member_set(req->deps->store, req->deps->cfg, &ctx, &req->principal,
                                  req->match.values[0], email, role, &created, &res);
    if (rc == BW_ERR_NOTFOUND && res.no_user) {
        bw_field_error(&fe, "email", "no user with this e-mail address");
        return bw_resp_problem(resp, 404, NULL, "no user with this e-mail address", &fe);
    }
    if (rc != BW_OK)
        return bw_tenant_answer(req, resp, rc, &res);
    char norm[BW_EMAIL_MAX + 1];
    if (bw_email_normalize(email, norm) != BW_OK)
        return BW_ERR_INTERNAL; /* bw_member_set accepted it */
    return bw_resp_json(resp, created ? 201 : 200,
                        json_pack("{s:s, s:s, s:s}", "org_id", req->match.values[0], "email",
                                  norm, "role", bw_role_name(role)));
}

enum bw_rc bw_api_member_delete(struct bw_req *req, struct bw_resp *resp)
{
    struct bw_tenant_result res;
    struct bw_audit_ctx ctx;
    bw_req_audit_ctx(req, &ctx);
    enum bw_rc rc = bw_member_remove(req->deps->store, req->deps->cfg, &ctx, &req->principal,
                                     req->match.values[0], req->match.values[1], &res);
    if (rc == BW_ERR_NOTFOUND && res.no_user)
        return bw_resp_problem(resp, 404, NULL, "no such member", NULL);
    if (rc != BW_OK)
        return bw_tenant_answer(req, resp, rc, &res);
    resp->status = 204;
    return BW_OK;
}
