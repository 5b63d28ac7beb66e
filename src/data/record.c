/*
 * record.c - records of a collection: create, read, list, replace with a
 * version check, soft delete, restore, the organisation export, and the
 * envelope encryption of confidential and restricted bodies (CONTROL:
 * CRY-01, DATA-02, DATA-04, LOG-03, G-09; SPEC invariant 4).
 *
 * Bodies of confidential and restricted collections are sealed by the
 * keyring under the record's own data key (wrapped by the organisation
 * key, wrapped by a master key version) with a fresh nonce per write and
 * associated data binding organisation, collection, record id and version:
 * a body copied onto another row, or left over from another version, fails
 * to open. The wrapped keys live in the key store (db/keys.db, schema
 * bulwark_keys), apart from the record rows (decision C6); no key is ever
 * created here, inside a record transaction: a missing one is asked for
 * through the key handshake (data.h, struct bw_keyneed) and committed
 * first by keys.c. A body that fails to open is never answered: the read
 * fails closed and crypto.integrity_fail is audited.
 *
 * Every statement binds the organisation id (and the collection): ids of
 * other organisations match no row. Reads of confidential and restricted
 * records are audited (record.read, ids only) in the same write
 * transaction as the read, so no content leaves before its event commits.
 * Never logs or audits record content.
 */
#include "audit/audit.h"
#include "crypto/crypto.h"
#include "data/data.h"
#include "store/store.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define AAD_MAX 192
#define BODY_MAX (64u << 20)

static bool sealed_class(enum bw_class c)
{
    return c == BW_CLASS_CONFIDENTIAL || c == BW_CLASS_RESTRICTED;
}

void bw_record_cleanup(struct bw_record *r)
{
    if (r == NULL)
        return;
    json_decref(r->data);
    r->data = NULL;
}

json_t *bw_record_json(const struct bw_record *r)
{
    char created[21], updated[21];
    bw_time_format(r->created_at, created);
    bw_time_format(r->updated_at, updated);
    return json_pack("{s:s, s:I, s:s, s:s, s:O}", "id", r->id, "version",
                     (json_int_t)r->version, "created_at", created, "updated_at", updated,
                     "data", r->data != NULL ? r->data : json_null());
}

static size_t record_aad(char out[AAD_MAX], const char *org, const char *coll, const char *id,
                         int64_t version)
{
    int n = snprintf(out, AAD_MAX, "bw-record:v1:%s:%s:%s:%lld", org, coll, id,
                     (long long)version);
    return n > 0 && n < AAD_MAX ? (size_t)n : 0;
}

/* ---- keys --------------------------------------------------------------------- */

struct orgkey_row {
    int mversion;
    uint8_t wrapped[BW_WRAPPED_KEY_BYTES];
    bool found;
};

static enum bw_rc orgkey_row(void *arg, const struct bw_row *row)
{
    struct orgkey_row *k = arg;
    size_t n = 0;
    const void *b = bw_row_blob(row, 1, &n);
    int64_t v = bw_row_int(row, 0);
    if (b == NULL || n != BW_WRAPPED_KEY_BYTES || v < 1 || v > 1000000)
        return BW_ERR_CRYPTO;
    k->mversion = (int)v;
    memcpy(k->wrapped, b, n);
    k->found = true;
    return BW_OK;
}

/* Asks the caller for a key the store lacks (the key handshake): nothing of
 * this transaction may commit, so the answer is BW_ERR_BUSY. */
static enum bw_rc need_key(const struct bw_data_ctx *dc, const char *coll, const char *id)
{
    if (dc->keys != NULL) {
        dc->keys->pending = true;
        dc->keys->all = false;
        snprintf(dc->keys->collection, sizeof(dc->keys->collection), "%s", coll);
        snprintf(dc->keys->record_id, sizeof(dc->keys->record_id), "%s", id);
    }
    return BW_ERR_BUSY;
}

/* The organisation's wrapped key; BW_ERR_CRYPTO when it has none. */
static enum bw_rc orgkey_get(struct bw_tx *tx, const struct bw_data_ctx *dc,
                             struct orgkey_row *out)
{
    struct bw_val p[] = {BW_VTEXT(dc->org_id)};
    out->found = false;
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_ORGKEY_GET, p, 1, orgkey_row, out);
    return rc != BW_OK ? rc : (out->found ? BW_OK : BW_ERR_CRYPTO);
}

struct dek_row {
    uint8_t wrapped[BW_WRAPPED_KEY_BYTES];
    bool found;
};

static enum bw_rc dek_row(void *arg, const struct bw_row *row)
{
    struct dek_row *d = arg;
    size_t n = 0;
    const void *b = bw_row_blob(row, 0, &n);
    if (b == NULL || n != BW_WRAPPED_KEY_BYTES)
        return BW_OK; /* a damaged key row opens nothing: found stays false */
    memcpy(d->wrapped, b, n);
    d->found = true;
    return BW_OK;
}

static enum bw_rc dek_get(struct bw_tx *tx, const char *org_id, const char *id,
                          struct dek_row *out)
{
    struct bw_val p[] = {BW_VTEXT(org_id), BW_VTEXT(id)};
    out->found = false;
    return bw_tx_query(tx, BW_STMT_DATAKEY_GET, p, 2, dek_row, out);
}

/* ---- bodies ------------------------------------------------------------------- */

/* A stored body: the JSON text (public, internal) or its sealed form. */
struct body {
    uint8_t *p; /* bw_malloc */
    size_t len;
    bool encrypted;
};

static void body_free(struct body *b)
{
    bw_free(b->p);
    b->p = NULL;
}

/* Encodes `data` for version `version` of record `id`: sealed under the
 * record's data key for sealed classes (BW_ERR_BUSY through the key
 * handshake when the organisation or the record has no key yet). */
static enum bw_rc body_encode(struct bw_tx *tx, const struct bw_data_ctx *dc,
                              const struct bw_collection *c, const char *id, int64_t version,
                              const json_t *data, struct body *out)
{
    enum bw_rc rc = BW_ERR_NOMEM;
    char *text = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL)
        return BW_ERR_NOMEM;
    size_t len = strlen(text);
    memset(out, 0, sizeof(*out));
    if (!sealed_class(c->cls)) {
        out->p = (uint8_t *)text;
        out->len = len;
        return BW_OK;
    }
    struct orgkey_row ok;
    struct dek_row dek;
    char aad[AAD_MAX];
    size_t alen = record_aad(aad, dc->org_id, c->name, id, version);
    rc = alen == 0 ? BW_ERR_INVALID : orgkey_get(tx, dc, &ok);
    if (rc == BW_ERR_CRYPTO)
        rc = need_key(dc, c->name, id); /* the organisation's first sealed record */
    if (rc == BW_OK)
        rc = dek_get(tx, dc->org_id, id, &dek);
    struct bw_orgkey okr = {dc->org_id, ok.mversion, ok.wrapped};
    if (rc == BW_OK && !dek.found)
        rc = need_key(dc, c->name, id); /* CONTROL: C6 - the key commits before the record */
    if (rc == BW_OK) {
        out->p = bw_malloc(len + BW_SEAL_OVERHEAD);
        rc = out->p == NULL ? BW_ERR_NOMEM
                            : bw_keyring_record_seal(dc->kr, &okr, id, dek.wrapped, aad, alen,
                                                     (const uint8_t *)text, len, out->p,
                                                     len + BW_SEAL_OVERHEAD, &out->len);
        out->encrypted = true;
    }
    sodium_memzero(text, len);
    bw_free(text);
    if (rc != BW_OK)
        body_free(out);
    return rc;
}

/* A stored row, copied out of the result (bodies are decoded after the
 * query: decoding runs statements of its own). */
struct rec_row {
    char id[BW_ID_LEN + 1];
    int64_t version, created_at, updated_at, deleted_at;
    struct body body;
};

struct rec_rows {
    struct rec_row *r;
    size_t n, cap;
};

static void rows_free(struct rec_rows *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        body_free(&rs->r[i].body);
    bw_free(rs->r);
    memset(rs, 0, sizeof(*rs));
}

static enum bw_rc collect_row(void *arg, const struct bw_row *row)
{
    struct rec_rows *rs = arg;
    size_t idlen = 0, blen = 0;
    const char *id = bw_row_text(row, 0, &idlen);
    const void *b = bw_row_blob(row, 2, &blen);
    if (id == NULL || idlen != BW_ID_LEN || b == NULL || blen > BODY_MAX)
        return BW_ERR_STORE;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 16;
        struct rec_row *nr = bw_realloc(rs->r, cap * sizeof(*nr));
        if (nr == NULL)
            return BW_ERR_NOMEM;
        rs->r = nr;
        rs->cap = cap;
    }
    struct rec_row *r = &rs->r[rs->n];
    memset(r, 0, sizeof(*r));
    memcpy(r->id, id, idlen + 1);
    r->version = bw_row_int(row, 1);
    r->body.encrypted = bw_row_int(row, 3) != 0;
    r->created_at = bw_row_int(row, 4);
    r->updated_at = bw_row_int(row, 5);
    r->deleted_at = bw_row_is_null(row, 6) ? 0 : bw_row_int(row, 6);
    r->body.p = bw_malloc(blen + 1);
    if (r->body.p == NULL)
        return BW_ERR_NOMEM;
    memcpy(r->body.p, b, blen);
    r->body.len = blen;
    rs->n++;
    return BW_OK;
}

static enum bw_rc integrity_fail(struct bw_tx *tx, const struct bw_data_ctx *dc,
                                 const struct bw_collection *c, const char *id)
{
    /* CONTROL: CRY-01 - a body that does not open is refused and recorded */
    enum bw_rc rc = bw_audit_append(tx, dc->audit, dc->actor, "crypto.integrity_fail", id,
                                    BW_AUDIT_FAILURE,
                                    json_pack("{s:s, s:s}", "org", dc->org_id, "collection",
                                              c->name));
    return rc == BW_OK ? BW_ERR_CRYPTO : rc;
}

/* Decodes a stored body into JSON. BW_ERR_CRYPTO (audited) when a sealed
 * body does not open, or a plain one where the class wants it sealed. */
static enum bw_rc body_decode(struct bw_tx *tx, const struct bw_data_ctx *dc,
                              const struct bw_collection *c, const struct rec_row *r,
                              json_t **out)
{
    enum bw_rc rc = BW_OK;
    uint8_t *plain = NULL;
    size_t plen = 0;
    if (!r->body.encrypted) {
        if (sealed_class(c->cls))
            return integrity_fail(tx, dc, c, r->id); /* plaintext planted in a sealed class */
        *out = json_loadb((const char *)r->body.p, r->body.len, JSON_REJECT_DUPLICATES, NULL);
        return *out != NULL && json_is_object(*out) ? BW_OK : BW_ERR_STORE;
    }
    struct orgkey_row ok;
    struct dek_row dek;
    char aad[AAD_MAX];
    size_t alen = record_aad(aad, dc->org_id, c->name, r->id, r->version);
    rc = orgkey_get(tx, dc, &ok);
    if (rc == BW_OK)
        rc = dek_get(tx, dc->org_id, r->id, &dek);
    if (rc == BW_OK && (!dek.found || alen == 0 || r->body.len < BW_SEAL_OVERHEAD))
        rc = BW_ERR_CRYPTO;
    if (rc == BW_OK) {
        plain = sodium_malloc(r->body.len - BW_SEAL_OVERHEAD + 1);
        rc = plain == NULL ? BW_ERR_NOMEM : BW_OK;
    }
    if (rc == BW_OK) {
        struct bw_orgkey okr = {dc->org_id, ok.mversion, ok.wrapped};
        rc = bw_keyring_record_open(dc->kr, &okr, r->id, dek.wrapped, aad, alen, r->body.p,
                                    r->body.len, plain, r->body.len - BW_SEAL_OVERHEAD, &plen);
    }
    if (rc == BW_OK) {
        *out = json_loadb((const char *)plain, plen, JSON_REJECT_DUPLICATES, NULL);
        rc = *out != NULL && json_is_object(*out) ? BW_OK : BW_ERR_CRYPTO;
    }
    sodium_free(plain);
    if (rc == BW_ERR_CRYPTO)
        return integrity_fail(tx, dc, c, r->id);
    return rc;
}

static enum bw_rc audit_rec(struct bw_tx *tx, const struct bw_data_ctx *dc,
                            const struct bw_collection *c, const char *action, const char *id,
                            int64_t version)
{
    return bw_audit_append(tx, dc->audit, dc->actor, action, id, BW_AUDIT_SUCCESS,
                           json_pack("{s:s, s:s, s:s, s:I}", "org", dc->org_id, "collection",
                                     c->name, "classification", bw_class_name(c->cls),
                                     "version", (json_int_t)version));
}

/* The stored row of one record of this organisation's collection. */
static enum bw_rc fetch(struct bw_tx *tx, const struct bw_data_ctx *dc,
                        const struct bw_collection *c, const char *id, struct rec_rows *rs)
{
    if (!bw_id_valid(id))
        return BW_ERR_NOTFOUND;
    struct bw_val p[] = {BW_VTEXT(dc->org_id), BW_VTEXT(c->name), BW_VTEXT(id)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_REC_GET, p, BW_ARRAY_LEN(p), collect_row, rs);
    return rc == BW_OK && rs->n != 1 ? BW_ERR_NOTFOUND : rc;
}

/* Fills `out` from a row, decoding the body; audits record.read for
 * sealed classes. */
static enum bw_rc open_row(struct bw_tx *tx, const struct bw_data_ctx *dc,
                           const struct bw_collection *c, const struct rec_row *r,
                           const char *action, struct bw_record *out, bool *ifail)
{
    json_t *data = NULL;
    enum bw_rc rc = body_decode(tx, dc, c, r, &data);
    if (rc == BW_ERR_CRYPTO)
        *ifail = true;
    if (rc == BW_OK && action != NULL)
        rc = audit_rec(tx, dc, c, action, r->id, r->version);
    if (rc != BW_OK) {
        json_decref(data);
        return rc;
    }
    memcpy(out->id, r->id, sizeof(out->id));
    out->version = r->version;
    out->created_at = r->created_at;
    out->updated_at = r->updated_at;
    out->deleted_at = r->deleted_at;
    out->data = data;
    return BW_OK;
}

/* ---- operations --------------------------------------------------------------- */

enum bw_rc bw_record_create(struct bw_tx *tx, const struct bw_data_ctx *dc,
                            const struct bw_collection *c, const json_t *data,
                            struct bw_record *out)
{
    struct bw_record r;
    struct body b = {0};
    memset(&r, 0, sizeof(r));
    if (dc->keys != NULL && bw_id_valid(dc->keys->record_id))
        memcpy(r.id, dc->keys->record_id, sizeof(r.id)); /* its key was committed first */
    else
        bw_id_new(r.id);
    r.version = 1;
    r.created_at = r.updated_at = bw_time_now();
    enum bw_rc rc = body_encode(tx, dc, c, r.id, 1, data, &b);
    struct bw_val p[] = {BW_VTEXT(dc->org_id), BW_VTEXT(c->name), BW_VTEXT(r.id),
                         BW_VBLOB(b.p, b.len), BW_VINT(b.encrypted), BW_VINT(r.created_at),
                         BW_VTEXT(dc->actor)};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_REC_INSERT, p, BW_ARRAY_LEN(p), NULL);
    body_free(&b);
    if (rc == BW_OK)
        rc = audit_rec(tx, dc, c, "record.created", r.id, 1);
    if (rc != BW_OK)
        return rc;
    r.data = json_deep_copy(data);
    if (r.data == NULL)
        return BW_ERR_NOMEM;
    *out = r;
    return BW_OK;
}

enum bw_rc bw_record_read(struct bw_tx *tx, const struct bw_data_ctx *dc,
                          const struct bw_collection *c, const char *id, struct bw_record *out,
                          bool *ifail)
{
    struct rec_rows rs = {0};
    enum bw_rc rc = fetch(tx, dc, c, id, &rs);
    if (rc == BW_OK && rs.r[0].deleted_at != 0)
        rc = BW_ERR_NOTFOUND; /* deleted records answer like absent ones */
    if (rc == BW_OK)
        rc = open_row(tx, dc, c, &rs.r[0], sealed_class(c->cls) ? "record.read" : NULL, out,
                      ifail);
    rows_free(&rs);
    return rc;
}

enum bw_rc bw_record_replace(struct bw_tx *tx, const struct bw_data_ctx *dc,
                             const struct bw_collection *c, const char *id, int64_t if_version,
                             const json_t *data, struct bw_record *out)
{
    struct rec_rows rs = {0};
    struct body b = {0};
    uint64_t changed = 0;
    enum bw_rc rc = fetch(tx, dc, c, id, &rs);
    if (rc == BW_OK && rs.r[0].deleted_at != 0)
        rc = BW_ERR_NOTFOUND;
    if (rc == BW_OK && rs.r[0].version != if_version)
        rc = BW_ERR_CONFLICT; /* If-Match names another version: 412 */
    if (rc == BW_OK)
        rc = body_encode(tx, dc, c, id, if_version + 1, data, &b);
    struct bw_val p[] = {BW_VTEXT(dc->org_id), BW_VTEXT(c->name), BW_VTEXT(id),
                         BW_VINT(if_version), BW_VBLOB(b.p, b.len), BW_VINT(b.encrypted),
                         BW_VINT(bw_time_now()), BW_VTEXT(dc->actor)};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_REC_UPDATE, p, BW_ARRAY_LEN(p), &changed);
    body_free(&b);
    if (rc == BW_OK && changed != 1)
        rc = BW_ERR_CONFLICT;
    if (rc == BW_OK)
        rc = audit_rec(tx, dc, c, "record.updated", id, if_version + 1);
    if (rc == BW_OK) {
        memset(out, 0, sizeof(*out));
        memcpy(out->id, rs.r[0].id, sizeof(out->id));
        out->version = if_version + 1;
        out->created_at = rs.r[0].created_at;
        out->updated_at = bw_time_now();
        out->data = json_deep_copy(data);
        rc = out->data != NULL ? BW_OK : BW_ERR_NOMEM;
    }
    rows_free(&rs);
    return rc;
}

/* Soft delete (deleted_at = now) or restore (deleted_at = NULL). */
static enum bw_rc set_deleted(struct bw_tx *tx, const struct bw_data_ctx *dc,
                              const struct bw_collection *c, const char *id, bool del,
                              uint64_t *changed)
{
    int64_t now = bw_time_now();
    struct bw_val p[] = {BW_VTEXT(dc->org_id), BW_VTEXT(c->name), BW_VTEXT(id),
                         del ? BW_VINT(now) : BW_VNULL, BW_VINT(now), BW_VTEXT(dc->actor)};
    return bw_tx_exec(tx, BW_STMT_REC_SET_DELETED, p, BW_ARRAY_LEN(p), changed);
}

/* CONTROL: DATA-04 - deletion is the user's, soft for retention.deleted_records */
enum bw_rc bw_record_delete(struct bw_tx *tx, const struct bw_data_ctx *dc,
                            const struct bw_collection *c, const char *id)
{
    struct rec_rows rs = {0};
    uint64_t changed = 0;
    enum bw_rc rc = fetch(tx, dc, c, id, &rs);
    if (rc == BW_OK && rs.r[0].deleted_at != 0)
        rc = BW_ERR_NOTFOUND;
    if (rc == BW_OK)
        rc = set_deleted(tx, dc, c, id, true, &changed);
    if (rc == BW_OK && changed != 1)
        rc = BW_ERR_NOTFOUND;
    if (rc == BW_OK)
        rc = bw_audit_append(tx, dc->audit, dc->actor, "record.deleted", id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s, s:I}", "org", dc->org_id, "collection",
                                       c->name, "purge_after",
                                       (json_int_t)(bw_time_now() +
                                                    dc->cfg->retention_deleted_records)));
    rows_free(&rs);
    return rc;
}

enum bw_rc bw_record_restore(struct bw_tx *tx, const struct bw_data_ctx *dc,
                             const struct bw_collection *c, const char *id,
                             struct bw_record *out, bool *ifail)
{
    struct rec_rows rs = {0};
    uint64_t changed = 0;
    enum bw_rc rc = fetch(tx, dc, c, id, &rs);
    if (rc == BW_OK && rs.r[0].deleted_at == 0)
        rc = BW_ERR_CONFLICT; /* not deleted */
    if (rc == BW_OK)
        rc = set_deleted(tx, dc, c, id, false, &changed);
    if (rc == BW_OK && changed != 1)
        rc = BW_ERR_NOTFOUND;
    if (rc == BW_OK) {
        rs.r[0].deleted_at = 0;
        rc = open_row(tx, dc, c, &rs.r[0], "record.restored", out, ifail);
    }
    rows_free(&rs);
    return rc;
}

/* Does record data `d` hold `value` in `field`? */
static bool matches(const json_t *d, const char *field, const json_t *value)
{
    const json_t *v = json_object_get(d, field);
    return v != NULL && json_equal(v, value);
}

#define LIST_SCAN_MAX 1000 /* rows one filtered page may look at */

enum bw_rc bw_record_list(struct bw_tx *tx, const struct bw_data_ctx *dc,
                          const struct bw_collection *c, const char *after, size_t limit,
                          const char *filter_field, const json_t *filter_value,
                          struct bw_record_page *out)
{
    enum bw_rc rc = BW_OK;
    struct bw_record_page pg = {.items = json_array()};
    char cur[BW_ID_LEN + 1];
    size_t scanned = 0;
    bool done = false;
    if (filter_field != NULL && sealed_class(c->cls))
        return BW_ERR_PERM; /* no filtering on sealed bodies */
    if (pg.items == NULL)
        return BW_ERR_NOMEM;
    snprintf(cur, sizeof(cur), "%s", after);
    while (rc == BW_OK && !done && json_array_size(pg.items) < limit) {
        struct rec_rows rs = {0};
        size_t want = limit - json_array_size(pg.items) + 1;
        struct bw_val p[] = {BW_VTEXT(dc->org_id), BW_VTEXT(c->name), BW_VTEXT(cur),
                             BW_VINT(want)};
        rc = bw_tx_query(tx, BW_STMT_REC_LIST, p, BW_ARRAY_LEN(p), collect_row, &rs);
        done = rs.n < want;
        for (size_t i = 0; rc == BW_OK && i < rs.n; i++) {
            struct bw_record r;
            if (json_array_size(pg.items) == limit) {
                pg.more = true;
                break;
            }
            memcpy(cur, rs.r[i].id, sizeof(cur));
            scanned++;
            memset(&r, 0, sizeof(r));
            rc = open_row(tx, dc, c, &rs.r[i], sealed_class(c->cls) ? "record.read" : NULL, &r,
                          &pg.integrity_fail);
            if (rc == BW_ERR_CRYPTO && pg.integrity_fail) {
                rc = BW_OK; /* audited; the caller answers the page as failed */
                continue;
            }
            if (rc == BW_OK && (filter_field == NULL || matches(r.data, filter_field,
                                                                 filter_value))) {
                json_t *o = bw_record_json(&r);
                rc = o != NULL && json_array_append_new(pg.items, o) == 0 ? BW_OK : BW_ERR_NOMEM;
                memcpy(pg.last, r.id, sizeof(pg.last));
            }
            bw_record_cleanup(&r);
        }
        rows_free(&rs);
        if (rc == BW_OK && !done && scanned >= LIST_SCAN_MAX) {
            memcpy(pg.last, cur, sizeof(pg.last)); /* resume the scan after this row */
            pg.more = true;
            break;
        }
    }
    if (rc != BW_OK) {
        json_decref(pg.items);
        return rc;
    }
    *out = pg;
    return BW_OK;
}

/* ---- classification changes --------------------------------------------------- */

/* Re-encodes every record (deleted ones too) for the collection's new
 * class: sealed under data keys when raised to confidential/restricted,
 * opened when lowered to public/internal. `from` is the old class. */
enum bw_rc bw_collection_reclassify(struct bw_tx *tx, const struct bw_data_ctx *dc,
                                    struct bw_collection *c, enum bw_class to, bool *ifail)
{
    enum bw_rc rc = BW_OK;
    char cur[BW_ID_LEN + 1] = "";
    bool more = true;
    enum bw_class from = c->cls;
    struct bw_val p[] = {BW_VTEXT(dc->org_id), BW_VTEXT(c->name), BW_VTEXT(bw_class_name(to)),
                         BW_VINT(bw_time_now())};
    rc = bw_tx_exec(tx, BW_STMT_COLL_SET_CLASS, p, BW_ARRAY_LEN(p), NULL);
    while (rc == BW_OK && more && sealed_class(from) != sealed_class(to)) {
        struct rec_rows rs = {0};
        struct bw_val q[] = {BW_VTEXT(dc->org_id), BW_VTEXT(c->name), BW_VTEXT(cur),
                             BW_VINT(200)};
        rc = bw_tx_query(tx, BW_STMT_REC_ALL, q, BW_ARRAY_LEN(q), collect_row, &rs);
        more = rs.n == 200;
        for (size_t i = 0; rc == BW_OK && i < rs.n; i++) {
            json_t *data = NULL;
            struct body b = {0};
            c->cls = from;
            rc = body_decode(tx, dc, c, &rs.r[i], &data);
            if (rc == BW_ERR_CRYPTO)
                *ifail = true;
            c->cls = to;
            if (rc == BW_OK)
                rc = body_encode(tx, dc, c, rs.r[i].id, rs.r[i].version, data, &b);
            if (rc == BW_ERR_BUSY && dc->keys != NULL && dc->keys->pending)
                dc->keys->all = true; /* make them all at once, then run again */
            struct bw_val u[] = {BW_VTEXT(dc->org_id), BW_VTEXT(c->name), BW_VTEXT(rs.r[i].id),
                                 BW_VBLOB(b.p, b.len), BW_VINT(b.encrypted)};
            if (rc == BW_OK)
                rc = bw_tx_exec(tx, BW_STMT_REC_SET_BODY, u, BW_ARRAY_LEN(u), NULL);
            /* lowered: the key is no longer used; the purge job destroys it as an
             * orphan (a delete here could commit before the plaintext body) */
            memcpy(cur, rs.r[i].id, sizeof(cur));
            body_free(&b);
            json_decref(data);
        }
        rows_free(&rs);
    }
    c->cls = to;
    return rc;
}

/* ---- export (GDPR Art. 20) ---------------------------------------------------- */

struct coll_names {
    char (*name)[BW_NAME_MAX + 1];
    size_t n, cap;
};

static enum bw_rc name_row(void *arg, const struct bw_row *row)
{
    struct coll_names *cn = arg;
    size_t len = 0;
    const char *s = bw_row_text(row, 0, &len);
    if (s == NULL || len > BW_NAME_MAX)
        return BW_ERR_STORE;
    if (cn->n == cn->cap) {
        size_t cap = cn->cap ? cn->cap * 2 : 8;
        void *nn = bw_realloc(cn->name, cap * sizeof(*cn->name));
        if (nn == NULL)
            return BW_ERR_NOMEM;
        cn->name = nn;
        cn->cap = cap;
    }
    memcpy(cn->name[cn->n++], s, len + 1);
    return BW_OK;
}

static enum bw_rc export_one(struct bw_tx *tx, const struct bw_data_ctx *dc, const char *name,
                             json_t *colls, size_t *nrec, bool *ifail)
{
    struct bw_collection c;
    struct bw_record_page pg;
    char after[BW_ID_LEN + 1] = "";
    json_t *items = json_array();
    enum bw_rc rc = items != NULL ? bw_collection_get(tx, dc->org_id, name, &c) : BW_ERR_NOMEM;
    if (rc != BW_OK) {
        json_decref(items);
        return rc;
    }
    bool more = true;
    while (rc == BW_OK && more) {
        rc = bw_record_list(tx, dc, &c, after, 200, NULL, NULL, &pg);
        if (rc != BW_OK)
            break;
        *ifail |= pg.integrity_fail;
        more = pg.more;
        memcpy(after, pg.last, sizeof(after));
        *nrec += json_array_size(pg.items);
        json_array_extend(items, pg.items);
        json_decref(pg.items);
    }
    json_t *o = rc == BW_OK ? bw_collection_json(&c) : NULL;
    if (o != NULL) {
        json_object_set_new(o, "records", items);
        items = NULL;
        rc = json_array_append_new(colls, o) == 0 ? BW_OK : BW_ERR_NOMEM;
    } else if (rc == BW_OK) {
        rc = BW_ERR_NOMEM;
    }
    json_decref(items);
    bw_collection_cleanup(&c);
    return rc;
}

enum bw_rc bw_data_export(struct bw_tx *tx, const struct bw_data_ctx *dc, json_t **out,
                          bool *ifail)
{
    struct coll_names cn = {0};
    size_t nrec = 0;
    json_t *colls = json_array();
    struct bw_val p[] = {BW_VTEXT(dc->org_id)};
    enum bw_rc rc = colls != NULL ? bw_tx_query(tx, BW_STMT_COLL_LIST, p, 1, name_row, &cn)
                                  : BW_ERR_NOMEM;
    for (size_t i = 0; rc == BW_OK && i < cn.n; i++)
        rc = export_one(tx, dc, cn.name[i], colls, &nrec, ifail);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, dc->audit, dc->actor, "org.exported", dc->org_id,
                             BW_AUDIT_SUCCESS,
                             json_pack("{s:i, s:I}", "collections", (int)cn.n, "records",
                                       (json_int_t)nrec));
    bw_free(cn.name);
    if (rc != BW_OK) {
        json_decref(colls);
        return rc;
    }
    *out = colls;
    return BW_OK;
}
