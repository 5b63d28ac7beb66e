/*
 * api_audit.c - GET /api/v1/audit (search, cursor paging) and
 * GET /api/v1/audit/verify (issue 5; CONTROL: LOG-06): platform
 * administrators (BW_ROUTE_ADMIN), the whole trail. GET
 * /api/v1/orgs/{org}/audit: one organisation's events for its members with
 * audit.read and its auditor API keys (tenant check in the same snapshot).
 * Query parameters are the only input: unknown names are field errors,
 * values are parsed strictly, nothing reaches SQL text. Nothing here changes an event; verify records its own
 * outcome (audit.verified / audit.verify.failed) as the calling user.
 */
#include "audit/audit.h"
#include "crypto/crypto.h"
#include "http/http_int.h"
#include "store/store.h"
#include "tenant/tenant.h"

#include <microhttpd.h>
#include <string.h>

struct qcheck {
    struct bw_field_errors *fe;
};

static enum MHD_Result known_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    static const char *const allowed[] = {"actor", "action", "target", "since",
                                          "until", "cursor", "limit"};
    struct qcheck *q = cls;
    for (size_t i = 0; i < BW_ARRAY_LEN(allowed); i++) {
        if (strcmp(key, allowed[i]) == 0)
            return MHD_YES;
    }
    bw_field_error(q->fe, "query", "unknown parameter");
    return MHD_YES;
}

static const char *arg(struct bw_req *req, const char *name, struct bw_field_errors *fe)
{
    const char *v = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
    if (v == NULL || v[0] == '\0')
        return NULL;
    if (strlen(v) > 256 || !bw_utf8_valid(v, strlen(v))) {
        bw_field_error(fe, name, "too long or not UTF-8");
        return NULL;
    }
    return v;
}

static void time_arg(struct bw_req *req, const char *name, int64_t *out,
                     struct bw_field_errors *fe)
{
    const char *v = arg(req, name, fe);
    if (v != NULL && bw_time_parse(v, out) != BW_OK)
        bw_field_error(fe, name, "expected an RFC 3339 time");
}

static void int_arg(struct bw_req *req, const char *name, uint64_t min, uint64_t max,
                    uint64_t *out, struct bw_field_errors *fe)
{
    const char *v = arg(req, name, fe);
    if (v != NULL && (bw_parse_u64(v, max, out) != BW_OK || *out < min))
        bw_field_error(fe, name, "out of range");
}

static enum bw_rc add_item(void *arg, const struct bw_audit_event *ev)
{
    json_t *o = bw_audit_event_json(ev);
    if (o == NULL)
        return BW_ERR_INVALID; /* a damaged row: verify names it */
    return json_array_append_new(json_object_get(arg, "items"), o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

/* The filters both search routes share; false after answering 400. */
static bool parse_filter(struct bw_req *req, struct bw_resp *resp, struct bw_audit_filter *f,
                         enum bw_rc *rc)
{
    struct bw_field_errors fe = {.n = 0};
    struct qcheck q = {&fe};
    uint64_t limit = 100, cursor = 0;
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, known_arg, &q);
    f->actor = arg(req, "actor", &fe);
    f->action = arg(req, "action", &fe);
    f->target = arg(req, "target", &fe);
    time_arg(req, "since", &f->since, &fe);
    time_arg(req, "until", &f->until, &fe);
    int_arg(req, "limit", 1, 1000, &limit, &fe);
    int_arg(req, "cursor", 1, INT64_MAX, &cursor, &fe);
    if (fe.n > 0) {
        *rc = bw_resp_problem(resp, 400, "invalid-request", "the query has invalid parameters",
                              &fe);
        return false;
    }
    f->limit = (unsigned)limit;
    f->before_seq = (int64_t)cursor;
    return true;
}

/* {"items": [...], "next_cursor": "<seq>" | null}; takes `out`. */
static enum bw_rc answer_page(struct bw_resp *resp, json_t *out, unsigned limit)
{
    json_t *items = json_object_get(out, "items");
    size_t n = json_array_size(items);
    json_t *next = json_null();
    if (n == limit) {
        char c[24];
        snprintf(c, sizeof(c), "%lld",
                 (long long)json_integer_value(json_object_get(json_array_get(items, n - 1),
                                                               "seq")));
        next = json_string(c);
    }
    json_object_set_new(out, "next_cursor", next);
    return bw_resp_json(resp, 200, out);
}

enum bw_rc bw_api_audit_search(struct bw_req *req, struct bw_resp *resp)
{
    struct bw_audit_filter f = {.limit = 100};
    enum bw_rc rc = BW_OK;
    if (!parse_filter(req, resp, &f, &rc))
        return rc;
    json_t *out = json_pack("{s:[]}", "items");
    if (out == NULL)
        return BW_ERR_NOMEM;
    rc = bw_audit_search(req->deps->store, &f, add_item, out);
    if (rc != BW_OK) {
        json_decref(out);
        return rc;
    }
    return answer_page(resp, out, f.limit);
}

struct org_job {
    const struct bw_config *cfg;
    const struct bw_principal *p;
    const struct bw_audit_filter *f;
    json_t *out;
    struct bw_tenant_result res;
};

static enum bw_rc org_search_fn(struct bw_tx *tx, void *arg)
{
    struct org_job *j = arg;
    /* CONTROL: AC-01 - membership, role and the events from one snapshot */
    enum bw_rc rc = bw_tenant_authorize(tx, j->cfg, j->p, j->f->org, BW_PERM_AUDIT_READ, &j->res);
    return rc == BW_OK ? bw_audit_search_tx(tx, j->f, add_item, j->out) : rc;
}

/* GET /api/v1/orgs/{org}/audit: the organisation's own events (org column
 * equal to {org}) for members holding audit.read (owner, admin, auditor)
 * and the organisation's auditor API keys. Another organisation's id, or
 * one that does not exist, answers 404 alike. */
enum bw_rc bw_api_org_audit(struct bw_req *req, struct bw_resp *resp)
{
    struct bw_audit_filter f = {.limit = 100};
    enum bw_rc rc = BW_OK;
    if (!parse_filter(req, resp, &f, &rc))
        return rc;
    f.org = req->match.values[0];
    struct org_job j = {req->deps->cfg, &req->principal, &f, json_pack("{s:[]}", "items"), {0}};
    if (j.out == NULL)
        return BW_ERR_NOMEM;
    rc = bw_store_read(req->deps->store, org_search_fn, &j);
    if (rc != BW_OK) {
        json_decref(j.out);
        return bw_tenant_answer(req, resp, rc, &j.res);
    }
    return answer_page(resp, j.out, f.limit);
}

enum bw_rc bw_api_audit_verify(struct bw_req *req, struct bw_resp *resp)
{
    struct bw_audit_settings s = {
        .data_dir = req->deps->data_dir,
        .checkpoint_interval = req->deps->cfg->audit_checkpoint_interval,
        .checkpoint_events = req->deps->cfg->audit_checkpoint_events,
        .retention = req->deps->cfg->retention_audit,
        .syslog = req->deps->cfg->audit_syslog,
    };
    struct bw_audit_report r;
    struct bw_audit_ctx ctx;
    uint8_t pk[BW_SIGN_PUBLIC_BYTES];
    char actor[8 + BW_ID_LEN + 1];
    if (MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, NULL, NULL) > 0)
        return bw_resp_problem(resp, 400, "invalid-request", "this route takes no parameters",
                               NULL);
    bw_keyring_public(req->deps->keyring, pk);
    enum bw_rc rc = bw_audit_verify(req->deps->store, req->deps->keyring, pk, &s, &r);
    if (rc != BW_OK)
        return rc;
    bw_req_audit_ctx(req, &ctx);
    snprintf(actor, sizeof(actor), "user:%s", req->principal.user_id);
    rc = bw_audit_record_verify(req->deps->store, &ctx, actor, &r);
    if (rc != BW_OK)
        return rc;
    json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:s}", "ok",
                          r.ok, "events", (json_int_t)r.events, "archives",
                          (json_int_t)r.archives, "checkpoints", (json_int_t)r.checkpoints,
                          "first_seq", (json_int_t)r.first_seq, "last_seq",
                          (json_int_t)r.last_seq, "first_bad", (json_int_t)r.first_bad,
                          "reason", r.reason, "newest_checkpoint_seq",
                          (json_int_t)r.newest_checkpoint_seq, "newest_checkpoint_age",
                          (json_int_t)r.newest_checkpoint_age, "unanchored",
                          (json_int_t)r.unanchored, "warning", r.warning);
    if (o == NULL)
        return BW_ERR_NOMEM;
    return bw_resp_json(resp, 200, o);
}
