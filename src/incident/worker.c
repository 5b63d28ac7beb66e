/*
 * worker.c - the background thread of `bulwark serve` for issue 7: every
 * incident.detect_interval it runs the detection rules, the clocks sweep,
 * the read-only refresh and (when vuln.feed is set and a scan is due) the
 * advisory feed scan; every second it delivers due notifications. Request
 * threads never deliver anything. Errors are logged and retried on the next
 * round; the thread never stops the server.
 */
#include "incident/incident.h"
#include "store/store.h"
#include "vuln/vuln.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

struct bw_incident_worker {
    struct bw_store *st;
    const struct bw_config *cfg;
    const char *data_dir;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

static void round_work(struct bw_incident_worker *w, int64_t *next_detect)
{
    int64_t now = bw_time_now();
    enum bw_rc rc;
    if (now >= *next_detect) {
        struct bw_detect_stats ds;
        struct bw_sweep_stats ss;
        *next_detect = now + w->cfg->incident_detect_interval;
        if ((rc = bw_detect_run(w->st, w->cfg, &ds)) != BW_OK)
            bw_log(BW_LOG_ERROR, "incident.detect", "detection failed: %s", bw_rc_str(rc));
        else if (ds.opened > 0 || ds.updated > 0)
            bw_log(BW_LOG_INFO, "incident.detect", "%u events: %u incidents opened, %u updated",
                   ds.events, ds.opened, ds.updated);
        if ((rc = bw_incident_sweep(w->st, w->cfg, &ss)) != BW_OK)
            bw_log(BW_LOG_ERROR, "incident.sweep", "clock sweep failed: %s", bw_rc_str(rc));
        if ((rc = bw_readonly_refresh(w->st)) != BW_OK)
            bw_log(BW_LOG_ERROR, "incident.readonly", "cannot read the read-only flag: %s",
                   bw_rc_str(rc));
        if ((rc = bw_vuln_scan_if_due(w->st, w->cfg, w->data_dir)) != BW_OK)
            bw_log(BW_LOG_ERROR, "vuln.scan", "scheduled feed scan failed: %s", bw_rc_str(rc));
        /* CONTROL: G-16 - the quarterly review runs once per quarter */
        if ((rc = bw_incident_review_if_due(w->st, w->cfg, "system", NULL)) != BW_OK)
            bw_log(BW_LOG_ERROR, "incident.review", "recurrence review failed: %s",
                   bw_rc_str(rc));
    }
    struct bw_deliver_stats dl;
    if ((rc = bw_notify_deliver(w->st, w->cfg, &dl)) != BW_OK)
        bw_log(BW_LOG_ERROR, "notify.deliver", "delivery round failed: %s", bw_rc_str(rc));
}

static void *run(void *arg)
{
    struct bw_incident_worker *w = arg;
    int64_t next_detect = 0;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        pthread_mutex_unlock(&w->mu);
        round_work(w, &next_detect);
        pthread_mutex_lock(&w->mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        if (!w->stop)
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

enum bw_rc bw_incident_worker_start(struct bw_store *st, const struct bw_config *cfg,
                                    const char *data_dir, struct bw_incident_worker **out)
{
    struct bw_incident_worker *w = bw_calloc(1, sizeof(*w));
    if (w == NULL)
        return BW_ERR_NOMEM;
    w->st = st;
    w->cfg = cfg;
    w->data_dir = data_dir;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    enum bw_rc rc = bw_notify_global_init();
    if (rc == BW_OK && bw_readonly_refresh(st) != BW_OK)
        rc = BW_ERR_STORE;
    if (rc == BW_OK && pthread_create(&w->thread, NULL, run, w) != 0)
        rc = BW_ERR_INTERNAL;
    if (rc != BW_OK) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        bw_free(w);
        return rc;
    }
    *out = w;
    return BW_OK;
}

void bw_incident_worker_stop(struct bw_incident_worker *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    bw_free(w);
}
