/*
 * strparse.c - strict parsers for configuration values and other short
 * strings from outside: unsigned integers, durations, sizes, booleans,
 * host:port pairs and CIDR lists. Every parser consumes the whole string or
 * fails; nothing is silently clamped or truncated. Inputs are NUL-terminated
 * strings of bounded length (the callers cap them).
 */
#include "core.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { MAX_VALUE_LEN = 4096 };

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads digits at *p into *out, advancing *p; overflow past max fails. */
static enum bw_rc read_uint(const char **p, uint64_t max, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (!is_digit(*s))
        return BW_ERR_INVALID;
    for (; is_digit(*s); s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (d > max || v > (max - d) / 10)
            return BW_ERR_INVALID;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return BW_OK;
}

enum bw_rc bw_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v;
    if (s == NULL || strlen(s) > 20 || read_uint(&s, max, &v) != BW_OK || *s != '\0')
        return BW_ERR_INVALID;
    *out = v;
    return BW_OK;
}

struct unit {
    const char *name;
    uint64_t mult;
};

static const struct unit duration_units[] = {
    {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"w", 7 * 86400}, {"y", 365 * 86400},
};

/* Longest-match lookup of a unit name at *p. */
static const struct unit *match_unit(const char **p, const struct unit *units, size_t n)
{
    const struct unit *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(units[i].name);
        if (len > best_len && strncasecmp(*p, units[i].name, len) == 0) {
            best = &units[i];
            best_len = len;
        }
    }
    if (best != NULL)
        *p += best_len;
    return best;
}

enum bw_rc bw_parse_duration(const char *s, int64_t *out_seconds)
{
    /* 200 years is far beyond any sensible duration and keeps sums in range */
    const uint64_t limit = 200ULL * 365 * 86400;
    uint64_t total = 0;
    if (s == NULL || *s == '\0' || strlen(s) > 64)
        return BW_ERR_INVALID;
    while (*s != '\0') {
        uint64_t v;
        if (read_uint(&s, limit, &v) != BW_OK)
            return BW_ERR_INVALID;
        const struct unit *u = match_unit(&s, duration_units, BW_ARRAY_LEN(duration_units));
        if (u == NULL || v > limit / u->mult || total > limit - v * u->mult)
            return BW_ERR_INVALID;
        total += v * u->mult;
    }
    *out_seconds = (int64_t)total;
    return BW_OK;
}

static const struct unit size_units[] = {
    {"B", 1},
    {"KB", 1000ULL},
    {"MB", 1000ULL * 1000},
    {"GB", 1000ULL * 1000 * 1000},
    {"TB", 1000ULL * 1000 * 1000 * 1000},
    {"KiB", 1ULL << 10},
    {"MiB", 1ULL << 20},
    {"GiB", 1ULL << 30},
    {"TiB", 1ULL << 40},
};

enum bw_rc bw_parse_size(const char *s, uint64_t *out_bytes)
{
    uint64_t v;
    if (s == NULL || strlen(s) > 32 || read_uint(&s, UINT64_MAX, &v) != BW_OK)
        return BW_ERR_INVALID;
    uint64_t mult = 1;
    if (*s != '\0') {
        const struct unit *u = match_unit(&s, size_units, BW_ARRAY_LEN(size_units));
        if (u == NULL || *s != '\0')
            return BW_ERR_INVALID;
        mult = u->mult;
    }
    if (v > UINT64_MAX / mult)
        return BW_ERR_INVALID;
    *out_bytes = v * mult;
    return BW_OK;
}

enum bw_rc bw_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    if (s == NULL)
        return BW_ERR_INVALID;
    for (size_t i = 0; i < BW_ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return BW_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return BW_OK;
        }
    }
    return BW_ERR_INVALID;
}

enum bw_rc bw_parse_hostport(const char *s, char *host, size_t hostcap, uint16_t *port)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (s == NULL || strlen(s) > 300)
        return BW_ERR_INVALID;
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':')
            return BW_ERR_INVALID;
        h = s + 1;
        hlen = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
            return BW_ERR_INVALID;
        hlen = (size_t)(colon - s);
    }
    uint64_t p;
    if (hlen == 0 || hlen >= hostcap || bw_parse_u64(colon + 1, 65535, &p) != BW_OK || p == 0)
        return BW_ERR_INVALID;
    char tmp[300];
    memcpy(tmp, h, hlen);
    tmp[hlen] = '\0';
    unsigned char addr[16];
    if (inet_pton(AF_INET, tmp, addr) != 1 && inet_pton(AF_INET6, tmp, addr) != 1)
        return BW_ERR_INVALID; /* the listener takes literal addresses only */
    memcpy(host, tmp, hlen + 1);
    *port = (uint16_t)p;
    return BW_OK;
}

/* Parses one "addr[/bits]" of len bytes into out (may be NULL). An address
 * without /bits is a single host. An IPv4-mapped IPv6 address (::ffff:a.b.c.d)
 * becomes the IPv4 address, so a peer seen either way matches the same
 * networks. Host bits beyond the prefix are cleared. */
static enum bw_rc parse_cidr(const char *s, size_t len, struct bw_cidr *out)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char tmp[64];
    struct bw_cidr c;
    memset(&c, 0, sizeof(c));
    if (len == 0 || len >= sizeof(tmp))
        return BW_ERR_INVALID;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *slash = strchr(tmp, '/');
    uint64_t bits = 0;
    if (slash != NULL)
        *slash = '\0';
    c.v6 = strchr(tmp, ':') != NULL;
    if (inet_pton(c.v6 ? AF_INET6 : AF_INET, tmp, c.addr) != 1)
        return BW_ERR_INVALID;
    if (slash != NULL && bw_parse_u64(slash + 1, c.v6 ? 128 : 32, &bits) != BW_OK)
        return BW_ERR_INVALID;
    if (slash == NULL)
        bits = c.v6 ? 128 : 32;
    if (c.v6 && memcmp(c.addr, mapped, sizeof(mapped)) == 0 && bits >= 96) {
        memmove(c.addr, c.addr + 12, 4);
        memset(c.addr + 4, 0, 12);
        c.v6 = false;
        bits -= 96;
    }
    c.bits = (uint8_t)bits;
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = c.bits > i * 8 ? c.bits - i * 8 : 0;
        c.addr[i] &= keep >= 8 ? 0xff : (uint8_t)(0xff00u >> keep);
    }
    if (out != NULL)
        *out = c;
    return BW_OK;
}

enum bw_rc bw_parse_cidr_list(const char *s)
{
    size_t n = 0;
    return bw_cidr_parse_list(s, NULL, 0, &n);
}

enum bw_rc bw_cidr_parse_list(const char *s, struct bw_cidr *out, size_t cap, size_t *n)
{
    size_t count = 0;
    if (s == NULL || strlen(s) > MAX_VALUE_LEN)
        return BW_ERR_INVALID;
    while (*s != '\0') {
        while (*s == ' ' || *s == ',')
            s++;
        size_t len = strcspn(s, ", ");
        if (len == 0)
            break;
        if (out != NULL && count >= cap)
            return BW_ERR_TOOBIG;
        if (parse_cidr(s, len, out != NULL ? &out[count] : NULL) != BW_OK)
            return BW_ERR_INVALID;
        count++;
        s += len;
    }
    *n = count;
    return BW_OK;
}

enum bw_rc bw_ip_parse(const char *s, struct bw_cidr *out)
{
    struct bw_cidr c;
    if (s == NULL || strchr(s, '/') != NULL || parse_cidr(s, strlen(s), &c) != BW_OK)
        return BW_ERR_INVALID;
    *out = c;
    return BW_OK;
}

bool bw_cidr_contains(const struct bw_cidr *net, const struct bw_cidr *ip)
{
    if (net->v6 != ip->v6)
        return false;
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = net->bits > i * 8 ? net->bits - i * 8 : 0;
        uint8_t mask = keep >= 8 ? 0xff : (uint8_t)(0xff00u >> keep);
        if ((ip->addr[i] & mask) != net->addr[i])
            return false;
    }
    return true;
}

bool bw_cidr_list_contains(const struct bw_cidr *nets, size_t n, const struct bw_cidr *ip)
{
    for (size_t i = 0; i < n; i++) {
        if (bw_cidr_contains(&nets[i], ip))
            return true;
    }
    return false;
}

void bw_cidr_format(const struct bw_cidr *c, char *out, size_t cap)
{
    char a[INET6_ADDRSTRLEN];
    if (inet_ntop(c->v6 ? AF_INET6 : AF_INET, c->addr, a, sizeof(a)) == NULL)
        a[0] = '\0';
    snprintf(out, cap, "%s/%u", a, (unsigned)c->bits);
}

void bw_format_size(uint64_t bytes, char *out, size_t cap)
{
    static const struct unit order[] = {{"TiB", 1ULL << 40}, {"GiB", 1ULL << 30},
                                        {"MiB", 1ULL << 20}, {"KiB", 1ULL << 10}};
    for (size_t i = 0; i < BW_ARRAY_LEN(order); i++) {
        if (bytes != 0 && bytes % order[i].mult == 0) {
            snprintf(out, cap, "%llu%s", (unsigned long long)(bytes / order[i].mult),
                     order[i].name);
            return;
        }
    }
    snprintf(out, cap, "%llu", (unsigned long long)bytes);
}

void bw_format_duration(int64_t seconds, char *out, size_t cap)
{
    static const struct unit order[] = {{"y", 365 * 86400}, {"w", 7 * 86400}, {"d", 86400},
                                        {"h", 3600},        {"m", 60},        {"s", 1}};
    for (size_t i = 0; i < BW_ARRAY_LEN(order); i++) {
        if (seconds != 0 && seconds % (int64_t)order[i].mult == 0) {
            snprintf(out, cap, "%lld%s", (long long)(seconds / (int64_t)order[i].mult),
                     order[i].name);
            return;
        }
    }
    snprintf(out, cap, "%llds", (long long)seconds);
}

bool bw_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        static const uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}
