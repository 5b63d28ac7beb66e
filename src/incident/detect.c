/*
 * detect.c - detection rules on the audit stream (CONTROL: G-05, INC-01).
 * Reads the events after a stored cursor (meta key incident.detect.cursor)
 * in batches and, for each event, the rule its action feeds: a threshold
 * over a time window counted with the events before it. A rule that fires
 * opens an incident under the key "<rule>:<group>" or, while an incident
 * with that key is open, links the new evidence to it (a partial unique
 * index makes a second open incident with the same key impossible, also
 * across several servers on one PostgreSQL). The cursor moves in the same
 * transaction, so a crash repeats a batch at most, and linking is
 * idempotent.
 *
 * The rules read the events exactly as their writers emit them (the
 * contract is the table in docs/INCIDENTS.md and docs/AUDIT.md):
 * audit.verify.failed (src/audit/verify.c), backup.failed / backup.missed /
 * backup.verified with outcome failure / backup.completed (src/backup/),
 * apikey.denied (src/auth/apikey.c: actor "apikey:<id>", target the
 * organisation, details.address) and record.read (records, issue 4:
 * details.classification and optional details.count).
 *
 * Trusts the audit rows (they are ours); details are parsed with jansson
 * and only read. Also queues the G-15 e-mails of notify.user.* events.
 */
#include "audit/audit.h"
#include "auth/auth.h"
#include "incident/incident_int.h"
#include "store/store.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define BATCH 200
#define WINDOW_MAX 5000 /* events read per window count */
#define EVIDENCE_MAX 200 /* events linked per firing */

struct ev {
    int64_t seq, ts;
    char actor[160];
    char action[64];
    char target[160];
    char remote[64];
    char outcome[16];
    char *details; /* owned */
};

struct scan {
    struct ev ev[BATCH];
    size_t n;
};

static void scan_free(struct scan *s)
{
    for (size_t i = 0; i < s->n; i++)
        bw_free(s->ev[i].details);
    s->n = 0;
}

static enum bw_rc scan_row(void *arg, const struct bw_row *row)
{
    struct scan *s = arg;
    if (s->n == BATCH)
        return BW_OK;
    struct ev *e = &s->ev[s->n];
    memset(e, 0, sizeof(*e));
    e->seq = bw_row_int(row, 0);
    e->ts = bw_row_int(row, 1);
    bw_why(e->actor, sizeof(e->actor), "%s", bw_row_text(row, 2, NULL));
    bw_why(e->action, sizeof(e->action), "%s", bw_row_text(row, 3, NULL));
    bw_why(e->target, sizeof(e->target), "%s", bw_row_text(row, 4, NULL));
    bw_why(e->outcome, sizeof(e->outcome), "%s", bw_row_text(row, 5, NULL));
    bw_why(e->remote, sizeof(e->remote), "%s", bw_row_text(row, 6, NULL));
    e->details = bw_strdup(bw_row_text(row, 7, NULL));
    s->n++;
    return e->details != NULL ? BW_OK : BW_ERR_NOMEM;
}

/* The events of one action in a window, filtered to one group. */
enum group_by { BY_NONE, BY_TARGET, BY_REMOTE, BY_ACTOR };

struct window {
    enum group_by by;
    const char *group;
    bool distinct_targets;    /* count distinct targets instead of events */
    bool confidential_only;   /* record.read of confidential/restricted records */
    int64_t seqs[EVIDENCE_MAX];
    size_t nseq;
    uint64_t count;
    char targets[64][160];
    size_t ntargets;
};

/* The number of confidential or restricted records one record.read event
 * stands for: details.count (a list read, 1..BW_READS_MAX) or 1; 0 for
 * other classifications or unreadable details. */
#define BW_READS_MAX 100000
static uint64_t confidential_reads(const char *details)
{
    json_t *d = json_loads(details != NULL ? details : "{}", 0, NULL);
    const char *c = json_string_value(json_object_get(d, "classification"));
    json_t *n = json_object_get(d, "count");
    uint64_t reads = 0;
    if (c != NULL && (strcmp(c, "confidential") == 0 || strcmp(c, "restricted") == 0))
        reads = 1;
    if (reads == 1 && json_is_integer(n) && json_integer_value(n) >= 0)
        reads = json_integer_value(n) > BW_READS_MAX ? BW_READS_MAX
                                                     : (uint64_t)json_integer_value(n);
    json_decref(d);
    return reads;
}

static enum bw_rc window_row(void *arg, const struct bw_row *row)
{
    struct window *w = arg;
    const char *target = bw_row_text(row, 1, NULL);
    const char *val = w->by == BY_TARGET   ? target
                      : w->by == BY_ACTOR  ? bw_row_text(row, 2, NULL)
                      : w->by == BY_REMOTE ? bw_row_text(row, 3, NULL)
                                           : NULL;
    if (val != NULL && strcmp(val, w->group) != 0)
        return BW_OK;
    uint64_t weight = 1;
    if (w->confidential_only && (weight = confidential_reads(bw_row_text(row, 4, NULL))) == 0)
        return BW_OK;
    if (w->nseq < EVIDENCE_MAX)
        w->seqs[w->nseq++] = bw_row_int(row, 0);
    if (!w->distinct_targets) {
        w->count += weight;
        return BW_OK;
    }
    for (size_t i = 0; i < w->ntargets; i++) {
        if (strcmp(w->targets[i], target) == 0)
            return BW_OK;
    }
    if (w->ntargets < BW_ARRAY_LEN(w->targets))
        bw_why(w->targets[w->ntargets++], sizeof(w->targets[0]), "%s", target);
    w->count = w->ntargets;
    return BW_OK;
}

static enum bw_rc count_window(struct bw_tx *tx, const char *action, const struct ev *e,
                               int64_t span, struct window *w)
{
    struct bw_val p[] = {BW_VTEXT(action), BW_VINT(e->ts - span), BW_VINT(e->seq),
                         BW_VINT(WINDOW_MAX)};
    return bw_tx_query(tx, BW_STMT_AUDIT_WINDOW, p, BW_ARRAY_LEN(p), window_row, w);
}

/* ---- firing ----------------------------------------------------------------------- */

struct run {
    const struct bw_config *cfg;
    struct bw_detect_stats stats;
    struct scan *scan;
    int64_t cursor;
    bool more;
};

struct id_q {
    char id[BW_ID_LEN + 1];
    bool found;
};

static enum bw_rc id_q_row(void *arg, const struct bw_row *row)
{
    struct id_q *q = arg;
    bw_why(q->id, sizeof(q->id), "%s", bw_row_text(row, 0, NULL));
    q->found = true;
    return BW_OK;
}

static enum bw_rc link(struct bw_tx *tx, const char *id, const char *rule, const int64_t *seqs,
                       size_t n, uint64_t *added)
{
    enum bw_rc rc = BW_OK;
    for (size_t i = 0; rc == BW_OK && i < n; i++) {
        uint64_t c = 0;
        struct bw_val p[] = {BW_VTEXT(id), BW_VINT(seqs[i]), BW_VTEXT(rule)};
        rc = bw_tx_exec(tx, BW_STMT_INC_EVIDENCE_ADD, p, BW_ARRAY_LEN(p), &c);
        *added += c;
    }
    return rc;
}

/* Opens the incident of `rule`:`group` or adds evidence to the open one. */
static enum bw_rc fire(struct bw_tx *tx, struct run *r, const char *rule, const char *group,
                       const char *severity, const char *title, const int64_t *seqs, size_t n)
{
    static const struct bw_audit_ctx sys = {.remote = "-", .request_id = "-"};
    char key[256], actor[96];
    struct id_q q = {"", false};
    uint64_t added = 0;
    bw_why(key, sizeof(key), "%s:%s", rule, group);
    bw_why(actor, sizeof(actor), "system:rule:%s", rule);
    struct bw_val p[] = {BW_VTEXT(key)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_INC_OPEN_BY_KEY, p, 1, id_q_row, &q);
    if (rc == BW_OK && !q.found) {
        struct bw_incident_new in = {title, severity, 0, -1, -1, "opened by a detection rule", key};
        struct bw_reg_err err;
        rc = bw_incident_open_tx(tx, r->cfg, &sys, actor, &in, q.id, &err);
        if (rc == BW_OK)
            r->stats.opened++;
    } else if (rc == BW_OK) {
        r->stats.updated++;
    }
    if (rc == BW_OK)
        rc = link(tx, q.id, rule, seqs, n, &added);
    if (rc == BW_OK && added > 0)
        rc = bw_audit_append(tx, &sys, "system", "incident.evidence", q.id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:I}", "rule", rule, "linked", (json_int_t)added));
    return rc;
}

/* A threshold rule: `action` events in `span` grouped `by`, >= threshold. */
static enum bw_rc threshold(struct bw_tx *tx, struct run *r, const struct ev *e,
                            struct window *w, const char *rule, const char *group,
                            uint64_t limit, int64_t span, const char *severity,
                            const char *title)
{
    enum bw_rc rc = count_window(tx, e->action, e, span, w);
    if (rc != BW_OK || w->count < limit)
        return rc;
    return fire(tx, r, rule, group, severity, title, w->seqs, w->nseq);
}

/* CONTROL: G-05 - lockouts of one account; a wave of lockouts overall */
static enum bw_rc rule_lockout(struct bw_tx *tx, struct run *r, const struct ev *e)
{
    const struct bw_config *c = r->cfg;
    char title[BW_INC_TITLE_MAX + 1];
    struct window *w = bw_calloc(1, sizeof(*w));
    if (w == NULL)
        return BW_ERR_NOMEM;
    w->by = BY_TARGET;
    w->group = e->target;
    bw_why(title, sizeof(title), "Repeated lockouts of account %s (brute force)", e->target);
    enum bw_rc rc = threshold(tx, r, e, w, "account_lockout", e->target,
                              c->incident_lockout_threshold, c->incident_lockout_window, "P3",
                              title);
    /* the failed logins of that account in the window are evidence too */
    if (rc == BW_OK && w->count >= c->incident_lockout_threshold) {
        struct window *f = bw_calloc(1, sizeof(*f));
        struct ev fe = *e;
        bw_why(fe.action, sizeof(fe.action), "auth.login.failed");
        rc = f != NULL ? BW_OK : BW_ERR_NOMEM;
        if (rc == BW_OK) {
            f->by = BY_TARGET;
            f->group = e->target;
            rc = count_window(tx, "auth.login.failed", &fe, c->incident_lockout_window, f);
        }
        if (rc == BW_OK && f->nseq > 0)
            rc = fire(tx, r, "account_lockout", e->target, "P3", title, f->seqs, f->nseq);
        bw_free(f);
    }
    memset(w, 0, sizeof(*w));
    w->by = BY_NONE;
    if (rc == BW_OK)
        rc = threshold(tx, r, e, w, "lockout_wave", "all", c->incident_lockout_wave_threshold,
                       c->incident_lockout_wave_window, "P3",
                       "Wave of account lockouts across the installation");
    bw_free(w);
    return rc;
}

static enum bw_rc rule_spray(struct bw_tx *tx, struct run *r, const struct ev *e)
{
    char title[BW_INC_TITLE_MAX + 1];
    struct window *w = bw_calloc(1, sizeof(*w));
    if (w == NULL)
        return BW_ERR_NOMEM;
    w->by = BY_REMOTE;
    w->group = e->remote;
    w->distinct_targets = true;
    bw_why(title, sizeof(title), "Password spraying from %s", e->remote);
    enum bw_rc rc = threshold(tx, r, e, w, "password_spray", e->remote,
                              r->cfg->incident_spray_accounts, r->cfg->incident_spray_window,
                              "P3", title);
    bw_free(w);
    return rc;
}

static enum bw_rc rule_grouped(struct bw_tx *tx, struct run *r, const struct ev *e,
                               const char *rule, enum group_by by, uint64_t limit, int64_t span,
                               const char *severity, const char *fmt)
{
    char title[BW_INC_TITLE_MAX + 1];
    struct window *w = bw_calloc(1, sizeof(*w));
    if (w == NULL)
        return BW_ERR_NOMEM;
    w->by = by;
    w->group = by == BY_ACTOR ? e->actor : by == BY_REMOTE ? e->remote : e->target;
    w->confidential_only = strcmp(e->action, "record.read") == 0;
    bw_why(title, sizeof(title), "%s%s", w->group, fmt);
    enum bw_rc rc = threshold(tx, r, e, w, rule, w->group, limit, span, severity, title);
    bw_free(w);
    return rc;
}

struct count_q {
    int64_t n;
};

static enum bw_rc count_row(void *arg, const struct bw_row *row)
{
    ((struct count_q *)arg)->n = bw_row_int(row, 0);
    return BW_OK;
}

/* An administrator logging in from an address never seen for them (P4). */
static enum bw_rc rule_admin_address(struct bw_tx *tx, struct run *r, const struct ev *e)
{
    struct bw_user u;
    struct count_q any = {0}, same = {0};
    if (!r->cfg->incident_admin_new_address || !bw_id_valid(e->target))
        return BW_OK;
    enum bw_rc rc = bw_user_by_id(tx, e->target, &u);
    if (rc == BW_ERR_NOTFOUND || (rc == BW_OK && !u.platform_admin))
        return BW_OK;
    struct bw_val a[] = {BW_VTEXT("auth.login.succeeded"), BW_VTEXT(e->target), BW_VINT(e->seq)};
    struct bw_val s[] = {BW_VTEXT("auth.login.succeeded"), BW_VTEXT(e->target),
                         BW_VTEXT(e->remote), BW_VINT(e->seq)};
    if (rc == BW_OK)
        rc = bw_tx_query(tx, BW_STMT_AUDIT_PRIOR_ANY, a, BW_ARRAY_LEN(a), count_row, &any);
    if (rc == BW_OK)
        rc = bw_tx_query(tx, BW_STMT_AUDIT_PRIOR_FROM, s, BW_ARRAY_LEN(s), count_row, &same);
    /* the first login ever is no news; a known address neither */
    if (rc != BW_OK || any.n == 0 || same.n > 0)
        return rc;
    char group[256], title[BW_INC_TITLE_MAX + 1];
    bw_why(group, sizeof(group), "%s@%s", e->target, e->remote);
    bw_why(title, sizeof(title), "Administrator %s logged in from a new address %s", u.email,
           e->remote);
    return fire(tx, r, "admin_new_address", group, "P4", title, &e->seq, 1);
}

/* CONTROL: BCK-07, G-05 - a failed or missed backup, a failed log shipment,
 * prune or drill (backup.failed, target the backup name, "-", "change-log",
 * "retention" or "drill"), a missed schedule (backup.missed) and a backup
 * that no longer verifies (backup.verified, outcome failure): one open P2
 * collects them all. */
static enum bw_rc rule_backup(struct bw_tx *tx, struct run *r, const struct ev *e)
{
    char title[BW_INC_TITLE_MAX + 1];
    json_t *d = json_loads(e->details != NULL ? e->details : "{}", 0, NULL);
    const char *why = json_string_value(json_object_get(d, "reason"));
    if (why == NULL)
        why = json_string_value(json_object_get(d, "result"));
    bw_why(title, sizeof(title), "Backup failure: %s %s%s%s", e->action, e->target,
           why != NULL ? ": " : "", why != NULL ? why : "");
    json_decref(d);
    return fire(tx, r, "backup_failed", "backup", "P2", title, &e->seq, 1);
}

/* CONTROL: G-15 - password, MFA and e-mail changes are announced to the user */
static enum bw_rc user_notice(struct bw_tx *tx, struct run *r, const struct ev *e)
{
    json_t *d = json_loads(e->details, 0, NULL);
    const char *to = json_string_value(json_object_get(d, "to"));
    const char *change = json_string_value(json_object_get(d, "change"));
    char subject[200], text[800], ts[21];
    bw_time_format(e->ts, ts);
    const char *what = e->action + strlen("notify.user.");
    bw_why(subject, sizeof(subject), "Security notice: your account's %s", what);
    bw_why(text, sizeof(text),
           "At %s a change was made to your Bulwark account: %s%s%s.\n\n"
           "If this was not you, contact your administrator at once.\n",
           ts, what, change ? " / " : "", change ? change : "");
    enum bw_rc rc = to != NULL ? bw_notify_email(tx, r->cfg, e->action, to, subject, text) : BW_OK;
    json_decref(d);
    return rc;
}

static enum bw_rc dispatch(struct bw_tx *tx, struct run *r, const struct ev *e)
{
    const struct bw_config *c = r->cfg;
    const char *a = e->action;
    if (strcmp(a, "auth.lockout") == 0)
        return rule_lockout(tx, r, e);
    if (strcmp(a, "auth.login.failed") == 0)
        return rule_spray(tx, r, e);
    if (strcmp(a, "auth.login.succeeded") == 0)
        return rule_admin_address(tx, r, e);
    if (strcmp(a, "audit.verify.failed") == 0)
        return fire(tx, r, "audit_verify", "trail", "P1",
                    "Audit trail verification failed (possible tampering)", &e->seq, 1);
    if (strcmp(a, "backup.failed") == 0 || strcmp(a, "backup.missed") == 0 ||
        (strcmp(a, "backup.verified") == 0 && strcmp(e->outcome, "failure") == 0))
        return rule_backup(tx, r, e);
    if (strcmp(a, "apikey.denied") == 0)
        return rule_grouped(tx, r, e, "apikey_denied", BY_ACTOR,
                            c->incident_apikey_denied_threshold, c->incident_apikey_denied_window,
                            "P3", " used repeatedly from disallowed addresses");
    if (strcmp(a, "record.read") == 0)
        return rule_grouped(tx, r, e, "confidential_reads", BY_ACTOR,
                            c->incident_confidential_reads_threshold,
                            c->incident_confidential_reads_window, "P2",
                            " read an unusual number of confidential records");
    if (strncmp(a, "notify.user.", 12) == 0)
        return user_notice(tx, r, e);
    return BW_OK;
}

struct last_q {
    bool found;
    int64_t seq, ts;
};

static enum bw_rc last_row(void *arg, const struct bw_row *row)
{
    struct last_q *q = arg;
    q->found = true;
    q->seq = bw_row_int(row, 0);
    q->ts = bw_row_int(row, 1);
    return BW_OK;
}

/* CONTROL: BCK-07 - the newest restore point older than the RPO (P2); only
 * once backups exist (a backup.completed event has been written). */
static enum bw_rc rule_rpo(struct bw_tx *tx, struct run *r)
{
    struct last_q q = {false, 0, 0};
    struct bw_val p[] = {BW_VTEXT("backup.completed")};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_AUDIT_LAST, p, 1, last_row, &q);
    if (rc != BW_OK || !q.found || bw_time_now() - q.ts <= r->cfg->incident_rpo)
        return rc;
    return fire(tx, r, "backup_rpo", "backup", "P2",
                "Newest restore point is older than the RPO", &q.seq, 1);
}

/* The group a threshold rule counts an event under, or NULL for rules that
 * look at each event alone. */
static const char *group_of(const struct ev *e)
{
    if (strcmp(e->action, "auth.lockout") == 0)
        return e->target;
    if (strcmp(e->action, "auth.login.failed") == 0)
        return e->remote;
    if (strcmp(e->action, "record.read") == 0 || strcmp(e->action, "apikey.denied") == 0)
        return e->actor;
    return NULL;
}

/* A threshold rule needs counting once per group and batch: at the group's
 * last event, whose window holds the earlier ones too. Keeps a flood of
 * failed logins from costing one window query per event. */
static bool counted_later(const struct scan *s, size_t i)
{
    const char *g = group_of(&s->ev[i]);
    for (size_t j = i + 1; g != NULL && j < s->n; j++) {
        const char *h = group_of(&s->ev[j]);
        if (h != NULL && strcmp(s->ev[j].action, s->ev[i].action) == 0 && strcmp(g, h) == 0)
            return true;
    }
    return false;
}

static enum bw_rc run_fn(struct bw_tx *tx, void *arg)
{
    struct run *r = arg;
    struct bw_buf cur;
    uint64_t c = 0;
    char next[24];
    struct bw_detect_stats before = r->stats;
    bw_buf_init(&cur, 32);
    scan_free(r->scan);
    enum bw_rc rc = bw_store_meta_get(tx, "incident.detect.cursor", &cur);
    if (rc == BW_ERR_NOTFOUND) {
        rc = BW_OK;
        r->cursor = 0;
    } else if (rc == BW_OK) {
        rc = bw_parse_u64(cur.data, INT64_MAX, &c);
        r->cursor = (int64_t)c;
    }
    bw_buf_free(&cur, false);
    struct bw_val p[] = {BW_VINT(r->cursor), BW_VINT(BATCH)};
    if (rc == BW_OK)
        rc = bw_tx_query(tx, BW_STMT_AUDIT_SCAN, p, 2, scan_row, r->scan);
    for (size_t i = 0; rc == BW_OK && i < r->scan->n; i++) {
        if (!counted_later(r->scan, i))
            rc = dispatch(tx, r, &r->scan->ev[i]);
        r->cursor = r->scan->ev[i].seq;
    }
    if (rc == BW_OK && r->scan->n < BATCH)
        rc = rule_rpo(tx, r);
    snprintf(next, sizeof(next), "%lld", (long long)r->cursor);
    if (rc == BW_OK && r->scan->n > 0)
        rc = bw_store_meta_put(tx, "incident.detect.cursor", next);
    r->more = r->scan->n == BATCH;
    if (rc == BW_OK)
        r->stats.events += (unsigned)r->scan->n;
    else
        r->stats = before; /* the batch rolled back */
    return rc;
}

enum bw_rc bw_detect_run(struct bw_store *st, const struct bw_config *cfg,
                         struct bw_detect_stats *out)
{
    struct run r = {.cfg = cfg};
    r.scan = bw_calloc(1, sizeof(*r.scan));
    if (r.scan == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc;
    do {
        rc = bw_store_write(st, run_fn, &r);
    } while (rc == BW_OK && r.more);
    scan_free(r.scan);
    bw_free(r.scan);
    if (rc == BW_OK && out != NULL)
        *out = r.stats;
    return rc;
}
