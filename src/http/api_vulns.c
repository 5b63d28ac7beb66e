/*
 * api_vulns.c - the vulnerability routes of SPEC 5 (issue 7): the register
 * for platform administrators (list, add, show, rate, close, read a sealed
 * researcher report, the SBOM) and the researchers' intake
 * POST /api/v1/vulnerability-reports, open to anyone but throttled per
 * address and capped in size by its route row (CONTROL: VUL-07, VUL-08).
 * The intake answers only a tracking id; it never echoes the report.
 */
#include "crypto/crypto.h"
#include "http/http_int.h"
#include "store/store.h"
#include "vuln/vuln.h"

#include <string.h>

static enum bw_rc field_problem(struct bw_resp *resp, const struct bw_field_errors *fe)
{
    return bw_resp_problem(resp, 400, "invalid-request", "the request has invalid fields", fe);
}

static const char *opt_string(const json_t *body, const char *name, size_t max,
                              struct bw_field_errors *fe)
{
    size_t len = 0;
    if (json_object_get(body, name) == NULL || json_is_null(json_object_get(body, name)))
        return NULL;
    return bw_body_string(body, name, max, &len, fe);
}

enum bw_rc bw_api_vulns(struct bw_req *req, struct bw_resp *resp)
{
    json_t *o = NULL;
    enum bw_rc rc = bw_vuln_list(req->deps->store, &o);
    return rc == BW_OK ? bw_resp_json(resp, 200, o) : rc;
}

static enum bw_rc answer_vuln(struct bw_req *req, struct bw_resp *resp, const char *id,
                              int status)
{
    json_t *o = NULL;
    struct bw_reg_err err = {"", ""};
    enum bw_rc rc = bw_vuln_get(req->deps->store, id, &o);
    return rc == BW_OK ? bw_resp_json(resp, status, o)
                       : bw_reg_answer(resp, rc, &err, "vulnerability");
}

enum bw_rc bw_api_vuln_create(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"title", "component", "version", "cve",
                                          "severity", "scope", "found_at"};
    struct bw_field_errors fe = {.n = 0};
    struct bw_reg_err err = {"", ""};
    struct bw_audit_ctx ctx;
    char actor[BW_ID_LEN + 8], id[BW_ID_LEN + 1];
    size_t len = 0;
    int64_t found = 0;
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    struct bw_vuln_new in = {
        bw_body_string(req->json, "title", BW_VULN_TEXT_MAX, &len, &fe),
        bw_body_string(req->json, "component", BW_VULN_TEXT_MAX, &len, &fe),
        opt_string(req->json, "version", 64, &fe),
        opt_string(req->json, "cve", 32, &fe),
        bw_body_string(req->json, "severity", 16, &len, &fe),
        bw_body_string(req->json, "scope", 16, &len, &fe),
        0, "manual", NULL};
    const char *found_s = opt_string(req->json, "found_at", 32, &fe);
    if (found_s != NULL && bw_time_parse(found_s, &found) != BW_OK)
        bw_field_error(&fe, "found_at", "must be an RFC 3339 UTC time");
    in.found_at = found;
    if (fe.n > 0)
        return field_problem(resp, &fe);
    bw_req_audit_ctx(req, &ctx);
    bw_req_actor(req, actor);
    enum bw_rc rc = bw_vuln_add(req->deps->store, req->deps->cfg, &ctx, actor, &in, id, &err);
    return rc == BW_OK ? answer_vuln(req, resp, id, 201)
                       : bw_reg_answer(resp, rc, &err, "vulnerability");
}

enum bw_rc bw_api_vuln_get(struct bw_req *req, struct bw_resp *resp)
{
    return answer_vuln(req, resp, req->match.values[0], 200);
}

enum bw_rc bw_api_vuln_close(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"fixed_release", "exception"};
    struct bw_field_errors fe = {.n = 0};
    struct bw_reg_err err = {"", ""};
    struct bw_audit_ctx ctx;
    char actor[BW_ID_LEN + 8];
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    const char *rel = opt_string(req->json, "fixed_release", 64, &fe);
    const char *exc = opt_string(req->json, "exception", BW_INC_TEXT_MAX, &fe);
    if (fe.n > 0)
        return field_problem(resp, &fe);
    bw_req_audit_ctx(req, &ctx);
    bw_req_actor(req, actor);
    enum bw_rc rc = bw_vuln_close(req->deps->store, &ctx, actor, req->match.values[0], rel, exc,
                                  &err);
    return rc == BW_OK ? answer_vuln(req, resp, req->match.values[0], 200)
                       : bw_reg_answer(resp, rc, &err, "vulnerability");
}

enum bw_rc bw_api_vuln_rate(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"severity", "scope"};
    struct bw_field_errors fe = {.n = 0};
    struct bw_reg_err err = {"", ""};
    struct bw_audit_ctx ctx;
    char actor[BW_ID_LEN + 8];
    size_t len = 0;
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    const char *sev = bw_body_string(req->json, "severity", 16, &len, &fe);
    const char *scope = bw_body_string(req->json, "scope", 16, &len, &fe);
    if (fe.n > 0)
        return field_problem(resp, &fe);
    bw_req_audit_ctx(req, &ctx);
    bw_req_actor(req, actor);
    enum bw_rc rc = bw_vuln_rate(req->deps->store, req->deps->cfg, &ctx, actor,
                                 req->match.values[0], sev, scope, &err);
    return rc == BW_OK ? answer_vuln(req, resp, req->match.values[0], 200)
                       : bw_reg_answer(resp, rc, &err, "vulnerability");
}

/* CONTROL: VUL-08 - the private channel for researchers */
enum bw_rc bw_api_vuln_report(struct bw_req *req, struct bw_resp *resp)
{
    struct bw_reg_err err = {"", ""};
    struct bw_audit_ctx ctx;
    char id[BW_ID_LEN + 1];
    bw_req_audit_ctx(req, &ctx);
    enum bw_rc rc = bw_vuln_report_intake(req->deps->store, req->deps->cfg, req->deps->keyring,
                                          &ctx, req->json, id, &err);
    if (rc == BW_ERR_UNSUPPORTED)
        return bw_resp_problem(resp, 503, NULL, "reports cannot be stored on this server", NULL);
    if (rc != BW_OK)
        return bw_reg_answer(resp, rc, &err, "report");
    return bw_resp_json(resp, 202,
                        json_pack("{s:s, s:s}", "tracking_id", id, "status", "received"));
}

enum bw_rc bw_api_vuln_report_get(struct bw_req *req, struct bw_resp *resp)
{
    json_t *o = NULL;
    struct bw_reg_err err = {"", ""};
    enum bw_rc rc = bw_vuln_report_open(req->deps->store, req->deps->keyring,
                                        req->match.values[0], &o);
    return rc == BW_OK ? bw_resp_json(resp, 200, o) : bw_reg_answer(resp, rc, &err, "report");
}

/* CONTROL: SUP-01 - the SBOM at an administrators' route */
enum bw_rc bw_api_sbom(struct bw_req *req, struct bw_resp *resp)
{
    json_t *o = NULL;
    enum bw_rc rc = bw_sbom_cyclonedx(&o);
    return rc == BW_OK ? bw_resp_json(resp, 200, o) : rc;
}
