/*
 * run.c - running the catalogue (every check, or the ones asked for), the
 * stored assessments (CONTROL: G-11: each run of `bulwark check` and of the
 * daily run inside `serve` is kept, dated, with its counts and results,
 * and audited as compliance.assessed in the same transaction), their
 * listing, and the daily timer thread of `serve`.
 *
 * Trusts: the check functions to return a status and evidence without
 * secrets. A check that cannot run is an `error`, counted as failing.
 */
#include "audit/audit.h"
#include "compliance/compliance_int.h"
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

static json_t *run_one(const struct bw_compliance_env *env, const struct bw_control *c, int64_t now)
{
    struct bw_ctl_out o = {.evidence = json_object()};
    char at[21];
    if (o.evidence == NULL)
        return NULL;
    enum bw_ctl_status st = c->check(env, c, &o);
    bw_time_format(now, at);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "id", c->id, "title", c->title,
                     "source", c->source, "mode", c->mode, "status", bw_ctl_status_str(st),
                     "detail", o.detail, "evidence", o.evidence, "checked_at", at);
}

static bool wanted(const char *id, const char *const *only, size_t nonly)
{
    if (nonly == 0)
        return true;
    for (size_t i = 0; i < nonly; i++) {
        if (strcmp(only[i], id) == 0)
            return true;
    }
    return false;
}

enum bw_rc bw_compliance_run(const struct bw_compliance_env *env, const char *const *only,
                             size_t nonly, json_t **out)
{
    size_t n = 0;
    const struct bw_control *ctl = bw_compliance_controls(&n);
    struct bw_compliance_cache cache = {0};
    struct bw_compliance_env e = *env;
    int64_t counts[BW_CTL__COUNT] = {0}, now = bw_time_now();
    char at[21];
    for (size_t i = 0; i < nonly; i++) {
        if (bw_compliance_find(only[i]) == NULL)
            return BW_ERR_NOTFOUND;
    }
    json_t *items = json_array();
    enum bw_rc rc = items != NULL ? BW_OK : BW_ERR_NOMEM;
    e.cache = &cache;
    for (size_t i = 0; rc == BW_OK && i < n; i++) {
        if (!wanted(ctl[i].id, only, nonly))
            continue;
        json_t *r = run_one(&e, &ctl[i], now);
        if (r == NULL || json_array_append_new(items, r) != 0) {
            rc = BW_ERR_NOMEM;
            break;
        }
        const char *s = json_string_value(json_object_get(r, "status"));
        for (int k = 0; k < BW_CTL__COUNT; k++) {
            if (strcmp(s, bw_ctl_status_str((enum bw_ctl_status)k)) == 0)
                counts[k]++;
        }
    }
    bw_compliance_cache_free(&cache);
    if (rc != BW_OK) {
        json_decref(items);
        return rc;
    }
    bw_time_format(now, at);
    json_t *sum = json_object();
    for (int k = 0; sum != NULL && k < BW_CTL__COUNT; k++)
        (void)json_object_set_new(sum, bw_ctl_status_str((enum bw_ctl_status)k),
                                  json_integer(counts[k]));
    json_t *o = json_pack("{s:s, s:o, s:o, s:b}", "checked_at", at, "items", items, "summary", sum,
                          "failed", counts[BW_CTL_FAIL] + counts[BW_CTL_ERROR] > 0);
    if (o == NULL)
        return BW_ERR_NOMEM;
    *out = o;
    return BW_OK;
}

/* ---- stored assessments -------------------------------------------------------------- */

struct rec {
    const struct bw_audit_ctx *ctx;
    const char *actor, *trigger;
    const json_t *run;
    char id[BW_ID_LEN + 1];
    char *results;
};

static int64_t sum_of(const json_t *run, enum bw_ctl_status s)
{
    return json_integer_value(
        json_object_get(json_object_get(run, "summary"), bw_ctl_status_str(s)));
}

static enum bw_rc record_fn(struct bw_tx *tx, void *arg)
{
    struct rec *r = arg;
    int64_t at = 0;
    const char *ts = json_string_value(json_object_get(r->run, "checked_at"));
    if (ts == NULL || bw_time_parse(ts, &at) != BW_OK)
        return BW_ERR_INVALID;
    struct bw_val p[] = {BW_VTEXT(r->id),
                         BW_VINT(at),
                         BW_VTEXT(r->trigger),
                         BW_VTEXT(r->actor),
                         BW_VINT(sum_of(r->run, BW_CTL_PASS)),
                         BW_VINT(sum_of(r->run, BW_CTL_FAIL)),
                         BW_VINT(sum_of(r->run, BW_CTL_WARNING)),
                         BW_VINT(sum_of(r->run, BW_CTL_NOT_APPLICABLE)),
                         BW_VINT(sum_of(r->run, BW_CTL_ERROR)),
                         BW_VINT(sum_of(r->run, BW_CTL_NOT_CHECKED)),
                         BW_VTEXT(r->results)};
    enum bw_rc rc = bw_tx_exec(tx, BW_STMT_COMPL_INSERT, p, BW_ARRAY_LEN(p), NULL);
    if (rc != BW_OK)
        return rc;
    json_t *failing = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r->run, "items"), i, v)
    {
        const char *s = json_string_value(json_object_get(v, "status"));
        if (failing != NULL && (strcmp(s, "fail") == 0 || strcmp(s, "error") == 0))
            (void)json_array_append(failing, json_object_get(v, "id"));
    }
    json_t *d = json_pack("{s:s, s:O, s:o*}", "trigger", r->trigger, "summary",
                          json_object_get(r->run, "summary"), "failing", failing);
    return bw_audit_append(tx, r->ctx, r->actor, "compliance.assessed", r->id,
                           sum_of(r->run, BW_CTL_FAIL) + sum_of(r->run, BW_CTL_ERROR) > 0
                               ? BW_AUDIT_FAILURE
                               : BW_AUDIT_SUCCESS,
                           d);
}

enum bw_rc bw_compliance_record(struct bw_store *st, const struct bw_audit_ctx *ctx,
                                const char *actor, const char *trigger, const json_t *run,
                                char id[BW_ID_LEN + 1])
{
    struct rec r = {.ctx = ctx, .actor = actor, .trigger = trigger, .run = run};
    json_t *slim = json_array();
    size_t i;
    json_t *v;
    /* titles and sources live in the code table; the assessment keeps the results */
    json_array_foreach(json_object_get(run, "items"), i, v)
    {
        json_t *o = json_pack("{s:O, s:O, s:O, s:O}", "id", json_object_get(v, "id"), "status",
                              json_object_get(v, "status"), "detail", json_object_get(v, "detail"),
                              "evidence", json_object_get(v, "evidence"));
        if (slim == NULL || o == NULL || json_array_append_new(slim, o) != 0) {
            json_decref(o);
            json_decref(slim);
            return BW_ERR_NOMEM;
        }
    }
    r.results = json_dumps(slim, JSON_COMPACT);
    json_decref(slim);
    if (r.results == NULL)
        return BW_ERR_NOMEM;
    bw_id_new(r.id);
    enum bw_rc rc = bw_store_write(st, record_fn, &r);
    bw_free(r.results);
    if (rc == BW_OK && id != NULL)
        memcpy(id, r.id, sizeof(r.id));
    return rc;
}

static json_t *summary_of(const struct bw_row *row, size_t first)
{
    json_t *s = json_object();
    for (int k = 0; s != NULL && k < BW_CTL__COUNT; k++)
        (void)json_object_set_new(s, bw_ctl_status_str((enum bw_ctl_status)k),
                                  json_integer(bw_row_int(row, first + (size_t)k)));
    return s;
}

struct hist {
    json_t *items;
    int64_t last_seq;
};

static enum bw_rc hist_row(void *arg, const struct bw_row *row)
{
    struct hist *h = arg;
    char at[21];
    bw_time_format(bw_row_int(row, 2), at);
    h->last_seq = bw_row_int(row, 0);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", bw_row_text(row, 1, NULL), "at", at,
                          "trigger", bw_row_text(row, 3, NULL), "actor", bw_row_text(row, 4, NULL),
                          "summary", summary_of(row, 5));
    return o != NULL && json_array_append_new(h->items, o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

struct hist_q {
    struct hist *h;
    int64_t before;
    unsigned limit;
};

static enum bw_rc hist_fn(struct bw_tx *tx, void *arg)
{
    struct hist_q *q = arg;
    struct bw_val p[] = {BW_VINT(q->before), BW_VINT(q->limit)};
    json_array_clear(q->h->items);
    return bw_tx_query(tx, BW_STMT_COMPL_LIST, p, 2, hist_row, q->h);
}

enum bw_rc bw_compliance_history(struct bw_store *st, int64_t before, unsigned limit, json_t **out)
{
    struct hist h = {.items = json_array()};
    struct hist_q q = {&h, before, limit};
    if (h.items == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc = bw_store_read(st, hist_fn, &q);
    if (rc != BW_OK) {
        json_decref(h.items);
        return rc;
    }
    char cur[24];
    snprintf(cur, sizeof(cur), "%lld", (long long)h.last_seq);
    bool more = json_array_size(h.items) == limit && limit > 0;
    *out = json_pack("{s:o, s:o}", "items", h.items, "next_cursor",
                     more ? json_string(cur) : json_null());
    return *out != NULL ? BW_OK : BW_ERR_NOMEM;
}

struct one {
    json_t *o;
};

static enum bw_rc one_row(void *arg, const struct bw_row *row)
{
    struct one *a = arg;
    char at[21];
    size_t len = 0;
    const char *text = bw_row_text(row, 4, &len);
    json_t *items = text != NULL ? json_loadb(text, len, 0, NULL) : NULL;
    if (items == NULL)
        return BW_ERR_INVALID;
    bw_time_format(bw_row_int(row, 1), at);
    json_decref(a->o);
    a->o = json_pack("{s:s, s:s, s:s, s:o}", "at", at, "trigger", bw_row_text(row, 2, NULL),
                     "actor", bw_row_text(row, 3, NULL), "items", items);
    return a->o != NULL ? BW_OK : BW_ERR_NOMEM;
}

static enum bw_rc one_fn(struct bw_tx *tx, void *arg)
{
    struct {
        struct one *a;
        const char *id;
    } *q = arg;
    struct bw_val p[] = {BW_VTEXT(q->id)};
    return bw_tx_query(tx, BW_STMT_COMPL_BY_ID, p, 1, one_row, q->a);
}

enum bw_rc bw_compliance_assessment(struct bw_store *st, const char *id, json_t **out)
{
    struct one a = {NULL};
    struct {
        struct one *a;
        const char *id;
    } q = {&a, id};
    enum bw_rc rc = bw_store_read(st, one_fn, &q);
    if (rc == BW_OK && a.o == NULL)
        rc = BW_ERR_NOTFOUND;
    if (rc == BW_OK && json_object_set_new(a.o, "id", json_string(id)) != 0)
        rc = BW_ERR_NOMEM;
    if (rc != BW_OK) {
        json_decref(a.o);
        return rc;
    }
    *out = a.o;
    return BW_OK;
}

/* ---- the daily run inside `serve` ------------------------------------------------ */

struct bw_compliance_timer {
    struct bw_compliance_env env;
    int64_t every, first;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

/* Sleeps up to `seconds` (monotonic); false when asked to stop. */
static bool nap(struct bw_compliance_timer *t, int64_t seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)seconds;
    pthread_mutex_lock(&t->mu);
    while (!t->stop && pthread_cond_timedwait(&t->cv, &t->mu, &until) != ETIMEDOUT) {
    }
    bool go = !t->stop;
    pthread_mutex_unlock(&t->mu);
    return go;
}

static void *loop(void *arg)
{
    struct bw_compliance_timer *t = arg;
    const struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    for (int64_t wait = t->first; nap(t, wait); wait = t->every) {
        json_t *run = NULL;
        char id[BW_ID_LEN + 1] = "";
        enum bw_rc rc = bw_compliance_run(&t->env, NULL, 0, &run);
        if (rc == BW_OK)
            rc = bw_compliance_record(t->env.store, &ctx, "system", "schedule", run, id);
        if (rc == BW_OK)
            bw_log(BW_LOG_INFO, "compliance.assessed", "assessment %s: %lld failing", id,
                   (long long)(sum_of(run, BW_CTL_FAIL) + sum_of(run, BW_CTL_ERROR)));
        else
            bw_log(BW_LOG_ERROR, "compliance.failed", "the scheduled assessment failed: %s",
                   bw_rc_str(rc));
        json_decref(run);
    }
    return NULL;
}

enum bw_rc bw_compliance_timer_start(const struct bw_compliance_env *env, int64_t every,
                                     int64_t first_delay, struct bw_compliance_timer **out)
{
    struct bw_compliance_timer *t = bw_calloc(1, sizeof(*t));
    pthread_condattr_t ca;
    if (t == NULL)
        return BW_ERR_NOMEM;
    t->env = *env;
    t->env.cache = NULL;
    t->every = every > 0 ? every : 86400;
    t->first = first_delay;
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&t->th, NULL, loop, t) != 0) {
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        bw_free(t);
        return BW_ERR_INTERNAL;
    }
    *out = t;
    return BW_OK;
}

void bw_compliance_timer_stop(struct bw_compliance_timer *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->th, NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    bw_free(t);
}
