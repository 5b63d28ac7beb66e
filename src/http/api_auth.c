/*
 * api_auth.c - the identity routes of SPEC 5: login, logout, password
 * change, own sessions, and /users/me. Bodies arrive parsed and checked by
 * the pipeline; these handlers check members (unknown members and wrong
 * types are field errors), call the auth module and shape the answers.
 * Login failures are one answer, 401, whatever the reason (SPEC 5).
 * Never echoes a password or token except the new token, once, to its owner.
 */
#include "http/http_int.h"
#include "store/store.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

void bw_req_audit_ctx(const struct bw_req *req, struct bw_audit_ctx *ctx)
{
    ctx->remote = req->remote;
    ctx->request_id = req->request_id;
}

static enum bw_rc field_problem(struct bw_resp *resp, const struct bw_field_errors *fe)
{
    return bw_resp_problem(resp, 400, "invalid-request", "the request has invalid fields", fe);
}

static enum bw_rc password_problem(struct bw_resp *resp, const char *field,
                                   const struct bw_password_errors *pe)
{
    struct bw_field_errors fe = {.n = 0};
    for (size_t i = 0; i < pe->n; i++)
        bw_field_error(&fe, field, pe->msg[i]);
    if (fe.n == 0)
        bw_field_error(&fe, field, "not accepted");
    return bw_resp_problem(resp, 400, "weak-password", "the password does not meet the policy",
                           &fe);
}

enum bw_rc bw_api_login(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"email", "password"};
    struct bw_field_errors fe = {.n = 0};
    struct bw_audit_ctx ctx;
    struct bw_login login;
    size_t elen = 0, plen = 0;
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    const char *email = bw_body_string(req->json, "email", BW_EMAIL_MAX, &elen, &fe);
    const char *pw = bw_body_string(req->json, "password", BW_PASSWORD_MAX_BYTES, &plen, &fe);
    if (fe.n > 0)
        return field_problem(resp, &fe);
    bw_req_audit_ctx(req, &ctx);
    enum bw_rc rc = bw_auth_login(req->deps->store, req->deps->cfg, &ctx, email, pw, plen, &login);
    if (rc == BW_ERR_PERM)
        return bw_resp_problem(resp, 401, "unauthenticated", "invalid e-mail or password", NULL);
    if (rc != BW_OK)
        return rc;
    char expires[21];
    bw_time_format(login.expires_at, expires);
    json_t *o = json_pack("{s:s, s:n, s:s, s:b, s:b}", "token", login.token, "csrf_token",
                          "expires_at", expires, "mfa_required", 0, "password_expired",
                          login.password_expired);
    sodium_memzero(&login, sizeof(login));
    return bw_resp_json(resp, 200, o);
}

enum bw_rc bw_api_logout(struct bw_req *req, struct bw_resp *resp)
{
    struct bw_audit_ctx ctx;
    bw_req_audit_ctx(req, &ctx);
    enum bw_rc rc =
        bw_session_revoke(req->deps->store, &ctx, &req->principal, req->principal.session_id);
    if (rc != BW_OK)
        return rc;
    resp->status = 204;
    return BW_OK;
}

enum bw_rc bw_api_password(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"current", "new"};
    struct bw_field_errors fe = {.n = 0};
    struct bw_password_errors pe = {.n = 0};
    struct bw_audit_ctx ctx;
    size_t clen = 0, nlen = 0;
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    const char *cur = bw_body_string(req->json, "current", BW_PASSWORD_MAX_BYTES, &clen, &fe);
    const char *next = bw_body_string(req->json, "new", BW_PASSWORD_MAX_BYTES, &nlen, &fe);
    if (fe.n > 0)
        return field_problem(resp, &fe);
    bw_req_audit_ctx(req, &ctx);
    enum bw_rc rc = bw_user_change_password(req->deps->store, req->deps->cfg, &ctx,
                                            req->principal.user_id, cur, clen, next, nlen, &pe);
    if (rc == BW_ERR_PERM) {
        bw_field_error(&fe, "current", "incorrect");
        return bw_resp_problem(resp, 403, "wrong-password", "the current password is incorrect",
                               &fe);
    }
    if (rc == BW_ERR_INVALID)
        return password_problem(resp, "new", &pe);
    if (rc != BW_OK)
        return rc;
    resp->status = 204; /* every session ended, this one included: log in again */
    return BW_OK;
}

enum bw_rc bw_api_sessions(struct bw_req *req, struct bw_resp *resp)
{
    json_t *items = NULL;
    enum bw_rc rc = bw_session_list(req->deps->store, &req->principal, &items);
    if (rc != BW_OK)
        return rc;
    return bw_resp_json(resp, 200, json_pack("{s:o, s:n}", "items", items, "next_cursor"));
}

enum bw_rc bw_api_session_delete(struct bw_req *req, struct bw_resp *resp)
{
    struct bw_audit_ctx ctx;
    bw_req_audit_ctx(req, &ctx);
    enum bw_rc rc =
        bw_session_revoke(req->deps->store, &ctx, &req->principal, req->match.values[0]);
    if (rc == BW_ERR_NOTFOUND)
        return bw_resp_problem(resp, 404, NULL, "no such session", NULL);
    if (rc != BW_OK)
        return rc;
    resp->status = 204;
    return BW_OK;
}

struct me {
    const char *id;
    struct bw_user u;
};

static enum bw_rc me_fn(struct bw_tx *tx, void *arg)
{
    struct me *m = arg;
    return bw_user_by_id(tx, m->id, &m->u);
}

enum bw_rc bw_api_me(struct bw_req *req, struct bw_resp *resp)
{
    struct me m = {.id = req->principal.user_id};
    enum bw_rc rc = bw_store_read(req->deps->store, me_fn, &m);
    if (rc != BW_OK)
        return rc;
    char created[21], expires[21];
    bw_time_format(m.u.created_at, created);
    bw_time_format(m.u.password_expires_at, expires);
    json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:s, s:b}", "id", m.u.id, "email", m.u.email,
                          "status", m.u.status, "platform_admin", m.u.platform_admin,
                          "created_at", created, "password_expired", req->principal.password_only);
    if (o != NULL)
        json_object_set_new(o, "password_expires_at",
                            m.u.password_expires_at ? json_string(expires) : json_null());
    return bw_resp_json(resp, 200, o);
}
