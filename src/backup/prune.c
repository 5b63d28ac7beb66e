/*
 * prune.c - retention (DATA-07, BCK-03..05); the restore drill is in
 * drill.c.
 *
 * Prune removes manifests older than their kind's retention (never the
 * newest backup), then every chunk that no remaining manifest lists - a
 * manifest lists all chunks it needs, so "what a retained backup still
 * needs" is exactly the union of the remaining lists (snapshot chunks,
 * change chunks and the chunks of its DATA/audit/ files) - then change-log
 * segments older than backup_log. Chunks of data keys that no manifest
 * names at all are left alone: they may belong to a backup being written.
 * Each removed backup is audited (backup.pruned).

 */
#include "backup/backup_int.h"
#include "audit/audit.h"
#include "store/store.h"
#include "sys/sys.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum bw_rc set_add(struct bw_names *s, const char *p)
{
    return bw_names_add(s, p, strlen(p));
}

static enum bw_rc list_acc(void *arg, const char *name)
{
    return set_add(arg, name);
}

/* Removes chunks under known key ids that no kept manifest references. */
static enum bw_rc collect(struct bw_backup_target *t, struct bw_names *keep,
                          const struct bw_names *keyids, uint64_t *removed)
{
    enum bw_rc rc = BW_OK;
    char path[BW_BK_NAME_MAX];
    bw_names_sort(keep);
    for (size_t i = 0; rc == BW_OK && i < keyids->n; i++) {
        struct bw_names files = {0};
        snprintf(path, sizeof(path), "chunks/%s", keyids->v[i]);
        rc = bw_target_list(t, path, list_acc, &files);
        for (size_t j = 0; rc == BW_OK && j < files.n; j++) {
            snprintf(path, sizeof(path), "chunks/%s/%s", keyids->v[i], files.v[j]);
            if (bw_names_has(keep, path))
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
    struct bw_names keep = {0}, keyids = {0};
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
        for (size_t c = 0; rc == BW_OK && !expired && c < m->nchanges; c++) {
            rc = bw_chunk_path(path, sizeof(path), m->keys[m->changes[c].key].id,
                               m->changes[c].id);
            if (rc == BW_OK)
                rc = set_add(&keep, path);
        }
        for (size_t c = 0; rc == BW_OK && !expired && c < m->nfchunks; c++) {
            rc = bw_chunk_path(path, sizeof(path), m->keys[m->fchunks[c].key].id, m->fchunks[c].id);
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
        bw_names_sort(&keyids);
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
