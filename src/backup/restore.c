/*
 * restore.c - reading backups back: list, verify and restore (also to a
 * point in time). A restore builds a NEW data directory in a temporary
 * sibling and renames it into place only when everything succeeded; it
 * never touches the live one. Every object is authenticated and its
 * content address checked before a byte of it is used, and the first
 * damaged object is named in the error.
 *
 * Keys and TLS files of the restored directory come from the data
 * directory the command runs with (on a new machine: the recovered master
 * key, docs/RESTORE.md); backups never carry key material. The files of
 * DATA/audit/ (format 3) come from the backup, every chunk authenticated
 * before any is written (files.c writes them).
 */
#include "backup/backup_int.h"
#include "audit/audit.h"
#include "store/store.h"
#include "sys/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { WORKERS = 2 };

/* ---- fetching a snapshot ------------------------------------------------------ */

struct fetch {
    const struct bw_backup_env *env;
    struct bw_backup_target *t;
    const struct bw_manifest *m;
    const struct bw_mchunk *refs; /* m->chunks, m->changes or m->fchunks */
    size_t n;
    uint64_t size;
    struct bw_backup_key **keys;
    uint64_t *off;
    int fd; /* -1: verify only */
    atomic_size_t next;
    _Atomic uint64_t done;
    pthread_mutex_t mu;
    enum bw_rc rc;
    char why[512];
};

static enum bw_rc fetch_one(struct fetch *f, struct bw_chunk_ctx *cx, size_t i,
                            struct bw_buf *obj, uint8_t *plain, char *why, size_t whylen)
{
    const struct bw_mchunk *c = &f->refs[i];
    const char *keyid = f->m->keys[c->key].id;
    char path[BW_BK_NAME_MAX], hex[2 * BW_BACKUP_ID_BYTES + 1];
    enum bw_rc rc = bw_chunk_path(path, sizeof(path), keyid, c->id);
    bw_hex(c->id, BW_BACKUP_ID_BYTES, hex);
    if (rc == BW_OK && (rc = bw_target_get(f->t, path, obj, why, whylen)) != BW_OK) {
        bw_why(why, whylen, "%s is missing or unreadable (backup %s)", path, f->m->name);
        return rc == BW_ERR_NOTFOUND ? BW_ERR_INVALID : rc;
    }
    if (rc == BW_OK)
        rc = bw_chunk_open(cx, f->keys[c->key], keyid, hex, (const uint8_t *)obj->data,
                           obj->len, c->len, plain);
    if (rc != BW_OK) {
        bw_why(why, whylen, "%s is damaged: %s (backup %s)", path,
               rc == BW_ERR_CRYPTO ? "authentication failed" : "bad structure or content",
               f->m->name);
        return rc;
    }
    if (f->fd >= 0 && pwrite(f->fd, plain, c->len, (off_t)f->off[i]) != (ssize_t)c->len) {
        bw_why(why, whylen, "cannot write the restored snapshot: %s", strerror(errno));
        return BW_ERR_IO;
    }
    return BW_OK;
}

static void *fetch_worker(void *arg)
{
    struct fetch *f = arg;
    struct bw_buf obj;
    char why[512] = "";
    struct bw_chunk_ctx *cx = NULL;
    uint8_t *plain = bw_malloc(BW_BK_CHUNK_MAX);
    enum bw_rc ctx_rc = bw_chunk_ctx_new(f->env->kr, bw_manifest_id_scheme(f->m), &cx);
    bw_buf_init(&obj, BW_BK_OBJECT_MAX);
    for (;;) {
        size_t i = atomic_fetch_add(&f->next, 1);
        if (i >= f->n || f->rc != BW_OK)
            break;
        enum bw_rc rc = plain == NULL            ? BW_ERR_NOMEM
                        : ctx_rc != BW_OK        ? ctx_rc
                                                 : fetch_one(f, cx, i, &obj, plain, why, sizeof(why));
        if (rc != BW_OK) {
            pthread_mutex_lock(&f->mu);
            if (f->rc == BW_OK) {
                f->rc = rc;
                snprintf(f->why, sizeof(f->why), "%s", why[0] ? why : bw_rc_str(rc));
            }
            pthread_mutex_unlock(&f->mu);
            break;
        }
        atomic_fetch_add(&f->done, f->refs[i].len);
    }
    bw_buf_free(&obj, false);
    bw_chunk_ctx_free(cx);
    if (plain != NULL)
        sodium_memzero(plain, BW_BK_CHUNK_MAX);
    bw_free(plain);
    return NULL;
}

static enum bw_rc unwrap_keys(const struct bw_backup_env *env, const struct bw_manifest *m,
                              struct bw_backup_key ***out, char *why, size_t whylen)
{
    struct bw_backup_key **k = bw_calloc(m->nkeys, sizeof(*k));
    char aad[64];
    enum bw_rc rc = k != NULL ? BW_OK : BW_ERR_NOMEM;
    for (size_t i = 0; rc == BW_OK && i < m->nkeys; i++) {
        snprintf(aad, sizeof(aad), "bwkey1:%s", m->keys[i].id);
        rc = bw_keyring_backup_key_unwrap(env->kr, aad, m->keys[i].wrapped,
                                          sizeof(m->keys[i].wrapped), &k[i]);
        if (rc != BW_OK)
            bw_why(why, whylen, "backups/%s.manifest: data key %s does not open with this "
                   "master key", m->name, m->keys[i].id);
    }
    if (rc != BW_OK && k != NULL) {
        for (size_t i = 0; i < m->nkeys; i++)
            bw_backup_key_free(k[i]);
        bw_free(k);
        return rc;
    }
    *out = k;
    return rc;
}

enum refs { SNAPSHOT, CHANGES, FILES };

/* Reads every chunk of one list of m into fd, each at its offset (their
 * plaintexts laid end to end), when fd >= 0; authenticates them all. */
static enum bw_rc fetch_all(const struct bw_backup_env *env, struct bw_backup_target *t,
                            const struct bw_manifest *m, enum refs which, int fd, char *why,
                            size_t whylen)
{
    struct fetch f = {.env = env,
                      .t = t,
                      .m = m,
                      .fd = fd,
                      .refs = which == SNAPSHOT  ? m->chunks
                              : which == CHANGES ? m->changes
                                                 : m->fchunks,
                      .n = which == SNAPSHOT  ? m->nchunks
                           : which == CHANGES ? m->nchanges
                                              : m->nfchunks,
                      .size = which == SNAPSHOT  ? m->size
                              : which == CHANGES ? m->changes_size
                                                 : m->files_size};
    pthread_t th[WORKERS];
    int started = 0;
    if (f.n == 0) /* e.g. no change or file chunks: no keys to unwrap, no threads */
        return BW_OK;
    enum bw_rc rc = unwrap_keys(env, m, &f.keys, why, whylen);
    if (rc != BW_OK)
        return rc;
    f.off = bw_calloc(f.n + 1, sizeof(*f.off));
    if (f.off == NULL)
        rc = BW_ERR_NOMEM;
    for (size_t i = 0; rc == BW_OK && i < f.n; i++)
        f.off[i + 1] = f.off[i] + f.refs[i].len;
    pthread_mutex_init(&f.mu, NULL);
    for (int i = 0; rc == BW_OK && i < WORKERS; i++) {
        if (pthread_create(&th[i], NULL, fetch_worker, &f) == 0)
            started++;
    }
    if (rc == BW_OK && started == 0)
        fetch_worker(&f);
    while (rc == BW_OK && env->progress != NULL && atomic_load(&f.next) < f.n &&
           f.rc == BW_OK) {
        env->progress(env->progress_arg, fd >= 0 ? "restore" : "verify", atomic_load(&f.done),
                      f.size);
        usleep(200000);
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (rc == BW_OK && (rc = f.rc) != BW_OK)
        bw_why(why, whylen, "%s", f.why);
    if (rc == BW_OK && fd >= 0 && ftruncate(fd, (off_t)f.size) != 0)
        rc = BW_ERR_IO;
    if (rc == BW_OK && fd >= 0 && fsync(fd) != 0)
        rc = BW_ERR_IO;
    pthread_mutex_destroy(&f.mu);
    for (size_t i = 0; i < m->nkeys; i++)
        bw_backup_key_free(f.keys[i]);
    bw_free(f.keys);
    bw_free(f.off);
    return rc;
}

/* ---- list ----------------------------------------------------------------------- */

static json_t *summary(const struct bw_manifest *m)
{
    char ts[21];
    bw_time_format(m->created_ms / 1000, ts);
    return json_pack("{s:s, s:s, s:s?, s:s, s:I, s:s, s:I, s:I, s:i, s:s?, s:I, s:I, s:I}",
                     "name", m->name, "kind", m->kind, "parent",
                     m->parent[0] ? m->parent : NULL, "created_at", ts, "created_ms",
                     (json_int_t)m->created_ms, "store", m->store, "size", (json_int_t)m->size,
                     "chunks", (json_int_t)m->nchunks, "schema_version", m->schema_version,
                     "stream", m->stream[0] ? m->stream : NULL, "log_seq",
                     (json_int_t)m->log_seq, "changes", (json_int_t)m->nchanges,
                     "changes_size", (json_int_t)m->changes_size);
}

enum bw_rc bw_backup_list(const struct bw_keyring *kr, struct bw_backup_target *t, json_t **out,
                          char *why, size_t whylen)
{
    char **names = NULL;
    size_t n = 0;
    json_t *arr = json_array();
    enum bw_rc rc = arr != NULL ? bw_manifest_names(t, &names, &n) : BW_ERR_NOMEM;
    for (size_t i = 0; rc == BW_OK && i < n; i++) {
        struct bw_manifest *m = NULL;
        char w[512] = "";
        json_t *o;
        if (bw_manifest_load(kr, t, names[i], &m, w, sizeof(w)) == BW_OK) {
            o = summary(m);
            if (o != NULL) /* format 3: the files of DATA/audit/ */
                json_object_set_new(o, "files", json_integer((json_int_t)m->nfiles));
        } else {
            o = json_pack("{s:s, s:s}", "name", names[i], "error", w);
        }
        if (o == NULL || json_array_append_new(arr, o) != 0)
            rc = BW_ERR_NOMEM;
        bw_manifest_free(m);
    }
    bw_names_free(names, n);
    if (rc != BW_OK) {
        bw_why(why, whylen, "cannot list backups: %s", bw_rc_str(rc));
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return BW_OK;
}

/* ---- verify ----------------------------------------------------------------------- */

enum bw_rc bw_backup_verify(const struct bw_backup_env *env, struct bw_backup_target *t,
                            const char *name, json_t **out, char *why, size_t whylen)
{
    char **names = NULL;
    size_t n = 0;
    uint64_t chunks = 0, bytes = 0, segments = 0, files = 0;
    enum bw_rc rc = BW_OK;
    if (name != NULL) {
        names = bw_calloc(1, sizeof(*names));
        if (names == NULL || (names[0] = bw_strdup(name)) == NULL)
            rc = BW_ERR_NOMEM;
        n = names != NULL ? 1 : 0;
    } else {
        rc = bw_manifest_names(t, &names, &n);
    }
    for (size_t i = 0; rc == BW_OK && i < n; i++) {
        struct bw_manifest *m = NULL;
        rc = bw_manifest_load(env->kr, t, names[i], &m, why, whylen);
        if (rc == BW_OK)
            rc = fetch_all(env, t, m, SNAPSHOT, -1, why, whylen);
        if (rc == BW_OK)
            rc = fetch_all(env, t, m, CHANGES, -1, why, whylen);
        if (rc == BW_OK) /* format 3: the files of DATA/audit/ */
            rc = fetch_all(env, t, m, FILES, -1, why, whylen);
        if (rc == BW_OK) {
            chunks += m->nchunks + m->nchanges + m->nfchunks;
            bytes += m->size + m->changes_size + m->files_size;
            files += m->nfiles;
        }
        bw_manifest_free(m);
    }
    if (rc == BW_OK && name == NULL)
        rc = bw_log_verify(env->kr, t, &segments, why, whylen);
    uint64_t key_backups = 0; /* decision C6: the key-store objects too */
    if (rc == BW_OK && name == NULL)
        rc = bw_keystore_verify(env, t, &key_backups, why, whylen);
    bw_names_free(names, n);
    if (rc == BW_OK) {
        *out = json_pack("{s:s, s:I, s:I, s:I, s:I}", "status", "ok", "backups", (json_int_t)n,
                         "chunks", (json_int_t)chunks, "bytes", (json_int_t)bytes,
                         "log_segments", (json_int_t)segments);
        if (*out == NULL)
            rc = BW_ERR_NOMEM;
        else
            json_object_set_new(*out, "key_backups", json_integer((json_int_t)key_backups));
        if (*out != NULL)
            json_object_set_new(*out, "files", json_integer((json_int_t)files));
    }
    json_t *d = json_pack("{s:s, s:s}", "scope", name != NULL ? name : "all", "result",
                          rc == BW_OK ? "ok" : why);
    (void)bw_backup_audit(env, "backup.verified", name != NULL ? name : "all", rc == BW_OK, d);
    return rc;
}

/* ---- choosing the restore point ------------------------------------------------------ */

struct point {
    struct bw_manifest *m;
    bool replay;
    int64_t until_ms;
};

static enum bw_rc choose(const struct bw_backup_env *env, struct bw_backup_target *t,
                         const struct bw_restore_opts *o, struct point *p, char *why,
                         size_t whylen)
{
    char **names = NULL;
    size_t n = 0;
    if (o->name != NULL) {
        p->replay = false;
        return bw_manifest_load(env->kr, t, o->name, &p->m, why, whylen);
    }
    enum bw_rc rc = bw_manifest_names(t, &names, &n);
    if (rc == BW_OK && n == 0) {
        bw_why(why, whylen, "the target holds no backup");
        rc = BW_ERR_NOTFOUND;
    }
    int64_t newest_log = -1;
    for (size_t i = n; rc == BW_OK && i-- > 0;) {
        struct bw_manifest *m = NULL;
        struct bw_log_point head = {0};
        rc = bw_manifest_load(env->kr, t, names[i], &m, why, whylen);
        if (rc != BW_OK)
            break;
        bool has_log = m->stream[0] != '\0' &&
                       bw_log_head(env->kr, t, m->stream, &head) == BW_OK;
        if (has_log && head.until_ms > newest_log)
            newest_log = head.until_ms;
        if (o->at_ms < 0) { /* latest: the newest backup and all of its log */
            p->m = m;
            p->replay = has_log;
            p->until_ms = has_log ? head.until_ms : m->created_ms;
            break;
        }
        if (has_log && m->finished_ms <= o->at_ms && head.until_ms >= o->at_ms) {
            p->m = m;
            p->replay = true;
            p->until_ms = o->at_ms;
            break;
        }
        /* a backup without a change log is a point only by name (--backup):
         * "to the second" would be inexact inside its second */
        bw_manifest_free(m);
    }
    if (rc == BW_OK && p->m == NULL) {
        char at[21], lt[21];
        bw_time_format(o->at_ms / 1000, at);
        if (newest_log >= 0) {
            bw_time_format(newest_log / 1000, lt);
            bw_why(why, whylen, "no backup and change log cover %s (the log reaches %s; older "
                   "log segments are pruned after [retention] backup_log)", at, lt);
        } else {
            bw_why(why, whylen, "no backup and change log cover %s", at);
        }
        rc = BW_ERR_NOTFOUND;
    }
    bw_names_free(names, n);
    return rc;
}

/* ---- building the new data directory ------------------------------------------------ */

static enum bw_rc copy_file(const char *from_dir, const char *to_dir, const char *name,
                            bool required, char *why, size_t whylen)
{
    char src[4096], dst[4096];
    size_t len = 0;
    uint8_t *buf = bw_malloc(1 << 20);
    enum bw_rc rc = buf != NULL ? BW_OK : BW_ERR_NOMEM;
    if (rc == BW_OK && (bw_sys_path(src, sizeof(src), from_dir, name) != BW_OK ||
                        bw_sys_path(dst, sizeof(dst), to_dir, name) != BW_OK))
        rc = BW_ERR_TOOBIG;
    if (rc == BW_OK) {
        rc = bw_sys_read_file(src, buf, 1 << 20, &len, false, why, whylen);
        if (rc == BW_ERR_NOTFOUND && !required) {
            bw_free(buf);
            return BW_OK;
        }
    }
    if (rc == BW_OK)
        rc = bw_sys_write_private(dst, buf, len, false, why, whylen);
    if (buf != NULL) {
        sodium_memzero(buf, 1 << 20);
        bw_free(buf);
    }
    return rc;
}

static enum bw_rc write_config(const struct bw_manifest *m, const struct bw_restore_opts *o,
                               const char *dir, char *why, size_t whylen)
{
    char path[4096], assign[4200];
    struct bw_config cfg;
    struct bw_config_err err = {{0}};
    struct bw_buf out;
    if (bw_sys_path(path, sizeof(path), dir, "bulwark.conf") != BW_OK)
        return BW_ERR_TOOBIG;
    if (o->database == NULL)
        return bw_sys_write_private(path, m->config, strlen(m->config), false, why, whylen);
    /* PostgreSQL: the same configuration, pointed at the new database */
    enum bw_rc rc = bw_config_init(&cfg);
    if (rc != BW_OK)
        return rc;
    bw_buf_init(&out, 1 << 20);
    rc = bw_config_load_string(&cfg, "bulwark.conf (from the backup)", m->config, &err);
    if (rc == BW_OK) {
        snprintf(assign, sizeof(assign), "database.url=%s", o->database);
        rc = bw_config_set_arg(&cfg, assign, &err);
    }
    if (rc == BW_OK)
        rc = bw_config_render(&cfg, false, &out);
    if (rc == BW_OK)
        rc = bw_sys_write_private(path, out.data, out.len, false, why, whylen);
    else
        bw_why(why, whylen, "%s", err.msg[0] ? err.msg : bw_rc_str(rc));
    bw_buf_free(&out, true);
    bw_config_cleanup(&cfg);
    return rc;
}

static enum bw_rc make_dirs(const char *dir, char *why, size_t whylen)
{
    static const char *const subs[] = {"keys", "tls", "db"};
    char p[4096];
    for (size_t i = 0; i < BW_ARRAY_LEN(subs); i++) {
        enum bw_rc rc = bw_sys_path(p, sizeof(p), dir, subs[i]);
        if (rc == BW_OK)
            rc = bw_sys_mkdir_private(p, why, whylen);
        if (rc != BW_OK)
            return rc;
    }
    return BW_OK;
}

static enum bw_rc copy_secrets(const char *from, const char *to, char *why, size_t whylen)
{
    static const char *const files[] = {"keys/master.key", "keys/audit-signing.key",
                                        "keys/audit-signing.pub", "tls/cert.pem", "tls/key.pem"};
    for (size_t i = 0; i < BW_ARRAY_LEN(files); i++) {
        enum bw_rc rc = copy_file(from, to, files[i], i == 0, why, whylen);
        if (rc != BW_OK)
            return rc;
    }
    return BW_OK;
}

/* Fetches and authenticates one chunk list of m (`which`, `size` bytes) into
 * the new private file `path`, maps it and removes the file (the mapping
 * stays valid); *map receives the mapping (MAP_FAILED when empty). */
static enum bw_rc fetch_mapped(const struct bw_backup_env *env, struct bw_backup_target *t,
                               const struct bw_manifest *m, enum refs which, uint64_t size,
                               const char *path, void **map, char *why, size_t whylen)
{
    *map = MAP_FAILED;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        bw_why(why, whylen, "cannot create %s: %s", path, strerror(errno));
        return BW_ERR_IO;
    }
    enum bw_rc rc = fetch_all(env, t, m, which, fd, why, whylen);
    if (rc == BW_OK && size > 0) {
        *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (*map == MAP_FAILED) {
            bw_why(why, whylen, "cannot read %s: %s", path, strerror(errno));
            rc = BW_ERR_IO;
        }
    }
    close(fd);
    unlink(path);
    return rc;
}

/* An incremental built from the change log: its change chunks, fetched
 * into a private file in the new directory, applied in order. */
static enum bw_rc apply_backup_changes(const struct bw_backup_env *env,
                                       struct bw_backup_target *t, const struct bw_manifest *m,
                                       const char *dir, struct bw_store *st, uint64_t *applied,
                                       char *why, size_t whylen)
{
    char path[4096];
    void *map = MAP_FAILED;
    enum bw_rc rc = bw_sys_path(path, sizeof(path), dir, "db/restore.changes");
    if (rc == BW_OK)
        rc = fetch_mapped(env, t, m, CHANGES, m->changes_size, path, &map, why, whylen);
    if (rc == BW_OK)
        rc = bw_log_apply(st, map, (size_t)m->changes_size, 0, m->log_seq, applied, why,
                          whylen);
    if (rc != BW_OK && why[0] == '\0')
        bw_why(why, whylen, "cannot apply the changes of backup %s: %s", m->name,
               bw_rc_str(rc));
    if (map != MAP_FAILED)
        munmap(map, (size_t)m->changes_size);
    return rc;
}

/* Snapshot -> store, then the change log up to the point. */
static enum bw_rc load_data(const struct bw_backup_env *env, struct bw_backup_target *t,
                            const struct point *p, const char *dir, const char *database,
                            uint64_t *applied, char *why, size_t whylen)
{
    char snap[4096], target[4096];
    struct bw_store *st = NULL;
    enum bw_rc rc = bw_sys_path(snap, sizeof(snap), dir, "db/restore.snapshot");
    if (rc == BW_OK)
        rc = database != NULL ? (snprintf(target, sizeof(target), "%s", database) <
                                         (int)sizeof(target)
                                     ? BW_OK
                                     : BW_ERR_TOOBIG)
                              : bw_sys_path(target, sizeof(target), dir, "db/bulwark.db");
    if (rc != BW_OK)
        return rc;
    int fd = open(snap, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        bw_why(why, whylen, "cannot create %s: %s", snap, strerror(errno));
        return BW_ERR_IO;
    }
    rc = fetch_all(env, t, p->m, SNAPSHOT, fd, why, whylen);
    close(fd);
    if (rc == BW_OK)
        rc = bw_store_load_snapshot(target, snap, why, whylen);
    unlink(snap);
    *applied = 0;
    if (rc == BW_OK && (p->replay || p->m->nchanges > 0)) {
        struct bw_store_opts so = {.pool_size = 1};
        rc = bw_store_open(target, &so, &st, why, whylen);
    }
    if (rc == BW_OK && p->m->nchanges > 0)
        rc = apply_backup_changes(env, t, p->m, dir, st, applied, why, whylen);
    if (rc == BW_OK && p->replay) {
        uint64_t more = 0;
        rc = bw_log_replay(env->kr, t, p->m->stream, p->m->log_seq, p->until_ms, st, &more,
                           why, whylen);
        *applied += more;
    }
    bw_store_close(st);
    return rc;
}

/* What a restore did with the files of DATA/audit/. */
struct files_out {
    uint64_t dropped;   /* checkpoint lines beyond the restored chain */
    uint64_t from_live; /* archives copied from the live data directory */
    json_t *missing;    /* archives the restored store lists that nothing supplied */
};

/* Fetches and authenticates every file chunk of m into dir/audit/restore.files
 * (a private temporary); *map receives its mapping (MAP_FAILED for none). */
static enum bw_rc fetch_files(const struct bw_backup_env *env, struct bw_backup_target *t,
                              const struct bw_manifest *m, const char *dir, void **map, char *why,
                              size_t whylen)
{
    char adir[4096], path[4096];
    *map = MAP_FAILED;
    enum bw_rc rc = bw_sys_path(adir, sizeof(adir), dir, "audit");
    if (rc == BW_OK)
        rc = bw_sys_path(path, sizeof(path), dir, "audit/restore.files");
    if (rc == BW_OK && (rc = bw_sys_mkdir_private(adir, why, whylen)) == BW_ERR_EXISTS)
        rc = BW_OK;
    return rc == BW_OK ? fetch_mapped(env, t, m, FILES, m->files_size, path, map, why, whylen)
                       : rc;
}

/* Format 3: the files of DATA/audit/. Every chunk is authenticated before
 * any file is written; checkpoints.jsonl then keeps only what names events
 * of the restored chain, whose newest event comes from the restored store
 * (read through the audit API, before anything else appends to it).
 * Archives the restored store lists beyond the backup's files come from the
 * live data directory when it has them (files.c). */
static enum bw_rc restore_files(const struct bw_backup_env *env, struct bw_backup_target *t,
                                const struct bw_manifest *m, const char *dir, const char *target,
                                struct files_out *o, char *why, size_t whylen)
{
    void *map = MAP_FAILED;
    struct bw_store *st = NULL;
    struct bw_store_opts so = {.pool_size = 1};
    int64_t head = 0;
    enum bw_rc rc = m->nfiles > 0 ? fetch_files(env, t, m, dir, &map, why, whylen) : BW_OK;
    if (rc == BW_OK)
        rc = bw_store_open(target, &so, &st, why, whylen);
    if (rc == BW_OK && (rc = bw_audit_head_seq(st, &head)) != BW_OK)
        bw_why(why, whylen, "cannot read the newest audit event of the restored store: %s",
               bw_rc_str(rc));
    if (rc == BW_OK && m->nfiles > 0)
        rc =
            bw_files_install(dir, m, map != MAP_FAILED ? (const uint8_t *)map : (const uint8_t *)"",
                             head, &o->dropped, why, whylen);
    if (rc == BW_OK)
        rc = bw_files_complete(st, m, env->data_dir, dir, &o->from_live, o->missing, why, whylen);
    bw_store_close(st);
    if (map != MAP_FAILED)
        munmap(map, (size_t)m->files_size);
    if (rc == BW_OK && json_array_size(o->missing) > 0)
        bw_log(BW_LOG_WARN, "backup.restore",
               "%zu audit archive(s) the restored store lists "
               "are neither in backup %s nor in %s: audit verify will name them missing",
               json_array_size(o->missing), m->name, env->data_dir);
    return rc;
}

enum bw_rc bw_backup_remove_dir(const char *dir)
{
    static const char *const files[] = {
        "keys/master.key", "keys/audit-signing.key", "keys/audit-signing.pub", "tls/cert.pem",
        "tls/key.pem",     "bulwark.conf",           "db/bulwark.db",          "db/bulwark.db-wal",
        "db/bulwark.db-shm", "db/restore.snapshot",  "db/restore.changes",     "db/keys.db",
        "db/keys.db-wal",    "db/keys.db-shm",       "keys",                   "tls",
        "db"};
    char p[4096];
    bw_files_remove(dir); /* audit/ (format 3) */
    for (size_t i = 0; i < BW_ARRAY_LEN(files); i++) {
        if (bw_sys_path(p, sizeof(p), dir, files[i]) == BW_OK && unlink(p) != 0)
            (void)rmdir(p);
    }
    return rmdir(dir) == 0 ? BW_OK : BW_ERR_IO;
}

enum bw_rc bw_backup_restore(const struct bw_backup_env *env, struct bw_backup_target *t,
                             const struct bw_restore_opts *o, json_t **out, char *why,
                             size_t whylen)
{
    struct point p = {0};
    struct stat st;
    char tmp[4096];
    uint64_t applied = 0, t0 = bw_time_mono_ns();
    if (lstat(o->to, &st) == 0) {
        bw_why(why, whylen, "%s already exists: restore builds a new data directory", o->to);
        return BW_ERR_EXISTS;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.restore-XXXXXX", o->to) >= (int)sizeof(tmp))
        return BW_ERR_TOOBIG;
    enum bw_rc rc = choose(env, t, o, &p, why, whylen);
    if (rc == BW_OK && strcmp(p.m->store, "postgresql") == 0 && o->database == NULL) {
        bw_why(why, whylen, "backup %s is of a PostgreSQL store: give --database with the URL "
               "of an empty database", p.m->name);
        rc = BW_ERR_INVALID;
    }
    if (rc == BW_OK && strcmp(p.m->store, "sqlite") == 0 && o->database != NULL) {
        bw_why(why, whylen, "backup %s is of a SQLite store: --database does not apply",
               p.m->name);
        rc = BW_ERR_INVALID;
    }
    /* PostgreSQL: only an empty database is filled, and a refused restore
     * empties it again, so that it never holds half a restore */
    bool fill_db = false;
    if (rc == BW_OK && o->database != NULL) {
        bool empty = false;
        rc = bw_store_scratch_empty(o->database, &empty, why, whylen);
        if (rc == BW_OK && !empty) {
            bw_why(why, whylen, "the database given with --database is not empty: a restore "
                   "loads only into an empty database");
            rc = BW_ERR_EXISTS;
        }
        fill_db = rc == BW_OK;
    }
    bool made = false;
    if (rc == BW_OK) {
        if (mkdtemp(tmp) == NULL) {
            bw_why(why, whylen, "cannot create %s: %s", tmp, strerror(errno));
            rc = BW_ERR_IO;
        } else {
            made = true;
        }
    }
    if (rc == BW_OK)
        rc = make_dirs(tmp, why, whylen);
    if (rc == BW_OK)
        rc = copy_secrets(env->data_dir, tmp, why, whylen);
    if (rc == BW_OK)
        rc = write_config(p.m, o, tmp, why, whylen);
    char keys_from[BW_BK_NAME_MAX] = "", db[4096];
    if (rc == BW_OK) /* decision C6: the key store first, then the data that needs it */
        rc = o->database != NULL
                 ? bw_keystore_restore(env, t, p.m->store, o->database, tmp, keys_from,
                                       sizeof(keys_from), why, whylen)
             : bw_sys_path(db, sizeof(db), tmp, "db/bulwark.db") != BW_OK
                 ? BW_ERR_TOOBIG
                 : bw_keystore_restore(env, t, p.m->store, db, tmp, keys_from,
                                       sizeof(keys_from), why, whylen);
    unsigned shredded = 0;
    struct files_out fo = {.missing = json_array()};
    if (fo.missing == NULL)
        rc = BW_ERR_NOMEM;
    if (rc == BW_OK)
        rc = load_data(env, t, &p, tmp, o->database, &applied, why, whylen);
    if (rc == BW_OK) /* before the sweep, which may append audit events */
        rc = restore_files(env, t, p.m, tmp, o->database != NULL ? o->database : db, &fo, why,
                           whylen);
    if (rc == BW_OK)
        rc = bw_keystore_sweep(o->database != NULL ? o->database : db, &shredded, why, whylen);
    if (rc == BW_OK && rename(tmp, o->to) != 0) {
        bw_why(why, whylen, "cannot rename %s to %s: %s", tmp, o->to, strerror(errno));
        rc = BW_ERR_IO;
    }
    if (rc != BW_OK && made)
        (void)bw_backup_remove_dir(tmp);
    if (rc != BW_OK && fill_db) {
        char w[512] = "";
        if (bw_store_scratch_wipe(o->database, w, sizeof(w)) != BW_OK)
            bw_log(BW_LOG_ERROR, "backup.restore",
                   "the refused restore could not empty the target database again: %s", w);
    }
    char at[21] = "";
    if (p.m != NULL)
        bw_time_format((p.replay ? p.until_ms : p.m->created_ms) / 1000, at);
    if (rc == BW_OK) {
        *out = json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:I, s:f}", "to", o->to, "backup",
                         p.m->name, "point", at, "point_ms",
                         (json_int_t)(p.replay ? p.until_ms : p.m->created_ms), "size",
                         (json_int_t)p.m->size, "replayed_log", p.replay, "changes_applied",
                         (json_int_t)applied, "seconds",
                         (double)(bw_time_mono_ns() - t0) / 1e9);
        if (*out != NULL)
            json_object_set_new(*out, "keys_from", json_string(keys_from));
        if (*out != NULL)
            json_object_set_new(*out, "records_without_keys", json_integer(shredded));
        if (*out != NULL)
            json_object_set_new(
                *out, "audit_files",
                json_pack("{s:I, s:I, s:I, s:I, s:O}", "count", (json_int_t)p.m->nfiles, "size",
                          (json_int_t)p.m->files_size, "checkpoints_dropped",
                          (json_int_t)fo.dropped, "archives_from_live", (json_int_t)fo.from_live,
                          "archives_missing", fo.missing));
        if (*out == NULL)
            rc = BW_ERR_NOMEM;
    }
    (void)bw_backup_audit(env, "backup.restored", p.m != NULL ? p.m->name : "-", rc == BW_OK,
                          json_pack("{s:s, s:s, s:s}", "to", o->to, "point", at, "result",
                                    rc == BW_OK ? "ok" : why));
    bw_manifest_free(p.m);
    json_decref(fo.missing);
    return rc;
}
