/*
 * api_records.c - the collection, record and export routes of SPEC 5
 * (CONTROL: AC-01, AC-05, AC-06, DATA-02..05, DATA-08, APP-01, CRY-01).
 *
 * Each handler runs ONE write transaction that authorizes the caller
 * (bw_tenant_authorize, the matrix of tenant/rbac.c), loads the collection
 * of that organisation, applies the classification rules (restricted data
 * needs a session with a verified second factor; lowering a class needs an
 * MFA-verified owner/admin) and does the work, so that the decision, the
 * change and the audit events share one snapshot and commit together.
 * Reads of confidential and restricted records are audited in that same
 * transaction. A body that fails to decrypt is never answered: the
 * transaction still commits its crypto.integrity_fail event and the client
 * gets a 500 problem without content.
 *
 * Decision C6: a write that needs a key the key store lacks (a first sealed
 * record, raising a class) is refused inside its transaction with nothing
 * written; run() commits the key first (bw_data_keys_prepare) and runs the
 * job again, at most KEY_ATTEMPTS times.
 *
 * Ids of another organisation answer exactly like random ids: the store
 * statements bind the organisation, so they match nothing, and the 404
 * documents are the same fixed texts. List cursors are MACed (data/cursor.c).
 * Trusts the router for authentication, CSRF, framing and body size.
 */
#include "data/data.h"
#include "http/http_int.h"
#include "store/store.h"
#include "tenant/tenant.h"

#include <assert.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

enum op {
    OP_COLL_LIST,
    OP_COLL_CREATE,
    OP_COLL_GET,
    OP_COLL_SET,
    OP_REC_LIST,
    OP_REC_CREATE,
    OP_REC_GET,
    OP_REC_PUT,
    OP_REC_DELETE,
    OP_REC_RESTORE,
    OP_EXPORT,
};

enum stage { ST_TENANT, ST_COLLECTION, ST_RECORD };

#define KEY_ATTEMPTS 4 /* key handshakes per request (decision C6) */
#define LIST_DEFAULT 50
#define LIST_MAX 200

struct job {
    enum op op;
    enum bw_perm perm;
    const struct bw_req *req;
    const struct bw_principal *p;
    const char *org, *coll, *id;
    struct bw_tenant_result res;
    struct bw_audit_ctx actx;
    char actor[BW_ACTOR_LEN];
    struct bw_data_ctx dc;
    enum stage stage;
    struct bw_collection c;
    struct bw_data_errors de;
    bool need_mfa;  /* refused: restricted data or lowering a class without MFA */
    bool ifail;     /* a body failed to open: answer 500 after commit */
    enum bw_rc oprc; /* the operation's result when the transaction commits anyway */
    /* inputs */
    const json_t *data;
    int64_t if_version;
    char after[BW_ID_LEN + 1];
    size_t limit;
    const char *filter_field, *filter_text;
    enum bw_class new_class;
    /* outputs */
    struct bw_record rec;
    struct bw_record_page page;
    json_t *out;
};

static bool mfa_ok(const struct bw_principal *p)
{
    return p->apikey_id[0] == '\0' && p->mfa_enabled && p->mfa_verified;
}

static enum bw_rc op_collection(struct bw_tx *tx, struct job *j)
{
    switch (j->op) {
    case OP_COLL_LIST:
        return bw_collection_list(tx, j->org, &j->out);
    case OP_COLL_CREATE:
        return bw_collection_create(tx, &j->actx, j->actor, &j->c);
    case OP_COLL_GET:
        j->out = bw_collection_json(&j->c);
        return j->out != NULL ? BW_OK : BW_ERR_NOMEM;
    case OP_COLL_SET: {
        enum bw_class from = j->c.cls;
        bool lower = j->new_class < from;
        if (from == j->new_class)
            return BW_OK;
        /* CONTROL: DATA-03 - lowering needs an MFA-verified owner/admin, always */
        if (lower && !mfa_ok(j->p)) {
            j->need_mfa = true;
            return BW_ERR_PERM;
        }
        enum bw_rc rc = bw_collection_reclassify(tx, &j->dc, &j->c, j->new_class, &j->ifail);
        if (rc == BW_OK)
            rc = bw_audit_append(tx, &j->actx, j->actor,
                                 lower ? "collection.classification_lowered"
                                       : "collection.classification_raised",
                                 j->c.name, BW_AUDIT_SUCCESS,
                                 json_pack("{s:s, s:s, s:s}", "org", j->org, "from",
                                           bw_class_name(from), "to",
                                           bw_class_name(j->new_class)));
        return rc;
    }
    default:
        return BW_ERR_INTERNAL;
    }
}

static enum bw_rc op_list(struct bw_tx *tx, struct job *j)
{
    json_t *fv = NULL;
    if (j->filter_field != NULL) {
        const struct bw_field *f = bw_schema_find(j->c.schema, j->filter_field);
        if (f == NULL) {
            bw_data_error(&j->de, j->filter_field, "no such field to filter on");
            return BW_ERR_INVALID;
        }
        if (j->c.cls >= BW_CLASS_CONFIDENTIAL) {
            bw_data_error(&j->de, f->name,
                          "filters apply only to public and internal collections");
            return BW_ERR_INVALID;
        }
        if (bw_field_filter_value(f, j->filter_text, &fv) != BW_OK) {
            bw_data_error(&j->de, f->name, "not a value of this field");
            return BW_ERR_INVALID;
        }
    }
    enum bw_rc rc = bw_record_list(tx, &j->dc, &j->c, j->after, j->limit, j->filter_field, fv,
                                   &j->page);
    json_decref(fv);
    j->ifail = rc == BW_OK && j->page.integrity_fail;
    return rc;
}

static enum bw_rc op_record(struct bw_tx *tx, struct job *j)
{
    j->stage = ST_RECORD;
    switch (j->op) {
    case OP_REC_LIST:
        return op_list(tx, j);
    case OP_REC_CREATE:
    case OP_REC_PUT:
        if (bw_record_validate(j->c.schema, j->data, &j->de) != BW_OK)
            return BW_ERR_INVALID;
        return j->op == OP_REC_CREATE
                   ? bw_record_create(tx, &j->dc, &j->c, j->data, &j->rec)
                   : bw_record_replace(tx, &j->dc, &j->c, j->id, j->if_version, j->data,
                                       &j->rec);
    case OP_REC_GET:
        return bw_record_read(tx, &j->dc, &j->c, j->id, &j->rec, &j->ifail);
    case OP_REC_DELETE:
        return bw_record_delete(tx, &j->dc, &j->c, j->id);
    case OP_REC_RESTORE:
        return bw_record_restore(tx, &j->dc, &j->c, j->id, &j->rec, &j->ifail);
    default:
        return BW_ERR_INTERNAL;
    }
}

static enum bw_rc job_fn(struct bw_tx *tx, void *arg)
{
    struct job *j = arg;
    j->stage = ST_TENANT;
    enum bw_rc rc = bw_tenant_authorize(tx, j->dc.cfg, j->p, j->org, j->perm, &j->res);
    if (rc != BW_OK)
        return rc;
    if (j->op == OP_EXPORT)
        rc = bw_data_export(tx, &j->dc, &j->out, &j->ifail);
    else if (j->op == OP_COLL_LIST || j->op == OP_COLL_CREATE)
        return op_collection(tx, j);
    if (j->op == OP_EXPORT)
        goto done;
    j->stage = ST_COLLECTION;
    rc = bw_collection_get(tx, j->org, j->coll, &j->c);
    if (rc != BW_OK)
        return rc;
    /* CONTROL: AC-05 - restricted data only with a verified second factor */
    if (j->c.cls == BW_CLASS_RESTRICTED && j->dc.cfg->mfa_required_for_restricted &&
        !mfa_ok(j->p)) {
        j->need_mfa = true;
        return BW_ERR_PERM;
    }
    rc = j->op <= OP_COLL_SET ? op_collection(tx, j) : op_record(tx, j);
done:
    if (rc == BW_ERR_CRYPTO && j->ifail) {
        j->oprc = rc; /* commit the crypto.integrity_fail event, answer 500 */
        return BW_OK;
    }
    return rc;
}

/* ---- answers -------------------------------------------------------------------- */

static enum bw_rc field_problem(struct bw_resp *resp, const struct bw_field_errors *fe)
{
    return bw_resp_problem(resp, 400, "invalid-request", "the request has invalid fields", fe);
}

static void copy_errors(const struct bw_data_errors *de, struct bw_field_errors *fe)
{
    for (size_t i = 0; i < de->n; i++)
        bw_field_error(fe, de->e[i].field, de->e[i].message);
}

static enum bw_rc etag(struct bw_resp *resp, int64_t version)
{
    char v[32];
    snprintf(v, sizeof(v), "\"%lld\"", (long long)version);
    return bw_resp_header(resp, "ETag", v);
}

/* Turns a refused or failed job into its answer. */
static enum bw_rc refusal(struct bw_req *req, struct bw_resp *resp, struct job *j, enum bw_rc rc)
{
    struct bw_field_errors fe = {.n = 0};
    if (j->need_mfa) {
        req->denied = "mfa-required";
        return bw_resp_problem(resp, 403, "mfa-required",
                               j->op == OP_COLL_SET
                                   ? "lowering a classification needs an owner or admin with "
                                     "a verified second factor in this session"
                                   : "restricted data needs a session with a verified second "
                                     "factor",
                               NULL);
    }
    if (j->stage == ST_TENANT)
        return bw_tenant_answer(req, resp, rc, &j->res);
    if (rc == BW_ERR_INVALID && j->de.n > 0) {
        copy_errors(&j->de, &fe);
        return field_problem(resp, &fe);
    }
    if (rc == BW_ERR_NOTFOUND)
        return bw_resp_problem(resp, 404, NULL,
                               j->stage == ST_COLLECTION ? "no such collection"
                                                         : "no such record",
                               NULL);
    if (rc == BW_ERR_EXISTS)
        return bw_resp_problem(resp, 409, "conflict",
                               "a collection of this name exists in this organisation", NULL);
    if (rc == BW_ERR_CONFLICT && j->op == OP_REC_PUT)
        return bw_resp_problem(resp, 412, "precondition-failed",
                               "If-Match does not name the record's current version", NULL);
    if (rc == BW_ERR_CONFLICT && j->op == OP_REC_RESTORE)
        return bw_resp_problem(resp, 409, "conflict", "the record is not deleted", NULL);
    return rc;
}

static enum bw_rc answer(struct bw_req *req, struct bw_resp *resp, struct job *j)
{
    enum bw_rc rc = BW_OK;
    char cursor[BW_CURSOR_MAX];
    switch (j->op) {
    case OP_COLL_LIST:
        return bw_resp_json(resp, 200, json_pack("{s:o, s:n}", "items", j->out, "next_cursor"));
    case OP_COLL_CREATE:
        return bw_resp_json(resp, 201, bw_collection_json(&j->c));
    case OP_COLL_GET:
        return bw_resp_json(resp, 200, j->out);
    case OP_COLL_SET:
        return bw_resp_json(resp, 200, bw_collection_json(&j->c));
    case OP_REC_LIST:
        if (j->page.more)
            rc = bw_cursor_make(req->deps->keyring, j->org, j->c.name, j->page.last, cursor);
        if (rc != BW_OK) {
            json_decref(j->page.items);
            return rc;
        }
        return bw_resp_json(resp, 200,
                            json_pack("{s:o, s:s?}", "items", j->page.items, "next_cursor",
                                      j->page.more ? cursor : NULL));
    case OP_REC_DELETE:
        resp->status = 204;
        return BW_OK;
    case OP_EXPORT: {
        char now[21];
        bw_time_format(bw_time_now(), now);
        return bw_resp_json(resp, 200,
                            json_pack("{s:s, s:s, s:o}", "org", j->org, "exported_at", now,
                                      "collections", j->out));
    }
    default:
        rc = bw_resp_json(resp, j->op == OP_REC_CREATE ? 201 : 200, bw_record_json(&j->rec));
        return rc == BW_OK ? etag(resp, j->rec.version) : rc;
    }
}

/* Before a job runs again after the key handshake: what its last attempt
 * produced (only create, replace and raising a class ever ask for a key, and
 * they take nothing from the request in j->c). */
static void job_again(struct job *j)
{
    bw_record_cleanup(&j->rec);
    memset(&j->rec, 0, sizeof(j->rec));
    bw_collection_cleanup(&j->c);
    memset(&j->c, 0, sizeof(j->c));
    json_decref(j->out);
    j->out = NULL;
    j->de.n = 0;
    j->need_mfa = false;
    j->ifail = false;
    j->oprc = BW_OK;
}

static enum bw_rc run(struct bw_req *req, struct bw_resp *resp, struct job *j)
{
    struct bw_keyneed keys;
    j->req = req;
    j->p = &req->principal;
    j->org = req->match.values[0];
    j->coll = req->match.nparams > 1 ? req->match.values[1] : NULL;
    j->id = req->match.nparams > 2 ? req->match.values[2] : NULL;
    bw_req_audit_ctx(req, &j->actx);
    bw_principal_actor(j->p, j->actor);
    j->dc.cfg = req->deps->cfg;
    j->dc.kr = req->deps->keyring;
    j->dc.audit = &j->actx;
    j->dc.actor = j->actor;
    j->dc.org_id = j->org;
    memset(&keys, 0, sizeof(keys));
    j->dc.keys = &keys;
    enum bw_rc rc = bw_store_write(req->deps->store, job_fn, j);
    for (int i = 1; rc == BW_ERR_BUSY && keys.pending && i < KEY_ATTEMPTS; i++) {
        assert(j->op == OP_REC_CREATE || j->op == OP_REC_PUT || j->op == OP_COLL_SET);
        job_again(j);
        rc = bw_data_keys_prepare(req->deps->store, &j->dc); /* CONTROL: C6 - key first */
        if (rc == BW_OK)
            rc = bw_store_write(req->deps->store, job_fn, j);
    }
    if (rc == BW_OK && j->ifail) {
        json_decref(j->out);
        if (j->op == OP_REC_LIST)
            json_decref(j->page.items);
        rc = bw_resp_problem(resp, 500, "integrity-failure",
                             "a stored record failed its integrity check; the event is "
                             "recorded",
                             NULL);
    } else if (rc == BW_OK) {
        rc = answer(req, resp, j);
    } else {
        rc = refusal(req, resp, j, rc);
    }
    bw_record_cleanup(&j->rec);
    bw_collection_cleanup(&j->c);
    return rc;
}

static void job_init(struct job *j, enum op op, enum bw_perm perm)
{
    memset(j, 0, sizeof(*j));
    j->op = op;
    j->perm = perm;
}

/* ---- collections ---------------------------------------------------------------- */

enum bw_rc bw_api_collections(struct bw_req *req, struct bw_resp *resp)
{
    struct job j;
    job_init(&j, OP_COLL_LIST, BW_PERM_COLLECTION_READ);
    return run(req, resp, &j);
}

enum bw_rc bw_api_collection_get(struct bw_req *req, struct bw_resp *resp)
{
    struct job j;
    job_init(&j, OP_COLL_GET, BW_PERM_COLLECTION_READ);
    return run(req, resp, &j);
}

/* The classification member: absent = confidential (CONTROL: DATA-03). */
static void class_member(const json_t *body, bool required, enum bw_class *out,
                         struct bw_field_errors *fe)
{
    const json_t *c = json_object_get(body, "classification");
    *out = BW_CLASS_CONFIDENTIAL;
    if (c == NULL && !required)
        return;
    if (bw_class_parse(json_string_value(c), out) != BW_OK)
        bw_field_error(fe, "classification", "public, internal, confidential or restricted");
}

enum bw_rc bw_api_collection_create(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"name", "classification", "fields"};
    struct bw_field_errors fe = {.n = 0};
    struct bw_data_errors de = {.n = 0};
    struct job j;
    job_init(&j, OP_COLL_CREATE, BW_PERM_COLLECTION_MANAGE);
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    const char *name = json_string_value(json_object_get(req->json, "name"));
    if (name == NULL || !bw_name_valid(name))
        bw_field_error(&fe, "name", "[a-z][a-z0-9_]{0,63}");
    class_member(req->json, false, &j.c.cls, &fe);
    const json_t *fields = json_object_get(req->json, "fields");
    if (fields == NULL)
        bw_field_error(&fe, "fields", "required: the field definitions");
    else if (bw_schema_parse(fields, &j.c.schema, &de) != BW_OK)
        copy_errors(&de, &fe);
    if (fe.n > 0) {
        bw_collection_cleanup(&j.c);
        return field_problem(resp, &fe);
    }
    memcpy(j.c.name, name, strlen(name) + 1); /* valid: at most BW_NAME_MAX */
    if (bw_id_valid(req->match.values[0])) /* else the tenant gate answers 404 */
        memcpy(j.c.org_id, req->match.values[0], BW_ID_LEN + 1);
    return run(req, resp, &j);
}

enum bw_rc bw_api_collection_set(struct bw_req *req, struct bw_resp *resp)
{
    static const char *const allowed[] = {"classification"};
    struct bw_field_errors fe = {.n = 0};
    struct job j;
    job_init(&j, OP_COLL_SET, BW_PERM_COLLECTION_MANAGE);
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    class_member(req->json, true, &j.new_class, &fe);
    if (fe.n > 0)
        return field_problem(resp, &fe);
    return run(req, resp, &j);
}

/* ---- records -------------------------------------------------------------------- */

struct args {
    size_t n;
    const char *key, *value;
    bool bad;
};

static enum MHD_Result count_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct args *a = cls;
    if (strcmp(key, "cursor") == 0 || strcmp(key, "limit") == 0)
        return MHD_YES;
    a->n++;
    a->key = key;
    a->value = value;
    a->bad |= value == NULL;
    return MHD_YES;
}

enum bw_rc bw_api_records(struct bw_req *req, struct bw_resp *resp)
{
    struct bw_field_errors fe = {.n = 0};
    struct args a = {0};
    struct MHD_Connection *conn = req->conn;
    const char *cursor = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "cursor");
    const char *limit = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
    uint64_t lim = LIST_DEFAULT;
    struct job j;
    job_init(&j, OP_REC_LIST, BW_PERM_RECORD_READ);
    if (limit != NULL && (bw_parse_u64(limit, LIST_MAX, &lim) != BW_OK || lim == 0))
        bw_field_error(&fe, "limit", "an integer 1..200");
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, count_arg, &a);
    if (a.n > 1 || a.bad || (a.n == 1 && !bw_name_valid(a.key)))
        bw_field_error(&fe, "filter", "at most one filter: FIELD=VALUE");
    if (fe.n > 0)
        return field_problem(resp, &fe);
    /* a cursor that does not verify - invented, or of another organisation or
     * collection - answers like a record that does not exist */
    if (cursor != NULL && bw_cursor_open(req->deps->keyring, req->match.values[0],
                                         req->match.values[1], cursor, j.after) != BW_OK)
        return bw_resp_problem(resp, 404, NULL, "no such record", NULL);
    j.limit = (size_t)lim;
    j.filter_field = a.n == 1 ? a.key : NULL;
    j.filter_text = a.value;
    return run(req, resp, &j);
}

/* The body of a create or replace: exactly {"data": {...}}. */
static bool data_member(struct bw_req *req, struct bw_resp *resp, struct job *j, enum bw_rc *rc)
{
    static const char *const allowed[] = {"data"};
    struct bw_field_errors fe = {.n = 0};
    bw_body_only(req->json, allowed, BW_ARRAY_LEN(allowed), &fe);
    j->data = json_object_get(req->json, "data");
    if (!json_is_object(j->data))
        bw_field_error(&fe, "data", "required: an object of the collection's fields");
    if (fe.n == 0)
        return true;
    *rc = field_problem(resp, &fe);
    return false;
}

enum bw_rc bw_api_record_create(struct bw_req *req, struct bw_resp *resp)
{
    enum bw_rc rc = BW_OK;
    struct job j;
    job_init(&j, OP_REC_CREATE, BW_PERM_RECORD_WRITE);
    return data_member(req, resp, &j, &rc) ? run(req, resp, &j) : rc;
}

enum bw_rc bw_api_record_get(struct bw_req *req, struct bw_resp *resp)
{
    struct job j;
    job_init(&j, OP_REC_GET, BW_PERM_RECORD_READ);
    return run(req, resp, &j);
}

/* If-Match: "N", W/"N" or N - the version the client last saw. */
static bool parse_if_match(const char *h, int64_t *out)
{
    char v[24];
    uint64_t u = 0;
    size_t n = h != NULL ? strlen(h) : 0;
    if (n > 2 && strncmp(h, "W/", 2) == 0) {
        h += 2;
        n -= 2;
    }
    if (n >= 2 && h[0] == '"' && h[n - 1] == '"') {
        h++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof(v))
        return false;
    memcpy(v, h, n);
    v[n] = '\0';
    if (bw_parse_u64(v, (uint64_t)INT64_MAX - 1, &u) != BW_OK || u == 0)
        return false;
    *out = (int64_t)u;
    return true;
}

enum bw_rc bw_api_record_put(struct bw_req *req, struct bw_resp *resp)
{
    enum bw_rc rc = BW_OK;
    struct job j;
    job_init(&j, OP_REC_PUT, BW_PERM_RECORD_WRITE);
    const char *im = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "If-Match");
    if (im == NULL)
        return bw_resp_problem(resp, 428, "precondition-required",
                               "send If-Match with the record's version (its ETag)", NULL);
    if (!parse_if_match(im, &j.if_version)) {
        struct bw_field_errors fe = {.n = 0};
        bw_field_error(&fe, "If-Match", "the record's version as an ETag (\"3\")");
        return field_problem(resp, &fe);
    }
    return data_member(req, resp, &j, &rc) ? run(req, resp, &j) : rc;
}

enum bw_rc bw_api_record_delete(struct bw_req *req, struct bw_resp *resp)
{
    struct job j;
    job_init(&j, OP_REC_DELETE, BW_PERM_RECORD_DELETE);
    return run(req, resp, &j);
}

enum bw_rc bw_api_record_restore(struct bw_req *req, struct bw_resp *resp)
{
    struct job j;
    job_init(&j, OP_REC_RESTORE, BW_PERM_RECORD_RESTORE);
    return run(req, resp, &j);
}

/* ---- GET /api/v1/orgs/{org}/export (GDPR Art. 20) ------------------------------- */

enum bw_rc bw_api_org_export(struct bw_req *req, struct bw_resp *resp)
{
    struct job j;
    job_init(&j, OP_EXPORT, BW_PERM_EXPORT);
    return run(req, resp, &j);
}
