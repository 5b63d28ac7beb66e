/*
 * api_compliance.c - GET /api/v1/compliance (every control, checked live
 * now: {id,title,source,mode,status,detail,evidence,checked_at}; SPEC 5),
 * GET /api/v1/compliance/history (stored assessments, newest first, cursor
 * paging; CONTROL: G-11) and GET /api/v1/compliance/history/{id}. All are
 * BW_ROUTE_ADMIN: platform administrators until organisation auditors can
 * read installation-wide evidence. Query parameters are the only input,
 * parsed strictly; unknown names are field errors. GET has no side effect:
 * a live run here is not stored (bulwark check and serve's daily run are).
 */
#include "compliance/compliance.h"
#include "http/http_int.h"

#include <microhttpd.h>
#include <string.h>

struct qnames {
    const char *const *allowed;
    size_t n;
    struct bw_field_errors *fe;
};

static enum MHD_Result known(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    (void)value;
    struct qnames *q = cls;
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(key, q->allowed[i]) == 0)
            return MHD_YES;
    }
    bw_field_error(q->fe, "query", "unknown parameter");
    return MHD_YES;
}

static const char *qarg(struct bw_req *req, const char *name, size_t max,
                        struct bw_field_errors *fe)
{
    const char *v = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
    if (v == NULL || v[0] == '\0')
        return NULL;
    if (strlen(v) > max || !bw_utf8_valid(v, strlen(v))) {
        bw_field_error(fe, name, "too long or not UTF-8");
        return NULL;
    }
    return v;
}

enum { MAX_ONLY = 32 };

enum bw_rc bw_api_compliance(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"control"};
    struct bw_field_errors fe = {.n = 0};
    struct qnames q = {allowed, BW_ARRAY_LEN(allowed), &fe};
    char list[512] = "";
    const char *only[MAX_ONLY];
    size_t nonly = 0;
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, known, &q);
    const char *ids = qarg(req, "control", sizeof(list) - 1, &fe);
    if (ids != NULL) {
        memcpy(list, ids, strlen(ids) + 1);
        for (char *p = list; p != NULL && fe.n == 0;) {
            char *comma = strchr(p, ',');
            if (comma != NULL)
                *comma = '\0';
            if (nonly == MAX_ONLY || bw_compliance_find(p) == NULL)
                bw_field_error(&fe, "control", "unknown control id");
            else
                only[nonly++] = p;
            p = comma != NULL ? comma + 1 : NULL;
        }
    }
    if (fe.n > 0)
        return bw_resp_problem(resp, 400, "invalid-request", "the query has invalid parameters",
                               &fe);
    struct bw_compliance_env env = {.cfg = req->deps->cfg,
                                    .store = req->deps->store,
                                    .kr = req->deps->keyring,
                                    .data_dir = req->deps->data_dir};
    json_t *run = NULL;
    enum bw_rc rc = bw_compliance_run(&env, only, nonly, &run);
    if (rc != BW_OK)
        return rc;
    return bw_resp_json(resp, 200, run);
}

enum bw_rc bw_api_compliance_history(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"cursor", "limit"};
    struct bw_field_errors fe = {.n = 0};
    struct qnames q = {allowed, BW_ARRAY_LEN(allowed), &fe};
    uint64_t cursor = 0, limit = 50;
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, known, &q);
    const char *c = qarg(req, "cursor", 20, &fe), *l = qarg(req, "limit", 4, &fe);
    if (c != NULL && (bw_parse_u64(c, INT64_MAX, &cursor) != BW_OK || cursor == 0))
        bw_field_error(&fe, "cursor", "out of range");
    if (l != NULL && (bw_parse_u64(l, 500, &limit) != BW_OK || limit == 0))
        bw_field_error(&fe, "limit", "out of range (1..500)");
    if (fe.n > 0)
        return bw_resp_problem(resp, 400, "invalid-request", "the query has invalid parameters",
                               &fe);
    json_t *out = NULL;
    enum bw_rc rc = bw_compliance_history(req->deps->store, (int64_t)cursor, (unsigned)limit, &out);
    if (rc != BW_OK)
        return rc;
    return bw_resp_json(resp, 200, out);
}

enum bw_rc bw_api_compliance_assessment(struct bw_req *req, struct bw_resp *resp)
{
    const char *id = req->match.values[0];
    json_t *out = NULL;
    if (MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, NULL, NULL) > 0)
        return bw_resp_problem(resp, 400, "invalid-request", "this route takes no parameters",
                               NULL);
    if (!bw_id_valid(id))
        return bw_resp_problem(resp, 404, "not-found", "no such assessment", NULL);
    enum bw_rc rc = bw_compliance_assessment(req->deps->store, id, &out);
    if (rc == BW_ERR_NOTFOUND)
        return bw_resp_problem(resp, 404, "not-found", "no such assessment", NULL);
    if (rc != BW_OK)
        return rc;
    return bw_resp_json(resp, 200, out);
}
