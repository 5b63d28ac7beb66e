/*
 * timer.c - the audit trail's timer inside `bulwark serve`: once a second it
 * signs a checkpoint when audit.checkpoint_events events or
 * audit.checkpoint_interval seconds have accumulated and forwards new
 * events to audit.syslog; once an hour (and at start) it runs retention.
 * Failures are logged and retried, never fatal: the events themselves are
 * already durable in the store. On stop, a final checkpoint covers
 * everything written so far.
 */
#include "audit/audit.h"

#include <pthread.h>
#include <time.h>

struct bw_audit_timer {
    struct bw_store *st;
    const struct bw_keyring *kr;
    const struct bw_audit_settings *s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

static void tick(struct bw_audit_timer *t, int64_t *next_retention)
{
    enum bw_rc rc;
    if ((rc = bw_audit_checkpoint(t->st, t->kr, t->s, false, NULL)) != BW_OK)
        bw_log(BW_LOG_ERROR, "audit.checkpoint_failed", "%s", bw_rc_str(rc));
    if ((rc = bw_audit_forward(t->st, t->s)) != BW_OK)
        bw_log(BW_LOG_WARN, "audit.syslog_failed", "forwarding to %s: %s", t->s->syslog,
               bw_rc_str(rc));
    int64_t now = bw_time_now();
    if (now >= *next_retention) {
        uint64_t n = 0;
        *next_retention = now + 3600;
        if ((rc = bw_audit_retention(t->st, t->kr, t->s, now, 0, &n)) != BW_OK)
            bw_log(BW_LOG_ERROR, "audit.retention_failed", "%s", bw_rc_str(rc));
        else if (n > 0)
            bw_log(BW_LOG_INFO, "audit.retention", "%llu events archived",
                   (unsigned long long)n);
    }
}

static void *run(void *arg)
{
    struct bw_audit_timer *t = arg;
    int64_t next_retention = 0;
    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        pthread_mutex_unlock(&t->mu);
        tick(t, &next_retention);
        pthread_mutex_lock(&t->mu);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        while (!t->stop && pthread_cond_timedwait(&t->cv, &t->mu, &ts) == 0)
            ;
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

enum bw_rc bw_audit_timer_start(struct bw_store *st, const struct bw_keyring *kr,
                                const struct bw_audit_settings *s, struct bw_audit_timer **out)
{
    struct bw_audit_timer *t = bw_calloc(1, sizeof(*t));
    pthread_condattr_t ca;
    if (t == NULL)
        return BW_ERR_NOMEM;
    t->st = st;
    t->kr = kr;
    t->s = s;
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&t->thread, NULL, run, t) != 0) {
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        bw_free(t);
        return BW_ERR_INTERNAL;
    }
    *out = t;
    return BW_OK;
}

void bw_audit_timer_stop(struct bw_audit_timer *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    if (bw_audit_checkpoint(t->st, t->kr, t->s, true, NULL) != BW_OK)
        bw_log(BW_LOG_ERROR, "audit.checkpoint_failed", "final checkpoint not written");
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    bw_free(t);
}
