/*
 * keys.c - the key store beside the data (decision C6; CONTROL: G-09):
 * rotation of the master key version that wraps the organisation keys, and
 * the key inventory (created, activated, retired, destroyed).
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
