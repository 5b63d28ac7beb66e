/*
 * incident.c - the incident register (CONTROL: INC-01..04, G-01, G-02):
 * opening with the awareness time (recorded once; a trigger in both schemas
 * refuses any later edit), the strict workflow detected -> contained ->
 * investigating -> remediated -> reported -> closed with who, when and a
 * note for every step, the significance and personal-data assessment that
 * starts the NIS2 and GDPR clocks (decision C5), submissions to authorities
 * stored with their SHA-256, closing with a post-incident review that opens
 * a policy-review task, and the JSON views of all of it.
 *
 * Trusts: callers authorised the actor (platform admins or the CLI). Input
 * strings are checked here (UTF-8, no control characters, capped). Every
 * change writes its audit event and its notifications in the same
 * transaction. Never stores or echoes secrets.
 */
#include "audit/audit.h"
#include "incident/incident.h"
#include "incident/incident_int.h"
#include "store/store.h"

#include <jansson.h>
#include <sodium.h>
#include <string.h>

/* ---- input checks ------------------------------------------------------------------ */

bool bw_inc_text_ok(const char *s, size_t max, bool multiline)
{
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > max || !bw_utf8_valid(s, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && !(multiline && (c == '\n' || c == '\t' || c == '\r'))) || c == 0x7f)
            return false;
    }
    return true;
}

/* ---- rows ----------------------------------------------------------------------------- */

static void copy_text(char *dst, size_t cap, const struct bw_row *row, size_t col)
{
    const char *s = bw_row_is_null(row, col) ? "" : bw_row_text(row, col, NULL);
    bw_why(dst, cap, "%s", s != NULL ? s : "");
}

static enum bw_rc inc_row_fn(void *arg, const struct bw_row *row)
{
    struct bw_inc_row *r = arg;
    memset(r, 0, sizeof(*r));
    copy_text(r->id, sizeof(r->id), row, BW_ICOL_ID);
    copy_text(r->title, sizeof(r->title), row, BW_ICOL_TITLE);
    copy_text(r->severity, sizeof(r->severity), row, BW_ICOL_SEVERITY);
    copy_text(r->status, sizeof(r->status), row, BW_ICOL_STATUS);
    r->significant = bw_row_is_null(row, BW_ICOL_SIGNIFICANT)
                         ? -1
                         : (int)bw_row_int(row, BW_ICOL_SIGNIFICANT);
    r->personal_data = bw_row_is_null(row, BW_ICOL_PERSONAL_DATA)
                           ? -1
                           : (int)bw_row_int(row, BW_ICOL_PERSONAL_DATA);
    r->aware_at = bw_row_int(row, BW_ICOL_AWARE_AT);
    r->created_at = bw_row_int(row, BW_ICOL_CREATED_AT);
    copy_text(r->created_by, sizeof(r->created_by), row, BW_ICOL_CREATED_BY);
    copy_text(r->detect_key, sizeof(r->detect_key), row, BW_ICOL_DETECT_KEY);
    r->respond_by = bw_row_int(row, BW_ICOL_RESPOND_BY);
    r->responded_at = bw_row_is_null(row, BW_ICOL_RESPONDED_AT)
                          ? 0
                          : bw_row_int(row, BW_ICOL_RESPONDED_AT);
    r->has_review = !bw_row_is_null(row, BW_ICOL_ROOT_CAUSE) &&
                    !bw_row_is_null(row, BW_ICOL_LESSONS);
    r->updated_at = bw_row_int(row, BW_ICOL_UPDATED_AT);
    r->closed_at = bw_row_is_null(row, BW_ICOL_CLOSED_AT) ? 0 : bw_row_int(row, BW_ICOL_CLOSED_AT);
    const char *facts = bw_row_text(row, BW_ICOL_FACTS, NULL);
    r->facts = json_loads(facts != NULL ? facts : "{}", JSON_REJECT_DUPLICATES, NULL);
    if (r->facts == NULL || !json_is_object(r->facts)) {
        json_decref(r->facts);
        r->facts = json_object();
    }
    if (r->has_review) {
        r->root_cause = bw_strdup(bw_row_text(row, BW_ICOL_ROOT_CAUSE, NULL));
        r->lessons = bw_strdup(bw_row_text(row, BW_ICOL_LESSONS, NULL));
    }
    r->found = true;
    return r->facts != NULL ? BW_OK : BW_ERR_NOMEM;
}

void bw_inc_row_cleanup(struct bw_inc_row *r)
{
    json_decref(r->facts);
    bw_free(r->root_cause);
    bw_free(r->lessons);
    r->facts = NULL;
    r->root_cause = r->lessons = NULL;
}

enum bw_rc bw_inc_load(struct bw_tx *tx, const char *id, struct bw_inc_row *r)
{
    struct bw_val p[] = {BW_VTEXT(id)};
    r->found = false;
    r->facts = NULL;
    r->root_cause = r->lessons = NULL;
    if (!bw_id_valid(id))
        return BW_ERR_NOTFOUND;
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_INC_BY_ID, p, 1, inc_row_fn, r);
    if (rc == BW_OK && !r->found)
        rc = BW_ERR_NOTFOUND;
    if (rc != BW_OK)
        bw_inc_row_cleanup(r);
    return rc;
}

/* ---- opening ----------------------------------------------------------------------------- */

static enum bw_rc add_deadline(struct bw_tx *tx, const char *id, const char *kind, int64_t due)
{
    struct bw_val p[] = {BW_VTEXT(id), BW_VTEXT(kind), due != 0 ? BW_VINT(due) : BW_VNULL};
    return bw_tx_exec(tx, BW_STMT_INC_DEADLINE_ADD, p, BW_ARRAY_LEN(p), NULL);
}

/* CONTROL: G-01, INC-03 (decision C5) - clocks from the awareness time */
enum bw_rc bw_inc_flag_deadlines(struct bw_tx *tx, const struct bw_config *cfg, const char *id,
                                 int64_t aware_at, int significant, int personal_data)
{
    enum bw_rc rc = BW_OK;
    if (significant == 1) {
        rc = add_deadline(tx, id, "nis2_early_warning", aware_at + cfg->incident_nis2_early_warning);
        if (rc == BW_OK)
            rc = add_deadline(tx, id, "nis2_notification",
                              aware_at + cfg->incident_nis2_notification);
    }
    if (rc == BW_OK && personal_data == 1) {
        rc = add_deadline(tx, id, "gdpr_authority", aware_at + cfg->incident_gdpr_authority);
        if (rc == BW_OK)
            rc = add_deadline(tx, id, "gdpr_subjects", 0); /* Art. 34: without undue delay */
    }
    return rc;
}

static enum bw_rc check_new(const struct bw_incident_new *in, int64_t now, struct bw_reg_err *err)
{
    if (!bw_inc_text_ok(in->title, BW_INC_TITLE_MAX, false)) {
        bw_reg_err_set(err, "title", "required: 1 to 200 bytes of text without control characters");
        return BW_ERR_INVALID;
    }
    if (!bw_incident_severity_valid(in->severity)) {
        bw_reg_err_set(err, "severity", "must be one of P1, P2, P3, P4");
        return BW_ERR_INVALID;
    }
    if (in->aware_at < 0 || in->aware_at > now + 60) {
        bw_reg_err_set(err, "aware_at", "must not lie in the future");
        return BW_ERR_INVALID;
    }
    if (in->note != NULL && in->note[0] != '\0' &&
        !bw_inc_text_ok(in->note, BW_INC_NOTE_MAX, true)) {
        bw_reg_err_set(err, "note", "at most 4000 bytes of text");
        return BW_ERR_INVALID;
    }
    return BW_OK;
}

enum bw_rc bw_incident_open_tx(struct bw_tx *tx, const struct bw_config *cfg,
                               const struct bw_audit_ctx *ctx, const char *actor,
                               const struct bw_incident_new *in, char id[BW_ID_LEN + 1],
                               struct bw_reg_err *err)
{
    int64_t now = bw_time_now(), window = 0;
    char nid[BW_ID_LEN + 1], aware[21], due[21];
    uint64_t changes = 0;
    enum bw_rc rc = check_new(in, now, err);
    if (rc != BW_OK)
        return rc;
    int64_t aware_at = in->aware_at != 0 ? in->aware_at : now;
    rc = bw_incident_response_window(cfg, in->severity, &window);
    if (rc != BW_OK)
        return rc;
    bw_id_new(nid);
    struct bw_val p[] = {
        BW_VTEXT(nid),
        BW_VTEXT(in->title),
        BW_VTEXT(in->severity),
        BW_VINT(aware_at),
        BW_VINT(now),
        BW_VTEXT(actor),
        in->detect_key != NULL ? BW_VTEXT(in->detect_key) : BW_VNULL,
        BW_VINT(aware_at + window),
        in->significant >= 0 ? BW_VINT(in->significant) : BW_VNULL,
        in->personal_data >= 0 ? BW_VINT(in->personal_data) : BW_VNULL,
        BW_VTEXT("{}"),
    };
    rc = bw_tx_exec(tx, BW_STMT_INC_INSERT, p, BW_ARRAY_LEN(p), &changes);
    if (rc == BW_OK && changes == 0)
        return BW_ERR_EXISTS; /* an open incident holds this detection key */
    struct bw_val s[] = {BW_VTEXT(nid), BW_VTEXT("detected"), BW_VINT(now), BW_VTEXT(actor),
                         BW_VTEXT(in->note != NULL && in->note[0] ? in->note : "opened")};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_INC_STEP_INSERT, s, BW_ARRAY_LEN(s), NULL);
    if (rc == BW_OK)
        rc = add_deadline(tx, nid, "response", aware_at + window);
    if (rc == BW_OK)
        rc = bw_inc_flag_deadlines(tx, cfg, nid, aware_at, in->significant, in->personal_data);
    bw_time_format(aware_at, aware);
    bw_time_format(aware_at + window, due);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, ctx, actor, "incident.opened", nid, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s, s:s, s:s?}", "severity", in->severity,
                                       "aware_at", aware, "respond_by", due, "rule",
                                       in->detect_key));
    char subject[300];
    bw_why(subject, sizeof(subject), "[%s] incident opened: %s (respond by %s)", in->severity,
           in->title, due);
    if (rc == BW_OK)
        rc = bw_notify_security(tx, cfg, "incident.opened", subject,
                                json_pack("{s:s, s:s, s:s, s:s, s:s}", "incident", nid, "title",
                                          in->title, "severity", in->severity, "aware_at", aware,
                                          "respond_by", due));
    if (rc == BW_OK)
        memcpy(id, nid, sizeof(nid));
    return rc;
}

struct open_job {
    const struct bw_config *cfg;
    const struct bw_audit_ctx *ctx;
    const char *actor;
    const struct bw_incident_new *in;
    char id[BW_ID_LEN + 1];
    struct bw_reg_err *err;
};

static enum bw_rc open_fn(struct bw_tx *tx, void *arg)
{
    struct open_job *j = arg;
    return bw_incident_open_tx(tx, j->cfg, j->ctx, j->actor, j->in, j->id, j->err);
}

enum bw_rc bw_incident_open(struct bw_store *st, const struct bw_config *cfg,
                            const struct bw_audit_ctx *ctx, const char *actor,
                            const struct bw_incident_new *in, char id[BW_ID_LEN + 1],
                            struct bw_reg_err *err)
{
    struct open_job j = {cfg, ctx, actor, in, "", err};
    enum bw_rc rc = bw_store_write(st, open_fn, &j);
    if (rc == BW_OK)
        memcpy(id, j.id, sizeof(j.id));
    return rc;
}

/* ---- views ---------------------------------------------------------------------------------- */

static json_t *time_or_null(int64_t t)
{
    char s[21];
    if (t == 0)
        return json_null();
    bw_time_format(t, s);
    return json_string(s);
}

struct dl_ctx {
    json_t *obj;
    int64_t now;
    json_t *overdue;
};

static enum bw_rc deadline_row(void *arg, const struct bw_row *row)
{
    struct dl_ctx *d = arg;
    bool has_due = !bw_row_is_null(row, 1), met = !bw_row_is_null(row, 2);
    int64_t due = has_due ? bw_row_int(row, 1) : 0;
    const char *kind = bw_row_text(row, 0, NULL);
    bool over = has_due && ((!met && due <= d->now) || (met && bw_row_int(row, 2) > due));
    const char *state = met ? (over ? "met_late" : "met") : (over ? "overdue" : "open");
    json_t *o = json_pack("{s:o, s:o, s:s, s:b, s:b}", "due_at", time_or_null(due), "met_at",
                          time_or_null(met ? bw_row_int(row, 2) : 0), "state", state, "warned",
                          !bw_row_is_null(row, 3), "escalated", !bw_row_is_null(row, 4));
    if (o == NULL || json_object_set_new(d->obj, kind, o) != 0)
        return BW_ERR_NOMEM;
    if (!met && over && json_array_append_new(d->overdue, json_string(kind)) != 0)
        return BW_ERR_NOMEM;
    return BW_OK;
}

static const char *tri(int v)
{
    return v < 0 ? NULL : v ? "yes" : "no";
}

/* The SPEC 5 shape of one incident: {id,title,severity,status,significant,
 * personal_data,aware_at,deadlines:{...},...}. */
enum bw_rc bw_inc_json(struct bw_tx *tx, const struct bw_inc_row *r, json_t **out)
{
    struct dl_ctx d = {json_object(), bw_time_now(), json_array()};
    json_t *o = NULL;
    enum bw_rc rc = d.obj != NULL && d.overdue != NULL ? BW_OK : BW_ERR_NOMEM;
    struct bw_val p[] = {BW_VTEXT(r->id)};
    if (rc == BW_OK)
        rc = bw_tx_query(tx, BW_STMT_INC_DEADLINES, p, 1, deadline_row, &d);
    if (rc == BW_OK) {
        o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:s*, s:o, s:o, s:O, s:o, "
                      "s:o, s:o, s:o, s:O, s:o}",
                      "id", r->id, "title", r->title, "severity", r->severity, "status",
                      r->status, "significant",
                      r->significant < 0 ? json_null() : json_boolean(r->significant),
                      "personal_data",
                      r->personal_data < 0 ? json_null() : json_boolean(r->personal_data),
                      "aware_at", time_or_null(r->aware_at), "created_at",
                      time_or_null(r->created_at), "created_by", r->created_by, "rule",
                      r->detect_key[0] ? r->detect_key : NULL, "respond_by",
                      time_or_null(r->respond_by), "responded_at",
                      time_or_null(r->responded_at), "deadlines", d.obj, "overdue", d.overdue,
                      "updated_at", time_or_null(r->updated_at), "closed_at",
                      time_or_null(r->closed_at), "root_cause",
                      r->root_cause ? json_string(r->root_cause) : json_null(), "facts",
                      r->facts, "lessons", r->lessons ? json_string(r->lessons) : json_null());
        d.overdue = NULL;
        if (o == NULL)
            rc = BW_ERR_NOMEM;
    }
    if (o != NULL)
        json_object_set_new(o, "assessment",
                            json_pack("{s:s?, s:s?}", "significant", tri(r->significant),
                                      "personal_data", tri(r->personal_data)));
    json_decref(d.obj);
    json_decref(d.overdue);
    if (rc == BW_OK)
        *out = o;
    return rc;
}

static enum bw_rc step_row(void *arg, const struct bw_row *row)
{
    json_t *o = json_pack("{s:s, s:o, s:s, s:s}", "status", bw_row_text(row, 0, NULL), "at",
                          time_or_null(bw_row_int(row, 1)), "actor", bw_row_text(row, 2, NULL),
                          "note", bw_row_text(row, 3, NULL));
    return o != NULL && json_array_append_new(arg, o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

static enum bw_rc evidence_row(void *arg, const struct bw_row *row)
{
    json_t *o = json_pack("{s:I, s:s, s:o, s:s?, s:s?, s:s?}", "audit_seq",
                          (json_int_t)bw_row_int(row, 0), "rule", bw_row_text(row, 1, NULL), "ts",
                          time_or_null(bw_row_is_null(row, 2) ? 0 : bw_row_int(row, 2)),
                          "action", bw_row_is_null(row, 3) ? NULL : bw_row_text(row, 3, NULL),
                          "target", bw_row_is_null(row, 4) ? NULL : bw_row_text(row, 4, NULL),
                          "remote", bw_row_is_null(row, 5) ? NULL : bw_row_text(row, 5, NULL));
    return o != NULL && json_array_append_new(arg, o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

static enum bw_rc submission_row(void *arg, const struct bw_row *row)
{
    json_t *o = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s?}", "id", bw_row_text(row, 0, NULL),
                          "kind", bw_row_text(row, 1, NULL), "submitted_at",
                          time_or_null(bw_row_int(row, 2)), "actor", bw_row_text(row, 3, NULL),
                          "sha256", bw_row_text(row, 4, NULL), "delay_reason",
                          bw_row_is_null(row, 5) ? NULL : bw_row_text(row, 5, NULL));
    return o != NULL && json_array_append_new(arg, o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

static enum bw_rc task_row(void *arg, const struct bw_row *row)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "id", bw_row_text(row, 0, NULL),
                          "kind", bw_row_text(row, 1, NULL), "title", bw_row_text(row, 2, NULL),
                          "created_at", time_or_null(bw_row_int(row, 3)), "due_at",
                          time_or_null(bw_row_int(row, 4)), "done_at",
                          time_or_null(bw_row_is_null(row, 5) ? 0 : bw_row_int(row, 5)));
    return o != NULL && json_array_append_new(arg, o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

struct get_job {
    const char *id;
    json_t *out;
};

static enum bw_rc attach_list(struct bw_tx *tx, json_t *o, const char *name, enum bw_stmt stmt,
                              const char *id, bw_row_fn fn)
{
    json_t *a = json_array();
    struct bw_val p[] = {BW_VTEXT(id)};
    enum bw_rc rc = a != NULL ? bw_tx_query(tx, stmt, p, 1, fn, a) : BW_ERR_NOMEM;
    if (rc == BW_OK && json_object_set_new(o, name, a) != 0)
        return BW_ERR_NOMEM;
    if (rc != BW_OK)
        json_decref(a);
    return rc;
}

static enum bw_rc get_fn(struct bw_tx *tx, void *arg)
{
    struct get_job *j = arg;
    struct bw_inc_row r;
    json_t *o = NULL;
    enum bw_rc rc = bw_inc_load(tx, j->id, &r);
    if (rc != BW_OK)
        return rc;
    rc = bw_inc_json(tx, &r, &o);
    bw_inc_row_cleanup(&r);
    if (rc == BW_OK)
        rc = attach_list(tx, o, "steps", BW_STMT_INC_STEPS, j->id, step_row);
    if (rc == BW_OK)
        rc = attach_list(tx, o, "evidence", BW_STMT_INC_EVIDENCE_LIST, j->id, evidence_row);
    if (rc == BW_OK)
        rc = attach_list(tx, o, "submissions", BW_STMT_INC_SUBMISSIONS, j->id, submission_row);
    if (rc == BW_OK)
        rc = attach_list(tx, o, "tasks", BW_STMT_TASKS_BY_REF, j->id, task_row);
    if (rc != BW_OK) {
        json_decref(o);
        return rc;
    }
    json_decref(j->out);
    j->out = o;
    return BW_OK;
}

enum bw_rc bw_incident_get(struct bw_store *st, const struct bw_config *cfg, const char *id,
                           json_t **out)
{
    struct get_job j = {id, NULL};
    enum bw_rc rc = bw_store_read(st, get_fn, &j);
    if (rc == BW_OK)
        *out = j.out;
    else
        json_decref(j.out);
    return rc;
}

/* Collects rows first: a nested query inside a row callback would need a
 * second statement on the same connection while the first is running. */
struct id_list {
    char (*ids)[BW_ID_LEN + 1];
    size_t n, cap;
};

static enum bw_rc id_row(void *arg, const struct bw_row *row)
{
    struct id_list *l = arg;
    if (l->n < l->cap)
        bw_why(l->ids[l->n++], BW_ID_LEN + 1, "%s", bw_row_text(row, 0, NULL));
    return BW_OK;
}

static enum bw_rc list_fn(struct bw_tx *tx, void *arg)
{
    json_t **out = arg;
    struct id_list l = {bw_calloc(1000, BW_ID_LEN + 1), 0, 1000};
    json_t *items = json_array();
    struct bw_val p[] = {BW_VINT(1000)};
    enum bw_rc rc = l.ids != NULL && items != NULL ? BW_OK : BW_ERR_NOMEM;
    if (rc == BW_OK)
        rc = bw_tx_query(tx, BW_STMT_INC_LIST, p, 1, id_row, &l);
    for (size_t i = 0; rc == BW_OK && i < l.n; i++) {
        struct bw_inc_row r;
        json_t *o = NULL;
        rc = bw_inc_load(tx, l.ids[i], &r);
        if (rc == BW_OK) {
            rc = bw_inc_json(tx, &r, &o);
            bw_inc_row_cleanup(&r);
        }
        if (rc == BW_OK && json_array_append_new(items, o) != 0)
            rc = BW_ERR_NOMEM;
    }
    bw_free(l.ids);
    if (rc == BW_OK) {
        json_decref(*out);
        *out = json_pack("{s:o, s:n}", "items", items, "next_cursor");
        return *out != NULL ? BW_OK : BW_ERR_NOMEM;
    }
    json_decref(items);
    return rc;
}

enum bw_rc bw_incident_list(struct bw_store *st, const struct bw_config *cfg, json_t **out)
{
    json_t *o = NULL;
    enum bw_rc rc = bw_store_read(st, list_fn, &o);
    if (rc == BW_OK)
        *out = o;
    else
        json_decref(o);
    return rc;
}

static enum bw_rc overdue_inc_row(void *arg, const struct bw_row *row)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s}", "type", "incident", "id",
                          bw_row_text(row, 0, NULL), "kind", bw_row_text(row, 1, NULL), "due_at",
                          time_or_null(bw_row_int(row, 2)), "severity",
                          bw_row_text(row, 3, NULL), "title", bw_row_text(row, 4, NULL));
    return o != NULL && json_array_append_new(arg, o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

static enum bw_rc overdue_vuln_row(void *arg, const struct bw_row *row)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s}", "type", "vulnerability", "id",
                          bw_row_text(row, 0, NULL), "kind", bw_row_text(row, 3, NULL), "due_at",
                          time_or_null(bw_row_int(row, 4)), "severity",
                          bw_row_text(row, 2, NULL), "title", bw_row_text(row, 1, NULL));
    return o != NULL && json_array_append_new(arg, o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

static enum bw_rc overdue_fn(struct bw_tx *tx, void *arg)
{
    json_t *items = arg;
    struct bw_val p[] = {BW_VINT(bw_time_now())};
    json_array_clear(items);
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_INC_OVERDUE, p, 1, overdue_inc_row, items);
    if (rc == BW_OK)
        rc = bw_tx_query(tx, BW_STMT_VULN_OVERDUE_ALL, p, 1, overdue_vuln_row, items);
    return rc;
}

enum bw_rc bw_incident_overdue(struct bw_store *st, json_t **out)
{
    json_t *items = json_array();
    if (items == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc = bw_store_read(st, overdue_fn, items);
    if (rc != BW_OK) {
        json_decref(items);
        return rc;
    }
    *out = json_pack("{s:o}", "items", items);
    return *out != NULL ? BW_OK : BW_ERR_NOMEM;
}
