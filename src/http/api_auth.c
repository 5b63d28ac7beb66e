/*
 * api_auth.c - the identity routes of SPEC 5: login, logout, password
 * change, own sessions, TOTP enrolment and verification, /users/me and the
 * administrators' invitation (POST /users). Bodies arrive parsed and checked
 * by the pipeline, and the router has already applied the route's gates
 * (session, expired password, second factor, administrator); these handlers
 * check members (unknown members and wrong types are field errors), call
 * the auth module and shape the answers. Login failures are one answer, 401,
 * whatever the reason; a refused OTP or recovery code is one answer, 403,
 * whether wrong, replayed or locked out (SPEC 5).
 * Never echoes a password, token, TOTP secret or recovery code except the
 * new ones, once, to their owner; local copies are wiped.
 */
#include "http/http_int.h"
#include "store/store.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

void bw_req_audit_ctx(const struct bw_req *req, struct bw_audit_ctx *ctx)
{
    /* whole-struct assignment: fields added later (org, ...) start NULL */
    *ctx = (struct bw_audit_ctx){.remote = req->remote, .request_id = req->request_id};
    /* the organisation the request addressed ({org} is always the first
     * parameter of organisation routes), else an API key's own */
    static const char org_prefix[] = "/api/v1/orgs/{org}";
    if (req->matched && req->match.nparams > 0 &&
        strncmp(req->match.route->pattern, org_prefix, sizeof(org_prefix) - 1) == 0)
        ctx->org = req->match.values[0];
    else if (req->principal.apikey_id[0] != '\0')
        ctx->org = req->principal.apikey_org;
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
    char expires[21], csrf[BW_CSRF_LEN + 1];
    bw_time_format(login.expires_at, expires);
    /* both modes at once: the token for API clients, the cookie + CSRF token for browsers */
    rc = bw_csrf_token(req->deps->keyring, login.token, csrf);
    if (rc == BW_OK)
        rc = bw_session_cookie(resp, login.token, req->deps->cfg->session_absolute_timeout);
    json_t *o = rc == BW_OK ? json_pack("{s:s, s:s, s:s, s:b, s:b}", "token", login.token,
                                        "csrf_token", csrf, "expires_at", expires,
                                        "mfa_required", login.mfa_required, "password_expired",
                                        login.password_expired)
                            : NULL;
    sodium_memzero(&login, sizeof(login));
    sodium_memzero(csrf, sizeof(csrf));
    if (rc != BW_OK)
        return rc;
    return bw_resp_json(resp, 200, o);
}

enum bw_rc bw_api_logout(struct bw_req *req, struct bw_resp *resp)
{
    struct bw_audit_ctx ctx;
    bw_req_audit_ctx(req, &ctx);
    enum bw_rc rc =
        bw_session_revoke(req->deps->store, &ctx, &req->principal, req->principal.session_id);
    if (rc == BW_OK)
        rc = bw_session_cookie(resp, NULL, 0);
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

/* Answers from the account state read with the session in the same request:
 * no second read of the store. */
enum bw_rc bw_api_me(struct bw_req *req, struct bw_resp *resp)
{
    const struct bw_principal *p = &req->principal;
    char created[21], expires[21];
    bw_time_format(p->created_at, created);
    bw_time_format(p->password_expires_at, expires);
    json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:s, s:b, s:b, s:b}", "id", p->user_id, "email",
                          p->email, "status", p->status, "platform_admin", p->platform_admin,
                          "created_at", created, "password_expired", p->password_only,
                          "mfa_enabled", p->mfa_enabled, "mfa_verified", p->mfa_verified);
    if (o != NULL)
        json_object_set_new(o, "password_expires_at",
                            p->password_expires_at ? json_string(expires) : json_null());
    return bw_resp_json(resp, 200, o);
}

/* ---- the second factor ---------------------------------------------------------- */

#define CODE_MAX 32

/* The refusal of a code: wrong, replayed and locked out look the same. */
static enum bw_rc code_refused(struct bw_resp *resp)
{
    struct bw_field_errors fe = {.n = 0};
    bw_field_error(&fe, "code", "not accepted: wrong, already used, or too many attempts");
    return bw_resp_problem(resp, 403, "invalid-code", "the code was not accepted", &fe);
}

static enum bw_rc code_malformed(struct bw_resp *resp, const char *what)
{
    struct bw_field_errors fe = {.n = 0};
    bw_field_error(&fe, "code", what);
    return field_problem(resp, &fe);
}

/* The {code} body of the MFA routes; NULL after answering a field problem. */
static const char *code_member(struct bw_req *req, struct bw_resp *resp, enum bw_rc *rc)
{
    static const char *const allowed[] = {"code"};
    struct bw_field_errors fe = {.n = 0};
    size_t len = 0;
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    const char *code = bw_body_string(req->json, "code", CODE_MAX, &len, &fe);
    if (code != NULL && strlen(code) != len)
        bw_field_error(&fe, "code", "must not contain NUL characters");
    if (fe.n == 0)
        return code;
    *rc = field_problem(resp, &fe);
    return NULL;
}

/* AES-GCM needs AES-NI/PCLMUL: without them no seed can be sealed or opened. */
static enum bw_rc no_aead(struct bw_resp *resp)
{
    return bw_resp_problem(resp, 501, "unsupported",
                           "this server cannot seal secrets (no AES-GCM on its CPU)", NULL);
}

/* The answers confirm and verify share for a refused code; false when rc is
 * none of them and the caller decides. */
static bool code_outcome(struct bw_resp *resp, enum bw_rc rc, const char *malformed,
                         enum bw_rc *answer)
{
    if (rc == BW_ERR_INVALID)
        *answer = code_malformed(resp, malformed);
    else if (rc == BW_ERR_PERM)
        *answer = code_refused(resp);
    else if (rc == BW_ERR_UNSUPPORTED)
        *answer = no_aead(resp);
    else
        return false;
    return true;
}

enum bw_rc bw_api_mfa_enroll(struct bw_req *req, struct bw_resp *resp)
{
    struct bw_audit_ctx ctx;
    struct bw_mfa_enrolment e;
    bw_req_audit_ctx(req, &ctx);
    enum bw_rc rc = bw_mfa_enroll(req->deps->store, req->deps->keyring, &ctx, &req->principal, &e);
    if (rc == BW_ERR_EXISTS)
        return bw_resp_problem(resp, 409, "mfa-enabled",
                               "MFA is already enabled; an administrator can reset it", NULL);
    if (rc == BW_ERR_UNSUPPORTED)
        return no_aead(resp);
    if (rc != BW_OK)
        return rc;
    json_t *o = json_pack("{s:s, s:s%, s:s%}", "secret", e.secret, "otpauth_uri", e.uri.data,
                          e.uri.len, "qr_svg", e.svg.data, e.svg.len);
    bw_mfa_enrolment_cleanup(&e);
    return bw_resp_json(resp, 200, o);
}

enum bw_rc bw_api_mfa_confirm(struct bw_req *req, struct bw_resp *resp)
{
    struct bw_audit_ctx ctx;
    struct bw_recovery_codes codes;
    enum bw_rc rc = BW_OK, answer;
    const char *code = code_member(req, resp, &rc);
    if (code == NULL)
        return rc;
    bw_req_audit_ctx(req, &ctx);
    rc = bw_mfa_confirm(req->deps->store, req->deps->cfg, req->deps->keyring, &ctx,
                        &req->principal, code, &codes);
    if (code_outcome(resp, rc, "must be the 6-digit code of the authenticator app", &answer))
        return answer;
    if (rc == BW_ERR_NOTFOUND)
        return bw_resp_problem(resp, 409, "no-enrolment",
                               "no enrolment to confirm: POST /api/v1/auth/mfa/enroll first",
                               NULL);
    if (rc == BW_ERR_EXISTS)
        return bw_resp_problem(resp, 409, "mfa-enabled", "MFA is already enabled", NULL);
    if (rc != BW_OK)
        return rc;
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < BW_RECOVERY_CODES; i++) {
        if (json_array_append_new(list, json_string(codes.code[i])) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    sodium_memzero(&codes, sizeof(codes));
    if (list == NULL)
        return BW_ERR_NOMEM;
    return bw_resp_json(resp, 200, json_pack("{s:o}", "recovery_codes", list));
}

enum bw_rc bw_api_mfa_verify(struct bw_req *req, struct bw_resp *resp)
{
    struct bw_audit_ctx ctx;
    bool recovery = false;
    enum bw_rc rc = BW_OK, answer;
    const char *code = code_member(req, resp, &rc);
    if (code == NULL)
        return rc;
    bw_req_audit_ctx(req, &ctx);
    rc = bw_mfa_verify(req->deps->store, req->deps->cfg, req->deps->keyring, &ctx,
                       &req->principal, code, &recovery);
    if (code_outcome(resp, rc, "must be a 6-digit code or a recovery code", &answer))
        return answer;
    if (rc == BW_ERR_NOTFOUND)
        return bw_resp_problem(resp, 409, "mfa-not-enabled",
                               "MFA is not enabled for this account", NULL);
    if (rc != BW_OK)
        return rc;
    return bw_resp_json(resp, 200, json_pack("{s:b, s:s}", "mfa_verified", 1, "method",
                                             recovery ? "recovery_code" : "totp"));
}

/* ---- administration -------------------------------------------------------------- */

/* Answers a refused creation; BW_OK when it did. */
static enum bw_rc create_problem(struct bw_resp *resp, enum bw_rc rc,
                                 const struct bw_password_errors *pe)
{
    struct bw_field_errors fe = {.n = 0};
    if (rc == BW_ERR_INVALID && pe->n == 0) {
        bw_field_error(&fe, "email", "not a valid e-mail address");
        return field_problem(resp, &fe);
    }
    if (rc == BW_ERR_INVALID)
        return password_problem(resp, "password", pe);
    if (rc == BW_ERR_EXISTS) {
        bw_field_error(&fe, "email", "already in use");
        return bw_resp_problem(resp, 409, "conflict", "a user with this e-mail address exists",
                               &fe);
    }
    return rc;
}

/* SPEC 5 sign-up, when users.signup is on: anyone creates an account with
 * their own password under the policy. The answer is the same 202 whether
 * the address was free or already taken, so sign-up never tells whether an
 * account exists (the hash is computed in both cases: same time too); the
 * new user signs in to learn their id. Off (the default): 401, as before. */
static enum bw_rc signup(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"email", "password"};
    struct bw_field_errors fe = {.n = 0};
    struct bw_password_errors pe = {.n = 0};
    struct bw_audit_ctx ctx;
    struct bw_user u;
    size_t elen = 0, plen = 0;
    if (!req->deps->cfg->users_signup)
        return bw_resp_problem(resp, 401, "unauthenticated",
                               "authentication required (sign-up is off: ask an administrator "
                               "for an invitation)",
                               NULL);
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    const char *email = bw_body_string(req->json, "email", BW_EMAIL_MAX, &elen, &fe);
    if (email != NULL && strlen(email) != elen)
        bw_field_error(&fe, "email", "not a valid e-mail address");
    const char *pw = bw_body_string(req->json, "password", BW_PASSWORD_MAX_BYTES, &plen, &fe);
    if (fe.n > 0)
        return field_problem(resp, &fe);
    bw_req_audit_ctx(req, &ctx);
    struct bw_user_new nu = {email, pw, plen, false, false};
    enum bw_rc rc = bw_user_create(req->deps->store, req->deps->cfg, &ctx, "anonymous", &nu, &pe, &u);
    if (rc != BW_OK && rc != BW_ERR_EXISTS)
        return create_problem(resp, rc, &pe);
    return bw_resp_json(resp, 202,
                        json_pack("{s:s}", "detail",
                                  "if the address was free, the account now exists: sign in"));
}

/* SPEC 5: an administrator invites a user with an initial password that
 * expires in 24 h and must be changed at first use (CONTROL: G-08); when the
 * body has none, one is generated and shown once in the answer. Without
 * credentials the request is a sign-up (above). */
enum bw_rc bw_api_user_create(struct bw_req *req, struct bw_resp *resp)
{
    if (!req->authenticated)
        return signup(req, resp);
    static const char *const allowed[] = {"email", "password"};
    struct bw_field_errors fe = {.n = 0};
    struct bw_password_errors pe = {.n = 0};
    struct bw_audit_ctx ctx;
    struct bw_user u;
    char generated[BW_PASSWORD_GEN_LEN + 1] = "";
    char actor[BW_ID_LEN + 8];
    size_t elen = 0, plen = BW_PASSWORD_GEN_LEN;
    const char *pw = generated;
    bool gen = json_object_get(req->json, "password") == NULL;
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    const char *email = bw_body_string(req->json, "email", BW_EMAIL_MAX, &elen, &fe);
    if (email != NULL && strlen(email) != elen)
        bw_field_error(&fe, "email", "not a valid e-mail address");
    if (gen)
        bw_password_generate(generated);
    else
        pw = bw_body_string(req->json, "password", BW_PASSWORD_MAX_BYTES, &plen, &fe);
    enum bw_rc rc = fe.n > 0 ? field_problem(resp, &fe) : BW_OK;
    if (fe.n > 0)
        goto out;
    bw_req_audit_ctx(req, &ctx);
    snprintf(actor, sizeof(actor), "user:%s", req->principal.user_id);
    struct bw_user_new nu = {email, pw, plen, false, true};
    rc = bw_user_create(req->deps->store, req->deps->cfg, &ctx, actor, &nu, &pe, &u);
    if (rc != BW_OK) {
        rc = create_problem(resp, rc, &pe);
        goto out;
    }
    json_t *o = json_pack("{s:s, s:s}", "id", u.id, "email", u.email);
    if (o != NULL && gen)
        json_object_set_new(o, "initial_password", json_string(generated));
    rc = bw_resp_json(resp, 201, o);
out:
    sodium_memzero(generated, sizeof(generated));
    return rc;
}
