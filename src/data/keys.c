/*
 * keys.c - the key store apart from the data (decision C6; CONTROL: G-09):
 * making organisation and data keys ahead of the records that need them
 * (the key handshake of data.h), rotation of the master key version that
 * wraps the organisation keys, and the key inventory (created, activated,
 * retired, destroyed).
 *
 * The key store is db/keys.db (SQLite, a file of its own, never in a data
 * backup) or the schema bulwark_keys (PostgreSQL). On SQLite a transaction
 * that touches the data file and the key store commits one file after the
 * other, so bw_data_keys_prepare commits new keys in transactions that hold
 * no record: whatever a crash interrupts, a record never exists without its
 * key (an unused key is an orphan the purge job destroys).
 *
 * Rotation runs in one write transaction: every organisation key is
 * unwrapped under its master version and wrapped again under the newest
 * one by the keyring (no key material passes through here), the inventory
 * retires the older master versions and key.rotated is audited. A server
 * running meanwhile keeps working: it reads either the old wrapping (whose
 * master key file stays, retired) or the new one, which its keyring loads
 * from the keys directory when it first meets it.
 */
#include "audit/audit.h"
#include "crypto/crypto.h"
#include "data/data.h"
#include "store/store.h"

#include <jansson.h>
#include <string.h>

/* a wrapped organisation key as read from the key store */
struct okey {
    char org[BW_ID_LEN + 1];
    int mversion;
    uint8_t wrapped[BW_WRAPPED_KEY_BYTES];
};

struct rotate_job {
    const struct bw_keyring *kr;
    const struct bw_audit_ctx *ctx;
    int to;
    struct okey *k;
    size_t n, cap;
    unsigned rewrapped;
};

static enum bw_rc okey_get_row(void *arg, const struct bw_row *row)
{
    struct okey *k = arg;
    size_t n = 0;
    const void *b = bw_row_blob(row, 1, &n);
    int64_t v = bw_row_int(row, 0);
    if (b == NULL || n != BW_WRAPPED_KEY_BYTES || v < 1 || v > 1000000)
        return BW_ERR_CRYPTO;
    k->mversion = (int)v;
    memcpy(k->wrapped, b, n);
    return BW_OK;
}

static enum bw_rc okey_row(void *arg, const struct bw_row *row)
{
    struct rotate_job *j = arg;
    size_t idlen = 0, wlen = 0;
    const char *org = bw_row_text(row, 0, &idlen);
    const void *w = bw_row_blob(row, 2, &wlen);
    if (org == NULL || idlen != BW_ID_LEN || w == NULL || wlen != BW_WRAPPED_KEY_BYTES)
        return BW_ERR_STORE;
    if (j->n == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 16;
        struct okey *nk = bw_realloc(j->k, cap * sizeof(*nk));
        if (nk == NULL)
            return BW_ERR_NOMEM;
        j->k = nk;
        j->cap = cap;
    }
    struct okey *k = &j->k[j->n++];
    memcpy(k->org, org, idlen + 1);
    k->mversion = (int)bw_row_int(row, 1);
    memcpy(k->wrapped, w, wlen);
    return BW_OK;
}

/* ---- the key handshake ----------------------------------------------------------- */

enum { PREPARE_BATCH = 200 };

struct prepare_job {
    const struct bw_data_ctx *dc;
    char after[BW_ID_LEN + 1];
    char ids[PREPARE_BATCH][BW_ID_LEN + 1];
    size_t n;
    bool org_found, more;
};

static enum bw_rc found_row(void *arg, const struct bw_row *row)
{
    (void)row;
    *(bool *)arg = true;
    return BW_OK;
}

/* The organisation key, made (inventoried, audited) when there is none. */
static enum bw_rc ensure_orgkey(struct bw_tx *tx, const struct bw_data_ctx *dc,
                                struct bw_orgkey *okr, uint8_t wrapped[BW_WRAPPED_KEY_BYTES])
{
    struct bw_val p[] = {BW_VTEXT(dc->org_id)};
    bool found = false;
    int mv = 0;
    int64_t now = bw_time_now();
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_ORGKEY_GET, p, 1, found_row, &found);
    if (rc == BW_OK && !found) {
        rc = bw_keyring_orgkey_new(dc->kr, dc->org_id, &mv, wrapped);
        struct bw_val ins[] = {BW_VTEXT(dc->org_id), BW_VINT(mv),
                               BW_VBLOB(wrapped, BW_WRAPPED_KEY_BYTES), BW_VINT(now)};
        struct bw_val inv_m[] = {BW_VTEXT("master"), BW_VTEXT("-"), BW_VINT(mv), BW_VINT(now)};
        struct bw_val inv_o[] = {BW_VTEXT("org"), BW_VTEXT(dc->org_id), BW_VINT(1),
                                 BW_VINT(now)};
        if (rc == BW_OK)
            rc = bw_tx_exec(tx, BW_STMT_ORGKEY_INSERT, ins, BW_ARRAY_LEN(ins), NULL);
        if (rc == BW_OK)
            rc = bw_tx_exec(tx, BW_STMT_KEYINV_INSERT, inv_m, BW_ARRAY_LEN(inv_m), NULL);
        if (rc == BW_OK)
            rc = bw_tx_exec(tx, BW_STMT_KEYINV_INSERT, inv_o, BW_ARRAY_LEN(inv_o), NULL);
        if (rc == BW_OK)
            rc = bw_audit_append(tx, dc->audit, dc->actor, "key.created", dc->org_id,
                                 BW_AUDIT_SUCCESS,
                                 json_pack("{s:s, s:i}", "kind", "org", "master_version", mv));
    }
    struct okey k = {.mversion = 0};
    if (rc == BW_OK)
        rc = bw_tx_query(tx, BW_STMT_ORGKEY_GET, p, 1, okey_get_row, &k);
    if (rc == BW_OK && k.mversion == 0)
        rc = BW_ERR_INTERNAL;
    if (rc == BW_OK) {
        memcpy(wrapped, k.wrapped, BW_WRAPPED_KEY_BYTES);
        okr->org_id = dc->org_id;
        okr->mversion = k.mversion;
        okr->wrapped = wrapped;
    }
    return rc;
}

/* One record's data key, made when it has none. */
static enum bw_rc ensure_datakey(struct bw_tx *tx, const struct bw_data_ctx *dc,
                                 const struct bw_orgkey *okr, const char *id)
{
    struct bw_val p[] = {BW_VTEXT(dc->org_id), BW_VTEXT(id)};
    uint8_t dek[BW_WRAPPED_KEY_BYTES];
    bool found = false;
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_DATAKEY_GET, p, 2, found_row, &found);
    if (rc != BW_OK || found)
        return rc;
    rc = bw_keyring_datakey_new(dc->kr, okr, id, dek);
    struct bw_val ins[] = {BW_VTEXT(dc->org_id), BW_VTEXT(id), BW_VBLOB(dek, sizeof(dek)),
                           BW_VINT(bw_time_now())};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_DATAKEY_INSERT, ins, BW_ARRAY_LEN(ins), NULL);
    return rc;
}

static enum bw_rc keyless_row(void *arg, const struct bw_row *row)
{
    struct prepare_job *j = arg;
    size_t len = 0;
    const char *id = bw_row_text(row, 0, &len);
    if (id == NULL || len != BW_ID_LEN || j->n == PREPARE_BATCH)
        return BW_ERR_STORE;
    memcpy(j->ids[j->n++], id, len + 1);
    return BW_OK;
}

static enum bw_rc prepare_fn(struct bw_tx *tx, void *arg)
{
    struct prepare_job *j = arg;
    const struct bw_keyneed *kn = j->dc->keys;
    uint8_t wrapped[BW_WRAPPED_KEY_BYTES];
    struct bw_orgkey okr;
    enum bw_rc rc = ensure_orgkey(tx, j->dc, &okr, wrapped);
    j->n = 0;
    j->more = false;
    if (rc == BW_OK && !kn->all && bw_id_valid(kn->record_id))
        return ensure_datakey(tx, j->dc, &okr, kn->record_id);
    if (rc == BW_OK && kn->all) {
        struct bw_val q[] = {BW_VTEXT(j->dc->org_id), BW_VTEXT(kn->collection),
                             BW_VTEXT(j->after), BW_VINT(PREPARE_BATCH)};
        rc = bw_tx_query(tx, BW_STMT_REC_KEYLESS, q, BW_ARRAY_LEN(q), keyless_row, j);
    }
    for (size_t i = 0; rc == BW_OK && i < j->n; i++)
        rc = ensure_datakey(tx, j->dc, &okr, j->ids[i]);
    if (rc == BW_OK && j->n == PREPARE_BATCH) {
        j->more = true;
        memcpy(j->after, j->ids[j->n - 1], sizeof(j->after));
    }
    return rc;
}

enum bw_rc bw_data_keys_prepare(struct bw_store *st, const struct bw_data_ctx *dc)
{
    if (dc->keys == NULL)
        return BW_ERR_INTERNAL;
    struct prepare_job *j = bw_calloc(1, sizeof(*j));
    if (j == NULL)
        return BW_ERR_NOMEM;
    j->dc = dc;
    enum bw_rc rc;
    do {
        rc = bw_store_write(st, prepare_fn, j); /* each batch commits before any record */
    } while (rc == BW_OK && j->more);
    bw_free(j);
    if (rc == BW_OK)
        dc->keys->pending = false;
    return rc;
}

/* ---- rotation --------------------------------------------------------------------- */

static enum bw_rc rotate_fn(struct bw_tx *tx, void *arg)
{
    struct rotate_job *j = arg;
    int64_t now = bw_time_now();
    j->n = 0;
    j->rewrapped = 0;
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_ORGKEY_LIST, NULL, 0, okey_row, j);
    for (size_t i = 0; rc == BW_OK && i < j->n; i++) {
        uint8_t out[BW_WRAPPED_KEY_BYTES];
        if (j->k[i].mversion == j->to)
            continue;
        rc = bw_keyring_orgkey_rewrap(j->kr, j->k[i].org, j->k[i].mversion, j->k[i].wrapped,
                                      j->to, out);
        struct bw_val p[] = {BW_VTEXT(j->k[i].org), BW_VINT(j->k[i].mversion), BW_VINT(j->to),
                             BW_VBLOB(out, sizeof(out)), BW_VINT(now)};
        if (rc == BW_OK)
            rc = bw_tx_exec(tx, BW_STMT_ORGKEY_SET, p, BW_ARRAY_LEN(p), NULL);
        j->rewrapped += rc == BW_OK;
    }
    struct bw_val v1[] = {BW_VTEXT("master"), BW_VTEXT("-"), BW_VINT(1), BW_VINT(now)};
    struct bw_val vn[] = {BW_VTEXT("master"), BW_VTEXT("-"), BW_VINT(j->to), BW_VINT(now)};
    struct bw_val rt[] = {BW_VTEXT("master"), BW_VTEXT("-"), BW_VINT(j->to), BW_VINT(now)};
    if (rc == BW_OK) /* version 1 existed since init, even if no key used it yet */
        rc = bw_tx_exec(tx, BW_STMT_KEYINV_INSERT, v1, BW_ARRAY_LEN(v1), NULL);
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_KEYINV_INSERT, vn, BW_ARRAY_LEN(vn), NULL);
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_KEYINV_RETIRE, rt, BW_ARRAY_LEN(rt), NULL);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, "cli", "key.rotated", "master", BW_AUDIT_SUCCESS,
                             json_pack("{s:i, s:i}", "master_version", j->to, "org_keys_rewrapped",
                                       (int)j->rewrapped));
    return rc;
}

enum bw_rc bw_keys_rotate(struct bw_store *st, const struct bw_keyring *kr,
                          const struct bw_audit_ctx *ctx, unsigned *orgs, int *new_version)
{
    struct rotate_job j = {.kr = kr, .ctx = ctx, .to = bw_keyring_master_version(kr)};
    enum bw_rc rc = bw_store_write(st, rotate_fn, &j);
    bw_free(j.k);
    if (rc == BW_OK) {
        *orgs = j.rewrapped;
        *new_version = j.to;
    }
    return rc;
}

static enum bw_rc inv_row(void *arg, const struct bw_row *row)
{
    json_t *arr = arg;
    json_t *o = json_pack("{s:s, s:s, s:I}", "kind", bw_row_text(row, 0, NULL), "scope",
                          bw_row_text(row, 1, NULL), "version", (json_int_t)bw_row_int(row, 2));
    if (o == NULL)
        return BW_ERR_NOMEM;
    static const char *const cols[] = {"created_at", "activated_at", "retired_at",
                                       "destroyed_at"};
    for (size_t i = 0; i < BW_ARRAY_LEN(cols); i++) {
        char t[21];
        if (bw_row_is_null(row, 3 + i)) {
            json_object_set_new(o, cols[i], json_null());
            continue;
        }
        bw_time_format(bw_row_int(row, 3 + i), t);
        json_object_set_new(o, cols[i], json_string(t));
    }
    return json_array_append_new(arr, o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

static enum bw_rc inv_fn(struct bw_tx *tx, void *arg)
{
    return bw_tx_query(tx, BW_STMT_KEYINV_LIST, NULL, 0, inv_row, arg);
}

enum bw_rc bw_keys_inventory(struct bw_store *st, json_t **out)
{
    json_t *arr = json_array();
    if (arr == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc = bw_store_read(st, inv_fn, arr);
    if (rc != BW_OK) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return BW_OK;
}
