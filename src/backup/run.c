/*
 * run.c - taking a backup: snapshot the whole store (every table, whoever
 * owns it) while it keeps serving, cut the snapshot into content-defined
 * chunks, name each by its keyed hash, seal the new ones (zstd, then
 * AES-256-GCM under this backup's data key) on worker threads, write them,
 * sync the target, and publish the sealed manifest last. An incremental
 * backup writes only chunks its parent does not hold and refers to the
 * parent's (the manifest carries every data key it needs, wrapped), so any
 * backup restores on its own. Every run and failure is audited. A second
 * target receives a copy after the backup is published (copy.c). The
 * files of DATA/audit/ (archives, checkpoints.jsonl; files.c) are read
 * once the snapshot is pinned and chunked the same way, per file, so an
 * unchanged archive costs nothing in an incremental.
 *
 * Trusts: the store's snapshot. The plaintext snapshot exists only inside
 * the data directory (0700, like the database itself) and is removed on
 * every path; a crash leaves it for the next run to remove.
 */
#include "backup/backup_int.h"
#include "audit/audit.h"
#include "store/store.h"
#include "sys/sys.h"

#include <dirent.h>
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

struct audit_arg {
    const struct bw_backup_env *env;
    const char *action, *target;
    bool ok;
    json_t *details;
};

static enum bw_rc audit_fn(struct bw_tx *tx, void *arg)
{
    struct audit_arg *a = arg;
    struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    json_incref(a->details);
    return bw_audit_append(tx, &ctx, a->env->actor, a->action, a->target,
                           a->ok ? BW_AUDIT_SUCCESS : BW_AUDIT_FAILURE, a->details);
}

enum bw_rc bw_backup_audit(const struct bw_backup_env *env, const char *action,
                           const char *target, bool ok, json_t *details)
{
    struct audit_arg a = {env, action, target, ok, details};
    if (env->store == NULL) { /* a restore on a new machine: no store to audit into yet */
        char *text = json_dumps(details, JSON_COMPACT);
        bw_log(ok ? BW_LOG_INFO : BW_LOG_ERROR, action, "%s %s", target,
               text != NULL ? text : "");
        bw_free(text);
        json_decref(details);
        return BW_OK;
    }
    enum bw_rc rc = bw_store_write(env->store, audit_fn, &a);
    json_decref(details);
    if (rc != BW_OK)
        bw_log(BW_LOG_ERROR, "backup.audit", "cannot record %s: %s", action, bw_rc_str(rc));
    return rc;
}

/* ---- the parent's chunks, sorted for lookup --------------------------------- */

struct known {
    uint8_t id[BW_BACKUP_ID_BYTES];
    uint32_t key; /* index into the new manifest's keys */
    uint32_t len;
};

static int known_cmp(const void *a, const void *b)
{
    return memcmp(((const struct known *)a)->id, ((const struct known *)b)->id,
                  BW_BACKUP_ID_BYTES);
}

/* ---- workers ------------------------------------------------------------------ */

struct run {
    const struct bw_backup_env *env;
    struct bw_backup_target *t;
    const uint8_t *data;
    size_t *off;
    const uint8_t **at; /* files: where chunk i starts (off[] then spans all files) */
    struct bw_mchunk *chunks;
    size_t n;
    const struct known *known;
    size_t nknown;
    const struct bw_backup_key *key;
    const char *keyid;
    uint32_t key_index;
    atomic_size_t next;
    _Atomic uint64_t done, new_chunks, new_bytes, stored;
    uint64_t total;
    bool from_log; /* an incremental built from the change log */
    enum bw_backup_id_scheme scheme; /* of the manifest being written */
    pthread_mutex_t mu;
    enum bw_rc rc;
    char why[512];
};

static void run_fail(struct run *r, enum bw_rc rc, const char *why)
{
    pthread_mutex_lock(&r->mu);
    if (r->rc == BW_OK) {
        r->rc = rc;
        snprintf(r->why, sizeof(r->why), "%s", why[0] ? why : bw_rc_str(rc));
    }
    pthread_mutex_unlock(&r->mu);
}

static enum bw_rc one_chunk(struct run *r, struct bw_chunk_ctx *cx, size_t i, struct bw_buf *obj,
                            char *why, size_t wl)
{
    struct bw_mchunk *c = &r->chunks[i];
    char path[BW_BK_NAME_MAX], hex[2 * BW_BACKUP_ID_BYTES + 1];
    const uint8_t *p = r->at != NULL ? r->at[i] : r->data + r->off[i];
    c->len = (uint32_t)(r->off[i + 1] - r->off[i]);
    enum bw_rc rc = bw_chunk_id(cx, p, c->len, c->id);
    if (rc != BW_OK)
        return rc;
    struct known k, *hit;
    memcpy(k.id, c->id, sizeof(k.id));
    hit = r->nknown ? bsearch(&k, r->known, r->nknown, sizeof(k), known_cmp) : NULL;
    if (hit != NULL && hit->len == c->len) {
        c->key = hit->key;
        return BW_OK;
    }
    c->key = r->key_index;
    bw_hex(c->id, sizeof(c->id), hex);
    rc = bw_chunk_seal(cx, r->key, r->keyid, hex, p, c->len, obj);
    if (rc == BW_OK)
        rc = bw_chunk_path(path, sizeof(path), r->keyid, c->id);
    if (rc == BW_OK)
        rc = bw_target_put(r->t, path, obj->data, obj->len, false, why, wl);
    atomic_fetch_add(&r->new_chunks, 1);
    atomic_fetch_add(&r->new_bytes, c->len);
    atomic_fetch_add(&r->stored, obj->len);
    return rc;
}

static void *worker(void *arg)
{
    struct run *r = arg;
    struct bw_buf obj;
    struct bw_chunk_ctx *cx = NULL;
    char why[512] = "";
    bw_buf_init(&obj, BW_BK_OBJECT_MAX);
    enum bw_rc rc = bw_chunk_ctx_new(r->env->kr, r->scheme, &cx);
    if (rc != BW_OK)
        run_fail(r, rc, "");
    while (rc == BW_OK) {
        size_t i = atomic_fetch_add(&r->next, 1);
        if (i >= r->n || r->rc != BW_OK)
            break;
        rc = one_chunk(r, cx, i, &obj, why, sizeof(why));
        if (rc != BW_OK) {
            run_fail(r, rc, why);
            break;
        }
        atomic_fetch_add(&r->done, r->chunks[i].len);
    }
    bw_chunk_ctx_free(cx);
    bw_buf_free(&obj, false);
    return NULL;
}

/* Runs the workers; the calling thread reports progress meanwhile. */
static void run_workers(struct run *r)
{
    pthread_t th[WORKERS];
    int started = 0;
    for (int i = 0; i < WORKERS; i++) {
        if (pthread_create(&th[i], NULL, worker, r) == 0)
            started++;
    }
    if (started == 0) {
        worker(r);
        return;
    }
    while (r->env->progress != NULL && atomic_load(&r->next) < r->n && r->rc == BW_OK) {
        r->env->progress(r->env->progress_arg, "backup", atomic_load(&r->done), r->total);
        usleep(200000);
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (r->env->progress != NULL)
        r->env->progress(r->env->progress_arg, "backup", atomic_load(&r->done), r->total);
}

/* ---- snapshot file -------------------------------------------------------------- */

/* data_dir/backup (0700) holds the transient snapshot; stale ones go. */
static enum bw_rc work_dir(const char *data_dir, char *out, size_t cap)
{
    char why[256];
    if (bw_sys_path(out, cap, data_dir, "backup") != BW_OK)
        return BW_ERR_TOOBIG;
    enum bw_rc rc = bw_sys_mkdir_private(out, why, sizeof(why));
    if (rc != BW_OK && rc != BW_ERR_EXISTS)
        return rc;
    DIR *d = opendir(out);
    struct dirent *e;
    char p[4096];
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "snapshot-", 9) == 0 &&
            bw_sys_path(p, sizeof(p), out, e->d_name) == BW_OK)
            unlink(p);
    }
    if (d != NULL)
        closedir(d);
    return BW_OK;
}

static enum bw_rc map_file(const char *path, uint8_t **data, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return BW_ERR_IO;
    }
    *len = (size_t)st.st_size;
    *data = NULL;
    if (*len > 0) {
        void *m = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            close(fd);
            return BW_ERR_IO;
        }
        madvise(m, *len, MADV_SEQUENTIAL);
        *data = m;
    }
    close(fd);
    return BW_OK;
}

/* Content-defined cut points, off[0..n]. From format 4 on a boundary is
 * also forced every CUT_SEGMENT bytes, so the segments are cut in parallel
 * (WORKERS threads, alternate segments) and the points do not depend on how
 * many threads cut them. */
#define CUT_SEGMENT ((size_t)64 << 20)

struct cut_seg {
    size_t *o; /* cut points inside the segment, absolute */
    size_t n;
};

struct cut_job {
    const struct bw_chunker *ck;
    const uint8_t *p;
    size_t len;
    struct cut_seg *segs;
    size_t nseg, first;
};

static void *cut_segments(void *arg)
{
    const struct cut_job *j = arg;
    for (size_t i = j->first; i < j->nseg; i += WORKERS) {
        size_t pos = i * CUT_SEGMENT, end = j->len - pos > CUT_SEGMENT ? pos + CUT_SEGMENT : j->len;
        struct cut_seg *s = &j->segs[i];
        s->n = 0;
        while (pos < end) {
            s->o[s->n++] = pos;
            pos += bw_chunker_next(j->ck, j->p + pos, end - pos);
        }
    }
    return NULL;
}

static enum bw_rc cut(const struct bw_keyring *kr, const uint8_t *p, size_t len, size_t **off,
                      size_t *n)
{
    size_t nseg = len / CUT_SEGMENT + 1, total = 0;
    struct bw_chunker *ck = bw_malloc(sizeof(*ck));
    struct cut_seg *segs = bw_calloc(nseg, sizeof(*segs));
    enum bw_rc rc = ck != NULL && segs != NULL ? bw_keyring_backup_gear(kr, ck->gear)
                                               : BW_ERR_NOMEM;
    for (size_t i = 0; rc == BW_OK && i < nseg; i++) {
        size_t seg = len - i * CUT_SEGMENT < CUT_SEGMENT ? len - i * CUT_SEGMENT : CUT_SEGMENT;
        if ((segs[i].o = bw_malloc((seg / BW_BK_CHUNK_MIN + 2) * sizeof(size_t))) == NULL)
            rc = BW_ERR_NOMEM;
    }
    if (rc == BW_OK) {
        struct cut_job jobs[WORKERS];
        pthread_t th[WORKERS];
        bool started[WORKERS] = {false};
        for (size_t t = 0; t < WORKERS; t++) {
            jobs[t] = (struct cut_job){ck, p, len, segs, nseg, t};
            started[t] = t > 0 && nseg > t && pthread_create(&th[t], NULL, cut_segments,
                                                             &jobs[t]) == 0;
        }
        cut_segments(&jobs[0]);
        for (size_t t = 1; t < WORKERS; t++) {
            if (started[t])
                pthread_join(th[t], NULL);
            else if (nseg > t)
                cut_segments(&jobs[t]);
        }
        for (size_t i = 0; i < nseg; i++)
            total += segs[i].n;
    }
    size_t *o = rc == BW_OK ? bw_malloc((total + 1) * sizeof(*o)) : NULL;
    if (rc == BW_OK && o == NULL)
        rc = BW_ERR_NOMEM;
    if (rc == BW_OK) {
        size_t k = 0;
        for (size_t i = 0; i < nseg; i++) {
            memcpy(o + k, segs[i].o, segs[i].n * sizeof(*o));
            k += segs[i].n;
        }
        o[k] = len;
        *off = o;
        *n = k;
    }
    for (size_t i = 0; segs != NULL && i < nseg; i++)
        bw_free(segs[i].o);
    bw_free(segs);
    bw_free(ck);
    return rc;
}

/* ---- manifest assembly -------------------------------------------------------------- */

/* Keys: the parent's (so its chunks stay readable) then the new one; the
 * parent's chunks and file chunks become `known`. */
static enum bw_rc inherit(struct bw_manifest *m, const struct bw_manifest *parent,
                          struct known **known, size_t *nknown)
{
    /* a parent addressing its chunks by another scheme (an older format)
     * can share none of them: nothing is known */
    bool same = parent != NULL && bw_manifest_id_scheme(parent) == bw_manifest_id_scheme(m);
    size_t pk = parent != NULL ? parent->nkeys : 0, pc = same ? parent->nchunks : 0;
    size_t pf = same ? parent->nfchunks : 0;
    m->keys = bw_calloc(pk + 1, sizeof(*m->keys));
    struct known *k = bw_calloc(pc + pf ? pc + pf : 1, sizeof(*k));
    if (m->keys == NULL || k == NULL) {
        bw_free(k);
        return BW_ERR_NOMEM;
    }
    for (size_t i = 0; i < pk; i++)
        m->keys[i] = parent->keys[i];
    m->nkeys = pk + 1;
    for (size_t i = 0; i < pc + pf; i++) {
        const struct bw_mchunk *c = i < pc ? &parent->chunks[i] : &parent->fchunks[i - pc];
        memcpy(k[i].id, c->id, BW_BACKUP_ID_BYTES);
        k[i].key = c->key;
        k[i].len = c->len;
    }
    if (pc + pf > 1)
        qsort(k, pc + pf, sizeof(*k), known_cmp);
    *known = k;
    *nknown = pc + pf;
    return BW_OK;
}

/* Drops keys no chunk refers to and renumbers. */
static void compact_keys(struct bw_manifest *m)
{
    uint32_t *map = bw_calloc(m->nkeys, sizeof(*map));
    bool *used = bw_calloc(m->nkeys, sizeof(*used));
    if (map == NULL || used == NULL)
        goto out; /* keeping unused keys is harmless */
    for (size_t i = 0; i < m->nchunks; i++)
        used[m->chunks[i].key] = true;
    for (size_t i = 0; i < m->nchanges; i++)
        used[m->changes[i].key] = true;
    for (size_t i = 0; i < m->nfchunks; i++)
        used[m->fchunks[i].key] = true;
    size_t n = 0;
    for (size_t i = 0; i < m->nkeys; i++) {
        if (!used[i] && !(i + 1 == m->nkeys && n == 0))
            continue;
        map[i] = (uint32_t)n;
        m->keys[n++] = m->keys[i];
    }
    for (size_t i = 0; i < m->nchunks; i++)
        m->chunks[i].key = map[m->chunks[i].key];
    for (size_t i = 0; i < m->nchanges; i++)
        m->changes[i].key = map[m->changes[i].key];
    for (size_t i = 0; i < m->nfchunks; i++)
        m->fchunks[i].key = map[m->fchunks[i].key];
    m->nkeys = n;
out:
    bw_free(map);
    bw_free(used);
}

static enum bw_rc latest_parent(const struct bw_backup_env *env, struct bw_backup_target *t,
                                struct bw_manifest **out, char *why, size_t whylen)
{
    char **names = NULL;
    size_t n = 0;
    enum bw_rc rc = bw_manifest_names(t, &names, &n);
    *out = NULL;
    if (rc == BW_OK && n > 0)
        rc = bw_manifest_load(env->kr, t, names[n - 1], out, why, whylen);
    bw_names_free(names, n);
    if (rc == BW_OK && *out != NULL &&
        strcmp((*out)->store, bw_store_driver(env->store)) != 0) {
        bw_manifest_free(*out); /* another store type: start a new chain */
        *out = NULL;
    }
    return rc;
}

static void new_name(char *out, size_t cap, int64_t ms, char *keyid)
{
    char ts[21], id[BW_ID_LEN + 1];
    uint8_t r[BW_BK_KEYID_LEN / 2];
    bw_time_format(ms / 1000, ts);
    bw_id_new(id);
    randombytes_buf(r, sizeof(r));
    bw_hex(r, sizeof(r), keyid);
    /* 2026-01-02T03:04:05Z -> 20260102T030405Z: sortable, only [A-Za-z0-9-] */
    char compact[21];
    size_t k = 0;
    for (const char *p = ts; *p; p++) {
        if (*p != '-' && *p != ':')
            compact[k++] = *p;
    }
    compact[k] = '\0';
    snprintf(out, cap, "%s-%03d-%s", compact, (int)(ms % 1000), id);
}

static enum bw_rc read_config(const char *data_dir, char **out)
{
    char path[4096], why[256];
    size_t len = 0;
    char *buf = bw_malloc(1024 * 1024 + 1);
    if (buf == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc = bw_sys_path(path, sizeof(path), data_dir, "bulwark.conf");
    if (rc == BW_OK)
        rc = bw_sys_read_file(path, buf, 1024 * 1024, &len, false, why, sizeof(why));
    if (rc != BW_OK) {
        bw_free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    return BW_OK;
}

/* ---- the run ------------------------------------------------------------------------ */

struct snap {
    char path[4096];          /* the copy, "" when read in place */
    const uint8_t *data;      /* the snapshot's bytes: pin's or map's */
    uint8_t *map;             /* the copy, mapped */
    size_t len;
    struct bw_store_pin *pin; /* read in place: the bytes belong to the store */
};

static void snap_free(struct snap *s)
{
    bw_store_pin_release(s->pin);
    if (s->map != NULL)
        munmap(s->map, s->len);
    if (s->path[0] != '\0')
        unlink(s->path);
}

static enum bw_rc take_snapshot(const struct bw_backup_env *env, struct bw_manifest *m,
                                struct snap *s, char *why, size_t whylen)
{
    char dir[4096], name[64], id[BW_ID_LEN + 1];
    int have = 0, want = 0;
    enum bw_rc rc = work_dir(env->data_dir, dir, sizeof(dir));
    bw_id_new(id);
    snprintf(name, sizeof(name), "snapshot-%s", id);
    if (rc == BW_OK)
        rc = bw_sys_path(s->path, sizeof(s->path), dir, name);
    if (rc != BW_OK) {
        bw_why(why, whylen, "cannot prepare %s/backup: %s", env->data_dir, bw_rc_str(rc));
        s->path[0] = '\0';
        return rc;
    }
    if ((rc = bw_store_schema_version(env->store, &have, &want)) != BW_OK)
        return rc;
    m->schema_version = have;
    m->created_ms = bw_time_now_ms(); /* every write acknowledged before is inside */
    /* in place when the store can (no copy: SQLite's file, read where it lies) */
    rc = bw_store_snapshot_pin(env->store, &s->data, &s->len, &m->log_seq, &s->pin, why,
                               whylen);
    if (rc == BW_OK) {
        s->path[0] = '\0';
    } else if (rc == BW_ERR_UNSUPPORTED) {
        why[0] = '\0';
        rc = bw_store_snapshot(env->store, s->path, &m->log_seq, why, whylen);
        if (rc == BW_OK && (rc = map_file(s->path, &s->map, &s->len)) != BW_OK)
            bw_why(why, whylen, "cannot read the snapshot %s", s->path);
        s->data = s->map;
    }
    m->finished_ms = bw_time_now_ms(); /* PITR base from here on (see BACKUP-FORMAT.md) */
    m->size = s->len;
    return rc;
}

static json_t *describe(const struct bw_manifest *m, const struct run *r, const struct run *f,
                        const uint8_t sha[32], uint64_t mbytes, double secs)
{
    char hex[65], ts[21];
    bw_hex(sha, 32, hex);
    bw_time_format(m->created_ms / 1000, ts);
    json_t *o = json_pack(
        "{s:s, s:s, s:s?, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:s, s:s?, "
        "s:I, s:s, s:I}",
        "name", m->name, "kind", m->kind, "parent", m->parent[0] ? m->parent : NULL, "created_at",
        ts, "created_ms", (json_int_t)m->created_ms, "store", m->store, "size", (json_int_t)m->size,
        "chunks", (json_int_t)m->nchunks, "new_chunks", (json_int_t)atomic_load(&r->new_chunks),
        "stored_bytes", (json_int_t)(atomic_load(&r->stored) + atomic_load(&f->stored) + mbytes),
        "new_bytes", (json_int_t)atomic_load(&r->new_bytes), "seconds", secs, "sha256", hex,
        "stream", m->stream[0] ? m->stream : NULL, "log_seq", (json_int_t)m->log_seq, "mode",
        r->from_log ? "changes" : "snapshot", "changes_size", (json_int_t)m->changes_size);
    json_t *files = json_pack("{s:I, s:I, s:I, s:I, s:I}", "count", (json_int_t)m->nfiles, "size",
                              (json_int_t)m->files_size, "chunks", (json_int_t)m->nfchunks,
                              "new_chunks", (json_int_t)atomic_load(&f->new_chunks), "new_bytes",
                              (json_int_t)atomic_load(&f->new_bytes));
    if (o == NULL || files == NULL || json_object_set_new(o, "files", files) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- the files of DATA/audit/ (files.c) -----------------------------------------------
 * Read once the snapshot is pinned: an archive is written before
 * bw_audit_archives lists it, so every archive the snapshot lists is on
 * disk by then (later ones are harmless, and checkpoints beyond the
 * snapshot are dropped by a restore). Each file is cut on its own, so an
 * unchanged file yields exactly the chunks its parent holds. */

/* Cut points of every file as one run over all of them: f->off (offsets
 * into the files laid end to end), f->at (where each chunk starts),
 * m->files and m->fchunks. */
static enum bw_rc plan_files(const struct bw_keyring *kr, const struct bw_file_src *src, size_t n,
                             struct bw_manifest *m, struct run *f)
{
    size_t **offs = bw_calloc(n ? n : 1, sizeof(*offs)), *cnt = bw_calloc(n ? n : 1, sizeof(*cnt));
    size_t total = 0, k = 0;
    uint64_t base = 0;
    enum bw_rc rc = offs != NULL && cnt != NULL ? BW_OK : BW_ERR_NOMEM;
    for (size_t i = 0; rc == BW_OK && i < n; i++) {
        rc = cut(kr, src[i].data, src[i].len, &offs[i], &cnt[i]);
        total += rc == BW_OK ? cnt[i] : 0;
    }
    if (rc == BW_OK) {
        m->files = bw_calloc(n ? n : 1, sizeof(*m->files));
        m->fchunks = bw_calloc(total ? total : 1, sizeof(*m->fchunks));
        f->off = bw_malloc((total + 1) * sizeof(*f->off));
        f->at = bw_malloc((total ? total : 1) * sizeof(*f->at));
        if (m->files == NULL || m->fchunks == NULL || f->off == NULL || f->at == NULL)
            rc = BW_ERR_NOMEM;
    }
    for (size_t i = 0; rc == BW_OK && i < n; i++) {
        struct bw_mfile *mf = &m->files[i];
        *mf = (struct bw_mfile){.size = src[i].len, .first = k, .nchunks = cnt[i]};
        snprintf(mf->name, sizeof(mf->name), "%s", src[i].name);
        for (size_t j = 0; j < cnt[i]; j++, k++) {
            f->off[k] = (size_t)base + offs[i][j];
            f->at[k] = src[i].data + offs[i][j];
        }
        base += src[i].len;
    }
    if (rc == BW_OK) {
        f->off[total] = (size_t)base;
        m->nfiles = n;
        m->nfchunks = total;
        m->files_size = base;
        f->n = total;
        f->chunks = m->fchunks;
        f->total = base;
    }
    for (size_t i = 0; offs != NULL && i < n; i++)
        bw_free(offs[i]);
    bw_free(offs);
    bw_free(cnt);
    return rc;
}

/* Reads, chunks, deduplicates against known and seals the files under the
 * snapshot's data key (r's). */
static enum bw_rc take_files(const struct bw_backup_env *env, const struct run *r, struct run *f,
                             struct bw_manifest *m, const struct known *known, size_t nknown,
                             char *why, size_t whylen)
{
    struct bw_file_src *src = NULL;
    size_t n = 0;
    enum bw_rc rc = bw_files_collect(env->data_dir, &src, &n, why, whylen);
    if (rc == BW_OK)
        rc = plan_files(env->kr, src, n, m, f);
    if (rc == BW_OK) {
        f->known = known;
        f->nknown = nknown;
        f->key = r->key;
        f->keyid = r->keyid;
        f->key_index = r->key_index;
        run_workers(f);
        if ((rc = f->rc) != BW_OK)
            bw_why(why, whylen, "%s", f->why);
    }
    bw_files_release(src, n);
    return rc;
}

/* ---- an incremental from the change log (SQLite, inside serve) ------------------
 * The changes since the parent backup are already on the target as sealed
 * log segments; the incremental copies that range into its own change
 * chunks (so log retention cannot break it) and names the parent's chunks
 * and change chunks: reading, hashing and writing are proportional to the
 * change, and the manifest still names every object a restore needs. */

/* Whether this incremental can be built from the change log. */
static bool log_eligible(const struct bw_backup_env *env, const struct bw_manifest *parent)
{
    /* a parent of another format addresses its chunks by another scheme */
    return env->log != NULL && parent != NULL && parent->format == BW_MANIFEST_FORMAT &&
           parent->stream[0] != '\0' &&
           strcmp(parent->stream, bw_log_shipper_stream(env->log)) == 0 &&
           strcmp(parent->store, bw_store_driver(env->store)) == 0;
}

/* Fixed cut points of the change payload (it is not deduplicated). */
static enum bw_rc cut_fixed(size_t len, size_t **off, size_t *n)
{
    size_t k = (len + BW_BK_CHUNK_MAX - 1) / BW_BK_CHUNK_MAX;
    size_t *o = bw_malloc((k + 1) * sizeof(*o));
    if (o == NULL)
        return BW_ERR_NOMEM;
    for (size_t i = 0; i < k; i++)
        o[i] = i * (size_t)BW_BK_CHUNK_MAX;
    o[k] = len;
    *off = o;
    *n = k;
    return BW_OK;
}

/* Copies the parent's chunk and change lists; room for `more` changes. */
static enum bw_rc take_lists(struct bw_manifest *m, const struct bw_manifest *p, size_t more)
{
    m->chunks = bw_calloc(p->nchunks ? p->nchunks : 1, sizeof(*m->chunks));
    m->changes = bw_calloc(p->nchanges + more + 1, sizeof(*m->changes));
    if (m->chunks == NULL || m->changes == NULL)
        return BW_ERR_NOMEM;
    memcpy(m->chunks, p->chunks, p->nchunks * sizeof(*m->chunks));
    memcpy(m->changes, p->changes, p->nchanges * sizeof(*m->changes));
    m->nchunks = p->nchunks;
    m->nchanges = p->nchanges;
    m->size = p->size;
    m->changes_size = p->changes_size;
    return BW_OK;
}

/* BW_ERR_CONFLICT: the log cannot serve (a gap, too much change, another
 * schema); the caller takes a snapshot instead. */
static enum bw_rc log_delta(const struct bw_backup_env *env, struct run *r,
                            struct bw_manifest *m, const struct bw_manifest *parent,
                            struct bw_buf *delta, char *why, size_t whylen)
{
    struct bw_log_point head = {0};
    int64_t lag = 0;
    int have = 0, want = 0;
    uint64_t cap = parent->size / 2;
    enum bw_rc rc = bw_log_shipper_ship(env->log, &lag, why, whylen);
    if (rc == BW_OK)
        rc = bw_log_head(env->kr, r->t, parent->stream, &head);
    if (rc == BW_OK)
        rc = bw_store_schema_version(env->store, &have, &want);
    if (rc != BW_OK)
        return rc;
    if (have != parent->schema_version || head.last_seq < parent->log_seq ||
        cap <= parent->changes_size)
        return BW_ERR_CONFLICT; /* re-base with a snapshot: bounded replay at restore */
    bw_buf_init(delta, (size_t)(cap - parent->changes_size));
    rc = bw_log_collect(env->kr, r->t, parent->stream, parent->log_seq, head.last_seq, delta,
                        why, whylen);
    if (rc == BW_ERR_TOOBIG)
        rc = BW_ERR_CONFLICT;
    if (rc != BW_OK)
        return rc;
    m->schema_version = have;
    m->created_ms = head.until_ms; /* every commit stamped up to here is inside */
    m->finished_ms = head.until_ms;
    m->log_seq = head.last_seq;
    if ((rc = cut_fixed(delta->len, &r->off, &r->n)) != BW_OK)
        return rc;
    if ((rc = take_lists(m, parent, r->n)) != BW_OK)
        return rc;
    r->data = (const uint8_t *)delta->data;
    r->known = NULL; /* changes are not deduplicated against the snapshot */
    r->nknown = 0;
    r->chunks = m->changes + m->nchanges;
    r->total = delta->len;
    r->from_log = true;
    m->nchanges += r->n;
    m->changes_size += delta->len;
    return BW_OK;
}

static enum bw_rc do_run(const struct bw_backup_env *env, struct run *r, struct run *f,
                         struct bw_manifest *m, struct snap *s, struct bw_buf *delta,
                         enum bw_backup_kind kind, json_t **out, char *why, size_t whylen)
{
    struct bw_manifest *parent = NULL;
    struct known *known = NULL;
    size_t nknown = 0;
    struct bw_backup_key *key = NULL;
    uint8_t sha[32];
    uint64_t mbytes = 0;
    uint64_t t0 = bw_time_mono_ns();
    char aad[64];
    enum bw_rc rc = BW_OK;
    if (kind == BW_BACKUP_INCREMENTAL)
        rc = latest_parent(env, r->t, &parent, why, whylen);
    if (rc != BW_OK)
        goto out;
    snprintf(m->kind, sizeof(m->kind), "%s", parent != NULL ? "incremental" : "full");
    snprintf(m->parent, sizeof(m->parent), "%s", parent != NULL ? parent->name : "");
    snprintf(m->store, sizeof(m->store), "%s", bw_store_driver(env->store));
    snprintf(m->stream, sizeof(m->stream), "%s", env->log_stream ? env->log_stream : "");
    if ((rc = inherit(m, parent, &known, &nknown)) != BW_OK)
        goto out;
    char *keyid = m->keys[m->nkeys - 1].id;
    new_name(m->name, sizeof(m->name), bw_time_now_ms(), keyid);
    snprintf(aad, sizeof(aad), "bwkey1:%s", keyid);
    if ((rc = bw_keyring_backup_key_new(env->kr, aad, &key, m->keys[m->nkeys - 1].wrapped)) !=
        BW_OK) {
        bw_why(why, whylen, "cannot create a backup data key: %s", bw_rc_str(rc));
        goto out;
    }
    if ((rc = read_config(env->data_dir, &m->config)) != BW_OK)
        goto out;
    if (env->log != NULL && bw_store_changelog_sync(env->store) != BW_OK)
        bw_log(BW_LOG_WARN, "backup.run", "cannot check the change log for other writers");
    if (log_eligible(env, parent)) {
        rc = log_delta(env, r, m, parent, delta, why, whylen);
        if (rc == BW_ERR_CONFLICT) { /* a snapshot instead; drop what the attempt built */
            bw_log(BW_LOG_INFO, "backup.run", "incremental from a snapshot: %s",
                   why[0] ? why : "the change log cannot serve this backup");
            why[0] = '\0';
            bw_free(m->chunks);
            bw_free(m->changes);
            bw_free(r->off);
            m->chunks = m->changes = NULL;
            m->nchunks = m->nchanges = 0;
            m->changes_size = 0;
            r->off = NULL;
            r->from_log = false;
            rc = BW_OK;
        } else if (rc != BW_OK) {
            goto out;
        }
    }
    if (!r->from_log) {
        if (env->log != NULL)
            (void)bw_log_shipper_take_gap(env->log); /* the snapshot covers it */
        if ((rc = take_snapshot(env, m, s, why, whylen)) != BW_OK)
            goto out;
        if ((rc = cut(env->kr, s->data, s->len, &r->off, &r->n)) != BW_OK)
            goto out;
        m->chunks = bw_calloc(r->n ? r->n : 1, sizeof(*m->chunks));
        if (m->chunks == NULL) {
            rc = BW_ERR_NOMEM;
            goto out;
        }
        m->nchunks = r->n;
        r->data = s->data;
        r->chunks = m->chunks;
        r->known = known;
        r->nknown = nknown;
        r->total = s->len;
    }
    r->key = key;
    r->keyid = keyid;
    r->key_index = (uint32_t)(m->nkeys - 1);
    run_workers(r);
    if ((rc = r->rc) != BW_OK) {
        bw_why(why, whylen, "%s", r->why);
        goto out;
    }
    if ((rc = take_files(env, r, f, m, known, nknown, why, whylen)) != BW_OK)
        goto out;
    /* publish: chunks durable first, then the manifest */
    rc = bw_target_sync(r->t, why, whylen);
    compact_keys(m);
    if (rc == BW_OK)
        rc = bw_manifest_store(env->kr, r->t, m, sha, &mbytes, why, whylen);
    if (rc == BW_OK) {
        *out = describe(m, r, f, sha, mbytes, (double)(bw_time_mono_ns() - t0) / 1e9);
        if (*out == NULL)
            rc = BW_ERR_NOMEM;
    }
out:
    bw_backup_key_free(key);
    bw_manifest_free(parent);
    bw_free(known);
    return rc;
}

enum bw_rc bw_backup_run(const struct bw_backup_env *env, struct bw_backup_target *t,
                         struct bw_backup_target *copy, enum bw_backup_kind kind, json_t **out,
                         char *why, size_t whylen)
{
    struct run r = {.env = env, .t = t}, f = {.env = env, .t = t};
    struct bw_manifest *m = bw_calloc(1, sizeof(*m));
    struct snap s = {.path = ""};
    struct bw_buf delta;
    json_t *res = NULL;
    bw_buf_init(&delta, 0);
    pthread_mutex_init(&r.mu, NULL);
    pthread_mutex_init(&f.mu, NULL);
    if (m != NULL) {
        m->format = BW_MANIFEST_FORMAT;
        r.scheme = f.scheme = bw_manifest_id_scheme(m);
    }
    enum bw_rc rc =
        m != NULL ? do_run(env, &r, &f, m, &s, &delta, kind, &res, why, whylen) : BW_ERR_NOMEM;
    if (rc == BW_OK) /* decision C6: the key store, as an object of its own */
        rc = bw_keystore_backup(env, t, copy, res, why, whylen);
    snap_free(&s);
    bw_buf_free(&delta, true);
    if (rc == BW_OK) {
        json_incref(res);
        (void)bw_backup_audit(env, "backup.completed", m->name, true, res);
        if (copy != NULL) { /* BCK-02: the off-site copy, read back (copy.c) */
            json_t *c = NULL;
            rc = bw_backup_copy(env, t, copy, m->name, &c, why, whylen);
            if (rc == BW_OK)
                json_object_set_new(res, "copy", c);
        }
        if (rc == BW_OK)
            *out = res;
        else
            json_decref(res);
    } else {
        (void)bw_backup_audit(env, "backup.failed", m != NULL && m->name[0] ? m->name : "-",
                              false, json_pack("{s:s, s:s}", "kind",
                                               kind == BW_BACKUP_FULL ? "full" : "incremental",
                                               "reason", bw_rc_str(rc)));
    }
    bw_free(r.off);
    bw_free(f.off);
    bw_free(f.at);
    bw_manifest_free(m);
    pthread_mutex_destroy(&r.mu);
    pthread_mutex_destroy(&f.mu);
    return rc;
}
