/*
 * cursor.c - opaque list cursors. A cursor is base64url(tag || last id)
 * where tag is a truncated HMAC (keyring, purpose "cursor") over
 * organisation, collection and last id: a cursor handed to organisation A
 * opens only for A's collection, and a cursor of organisation B, of another
 * collection or an invented one fails exactly like a random string (SPEC
 * 6.6: B's ids and their existence never leak to A).
 */
#include "crypto/crypto.h"
#include "data/data.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define TAG_BYTES 16
#define RAW_BYTES (TAG_BYTES + BW_ID_LEN)
#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

static enum bw_rc tag_of(const struct bw_keyring *kr, const char *org_id, const char *coll,
                         const char *last, uint8_t tag[TAG_BYTES])
{
    char msg[BW_ID_LEN + BW_NAME_MAX + BW_ID_LEN + 8];
    uint8_t mac[BW_MAC_BYTES];
    int n = snprintf(msg, sizeof(msg), "%s:%s:%s", org_id, coll, last);
    if (n < 0 || (size_t)n >= sizeof(msg))
        return BW_ERR_INVALID;
    enum bw_rc rc = bw_keyring_mac(kr, "cursor", msg, (size_t)n, mac);
    if (rc == BW_OK)
        memcpy(tag, mac, TAG_BYTES);
    return rc;
}

enum bw_rc bw_cursor_make(const struct bw_keyring *kr, const char *org_id, const char *collection,
                          const char *last_id, char out[BW_CURSOR_MAX])
{
    uint8_t raw[RAW_BYTES];
    _Static_assert(sodium_base64_ENCODED_LEN(RAW_BYTES, B64) <= BW_CURSOR_MAX, "cursor size");
    if (!bw_id_valid(last_id))
        return BW_ERR_INVALID;
    enum bw_rc rc = tag_of(kr, org_id, collection, last_id, raw);
    if (rc != BW_OK)
        return rc;
    memcpy(raw + TAG_BYTES, last_id, BW_ID_LEN);
    sodium_bin2base64(out, BW_CURSOR_MAX, raw, sizeof(raw), B64);
    return BW_OK;
}

enum bw_rc bw_cursor_open(const struct bw_keyring *kr, const char *org_id, const char *collection,
                          const char *cursor, char last_id[BW_ID_LEN + 1])
{
    uint8_t raw[RAW_BYTES], want[TAG_BYTES];
    size_t n = 0, len = strlen(cursor);
    char id[BW_ID_LEN + 1];
    if (len >= BW_CURSOR_MAX ||
        sodium_base642bin(raw, sizeof(raw), cursor, len, NULL, &n, NULL, B64) != 0 ||
        n != RAW_BYTES)
        return BW_ERR_NOTFOUND;
    memcpy(id, raw + TAG_BYTES, BW_ID_LEN);
    id[BW_ID_LEN] = '\0';
    if (!bw_id_valid(id) || tag_of(kr, org_id, collection, id, want) != BW_OK ||
        sodium_memcmp(want, raw, TAG_BYTES) != 0)
        return BW_ERR_NOTFOUND;
    memcpy(last_id, id, sizeof(id));
    return BW_OK;
}
