/*
 * clock.c - the incident and vulnerability clocks (CONTROL: INC-01, INC-03,
 * G-01, VUL-01..05): response windows per severity, the moment an
 * approaching deadline is announced, and the sweep that announces and
 * escalates each deadline once. Time comes only from bw_time_now(), so tests
 * drive it with short configured durations or the clock offset.
 *
 * Trusts the store's rows; writes every notice with its audit event and its
 * notifications in one transaction, so a crash never sends a notice twice
 * nor loses one.
 */
#include "audit/audit.h"
#include "incident/incident.h"
#include "store/store.h"

#include <jansson.h>
#include <string.h>

const char *const bw_incident_statuses[6] = {"detected",   "contained", "investigating",
                                             "remediated", "reported",  "closed"};

void bw_reg_err_set(struct bw_reg_err *e, const char *field, const char *msg)
{
    if (e == NULL)
        return;
    bw_why(e->field, sizeof(e->field), "%s", field);
    bw_why(e->msg, sizeof(e->msg), "%s", msg);
}

bool bw_incident_severity_valid(const char *s)
{
    return s != NULL && s[0] == 'P' && s[1] >= '1' && s[1] <= '4' && s[2] == '\0';
}

int bw_incident_status_index(const char *s)
{
    for (int i = 0; s != NULL && i < (int)BW_ARRAY_LEN(bw_incident_statuses); i++) {
        if (strcmp(s, bw_incident_statuses[i]) == 0)
            return i;
    }
    return -1;
}

/* CONTROL: INC-01 - P1 immediate, P2 4 h, P3 24 h, P4 72 h (configurable) */
enum bw_rc bw_incident_response_window(const struct bw_config *cfg, const char *severity,
                                       int64_t *out)
{
    if (!bw_incident_severity_valid(severity))
        return BW_ERR_INVALID;
    const int64_t w[] = {cfg->incident_p1_response, cfg->incident_p2_response,
                         cfg->incident_p3_response, cfg->incident_p4_response};
    *out = w[severity[1] - '1'];
    return BW_OK;
}

/* ---- the sweep -------------------------------------------------------------------- */

struct due_row {
    char incident[BW_ID_LEN + 1];
    char kind[32];
    char severity[4];
    char title[BW_INC_TITLE_MAX + 1];
    int64_t due;
    bool warned;
};

struct sweep_job {
    const struct bw_config *cfg;
    int64_t now;
    struct due_row *rows;
    size_t n, cap;
    struct bw_sweep_stats stats;
};

static enum bw_rc due_row_fn(void *arg, const struct bw_row *row)
{
    struct sweep_job *j = arg;
    if (j->n == j->cap)
        return BW_OK; /* the rest waits for the next sweep */
    struct due_row *d = &j->rows[j->n++];
    memset(d, 0, sizeof(*d));
    bw_why(d->incident, sizeof(d->incident), "%s", bw_row_text(row, 0, NULL));
    bw_why(d->kind, sizeof(d->kind), "%s", bw_row_text(row, 1, NULL));
    d->due = bw_row_int(row, 2);
    d->warned = !bw_row_is_null(row, 3);
    bw_why(d->severity, sizeof(d->severity), "%s", bw_row_text(row, 5, NULL));
    bw_why(d->title, sizeof(d->title), "%s", bw_row_text(row, 6, NULL));
    return BW_OK;
}

/* Announces (warn) or escalates (overdue) one deadline, once. */
static enum bw_rc notice(struct bw_tx *tx, struct sweep_job *j, const struct due_row *d,
                         bool overdue)
{
    static const struct bw_audit_ctx sys = {.remote = "-", .request_id = "-"};
    uint64_t changes = 0;
    struct bw_val p[] = {BW_VTEXT(d->incident), BW_VTEXT(d->kind),
                         overdue ? BW_VNULL : BW_VINT(j->now), overdue ? BW_VINT(j->now) : BW_VNULL};
    char due[21];
    bw_time_format(d->due, due);
    enum bw_rc rc = bw_tx_exec(tx, BW_STMT_INC_DEADLINE_MARK, p, BW_ARRAY_LEN(p), &changes);
    if (rc != BW_OK || changes == 0)
        return rc;
    const char *action = overdue ? "incident.deadline.overdue" : "incident.deadline.approaching";
    rc = bw_audit_append(tx, &sys, "system", action, d->incident, BW_AUDIT_SUCCESS,
                         json_pack("{s:s, s:s, s:s}", "kind", d->kind, "due_at", due, "severity",
                                   d->severity));
    char subject[300];
    bw_why(subject, sizeof(subject), "[%s] %s deadline %s %s: %s", d->severity, d->kind,
           overdue ? "OVERDUE since" : "approaching, due", due, d->title);
    if (rc == BW_OK)
        rc = bw_notify_security(tx, j->cfg, overdue ? "incident.escalated" : "incident.deadline",
                                subject,
                                json_pack("{s:s, s:s, s:s, s:s}", "incident", d->incident, "kind",
                                          d->kind, "due_at", due, "severity", d->severity));
    if (rc == BW_OK && overdue)
        j->stats.escalated++;
    else if (rc == BW_OK)
        j->stats.warned++;
    return rc;
}

struct vuln_due {
    char id[BW_ID_LEN + 1];
    char title[BW_INC_TITLE_MAX + 1];
    char severity[16];
    char scope[16];
    int64_t due;
};

struct vuln_job {
    struct vuln_due rows[64];
    size_t n;
};

static enum bw_rc vuln_row_fn(void *arg, const struct bw_row *row)
{
    struct vuln_job *v = arg;
    if (v->n == BW_ARRAY_LEN(v->rows))
        return BW_OK;
    struct vuln_due *d = &v->rows[v->n++];
    bw_why(d->id, sizeof(d->id), "%s", bw_row_text(row, 0, NULL));
    bw_why(d->title, sizeof(d->title), "%s", bw_row_text(row, 1, NULL));
    bw_why(d->severity, sizeof(d->severity), "%s", bw_row_text(row, 2, NULL));
    bw_why(d->scope, sizeof(d->scope), "%s", bw_row_text(row, 3, NULL));
    d->due = bw_row_int(row, 4);
    return BW_OK;
}

/* CONTROL: VUL-01 - an unresolved finding past its due time is escalated once */
static enum bw_rc sweep_vulns(struct bw_tx *tx, struct sweep_job *j)
{
    static const struct bw_audit_ctx sys = {.remote = "-", .request_id = "-"};
    struct vuln_job v = {.n = 0};
    struct bw_val p[] = {BW_VINT(j->now)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_VULN_OVERDUE, p, 1, vuln_row_fn, &v);
    for (size_t i = 0; rc == BW_OK && i < v.n; i++) {
        uint64_t changes = 0;
        struct vuln_due *d = &v.rows[i];
        struct bw_val m[] = {BW_VTEXT(d->id), BW_VINT(j->now)};
        char due[21], subject[300];
        bw_time_format(d->due, due);
        rc = bw_tx_exec(tx, BW_STMT_VULN_MARK_ESCALATED, m, 2, &changes);
        if (rc != BW_OK || changes == 0)
            continue;
        rc = bw_audit_append(tx, &sys, "system", "vuln.overdue", d->id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s, s:s}", "severity", d->severity, "scope",
                                       d->scope, "due_at", due));
        bw_why(subject, sizeof(subject), "[%s %s] vulnerability OVERDUE since %s: %s",
               d->severity, d->scope, due, d->title);
        if (rc == BW_OK)
            rc = bw_notify_security(tx, j->cfg, "vuln.escalated", subject,
                                    json_pack("{s:s, s:s, s:s, s:s}", "vulnerability", d->id,
                                              "severity", d->severity, "scope", d->scope,
                                              "due_at", due));
        if (rc == BW_OK)
            j->stats.vulns_escalated++;
    }
    return rc;
}

static enum bw_rc sweep_fn(struct bw_tx *tx, void *arg)
{
    struct sweep_job *j = arg;
    j->n = 0;
    memset(&j->stats, 0, sizeof(j->stats));
    /* every deadline whose notice could be due: the warning horizon is at most warn_before */
    struct bw_val p[] = {BW_VINT(j->now + j->cfg->incident_warn_before)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_INC_DEADLINES_PENDING, p, 1, due_row_fn, j);
    for (size_t i = 0; rc == BW_OK && i < j->n; i++) {
        const struct due_row *d = &j->rows[i];
        if (d->due <= j->now)
            rc = notice(tx, j, d, true);
        else if (!d->warned)
            rc = notice(tx, j, d, false);
    }
    if (rc == BW_OK)
        rc = sweep_vulns(tx, j);
    return rc;
}

enum bw_rc bw_incident_sweep(struct bw_store *st, const struct bw_config *cfg,
                             struct bw_sweep_stats *out)
{
    struct sweep_job j = {.cfg = cfg, .now = bw_time_now(), .cap = 256};
    j.rows = bw_calloc(j.cap, sizeof(*j.rows));
    if (j.rows == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc = bw_audit_write(st, sweep_fn, &j); /* appends between updates */
    bw_free(j.rows);
    if (rc == BW_OK && out != NULL)
        *out = j.stats;
    return rc;
}
