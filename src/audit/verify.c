/*
 * verify.c - `audit verify` (CONTROL: LOG-06; SPEC 6.3). Walks the chain
 * from seq 1: through the archives listed in bw_audit_archives (each file's
 * hash, signature, chunks and, with the keyring, every event), then the live
 * store, recomputing every hash and link; compares the result with every
 * signed checkpoint (store table and DATA/audit/checkpoints.jsonl, each
 * signature checked against the audit public key) and with the head row.
 * Detects modification, deletion, insertion, reordering and truncation and
 * names the first bad event; reports the age of the newest checkpoint and
 * how many events no checkpoint covers yet (the window in which deleting
 * the newest events is undetectable). Trusts only the public key.
 */
#include "audit/audit_int.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "sys/sys.h"

#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU time of this thread: throughput figures that other processes on a
 * shared machine do not distort (openssl speed divides by CPU time too). */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bw_audit_fail(struct bw_audit_report *rep, int64_t seq, const char *fmt, ...)
{
    if (!rep->ok)
        return; /* the first problem is the one named */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->reason, sizeof(rep->reason), fmt, ap);
    va_end(ap);
    rep->ok = false;
    rep->first_bad = seq > 0 ? seq : 1;
}

enum bw_rc bw_audit_walk_event(struct bw_audit_walk *w, const struct bw_audit_event *ev)
{
    uint8_t h[BW_AUDIT_HASH_BYTES];
    struct bw_audit_report *rep = w->rep;
    if (ev->seq != w->expect_seq) {
        if (ev->seq > w->expect_seq)
            bw_audit_fail(rep, w->expect_seq, "%s: event %lld is missing (next stored is %lld)",
                          w->where, (long long)w->expect_seq, (long long)ev->seq);
        else
            bw_audit_fail(rep, w->expect_seq, "%s: event %lld appears out of order", w->where,
                          (long long)ev->seq);
        return BW_ERR_CONFLICT;
    }
    /* hashes are public: plain memcmp (sodium_memcmp's constant time cost
     * 12 % of verify and protects nothing here) */
    if (!ev->prev_ok || memcmp(ev->prev_hash, w->prev, BW_AUDIT_HASH_BYTES) != 0) {
        bw_audit_fail(rep, ev->seq, "%s: event %lld does not link to its predecessor", w->where,
                      (long long)ev->seq);
        return BW_ERR_CONFLICT;
    }
    enum bw_rc rc = bw_audit_event_hash_at(ev, w->prev, w->v2_from, h);
    if (rc != BW_OK)
        return rc;
    rep->events++;
    rep->bytes += bw_audit_event_size(ev);
    if (!ev->hash_ok || memcmp(h, ev->hash, BW_AUDIT_HASH_BYTES) != 0) {
        bw_audit_fail(rep, ev->seq, "%s: event %lld was modified (hash mismatch)", w->where,
                      (long long)ev->seq);
        return BW_ERR_CONFLICT;
    }
    while (w->next_cp < w->ncps && w->cps[w->next_cp].seq < ev->seq)
        w->next_cp++; /* covered by an archive read with the public key only */
    for (; w->next_cp < w->ncps && w->cps[w->next_cp].seq == ev->seq; w->next_cp++) {
        if (memcmp(w->cps[w->next_cp].hash, h, BW_AUDIT_HASH_BYTES) != 0) {
            bw_audit_fail(rep, w->last_good_cp + 1,
                          "%s: events %lld..%lld differ from the signed checkpoint at seq %lld",
                          w->where, (long long)(w->last_good_cp + 1), (long long)ev->seq,
                          (long long)ev->seq);
            return BW_ERR_CONFLICT;
        }
        w->last_good_cp = ev->seq;
    }
    if (rep->first_seq == 0)
        rep->first_seq = ev->seq;
    rep->last_seq = ev->seq;
    memcpy(w->prev, h, BW_AUDIT_HASH_BYTES);
    w->expect_seq++;
    return BW_OK;
}

/* ---- checkpoints ------------------------------------------------------------ */

struct cps {
    struct bw_audit_checkpoint *v;
    size_t n, cap;
    struct bw_audit_report *rep;
    const uint8_t *pk;
    const char *where;
};

static enum bw_rc cps_add(struct cps *c, const struct bw_audit_checkpoint *cp)
{
    if (bw_audit_checkpoint_verify(cp, c->pk) != BW_OK) {
        bw_audit_fail(c->rep, cp->seq, "%s: checkpoint at seq %lld has an invalid signature",
                      c->where, (long long)cp->seq);
        return BW_OK;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        void *p = bw_realloc(c->v, cap * sizeof(*c->v));
        if (p == NULL)
            return BW_ERR_NOMEM;
        c->v = p;
        c->cap = cap;
    }
    c->v[c->n++] = *cp;
    c->rep->checkpoints++;
    return BW_OK;
}

static enum bw_rc cp_row(void *arg, const struct bw_row *row)
{
    struct bw_audit_checkpoint cp = {.seq = bw_row_int(row, 0), .ts = bw_row_int(row, 2)};
    size_t hn = 0, sn = 0;
    const void *h = bw_row_blob(row, 1, &hn), *s = bw_row_blob(row, 3, &sn);
    if (h != NULL && hn == BW_AUDIT_HASH_BYTES)
        memcpy(cp.hash, h, hn);
    if (s != NULL && sn == sizeof(cp.sig))
        memcpy(cp.sig, s, sn);
    return cps_add(arg, &cp);
}

static enum bw_rc cp_list_tx(struct bw_tx *tx, void *arg)
{
    return bw_tx_query(tx, BW_STMT_AUDIT_CKPT_LIST, NULL, 0, cp_row, arg);
}

/* Reads DATA/audit/checkpoints.jsonl; a missing file is a warning. */
static enum bw_rc cps_file(struct cps *c, const char *data_dir)
{
    char path[4096];
    enum bw_rc rc = bw_sys_path(path, sizeof(path), data_dir, BW_AUDIT_CKPT_FILE);
    if (rc != BW_OK)
        return rc;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        bw_why(c->rep->warning, sizeof(c->rep->warning),
               "no checkpoint file %s: deletion of the newest events cannot be checked here",
               BW_AUDIT_CKPT_FILE);
        return BW_OK;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    c->where = "checkpoints.jsonl";
    while (rc == BW_OK && (n = getline(&line, &cap, f)) >= 0) {
        struct bw_audit_checkpoint cp;
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        if (bw_audit_checkpoint_parse(line, (size_t)n, &cp) != BW_OK) {
            bw_audit_fail(c->rep, 1, "checkpoints.jsonl line %ld is malformed", lineno);
            continue;
        }
        rc = cps_add(c, &cp);
    }
    free(line); /* getline's buffer */
    fclose(f);
    return rc;
}

static int cp_cmp(const void *a, const void *b)
{
    const struct bw_audit_checkpoint *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- archives and the live store ------------------------------------------------ */

struct arch_list {
    struct {
        int64_t first, last;
        char file[128];
        uint8_t file_hash[BW_AUDIT_HASH_BYTES];
    } *v;
    size_t n, cap;
};

static enum bw_rc arch_row(void *arg, const struct bw_row *row)
{
    struct arch_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        void *p = bw_realloc(l->v, cap * sizeof(*l->v));
        if (p == NULL)
            return BW_ERR_NOMEM;
        l->v = p;
        l->cap = cap;
    }
    memset(&l->v[l->n], 0, sizeof(l->v[0]));
    l->v[l->n].first = bw_row_int(row, 0);
    l->v[l->n].last = bw_row_int(row, 1);
    size_t fn = 0, hn = 0;
    const char *f = bw_row_text(row, 3, &fn);
    const void *h = bw_row_blob(row, 4, &hn);
    if (f != NULL && fn < sizeof(l->v[0].file))
        memcpy(l->v[l->n].file, f, fn);
    if (h != NULL && hn == BW_AUDIT_HASH_BYTES)
        memcpy(l->v[l->n].file_hash, h, hn);
    l->n++;
    return BW_OK;
}

static enum bw_rc arch_list_tx(struct bw_tx *tx, void *arg)
{
    return bw_tx_query(tx, BW_STMT_AUDIT_ARCHIVE_LIST, NULL, 0, arch_row, arg);
}

static enum bw_rc read_whole(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rbe");
    if (f == NULL)
        return BW_ERR_NOTFOUND;
    struct bw_buf b;
    bw_buf_init(&b, (size_t)1 << 34);
    char tmp[65536];
    size_t n;
    enum bw_rc rc = BW_OK;
    while (rc == BW_OK && (n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        rc = bw_buf_append(&b, tmp, n);
    if (rc == BW_OK && ferror(f))
        rc = BW_ERR_IO;
    fclose(f);
    if (rc != BW_OK) {
        bw_buf_free(&b, false);
        return rc;
    }
    *out = (uint8_t *)bw_buf_steal(&b, len);
    return *out != NULL ? BW_OK : BW_ERR_NOMEM;
}

static enum bw_rc walk_archives(struct bw_audit_walk *w, const struct arch_list *l,
                                const char *data_dir, const uint8_t pk[32],
                                const struct bw_keyring *kr)
{
    enum bw_rc rc = BW_OK;
    for (size_t i = 0; rc == BW_OK && i < l->n; i++) {
        char dir[4096], path[4096];
        uint8_t *data = NULL, h[BW_AUDIT_HASH_BYTES];
        size_t len = 0;
        w->where = l->v[i].file;
        rc = bw_sys_path(dir, sizeof(dir), data_dir, BW_AUDIT_ARCHIVE_DIR);
        if (rc == BW_OK)
            rc = bw_sys_path(path, sizeof(path), dir, l->v[i].file);
        if (rc == BW_OK && strchr(l->v[i].file, '/') != NULL)
            rc = BW_ERR_INVALID;
        if (rc == BW_OK)
            rc = read_whole(path, &data, &len);
        if (rc == BW_ERR_NOTFOUND || rc == BW_ERR_INVALID) {
            bw_audit_fail(w->rep, l->v[i].first, "archive %s (events %lld..%lld) is missing",
                          l->v[i].file, (long long)l->v[i].first, (long long)l->v[i].last);
            return BW_ERR_CONFLICT;
        }
        if (rc != BW_OK)
            return rc;
        crypto_generichash(h, sizeof(h), data, len, NULL, 0);
        rc = bw_audit_walk_archive(w, data, len, pk, kr);
        if (rc == BW_OK && sodium_memcmp(h, l->v[i].file_hash, sizeof(h)) != 0) {
            bw_audit_fail(w->rep, l->v[i].first, "archive %s differs from the file indexed",
                          l->v[i].file);
            rc = BW_ERR_CONFLICT;
        }
        bw_free(data);
    }
    return rc;
}

struct store_walk {
    struct bw_audit_walk *w;
    int64_t after;
    uint64_t rows;
    int64_t head_seq;
    uint8_t head_hash[BW_AUDIT_HASH_BYTES];
    bool head_ok;
};

static enum bw_rc sw_row(void *arg, const struct bw_row *row)
{
    struct store_walk *s = arg;
    struct bw_audit_event ev;
    bw_audit_event_from_row(row, &ev);
    s->rows++;
    s->after = ev.seq;
    return bw_audit_walk_event(s->w, &ev);
}

static enum bw_rc sw_head(void *arg, const struct bw_row *row)
{
    struct store_walk *s = arg;
    size_t n = 0;
    const void *p = bw_row_blob(row, 1, &n);
    s->head_seq = bw_row_int(row, 0);
    s->head_ok = p != NULL && n == BW_AUDIT_HASH_BYTES;
    if (s->head_ok)
        memcpy(s->head_hash, p, n);
    return BW_OK;
}

enum { PAGE = 10000 };

static enum bw_rc sw_page_tx(struct bw_tx *tx, void *arg)
{
    struct store_walk *s = arg;
    struct bw_val p[] = {BW_VINT(s->after), BW_VINT(PAGE)};
    s->rows = 0;
    return bw_tx_query(tx, BW_STMT_AUDIT_RANGE, p, BW_ARRAY_LEN(p), sw_row, s);
}

static enum bw_rc sw_head_tx(struct bw_tx *tx, void *arg)
{
    return bw_tx_query(tx, BW_STMT_AUDIT_HEAD_GET, NULL, 0, sw_head, arg);
}

static enum bw_rc walk_store(struct bw_store *st, struct bw_audit_walk *w)
{
    struct store_walk s = {.w = w};
    w->where = "store";
    /* the head first: events appended while we walk are then beyond it */
    enum bw_rc rc = bw_store_read(st, sw_head_tx, &s);
    if (rc != BW_OK)
        return rc;
    s.after = w->expect_seq - 1;
    do
        rc = bw_store_read(st, sw_page_tx, &s);
    while (rc == BW_OK && s.rows == PAGE && s.after < s.head_seq);
    if (rc != BW_OK)
        return rc;
    int64_t last = w->expect_seq - 1;
    if (!s.head_ok)
        bw_audit_fail(w->rep, last + 1, "the chain head row is damaged");
    else if (s.head_seq < last)
        bw_audit_fail(w->rep, s.head_seq + 1, "event %lld lies beyond the chain head (%lld): "
                      "inserted", (long long)(s.head_seq + 1), (long long)s.head_seq);
    else if (s.head_seq > last)
        bw_audit_fail(w->rep, last + 1, "events %lld..%lld are missing (the chain head is at "
                      "%lld): truncated", (long long)(last + 1), (long long)s.head_seq,
                      (long long)s.head_seq);
    else if (last > 0 && sodium_memcmp(s.head_hash, w->prev, BW_AUDIT_HASH_BYTES) != 0)
        bw_audit_fail(w->rep, last, "the chain head does not match event %lld", (long long)last);
    return BW_OK;
}

enum bw_rc bw_audit_verify(struct bw_store *st, const struct bw_keyring *kr, const uint8_t pk[32],
                           const struct bw_audit_settings *s, struct bw_audit_report *rep)
{
    struct cps c = {.rep = rep, .pk = pk, .where = "store"};
    struct arch_list al = {0};
    struct bw_audit_walk w = {.rep = rep, .expect_seq = 1};
    uint64_t t0 = bw_time_mono_ns(), c0 = cpu_ns();
    memset(rep, 0, sizeof(*rep));
    rep->ok = true;
    rep->newest_checkpoint_age = -1;
    enum bw_rc rc = bw_audit_v2_from(st, &w.v2_from);
    if (rc == BW_OK)
        rc = bw_store_read(st, cp_list_tx, &c);
    if (rc == BW_OK)
        rc = cps_file(&c, s->data_dir);
    if (rc == BW_OK)
        rc = bw_store_read(st, arch_list_tx, &al);
    if (rc != BW_OK)
        goto out;
    if (c.n > 1) /* qsort's array must not be NULL, even for 0 elements */
        qsort(c.v, c.n, sizeof(*c.v), cp_cmp);
    for (size_t i = 1; i < c.n; i++) {
        if (c.v[i].seq == c.v[i - 1].seq &&
            sodium_memcmp(c.v[i].hash, c.v[i - 1].hash, BW_AUDIT_HASH_BYTES) != 0)
            bw_audit_fail(rep, c.v[i].seq, "two signed checkpoints disagree at seq %lld",
                          (long long)c.v[i].seq);
    }
    w.cps = c.v;
    w.ncps = c.n;
    rc = walk_archives(&w, &al, s->data_dir, pk, kr);
    if (rc == BW_OK)
        rc = walk_store(st, &w);
    if (rc == BW_ERR_CONFLICT)
        rc = BW_OK; /* found and reported in rep */
    if (rc != BW_OK)
        goto out;
    int64_t last = w.expect_seq - 1;
    if (c.n > 0) {
        const struct bw_audit_checkpoint *nw = &c.v[c.n - 1];
        rep->newest_checkpoint_seq = nw->seq;
        rep->newest_checkpoint_age = bw_time_now() - nw->ts;
        /* CONTROL: LOG-06 - deleting the newest events is caught by the signed copies */
        if (nw->seq > last)
            bw_audit_fail(rep, last + 1, "events %lld..%lld were signed by a checkpoint but are "
                          "missing: truncated", (long long)(last + 1), (long long)nw->seq);
        rep->unanchored = last > nw->seq ? (uint64_t)(last - nw->seq) : 0;
    } else {
        rep->unanchored = last > 0 ? (uint64_t)last : 0;
    }
out:
    rep->seconds = (double)(bw_time_mono_ns() - t0) / 1e9;
    rep->cpu_seconds = (double)(cpu_ns() - c0) / 1e9;
    bw_free(c.v);
    bw_free(al.v);
    return rc;
}

enum bw_rc bw_audit_verify_archive_mem(const uint8_t *data, size_t len, const uint8_t pk[32],
                                       const struct bw_keyring *kr, struct bw_audit_report *rep)
{
    struct bw_audit_walk w = {.rep = rep, .where = "archive", .v2_from = 1};
    memset(rep, 0, sizeof(*rep));
    rep->ok = true;
    rep->newest_checkpoint_age = -1;
    enum bw_rc rc = bw_audit_walk_archive(&w, data, len, pk, kr);
    if (rc == BW_OK && kr == NULL) {
        rep->first_seq = rep->first_seq ? rep->first_seq : 0;
        rep->last_seq = w.expect_seq - 1;
    }
    return rc == BW_ERR_CONFLICT ? BW_OK : rc;
}

enum bw_rc bw_audit_verify_archive(const char *path, const uint8_t pk[32],
                                   const struct bw_keyring *kr, struct bw_audit_report *rep)
{
    uint8_t *data = NULL;
    size_t len = 0;
    uint64_t t0 = bw_time_mono_ns(), c0 = cpu_ns();
    enum bw_rc rc = read_whole(path, &data, &len);
    if (rc != BW_OK)
        return rc;
    rc = bw_audit_verify_archive_mem(data, len, pk, kr, rep);
    rep->seconds = (double)(bw_time_mono_ns() - t0) / 1e9;
    rep->cpu_seconds = (double)(cpu_ns() - c0) / 1e9;
    bw_free(data);
    return rc;
}

struct rec {
    const struct bw_audit_ctx *ctx;
    const char *actor;
    const struct bw_audit_report *rep;
};

static enum bw_rc rec_tx(struct bw_tx *tx, void *arg)
{
    const struct rec *r = arg;
    if (r->rep->ok)
        return bw_audit_append(tx, r->ctx, r->actor, "audit.verified", "audit",
                               BW_AUDIT_SUCCESS,
                               json_pack("{s:I, s:I}", "events", (json_int_t)r->rep->events,
                                         "last_seq", (json_int_t)r->rep->last_seq));
    /* the incident issue turns this event into a P1 incident */
    return bw_audit_append(tx, r->ctx, r->actor, "audit.verify.failed", "audit",
                           BW_AUDIT_FAILURE,
                           json_pack("{s:I, s:s}", "first_bad", (json_int_t)r->rep->first_bad,
                                     "reason", r->rep->reason));
}

enum bw_rc bw_audit_record_verify(struct bw_store *st, const struct bw_audit_ctx *ctx,
                                  const char *actor, const struct bw_audit_report *rep)
{
    struct rec r = {ctx, actor, rep};
    return bw_store_write(st, rec_tx, &r);
}
