/*
 * api_incidents.c - the incident routes of SPEC 5 (issue 7), platform
 * administrators only (the route rows say BW_ROUTE_ADMIN): list, open,
 * show, transition, assessment, submissions to authorities, containment,
 * report drafts and the overdue list. Bodies arrive parsed; these handlers
 * check member names and types and hand the values to src/incident, whose
 * refusals (struct bw_reg_err) become RFC 9457 field errors.
 */
#include "http/http_int.h"
#include "incident/incident.h"
#include "store/store.h"

#include <string.h>

/* The actor of an administrator's request. */
void bw_req_actor(const struct bw_req *req, char out[BW_ID_LEN + 8])
{
    bw_why(out, BW_ID_LEN + 8, "user:%s", req->principal.user_id);
}

/* Maps a register refusal to its answer; other codes go to the pipeline. */
enum bw_rc bw_reg_answer(struct bw_resp *resp, enum bw_rc rc, const struct bw_reg_err *err,
                         const char *what)
{
    struct bw_field_errors fe = {.n = 0};
    char detail[160];
    if (err->field[0] != '\0')
        bw_field_error(&fe, err->field, err->msg);
    if (rc == BW_ERR_INVALID)
        return bw_resp_problem(resp, 400, "invalid-request", "the request has invalid fields",
                               &fe);
    if (rc == BW_ERR_CONFLICT)
        return bw_resp_problem(resp, 409, "conflict",
                               err->msg[0] ? err->msg : "the state does not allow this", &fe);
    if (rc == BW_ERR_NOTFOUND) {
        bw_why(detail, sizeof(detail), "no such %s", what);
        return bw_resp_problem(resp, 404, NULL, detail, NULL);
    }
    return rc;
}

/* An optional string member; NULL when absent. */
static const char *opt_string(const json_t *body, const char *name, size_t max,
                              struct bw_field_errors *fe)
{
    size_t len = 0;
    if (json_object_get(body, name) == NULL)
        return NULL;
    return bw_body_string(body, name, max, &len, fe);
}

static enum bw_rc field_problem(struct bw_resp *resp, const struct bw_field_errors *fe)
{
    return bw_resp_problem(resp, 400, "invalid-request", "the request has invalid fields", fe);
}

enum bw_rc bw_api_incidents(struct bw_req *req, struct bw_resp *resp)
{
    json_t *o = NULL;
    enum bw_rc rc = bw_incident_list(req->deps->store, req->deps->cfg, &o);
    return rc == BW_OK ? bw_resp_json(resp, 200, o) : rc;
}

static int flag_member(const json_t *body, const char *name, struct bw_field_errors *fe)
{
    json_t *v = json_object_get(body, name);
    if (v == NULL || json_is_null(v))
        return -1;
    if (!json_is_boolean(v)) {
        bw_field_error(fe, name, "must be true, false or null");
        return -1;
    }
    return json_is_true(v) ? 1 : 0;
}

enum bw_rc bw_api_incident_create(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"title",         "severity", "aware_at", "significant",
                                          "personal_data", "note"};
    struct bw_field_errors fe = {.n = 0};
    struct bw_reg_err err = {"", ""};
    struct bw_audit_ctx ctx;
    char actor[BW_ID_LEN + 8], id[BW_ID_LEN + 1];
    size_t len = 0;
    int64_t aware = 0;
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    const char *title = bw_body_string(req->json, "title", BW_INC_TITLE_MAX, &len, &fe);
    const char *sev = bw_body_string(req->json, "severity", 4, &len, &fe);
    const char *aware_s = opt_string(req->json, "aware_at", 32, &fe);
    const char *note = opt_string(req->json, "note", BW_INC_NOTE_MAX, &fe);
    if (aware_s != NULL && bw_time_parse(aware_s, &aware) != BW_OK)
        bw_field_error(&fe, "aware_at", "must be an RFC 3339 UTC time");
    struct bw_incident_new in = {title, sev, aware, flag_member(req->json, "significant", &fe),
                                 flag_member(req->json, "personal_data", &fe), note, NULL};
    if (fe.n > 0)
        return field_problem(resp, &fe);
    bw_req_audit_ctx(req, &ctx);
    bw_req_actor(req, actor);
    enum bw_rc rc = bw_incident_open(req->deps->store, req->deps->cfg, &ctx, actor, &in, id, &err);
    if (rc != BW_OK)
        return bw_reg_answer(resp, rc, &err, "incident");
    json_t *o = NULL;
    rc = bw_incident_get(req->deps->store, req->deps->cfg, id, &o);
    return rc == BW_OK ? bw_resp_json(resp, 201, o) : rc;
}

enum bw_rc bw_api_incident_get(struct bw_req *req, struct bw_resp *resp)
{
    json_t *o = NULL;
    struct bw_reg_err err = {"", ""};
    enum bw_rc rc = bw_incident_get(req->deps->store, req->deps->cfg, req->match.values[0], &o);
    return rc == BW_OK ? bw_resp_json(resp, 200, o) : bw_reg_answer(resp, rc, &err, "incident");
}

/* Answers the incident as it is after a change. */
static enum bw_rc answer_incident(struct bw_req *req, struct bw_resp *resp, int status)
{
    json_t *o = NULL;
    enum bw_rc rc = bw_incident_get(req->deps->store, req->deps->cfg, req->match.values[0], &o);
    return rc == BW_OK ? bw_resp_json(resp, status, o) : rc;
}

enum bw_rc bw_api_incident_transition(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"to", "note", "root_cause", "lessons"};
    struct bw_field_errors fe = {.n = 0};
    struct bw_reg_err err = {"", ""};
    struct bw_audit_ctx ctx;
    char actor[BW_ID_LEN + 8];
    size_t len = 0;
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    const char *to = bw_body_string(req->json, "to", 32, &len, &fe);
    const char *note = bw_body_string(req->json, "note", BW_INC_NOTE_MAX, &len, &fe);
    const char *cause = opt_string(req->json, "root_cause", BW_INC_TEXT_MAX, &fe);
    const char *lessons = opt_string(req->json, "lessons", BW_INC_TEXT_MAX, &fe);
    if (fe.n > 0)
        return field_problem(resp, &fe);
    bw_req_audit_ctx(req, &ctx);
    bw_req_actor(req, actor);
    enum bw_rc rc = bw_incident_transition(req->deps->store, req->deps->cfg, &ctx, actor,
                                           req->match.values[0], to, note, cause, lessons, &err);
    return rc == BW_OK ? answer_incident(req, resp, 200)
                       : bw_reg_answer(resp, rc, &err, "incident");
}

enum bw_rc bw_api_incident_assess(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"significant", "personal_data", "facts"};
    struct bw_field_errors fe = {.n = 0};
    struct bw_reg_err err = {"", ""};
    struct bw_audit_ctx ctx;
    char actor[BW_ID_LEN + 8];
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    if (fe.n > 0)
        return field_problem(resp, &fe);
    bw_req_audit_ctx(req, &ctx);
    bw_req_actor(req, actor);
    enum bw_rc rc = bw_incident_assess(req->deps->store, req->deps->cfg, &ctx, actor,
                                       req->match.values[0], req->json, &err);
    return rc == BW_OK ? answer_incident(req, resp, 200)
                       : bw_reg_answer(resp, rc, &err, "incident");
}

enum bw_rc bw_api_incident_submit(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"kind", "content", "delay_reason"};
    struct bw_field_errors fe = {.n = 0};
    struct bw_reg_err err = {"", ""};
    struct bw_audit_ctx ctx;
    char actor[BW_ID_LEN + 8], sid[BW_ID_LEN + 1];
    size_t len = 0;
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    const char *kind = bw_body_string(req->json, "kind", 32, &len, &fe);
    const char *content = bw_body_string(req->json, "content", BW_INC_CONTENT_MAX, &len, &fe);
    const char *delay = opt_string(req->json, "delay_reason", BW_INC_TEXT_MAX, &fe);
    if (fe.n > 0)
        return field_problem(resp, &fe);
    bw_req_audit_ctx(req, &ctx);
    bw_req_actor(req, actor);
    enum bw_rc rc = bw_incident_submit(req->deps->store, req->deps->cfg, &ctx, actor,
                                       req->match.values[0], kind, content, delay, sid, &err);
    return rc == BW_OK ? answer_incident(req, resp, 201)
                       : bw_reg_answer(resp, rc, &err, "incident");
}

enum bw_rc bw_api_incident_contain(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"action", "user", "org", "enabled"};
    struct bw_field_errors fe = {.n = 0};
    struct bw_reg_err err = {"", ""};
    struct bw_audit_ctx ctx;
    char actor[BW_ID_LEN + 8];
    size_t len = 0;
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    const char *action = bw_body_string(req->json, "action", 32, &len, &fe);
    const char *user = opt_string(req->json, "user", BW_EMAIL_MAX, &fe);
    const char *org = opt_string(req->json, "org", BW_ID_LEN, &fe);
    json_t *en = json_object_get(req->json, "enabled");
    if (en != NULL && !json_is_boolean(en))
        bw_field_error(&fe, "enabled", "must be true or false");
    if (fe.n > 0)
        return field_problem(resp, &fe);
    bw_req_audit_ctx(req, &ctx);
    bw_req_actor(req, actor);
    json_t *result = NULL;
    enum bw_rc rc = bw_incident_contain(req->deps->store, req->deps->cfg, &ctx, actor,
                                        req->match.values[0], action, user, org,
                                        en == NULL || json_is_true(en), &result, &err);
    return rc == BW_OK ? bw_resp_json(resp, 200, result)
                       : bw_reg_answer(resp, rc, &err,
                                       strcmp(err.field, "org") == 0 ? "organisation"
                                       : err.field[0]                ? "account"
                                                                     : "incident");
}

enum bw_rc bw_api_incident_report(struct bw_req *req, struct bw_resp *resp)
{
    struct bw_reg_err err = {"", ""};
    json_t *o = NULL;
    enum bw_rc rc = bw_incident_report(req->deps->store, req->deps->cfg, req->match.values[0],
                                       req->match.values[1], &o, &err);
    return rc == BW_OK ? bw_resp_json(resp, 200, o) : bw_reg_answer(resp, rc, &err, "incident");
}

/* CONTROL: INC-06 - any signed-in user (not an API key: the route row
 * does not allow them) reports a suspicious event; the answer is a
 * receipt, never the register. */
enum bw_rc bw_api_incident_staff_report(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"description"};
    struct bw_field_errors fe = {.n = 0};
    struct bw_reg_err err = {"", ""};
    struct bw_audit_ctx ctx;
    char id[BW_ID_LEN + 1], at[21];
    size_t len = 0;
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    const char *desc = bw_body_string(req->json, "description", BW_INC_NOTE_MAX, &len, &fe);
    if (fe.n > 0)
        return field_problem(resp, &fe);
    bw_req_audit_ctx(req, &ctx);
    enum bw_rc rc = bw_incident_staff_report(req->deps->store, req->deps->cfg, &ctx,
                                             req->principal.user_id, req->principal.email, desc,
                                             id, &err);
    if (rc == BW_ERR_BUSY) {
        rc = bw_resp_problem(resp, 429, "too-many-requests",
                             "too many reports from this account in the last hour", NULL);
        return rc == BW_OK ? bw_resp_header(resp, "Retry-After", "3600") : rc;
    }
    if (rc != BW_OK)
        return bw_reg_answer(resp, rc, &err, "incident");
    bw_time_format(bw_time_now(), at);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "status", "detected", "severity",
                          "P4", "received_at", at);
    return o != NULL ? bw_resp_json(resp, 201, o) : BW_ERR_NOMEM;
}

/* CONTROL: G-16 - the stored quarterly recurrence reviews */
enum bw_rc bw_api_incident_reviews(struct bw_req *req, struct bw_resp *resp)
{
    json_t *o = NULL;
    enum bw_rc rc = bw_incident_reviews(req->deps->store, &o);
    return rc == BW_OK ? bw_resp_json(resp, 200, o) : rc;
}

enum bw_rc bw_api_overdue(struct bw_req *req, struct bw_resp *resp)
{
    json_t *o = NULL;
    enum bw_rc rc = bw_incident_overdue(req->deps->store, &o);
    return rc == BW_OK ? bw_resp_json(resp, 200, o) : rc;
}
