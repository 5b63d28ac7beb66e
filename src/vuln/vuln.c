/*
 * vuln.c - the vulnerability register (CONTROL: VUL-01..06, decision C1):
 * findings with severity and scope, a due time from the policy (product and
 * infrastructure clocks, configurable), triage that sets the severity of a
 * reported finding, and closing that needs the fixing release or a
 * documented exception. Overdue findings are escalated by the clocks sweep
 * (incident/clock.c).
 *
 * Trusts: callers authorised the actor. Checks every input; each change and
 * its audit event share a transaction; a new finding notifies the security
 * contacts in the same transaction.
 */
#include "audit/audit.h"
#include "store/store.h"
#include "vuln/vuln.h"

#include <jansson.h>
#include <string.h>

/* Columns of BW_STMT_VULN_BY_ID / _LIST, in this order. */
enum bw_vuln_col {
    BW_VCOL_ID, BW_VCOL_TITLE, BW_VCOL_COMPONENT, BW_VCOL_VERSION, BW_VCOL_CVE,
    BW_VCOL_SEVERITY, BW_VCOL_SCOPE, BW_VCOL_FOUND_AT, BW_VCOL_DUE_AT, BW_VCOL_STATUS,
    BW_VCOL_SOURCE, BW_VCOL_SOURCE_REF, BW_VCOL_FIXED_RELEASE, BW_VCOL_EXCEPTION,
    BW_VCOL_CLOSED_AT, BW_VCOL_CLOSED_BY, BW_VCOL_ESCALATED_AT, BW_VCOL_CREATED_BY,
};

static const char *const severities[] = {"critical", "high", "medium", "low"};

static int severity_index(const char *s)
{
    for (int i = 0; s != NULL && i < (int)BW_ARRAY_LEN(severities); i++) {
        if (strcmp(s, severities[i]) == 0)
            return i;
    }
    return -1;
}

/* CONTROL: VUL-01, VUL-02, VUL-03, VUL-04, VUL-05 (C1: two scopes, two clocks) */
enum bw_rc bw_vuln_due(const struct bw_config *cfg, const char *severity, const char *scope,
                       int64_t found_at, int64_t *due)
{
    const int64_t product[] = {cfg->vuln_product_critical, cfg->vuln_product_high,
                               cfg->vuln_product_medium, cfg->vuln_product_low};
    const int64_t infra[] = {cfg->vuln_infra_critical, cfg->vuln_infra_high,
                             cfg->vuln_infra_medium, cfg->vuln_infra_low};
    bool is_product = scope != NULL && strcmp(scope, "product") == 0;
    if (!is_product && (scope == NULL || strcmp(scope, "infrastructure") != 0))
        return BW_ERR_INVALID;
    if (severity != NULL && strcmp(severity, "untriaged") == 0) {
        *due = found_at + cfg->vuln_triage;
        return BW_OK;
    }
    int i = severity_index(severity);
    if (i < 0)
        return BW_ERR_INVALID;
    *due = found_at + (is_product ? product[i] : infra[i]);
    return BW_OK;
}

static bool text_ok(const char *s, size_t max)
{
    return bw_inc_text_ok(s, max, false);
}

static bool cve_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 13 || n > 20 || strncmp(s, "CVE-", 4) != 0 || s[8] != '-')
        return false;
    for (size_t i = 4; i < n; i++) {
        if (i != 8 && (s[i] < '0' || s[i] > '9'))
            return false;
    }
    return true;
}

static enum bw_rc check_new(const struct bw_vuln_new *in, struct bw_reg_err *err)
{
    if (!text_ok(in->title, BW_VULN_TEXT_MAX))
        bw_reg_err_set(err, "title", "required: 1 to 200 bytes of text");
    else if (!text_ok(in->component, BW_VULN_TEXT_MAX))
        bw_reg_err_set(err, "component", "required: 1 to 200 bytes of text");
    else if (in->version != NULL && !text_ok(in->version, 64))
        bw_reg_err_set(err, "version", "1 to 64 bytes of text");
    else if (in->cve != NULL && !cve_ok(in->cve))
        bw_reg_err_set(err, "cve", "must look like CVE-2024-12345");
    else if (in->scope == NULL || (strcmp(in->scope, "product") != 0 &&
                                   strcmp(in->scope, "infrastructure") != 0))
        bw_reg_err_set(err, "scope", "must be product or infrastructure");
    else if (severity_index(in->severity) < 0 &&
             !(strcmp(in->source, "report") == 0 && strcmp(in->severity, "untriaged") == 0))
        bw_reg_err_set(err, "severity", "must be critical, high, medium or low");
    else if (in->found_at < 0 || in->found_at > bw_time_now() + 60)
        bw_reg_err_set(err, "found_at", "must not lie in the future");
    else
        return BW_OK;
    return BW_ERR_INVALID;
}

enum bw_rc bw_vuln_add_tx(struct bw_tx *tx, const struct bw_config *cfg,
                          const struct bw_audit_ctx *ctx, const char *actor,
                          const struct bw_vuln_new *in, char id[BW_ID_LEN + 1],
                          struct bw_reg_err *err)
{
    char nid[BW_ID_LEN + 1], due_s[21], subject[400];
    int64_t found = in->found_at != 0 ? in->found_at : bw_time_now(), due = 0;
    uint64_t changes = 0;
    enum bw_rc rc = check_new(in, err);
    if (rc == BW_OK)
        rc = bw_vuln_due(cfg, in->severity, in->scope, found, &due);
    if (rc != BW_OK)
        return rc;
    bw_id_new(nid);
    struct bw_val p[] = {BW_VTEXT(nid),
                         BW_VTEXT(in->title),
                         BW_VTEXT(in->component),
                         in->version ? BW_VTEXT(in->version) : BW_VNULL,
                         in->cve ? BW_VTEXT(in->cve) : BW_VNULL,
                         BW_VTEXT(in->severity),
                         BW_VTEXT(in->scope),
                         BW_VINT(found),
                         BW_VINT(due),
                         BW_VTEXT(in->source),
                         in->source_ref ? BW_VTEXT(in->source_ref) : BW_VNULL,
                         BW_VTEXT(actor)};
    rc = bw_tx_exec(tx, BW_STMT_VULN_INSERT, p, BW_ARRAY_LEN(p), &changes);
    if (rc == BW_OK && changes == 0)
        return BW_ERR_EXISTS;
    bw_time_format(due, due_s);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, ctx, actor, "vuln.created", nid, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s, s:s, s:s, s:s?}", "severity", in->severity,
                                       "scope", in->scope, "due_at", due_s, "source", in->source,
                                       "cve", in->cve));
    bw_why(subject, sizeof(subject), "[%s %s] vulnerability due %s: %s", in->severity, in->scope,
           due_s, in->title);
    if (rc == BW_OK)
        rc = bw_notify_security(tx, cfg, "vuln.created", subject,
                                json_pack("{s:s, s:s, s:s, s:s, s:s}", "vulnerability", nid,
                                          "severity", in->severity, "scope", in->scope, "due_at",
                                          due_s, "component", in->component));
    if (rc == BW_OK)
        memcpy(id, nid, sizeof(nid));
    return rc;
}

struct add_job {
    const struct bw_config *cfg;
    const struct bw_audit_ctx *ctx;
    const char *actor;
    const struct bw_vuln_new *in;
    char id[BW_ID_LEN + 1];
    struct bw_reg_err *err;
};

static enum bw_rc add_fn(struct bw_tx *tx, void *arg)
{
    struct add_job *j = arg;
    return bw_vuln_add_tx(tx, j->cfg, j->ctx, j->actor, j->in, j->id, j->err);
}

enum bw_rc bw_vuln_add(struct bw_store *st, const struct bw_config *cfg,
                       const struct bw_audit_ctx *ctx, const char *actor,
                       const struct bw_vuln_new *in, char id[BW_ID_LEN + 1],
                       struct bw_reg_err *err)
{
    struct add_job j = {cfg, ctx, actor, in, "", err};
    enum bw_rc rc = bw_store_write(st, add_fn, &j);
    if (rc == BW_OK)
        memcpy(id, j.id, sizeof(j.id));
    return rc;
}

/* ---- views ------------------------------------------------------------------------------ */

static json_t *opt_text(const struct bw_row *row, size_t col)
{
    return bw_row_is_null(row, col) ? json_null() : json_string(bw_row_text(row, col, NULL));
}

static json_t *opt_time(const struct bw_row *row, size_t col)
{
    char s[21];
    if (bw_row_is_null(row, col))
        return json_null();
    bw_time_format(bw_row_int(row, col), s);
    return json_string(s);
}

static enum bw_rc vuln_row(void *arg, const struct bw_row *row)
{
    json_t *items = arg;
    bool open = strcmp(bw_row_text(row, BW_VCOL_STATUS, NULL), "open") == 0;
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:o, s:o, s:s, s:b, s:s, s:o, s:o, s:o, s:o, s:o, "
        "s:s}",
        "id", bw_row_text(row, BW_VCOL_ID, NULL), "title", bw_row_text(row, BW_VCOL_TITLE, NULL),
        "component", bw_row_text(row, BW_VCOL_COMPONENT, NULL), "version",
        opt_text(row, BW_VCOL_VERSION), "cve", opt_text(row, BW_VCOL_CVE), "severity",
        bw_row_text(row, BW_VCOL_SEVERITY, NULL), "scope", bw_row_text(row, BW_VCOL_SCOPE, NULL),
        "found_at", opt_time(row, BW_VCOL_FOUND_AT), "due_at", opt_time(row, BW_VCOL_DUE_AT),
        "status", bw_row_text(row, BW_VCOL_STATUS, NULL), "overdue",
        open && bw_row_int(row, BW_VCOL_DUE_AT) <= bw_time_now(), "source",
        bw_row_text(row, BW_VCOL_SOURCE, NULL), "fixed_release",
        opt_text(row, BW_VCOL_FIXED_RELEASE), "exception", opt_text(row, BW_VCOL_EXCEPTION),
        "closed_at", opt_time(row, BW_VCOL_CLOSED_AT), "closed_by",
        opt_text(row, BW_VCOL_CLOSED_BY), "escalated_at", opt_time(row, BW_VCOL_ESCALATED_AT),
        "created_by", bw_row_text(row, BW_VCOL_CREATED_BY, NULL));
    return o != NULL && json_array_append_new(items, o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

struct get_job {
    const char *id;
    json_t *items;
};

static enum bw_rc get_fn(struct bw_tx *tx, void *arg)
{
    struct get_job *j = arg;
    json_array_clear(j->items);
    if (j->id != NULL) {
        struct bw_val p[] = {BW_VTEXT(j->id)};
        return bw_tx_query(tx, BW_STMT_VULN_BY_ID, p, 1, vuln_row, j->items);
    }
    struct bw_val p[] = {BW_VINT(10000)};
    return bw_tx_query(tx, BW_STMT_VULN_LIST, p, 1, vuln_row, j->items);
}

enum bw_rc bw_vuln_get(struct bw_store *st, const char *id, json_t **out)
{
    struct get_job j = {id, json_array()};
    if (!bw_id_valid(id)) {
        json_decref(j.items);
        return BW_ERR_NOTFOUND;
    }
    enum bw_rc rc = j.items != NULL ? bw_store_read(st, get_fn, &j) : BW_ERR_NOMEM;
    if (rc == BW_OK && json_array_size(j.items) == 0)
        rc = BW_ERR_NOTFOUND;
    if (rc == BW_OK)
        *out = json_incref(json_array_get(j.items, 0));
    json_decref(j.items);
    return rc;
}

enum bw_rc bw_vuln_list(struct bw_store *st, json_t **out)
{
    struct get_job j = {NULL, json_array()};
    enum bw_rc rc = j.items != NULL ? bw_store_read(st, get_fn, &j) : BW_ERR_NOMEM;
    if (rc != BW_OK) {
        json_decref(j.items);
        return rc;
    }
    *out = json_pack("{s:o, s:n}", "items", j.items, "next_cursor");
    return *out != NULL ? BW_OK : BW_ERR_NOMEM;
}

/* ---- close and rate ------------------------------------------------------------------------ */

struct change_job {
    const struct bw_config *cfg;
    const struct bw_audit_ctx *ctx;
    const char *actor, *id, *a, *b;
    bool close;
};

static enum bw_rc found_row(void *arg, const struct bw_row *row)
{
    *(int64_t *)arg = bw_row_int(row, BW_VCOL_FOUND_AT);
    return BW_OK;
}

static enum bw_rc change_fn(struct bw_tx *tx, void *arg)
{
    struct change_job *j = arg;
    uint64_t changes = 0;
    int64_t found = -1, due = 0, now = bw_time_now();
    struct bw_val q[] = {BW_VTEXT(j->id)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_VULN_BY_ID, q, 1, found_row, &found);
    if (rc == BW_OK && found < 0)
        return BW_ERR_NOTFOUND;
    if (rc == BW_OK && j->close) {
        /* CONTROL: VUL-01, VUL-06 - a fix release or a documented derogation */
        struct bw_val p[] = {BW_VTEXT(j->id), j->a ? BW_VTEXT(j->a) : BW_VNULL,
                             j->b ? BW_VTEXT(j->b) : BW_VNULL, BW_VINT(now), BW_VTEXT(j->actor)};
        rc = bw_tx_exec(tx, BW_STMT_VULN_CLOSE, p, BW_ARRAY_LEN(p), &changes);
    } else if (rc == BW_OK) {
        rc = bw_vuln_due(j->cfg, j->a, j->b, found, &due);
        struct bw_val p[] = {BW_VTEXT(j->id), BW_VTEXT(j->a), BW_VTEXT(j->b), BW_VINT(due)};
        if (rc == BW_OK)
            rc = bw_tx_exec(tx, BW_STMT_VULN_RATE, p, BW_ARRAY_LEN(p), &changes);
    }
    if (rc == BW_OK && changes == 0)
        rc = BW_ERR_CONFLICT; /* closed already */
    char due_s[21];
    bw_time_format(due, due_s);
    if (rc == BW_OK && j->close)
        rc = bw_audit_append(tx, j->ctx, j->actor, "vuln.closed", j->id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s?, s:b}", "fixed_release", j->a, "exception",
                                       j->b != NULL));
    else if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, j->actor, "vuln.rated", j->id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s, s:s}", "severity", j->a, "scope", j->b,
                                       "due_at", due_s));
    return rc;
}

enum bw_rc bw_vuln_close(struct bw_store *st, const struct bw_audit_ctx *ctx, const char *actor,
                         const char *id, const char *fixed_release, const char *exception,
                         struct bw_reg_err *err)
{
    if ((fixed_release == NULL) == (exception == NULL)) {
        bw_reg_err_set(err, fixed_release ? "exception" : "fixed_release",
                       "give exactly one: the fixing release or a documented exception");
        return BW_ERR_INVALID;
    }
    if ((fixed_release && !text_ok(fixed_release, 64)) ||
        (exception && !bw_inc_text_ok(exception, BW_INC_TEXT_MAX, true))) {
        bw_reg_err_set(err, fixed_release ? "fixed_release" : "exception",
                       "text without control characters (release: at most 64 bytes)");
        return BW_ERR_INVALID;
    }
    if (!bw_id_valid(id))
        return BW_ERR_NOTFOUND;
    struct change_job j = {NULL, ctx, actor, id, fixed_release, exception, true};
    enum bw_rc rc = bw_store_write(st, change_fn, &j);
    if (rc == BW_ERR_CONFLICT)
        bw_reg_err_set(err, "status", "the vulnerability is closed already");
    return rc;
}

enum bw_rc bw_vuln_rate(struct bw_store *st, const struct bw_config *cfg,
                        const struct bw_audit_ctx *ctx, const char *actor, const char *id,
                        const char *severity, const char *scope, struct bw_reg_err *err)
{
    int64_t due;
    if (severity_index(severity) < 0) {
        bw_reg_err_set(err, "severity", "must be critical, high, medium or low");
        return BW_ERR_INVALID;
    }
    if (bw_vuln_due(cfg, severity, scope, 0, &due) != BW_OK) {
        bw_reg_err_set(err, "scope", "must be product or infrastructure");
        return BW_ERR_INVALID;
    }
    if (!bw_id_valid(id))
        return BW_ERR_NOTFOUND;
    struct change_job j = {cfg, ctx, actor, id, severity, scope, false};
    enum bw_rc rc = bw_store_write(st, change_fn, &j);
    if (rc == BW_ERR_CONFLICT)
        bw_reg_err_set(err, "status", "the vulnerability is closed already");
    return rc;
}
