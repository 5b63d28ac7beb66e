/*
 * apikey.c - API keys for machines (CONTROL: AC-04): "bwk_" keys with 256
 * random bits, shown once and stored only as their SHA-256; each bound to
 * one organisation, one non-administrative role and a non-empty list of
 * IPv4/IPv6 networks, optionally an expiry; revocable; every use from
 * outside the list refused and audited (apikey.denied); the last use (time,
 * address) recorded, throttled like session touches.
 *
 * Trusts the client address the HTTP layer determined (the TCP peer, or
 * X-Forwarded-For from a trusted proxy). Never logs, audits or returns a
 * key after creation; compares keys only through their hashes.
 */
#include "audit/audit.h"
#include "auth/auth.h"
#include "store/store.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

void bw_principal_actor(const struct bw_principal *p, char out[BW_ACTOR_LEN])
{
    if (p->apikey_id[0] != '\0')
        snprintf(out, BW_ACTOR_LEN, "apikey:%s", p->apikey_id);
    else if (p->user_id[0] != '\0')
        snprintf(out, BW_ACTOR_LEN, "user:%s", p->user_id);
    else
        snprintf(out, BW_ACTOR_LEN, "anonymous");
}

#define TOUCH_EVERY 30 /* seconds between last-use writes of one key (same address) */

static void key_hash(const char *key, uint8_t out[crypto_hash_sha256_BYTES])
{
    crypto_hash_sha256(out, (const unsigned char *)key, strlen(key));
}

enum bw_rc bw_apikey_cidrs(const char *list, char *out, size_t cap)
{
    struct bw_cidr nets[BW_APIKEY_MAX_CIDRS];
    struct bw_buf b;
    size_t n = 0;
    enum bw_rc rc = bw_cidr_parse_list(list, nets, BW_ARRAY_LEN(nets), &n);
    if (rc != BW_OK)
        return rc;
    if (n == 0)
        return BW_ERR_INVALID; /* AC-04: never an empty (= nowhere or everywhere) list */
    bw_buf_init(&b, cap > 0 ? cap - 1 : 0);
    for (size_t i = 0; rc == BW_OK && i < n; i++) {
        char one[64];
        bw_cidr_format(&nets[i], one, sizeof(one));
        rc = bw_buf_appendf(&b, "%s%s", i ? "," : "", one);
    }
    if (rc == BW_OK && b.len + 1 <= cap)
        memcpy(out, b.data, b.len + 1);
    else if (rc == BW_OK)
        rc = BW_ERR_TOOBIG;
    bw_buf_free(&b, false);
    return rc;
}

static void key_new(char out[BW_APIKEY_LEN + 1])
{
    uint8_t raw[32];
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, BW_APIKEY_LEN + 1, "bwk_%s", b64);
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(b64, sizeof(b64));
}

enum bw_rc bw_apikey_insert(struct bw_tx *tx, const struct bw_audit_ctx *ctx, const char *actor,
                            const struct bw_apikey_new *nk, struct bw_apikey_created *out)
{
    struct bw_apikey_created k;
    uint8_t hash[crypto_hash_sha256_BYTES];
    int64_t now = bw_time_now();
    bw_id_new(k.id);
    key_new(k.key);
    key_hash(k.key, hash);
    struct bw_val p[] = {
        BW_VTEXT(k.id),          BW_VTEXT(nk->org_id),      BW_VTEXT(nk->name),
        BW_VTEXT(nk->role),      BW_VBLOB(hash, sizeof(hash)), BW_VTEXT(nk->allowed_ips),
        BW_VTEXT(actor),         BW_VINT(now),
        nk->expires_at ? BW_VINT(nk->expires_at) : BW_VNULL,
    };
    enum bw_rc rc = bw_tx_exec(tx, BW_STMT_APIKEY_INSERT, p, BW_ARRAY_LEN(p), NULL);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, ctx, actor, "apikey.created", nk->org_id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s, s:s, s:s, s:I}", "apikey", k.id, "name",
                                       nk->name, "role", nk->role, "allowed_ips",
                                       nk->allowed_ips, "expires_at",
                                       (json_int_t)nk->expires_at));
    if (rc == BW_OK)
        *out = k;
    sodium_memzero(&k, sizeof(k));
    return rc;
}

static enum bw_rc found_row(void *arg, const struct bw_row *row)
{
    *(bool *)arg = true;
    return BW_OK;
}

enum bw_rc bw_apikey_revoke(struct bw_tx *tx, const struct bw_audit_ctx *ctx, const char *actor,
                            const char *org_id, const char *id)
{
    bool found = false;
    if (!bw_id_valid(id))
        return BW_ERR_NOTFOUND;
    struct bw_val p[] = {BW_VTEXT(id), BW_VTEXT(org_id), BW_VINT(bw_time_now())};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_APIKEY_REVOKE, p, 3, found_row, &found);
    if (rc == BW_OK && !found)
        rc = BW_ERR_NOTFOUND;
    if (rc == BW_OK)
        rc = bw_audit_append(tx, ctx, actor, "apikey.revoked", org_id, BW_AUDIT_SUCCESS,
                             json_pack("{s:s}", "apikey", id));
    return rc;
}

static json_t *time_or_null(const struct bw_row *row, size_t col)
{
    char t[21];
    if (bw_row_is_null(row, col))
        return json_null();
    bw_time_format(bw_row_int(row, col), t);
    return json_string(t);
}

static enum bw_rc list_row(void *arg, const struct bw_row *row)
{
    const char *ips = bw_row_text(row, 3, NULL);
    json_t *list = json_array();
    for (const char *s = ips; list != NULL && s != NULL && *s != '\0';) {
        size_t len = strcspn(s, ",");
        json_array_append_new(list, json_stringn(s, len));
        s += len + (s[len] == ',');
    }
    json_t *o = json_pack("{s:s?, s:s?, s:s?, s:o*, s:s?, s:o*, s:o*, s:o*, s:o*, s:s?}", "id",
                          bw_row_text(row, 0, NULL), "name", bw_row_text(row, 1, NULL), "role",
                          bw_row_text(row, 2, NULL), "allowed_ips", list, "created_by",
                          bw_row_text(row, 4, NULL), "created_at", time_or_null(row, 5),
                          "expires_at", time_or_null(row, 6), "revoked_at",
                          time_or_null(row, 7), "last_used_at", time_or_null(row, 8),
                          "last_used_ip", bw_row_text(row, 9, NULL));
    if (o != NULL && json_object_get(o, "last_used_ip") == NULL)
        json_object_set_new(o, "last_used_ip", json_null());
    return o != NULL && json_array_append_new(arg, o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

enum bw_rc bw_apikey_list(struct bw_tx *tx, const char *org_id, json_t **out)
{
    json_t *items = json_array();
    struct bw_val p[] = {BW_VTEXT(org_id)};
    enum bw_rc rc = items != NULL ? bw_tx_query(tx, BW_STMT_APIKEY_LIST_ORG, p, 1, list_row, items)
                                  : BW_ERR_NOMEM;
    if (rc != BW_OK) {
        json_decref(items);
        return rc;
    }
    *out = items;
    return BW_OK;
}

/* ---- authentication ------------------------------------------------------------ */

struct lookup {
    uint8_t hash[crypto_hash_sha256_BYTES];
    bool found;
    char id[BW_ID_LEN + 1];
    char org[BW_ID_LEN + 1];
    char role[16];
    char ips[1024];
    int64_t expires_at; /* 0 = none */
    bool revoked;
    int64_t last_used_at;
};

static void copy_col(const struct bw_row *row, size_t col, char *out, size_t cap)
{
    size_t len = 0;
    const char *t = bw_row_text(row, col, &len);
    if (t == NULL || len >= cap)
        len = 0;
    memcpy(out, t != NULL ? t : "", len);
    out[len] = '\0';
}

static enum bw_rc lookup_row(void *arg, const struct bw_row *row)
{
    struct lookup *l = arg;
    copy_col(row, 0, l->id, sizeof(l->id));
    copy_col(row, 1, l->org, sizeof(l->org));
    copy_col(row, 2, l->role, sizeof(l->role));
    copy_col(row, 3, l->ips, sizeof(l->ips));
    l->expires_at = bw_row_is_null(row, 4) ? 0 : bw_row_int(row, 4);
    l->revoked = !bw_row_is_null(row, 5);
    l->last_used_at = bw_row_is_null(row, 6) ? 0 : bw_row_int(row, 6);
    l->found = bw_id_valid(l->id) && bw_id_valid(l->org) && l->role[0] != '\0';
    return BW_OK;
}

static enum bw_rc lookup_fn(struct bw_tx *tx, void *arg)
{
    struct lookup *l = arg;
    struct bw_val p[] = {BW_VBLOB(l->hash, sizeof(l->hash))};
    return bw_tx_query(tx, BW_STMT_APIKEY_BY_HASH, p, 1, lookup_row, l);
}

struct use_job {
    const struct bw_audit_ctx *ctx;
    const struct lookup *l;
    const char *client;
    bool denied;
};

static enum bw_rc use_fn(struct bw_tx *tx, void *arg)
{
    struct use_job *j = arg;
    char actor[BW_ACTOR_LEN];
    snprintf(actor, sizeof(actor), "apikey:%s", j->l->id);
    if (j->denied)
        return bw_audit_append(tx, j->ctx, actor, "apikey.denied", j->l->org, BW_AUDIT_DENIED,
                               json_pack("{s:s, s:s, s:s}", "apikey", j->l->id, "reason",
                                         "address not in allowed_ips", "address", j->client));
    struct bw_val p[] = {BW_VTEXT(j->l->id), BW_VINT(bw_time_now()), BW_VTEXT(j->client)};
    return bw_tx_exec(tx, BW_STMT_APIKEY_TOUCH, p, 3, NULL);
}

/* CONTROL: AC-04 - the key must be live and the client inside its list. */
static bool client_allowed(const struct lookup *l, const char *client)
{
    struct bw_cidr nets[BW_APIKEY_MAX_CIDRS], ip;
    size_t n = 0;
    if (bw_ip_parse(client, &ip) != BW_OK)
        return false;
    if (bw_cidr_parse_list(l->ips, nets, BW_ARRAY_LEN(nets), &n) != BW_OK || n == 0)
        return false; /* an edited row never opens the key to everyone */
    return bw_cidr_list_contains(nets, n, &ip);
}

enum bw_rc bw_apikey_authenticate(struct bw_store *st, const struct bw_audit_ctx *ctx,
                                  const char *key, const char *client,
                                  struct bw_principal *out)
{
    struct lookup l;
    memset(&l, 0, sizeof(l));
    if (key == NULL || strlen(key) != BW_APIKEY_LEN || strncmp(key, "bwk_", 4) != 0)
        return BW_ERR_NOTFOUND;
    key_hash(key, l.hash);
    enum bw_rc rc = bw_store_read(st, lookup_fn, &l);
    if (rc != BW_OK)
        return rc;
    int64_t now = bw_time_now();
    if (!l.found || l.revoked || (l.expires_at != 0 && l.expires_at <= now))
        return BW_ERR_NOTFOUND;
    struct use_job j = {ctx, &l, client, !client_allowed(&l, client)};
    if (j.denied) {
        rc = bw_store_write(st, use_fn, &j);
        return rc == BW_OK ? BW_ERR_PERM : rc;
    }
    /* last use: throttled like session touches (at most every TOUCH_EVERY s) */
    if (now - l.last_used_at >= TOUCH_EVERY) {
        rc = bw_store_write(st, use_fn, &j);
        if (rc != BW_OK)
            return rc;
    }
    memset(out, 0, sizeof(*out));
    memcpy(out->apikey_id, l.id, sizeof(out->apikey_id));
    memcpy(out->apikey_org, l.org, sizeof(out->apikey_org));
    memcpy(out->apikey_role, l.role, sizeof(out->apikey_role));
    memcpy(out->status, "active", 7);
    return BW_OK;
}
