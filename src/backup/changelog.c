/*
 * changelog.c - the continuous change log (BCK-05, SQLite): every commit
 * batch's change set, captured by the store driver right after the commit,
 * is queued here and shipped to the target every log_interval as one sealed
 * segment; then the stream's head (how far the log is complete) is
 * rewritten. Point-in-time restore replays a backup's stream from the
 * backup's position up to the requested time.
 *
 * Segment plaintext: records of [u64 seq][i64 ts_ms][u32 len][len bytes],
 * little endian; len 0xFFFFFFFF marks a gap (a commit the log missed).
 * Timestamps are taken under the queue lock, so a record stamped before the
 * head's until_ms is always in a segment written before that head.
 * Trusts: nothing read back (sealed, then parsed by a bounded cursor;
 * fuzz/fuzz_backup_segment.c). Never keeps unbounded memory: past
 * QUEUE_MAX the queue is dropped and a gap recorded.
 */
#include "backup/backup_int.h"
#include "store/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEG_MAGIC "BWL1"
#define HEAD_MAGIC "BWH1"
#define GAP_LEN 0xFFFFFFFFu
#define QUEUE_MAX (256u * 1024 * 1024)
#define REC_HDR 20

/* ---- record codec ----------------------------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

enum bw_rc bw_log_record_append(struct bw_buf *b, uint64_t seq, int64_t ts, const void *data,
                                size_t len)
{
    uint8_t h[REC_HDR];
    if (data != NULL && len >= GAP_LEN)
        return BW_ERR_TOOBIG;
    put_le(h, seq, 8);
    put_le(h + 8, (uint64_t)ts, 8);
    put_le(h + 16, data == NULL ? GAP_LEN : (uint32_t)len, 4);
    enum bw_rc rc = bw_buf_append(b, h, sizeof(h));
    if (rc == BW_OK && data != NULL)
        rc = bw_buf_append(b, data, len);
    return rc;
}

/* Bounded cursor over segment records; BW_ERR_NOTFOUND at the clean end. */
enum bw_rc bw_log_record_next(const uint8_t *p, size_t len, size_t *pos, struct bw_log_rec *r)
{
    if (*pos == len)
        return BW_ERR_NOTFOUND;
    if (*pos > len || len - *pos < REC_HDR)
        return BW_ERR_INVALID;
    const uint8_t *h = p + *pos;
    uint32_t n = (uint32_t)get_le(h + 16, 4);
    r->seq = get_le(h, 8);
    r->ts = (int64_t)get_le(h + 8, 8);
    if (r->ts < 0 || r->seq == 0)
        return BW_ERR_INVALID;
    if (n == GAP_LEN) {
        r->data = NULL;
        r->len = 0;
        *pos += REC_HDR;
        return BW_OK;
    }
    if (n == 0 || len - *pos - REC_HDR < n)
        return BW_ERR_INVALID;
    r->data = h + REC_HDR;
    r->len = n;
    *pos += REC_HDR + n;
    return BW_OK;
}

/* ---- names ---------------------------------------------------------------------------- */

static bool stream_ok(const char *s)
{
    return bw_id_valid(s);
}

/* "<first>-<last>-<until>.seg", 20+20+15 digits */
static bool seg_parse(const char *file, uint64_t *first, uint64_t *last, int64_t *until)
{
    char a[21], b[21], c[16];
    uint64_t u = 0;
    if (strlen(file) != 20 + 1 + 20 + 1 + 15 + 4 || file[20] != '-' || file[41] != '-' ||
        strcmp(file + 57, ".seg") != 0)
        return false;
    memcpy(a, file, 20);
    a[20] = '\0';
    memcpy(b, file + 21, 20);
    b[20] = '\0';
    memcpy(c, file + 42, 15);
    c[15] = '\0';
    if (bw_parse_u64(a, UINT64_MAX, first) != BW_OK || bw_parse_u64(b, UINT64_MAX, last) != BW_OK ||
        bw_parse_u64(c, INT64_MAX, &u) != BW_OK || *first == 0 || *last < *first)
        return false;
    *until = (int64_t)u;
    return true;
}

struct seg {
    char file[64];
    uint64_t first, last;
    int64_t until;
};

struct segs {
    struct seg *v;
    size_t n, cap;
};

static enum bw_rc seg_add(void *arg, const char *file)
{
    struct segs *s = arg;
    struct seg x;
    if (!seg_parse(file, &x.first, &x.last, &x.until))
        return BW_OK;
    snprintf(x.file, sizeof(x.file), "%s", file);
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        struct seg *nv = bw_realloc(s->v, nc * sizeof(*nv));
        if (nv == NULL)
            return BW_ERR_NOMEM;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = x;
    return BW_OK;
}

static int seg_cmp(const void *a, const void *b)
{
    const struct seg *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

static enum bw_rc seg_list(struct bw_backup_target *t, const char *stream, struct segs *out)
{
    char dir[BW_BK_NAME_MAX];
    snprintf(dir, sizeof(dir), "log/%s", stream);
    enum bw_rc rc = bw_target_list(t, dir, seg_add, out);
    if (rc == BW_OK && out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), seg_cmp);
    return rc;
}

static enum bw_rc seg_load(const struct bw_keyring *kr, struct bw_backup_target *t,
                           const char *stream, const struct seg *s, struct bw_buf *plain,
                           char *why, size_t whylen)
{
    char path[BW_BK_NAME_MAX], aad[BW_BK_NAME_MAX + 16];
    struct bw_buf obj;
    snprintf(path, sizeof(path), "log/%s/%s", stream, s->file);
    snprintf(aad, sizeof(aad), "bwlog1:%s", path);
    bw_buf_init(&obj, BW_BK_SEGMENT_MAX);
    enum bw_rc rc = bw_target_get(t, path, &obj, why, whylen);
    if (rc == BW_OK && (rc = bw_blob_open(kr, SEG_MAGIC, aad, obj.data, obj.len, plain)) != BW_OK)
        bw_why(why, whylen, "%s is damaged: %s", path,
               rc == BW_ERR_CRYPTO ? "authentication failed" : "bad structure");
    bw_buf_free(&obj, false);
    return rc;
}

/* ---- head ------------------------------------------------------------------------------ */

static enum bw_rc head_store(const struct bw_keyring *kr, struct bw_backup_target *t,
                             const char *stream, const struct bw_log_point *p, char *why,
                             size_t whylen)
{
    char path[BW_BK_NAME_MAX], aad[BW_BK_NAME_MAX + 16];
    struct bw_buf obj;
    snprintf(path, sizeof(path), "log/%s/head", stream);
    snprintf(aad, sizeof(aad), "bwloghead1:%s", path);
    char *text = NULL;
    json_t *o = json_pack("{s:s, s:I, s:I}", "stream", stream, "last_seq",
                          (json_int_t)p->last_seq, "until_ms", (json_int_t)p->until_ms);
    if (o == NULL || (text = json_dumps(o, JSON_COMPACT)) == NULL) {
        json_decref(o);
        return BW_ERR_NOMEM;
    }
    json_decref(o);
    bw_buf_init(&obj, 1 << 20);
    enum bw_rc rc = bw_blob_seal(kr, HEAD_MAGIC, aad, text, strlen(text), &obj);
    if (rc == BW_OK)
        rc = bw_target_put(t, path, obj.data, obj.len, true, why, whylen);
    bw_buf_free(&obj, false);
    bw_free(text);
    return rc;
}

enum bw_rc bw_log_head(const struct bw_keyring *kr, struct bw_backup_target *t,
                       const char *stream, struct bw_log_point *out)
{
    char path[BW_BK_NAME_MAX], aad[BW_BK_NAME_MAX + 16], why[256];
    struct bw_buf obj, plain;
    if (!stream_ok(stream))
        return BW_ERR_INVALID;
    snprintf(path, sizeof(path), "log/%s/head", stream);
    snprintf(aad, sizeof(aad), "bwloghead1:%s", path);
    bw_buf_init(&obj, 1 << 20);
    bw_buf_init(&plain, 1 << 20);
    enum bw_rc rc = bw_target_get(t, path, &obj, why, sizeof(why));
    if (rc == BW_OK)
        rc = bw_blob_open(kr, HEAD_MAGIC, aad, obj.data, obj.len, &plain);
    json_t *o = rc == BW_OK ? json_loadb(plain.data, plain.len, JSON_REJECT_DUPLICATES, NULL)
                            : NULL;
    json_t *s = json_object_get(o, "stream"), *l = json_object_get(o, "last_seq"),
           *u = json_object_get(o, "until_ms");
    if (rc == BW_OK && (!json_is_string(s) || strcmp(json_string_value(s), stream) != 0 ||
                        !json_is_integer(l) || json_integer_value(l) < 0 ||
                        !json_is_integer(u) || json_integer_value(u) < 0))
        rc = BW_ERR_INVALID;
    if (rc == BW_OK) {
        out->last_seq = (uint64_t)json_integer_value(l);
        out->until_ms = json_integer_value(u);
    }
    json_decref(o);
    bw_buf_free(&obj, false);
    bw_buf_free(&plain, false);
    return rc;
}

/* ---- replay and verify ------------------------------------------------------------------ */

struct replay {
    uint64_t expect;
    int64_t until_ms;
    uint64_t last_seq;    /* stop after this change (UINT64_MAX: no limit) */
    struct bw_store *st;  /* apply to this store, or */
    struct bw_buf *out;   /* copy the records here (an incremental's payload) */
    uint64_t applied;
    bool done;
};

static enum bw_rc replay_segment(struct replay *r, const struct bw_buf *plain, const char *file,
                                 char *why, size_t whylen)
{
    size_t pos = 0;
    struct bw_log_rec rec;
    enum bw_rc rc;
    while ((rc = bw_log_record_next((const uint8_t *)plain->data, plain->len, &pos, &rec)) ==
           BW_OK) {
        if (rec.seq < r->expect)
            continue;
        if (rec.ts > r->until_ms || rec.seq > r->last_seq) {
            r->done = true;
            return BW_OK;
        }
        if (rec.seq != r->expect) {
            bw_why(why, whylen, "the change log misses changes %llu..%llu (before %s)",
                   (unsigned long long)r->expect, (unsigned long long)rec.seq - 1, file);
            return BW_ERR_CONFLICT;
        }
        if (rec.data == NULL) {
            bw_why(why, whylen, "the change log has a gap at change %llu (a commit by another "
                   "process); restore a backup taken after it",
                   (unsigned long long)rec.seq);
            return BW_ERR_CONFLICT;
        }
        if (r->st != NULL && (rc = bw_store_apply_changes(r->st, rec.data, rec.len)) != BW_OK) {
            bw_why(why, whylen, "cannot apply change %llu from %s: %s",
                   (unsigned long long)rec.seq, file, bw_rc_str(rc));
            return rc;
        }
        if (r->out != NULL &&
            (rc = bw_log_record_append(r->out, rec.seq, rec.ts, rec.data, rec.len)) != BW_OK) {
            bw_why(why, whylen, "the changes since the parent backup exceed %zu bytes",
                   r->out->max);
            return rc;
        }
        r->applied++;
        r->expect++;
    }
    if (rc != BW_ERR_NOTFOUND) {
        bw_why(why, whylen, "%s is damaged: bad structure", file);
        return BW_ERR_INVALID;
    }
    return BW_OK;
}

enum bw_rc bw_log_replay(const struct bw_keyring *kr, struct bw_backup_target *t,
                         const char *stream, uint64_t from_seq, int64_t until_ms,
                         struct bw_store *st, uint64_t *applied, char *why, size_t whylen)
{
    struct segs ss = {0};
    struct bw_buf plain;
    struct replay r = {.expect = from_seq + 1, .until_ms = until_ms, .last_seq = UINT64_MAX,
                       .st = st};
    bw_buf_init(&plain, BW_BK_SEGMENT_MAX);
    enum bw_rc rc = stream_ok(stream) ? seg_list(t, stream, &ss) : BW_ERR_INVALID;
    for (size_t i = 0; rc == BW_OK && i < ss.n && !r.done; i++) {
        if (ss.v[i].last < r.expect)
            continue;
        if (ss.v[i].first > r.expect) {
            bw_why(why, whylen, "the change log misses changes %llu..%llu (pruned or lost)",
                   (unsigned long long)r.expect, (unsigned long long)ss.v[i].first - 1);
            rc = BW_ERR_CONFLICT;
            break;
        }
        rc = seg_load(kr, t, stream, &ss.v[i], &plain, why, whylen);
        if (rc == BW_OK)
            rc = replay_segment(&r, &plain, ss.v[i].file, why, whylen);
    }
    bw_free(ss.v);
    bw_buf_free(&plain, true);
    if (rc == BW_OK)
        *applied = r.applied;
    return rc;
}

/* The records (from_seq, to_seq] of a stream, copied into out as they are
 * (an incremental backup's payload). BW_ERR_CONFLICT when a gap or a
 * missing segment is in range: the caller takes a snapshot instead. */
enum bw_rc bw_log_collect(const struct bw_keyring *kr, struct bw_backup_target *t,
                          const char *stream, uint64_t from_seq, uint64_t to_seq,
                          struct bw_buf *out, char *why, size_t whylen)
{
    struct segs ss = {0};
    struct bw_buf plain;
    struct replay r = {.expect = from_seq + 1, .until_ms = INT64_MAX, .last_seq = to_seq,
                       .out = out};
    bw_buf_init(&plain, BW_BK_SEGMENT_MAX);
    enum bw_rc rc = stream_ok(stream) ? seg_list(t, stream, &ss) : BW_ERR_INVALID;
    for (size_t i = 0; rc == BW_OK && i < ss.n && !r.done && r.expect <= to_seq; i++) {
        if (ss.v[i].last < r.expect)
            continue;
        if (ss.v[i].first > r.expect) {
            bw_why(why, whylen, "the change log misses changes %llu..%llu",
                   (unsigned long long)r.expect, (unsigned long long)ss.v[i].first - 1);
            rc = BW_ERR_CONFLICT;
            break;
        }
        rc = seg_load(kr, t, stream, &ss.v[i], &plain, why, whylen);
        if (rc == BW_OK)
            rc = replay_segment(&r, &plain, ss.v[i].file, why, whylen);
    }
    if (rc == BW_OK && r.expect != to_seq + 1) {
        bw_why(why, whylen, "the change log on the target stops at change %llu, not %llu",
               (unsigned long long)r.expect - 1, (unsigned long long)to_seq);
        rc = BW_ERR_CONFLICT;
    }
    bw_free(ss.v);
    bw_buf_free(&plain, true);
    return rc;
}

/* Applies records that must be exactly first..last (first 0: from the first
 * record's), in order, without gaps. */
enum bw_rc bw_log_apply(struct bw_store *st, const uint8_t *p, size_t len, uint64_t first,
                        uint64_t last, uint64_t *applied, char *why, size_t whylen)
{
    struct bw_log_rec rec;
    size_t pos = 0;
    if (first == 0 && bw_log_record_next(p, len, &pos, &rec) == BW_OK)
        first = rec.seq; /* the base snapshot's position + 1 */
    if (first == 0 || first > last) {
        bw_why(why, whylen, "the backup's changes are empty or out of order");
        return BW_ERR_INVALID;
    }
    struct replay r = {.expect = first, .until_ms = INT64_MAX, .last_seq = last, .st = st};
    struct bw_buf view = {.data = (char *)p, .len = len, .cap = len, .max = len};
    enum bw_rc rc = replay_segment(&r, &view, "the backup's changes", why, whylen);
    if (rc == BW_OK && (r.done || r.expect != last + 1)) {
        bw_why(why, whylen, "the backup's changes end at %llu, the manifest says %llu",
               (unsigned long long)r.expect - 1, (unsigned long long)last);
        rc = BW_ERR_INVALID;
    }
    if (rc == BW_OK)
        *applied = r.applied;
    return rc;
}

static enum bw_rc name_acc(void *arg, const char *file)
{
    return stream_ok(file) ? bw_names_add(arg, file, strlen(file)) : BW_OK;
}

/* Records numbered first..last without holes, each well formed. */
static bool seg_consistent(const struct bw_buf *plain, const struct seg *sg)
{
    size_t pos = 0;
    struct bw_log_rec rec;
    uint64_t expect = sg->first;
    enum bw_rc rc;
    while ((rc = bw_log_record_next((const uint8_t *)plain->data, plain->len, &pos, &rec)) ==
           BW_OK) {
        if (rec.seq != expect)
            return false;
        expect++;
    }
    return rc == BW_ERR_NOTFOUND && expect == sg->last + 1;
}

enum bw_rc bw_log_verify(const struct bw_keyring *kr, struct bw_backup_target *t,
                         uint64_t *segments, char *why, size_t whylen)
{
    struct bw_names streams = {0};
    struct bw_buf plain;
    uint64_t count = 0;
    bw_buf_init(&plain, BW_BK_SEGMENT_MAX);
    enum bw_rc rc = bw_target_list(t, "log", name_acc, &streams);
    for (size_t i = 0; rc == BW_OK && i < streams.n; i++) {
        struct segs ss = {0};
        struct bw_log_point head;
        rc = seg_list(t, streams.v[i], &ss);
        enum bw_rc hrc = rc == BW_OK ? bw_log_head(kr, t, streams.v[i], &head) : BW_OK;
        if (rc == BW_OK && hrc != BW_OK && hrc != BW_ERR_NOTFOUND) {
            bw_why(why, whylen, "log/%s/head is damaged", streams.v[i]);
            rc = BW_ERR_CRYPTO;
        }
        for (size_t j = 0; rc == BW_OK && j < ss.n; j++) {
            char file[BW_BK_NAME_MAX];
            snprintf(file, sizeof(file), "log/%s/%s", streams.v[i], ss.v[j].file);
            rc = seg_load(kr, t, streams.v[i], &ss.v[j], &plain, why, whylen);
            if (rc == BW_OK && !seg_consistent(&plain, &ss.v[j])) {
                bw_why(why, whylen, "%s is damaged: its records do not match its name", file);
                rc = BW_ERR_INVALID;
            }
            count++;
        }
        bw_free(ss.v);
    }
    bw_names_free(streams.v, streams.n);
    bw_buf_free(&plain, true);
    if (rc == BW_OK)
        *segments = count;
    return rc;
}

enum bw_rc bw_log_prune(const struct bw_keyring *kr, struct bw_backup_target *t,
                        int64_t before_ms, const char *keep_stream, uint64_t *removed)
{
    struct bw_names streams = {0};
    uint64_t n = 0;
    (void)kr;
    enum bw_rc rc = bw_target_list(t, "log", name_acc, &streams);
    for (size_t i = 0; rc == BW_OK && i < streams.n; i++) {
        struct segs ss = {0};
        char path[BW_BK_NAME_MAX];
        size_t kept = 0;
        rc = seg_list(t, streams.v[i], &ss);
        for (size_t j = 0; rc == BW_OK && j < ss.n; j++) {
            if (ss.v[j].until >= before_ms) {
                kept++;
                continue;
            }
            snprintf(path, sizeof(path), "log/%s/%s", streams.v[i], ss.v[j].file);
            if ((rc = bw_target_remove(t, path)) == BW_OK)
                n++;
        }
        if (rc == BW_OK && kept == 0 &&
            (keep_stream == NULL || strcmp(keep_stream, streams.v[i]) != 0)) {
            snprintf(path, sizeof(path), "log/%s/head", streams.v[i]);
            rc = bw_target_remove(t, path);
        }
        bw_free(ss.v);
    }
    bw_names_free(streams.v, streams.n);
    if (rc == BW_OK)
        *removed = n;
    return rc;
}

/* ---- the shipper (inside serve) --------------------------------------------------------- */

struct bw_log_shipper {
    const struct bw_keyring *kr;
    struct bw_backup_target *t;
    char stream[BW_ID_LEN + 1];
    pthread_mutex_t mu;
    struct bw_buf queue;   /* records not yet taken by the shipper */
    uint64_t q_first, q_last;
    struct bw_buf pending; /* taken, not yet written (retry after a failure) */
    uint64_t p_first, p_last;
    uint64_t shipped_seq;
    int64_t last_ok_ms;
    bool gap; /* a gap was queued: the scheduler re-bases with a backup */
    bool commit_times;   /* keep the store's stamps (see bw_log_shipper_create) */
    int64_t complete_ms; /* commit_times: every commit stamped before it is queued */
    int64_t last_ts;     /* stamps never go back */
};

bool bw_log_shipper_take_gap(struct bw_log_shipper *s)
{
    pthread_mutex_lock(&s->mu);
    bool g = s->gap;
    s->gap = false;
    pthread_mutex_unlock(&s->mu);
    return g;
}

void bw_log_shipper_enqueue(void *arg, uint64_t seq, int64_t ts_ms, const void *data,
                            size_t len)
{
    struct bw_log_shipper *s = arg;
    pthread_mutex_lock(&s->mu);
    if (seq == 0) { /* a watermark, no record */
        if (s->commit_times && ts_ms > s->complete_ms)
            s->complete_ms = ts_ms;
        pthread_mutex_unlock(&s->mu);
        return;
    }
    /* SQLite: stamped under the lock (see the file comment); PostgreSQL: the
     * commit time, which the watermarks keep behind every head */
    int64_t ts = s->commit_times ? ts_ms : bw_time_now_ms();
    if (ts < s->last_ts)
        ts = s->last_ts;
    s->last_ts = ts;
    size_t before = s->queue.len;
    if (data == NULL)
        s->gap = true;
    if (bw_log_record_append(&s->queue, seq, ts, data, len) != BW_OK) {
        s->queue.len = before; /* too much unshipped: keep only a gap marker */
        bw_log(BW_LOG_ERROR, "backup.log", "change log queue full: recording a gap at %llu",
               (unsigned long long)seq);
        if (bw_log_record_append(&s->queue, seq, ts, NULL, 0) != BW_OK)
            s->queue.len = before;
        s->gap = true;
    }
    if (s->q_first == 0)
        s->q_first = seq;
    s->q_last = seq;
    pthread_mutex_unlock(&s->mu);
}

enum bw_rc bw_log_shipper_create(const struct bw_keyring *kr, struct bw_backup_target *t,
                                 bool commit_times, struct bw_log_shipper **out)
{
    struct bw_log_shipper *s = bw_calloc(1, sizeof(*s));
    if (s == NULL)
        return BW_ERR_NOMEM;
    s->kr = kr;
    s->commit_times = commit_times;
    s->t = t;
    bw_id_new(s->stream);
    pthread_mutex_init(&s->mu, NULL);
    bw_buf_init(&s->queue, QUEUE_MAX);
    bw_buf_init(&s->pending, QUEUE_MAX * 2);
    *out = s;
    return BW_OK;
}

void bw_log_shipper_free(struct bw_log_shipper *s)
{
    if (s == NULL)
        return;
    bw_buf_free(&s->queue, true);
    bw_buf_free(&s->pending, true);
    pthread_mutex_destroy(&s->mu);
    bw_free(s);
}

const char *bw_log_shipper_stream(const struct bw_log_shipper *s)
{
    return s->stream;
}

/* Ships what is queued; writes the head. Called by the scheduler thread only. */
enum bw_rc bw_log_shipper_ship(struct bw_log_shipper *s, int64_t *lag_ms, char *why,
                               size_t whylen)
{
    char path[BW_BK_NAME_MAX], aad[BW_BK_NAME_MAX + 16];
    struct bw_buf obj;
    enum bw_rc rc = BW_OK;
    pthread_mutex_lock(&s->mu);
    int64_t until = bw_time_now_ms() - 1; /* later stamps are >= now: next segment */
    if (s->commit_times && until >= s->complete_ms)
        until = s->complete_ms - 1; /* later records are stamped >= the watermark */
    if (until < s->last_ok_ms)
        until = s->last_ok_ms; /* a head never moves back */
    if (s->queue.len > 0)
        rc = bw_buf_append(&s->pending, s->queue.data, s->queue.len);
    if (rc == BW_OK && s->queue.len > 0) {
        if (s->p_first == 0)
            s->p_first = s->q_first;
        s->p_last = s->q_last;
        bw_buf_reset(&s->queue);
        s->q_first = s->q_last = 0;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != BW_OK)
        return rc;
    bw_buf_init(&obj, BW_BK_SEGMENT_MAX);
    if (s->pending.len > 0) {
        snprintf(path, sizeof(path), "log/%s/%020llu-%020llu-%015lld.seg", s->stream,
                 (unsigned long long)s->p_first, (unsigned long long)s->p_last,
                 (long long)until);
        snprintf(aad, sizeof(aad), "bwlog1:%s", path);
        rc = bw_blob_seal(s->kr, SEG_MAGIC, aad, s->pending.data, s->pending.len, &obj);
        if (rc == BW_OK)
            rc = bw_target_put(s->t, path, obj.data, obj.len, true, why, whylen);
        if (rc == BW_OK) {
            s->shipped_seq = s->p_last;
            bw_buf_free(&s->pending, true);
            bw_buf_init(&s->pending, QUEUE_MAX * 2);
            s->p_first = s->p_last = 0;
        }
    }
    bw_buf_free(&obj, false);
    struct bw_log_point head = {.until_ms = until, .last_seq = s->shipped_seq};
    if (rc == BW_OK)
        rc = head_store(s->kr, s->t, s->stream, &head, why, whylen);
    if (rc == BW_OK) {
        *lag_ms = bw_time_now_ms() - until;
        s->last_ok_ms = until;
    }
    return rc;
}
