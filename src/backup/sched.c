/*
 * sched.c - backups inside `bulwark serve` (BCK-01, BCK-03..05): one thread
 * that ships the change log every log_interval, takes a full backup every
 * [backup] full and an incremental one every [backup] incremental, prunes
 * after each backup, copies each backup to [backup] copy_target when one is
 * set (BCK-02, read back and hash-compared; pruned by the same retention),
 * and audits every run, copy, prune and failure. When audit retention has
 * moved events into a new archive file, an incremental backup follows at
 * once (whatever [backup] incremental says): until one does, those events
 * exist only in the live data directory. A missed
 * schedule (the newest backup on the target is older than twice the
 * incremental interval when serve starts) is audited as backup.missed.
 *
 * Shares the live store and keyring with the HTTP server (both outlive
 * it). The change-log callback runs on the store's writer thread and only
 * copies into the shipper's bounded queue.
 */
#include "backup/backup_int.h"
#include "audit/audit.h"
#include "store/store.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <time.h>

struct bw_backup_sched {
    const struct bw_config *cfg;
    struct bw_store *store;
    const struct bw_keyring *kr;
    const char *data_dir;
    struct bw_backup_target *t;
    struct bw_backup_target *copy; /* [backup] copy_target (BCK-02), or NULL */
    struct bw_log_shipper *log;
    int64_t full_s, incr_s, log_ms;
    int64_t last_full_ms, last_any_ms, last_ship_ms;
    uint64_t archives_backed_up; /* bw_audit_archives_written() the last backup saw */
    int64_t archive_retry_ms;    /* after a failed one: not before this */
    bool log_failing, run_failing;
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

enum bw_rc bw_backup_parse_every(const char *s, int64_t *seconds)
{
    static const struct {
        const char *name;
        int64_t s;
    } named[] = {{"off", 0}, {"never", 0}, {"hourly", 3600}, {"daily", 86400},
                 {"weekly", 7 * 86400}, {"monthly", 30 * 86400}};
    for (size_t i = 0; i < BW_ARRAY_LEN(named); i++) {
        if (strcmp(s, named[i].name) == 0) {
            *seconds = named[i].s;
            return BW_OK;
        }
    }
    int64_t v = 0;
    if (bw_parse_duration(s, &v) != BW_OK || v <= 0)
        return BW_ERR_INVALID;
    *seconds = v;
    return BW_OK;
}

static void env_for(const struct bw_backup_sched *s, struct bw_backup_env *env)
{
    *env = (struct bw_backup_env){.cfg = s->cfg,
                                  .store = s->store,
                                  .kr = s->kr,
                                  .data_dir = s->data_dir,
                                  .actor = "system",
                                  .log_stream = s->log != NULL ? bw_log_shipper_stream(s->log)
                                                               : NULL,
                                  .log = s->log};
}

/* Newest backup times on the target (once, at start). */
static void learn_history(struct bw_backup_sched *s)
{
    json_t *list = NULL;
    char why[512] = "";
    if (bw_backup_list(s->kr, s->t, &list, why, sizeof(why)) != BW_OK)
        return;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        int64_t ms = json_integer_value(json_object_get(v, "created_ms"));
        const char *kind = json_string_value(json_object_get(v, "kind"));
        if (kind == NULL)
            continue;
        if (ms > s->last_any_ms)
            s->last_any_ms = ms;
        if (strcmp(kind, "full") == 0 && ms > s->last_full_ms)
            s->last_full_ms = ms;
    }
    json_decref(list);
    struct bw_backup_env env;
    env_for(s, &env);
    if (s->incr_s > 0 && s->last_any_ms > 0 &&
        bw_time_now_ms() - s->last_any_ms > 2000 * s->incr_s)
        (void)bw_backup_audit(&env, "backup.missed", "schedule", false,
                              json_pack("{s:I}", "last_backup_ms",
                                        (json_int_t)s->last_any_ms));
}

static void ship(struct bw_backup_sched *s)
{
    char why[512] = "";
    int64_t lag = 0;
    enum bw_rc rc = bw_log_shipper_ship(s->log, &lag, why, sizeof(why));
    if (rc != BW_OK && !s->log_failing) { /* audit the change, not every retry */
        struct bw_backup_env env;
        env_for(s, &env);
        bw_log(BW_LOG_ERROR, "backup.log", "cannot ship the change log: %s", why);
        (void)bw_backup_audit(&env, "backup.failed", "change-log", false,
                              json_pack("{s:s}", "reason", why));
    }
    s->log_failing = rc != BW_OK;
}

static bool run_one(struct bw_backup_sched *s, enum bw_backup_kind kind)
{
    struct bw_backup_env env;
    json_t *res = NULL;
    char why[512] = "";
    env_for(s, &env);
    int64_t now = bw_time_now_ms();
    enum bw_rc rc = bw_backup_run(&env, s->t, s->copy, kind, &res, why, sizeof(why));
    if (rc == BW_OK) {
        s->last_any_ms = now;
        if (strcmp(json_string_value(json_object_get(res, "kind")), "full") == 0)
            s->last_full_ms = now;
        bw_log(BW_LOG_INFO, "backup.completed", "%s backup %s",
               json_string_value(json_object_get(res, "kind")),
               json_string_value(json_object_get(res, "name")));
        json_decref(res);
        res = NULL;
        if (bw_backup_prune(&env, s->t, &res, why, sizeof(why)) != BW_OK)
            bw_log(BW_LOG_ERROR, "backup.prune", "prune failed: %s", why);
        json_decref(res);
        res = NULL;
        if (s->copy != NULL && bw_backup_prune(&env, s->copy, &res, why, sizeof(why)) != BW_OK)
            bw_log(BW_LOG_ERROR, "backup.prune", "prune of the copy target failed: %s", why);
    } else {
        bw_log(BW_LOG_ERROR, "backup.failed", "scheduled backup (or its copy) failed: %s", why);
        s->last_any_ms = now - 1000 * s->incr_s + 60000; /* retry in a minute */
    }
    json_decref(res);
    return rc == BW_OK;
}

static void *loop(void *arg)
{
    struct bw_backup_sched *s = arg;
    learn_history(s);
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        pthread_mutex_unlock(&s->mu);
        int64_t now = bw_time_now_ms();
        bool rebase = false;
        if (s->log != NULL && now - s->last_ship_ms >= s->log_ms) {
            s->last_ship_ms = now;
            ship(s);
            rebase = bw_log_shipper_take_gap(s->log);
            if (rebase)
                bw_log(BW_LOG_WARN, "backup.log", "another process changed the store: the "
                       "change log has a gap; taking a backup to re-base it");
        }
        /* read before the backup: an archive written during it waits for the next */
        uint64_t archives = bw_audit_archives_written();
        bool archived = archives != s->archives_backed_up && now >= s->archive_retry_ms;
        if (archived)
            bw_log(BW_LOG_INFO, "backup.archives", "audit retention wrote an archive file: "
                   "taking a backup that carries it");
        int ran = -1; /* -1: no backup this round, else whether it succeeded */
        if (rebase || archived)
            ran = run_one(s, BW_BACKUP_INCREMENTAL);
        else if (s->full_s > 0 && now - s->last_full_ms >= 1000 * s->full_s)
            ran = run_one(s, BW_BACKUP_FULL);
        else if (s->incr_s > 0 && now - s->last_any_ms >= 1000 * s->incr_s)
            ran = run_one(s, BW_BACKUP_INCREMENTAL);
        if (ran == 1) /* every backup carries the archive files (format 3) */
            s->archives_backed_up = archives;
        else if (ran == 0 && archived)
            s->archive_retry_ms = now + 60000;
        pthread_mutex_lock(&s->mu);
        if (s->stop)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wait_ms = s->log != NULL && s->log_ms < 1000 ? s->log_ms : 1000;
        ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        ts.tv_sec += wait_ms / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

void bw_backup_sched_stop(struct bw_backup_sched *s)
{
    if (s == NULL)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->th, NULL);
    }
    if (s->log != NULL) {
        char why[256] = "";
        if (bw_store_changelog(s->store, NULL, NULL, why, sizeof(why)) != BW_OK)
            bw_log(BW_LOG_ERROR, "backup.log", "cannot stop the change log");
        ship(s); /* what committed before the stop is not lost */
        bw_log_shipper_free(s->log);
    }
    bw_backup_target_close(s->t);
    bw_backup_target_close(s->copy);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    bw_free(s);
}

static enum bw_rc start_log(struct bw_backup_sched *s)
{
    char why[512] = "";
    if (s->log_ms <= 0)
        return BW_OK;
    bool commit_times = strcmp(bw_store_driver(s->store), "sqlite") != 0;
    enum bw_rc rc = bw_log_shipper_create(s->kr, s->t, commit_times, &s->log);
    if (rc == BW_OK)
        rc = bw_store_changelog(s->store, bw_log_shipper_enqueue, s->log, why, sizeof(why));
    if (rc != BW_OK) {
        bw_log_shipper_free(s->log);
        s->log = NULL;
        if (rc != BW_ERR_BUSY)
            return rc;
        /* PostgreSQL: another serve ships this database's log; backups go on */
        bw_log(BW_LOG_WARN, "backup.log", "no change log in this process: %s", why);
        return BW_OK;
    }
    if (why[0] != '\0')
        bw_log(BW_LOG_WARN, "backup.log", "%s", why);
    bw_log(BW_LOG_INFO, "backup.log", "change log stream %s every %lld ms",
           bw_log_shipper_stream(s->log), (long long)s->log_ms);
    return BW_OK;
}

enum bw_rc bw_backup_sched_start(const struct bw_config *cfg, struct bw_store *store,
                                 const struct bw_keyring *kr, const char *data_dir,
                                 struct bw_backup_sched **out, char *why, size_t whylen)
{
    *out = NULL;
    if (cfg->backup_target == NULL || cfg->backup_target[0] == '\0')
        return BW_OK; /* backups not configured: `bulwark check` reports BCK-01 */
    struct bw_backup_sched *s = bw_calloc(1, sizeof(*s));
    if (s == NULL)
        return BW_ERR_NOMEM;
    *s = (struct bw_backup_sched){.cfg = cfg, .store = store, .kr = kr, .data_dir = data_dir,
                                  .log_ms = cfg->backup_log_interval * 1000};
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    enum bw_rc rc = bw_backup_parse_every(cfg->backup_full, &s->full_s);
    if (rc == BW_OK)
        rc = bw_backup_parse_every(cfg->backup_incremental, &s->incr_s);
    if (rc != BW_OK)
        bw_why(why, whylen, "[backup] full and incremental take weekly, daily, hourly, off or a "
               "duration");
    if (rc == BW_OK)
        rc = bw_backup_target_open(cfg->backup_target, data_dir, &s->t, why, whylen);
    if (rc == BW_OK && cfg->backup_copy_target != NULL && cfg->backup_copy_target[0] != '\0')
        rc = bw_backup_target_open(cfg->backup_copy_target, data_dir, &s->copy, why, whylen);
    if (rc == BW_OK && (rc = start_log(s)) != BW_OK)
        bw_why(why, whylen, "cannot start the change log: %s", bw_rc_str(rc));
    if (rc == BW_OK && pthread_create(&s->th, NULL, loop, s) != 0)
        rc = BW_ERR_NOMEM;
    if (rc != BW_OK) {
        bw_backup_sched_stop(s);
        return rc;
    }
    s->started = true;
    *out = s;
    return BW_OK;
}
