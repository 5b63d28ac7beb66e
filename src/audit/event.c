/*
 * event.c - appends audit events in the caller's transaction and chains
 * them (CONTROL: LOG-01, LOG-06). The head row is read (locked on
 * PostgreSQL) and moved in the same transaction as the event, so the chain
 * has one order whatever the number of writers and a rolled-back
 * transaction leaves neither event nor head behind. Details are serialised
 * by jansson (compact, key order kept); callers guarantee they hold no
 * secrets. The catalogue of action names is docs/AUDIT.md.
 * Never edits or deletes an event.
 */
#include "audit/audit_int.h"
#include "store/store.h"

#include <assert.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <sodium.h>
#include <string.h>

static const char *const outcome_name[] = {"success", "failure", "denied"};

#define DOMAIN_V1 "bulwark-audit-v1"
#define DOMAIN_V2 "bulwark-audit-v2"

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_u32(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The eight strings of the canonical encoding, in their order. */
#define EVENT_STRS(ev)                                                                    \
    {                                                                                     \
        &(ev)->actor, &(ev)->action, &(ev)->target, &(ev)->outcome, &(ev)->remote,        \
            &(ev)->request_id, &(ev)->details, &(ev)->org                                 \
    }

/* ---- v1: BLAKE2b-256, chains written before migration 0009 -------------- */

static void hash_str_v1(crypto_generichash_state *h, const struct bw_audit_str *s)
{
    uint8_t n[4];
    put_u32(n, s->len);
    crypto_generichash_update(h, n, sizeof(n));
    if (s->len > 0)
        crypto_generichash_update(h, (const unsigned char *)s->p, s->len);
}

static void event_hash_v1(const struct bw_audit_event *ev, const uint8_t prev[BW_AUDIT_HASH_BYTES],
                          uint8_t out[BW_AUDIT_HASH_BYTES])
{
    crypto_generichash_state h;
    uint8_t nums[16];
    put_u64(nums, (uint64_t)ev->seq);
    put_u64(nums + 8, (uint64_t)ev->ts);
    crypto_generichash_init(&h, NULL, 0, BW_AUDIT_HASH_BYTES);
    crypto_generichash_update(&h, (const unsigned char *)DOMAIN_V1, sizeof(DOMAIN_V1) - 1);
    crypto_generichash_update(&h, prev, BW_AUDIT_HASH_BYTES);
    crypto_generichash_update(&h, nums, sizeof(nums));
    const struct bw_audit_str *f[] = EVENT_STRS(ev);
    for (size_t i = 0; i < BW_ARRAY_LEN(f); i++)
        hash_str_v1(&h, f[i]);
    crypto_generichash_final(&h, out, BW_AUDIT_HASH_BYTES);
}

/* ---- v2: SHA-256 through GnuTLS (SHA-NI where the CPU has it) ----------- */

/* Writes the v2 message into buf (which holds bw_audit_event_size bytes). */
static void encode_v2(const struct bw_audit_event *ev, const uint8_t prev[BW_AUDIT_HASH_BYTES],
                      uint8_t *buf)
{
    uint8_t *p = buf;
    memcpy(p, DOMAIN_V2, sizeof(DOMAIN_V2) - 1);
    p += sizeof(DOMAIN_V2) - 1;
    memcpy(p, prev, BW_AUDIT_HASH_BYTES);
    p += BW_AUDIT_HASH_BYTES;
    put_u64(p, (uint64_t)ev->seq);
    put_u64(p + 8, (uint64_t)ev->ts);
    p += 16;
    const struct bw_audit_str *f[] = EVENT_STRS(ev);
    for (size_t i = 0; i < BW_ARRAY_LEN(f); i++) {
        put_u32(p, f[i]->len);
        p += 4;
        if (f[i]->len > 0)
            memcpy(p, f[i]->p, f[i]->len);
        p += f[i]->len;
    }
    assert((size_t)(p - buf) == bw_audit_event_size(ev));
}

enum { HASH_STACK = 4096 };

enum bw_rc bw_audit_event_hash(const struct bw_audit_event *ev,
                               const uint8_t prev[BW_AUDIT_HASH_BYTES],
                               uint8_t out[BW_AUDIT_HASH_BYTES])
{
    uint8_t stack[HASH_STACK], *buf = stack;
    size_t n = bw_audit_event_size(ev);
    /* one contiguous message, one call: no per-event allocation or context
     * set-up in the common case (verify hashes millions of these) */
    if (n > sizeof(stack) && (buf = bw_malloc(n)) == NULL)
        return BW_ERR_NOMEM;
    encode_v2(ev, prev, buf);
    int r = gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, n, out);
    if (buf != stack)
        bw_free(buf);
    return r == 0 ? BW_OK : BW_ERR_INTERNAL;
}

enum bw_rc bw_audit_event_hash_at(const struct bw_audit_event *ev,
                                  const uint8_t prev[BW_AUDIT_HASH_BYTES], int64_t v2_from,
                                  uint8_t out[BW_AUDIT_HASH_BYTES])
{
    if (ev->seq >= v2_from)
        return bw_audit_event_hash(ev, prev, out);
    event_hash_v1(ev, prev, out);
    return BW_OK;
}

size_t bw_audit_event_size(const struct bw_audit_event *ev)
{
    /* the same length for v1 and v2: equal-length domain strings */
    return sizeof(DOMAIN_V2) - 1 + BW_AUDIT_HASH_BYTES + 16 + 8 * 4 + ev->actor.len +
           ev->action.len + ev->target.len + ev->outcome.len + ev->remote.len +
           ev->request_id.len + ev->details.len + ev->org.len;
}

static enum bw_rc v2_from_tx(struct bw_tx *tx, void *arg)
{
    struct bw_buf v;
    uint64_t n = 0;
    bw_buf_init(&v, 64);
    enum bw_rc rc = bw_store_meta_get(tx, BW_AUDIT_V2_FROM_KEY, &v);
    if (rc == BW_OK)
        rc = bw_parse_u64(v.data, INT64_MAX, &n) == BW_OK && n >= 1 ? BW_OK : BW_ERR_SCHEMA;
    if (rc == BW_OK)
        *(int64_t *)arg = (int64_t)n;
    else if (rc == BW_ERR_NOTFOUND)
        rc = BW_OK; /* the caller's default: everything v2 */
    bw_buf_free(&v, false);
    return rc;
}

enum bw_rc bw_audit_v2_from(struct bw_store *st, int64_t *out)
{
    int64_t v = 1;
    enum bw_rc rc = bw_store_read(st, v2_from_tx, &v);
    if (rc == BW_OK)
        *out = v;
    return rc;
}

static enum bw_rc head_seq_row(void *arg, const struct bw_row *row)
{
    *(int64_t *)arg = bw_row_int(row, 0);
    return BW_OK;
}

static enum bw_rc head_seq_tx(struct bw_tx *tx, void *arg)
{
    return bw_tx_query(tx, BW_STMT_AUDIT_HEAD_GET, NULL, 0, head_seq_row, arg);
}

enum bw_rc bw_audit_head_seq(struct bw_store *st, int64_t *out)
{
    int64_t seq = 0;
    enum bw_rc rc = bw_store_read(st, head_seq_tx, &seq);
    if (rc == BW_OK)
        *out = seq;
    return rc;
}

/* The audit columns are NOT NULL, and a NULL planted anyway reads as no
 * bytes (row_text/row_blob answer NULL for it), so no separate NULL test:
 * verify reads millions of rows and each column call costs. */
static struct bw_audit_str col_str(const struct bw_row *row, size_t col)
{
    size_t n = 0;
    const char *p = bw_row_text(row, col, &n);
    return (struct bw_audit_str){p != NULL ? p : "", p != NULL ? n : 0};
}

static bool col_hash(const struct bw_row *row, size_t col, uint8_t out[BW_AUDIT_HASH_BYTES])
{
    size_t n = 0;
    const void *p = bw_row_blob(row, col, &n);
    memset(out, 0, BW_AUDIT_HASH_BYTES);
    if (p == NULL || n != BW_AUDIT_HASH_BYTES)
        return false;
    memcpy(out, p, BW_AUDIT_HASH_BYTES);
    return true;
}

void bw_audit_event_from_row(const struct bw_row *row, struct bw_audit_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->seq = bw_row_int(row, BW_ACOL_SEQ);
    ev->ts = bw_row_int(row, BW_ACOL_TS);
    ev->actor = col_str(row, BW_ACOL_ACTOR);
    ev->action = col_str(row, BW_ACOL_ACTION);
    ev->target = col_str(row, BW_ACOL_TARGET);
    ev->outcome = col_str(row, BW_ACOL_OUTCOME);
    ev->remote = col_str(row, BW_ACOL_REMOTE);
    ev->request_id = col_str(row, BW_ACOL_REQUEST_ID);
    ev->details = col_str(row, BW_ACOL_DETAILS);
    ev->org = col_str(row, BW_ACOL_ORG);
    ev->prev_ok = col_hash(row, BW_ACOL_PREV_HASH, ev->prev_hash);
    ev->hash_ok = col_hash(row, BW_ACOL_HASH, ev->hash);
}

struct head {
    bool found;
    int64_t seq;
    uint8_t hash[BW_AUDIT_HASH_BYTES];
};

static enum bw_rc head_row(void *arg, const struct bw_row *row)
{
    struct head *h = arg;
    size_t n = 0;
    const void *p = bw_row_blob(row, 1, &n);
    if (p == NULL || n != BW_AUDIT_HASH_BYTES)
        return BW_ERR_SCHEMA; /* a damaged head refuses appends; verify names it */
    h->seq = bw_row_int(row, 0);
    memcpy(h->hash, p, BW_AUDIT_HASH_BYTES);
    h->found = true;
    return BW_OK;
}

static struct bw_audit_str s_of(const char *s)
{
    return (struct bw_audit_str){s, strlen(s)};
}

/* Chains `ev` (seq and hashes filled here) after the locked head. */
enum bw_rc bw_audit_chain_append(struct bw_tx *tx, struct bw_audit_event *ev)
{
    struct head h = {0};
    /* CONTROL: LOG-06 - one order for all writers: the head row is locked
     * (PostgreSQL) or owned by the single writer (SQLite) until commit */
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_AUDIT_HEAD_LOCK, NULL, 0, head_row, &h);
    if (rc == BW_OK && !h.found)
        rc = BW_ERR_SCHEMA;
    if (rc != BW_OK)
        return rc;
    ev->seq = h.seq + 1;
    memcpy(ev->prev_hash, h.hash, BW_AUDIT_HASH_BYTES);
    /* new events are always v2: migration 0009 put the v1/v2 boundary at
     * or below head + 1 */
    rc = bw_audit_event_hash(ev, ev->prev_hash, ev->hash);
    if (rc != BW_OK)
        return rc;
    struct bw_val p[] = {
        BW_VINT(ev->seq),
        BW_VINT(ev->ts),
        BW_VTEXTN(ev->actor.p, ev->actor.len),
        BW_VTEXTN(ev->action.p, ev->action.len),
        BW_VTEXTN(ev->target.p, ev->target.len),
        BW_VTEXTN(ev->outcome.p, ev->outcome.len),
        BW_VTEXTN(ev->remote.p, ev->remote.len),
        BW_VTEXTN(ev->request_id.p, ev->request_id.len),
        BW_VTEXTN(ev->details.p, ev->details.len),
        BW_VTEXTN(ev->org.p, ev->org.len),
        BW_VBLOB(ev->prev_hash, BW_AUDIT_HASH_BYTES),
        BW_VBLOB(ev->hash, BW_AUDIT_HASH_BYTES),
    };
    rc = bw_tx_exec(tx, BW_STMT_AUDIT_APPEND, p, BW_ARRAY_LEN(p), NULL);
    if (rc == BW_OK) {
        struct bw_val hp[] = {BW_VINT(ev->seq), BW_VBLOB(ev->hash, BW_AUDIT_HASH_BYTES)};
        rc = bw_tx_exec(tx, BW_STMT_AUDIT_HEAD_SET, hp, BW_ARRAY_LEN(hp), NULL);
    }
    return rc;
}

static bool printable(const char *s)
{
    return s != NULL && s[0] != '\0' && bw_utf8_valid(s, strlen(s));
}

/* ---- head lock last: appends deferred to the end of the transaction ------ */

/* One event waiting for the end of its bw_audit_write transaction; every
 * string copied (the caller's buffers may be gone by then). */
struct pending {
    struct pending *next;
    int64_t ts;
    char *f[8]; /* actor, action, target, outcome, remote, request_id, details, org */
};

struct defer {
    struct bw_tx *tx;
    struct pending *head, **tail;
};

/* The transaction whose appends this thread is deferring (NULL: none). A
 * bw_audit_write callback runs start to end on one thread (store.h). */
static _Thread_local struct defer *deferring;

static void pending_free(struct pending *p)
{
    while (p != NULL) {
        struct pending *next = p->next;
        for (size_t i = 0; i < BW_ARRAY_LEN(p->f); i++)
            bw_free(p->f[i]);
        bw_free(p);
        p = next;
    }
}

static struct bw_audit_event pending_event(const struct pending *p)
{
    return (struct bw_audit_event){
        .ts = p->ts, .actor = s_of(p->f[0]), .action = s_of(p->f[1]), .target = s_of(p->f[2]),
        .outcome = s_of(p->f[3]), .remote = s_of(p->f[4]), .request_id = s_of(p->f[5]),
        .details = s_of(p->f[6]), .org = s_of(p->f[7])};
}

static enum bw_rc defer_event(struct defer *d, const struct bw_audit_event *ev)
{
    struct pending *p = bw_calloc(1, sizeof(*p));
    if (p == NULL)
        return BW_ERR_NOMEM;
    const struct bw_audit_str *f[] = EVENT_STRS(ev);
    /* EVENT_STRS order ends details, org as f[] of struct pending does */
    p->ts = ev->ts;
    for (size_t i = 0; i < BW_ARRAY_LEN(f); i++) {
        if ((p->f[i] = bw_strndup(f[i]->p, f[i]->len)) == NULL) {
            pending_free(p);
            return BW_ERR_NOMEM;
        }
    }
    *d->tail = p;
    d->tail = &p->next;
    return BW_OK;
}

struct wrap {
    bw_tx_fn fn;
    void *arg;
};

static enum bw_rc wrap_tx(struct bw_tx *tx, void *arg)
{
    const struct wrap *w = arg;
    struct defer d = {.tx = tx, .head = NULL, .tail = &d.head};
    struct defer *outer = deferring;
    deferring = &d;
    enum bw_rc rc = w->fn(tx, w->arg);
    deferring = outer;
    /* CONTROL: LOG-06 - the head row is locked only now, after every row
     * lock the change took, so this transaction never waits for a row while
     * holding the head (the PostgreSQL lock-order deadlock) */
    for (struct pending *p = d.head; rc == BW_OK && p != NULL; p = p->next) {
        struct bw_audit_event ev = pending_event(p);
        rc = bw_audit_chain_append(tx, &ev);
    }
    pending_free(d.head);
    return rc;
}

enum bw_rc bw_audit_write(struct bw_store *st, bw_tx_fn fn, void *arg)
{
    struct wrap w = {fn, arg};
    return bw_store_write(st, wrap_tx, &w);
}

enum bw_rc bw_audit_append(struct bw_tx *tx, const struct bw_audit_ctx *ctx, const char *actor,
                           const char *action, const char *target,
                           enum bw_audit_outcome outcome, json_t *details)
{
    if (details == NULL)
        details = json_object();
    char *text = details != NULL ? json_dumps(details, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(details);
    if (text == NULL)
        return BW_ERR_NOMEM;
    if (!printable(actor) || !printable(action) || (unsigned)outcome >= 3) {
        bw_free(text);
        return BW_ERR_INVALID;
    }
    const char *remote = ctx != NULL && ctx->remote != NULL ? ctx->remote : "-";
    const char *rid = ctx != NULL && ctx->request_id != NULL ? ctx->request_id : "-";
    const char *org = ctx != NULL && ctx->org != NULL ? ctx->org : "-";
    struct bw_audit_event ev = {
        .ts = bw_time_now(), /* CONTROL: G-03 - the one UTC clock */
        .actor = s_of(actor),
        .action = s_of(action),
        .target = s_of(target != NULL ? target : "-"),
        .outcome = s_of(outcome_name[outcome]),
        .remote = s_of(remote),
        .request_id = s_of(rid),
        .details = s_of(text),
        .org = s_of(org),
    };
    enum bw_rc rc = deferring != NULL && deferring->tx == tx ? defer_event(deferring, &ev)
                                                              : bw_audit_chain_append(tx, &ev);
    bw_free(text);
    return rc;
}

/* ---- events written before the chain existed (migration 0004) ----------- */

struct legacy {
    bool found;
    int64_t seq, ts;
    char *f[7]; /* actor, action, target, outcome, remote, request_id, details */
    enum bw_rc rc;
};

static void legacy_clear(struct legacy *l)
{
    for (size_t i = 0; i < BW_ARRAY_LEN(l->f); i++)
        bw_free(l->f[i]);
    memset(l, 0, sizeof(*l));
}

static enum bw_rc legacy_row(void *arg, const struct bw_row *row)
{
    struct legacy *l = arg;
    l->seq = bw_row_int(row, 0);
    l->ts = bw_row_int(row, 1);
    for (size_t i = 0; i < BW_ARRAY_LEN(l->f); i++) {
        struct bw_audit_str s = col_str(row, 2 + i);
        l->f[i] = bw_strndup(s.p, s.len);
        if (l->f[i] == NULL)
            return BW_ERR_NOMEM;
    }
    l->found = true;
    return BW_OK;
}

/* Moves up to 500 legacy events per transaction; *moved counts them. */
static enum bw_rc adopt_tx(struct bw_tx *tx, void *arg)
{
    uint64_t *moved = arg;
    struct bw_val lim[] = {BW_VINT(1)};
    enum bw_rc rc = BW_OK;
    *moved = 0;
    for (int n = 0; rc == BW_OK && n < 500; n++) {
        struct legacy l = {0};
        rc = bw_tx_query(tx, BW_STMT_AUDIT_LEGACY_LIST, lim, 1, legacy_row, &l);
        if (rc == BW_OK && l.found) {
            struct bw_audit_event ev = {
                .ts = l.ts, .actor = s_of(l.f[0]), .action = s_of(l.f[1]),
                .target = s_of(l.f[2]), .outcome = s_of(l.f[3]), .remote = s_of(l.f[4]),
                .request_id = s_of(l.f[5]), .details = s_of(l.f[6]), .org = s_of("-")};
            rc = bw_audit_chain_append(tx, &ev);
            struct bw_val p[] = {BW_VINT(l.seq)};
            if (rc == BW_OK)
                rc = bw_tx_exec(tx, BW_STMT_AUDIT_LEGACY_DELETE, p, 1, NULL);
            if (rc == BW_OK)
                (*moved)++;
        }
        bool more = l.found;
        legacy_clear(&l);
        if (!more)
            break;
    }
    return rc;
}

enum bw_rc bw_audit_adopt_legacy(struct bw_store *st, uint64_t *moved)
{
    uint64_t n = 0, total = 0;
    enum bw_rc rc;
    do {
        rc = bw_store_write(st, adopt_tx, &n);
        total += rc == BW_OK ? n : 0;
    } while (rc == BW_OK && n > 0);
    if (rc == BW_OK && moved != NULL)
        *moved = total;
    return rc;
}
