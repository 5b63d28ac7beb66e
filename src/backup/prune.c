/*
 * prune.c - retention (DATA-07, BCK-03..05) and the restore drill
 * (BCK-06..08).
 *
 * Prune removes manifests older than their kind's retention (never the
 * newest backup), then every chunk that no remaining manifest lists - a
 * manifest lists all chunks it needs, so "what a retained backup still
 * needs" is exactly the union of the remaining lists - then change-log
 * segments older than backup_log. Chunks of data keys that no manifest
 * names at all are left alone: they may belong to a backup being written.
 * Each removed backup is audited (backup.pruned).
 *
 * The drill restores the latest point into a scratch directory inside the
 * data directory, opens it, checks integrity, schema and row counts, and
 * records RPO and RTO (meta key backup.last_drill + audit event backup.drill
 * in one transaction), then removes the scratch directory.
 */
#include "backup/backup_int.h"
#include "audit/audit.h"
#include "store/store.h"
#include "sys/sys.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pathset {
    char **v;
    size_t n, cap;
};

static enum bw_rc set_add(struct pathset *s, const char *p)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 1024;
        char **nv = bw_realloc(s->v, nc * sizeof(*nv));
        if (nv == NULL)
            return BW_ERR_NOMEM;
        s->v = nv;
        s->cap = nc;
    }
    if ((s->v[s->n] = bw_strdup(p)) == NULL)
        return BW_ERR_NOMEM;
    s->n++;
    return BW_OK;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool set_has(const struct pathset *s, const char *p)
{
    return s->n > 0 && bsearch(&p, s->v, s->n, sizeof(*s->v), str_cmp) != NULL;
}

static enum bw_rc list_acc(void *arg, const char *name)
{
    return set_add(arg, name);
}

/* Removes chunks under known key ids that no kept manifest references. */
static enum bw_rc collect(struct bw_backup_target *t, struct pathset *keep,
                          const struct pathset *keyids, uint64_t *removed)
{
    enum bw_rc rc = BW_OK;
    char path[BW_BK_NAME_MAX];
    if (keep->n > 1)
        qsort(keep->v, keep->n, sizeof(*keep->v), str_cmp);
    for (size_t i = 0; rc == BW_OK && i < keyids->n; i++) {
        struct pathset files = {0};
        snprintf(path, sizeof(path), "chunks/%s", keyids->v[i]);
        rc = bw_target_list(t, path, list_acc, &files);
        for (size_t j = 0; rc == BW_OK && j < files.n; j++) {
            snprintf(path, sizeof(path), "chunks/%s/%s", keyids->v[i], files.v[j]);
            if (set_has(keep, path))
                continue;
            if ((rc = bw_target_remove(t, path)) == BW_OK)
                (*removed)++;
        }
        bw_names_free(files.v, files.n);
    }
    return rc;
}

static enum bw_rc prune_backups(const struct bw_backup_env *env, struct bw_backup_target *t,
                                json_t *gone, uint64_t *chunks_removed, char *why,
                                size_t whylen)
{
    char **names = NULL, path[BW_BK_NAME_MAX];
    size_t n = 0;
    struct pathset keep = {0}, keyids = {0};
    int64_t now = bw_time_now_ms();
    enum bw_rc rc = bw_manifest_names(t, &names, &n);
    for (size_t i = 0; rc == BW_OK && i < n; i++) {
        struct bw_manifest *m = NULL;
        rc = bw_manifest_load(env->kr, t, names[i], &m, why, whylen);
        if (rc != BW_OK)
            break; /* never prune around a damaged manifest: verify names it */
        int64_t keep_ms = 1000 * (strcmp(m->kind, "full") == 0
                                      ? env->cfg->retention_full_backups
                                      : env->cfg->retention_incremental_backups);
        bool expired = i + 1 < n && now - m->created_ms > keep_ms;
        for (size_t k = 0; rc == BW_OK && k < m->nkeys; k++)
            rc = set_add(&keyids, m->keys[k].id);
        for (size_t c = 0; rc == BW_OK && !expired && c < m->nchunks; c++) {
            rc = bw_chunk_path(path, sizeof(path), m->keys[m->chunks[c].key].id,
                               m->chunks[c].id);
            if (rc == BW_OK)
                rc = set_add(&keep, path);
        }
        if (rc == BW_OK && expired) {
            snprintf(path, sizeof(path), "backups/%s.manifest", m->name);
            rc = bw_target_remove(t, path);
            if (rc == BW_OK) {
                json_array_append_new(gone, json_pack("{s:s, s:s}", "name", m->name, "kind",
                                                      m->kind));
                (void)bw_backup_audit(env, "backup.pruned", m->name, true,
                                      json_pack("{s:s, s:I}", "kind", m->kind, "age_s",
                                                (json_int_t)((now - m->created_ms) / 1000)));
            }
        }
        bw_manifest_free(m);
    }
    if (rc == BW_OK && keyids.n > 1) { /* unique key ids */
        qsort(keyids.v, keyids.n, sizeof(*keyids.v), str_cmp);
        size_t u = 0;
        for (size_t i = 0; i < keyids.n; i++) {
            if (u > 0 && strcmp(keyids.v[u - 1], keyids.v[i]) == 0) {
                bw_free(keyids.v[i]);
                continue;
            }
            keyids.v[u++] = keyids.v[i];
        }
        keyids.n = u;
    }
    if (rc == BW_OK)
        rc = collect(t, &keep, &keyids, chunks_removed);
    bw_names_free(names, n);
    bw_names_free(keep.v, keep.n);
    bw_names_free(keyids.v, keyids.n);
    return rc;
}

enum bw_rc bw_backup_prune(const struct bw_backup_env *env, struct bw_backup_target *t,
                           json_t **out, char *why, size_t whylen)
{
    json_t *gone = json_array();
    uint64_t chunks = 0, segs = 0;
    if (gone == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc = prune_backups(env, t, gone, &chunks, why, whylen);
    if (rc == BW_OK)
        rc = bw_log_prune(env->kr, t, bw_time_now_ms() - 1000 * env->cfg->retention_backup_log,
                          env->log_stream, &segs);
    uint64_t key_backups = 0; /* decision C6 */
    if (rc == BW_OK)
        rc = bw_keystore_prune(env, t, &key_backups);
    json_t *res = json_pack("{s:O, s:I, s:I}", "removed_backups", gone, "removed_chunks",
                            (json_int_t)chunks, "removed_log_segments", (json_int_t)segs);
    if (res != NULL)
        json_object_set_new(res, "removed_key_backups", json_integer((json_int_t)key_backups));
    if (rc != BW_OK && why[0] == '\0')
        bw_why(why, whylen, "%s", bw_rc_str(rc));
    (void)bw_backup_audit(env, rc == BW_OK ? "backup.prune" : "backup.failed", "retention",
                          rc == BW_OK, json_pack("{s:I, s:I, s:I, s:s}", "backups",
                                                 (json_int_t)json_array_size(gone), "chunks",
                                                 (json_int_t)chunks, "log_segments",
                                                 (json_int_t)segs, "result",
                                                 rc == BW_OK ? "ok" : why));
    json_decref(gone);
    if (rc != BW_OK || res == NULL) {
        json_decref(res);
        return rc != BW_OK ? rc : BW_ERR_NOMEM;
    }
    *out = res;
    return BW_OK;
}

/* ---- drill ------------------------------------------------------------------------ */

struct counts {
    int64_t users, meta;
};

static enum bw_rc count_row(void *arg, const struct bw_row *row)
{
    (void)row;
    ((struct counts *)arg)->users++;
    return BW_OK;
}

static enum bw_rc meta_row(void *arg, const struct bw_row *row)
{
    ((struct counts *)arg)->meta = bw_row_int(row, 0);
    return BW_OK;
}

static enum bw_rc count_fn(struct bw_tx *tx, void *arg)
{
    struct bw_val lim[] = {BW_VINT(INT32_MAX)}, pre[] = {BW_VTEXT("")};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_USER_LIST, lim, 1, count_row, arg);
    if (rc == BW_OK)
        rc = bw_tx_query(tx, BW_STMT_META_COUNT_LIKE, pre, 1, meta_row, arg);
    return rc;
}

struct drill_rec {
    const struct bw_backup_env *env;
    json_t *result;
};

static enum bw_rc record_fn(struct bw_tx *tx, void *arg)
{
    struct drill_rec *d = arg;
    struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    char *text = json_dumps(d->result, JSON_COMPACT);
    enum bw_rc rc = text != NULL ? bw_store_meta_put(tx, "backup.last_drill", text)
                                 : BW_ERR_NOMEM;
    bw_free(text);
    if (rc == BW_OK) {
        json_incref(d->result);
        rc = bw_audit_append(tx, &ctx, d->env->actor, "backup.drill", "drill",
                             BW_AUDIT_SUCCESS, d->result);
    }
    return rc;
}

static enum bw_rc check_restored(const char *dir, struct counts *c, int *schema, char *why,
                                 size_t whylen)
{
    char db[4096];
    struct bw_store *st = NULL;
    struct bw_store_opts so = {.pool_size = 1};
    int want = 0;
    enum bw_rc rc = bw_sys_path(db, sizeof(db), dir, "db/bulwark.db");
    if (rc == BW_OK)
        rc = bw_store_open(db, &so, &st, why, whylen);
    if (rc == BW_OK)
        rc = bw_store_check(st, why, whylen);
    if (rc == BW_OK)
        rc = bw_store_schema_version(st, schema, &want);
    if (rc == BW_OK && *schema != want) {
        bw_why(why, whylen, "restored schema version %d, this binary needs %d", *schema, want);
        rc = BW_ERR_SCHEMA;
    }
    if (rc == BW_OK)
        rc = bw_store_read(st, count_fn, c);
    bw_store_close(st);
    return rc;
}

enum bw_rc bw_backup_drill(const struct bw_backup_env *env, struct bw_backup_target *t,
                           json_t **out, char *why, size_t whylen)
{
    char scratch[4096], name[64], id[BW_ID_LEN + 1];
    json_t *restored = NULL;
    struct counts c = {0};
    int schema = 0;
    uint64_t t0 = bw_time_mono_ns();
    if (strcmp(bw_store_driver(env->store), "sqlite") != 0) {
        bw_why(why, whylen, "the drill restores SQLite stores only; for PostgreSQL run 'backup "
               "restore --database URL' into an empty database (docs/RESTORE.md)");
        return BW_ERR_UNSUPPORTED;
    }
    bw_id_new(id);
    snprintf(name, sizeof(name), "backup/drill-%s", id);
    enum bw_rc rc = bw_sys_path(scratch, sizeof(scratch), env->data_dir, name);
    struct bw_restore_opts o = {.to = scratch, .at_ms = -1};
    if (rc == BW_OK)
        rc = bw_backup_restore(env, t, &o, &restored, why, whylen);
    if (rc == BW_OK)
        rc = check_restored(scratch, &c, &schema, why, whylen);
    int64_t rto_ms = (int64_t)((bw_time_mono_ns() - t0) / 1000000);
    (void)bw_backup_remove_dir(scratch);
    if (rc == BW_OK) {
        int64_t point = json_integer_value(json_object_get(restored, "point_ms"));
        char now[21];
        bw_time_format(bw_time_now(), now);
        json_t *r = json_pack("{s:s, s:s, s:O, s:O, s:I, s:I, s:i, s:I, s:I, s:s}", "result",
                              "ok", "at", now, "backup", json_object_get(restored, "backup"),
                              "point", json_object_get(restored, "point"), "rpo_s",
                              (json_int_t)((bw_time_now_ms() - point) / 1000), "rto_ms",
                              (json_int_t)rto_ms, "schema_version", schema, "users",
                              (json_int_t)c.users, "meta_rows", (json_int_t)c.meta,
                              "integrity", "ok");
        struct drill_rec d = {env, r};
        rc = r != NULL ? bw_store_write(env->store, record_fn, &d) : BW_ERR_NOMEM;
        if (rc == BW_OK)
            *out = r;
        else
            json_decref(r);
    } else {
        (void)bw_backup_audit(env, "backup.failed", "drill", false,
                              json_pack("{s:s}", "reason", why));
    }
    json_decref(restored);
    return rc;
}
