/*
 * workflow.c - what happens to an open incident: status steps (CONTROL:
 * INC-02), the post-incident review and its policy-review task (INC-04,
 * GOV-03), the significance / personal-data assessment with the report
 * facts (G-02), submissions to authorities with their SHA-256 (G-01,
 * INC-03), report drafts in Markdown and JSON, and the containment actions
 * (INC-02): end a user's sessions, disable an account, revoke every API
 * key of an organisation, end every session of its members, read-only mode.
 *
 * Trusts: the caller authorised the actor. Checks every input; each change
 * and its audit event share one transaction. The read-only flag is stored
 * first and mirrored into the process only after the commit.
 */
#include "audit/audit.h"
#include "auth/auth.h"
#include "incident/incident_int.h"
#include "store/store.h"
#include "tenant/tenant.h"

#include <jansson.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

/* ---- transitions ------------------------------------------------------------------ */

struct trans_job {
    const struct bw_config *cfg;
    const struct bw_audit_ctx *ctx;
    const char *actor, *id, *to, *note, *root_cause, *lessons;
    struct bw_reg_err *err;
};

static enum bw_rc close_review(struct bw_tx *tx, struct trans_job *j, const struct bw_inc_row *r,
                               int64_t now)
{
    const char *cause = j->root_cause != NULL ? j->root_cause : r->root_cause;
    const char *lessons = j->lessons != NULL ? j->lessons : r->lessons;
    /* CONTROL: INC-04 - no close without the post-incident review */
    if (!bw_inc_text_ok(cause, BW_INC_TEXT_MAX, true)) {
        bw_reg_err_set(j->err, "root_cause", "closing needs the root cause");
        return BW_ERR_INVALID;
    }
    if (!bw_inc_text_ok(lessons, BW_INC_TEXT_MAX, true)) {
        bw_reg_err_set(j->err, "lessons", "closing needs the lessons learned");
        return BW_ERR_INVALID;
    }
    struct bw_val p[] = {BW_VTEXT(j->id), BW_VTEXT(cause), BW_VTEXT(lessons), BW_VINT(now)};
    enum bw_rc rc = bw_tx_exec(tx, BW_STMT_INC_SET_REVIEW, p, BW_ARRAY_LEN(p), NULL);
    /* CONTROL: GOV-03 - closing opens a policy-review task linked to the incident */
    char tid[BW_ID_LEN + 1], title[300];
    bw_id_new(tid);
    bw_why(title, sizeof(title), "Review the security policy after incident %s (%s)", r->id,
           r->severity);
    struct bw_val t[] = {BW_VTEXT(tid), BW_VTEXT("policy_review"), BW_VTEXT(r->id),
                         BW_VTEXT(title), BW_VINT(now), BW_VINT(now + j->cfg->incident_review_due)};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_TASK_INSERT, t, BW_ARRAY_LEN(t), NULL);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, j->actor, "task.created", tid, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s}", "kind", "policy_review", "incident", r->id));
    return rc;
}

static enum bw_rc trans_fn(struct bw_tx *tx, void *arg)
{
    struct trans_job *j = arg;
    struct bw_inc_row r;
    int64_t now = bw_time_now();
    uint64_t changes = 0;
    enum bw_rc rc = bw_inc_load(tx, j->id, &r);
    if (rc != BW_OK)
        return rc;
    int from = bw_incident_status_index(r.status), to = bw_incident_status_index(j->to);
    /* CONTROL: INC-02 - one stage after the other, so every stage has its record */
    if (to != from + 1) {
        bw_reg_err_set(j->err, "to", to < 0 ? "unknown status" : "not the next status");
        rc = to < 0 ? BW_ERR_INVALID : BW_ERR_CONFLICT;
    }
    if (rc == BW_OK && to == 5)
        rc = close_review(tx, j, &r, now);
    struct bw_val p[] = {BW_VTEXT(j->id), BW_VTEXT(r.status), BW_VTEXT(j->to), BW_VINT(now)};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_INC_SET_STATUS, p, BW_ARRAY_LEN(p), &changes);
    if (rc == BW_OK && changes == 0)
        rc = BW_ERR_CONFLICT; /* moved meanwhile */
    struct bw_val s[] = {BW_VTEXT(j->id), BW_VTEXT(j->to), BW_VINT(now), BW_VTEXT(j->actor),
                         BW_VTEXT(j->note)};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_INC_STEP_INSERT, s, BW_ARRAY_LEN(s), NULL);
    /* CONTROL: INC-01 - the first response is leaving `detected` */
    struct bw_val m[] = {BW_VTEXT(j->id), BW_VTEXT("response"), BW_VINT(now)};
    if (rc == BW_OK && from == 0)
        rc = bw_tx_exec(tx, BW_STMT_INC_DEADLINE_MEET, m, BW_ARRAY_LEN(m), NULL);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, j->actor, "incident.transition", j->id,
                             BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s, s:b}", "from", r.status, "to", j->to, "late",
                                       from == 0 && now > r.respond_by));
    bw_inc_row_cleanup(&r);
    return rc;
}

enum bw_rc bw_incident_transition(struct bw_store *st, const struct bw_config *cfg,
                                  const struct bw_audit_ctx *ctx, const char *actor,
                                  const char *id, const char *to, const char *note,
                                  const char *root_cause, const char *lessons,
                                  struct bw_reg_err *err)
{
    if (!bw_inc_text_ok(note, BW_INC_NOTE_MAX, true)) {
        bw_reg_err_set(err, "note", "every step needs a note (1 to 4000 bytes)");
        return BW_ERR_INVALID;
    }
    if ((root_cause != NULL && !bw_inc_text_ok(root_cause, BW_INC_TEXT_MAX, true)) ||
        (lessons != NULL && !bw_inc_text_ok(lessons, BW_INC_TEXT_MAX, true))) {
        bw_reg_err_set(err, root_cause != NULL ? "root_cause" : "lessons",
                       "at most 16000 bytes of text");
        return BW_ERR_INVALID;
    }
    struct trans_job j = {cfg, ctx, actor, id, to != NULL ? to : "", note, root_cause, lessons, err};
    return bw_audit_write(st, trans_fn, &j); /* appends before row updates */
}

/* ---- assessment and facts --------------------------------------------------------- */

/* Report facts (docs/INCIDENTS.md): GDPR Art. 33(3)(a)-(d), NIS2 Art. 23(4). */
static const char *const fact_texts[] = {
    "nature",      "subject_categories", "subjects_approx", "record_categories",
    "records_approx", "dpo_contact",     "consequences",    "measures",
    "impact",      "indicators",         "description",
};
static const char *const fact_bools[] = {"suspected_malicious", "cross_border"};

static bool in_list(const char *k, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(k, list[i]) == 0)
            return true;
    }
    return false;
}

/* Merges the body's facts into `facts`; BW_ERR_INVALID names the member. */
static enum bw_rc merge_facts(json_t *facts, const json_t *in, struct bw_reg_err *err)
{
    const char *k;
    json_t *v;
    if (!json_is_object(in)) {
        bw_reg_err_set(err, "facts", "must be an object");
        return BW_ERR_INVALID;
    }
    json_object_foreach((json_t *)in, k, v) {
        bool text = in_list(k, fact_texts, BW_ARRAY_LEN(fact_texts));
        bool flag = in_list(k, fact_bools, BW_ARRAY_LEN(fact_bools));
        char field[64];
        bw_why(field, sizeof(field), "facts.%.40s", text || flag ? k : "?");
        if (!text && !flag) {
            bw_reg_err_set(err, field, "unknown member");
            return BW_ERR_INVALID;
        }
        if ((text && (!json_is_string(v) ||
                      !bw_inc_text_ok(json_string_value(v), BW_INC_TEXT_MAX, true))) ||
            (flag && !json_is_boolean(v))) {
            bw_reg_err_set(err, field, text ? "must be text of 1 to 16000 bytes" : "must be true or false");
            return BW_ERR_INVALID;
        }
        if (json_object_set(facts, k, v) != 0)
            return BW_ERR_NOMEM;
    }
    return BW_OK;
}

struct assess_job {
    const struct bw_config *cfg;
    const struct bw_audit_ctx *ctx;
    const char *actor, *id;
    const json_t *body;
    struct bw_reg_err *err;
};

/* A flag from the body: -2 absent, else 0/1; BW_ERR_INVALID when not boolean. */
static enum bw_rc body_flag(const json_t *body, const char *name, int *out,
                            struct bw_reg_err *err)
{
    json_t *v = json_object_get(body, name);
    *out = -2;
    if (v == NULL)
        return BW_OK;
    if (!json_is_boolean(v)) {
        bw_reg_err_set(err, name, "must be true or false");
        return BW_ERR_INVALID;
    }
    *out = json_is_true(v) ? 1 : 0;
    return BW_OK;
}

static enum bw_rc new_flag(int old, int given, const char *name, int *out, struct bw_reg_err *err)
{
    *out = given == -2 ? old : given;
    if (old == 1 && given == 0) {
        bw_reg_err_set(err, name, "a recorded yes cannot be withdrawn; its clocks keep running");
        return BW_ERR_CONFLICT;
    }
    return BW_OK;
}

static enum bw_rc assess_fn(struct bw_tx *tx, void *arg)
{
    struct assess_job *j = arg;
    struct bw_inc_row r;
    int sig = -2, pd = -2, nsig = -1, npd = -1;
    enum bw_rc rc = bw_inc_load(tx, j->id, &r);
    if (rc != BW_OK)
        return rc;
    if (strcmp(r.status, "closed") == 0) {
        bw_reg_err_set(j->err, "status", "the incident is closed");
        rc = BW_ERR_CONFLICT;
    }
    if (rc == BW_OK)
        rc = body_flag(j->body, "significant", &sig, j->err);
    if (rc == BW_OK)
        rc = body_flag(j->body, "personal_data", &pd, j->err);
    if (rc == BW_OK)
        rc = new_flag(r.significant, sig, "significant", &nsig, j->err);
    if (rc == BW_OK)
        rc = new_flag(r.personal_data, pd, "personal_data", &npd, j->err);
    json_t *facts = json_object_get(j->body, "facts");
    if (rc == BW_OK && facts != NULL)
        rc = merge_facts(r.facts, facts, j->err);
    char *text = rc == BW_OK ? json_dumps(r.facts, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (rc == BW_OK && text == NULL)
        rc = BW_ERR_NOMEM;
    struct bw_val p[] = {BW_VTEXT(j->id), nsig >= 0 ? BW_VINT(nsig) : BW_VNULL,
                         npd >= 0 ? BW_VINT(npd) : BW_VNULL, BW_VTEXT(text ? text : ""),
                         BW_VINT(bw_time_now())};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_INC_SET_ASSESSMENT, p, BW_ARRAY_LEN(p), NULL);
    if (rc == BW_OK)
        rc = bw_inc_flag_deadlines(tx, j->cfg, j->id, r.aware_at, nsig, npd);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, j->actor, "incident.assessed", j->id, BW_AUDIT_SUCCESS,
                             json_pack("{s:o, s:o}", "significant",
                                       nsig < 0 ? json_null() : json_boolean(nsig),
                                       "personal_data", npd < 0 ? json_null() : json_boolean(npd)));
    bw_free(text);
    bw_inc_row_cleanup(&r);
    return rc;
}

enum bw_rc bw_incident_assess(struct bw_store *st, const struct bw_config *cfg,
                              const struct bw_audit_ctx *ctx, const char *actor, const char *id,
                              const json_t *body, struct bw_reg_err *err)
{
    struct assess_job j = {cfg, ctx, actor, id, body, err};
    return bw_store_write(st, assess_fn, &j);
}

/* ---- submissions -------------------------------------------------------------------- */

static const char *const gdpr_required[] = {"nature",         "subject_categories",
                                            "subjects_approx", "record_categories",
                                            "records_approx", "dpo_contact",
                                            "consequences",   "measures"};
static const char *const nis2_required[] = {"suspected_malicious", "cross_border"};

/* Which facts a report of `kind` needs; NULL for an unknown kind. */
static const char *const *required_facts(const char *kind, size_t *n)
{
    if (strcmp(kind, "gdpr_authority") == 0) {
        *n = BW_ARRAY_LEN(gdpr_required);
        return gdpr_required;
    }
    if (strncmp(kind, "nis2_", 5) == 0) {
        *n = BW_ARRAY_LEN(nis2_required);
        return nis2_required;
    }
    *n = 0;
    return NULL;
}

struct submit_job {
    const struct bw_config *cfg;
    const struct bw_audit_ctx *ctx;
    const char *actor, *id, *kind, *content, *delay_reason;
    char sub_id[BW_ID_LEN + 1];
    struct bw_reg_err *err;
};

static enum bw_rc submit_checks(struct submit_job *j, const struct bw_inc_row *r, int64_t due,
                                int64_t now)
{
    bool nis2 = strncmp(j->kind, "nis2_", 5) == 0;
    if ((nis2 && r->significant != 1) || (!nis2 && r->personal_data != 1)) {
        bw_reg_err_set(j->err, "kind", nis2 ? "the incident is not assessed as significant"
                                            : "the incident is not assessed as a personal-data "
                                              "breach");
        return BW_ERR_CONFLICT;
    }
    size_t n = 0;
    const char *const *req = required_facts(j->kind, &n);
    bool needs_facts = strcmp(j->kind, "gdpr_authority") == 0 ||
                       strcmp(j->kind, "nis2_early_warning") == 0;
    for (size_t i = 0; needs_facts && i < n; i++) {
        if (json_object_get(r->facts, req[i]) == NULL) {
            char field[64];
            bw_why(field, sizeof(field), "facts.%s", req[i]);
            bw_reg_err_set(j->err, field, "required for this report: record it with assess");
            return BW_ERR_INVALID;
        }
    }
    /* CONTROL: INC-03 - GDPR Art. 33(1): a late notification states its reason */
    if (strcmp(j->kind, "gdpr_authority") == 0 && due != 0 && now > due &&
        (j->delay_reason == NULL || !bw_inc_text_ok(j->delay_reason, BW_INC_TEXT_MAX, true))) {
        bw_reg_err_set(j->err, "delay_reason", "the 72-hour deadline has passed: give the reason");
        return BW_ERR_INVALID;
    }
    return BW_OK;
}

struct kind_due {
    const char *kind;
    bool found;
    int64_t due;
};

static enum bw_rc kind_due_row(void *arg, const struct bw_row *row)
{
    struct kind_due *k = arg;
    if (strcmp(bw_row_text(row, 0, NULL), k->kind) == 0) {
        k->found = true;
        k->due = bw_row_is_null(row, 1) ? 0 : bw_row_int(row, 1);
    }
    return BW_OK;
}

static enum bw_rc submit_fn(struct bw_tx *tx, void *arg)
{
    struct submit_job *j = arg;
    struct bw_inc_row r;
    int64_t now = bw_time_now();
    uint8_t hash[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1], sid[BW_ID_LEN + 1];
    struct kind_due kd = {j->kind, false, 0};
    enum bw_rc rc = bw_inc_load(tx, j->id, &r);
    if (rc != BW_OK)
        return rc;
    struct bw_val q[] = {BW_VTEXT(j->id)};
    rc = bw_tx_query(tx, BW_STMT_INC_DEADLINES, q, 1, kind_due_row, &kd);
    if (rc == BW_OK)
        rc = submit_checks(j, &r, kd.due, now);
    crypto_hash_sha256(hash, (const unsigned char *)j->content, strlen(j->content));
    bw_hex(hash, sizeof(hash), hex);
    bw_id_new(sid);
    struct bw_val p[] = {BW_VTEXT(sid),     BW_VTEXT(j->id),    BW_VTEXT(j->kind),
                         BW_VINT(now),      BW_VTEXT(j->actor), BW_VTEXT(j->content),
                         BW_VTEXT(hex),
                         j->delay_reason ? BW_VTEXT(j->delay_reason) : BW_VNULL};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_INC_SUBMISSION_INSERT, p, BW_ARRAY_LEN(p), NULL);
    struct bw_val m[] = {BW_VTEXT(j->id), BW_VTEXT(j->kind), BW_VINT(now)};
    if (rc == BW_OK && kd.found)
        rc = bw_tx_exec(tx, BW_STMT_INC_DEADLINE_MEET, m, BW_ARRAY_LEN(m), NULL);
    /* CONTROL: G-01 - the final report is due one month after the notification */
    struct bw_val f[] = {BW_VTEXT(j->id), BW_VTEXT("nis2_final"),
                         BW_VINT(now + j->cfg->incident_nis2_final)};
    if (rc == BW_OK && strcmp(j->kind, "nis2_notification") == 0)
        rc = bw_tx_exec(tx, BW_STMT_INC_DEADLINE_ADD, f, BW_ARRAY_LEN(f), NULL);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, j->actor, "incident.submitted", j->id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s, s:s, s:b, s:b}", "submission", sid, "kind",
                                       j->kind, "sha256", hex, "late", kd.due != 0 && now > kd.due,
                                       "delay_reason", j->delay_reason != NULL));
    if (rc == BW_OK)
        memcpy(j->sub_id, sid, sizeof(sid));
    bw_inc_row_cleanup(&r);
    return rc;
}

enum bw_rc bw_incident_submit(struct bw_store *st, const struct bw_config *cfg,
                              const struct bw_audit_ctx *ctx, const char *actor, const char *id,
                              const char *kind, const char *content, const char *delay_reason,
                              char sub_id[BW_ID_LEN + 1], struct bw_reg_err *err)
{
    static const char *const kinds[] = {"nis2_early_warning", "nis2_notification",
                                        "nis2_intermediate",  "nis2_final",
                                        "gdpr_authority",     "gdpr_subjects"};
    if (kind == NULL || !in_list(kind, kinds, BW_ARRAY_LEN(kinds))) {
        bw_reg_err_set(err, "kind", "unknown submission kind");
        return BW_ERR_INVALID;
    }
    if (!bw_inc_text_ok(content, BW_INC_CONTENT_MAX, true)) {
        bw_reg_err_set(err, "content", "required: the text as submitted (at most 64 KiB)");
        return BW_ERR_INVALID;
    }
    if (delay_reason != NULL && !bw_inc_text_ok(delay_reason, BW_INC_TEXT_MAX, true)) {
        bw_reg_err_set(err, "delay_reason", "at most 16000 bytes of text");
        return BW_ERR_INVALID;
    }
    struct submit_job j = {cfg, ctx, actor, id, kind, content, delay_reason, "", err};
    enum bw_rc rc = bw_store_write(st, submit_fn, &j);
    if (rc == BW_OK)
        memcpy(sub_id, j.sub_id, sizeof(j.sub_id));
    return rc;
}

/* ---- report drafts ---------------------------------------------------------------------- */

struct report_job {
    const struct bw_config *cfg;
    const char *id, *kind;
    json_t *out;
};

static enum bw_rc report_md(struct bw_buf *b, const struct bw_inc_row *r, const char *kind,
                            const json_t *fields, const json_t *missing)
{
    char aware[21];
    const char *k;
    json_t *v;
    bw_time_format(r->aware_at, aware);
    enum bw_rc rc = bw_buf_appendf(b, "# %s report draft: %s\n\n- Incident: %s\n- Severity: %s\n"
                                      "- Aware since: %s\n\n",
                                   strcmp(kind, "gdpr_authority") == 0
                                       ? "GDPR Art. 33 notification"
                                       : "NIS2 Art. 23",
                                   r->title, r->id, r->severity, aware);
    json_object_foreach((json_t *)fields, k, v) {
        if (rc != BW_OK)
            break;
        if (json_is_string(v))
            rc = bw_buf_appendf(b, "## %s\n\n%s\n\n", k, json_string_value(v));
        else
            rc = bw_buf_appendf(b, "## %s\n\n%s\n\n", k,
                                json_is_null(v) ? "MISSING" : json_is_true(v) ? "yes" : "no");
    }
    if (rc == BW_OK && json_array_size(missing) > 0)
        rc = bw_buf_appendf(b, "**Missing fields: %zu** (record them before submitting)\n",
                            json_array_size(missing));
    return rc;
}

static enum bw_rc report_fn(struct bw_tx *tx, void *arg)
{
    struct report_job *j = arg;
    struct bw_inc_row r;
    struct bw_buf md;
    size_t n = 0;
    const char *const *req = required_facts(j->kind, &n);
    enum bw_rc rc = bw_inc_load(tx, j->id, &r);
    if (rc != BW_OK)
        return rc;
    json_t *fields = json_object(), *missing = json_array(), *o = NULL;
    bw_buf_init(&md, 1 << 20);
    for (size_t i = 0; fields != NULL && missing != NULL && i < n; i++) {
        json_t *v = json_object_get(r.facts, req[i]);
        json_object_set(fields, req[i], v != NULL ? v : json_null());
        if (v == NULL)
            json_array_append_new(missing, json_string(req[i]));
    }
    if (fields == NULL || missing == NULL)
        rc = BW_ERR_NOMEM;
    if (rc == BW_OK)
        rc = report_md(&md, &r, j->kind, fields, missing);
    if (rc == BW_OK)
        rc = bw_inc_json(tx, &r, &o);
    if (rc == BW_OK) {
        j->out = json_pack("{s:s, s:o, s:O, s:O, s:s}", "kind", j->kind, "incident", o, "fields",
                           fields, "missing", missing, "markdown", md.data);
        rc = j->out != NULL ? BW_OK : BW_ERR_NOMEM;
    }
    json_decref(fields);
    json_decref(missing);
    bw_buf_free(&md, false);
    bw_inc_row_cleanup(&r);
    return rc;
}

enum bw_rc bw_incident_report(struct bw_store *st, const struct bw_config *cfg, const char *id,
                              const char *kind, json_t **out, struct bw_reg_err *err)
{
    size_t n = 0;
    if (kind == NULL || required_facts(kind, &n) == NULL ||
        (strcmp(kind, "gdpr_authority") != 0 && strcmp(kind, "nis2_early_warning") != 0 &&
         strcmp(kind, "nis2_notification") != 0)) {
        bw_reg_err_set(err, "kind", "one of gdpr_authority, nis2_early_warning, nis2_notification");
        return BW_ERR_INVALID;
    }
    struct report_job j = {cfg, id, kind, NULL};
    enum bw_rc rc = bw_store_read(st, report_fn, &j);
    if (rc == BW_OK)
        *out = j.out;
    else
        json_decref(j.out);
    return rc;
}

/* ---- containment and read-only mode ------------------------------------------------------ */

static atomic_bool read_only;

bool bw_readonly_active(void)
{
    return atomic_load(&read_only);
}

void bw_readonly_set_local(bool on)
{
    atomic_store(&read_only, on);
}

static enum bw_rc readonly_fn(struct bw_tx *tx, void *arg)
{
    struct bw_buf v;
    bw_buf_init(&v, 16);
    enum bw_rc rc = bw_store_meta_get(tx, "server.read_only", &v);
    if (rc == BW_OK)
        *(bool *)arg = strcmp(v.data, "1") == 0;
    else if (rc == BW_ERR_NOTFOUND) {
        *(bool *)arg = false;
        rc = BW_OK;
    }
    bw_buf_free(&v, false);
    return rc;
}

enum bw_rc bw_readonly_refresh(struct bw_store *st)
{
    bool on = false;
    enum bw_rc rc = bw_store_read(st, readonly_fn, &on);
    if (rc == BW_OK)
        bw_readonly_set_local(on);
    return rc;
}

struct contain_job {
    const struct bw_config *cfg;
    const struct bw_audit_ctx *ctx;
    const char *actor, *id, *action, *user, *org;
    bool enabled;
    json_t *result;
    struct bw_reg_err *err;
};

static enum bw_rc contain_user(struct bw_tx *tx, struct contain_job *j, bool disable)
{
    struct bw_user u;
    char email[BW_EMAIL_MAX + 1];
    enum bw_rc rc = j->user != NULL ? bw_email_normalize(j->user, email) : BW_ERR_INVALID;
    if (rc != BW_OK) {
        bw_reg_err_set(j->err, "user", "the e-mail address of an account is required");
        return BW_ERR_INVALID;
    }
    rc = bw_user_by_email(tx, email, &u);
    if (rc == BW_ERR_NOTFOUND)
        bw_reg_err_set(j->err, "user", "no such account");
    struct bw_val p[] = {BW_VTEXT(u.id), BW_VTEXT("disabled")};
    if (rc == BW_OK && disable)
        rc = bw_tx_exec(tx, BW_STMT_USER_SET_STATUS, p, 2, NULL);
    if (rc == BW_OK && disable)
        rc = bw_audit_append(tx, j->ctx, j->actor, "user.disabled", u.id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s}", "email", u.email, "incident", j->id));
    if (rc == BW_OK)
        rc = bw_session_end_all(tx, u.id);
    if (rc == BW_OK)
        j->result = json_pack("{s:s, s:s, s:s}", "action", j->action, "user", u.id, "email",
                              u.email);
    sodium_memzero(&u, sizeof(u));
    return rc;
}

/* The organisation named by the request; BW_ERR_INVALID / BW_ERR_NOTFOUND
 * with the field error set otherwise. */
static enum bw_rc contain_org_check(struct bw_tx *tx, struct contain_job *j)
{
    struct bw_org o;
    if (j->org == NULL || !bw_id_valid(j->org)) {
        bw_reg_err_set(j->err, "org", "the id of an organisation is required");
        return BW_ERR_INVALID;
    }
    enum bw_rc rc = bw_org_get(tx, j->org, &o);
    if (rc == BW_ERR_NOTFOUND)
        bw_reg_err_set(j->err, "org", "no such organisation");
    return rc;
}

static bool key_live(const json_t *k)
{
    json_t *rev = json_object_get(k, "revoked_at");
    return rev == NULL || json_is_null(rev);
}

/* CONTROL: INC-02 - every live API key of the organisation revoked (each
 * audited apikey.revoked); the effect is checked before the commit. */
static enum bw_rc contain_org_keys(struct bw_tx *tx, struct contain_job *j)
{
    json_t *keys = NULL, *after = NULL, *k;
    json_t *done = json_array();
    size_t i;
    enum bw_rc rc = done != NULL ? bw_apikey_list(tx, j->org, &keys) : BW_ERR_NOMEM;
    json_array_foreach(keys, i, k) {
        const char *kid = json_string_value(json_object_get(k, "id"));
        if (rc != BW_OK || kid == NULL || !key_live(k))
            continue;
        rc = bw_apikey_revoke(tx, j->ctx, j->actor, j->org, kid);
        if (rc == BW_OK && json_array_append_new(done, json_string(kid)) != 0)
            rc = BW_ERR_NOMEM;
    }
    if (rc == BW_OK)
        rc = bw_apikey_list(tx, j->org, &after);
    json_array_foreach(after, i, k) {
        if (rc == BW_OK && key_live(k))
            rc = BW_ERR_INTERNAL; /* a key survived: roll back, never report success */
    }
    if (rc == BW_OK) {
        j->result = json_pack("{s:s, s:s, s:O, s:b}", "action", j->action, "org", j->org,
                              "revoked", done, "verified", true);
        rc = j->result != NULL ? BW_OK : BW_ERR_NOMEM;
    }
    json_decref(keys);
    json_decref(after);
    json_decref(done);
    return rc;
}

struct count_q {
    uint64_t n;
};

static enum bw_rc count_rows(void *arg, const struct bw_row *row)
{
    (void)row;
    ((struct count_q *)arg)->n++;
    return BW_OK;
}

/* CONTROL: INC-02 - every session of every member of the organisation
 * ended; the effect is checked before the commit. */
static enum bw_rc contain_org_sessions(struct bw_tx *tx, struct contain_job *j)
{
    json_t *members = NULL, *m;
    json_t *users = json_array();
    uint64_t ended = 0;
    size_t i;
    enum bw_rc rc = users != NULL ? bw_member_list(tx, j->org, &members) : BW_ERR_NOMEM;
    json_array_foreach(members, i, m) {
        const char *uid = json_string_value(json_object_get(m, "user_id"));
        struct count_q before = {0}, after = {0};
        struct bw_val p[] = {BW_VTEXT(uid)};
        if (rc != BW_OK || uid == NULL)
            continue;
        rc = bw_tx_query(tx, BW_STMT_SESSION_LIST_USER, p, 1, count_rows, &before);
        if (rc == BW_OK)
            rc = bw_session_end_all(tx, uid);
        if (rc == BW_OK)
            rc = bw_tx_query(tx, BW_STMT_SESSION_LIST_USER, p, 1, count_rows, &after);
        if (rc == BW_OK && after.n != 0)
            rc = BW_ERR_INTERNAL;
        ended += before.n;
        if (rc == BW_OK && json_array_append_new(users, json_string(uid)) != 0)
            rc = BW_ERR_NOMEM;
    }
    if (rc == BW_OK) {
        j->result = json_pack("{s:s, s:s, s:O, s:I, s:b}", "action", j->action, "org", j->org,
                              "users", users, "sessions_ended", (json_int_t)ended, "verified",
                              true);
        rc = j->result != NULL ? BW_OK : BW_ERR_NOMEM;
    }
    json_decref(members);
    json_decref(users);
    return rc;
}

static enum bw_rc contain_org(struct bw_tx *tx, struct contain_job *j, bool keys)
{
    enum bw_rc rc = contain_org_check(tx, j);
    if (rc != BW_OK)
        return rc;
    return keys ? contain_org_keys(tx, j) : contain_org_sessions(tx, j);
}

static enum bw_rc contain_fn(struct bw_tx *tx, void *arg)
{
    struct contain_job *j = arg;
    struct bw_inc_row r;
    char note[400];
    enum bw_rc rc = bw_inc_load(tx, j->id, &r);
    if (rc != BW_OK)
        return rc;
    json_decref(j->result);
    j->result = NULL;
    if (strcmp(r.status, "closed") == 0) {
        bw_reg_err_set(j->err, "status", "the incident is closed");
        rc = BW_ERR_CONFLICT;
    } else if (strcmp(j->action, "revoke_sessions") == 0) {
        rc = contain_user(tx, j, false);
    } else if (strcmp(j->action, "disable_account") == 0) {
        rc = contain_user(tx, j, true);
    } else if (strcmp(j->action, "revoke_org_apikeys") == 0) {
        rc = contain_org(tx, j, true);
    } else if (strcmp(j->action, "revoke_org_sessions") == 0) {
        rc = contain_org(tx, j, false);
    } else if (strcmp(j->action, "read_only") == 0) {
        rc = bw_store_meta_put(tx, "server.read_only", j->enabled ? "1" : "0");
        if (rc == BW_OK)
            rc = bw_audit_append(tx, j->ctx, j->actor, "server.read_only", "-", BW_AUDIT_SUCCESS,
                                 json_pack("{s:b, s:s}", "enabled", j->enabled, "incident", j->id));
        if (rc == BW_OK)
            j->result = json_pack("{s:s, s:b}", "action", j->action, "enabled", j->enabled);
    } else {
        bw_reg_err_set(j->err, "action",
                       "one of revoke_sessions, disable_account, revoke_org_apikeys, "
                       "revoke_org_sessions, read_only");
        rc = BW_ERR_INVALID;
    }
    if (rc == BW_OK && j->result == NULL)
        rc = BW_ERR_NOMEM;
    const char *who = json_string_value(json_object_get(j->result, "email"));
    if (who == NULL)
        who = json_string_value(json_object_get(j->result, "org"));
    bw_why(note, sizeof(note), "containment: %s%s%s", j->action, who ? " " : "", who ? who : "");
    struct bw_val s[] = {BW_VTEXT(j->id), BW_VTEXT("action"), BW_VINT(bw_time_now()),
                         BW_VTEXT(j->actor), BW_VTEXT(note)};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_INC_STEP_INSERT, s, BW_ARRAY_LEN(s), NULL);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, j->actor, "incident.containment", j->id,
                             BW_AUDIT_SUCCESS, json_deep_copy(j->result));
    bw_inc_row_cleanup(&r);
    return rc;
}

enum bw_rc bw_incident_contain(struct bw_store *st, const struct bw_config *cfg,
                               const struct bw_audit_ctx *ctx, const char *actor, const char *id,
                               const char *action, const char *user, const char *org,
                               bool enabled, json_t **result, struct bw_reg_err *err)
{
    struct contain_job j = {cfg, ctx, actor, id, action != NULL ? action : "", user, org,
                            enabled, NULL, err};
    enum bw_rc rc = bw_audit_write(st, contain_fn, &j); /* append, then sessions */
    if (rc == BW_OK && strcmp(j.action, "read_only") == 0)
        bw_readonly_set_local(enabled);
    if (rc == BW_OK)
        *result = j.result;
    else
        json_decref(j.result);
    return rc;
}
