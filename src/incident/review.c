/*
 * review.c - two ways incidents reach the register besides detection and
 * administrators: staff reporting a suspicious event (CONTROL: INC-06) and
 * the quarterly recurring-incident review (CONTROL: G-16).
 *
 * A staff report is any signed-in user's description of something odd: it
 * opens a P4 incident in `detected` with the reporter recorded (created_by
 * "user:<id>", reported_by), audited and notified to the security
 * contacts like any other opening. A reporter gets at most
 * incident.report_limit reports an hour (BW_ERR_BUSY beyond), so one
 * account cannot flood the register or the on-call mailbox.
 *
 * The review looks, once per calendar quarter (UTC), at the incidents
 * closed in the window incident.recurrence_window before the quarter's end,
 * groups them by root cause (normalised: ASCII case folded, white space
 * collapsed, trailing punctuation dropped) and flags a group as a repeat
 * when it holds at least incident.recurrence_threshold incidents of which
 * at least one closed inside the quarter. The result is stored once per
 * quarter (a unique period makes a second run a no-op, also across
 * servers), audited and, when it found repeats, notified. A window without
 * closed incidents stores nothing (there is nothing to group).
 *
 * Trusts: the caller authenticated the reporter / authorised the actor.
 * Never logs or notifies the description itself beyond the incident note
 * (it may name people or systems; the register is admin-only).
 */
#include "audit/audit.h"
#include "incident/incident_int.h"
#include "store/store.h"

#include <ctype.h>
#include <string.h>
#include <time.h>

#define CLOSED_MAX 10000 /* incidents one review reads */
#define REVIEWS_LISTED 40

/* ---- staff reports (INC-06) ------------------------------------------------------- */

struct report_job {
    const struct bw_config *cfg;
    const struct bw_audit_ctx *ctx;
    const char *user_id, *email, *description;
    char id[BW_ID_LEN + 1];
    struct bw_reg_err *err;
};

static enum bw_rc count_row(void *arg, const struct bw_row *row)
{
    *(int64_t *)arg = bw_row_int(row, 0);
    return BW_OK;
}

static enum bw_rc report_fn(struct bw_tx *tx, void *arg)
{
    struct report_job *j = arg;
    char actor[BW_ID_LEN + 8], title[BW_INC_TITLE_MAX + 1];
    int64_t n = 0, now = bw_time_now();
    struct bw_val c[] = {BW_VTEXT(j->user_id), BW_VINT(now - 3600)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_INC_REPORT_COUNT, c, 2, count_row, &n);
    if (rc == BW_OK && (uint64_t)n >= j->cfg->incident_report_limit)
        return BW_ERR_BUSY;
    bw_why(actor, sizeof(actor), "user:%s", j->user_id);
    bw_why(title, sizeof(title), "Suspicious event reported by %.150s", j->email);
    struct bw_incident_new in = {title, "P4", 0, -1, -1, j->description, NULL};
    if (rc == BW_OK)
        rc = bw_incident_open_tx(tx, j->cfg, j->ctx, actor, &in, j->id, j->err);
    struct bw_val m[] = {BW_VTEXT(j->id), BW_VTEXT(j->user_id)};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_INC_REPORT_MARK, m, 2, NULL);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, actor, "incident.reported", j->id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s, s:s}", "reporter", j->user_id, "email",
                                       j->email, "severity", "P4"));
    return rc;
}

/* CONTROL: INC-06 */
enum bw_rc bw_incident_staff_report(struct bw_store *st, const struct bw_config *cfg,
                                    const struct bw_audit_ctx *ctx, const char *user_id,
                                    const char *email, const char *description,
                                    char id[BW_ID_LEN + 1], struct bw_reg_err *err)
{
    if (description == NULL || description[0] == '\0' ||
        !bw_inc_text_ok(description, BW_INC_NOTE_MAX, true)) {
        bw_reg_err_set(err, "description", "1 to 4000 bytes of text");
        return BW_ERR_INVALID;
    }
    if (user_id == NULL || !bw_id_valid(user_id) || email == NULL)
        return BW_ERR_PERM;
    struct report_job j = {cfg, ctx, user_id, email, description, "", err};
    enum bw_rc rc = bw_store_write(st, report_fn, &j);
    if (rc == BW_OK)
        memcpy(id, j.id, sizeof(j.id));
    return rc;
}

/* ---- the quarterly recurrence review (G-16) ------------------------------------------ */

static int64_t quarter_start(int year, int month)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    while (month < 0) {
        month += 12;
        year--;
    }
    tm.tm_year = year;
    tm.tm_mon = month;
    tm.tm_mday = 1;
    return (int64_t)timegm(&tm);
}

void bw_incident_prev_quarter(int64_t t, int64_t *start, int64_t *end)
{
    struct tm tm;
    time_t tt = (time_t)t;
    memset(&tm, 0, sizeof(tm));
    gmtime_r(&tt, &tm);
    int q = tm.tm_mon / 3 * 3;
    *end = quarter_start(tm.tm_year, q);
    *start = quarter_start(tm.tm_year, q - 3);
}

/* The grouping key of a root cause (see the file comment); "" for none. */
static void cause_key(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    bool space = false;
    for (; s != NULL && *s != '\0' && n + 2 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            space = n > 0;
            continue;
        }
        if (space)
            out[n++] = ' ';
        space = false;
        out[n++] = (char)(ch < 0x80 ? tolower(ch) : ch);
    }
    while (n > 0 && strchr(".,;:!", out[n - 1]) != NULL)
        n--;
    out[n] = '\0';
}

struct review {
    const struct bw_config *cfg;
    const char *actor;
    int64_t start, end, now;
    json_t *groups; /* key -> {root_cause, count, in_period, incidents, repeat} */
    json_int_t incidents;
    bool exists, ran;
    json_t *result;
};

static enum bw_rc closed_row(void *arg, const struct bw_row *row)
{
    struct review *r = arg;
    const char *id = bw_row_text(row, 0, NULL), *cause = bw_row_text(row, 3, NULL);
    char key[512];
    cause_key(cause, key, sizeof(key));
    json_t *g = json_object_get(r->groups, key);
    if (g == NULL) {
        g = json_pack("{s:s, s:I, s:I, s:[], s:b}", "key", key, "count", (json_int_t)0,
                      "in_period", (json_int_t)0, "incidents", "repeat", false);
        if (g == NULL || json_object_set_new(r->groups, key, g) != 0)
            return BW_ERR_NOMEM;
    }
    /* rows come oldest first: the group shows the newest wording */
    json_object_set_new(g, "root_cause", json_string(cause != NULL ? cause : ""));
    json_int_t count = json_integer_value(json_object_get(g, "count"));
    json_int_t in_period = json_integer_value(json_object_get(g, "in_period"));
    json_object_set_new(g, "count", json_integer(count + 1));
    if (bw_row_int(row, 4) >= r->start)
        json_object_set_new(g, "in_period", json_integer(in_period + 1));
    r->incidents++;
    return json_array_append_new(json_object_get(g, "incidents"), json_string(id)) == 0
               ? BW_OK
               : BW_ERR_NOMEM;
}

static enum bw_rc exists_row(void *arg, const struct bw_row *row)
{
    (void)row;
    ((struct review *)arg)->exists = true;
    return BW_OK;
}

/* The groups as an array, repeats first; *repeats counts them. */
static json_t *group_list(const struct review *r, json_t *repeats)
{
    json_t *list = json_array(), *g;
    const char *key;
    for (int pass = 0; pass < 2 && list != NULL; pass++) {
        json_object_foreach(r->groups, key, g) {
            bool rep = (uint64_t)json_integer_value(json_object_get(g, "count")) >=
                           r->cfg->incident_recurrence_threshold &&
                       json_integer_value(json_object_get(g, "in_period")) > 0;
            if (rep != (pass == 0))
                continue;
            json_object_set_new(g, "repeat", json_boolean(rep));
            if (rep)
                json_array_append(repeats, json_object_get(g, "root_cause"));
            json_array_append(list, g);
        }
    }
    return list;
}

static enum bw_rc review_fn(struct bw_tx *tx, void *arg)
{
    struct review *r = arg;
    char id[BW_ID_LEN + 1], from[21], to[21], subject[300];
    struct bw_val e[] = {BW_VINT(r->start)};
    r->exists = false;
    r->incidents = 0;
    json_object_clear(r->groups);
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_INC_REVIEW_EXISTS, e, 1, exists_row, r);
    if (rc != BW_OK || r->exists)
        return rc;
    struct bw_val q[] = {BW_VINT(r->end - r->cfg->incident_recurrence_window), BW_VINT(r->end),
                         BW_VINT(CLOSED_MAX)};
    rc = bw_tx_query(tx, BW_STMT_INC_CLOSED_BETWEEN, q, 3, closed_row, r);
    /* nothing closed in the window: nothing to review, nothing stored (and no
     * event on a fresh installation); checked again next round */
    if (rc != BW_OK || r->incidents == 0)
        return rc;
    json_t *repeats = json_array();
    json_t *list = rc == BW_OK && repeats != NULL ? group_list(r, repeats) : NULL;
    char *text = list != NULL ? json_dumps(list, JSON_COMPACT) : NULL;
    if (rc == BW_OK && text == NULL)
        rc = BW_ERR_NOMEM;
    bw_id_new(id);
    uint64_t changes = 0;
    json_int_t nrep = (json_int_t)json_array_size(repeats);
    struct bw_val in[] = {BW_VTEXT(id),        BW_VINT(r->start),    BW_VINT(r->end),
                          BW_VINT(r->now),     BW_VTEXT(r->actor),   BW_VINT(r->incidents),
                          BW_VINT(nrep),       BW_VTEXT(text != NULL ? text : "[]")};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_INC_REVIEW_INSERT, in, BW_ARRAY_LEN(in), &changes);
    if (rc == BW_OK && changes == 0)
        r->exists = true; /* another server wrote this quarter's review first */
    bw_time_format(r->start, from);
    bw_time_format(r->end, to);
    static const struct bw_audit_ctx sys = {.remote = "-", .request_id = "-"};
    if (rc == BW_OK && !r->exists)
        rc = bw_audit_append(tx, &sys, r->actor, "incident.recurrence.review", id,
                             BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s, s:I, s:I}", "period_start", from,
                                       "period_end", to, "incidents", r->incidents, "repeats",
                                       nrep));
    bw_why(subject, sizeof(subject), "recurring incidents: %lld root cause(s) repeat (%s..%s)",
           (long long)nrep, from, to);
    if (rc == BW_OK && !r->exists && nrep > 0)
        rc = bw_notify_security(tx, r->cfg, "incident.recurrence", subject,
                                json_pack("{s:s, s:s, s:s, s:O}", "review", id, "period_start",
                                          from, "period_end", to, "repeats", repeats));
    if (rc == BW_OK && !r->exists) {
        r->ran = true;
        json_decref(r->result);
        r->result = json_pack("{s:s, s:s, s:s, s:I, s:I, s:O}", "id", id, "period_start", from,
                              "period_end", to, "incidents", r->incidents, "repeats", nrep,
                              "root_causes", list);
        rc = r->result != NULL ? BW_OK : BW_ERR_NOMEM;
    }
    bw_free(text);
    json_decref(list);
    json_decref(repeats);
    return rc;
}

/* CONTROL: G-16 */
enum bw_rc bw_incident_review_if_due(struct bw_store *st, const struct bw_config *cfg,
                                     const char *actor, json_t **out)
{
    struct review r = {.cfg = cfg, .actor = actor, .now = bw_time_now()};
    bw_incident_prev_quarter(r.now, &r.start, &r.end);
    r.groups = json_object();
    if (r.groups == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc = bw_store_write(st, review_fn, &r);
    json_decref(r.groups);
    if (rc == BW_OK && out != NULL) {
        *out = r.ran ? r.result : json_null();
        r.result = NULL;
    }
    json_decref(r.result);
    return rc;
}

static enum bw_rc review_row(void *arg, const struct bw_row *row)
{
    char from[21], to[21], at[21];
    json_t *causes = json_loads(bw_row_text(row, 7, NULL), 0, NULL);
    bw_time_format(bw_row_int(row, 1), from);
    bw_time_format(bw_row_int(row, 2), to);
    bw_time_format(bw_row_int(row, 3), at);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o}", "id",
                          bw_row_text(row, 0, NULL), "period_start", from, "period_end", to,
                          "run_at", at, "actor", bw_row_text(row, 4, NULL), "incidents",
                          (json_int_t)bw_row_int(row, 5), "repeats",
                          (json_int_t)bw_row_int(row, 6), "root_causes",
                          causes != NULL ? causes : json_array());
    return o != NULL && json_array_append_new(arg, o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

static enum bw_rc reviews_fn(struct bw_tx *tx, void *arg)
{
    struct bw_val p[] = {BW_VINT(REVIEWS_LISTED)};
    return bw_tx_query(tx, BW_STMT_INC_REVIEW_LIST, p, 1, review_row, arg);
}

enum bw_rc bw_incident_reviews(struct bw_store *st, json_t **out)
{
    json_t *items = json_array();
    enum bw_rc rc = items != NULL ? bw_store_read(st, reviews_fn, items) : BW_ERR_NOMEM;
    json_t *o = rc == BW_OK ? json_pack("{s:O, s:n}", "items", items, "next_cursor") : NULL;
    json_decref(items);
    if (rc == BW_OK && o == NULL)
        rc = BW_ERR_NOMEM;
    if (rc == BW_OK)
        *out = o;
    return rc;
}
