/*
 * archive.c - the byte formats of backup objects: content-defined chunking
 * (a gear rolling hash whose table is keyed by the master key, so chunk
 * sizes leak nothing either), chunk objects (zstd, then AES-256-GCM under a
 * data key) and sealed blobs (manifests, log segments) under the backup key.
 *
 * Trusts: nothing read from a target. Every object is authenticated before
 * it is decompressed, decompression is bounded by the length the manifest
 * promises, and a chunk's content must hash to its address.
 * Never: writes plaintext anywhere, or decompresses unauthenticated bytes.
 */
#include "backup/backup_int.h"

#include <sodium.h>
#include <string.h>
#include <zstd.h>

#define CHUNK_MAGIC "BWC1"
#define ZSTD_LEVEL 1 /* speed first: the data are mostly pages of a database */

/* Appends n zero bytes (room to seal or decompress into), capped by b->max. */
static enum bw_rc buf_room(struct bw_buf *b, size_t n)
{
    static const uint8_t zero[4096];
    enum bw_rc rc = BW_OK;
    while (rc == BW_OK && n > 0) {
        size_t k = n < sizeof(zero) ? n : sizeof(zero);
        rc = bw_buf_append(b, zero, k);
        n -= k;
    }
    return rc;
}

size_t bw_chunker_next(const struct bw_chunker *c, const uint8_t *p, size_t len)
{
    if (len <= BW_BK_CHUNK_MIN)
        return len;
    size_t end = len < BW_BK_CHUNK_MAX ? len : BW_BK_CHUNK_MAX;
    uint64_t h = 0;
    for (size_t i = BW_BK_CHUNK_MIN; i < end; i++) {
        h = (h << 1) + c->gear[p[i]];
        if ((h >> 40 & BW_BK_CHUNK_MASK) == 0)
            return i + 1;
    }
    return end;
}

static void chunk_aad(char *aad, size_t cap, const char *keyid, const char *idhex)
{
    snprintf(aad, cap, "bwchunk1:%s:%s", keyid, idhex);
}

struct bw_chunk_ctx {
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    uint8_t *tmp; /* compressed or decrypted payload; wiped after each use */
    size_t cap;
    uint8_t *idkey;
    enum bw_backup_id_scheme scheme;
};

void bw_chunk_ctx_free(struct bw_chunk_ctx *c)
{
    if (c == NULL)
        return;
    ZSTD_freeCCtx(c->cctx);
    ZSTD_freeDCtx(c->dctx);
    bw_free(c->tmp);
    bw_backup_id_key_free(c->idkey);
    bw_free(c);
}

enum bw_rc bw_chunk_ctx_new(const struct bw_keyring *kr, enum bw_backup_id_scheme scheme,
                           struct bw_chunk_ctx **out)
{
    struct bw_chunk_ctx *c = bw_calloc(1, sizeof(*c));
    *out = NULL;
    if (c == NULL)
        return BW_ERR_NOMEM;
    c->scheme = scheme;
    enum bw_rc rc = bw_keyring_backup_id_key(kr, &c->idkey);
    c->cctx = ZSTD_createCCtx();
    c->dctx = ZSTD_createDCtx();
    if (rc == BW_OK && (c->cctx == NULL || c->dctx == NULL))
        rc = BW_ERR_NOMEM;
    if (rc != BW_OK) {
        bw_chunk_ctx_free(c);
        return rc;
    }
    *out = c;
    return BW_OK;
}

/* c->tmp with room for n bytes: sized by the first chunk, regrown only for
 * a larger one (the old buffer was wiped after its last use). */
static enum bw_rc scratch(struct bw_chunk_ctx *c, size_t n)
{
    if (n <= c->cap)
        return BW_OK;
    bw_free(c->tmp); /* wiped after its last use */
    c->cap = 0;
    c->tmp = bw_malloc(n);
    if (c->tmp == NULL)
        return BW_ERR_NOMEM;
    c->cap = n;
    return BW_OK;
}

enum bw_rc bw_chunk_id(const struct bw_chunk_ctx *c, const uint8_t *plain, size_t len,
                       uint8_t id[BW_BACKUP_ID_BYTES])
{
    return bw_backup_id(c->scheme, c->idkey, plain, len, id);
}

enum bw_rc bw_chunk_seal(struct bw_chunk_ctx *c, const struct bw_backup_key *k,
                         const char *keyid, const char *idhex, const uint8_t *plain, size_t len,
                         struct bw_buf *out)
{
    char aad[160];
    size_t bound = ZSTD_compressBound(len) + 1, zlen, slen = 0;
    enum bw_rc rc = scratch(c, bound); /* >= len + 1: room to store as is too */
    if (rc != BW_OK)
        return rc;
    uint8_t *tmp = c->tmp;
    zlen = ZSTD_compressCCtx(c->cctx, tmp + 1, bound - 1, plain, len, ZSTD_LEVEL);
    if (ZSTD_isError(zlen) || zlen >= len) { /* incompressible: store as is */
        tmp[0] = 0;
        memcpy(tmp + 1, plain, len);
        zlen = len;
    } else {
        tmp[0] = 1;
    }
    chunk_aad(aad, sizeof(aad), keyid, idhex);
    bw_buf_reset(out);
    rc = bw_buf_append(out, CHUNK_MAGIC, 4);
    if (rc == BW_OK)
        rc = buf_room(out, zlen + 1 + BW_SEAL_OVERHEAD);
    if (rc == BW_OK)
        rc = bw_backup_key_seal(k, aad, strlen(aad), tmp, zlen + 1, (uint8_t *)out->data + 4,
                                out->len - 4, &slen);
    if (rc == BW_OK)
        out->len = 4 + slen;
    sodium_memzero(tmp, bound); /* all zstd may have written, not just what was kept */
    return rc;
}

enum bw_rc bw_chunk_open(struct bw_chunk_ctx *c, const struct bw_backup_key *k,
                         const char *keyid, const char *idhex, const uint8_t *obj,
                         size_t objlen, size_t plain_len, uint8_t *out)
{
    char aad[160];
    uint8_t id[BW_BACKUP_ID_BYTES];
    char hex[2 * BW_BACKUP_ID_BYTES + 1];
    size_t n = 0;
    if (objlen < 4 + BW_SEAL_OVERHEAD + 1 || memcmp(obj, CHUNK_MAGIC, 4) != 0 ||
        plain_len > BW_BK_CHUNK_MAX)
        return BW_ERR_INVALID;
    enum bw_rc rc = scratch(c, objlen);
    if (rc != BW_OK)
        return rc;
    uint8_t *tmp = c->tmp;
    chunk_aad(aad, sizeof(aad), keyid, idhex);
    rc = bw_backup_key_open(k, aad, strlen(aad), obj + 4, objlen - 4, tmp, objlen, &n);
    if (rc == BW_OK && (n < 1 || tmp[0] > 1))
        rc = BW_ERR_INVALID;
    if (rc == BW_OK && tmp[0] == 0) {
        if (n - 1 != plain_len)
            rc = BW_ERR_INVALID;
        else
            memcpy(out, tmp + 1, plain_len);
    } else if (rc == BW_OK) {
        unsigned long long fs = ZSTD_getFrameContentSize(tmp + 1, n - 1);
        size_t d = fs == plain_len ? ZSTD_decompressDCtx(c->dctx, out, plain_len, tmp + 1, n - 1)
                                   : 0;
        if (fs != plain_len || ZSTD_isError(d) || d != plain_len)
            rc = BW_ERR_INVALID;
    }
    if (rc == BW_OK)
        rc = bw_chunk_id(c, out, plain_len, id);
    if (rc == BW_OK) {
        bw_hex(id, sizeof(id), hex);
        if (strcmp(hex, idhex) != 0)
            rc = BW_ERR_INVALID; /* content does not match its address */
    }
    sodium_memzero(tmp, objlen);
    return rc;
}

enum bw_rc bw_chunk_path(char *out, size_t cap, const char *keyid,
                         const uint8_t id[BW_BACKUP_ID_BYTES])
{
    char hex[2 * BW_BACKUP_ID_BYTES + 1];
    bw_hex(id, BW_BACKUP_ID_BYTES, hex);
    int n = snprintf(out, cap, "chunks/%s/%s", keyid, hex);
    return n < 0 || (size_t)n >= cap ? BW_ERR_TOOBIG : BW_OK;
}

enum bw_rc bw_blob_seal(const struct bw_keyring *kr, const char *magic, const char *aad,
                        const void *plain, size_t len, struct bw_buf *out)
{
    size_t zb = ZSTD_compressBound(len), slen = 0;
    uint8_t *z = bw_malloc(zb);
    if (z == NULL)
        return BW_ERR_NOMEM;
    size_t zlen = ZSTD_compress(z, zb, plain, len, 3);
    enum bw_rc rc = ZSTD_isError(zlen) ? BW_ERR_INTERNAL : BW_OK;
    bw_buf_reset(out);
    if (rc == BW_OK)
        rc = bw_buf_append(out, magic, 4);
    if (rc == BW_OK)
        rc = buf_room(out, zlen + BW_SEAL_OVERHEAD);
    if (rc == BW_OK)
        rc = bw_keyring_backup_seal(kr, aad, z, zlen, (uint8_t *)out->data + 4, out->len - 4,
                                    &slen);
    if (rc == BW_OK)
        out->len = 4 + slen;
    sodium_memzero(z, zb);
    bw_free(z);
    return rc;
}

enum bw_rc bw_blob_open(const struct bw_keyring *kr, const char *magic, const char *aad,
                        const void *obj, size_t len, struct bw_buf *out)
{
    const uint8_t *p = obj;
    size_t n = 0;
    if (len < 4 + BW_SEAL_OVERHEAD || memcmp(p, magic, 4) != 0)
        return BW_ERR_INVALID;
    uint8_t *z = bw_malloc(len);
    if (z == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc = bw_keyring_backup_open(kr, aad, p + 4, len - 4, z, len, &n);
    unsigned long long fs = rc == BW_OK ? ZSTD_getFrameContentSize(z, n) : 0;
    if (rc == BW_OK && (fs == ZSTD_CONTENTSIZE_ERROR || fs == ZSTD_CONTENTSIZE_UNKNOWN ||
                        fs > out->max || fs > BW_BK_SEGMENT_MAX))
        rc = BW_ERR_INVALID;
    bw_buf_reset(out);
    if (rc == BW_OK)
        rc = buf_room(out, (size_t)fs);
    if (rc == BW_OK) {
        size_t d = ZSTD_decompress(out->data, (size_t)fs, z, n);
        if (ZSTD_isError(d) || d != fs)
            rc = BW_ERR_INVALID;
        else {
            out->len = d;
            out->data[d] = '\0';
        }
    }
    sodium_memzero(z, len);
    bw_free(z);
    return rc;
}
