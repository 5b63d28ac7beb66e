/*
 * check_backup.c - controls decided by the backup target and the drill
 * record: the newest backup whose sealed manifest authenticates under the
 * keyring (BCK-01, BCK-07), the second target and whether a target shares
 * the data directory's file system (BCK-02, issue 6), the manifests'
 * encryption (CRY-03) and the last restore drill with its RPO/RTO (BCK-06,
 * BCK-08). The target is listed once per run (bw_compliance_cache).
 *
 * Trusts: the configuration and the keyring. Only lists and opens
 * manifests (never writes to a target); evidence holds backup names and
 * times, never key material.
 */
#include "backup/backup.h"
#include "compliance/compliance_int.h"
#include "store/store.h"

#include <string.h>
#include <sys/stat.h>

void bw_compliance_cache_free(struct bw_compliance_cache *c)
{
    if (c == NULL)
        return;
    json_decref(c->backups);
    json_decref(c->copy_backups);
    c->backups = c->copy_backups = NULL;
}

static enum bw_rc list_target(const struct bw_compliance_env *env, const char *spec, json_t **out,
                              char *why, size_t whylen)
{
    struct bw_backup_target *t = NULL;
    if (env->kr == NULL) {
        bw_why(why, whylen, "the keys are not loaded: backups cannot be opened");
        return BW_ERR_UNSUPPORTED;
    }
    enum bw_rc rc = bw_backup_target_open(spec, env->data_dir, &t, why, whylen);
    if (rc == BW_OK)
        rc = bw_backup_list(env->kr, t, out, why, whylen);
    bw_backup_target_close(t);
    return rc;
}

/* The primary target's backups (cached for the run); NULL with why. */
static json_t *backups(const struct bw_compliance_env *env, char *why, size_t whylen)
{
    struct bw_compliance_cache *c = env->cache;
    json_t *list = NULL;
    if (c != NULL && c->backups_done) {
        snprintf(why, whylen, "%s", c->backups_why);
        return c->backups;
    }
    enum bw_rc rc = list_target(env, env->cfg->backup_target, &list, why, whylen);
    if (c == NULL) { /* no cache: the caller gets its own reference */
        return rc == BW_OK ? list : NULL;
    }
    c->backups_done = true;
    c->backups_rc = rc;
    snprintf(c->backups_why, sizeof(c->backups_why), "%s", why);
    c->backups = rc == BW_OK ? list : NULL;
    return c->backups;
}

static void release(const struct bw_compliance_env *env, json_t *list)
{
    if (env->cache == NULL)
        json_decref(list);
}

/* Newest created_ms of the manifests that opened, name into name[cap]. */
static int64_t newest(json_t *list, char *name, size_t cap, size_t *good, size_t *bad)
{
    int64_t best = 0;
    size_t i;
    json_t *v;
    *good = *bad = 0;
    json_array_foreach(list, i, v)
    {
        if (json_object_get(v, "error") != NULL) {
            (*bad)++;
            continue;
        }
        (*good)++;
        int64_t ms = json_integer_value(json_object_get(v, "created_ms"));
        if (ms > best) {
            best = ms;
            snprintf(name, cap, "%s", json_string_value(json_object_get(v, "name")));
        }
    }
    return best;
}

/* BCK-01 and BCK-07: the newest authenticated backup against `limit`. */
static enum bw_ctl_status age_check(const struct bw_compliance_env *env, struct bw_ctl_out *o,
                                    int64_t limit, const char *what)
{
    char why[256] = "", name[128] = "";
    size_t good = 0, bad = 0;
    bw_ev_str(o, "backup.target", env->cfg->backup_target);
    json_t *list = backups(env, why, sizeof(why));
    if (list == NULL) {
        bw_detail_add(o, "no backup can be listed: %s", why);
        return BW_CTL_FAIL;
    }
    int64_t ms = newest(list, name, sizeof(name), &good, &bad);
    release(env, list);
    bw_ev_int(o, "backups", (int64_t)good);
    if (ms == 0) {
        bw_detail_add(o, "the target holds no readable backup");
        return BW_CTL_FAIL;
    }
    int64_t age = bw_time_now() - ms / 1000;
    bw_ev_str(o, "newest", name);
    bw_ev_time(o, "newest_at", ms / 1000);
    bw_ev_int(o, "age_s", age);
    bw_ev_dur(o, "limit", limit);
    if (age > limit) {
        bw_detail_add(o, "the newest verified %s is older than 24h", what);
        return BW_CTL_FAIL;
    }
    return BW_CTL_PASS;
}

/* CONTROL: BCK-01 */
BW_CHECK(bw_chk_bck01)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    int64_t every = 0;
    if (bw_backup_parse_every(env->cfg->backup_incremental, &every) != BW_OK)
        every = 0;
    bw_rule_dur_max(&r, "backup.incremental (interval)", every, BW_POL_DAY);
    enum bw_ctl_status st = age_check(env, o, BW_POL_DAY, "backup");
    return st != BW_CTL_PASS ? st : bw_rules_status(&r);
}

/* CONTROL: BCK-07 - the recovery point objective, 24 h. */
BW_CHECK(bw_chk_bck07)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    bw_rule_dur_max(&r, "incident.rpo", env->cfg->incident_rpo, BW_POL_DAY);
    enum bw_ctl_status st = age_check(env, o, BW_POL_DAY, "restore point");
    return st != BW_CTL_PASS ? st : bw_rules_status(&r);
}

/* CONTROL: CRY-03 - every manifest must open under the backup key (AES-256-GCM). */
BW_CHECK(bw_chk_cry03)
{
    (void)ctl;
    char why[256] = "", name[128] = "";
    size_t good = 0, bad = 0;
    bw_ev_str(o, "cipher", "AES-256-GCM (chunks, manifests, log segments)");
    json_t *list = backups(env, why, sizeof(why));
    if (list == NULL) {
        bw_detail_add(o, "no backup can be listed: %s", why);
        return BW_CTL_NOT_APPLICABLE;
    }
    (void)newest(list, name, sizeof(name), &good, &bad);
    release(env, list);
    bw_ev_int(o, "authenticated", (int64_t)good);
    bw_ev_int(o, "failed_authentication", (int64_t)bad);
    if (bad > 0) {
        bw_detail_add(o, "%zu manifest(s) on the target do not authenticate", bad);
        return BW_CTL_FAIL;
    }
    if (good == 0) {
        bw_detail_add(o, "no backup on the target yet");
        return BW_CTL_NOT_APPLICABLE;
    }
    return BW_CTL_PASS;
}

/* Does a dir: target sit on the data directory's file system? */
static bool same_fs(const struct bw_compliance_env *env, const char *spec)
{
    struct stat a, b;
    if (strncmp(spec, "dir:", 4) != 0)
        return false;
    return stat(env->data_dir, &a) == 0 && stat(spec + 4, &b) == 0 && a.st_dev == b.st_dev;
}

/* CONTROL: BCK-02 (and issue 6: a target on the data's file system is no
 * separate location). */
BW_CHECK(bw_chk_bck02)
{
    (void)ctl;
    const struct bw_config *c = env->cfg;
    char why[256] = "", name[128] = "", cname[128] = "";
    size_t good = 0, bad = 0;
    bool primary_same = same_fs(env, c->backup_target);
    bw_ev_str(o, "backup.target", c->backup_target);
    bw_ev_bool(o, "target_same_filesystem", primary_same);
    bw_ev_str(o, "backup.copy_target", c->backup_copy_target);
    bw_ev_str(o, "location", "attestation (R): jurisdiction is not recorded by Bulwark");
    if (primary_same)
        bw_detail_add(o, "backup.target %s is on the same file system as the data directory",
                      c->backup_target);
    if (c->backup_copy_target[0] == '\0') {
        bw_detail_add(o, "no second backup target (backup.copy_target is empty)");
        return BW_CTL_FAIL;
    }
    bool copy_same = same_fs(env, c->backup_copy_target);
    bw_ev_bool(o, "copy_same_filesystem", copy_same);
    if (copy_same) {
        bw_detail_add(o, "backup.copy_target is on the same file system as the data directory");
        return BW_CTL_FAIL;
    }
    json_t *list = backups(env, why, sizeof(why)), *copy = NULL;
    int64_t ms = list != NULL ? newest(list, name, sizeof(name), &good, &bad) : 0;
    release(env, list);
    if (ms == 0) {
        bw_detail_add(o, "no backup on backup.target to compare with the copy");
        return BW_CTL_FAIL;
    }
    if (list_target(env, c->backup_copy_target, &copy, why, sizeof(why)) != BW_OK) {
        bw_detail_add(o, "cannot list backup.copy_target: %s", why);
        return BW_CTL_FAIL;
    }
    int64_t cms = newest(copy, cname, sizeof(cname), &good, &bad);
    json_decref(copy);
    bw_ev_str(o, "newest", name);
    bw_ev_str(o, "newest_copy", cname);
    if (cms < ms) {
        bw_detail_add(o,
                      "the newest backup %s is not on backup.copy_target (run 'bulwark "
                      "backup run --copy-to %s')",
                      name, c->backup_copy_target);
        return BW_CTL_FAIL;
    }
    return primary_same ? BW_CTL_WARNING : BW_CTL_PASS;
}

/* ---- the restore drill (backup.last_drill in bw_meta) ---------------------------- */

struct drill {
    struct bw_buf text;
};

static enum bw_rc drill_fn(struct bw_tx *tx, void *arg)
{
    struct drill *d = arg;
    bw_buf_reset(&d->text);
    enum bw_rc rc = bw_store_meta_get(tx, "backup.last_drill", &d->text);
    return rc == BW_ERR_NOTFOUND ? BW_OK : rc;
}

/* The last drill's record (new reference), NULL when none; *err on failure. */
static json_t *last_drill(const struct bw_compliance_env *env, struct bw_ctl_out *o, bool *err)
{
    struct drill d;
    bw_buf_init(&d.text, 64 * 1024);
    enum bw_rc rc = bw_store_read(env->store, drill_fn, &d);
    json_t *j = NULL;
    *err = rc != BW_OK;
    if (rc != BW_OK)
        bw_detail_add(o, "cannot read the drill record: %s", bw_rc_str(rc));
    else if (d.text.len > 0 && (j = json_loadb(d.text.data, d.text.len, 0, NULL)) == NULL)
        bw_detail_add(o, "the drill record is not JSON");
    bw_buf_free(&d.text, false);
    return j;
}

/* CONTROL: BCK-06 */
BW_CHECK(bw_chk_bck06)
{
    (void)ctl;
    bool err = false;
    int64_t at = 0;
    json_t *d = last_drill(env, o, &err);
    bw_ev_str(o, "runbook", "docs/RESTORE.md");
    if (d == NULL) {
        if (!err)
            bw_detail_add(o, "no restore drill recorded ('bulwark backup drill')");
        return err ? BW_CTL_ERROR : BW_CTL_FAIL;
    }
    const char *res = json_string_value(json_object_get(d, "result"));
    const char *ts = json_string_value(json_object_get(d, "at"));
    bw_ev_str(o, "last_drill", ts);
    bw_ev_str(o, "result", res);
    bw_ev_str(o, "backup", json_string_value(json_object_get(d, "backup")));
    enum bw_ctl_status st = BW_CTL_PASS;
    if (res == NULL || strcmp(res, "ok") != 0) {
        bw_detail_add(o, "the last restore drill did not succeed");
        st = BW_CTL_FAIL;
    } else if (ts == NULL || bw_time_parse(ts, &at) != BW_OK) {
        bw_detail_add(o, "the drill record has no valid time");
        st = BW_CTL_FAIL;
    } else if (bw_time_now() - at > 90 * BW_POL_DAY) {
        bw_detail_add(o, "the last restore drill is older than 90 days");
        st = BW_CTL_FAIL;
    } else if (bw_time_now() - at > 30 * BW_POL_DAY) {
        bw_detail_add(o, "the last restore drill is older than 30 days");
        st = BW_CTL_WARNING;
    }
    json_decref(d);
    return st;
}

/* CONTROL: BCK-08 - RTO 4 h, measured by the drill. */
BW_CHECK(bw_chk_bck08)
{
    (void)ctl;
    bool err = false;
    json_t *d = last_drill(env, o, &err);
    bw_ev_dur(o, "rto_policy", 4 * BW_POL_HOUR);
    if (d == NULL) {
        if (!err)
            bw_detail_add(o, "no restore drill recorded: the RTO is not measured");
        return err ? BW_CTL_ERROR : BW_CTL_FAIL;
    }
    json_t *rto = json_object_get(d, "rto_ms");
    enum bw_ctl_status st = BW_CTL_PASS;
    if (!json_is_integer(rto)) {
        bw_detail_add(o, "the drill record has no RTO");
        st = BW_CTL_FAIL;
    } else {
        bw_ev_int(o, "rto_ms", json_integer_value(rto));
        bw_ev_str(o, "last_drill", json_string_value(json_object_get(d, "at")));
        if (json_integer_value(rto) > 4 * BW_POL_HOUR * 1000) {
            bw_detail_add(o, "the last drill took longer than the 4h RTO");
            st = BW_CTL_FAIL;
        }
    }
    json_decref(d);
    return st;
}
