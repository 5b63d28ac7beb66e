/*
 * archive.c - retention of the audit trail (CONTROL: DATA-06, LOG-06).
 * Events older than retention.audit, taken as a contiguous prefix of the
 * chain and re-verified first (a damaged chain is never laundered into a
 * signed archive), move into archive files DATA/audit/archive/
 * audit-<first>-<last>.bwa, listed in bw_audit_archives; only once the file
 * is durable does one transaction index it, remove the events from the live
 * store and append audit.archived. The chain continues across the boundary:
 * the first live event's prev_hash is the archive's last hash.
 *
 * Format (all integers big-endian):
 *   "BWAUDAR1" | u32 header length | header (JSON) | chunks | signature (64)
 * The header (v 2) names seq range, prev/last hash, times, the first seq
 * whose event hash is v2 (SHA-256; "hash_v2_from", see audit.h) and, per
 * chunk, its first seq, event count, length and BLAKE2b-256 (container
 * hashes over sealed bytes stay BLAKE2b; v 1 archives, all events v1, are
 * still read). A chunk is the JSON lines
 * of up to CHUNK_EVENTS events, zstd-compressed, then sealed by the keyring
 * (AES-256-GCM, AAD "audit-archive:<first>:<chunk first>"). The Ed25519
 * audit key signs "bulwark-audit-archive-v1\n" || header, so the public key
 * alone proves every byte; decrypting (master key) re-checks every event.
 * The reader trusts nothing: lengths are bounded, JSON strict, and
 * decompression capped (fuzzed: fuzz/fuzz_audit_archive.c).
 */
#include "audit/audit_int.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "sys/sys.h"

#include <jansson.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>
#include <zstd.h>

#define MAGIC "BWAUDAR1"
#define SIG_DOMAIN "bulwark-audit-archive-v1\n"
enum {
    CHUNK_EVENTS = 256,
    HEADER_MAX = 16 << 20,
    CHUNK_PLAIN_MAX = 64 << 20,
    ARCHIVE_MAX_EVENTS = 100000,
};

/* ---- writing ----------------------------------------------------------------- */

struct collect {
    int64_t cutoff;
    uint64_t max;
    uint64_t n;
    int64_t first_seq, last_seq, first_ts, last_ts;
    uint8_t prev[BW_AUDIT_HASH_BYTES], last[BW_AUDIT_HASH_BYTES];
    bool broken;
    bool stop;
    struct bw_buf chunk;  /* JSON lines of the current chunk */
    size_t chunk_events;
    int64_t chunk_first;
    json_t *chunks;       /* header list */
    struct bw_buf body;   /* sealed chunks */
    const struct bw_keyring *kr;
    int64_t v2_from;      /* first seq hashed with v2 (written into the header) */
    enum bw_rc err;
};

static enum bw_rc seal_chunk(struct collect *c)
{
    if (c->chunk_events == 0)
        return BW_OK;
    size_t bound = ZSTD_compressBound(c->chunk.len);
    uint8_t *z = bw_malloc(bound), *sealed = bw_malloc(bound + BW_SEAL_OVERHEAD);
    size_t zlen = 0, slen = 0;
    char aad[64], hex[2 * BW_AUDIT_HASH_BYTES + 1];
    uint8_t h[BW_AUDIT_HASH_BYTES];
    enum bw_rc rc = z != NULL && sealed != NULL ? BW_OK : BW_ERR_NOMEM;
    if (rc == BW_OK) {
        zlen = ZSTD_compress(z, bound, c->chunk.data, c->chunk.len, 3);
        rc = ZSTD_isError(zlen) ? BW_ERR_INTERNAL : BW_OK;
    }
    snprintf(aad, sizeof(aad), "audit-archive:%lld:%lld", (long long)c->first_seq,
             (long long)c->chunk_first);
    if (rc == BW_OK)
        rc = bw_keyring_seal(c->kr, aad, z, zlen, sealed, bound + BW_SEAL_OVERHEAD, &slen);
    if (rc == BW_OK) {
        crypto_generichash(h, sizeof(h), sealed, slen, NULL, 0);
        bw_hex(h, sizeof(h), hex);
        json_t *o = json_pack("{s:I, s:I, s:I, s:s}", "first_seq", (json_int_t)c->chunk_first,
                              "count", (json_int_t)c->chunk_events, "len", (json_int_t)slen,
                              "hash", hex);
        rc = o != NULL && json_array_append_new(c->chunks, o) == 0 ? BW_OK : BW_ERR_NOMEM;
    }
    if (rc == BW_OK)
        rc = bw_buf_append(&c->body, sealed, slen);
    bw_free(z);
    bw_free(sealed);
    bw_buf_reset(&c->chunk);
    c->chunk_events = 0;
    return rc;
}

static enum bw_rc collect_event(void *arg, const struct bw_audit_event *ev)
{
    struct collect *c = arg;
    uint8_t h[BW_AUDIT_HASH_BYTES];
    if (ev->ts >= c->cutoff || c->n >= c->max) {
        c->stop = true;
        return BW_ERR_BUSY; /* stops the scan: the prefix ends here */
    }
    if (c->n == 0) {
        c->first_seq = ev->seq;
        c->first_ts = ev->ts;
        memcpy(c->prev, ev->prev_hash, sizeof(c->prev));
        memcpy(c->last, ev->prev_hash, sizeof(c->last));
    }
    enum bw_rc hr = bw_audit_event_hash_at(ev, c->last, c->v2_from, h);
    if (hr != BW_OK)
        return hr;
    if (ev->seq != c->first_seq + (int64_t)c->n || !ev->prev_ok || !ev->hash_ok ||
        memcmp(ev->prev_hash, c->last, sizeof(h)) != 0 || memcmp(h, ev->hash, sizeof(h)) != 0) {
        c->broken = true;
        return BW_ERR_CONFLICT;
    }
    memcpy(c->last, h, sizeof(h));
    c->last_seq = ev->seq;
    c->last_ts = ev->ts;
    c->n++;
    if (c->chunk_events == 0)
        c->chunk_first = ev->seq;
    enum bw_rc rc = bw_audit_format_event(ev, BW_AUDIT_JSONL, NULL, &c->chunk);
    if (rc == BW_OK)
        rc = bw_buf_append(&c->chunk, "\n", 1);
    if (rc == BW_OK && ++c->chunk_events == CHUNK_EVENTS)
        rc = seal_chunk(c);
    return rc;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Header + signature around the sealed chunks: the whole file in *file. */
static enum bw_rc build_file(struct collect *c, struct bw_buf *file)
{
    char prev[65], last[65];
    bw_hex(c->prev, BW_AUDIT_HASH_BYTES, prev);
    bw_hex(c->last, BW_AUDIT_HASH_BYTES, last);
    json_t *hdr = json_pack("{s:i, s:I, s:I, s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:O}", "v", 2,
                            "first_seq", (json_int_t)c->first_seq, "last_seq",
                            (json_int_t)c->last_seq, "count", (json_int_t)c->n, "prev_hash", prev,
                            "last_hash", last, "first_ts", (json_int_t)c->first_ts, "last_ts",
                            (json_int_t)c->last_ts, "created_at", (json_int_t)bw_time_now(),
                            "hash_v2_from", (json_int_t)c->v2_from, "chunks", c->chunks);
    char *text = hdr != NULL ? json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(hdr);
    if (text == NULL)
        return BW_ERR_NOMEM;
    size_t hlen = strlen(text);
    struct bw_buf msg;
    uint8_t sig[BW_SIGN_BYTES], n[4];
    bw_buf_init(&msg, HEADER_MAX + 64);
    enum bw_rc rc = bw_buf_appends(&msg, SIG_DOMAIN);
    if (rc == BW_OK)
        rc = bw_buf_append(&msg, text, hlen);
    if (rc == BW_OK)
        rc = bw_keyring_sign(c->kr, msg.data, msg.len, sig);
    put_u32(n, (uint32_t)hlen);
    if (rc == BW_OK)
        rc = bw_buf_append(file, MAGIC, 8);
    if (rc == BW_OK)
        rc = bw_buf_append(file, n, 4);
    if (rc == BW_OK)
        rc = bw_buf_append(file, text, hlen);
    if (rc == BW_OK)
        rc = bw_buf_append(file, c->body.data, c->body.len);
    if (rc == BW_OK)
        rc = bw_buf_append(file, sig, sizeof(sig));
    bw_buf_free(&msg, false);
    bw_free(text);
    return rc;
}

/* Archives this process has committed: the backup scheduler takes a backup
 * when it moves, since the events left the store for a file that only the
 * next backup carries (bw_audit_archives_written). */
static _Atomic uint64_t archives_written;

uint64_t bw_audit_archives_written(void)
{
    return atomic_load(&archives_written);
}

struct commit {
    const struct collect *c;
    const char *name;
    uint8_t file_hash[BW_AUDIT_HASH_BYTES];
};

static enum bw_rc commit_tx(struct bw_tx *tx, void *arg)
{
    struct commit *k = arg;
    const struct collect *c = k->c;
    struct bw_val p[] = {BW_VINT(c->first_seq),
                         BW_VINT(c->last_seq),
                         BW_VBLOB(c->last, BW_AUDIT_HASH_BYTES),
                         BW_VTEXT(k->name),
                         BW_VBLOB(k->file_hash, BW_AUDIT_HASH_BYTES),
                         BW_VINT(bw_time_now())};
    enum bw_rc rc = bw_tx_exec(tx, BW_STMT_AUDIT_ARCHIVE_INSERT, p, BW_ARRAY_LEN(p), NULL);
    struct bw_val d[] = {BW_VINT(c->last_seq)};
    uint64_t removed = 0;
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_AUDIT_DELETE_UPTO, d, 1, &removed);
    if (rc == BW_OK && removed != c->n)
        rc = BW_ERR_CONFLICT; /* someone else archived or changed the range: roll back */
    if (rc == BW_OK)
        rc = bw_audit_append(tx, NULL, "system", "audit.archived", k->name, BW_AUDIT_SUCCESS,
                             json_pack("{s:I, s:I, s:I}", "first_seq", (json_int_t)c->first_seq,
                                       "last_seq", (json_int_t)c->last_seq, "events",
                                       (json_int_t)c->n));
    return rc;
}

/* Archives one batch; *n = events archived (0 when nothing is old enough). */
static enum bw_rc archive_batch(struct bw_store *st, const struct bw_keyring *kr,
                                const struct bw_audit_settings *s, int64_t cutoff,
                                uint64_t max_events, uint64_t *n)
{
    struct collect c = {.cutoff = cutoff, .max = max_events, .kr = kr};
    struct bw_buf file;
    char dir[4096], rel[128], path[4096], why[256] = "";
    bw_buf_init(&c.chunk, 1 << 30);
    bw_buf_init(&c.body, (size_t)1 << 34);
    bw_buf_init(&file, (size_t)1 << 34);
    c.chunks = json_array();
    enum bw_rc rc = c.chunks != NULL ? BW_OK : BW_ERR_NOMEM;
    if (rc == BW_OK)
        rc = bw_audit_v2_from(st, &c.v2_from);
    if (rc == BW_OK)
        rc = bw_audit_scan_after(st, 0, collect_event, &c);
    if (rc == BW_ERR_BUSY && c.stop)
        rc = BW_OK;
    if (c.broken) {
        bw_log(BW_LOG_ERROR, "audit.retention_refused",
               "the chain is broken near seq %lld; run `bulwark audit verify`",
               (long long)(c.first_seq + (int64_t)c.n));
        rc = BW_ERR_CONFLICT;
    }
    if (rc == BW_OK && c.n > 0)
        rc = seal_chunk(&c);
    if (rc == BW_OK && c.n > 0)
        rc = build_file(&c, &file);
    snprintf(rel, sizeof(rel), "audit-%020lld-%020lld.bwa", (long long)c.first_seq,
             (long long)c.last_seq);
    if (rc == BW_OK && c.n > 0) {
        rc = bw_sys_path(dir, sizeof(dir), s->data_dir, BW_AUDIT_DIR);
        enum bw_rc m = rc == BW_OK ? bw_sys_mkdir_private(dir, why, sizeof(why)) : rc;
        if (rc == BW_OK)
            rc = bw_sys_path(dir, sizeof(dir), s->data_dir, BW_AUDIT_ARCHIVE_DIR);
        m = rc == BW_OK ? bw_sys_mkdir_private(dir, why, sizeof(why)) : rc;
        if (m != BW_OK && m != BW_ERR_EXISTS)
            rc = m;
        if (rc == BW_OK)
            rc = bw_sys_path(path, sizeof(path), dir, rel);
        if (rc == BW_OK)
            rc = bw_sys_write_private(path, file.data, file.len, true, why, sizeof(why));
    }
    if (rc == BW_OK && c.n > 0) {
        struct commit k = {.c = &c, .name = rel};
        crypto_generichash(k.file_hash, sizeof(k.file_hash), (const uint8_t *)file.data,
                           file.len, NULL, 0);
        rc = bw_store_write(st, commit_tx, &k);
        if (rc == BW_OK)
            atomic_fetch_add(&archives_written, 1);
    }
    if (rc == BW_OK)
        *n = c.n;
    json_decref(c.chunks);
    bw_buf_free(&c.chunk, false);
    bw_buf_free(&c.body, false);
    bw_buf_free(&file, false);
    return rc;
}

enum bw_rc bw_audit_retention(struct bw_store *st, const struct bw_keyring *kr,
                              const struct bw_audit_settings *s, int64_t now,
                              uint64_t max_events, uint64_t *archived)
{
    uint64_t total = 0, n = 0;
    enum bw_rc rc;
    if (max_events == 0 || max_events > ARCHIVE_MAX_EVENTS)
        max_events = ARCHIVE_MAX_EVENTS;
    /* CONTROL: DATA-06 - only events older than retention.audit ever leave */
    do {
        n = 0;
        rc = archive_batch(st, kr, s, now - s->retention, max_events, &n);
        total += n;
    } while (rc == BW_OK && n == max_events);
    if (rc == BW_OK && archived != NULL)
        *archived = total;
    return rc;
}

/* ---- the index ------------------------------------------------------------------ */

struct list_arg {
    bw_audit_archive_fn fn;
    void *arg;
};

static enum bw_rc list_row(void *arg, const struct bw_row *row)
{
    const struct list_arg *l = arg;
    char file[128];
    size_t n = 0;
    const char *f = bw_row_text(row, 3, &n);
    if (f == NULL || n >= sizeof(file) || memchr(f, '\0', n) != NULL)
        return BW_ERR_SCHEMA;
    memcpy(file, f, n);
    file[n] = '\0';
    return l->fn(l->arg, file, bw_row_int(row, 0), bw_row_int(row, 1));
}

static enum bw_rc list_tx(struct bw_tx *tx, void *arg)
{
    return bw_tx_query(tx, BW_STMT_AUDIT_ARCHIVE_LIST, NULL, 0, list_row, arg);
}

enum bw_rc bw_audit_archive_list(struct bw_store *st, bw_audit_archive_fn fn, void *arg)
{
    struct list_arg l = {.fn = fn, .arg = arg};
    return bw_store_read(st, list_tx, &l);
}

/* ---- reading (untrusted bytes) ------------------------------------------------ */

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct chunk_ref {
    int64_t first_seq, count;
    size_t len;
    uint8_t hash[BW_AUDIT_HASH_BYTES];
};

struct hdr {
    int64_t first_seq, last_seq, count;
    int64_t v2_from; /* v1 archives: INT64_MAX (every event BLAKE2b) */
    uint8_t prev[BW_AUDIT_HASH_BYTES], last[BW_AUDIT_HASH_BYTES];
    size_t nchunks;
    struct chunk_ref *chunks;
};

static bool int_member(json_t *o, const char *name, int64_t min, int64_t *out)
{
    json_t *v = json_object_get(o, name);
    if (!json_is_integer(v) || json_integer_value(v) < min)
        return false;
    *out = json_integer_value(v);
    return true;
}

static bool hash_member(json_t *o, const char *name, uint8_t out[BW_AUDIT_HASH_BYTES])
{
    json_t *v = json_object_get(o, name);
    size_t bin = 0;
    return json_is_string(v) && json_string_length(v) == 2 * BW_AUDIT_HASH_BYTES &&
           sodium_hex2bin(out, BW_AUDIT_HASH_BYTES, json_string_value(v),
                          json_string_length(v), NULL, &bin, NULL) == 0 &&
           bin == BW_AUDIT_HASH_BYTES;
}

/* Parses and bounds-checks the header against the bytes that follow it. */
static enum bw_rc parse_header(const char *text, size_t len, size_t body_len, struct hdr *h)
{
    json_error_t err;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    json_t *ch = json_object_get(o, "chunks");
    int64_t v = 0;
    enum bw_rc rc = BW_ERR_INVALID;
    if (!json_is_object(o) || !int_member(o, "v", 1, &v) || v > 2 ||
        !int_member(o, "first_seq", 1, &h->first_seq) ||
        !int_member(o, "last_seq", h->first_seq, &h->last_seq) ||
        !int_member(o, "count", 1, &h->count) || h->count != h->last_seq - h->first_seq + 1 ||
        !hash_member(o, "prev_hash", h->prev) || !hash_member(o, "last_hash", h->last) ||
        !json_is_array(ch) || json_array_size(ch) == 0 ||
        json_array_size(ch) > (size_t)h->count)
        goto out;
    h->v2_from = INT64_MAX;
    if (v == 2 && !int_member(o, "hash_v2_from", 1, &h->v2_from))
        goto out;
    h->nchunks = json_array_size(ch);
    h->chunks = bw_calloc(h->nchunks, sizeof(*h->chunks));
    if (h->chunks == NULL) {
        rc = BW_ERR_NOMEM;
        goto out;
    }
    size_t total = 0;
    int64_t next = h->first_seq;
    for (size_t i = 0; i < h->nchunks; i++) {
        json_t *c = json_array_get(ch, i);
        struct chunk_ref *r = &h->chunks[i];
        int64_t l = 0;
        if (!json_is_object(c) || !int_member(c, "first_seq", 1, &r->first_seq) ||
            r->first_seq != next || !int_member(c, "count", 1, &r->count) ||
            r->count > CHUNK_EVENTS || !int_member(c, "len", BW_SEAL_OVERHEAD, &l) ||
            (uint64_t)l > body_len - total || !hash_member(c, "hash", r->hash))
            goto out;
        r->len = (size_t)l;
        total += r->len;
        next += r->count;
    }
    if (total == body_len && next == h->last_seq + 1)
        rc = BW_OK;
out:
    json_decref(o);
    return rc;
}

/* Decrypts, decompresses and walks one chunk's events. */
static enum bw_rc walk_chunk(const struct hdr *h, const struct chunk_ref *r, const uint8_t *p,
                             const struct bw_keyring *kr, struct bw_audit_walk *w)
{
    char aad[64];
    size_t zlen = 0;
    uint8_t *z = bw_malloc(r->len);
    char *plain = NULL;
    enum bw_rc rc = z != NULL ? BW_OK : BW_ERR_NOMEM;
    snprintf(aad, sizeof(aad), "audit-archive:%lld:%lld", (long long)h->first_seq,
             (long long)r->first_seq);
    if (rc == BW_OK && bw_keyring_open(kr, aad, p, r->len, z, r->len, &zlen) != BW_OK) {
        bw_audit_fail(w->rep, r->first_seq, "%s: chunk at seq %lld does not decrypt", w->where,
                      (long long)r->first_seq);
        rc = BW_ERR_CONFLICT;
    }
    unsigned long long plen = rc == BW_OK ? ZSTD_getFrameContentSize(z, zlen) : 0;
    if (rc == BW_OK && (plen == ZSTD_CONTENTSIZE_ERROR || plen == ZSTD_CONTENTSIZE_UNKNOWN ||
                        plen == 0 || plen > CHUNK_PLAIN_MAX)) {
        bw_audit_fail(w->rep, r->first_seq, "%s: chunk at seq %lld is not a bounded zstd frame",
                      w->where, (long long)r->first_seq);
        rc = BW_ERR_CONFLICT;
    }
    if (rc == BW_OK && (plain = bw_malloc((size_t)plen)) == NULL)
        rc = BW_ERR_NOMEM;
    if (rc == BW_OK && ZSTD_decompress(plain, (size_t)plen, z, zlen) != plen) {
        bw_audit_fail(w->rep, r->first_seq, "%s: chunk at seq %lld does not decompress",
                      w->where, (long long)r->first_seq);
        rc = BW_ERR_CONFLICT;
    }
    size_t off = 0;
    int64_t seen = 0;
    while (rc == BW_OK && off < plen) {
        const char *nl = memchr(plain + off, '\n', (size_t)plen - off);
        size_t n = nl != NULL ? (size_t)(nl - (plain + off)) : (size_t)plen - off;
        struct bw_audit_event ev;
        json_t *keep = NULL;
        if (bw_audit_parse_line(plain + off, n, &ev, &keep) != BW_OK) {
            bw_audit_fail(w->rep, w->expect_seq, "%s: event line after seq %lld is malformed",
                          w->where, (long long)(w->expect_seq - 1));
            rc = BW_ERR_CONFLICT;
            break;
        }
        rc = bw_audit_walk_event(w, &ev);
        json_decref(keep);
        seen++;
        off += n + 1;
    }
    if (rc == BW_OK && seen != r->count) {
        bw_audit_fail(w->rep, r->first_seq + seen, "%s: chunk at seq %lld holds %lld events, "
                      "its header says %lld", w->where, (long long)r->first_seq,
                      (long long)seen, (long long)r->count);
        rc = BW_ERR_CONFLICT;
    }
    bw_free(z);
    bw_free(plain);
    return rc;
}

/* Archive check on top of a walk; BW_ERR_CONFLICT once rep holds a failure. */
enum bw_rc bw_audit_walk_archive(struct bw_audit_walk *w, const uint8_t *data, size_t len,
                                 const uint8_t pk[32], const struct bw_keyring *kr)
{
    struct hdr h = {0};
    int64_t at = w->expect_seq > 0 ? w->expect_seq : 1;
    enum bw_rc rc = BW_OK;
    uint32_t hlen = len >= 12 ? get_u32(data + 8) : 0;
    if (len < 12 + BW_SIGN_BYTES || memcmp(data, MAGIC, 8) != 0 || hlen == 0 ||
        hlen > HEADER_MAX || hlen > len - 12 - BW_SIGN_BYTES ||
        parse_header((const char *)data + 12, hlen, len - 12 - hlen - BW_SIGN_BYTES, &h) !=
            BW_OK) {
        bw_audit_fail(w->rep, at, "%s: not a valid archive (bad magic, lengths or header)",
                      w->where);
        rc = BW_ERR_CONFLICT;
        goto out;
    }
    if (w->expect_seq == 0) { /* standalone: start where the archive starts */
        w->expect_seq = h.first_seq;
        memcpy(w->prev, h.prev, BW_AUDIT_HASH_BYTES);
    }
    if (h.first_seq != w->expect_seq || sodium_memcmp(h.prev, w->prev, BW_AUDIT_HASH_BYTES)) {
        bw_audit_fail(w->rep, w->expect_seq, "%s: starts at seq %lld, the chain continues at "
                      "seq %lld", w->where, (long long)h.first_seq, (long long)w->expect_seq);
        rc = BW_ERR_CONFLICT;
        goto out;
    }
    const uint8_t *p = data + 12 + hlen;
    for (size_t i = 0; i < h.nchunks; i++) {
        uint8_t hh[BW_AUDIT_HASH_BYTES];
        crypto_generichash(hh, sizeof(hh), p, h.chunks[i].len, NULL, 0);
        if (sodium_memcmp(hh, h.chunks[i].hash, sizeof(hh)) != 0) {
            bw_audit_fail(w->rep, h.chunks[i].first_seq, "%s: chunk at seq %lld was altered",
                          w->where, (long long)h.chunks[i].first_seq);
            rc = BW_ERR_CONFLICT;
            goto out;
        }
        p += h.chunks[i].len;
    }
    struct bw_buf msg;
    bw_buf_init(&msg, HEADER_MAX + 64);
    rc = bw_buf_appends(&msg, SIG_DOMAIN);
    if (rc == BW_OK)
        rc = bw_buf_append(&msg, data + 12, hlen);
    if (rc == BW_OK && bw_sign_verify(pk, msg.data, msg.len, data + len - BW_SIGN_BYTES) != BW_OK) {
        bw_audit_fail(w->rep, h.first_seq, "%s: signature does not match the audit public key",
                      w->where);
        rc = BW_ERR_CONFLICT;
    }
    bw_buf_free(&msg, false);
    p = data + 12 + hlen;
    int64_t v2_from = w->v2_from;
    w->v2_from = h.v2_from; /* the signed header says how its events are hashed */
    for (size_t i = 0; rc == BW_OK && kr != NULL && i < h.nchunks; i++) {
        rc = walk_chunk(&h, &h.chunks[i], p, kr, w);
        p += h.chunks[i].len;
    }
    w->v2_from = v2_from;
    if (rc == BW_OK && kr == NULL) { /* public key only: take the signed ends */
        w->expect_seq = h.last_seq + 1;
        memcpy(w->prev, h.last, BW_AUDIT_HASH_BYTES);
    }
    if (rc == BW_OK && (w->expect_seq != h.last_seq + 1 ||
                        sodium_memcmp(w->prev, h.last, BW_AUDIT_HASH_BYTES) != 0)) {
        bw_audit_fail(w->rep, h.last_seq, "%s: events do not end at the signed last hash",
                      w->where);
        rc = BW_ERR_CONFLICT;
    }
    if (rc == BW_OK)
        w->rep->archives++;
out:
    bw_free(h.chunks);
    return rc;
}
