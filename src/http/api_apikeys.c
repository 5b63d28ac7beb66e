/*
 * api_apikeys.c - API keys of an organisation (SPEC 5, CONTROL: AC-04):
 * create (the key is in this answer and nowhere else, ever), list (never a
 * secret or hash), revoke. apikey.manage is an administrative permission:
 * owners and admins need a verified second factor (AC-05), and API keys
 * themselves can never manage keys.
 *
 * Trusts the router for authentication and framing; the tenant module
 * decides permissions inside each transaction. The created key is wiped
 * from this stack once the answer holds it.
 */
#include "http/http_int.h"
#include "store/store.h"
#include "tenant/tenant.h"

#include <sodium.h>
#include <string.h>

#define IPS_TEXT_MAX 2048

static enum bw_rc fields(struct bw_resp *resp, const struct bw_field_errors *fe)
{
    return bw_resp_problem(resp, 400, "invalid-request", "the request has invalid fields", fe);
}

/* allowed_ips: a non-empty JSON array of CIDR strings -> canonical text. */
static void parse_ips(const json_t *body, char out[IPS_TEXT_MAX], struct bw_field_errors *fe)
{
    const json_t *v = json_object_get(body, "allowed_ips");
    struct bw_buf b;
    size_t i;
    json_t *e;
    bool bad = false;
    if (v == NULL || !json_is_array(v) || json_array_size(v) == 0 ||
        json_array_size(v) > BW_APIKEY_MAX_CIDRS) {
        bw_field_error(fe, "allowed_ips", "a non-empty array of at most 32 IPv4/IPv6 CIDRs");
        return;
    }
    bw_buf_init(&b, IPS_TEXT_MAX - 1);
    json_array_foreach(v, i, e)
    {
        const char *s = json_string_value(e);
        size_t len = json_is_string(e) ? json_string_length(e) : 0;
        bad |= s == NULL || len == 0 || len > 64 || strlen(s) != len || strpbrk(s, ", ") != NULL;
        if (!bad)
            bad |= bw_buf_appendf(&b, "%s%s", i ? "," : "", s) != BW_OK;
    }
    if (bad || bw_apikey_cidrs(b.data, out, IPS_TEXT_MAX) != BW_OK)
        bw_field_error(fe, "allowed_ips", "each entry must be an IPv4 or IPv6 address or CIDR");
    bw_buf_free(&b, false);
}

struct create_job {
    const struct bw_config *cfg;
    const struct bw_principal *p;
    const struct bw_audit_ctx *ctx;
    struct bw_apikey_new nk;
    struct bw_tenant_result res;
    struct bw_apikey_created out;
};

static enum bw_rc create_fn(struct bw_tx *tx, void *arg)
{
    struct create_job *j = arg;
    char actor[BW_ACTOR_LEN];
    enum bw_rc rc = bw_tenant_authorize(tx, j->cfg, j->p, j->nk.org_id, BW_PERM_APIKEY_MANAGE,
                                        &j->res);
    bw_principal_actor(j->p, actor);
    if (rc == BW_OK)
        rc = bw_apikey_insert(tx, j->ctx, actor, &j->nk, &j->out);
    return rc;
}

/* The members of the body; false after answering a field problem. */
static bool create_body(struct bw_req *req, struct bw_resp *resp, struct create_job *j,
                        char ips[IPS_TEXT_MAX], enum bw_rc *rc)
{
    static const char *const allowed[] = {"name", "role", "allowed_ips", "expires_at"};
    struct bw_field_errors fe = {.n = 0};
    enum bw_role role = BW_ROLE_NONE;
    size_t nlen = 0, rlen = 0, elen = 0;
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    j->nk.name = bw_body_string(req->json, "name", BW_APIKEY_NAME_MAX, &nlen, &fe);
    j->nk.role = bw_body_string(req->json, "role", BW_ROLE_NAME_MAX, &rlen, &fe);
    if (j->nk.name != NULL && (nlen == 0 || strlen(j->nk.name) != nlen))
        bw_field_error(&fe, "name", "1 to 100 bytes of text");
    if (j->nk.role != NULL &&
        (bw_role_parse(j->nk.role, &role) != BW_OK || !bw_role_apikey_ok(role)))
        bw_field_error(&fe, "role", "one of editor, viewer, auditor (keys have no second "
                                    "factor, so no administrative role)");
    parse_ips(req->json, ips, &fe);
    if (json_object_get(req->json, "expires_at") != NULL &&
        !json_is_null(json_object_get(req->json, "expires_at"))) {
        const char *e = bw_body_string(req->json, "expires_at", 32, &elen, &fe);
        if (e != NULL && (bw_time_parse(e, &j->nk.expires_at) != BW_OK ||
                          j->nk.expires_at <= bw_time_now()))
            bw_field_error(&fe, "expires_at", "an RFC 3339 UTC time in the future");
    }
    if (fe.n == 0)
        return true;
    *rc = fields(resp, &fe);
    return false;
}

enum bw_rc bw_api_apikey_create(struct bw_req *req, struct bw_resp *resp)
{
    struct create_job j;
    struct bw_audit_ctx ctx;
    char ips[IPS_TEXT_MAX] = "";
    enum bw_rc rc = BW_OK;
    memset(&j, 0, sizeof(j));
    if (!create_body(req, resp, &j, ips, &rc))
        return rc;
    bw_req_audit_ctx(req, &ctx);
    j.cfg = req->deps->cfg;
    j.p = &req->principal;
    j.ctx = &ctx;
    j.nk.org_id = req->match.values[0];
    j.nk.allowed_ips = ips;
    rc = bw_store_write(req->deps->store, create_fn, &j);
    if (rc != BW_OK)
        return bw_tenant_answer(req, resp, rc, &j.res);
    char expires[21];
    bw_time_format(j.nk.expires_at, expires);
    json_t *list = json_array();
    for (const char *s = ips; list != NULL && *s != '\0';) {
        size_t len = strcspn(s, ",");
        json_array_append_new(list, json_stringn(s, len));
        s += len + (s[len] == ',');
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o*, s:s}", "id", j.out.id, "key", j.out.key,
                          "name", j.nk.name, "role", j.nk.role, "allowed_ips", list, "org_id",
                          j.nk.org_id);
    if (o != NULL)
        json_object_set_new(o, "expires_at",
                            j.nk.expires_at ? json_string(expires) : json_null());
    sodium_memzero(&j.out, sizeof(j.out));
    return bw_resp_json(resp, 201, o);
}

struct list_job {
    const struct bw_config *cfg;
    const struct bw_principal *p;
    const char *org_id;
    struct bw_tenant_result res;
    json_t *items;
};

static enum bw_rc list_fn(struct bw_tx *tx, void *arg)
{
    struct list_job *j = arg;
    enum bw_rc rc = bw_tenant_authorize(tx, j->cfg, j->p, j->org_id, BW_PERM_APIKEY_MANAGE,
                                        &j->res);
    return rc == BW_OK ? bw_apikey_list(tx, j->org_id, &j->items) : rc;
}

enum bw_rc bw_api_apikey_list(struct bw_req *req, struct bw_resp *resp)
{
    struct list_job j = {req->deps->cfg, &req->principal, req->match.values[0], {0}, NULL};
    enum bw_rc rc = bw_store_read(req->deps->store, list_fn, &j);
    if (rc != BW_OK)
        return bw_tenant_answer(req, resp, rc, &j.res);
    return bw_resp_json(resp, 200, json_pack("{s:o, s:n}", "items", j.items, "next_cursor"));
}

struct revoke_job {
    const struct bw_config *cfg;
    const struct bw_principal *p;
    const struct bw_audit_ctx *ctx;
    const char *org_id;
    const char *id;
    struct bw_tenant_result res;
    bool no_key;
};

static enum bw_rc revoke_fn(struct bw_tx *tx, void *arg)
{
    struct revoke_job *j = arg;
    char actor[BW_ACTOR_LEN];
    enum bw_rc rc = bw_tenant_authorize(tx, j->cfg, j->p, j->org_id, BW_PERM_APIKEY_MANAGE,
                                        &j->res);
    if (rc != BW_OK)
        return rc;
    bw_principal_actor(j->p, actor);
    rc = bw_apikey_revoke(tx, j->ctx, actor, j->org_id, j->id);
    j->no_key = rc == BW_ERR_NOTFOUND;
    return rc;
}

enum bw_rc bw_api_apikey_revoke(struct bw_req *req, struct bw_resp *resp)
{
    struct bw_audit_ctx ctx;
    bw_req_audit_ctx(req, &ctx);
    struct revoke_job j = {req->deps->cfg, &req->principal, &ctx, req->match.values[0],
                           req->match.values[1], {0}, false};
    enum bw_rc rc = bw_store_write(req->deps->store, revoke_fn, &j);
    if (rc == BW_ERR_NOTFOUND && j.no_key)
        return bw_resp_problem(resp, 404, NULL, "no such API key", NULL);
    if (rc != BW_OK)
        return bw_tenant_answer(req, resp, rc, &j.res);
    resp->status = 204;
    return BW_OK;
}
