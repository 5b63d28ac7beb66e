/*
 * id.c - random identifiers and hex encoding. Ids are 128 bits from the
 * system RNG (libsodium) in lowercase Crockford base32: unguessable, so an id
 * never reveals how many objects exist or when they were made.
 */
#include "core.h"

#include <sodium.h>
#include <string.h>

static const char b32[] = "0123456789abcdefghjkmnpqrstvwxyz";

void bw_id_new(char out[BW_ID_LEN + 1])
{
    uint8_t raw[16];
    randombytes_buf(raw, sizeof(raw));
    /* 128 bits = 25 full 5-bit groups + 3 bits */
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < sizeof(raw); i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = b32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    out[o++] = b32[(acc << (5 - bits)) & 31];
    out[o] = '\0';
}

bool bw_id_valid(const char *s)
{
    if (s == NULL || strlen(s) != BW_ID_LEN)
        return false;
    for (size_t i = 0; i < BW_ID_LEN; i++) {
        if (strchr(b32, s[i]) == NULL)
            return false;
    }
    return true;
}

void bw_hex(const uint8_t *p, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[p[i] >> 4];
        out[2 * i + 1] = hx[p[i] & 15];
    }
    out[2 * n] = '\0';
}
