/*
 * fuzz_units.c - the strict value parsers of src/core/strparse.c and
 * src/core/time.c: every one runs on the input and is compared with a
 * reference written here from the documented grammar.
 *
 * Properties:
 *  - out-parameters are untouched on failure (core.h contract);
 *  - bw_parse_u64 agrees with a strtoull-based check on pure-digit input of
 *    1..20 digits and rejects everything else;
 *  - durations: accepted exactly when the reference grammar accepts, the
 *    value is non-negative and at most 200 years, and bw_format_duration of
 *    it parses back to the same value;
 *  - sizes: accepted exactly when the reference accepts, and the value
 *    printed as a plain decimal, or by bw_format_size, parses back to itself;
 *  - booleans: exactly the six words and 1/0, case-insensitive;
 *  - host:port: agrees with the reference, host fits the caller's buffer
 *    (sized exactly, so ASan sees an overflow) and the pair re-formats and
 *    re-parses to the same host and port;
 *  - CIDR lists: accepted exactly when every token is an address/prefix;
 *  - RFC 3339 times: accepted exactly when the reference accepts, the value
 *    equals a days-from-civil computation, and UTC inputs re-format to the
 *    identical text;
 *  - bw_utf8_valid agrees with the Table 3-7 reference (so it never accepts
 *    overlongs, surrogates or code points above U+10FFFF).
 */
#include "core/core.h"
#include "fuzz_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
    }
    return true;
}

/* ---- unsigned integers ---------------------------------------------------- */

static void check_u64(const char *s, uint64_t max)
{
    uint64_t v = 0xA5A5A5A5A5A5A5A5ULL;
    enum bw_rc rc = bw_parse_u64(s, max, &v);
    bool ref_ok = false;
    uint64_t ref = 0;
    size_t len = strlen(s);
    if (all_digits(s) && len <= 20) {
        char *end;
        errno = 0;
        unsigned long long r = strtoull(s, &end, 10);
        ref_ok = errno != ERANGE && *end == '\0' && r <= max;
        ref = r;
    }
    FUZZ_CHECK((rc == BW_OK) == ref_ok);
    if (rc == BW_OK)
        FUZZ_CHECK(v == ref);
    else
        FUZZ_CHECK(v == 0xA5A5A5A5A5A5A5A5ULL);
}

/* ---- durations ------------------------------------------------------------- */

static const uint64_t DUR_LIMIT = 200ULL * 365 * 86400;

static bool ref_duration(const char *s, int64_t *out)
{
    uint64_t total = 0;
    if (*s == '\0' || strlen(s) > 64)
        return false;
    while (*s != '\0') {
        if (*s < '0' || *s > '9')
            return false;
        uint64_t v = 0;
        for (; *s >= '0' && *s <= '9'; s++) {
            v = v * 10 + (uint64_t)(*s - '0');
            if (v > DUR_LIMIT)
                return false;
        }
        uint64_t mult;
        switch (*s) {
        case 's': case 'S': mult = 1; break;
        case 'm': case 'M': mult = 60; break;
        case 'h': case 'H': mult = 3600; break;
        case 'd': case 'D': mult = 86400; break;
        case 'w': case 'W': mult = 7 * 86400; break;
        case 'y': case 'Y': mult = 365 * 86400; break;
        default: return false;
        }
        s++;
        /* v <= 6.3e9 and mult <= 3.2e7: the product fits */
        if (v * mult > DUR_LIMIT || total + v * mult > DUR_LIMIT)
            return false;
        total += v * mult;
    }
    *out = (int64_t)total;
    return true;
}

static void check_duration(const char *s)
{
    int64_t d = -12345, ref = 0;
    enum bw_rc rc = bw_parse_duration(s, &d);
    bool ref_ok = ref_duration(s, &ref);
    FUZZ_CHECK((rc == BW_OK) == ref_ok);
    if (rc != BW_OK) {
        FUZZ_CHECK(d == -12345);
        return;
    }
    FUZZ_CHECK(d == ref);
    FUZZ_CHECK(d >= 0 && (uint64_t)d <= DUR_LIMIT);
    char buf[64];
    bw_format_duration(d, buf, sizeof(buf));
    int64_t back = -1;
    FUZZ_CHECK(bw_parse_duration(buf, &back) == BW_OK);
    FUZZ_CHECK(back == d);
}

/* ---- sizes ------------------------------------------------------------------ */

static bool ref_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *name;
        uint64_t mult;
    } units[] = {
        {"B", 1ULL},           {"KB", 1000ULL},       {"MB", 1000000ULL},
        {"GB", 1000000000ULL}, {"TB", 1000000000000ULL}, {"KiB", 1ULL << 10},
        {"MiB", 1ULL << 20},   {"GiB", 1ULL << 30},   {"TiB", 1ULL << 40},
    };
    if (strlen(s) > 32 || *s < '0' || *s > '9')
        return false;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > UINT64_MAX / 10 || v * 10 > UINT64_MAX - d)
            return false;
        v = v * 10 + d;
    }
    uint64_t mult = 1;
    if (*s != '\0') {
        size_t i;
        for (i = 0; i < BW_ARRAY_LEN(units); i++) {
            if (strcasecmp(s, units[i].name) == 0)
                break;
        }
        if (i == BW_ARRAY_LEN(units))
            return false;
        mult = units[i].mult;
    }
    if (mult > 1 && v > UINT64_MAX / mult)
        return false;
    *out = v * mult;
    return true;
}

static void check_size(const char *s)
{
    uint64_t v = 777, ref = 0;
    enum bw_rc rc = bw_parse_size(s, &v);
    bool ref_ok = ref_size(s, &ref);
    FUZZ_CHECK((rc == BW_OK) == ref_ok);
    if (rc != BW_OK) {
        FUZZ_CHECK(v == 777);
        return;
    }
    FUZZ_CHECK(v == ref);
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    uint64_t back = 0;
    FUZZ_CHECK(bw_parse_size(buf, &back) == BW_OK);
    FUZZ_CHECK(back == v);
    /* and in the unit form bulwark.conf is rendered with */
    bw_format_size(v, buf, sizeof(buf));
    back = 0;
    FUZZ_CHECK(bw_parse_size(buf, &back) == BW_OK);
    FUZZ_CHECK(back == v);
}

/* ---- booleans --------------------------------------------------------------- */

static void check_bool(const char *s)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    int ref = -1;
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            ref = 1;
        if (strcasecmp(s, no[i]) == 0)
            ref = 0;
    }
    bool b = false, b2 = true;
    enum bw_rc rc = bw_parse_bool(s, &b);
    enum bw_rc rc2 = bw_parse_bool(s, &b2);
    FUZZ_CHECK((rc == BW_OK) == (ref >= 0) && rc == rc2);
    if (rc == BW_OK)
        FUZZ_CHECK(b == (ref == 1) && b2 == b);
    else
        FUZZ_CHECK(b == false && b2 == true);
}

/* ---- host:port ---------------------------------------------------------------- */

static bool ref_literal(const char *h)
{
    unsigned char a[16];
    return inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1;
}

static bool ref_hostport(const char *s, size_t hostcap, char *host, size_t hcap, uint16_t *port)
{
    const char *h, *colon;
    size_t hlen;
    if (strlen(s) > 300)
        return false;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return false;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strchr(s, ':');
        if (colon == NULL || strchr(colon + 1, ':') != NULL)
            return false;
        h = s;
        hlen = (size_t)(colon - s);
    }
    const char *p = colon + 1;
    if (hlen == 0 || hlen >= hostcap || hlen >= hcap || !all_digits(p) || strlen(p) > 20)
        return false;
    unsigned long long v = strtoull(p, NULL, 10);
    if (v == 0 || v > 65535 || strlen(p) > 20)
        return false;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (!ref_literal(host))
        return false;
    *port = (uint16_t)v;
    return true;
}

static void check_hostport(const char *s, size_t hostcap)
{
    char *host = malloc(hostcap);
    char ref_host[512];
    uint16_t port = 4242, ref_port = 0;
    if (host == NULL)
        abort();
    memset(host, 0x5A, hostcap);
    enum bw_rc rc = bw_parse_hostport(s, host, hostcap, &port);
    bool ref_ok = ref_hostport(s, hostcap, ref_host, sizeof(ref_host), &ref_port);
    FUZZ_CHECK((rc == BW_OK) == ref_ok);
    if (rc != BW_OK) {
        FUZZ_CHECK(port == 4242);
        for (size_t i = 0; i < hostcap; i++)
            FUZZ_CHECK(host[i] == 0x5A);
        free(host);
        return;
    }
    FUZZ_CHECK(memchr(host, '\0', hostcap) != NULL);
    FUZZ_CHECK(strcmp(host, ref_host) == 0 && port == ref_port && port != 0);
    /* re-format the way config.c renders it and parse again */
    char again[400];
    if (strchr(host, ':') != NULL)
        snprintf(again, sizeof(again), "[%s]:%u", host, (unsigned)port);
    else
        snprintf(again, sizeof(again), "%s:%u", host, (unsigned)port);
    char host2[64];
    uint16_t port2 = 0;
    FUZZ_CHECK(bw_parse_hostport(again, host2, sizeof(host2), &port2) == BW_OK);
    FUZZ_CHECK(strcmp(host2, host) == 0 && port2 == port);
    free(host);
}

/* ---- CIDR lists ---------------------------------------------------------------- */

static bool ref_cidr(const char *tok, size_t len)
{
    char tmp[128];
    unsigned char a[16];
    if (len == 0 || len > 63)
        return false;
    memcpy(tmp, tok, len);
    tmp[len] = '\0';
    char *slash = strchr(tmp, '/');
    if (slash != NULL)
        *slash = '\0';
    bool v6 = strchr(tmp, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, tmp, a) != 1)
        return false;
    if (slash == NULL)
        return true;
    const char *bits = slash + 1;
    if (!all_digits(bits) || strlen(bits) > 20)
        return false;
    errno = 0;
    unsigned long long b = strtoull(bits, NULL, 10);
    return errno == 0 && b <= (v6 ? 128U : 32U);
}

static void check_cidr_list(const char *s)
{
    bool ref_ok = strlen(s) <= 4096;
    const char *p = s;
    while (ref_ok && *p != '\0') {
        if (*p == ' ' || *p == ',') {
            p++;
            continue;
        }
        size_t len = strcspn(p, " ,");
        ref_ok = ref_cidr(p, len);
        p += len;
    }
    FUZZ_CHECK((bw_parse_cidr_list(s) == BW_OK) == ref_ok);
}

/* ---- RFC 3339 times ------------------------------------------------------------- */

/* Howard Hinnant's days_from_civil. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool num(const char *s, int n, int *out)
{
    *out = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *out = *out * 10 + (s[i] - '0');
    }
    return true;
}

static bool ref_time(const char *s, int64_t *out)
{
    size_t len = strlen(s);
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    if (len != 20 && len != 25)
        return false;
    if (!num(s, 4, &y) || s[4] != '-' || !num(s + 5, 2, &mo) || s[7] != '-' ||
        !num(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !num(s + 11, 2, &h) ||
        s[13] != ':' || !num(s + 14, 2, &mi) || s[16] != ':' || !num(s + 17, 2, &sec))
        return false;
    if (len == 20) {
        if (s[19] != 'Z' && s[19] != 'z')
            return false;
    } else {
        if ((s[19] != '+' && s[19] != '-') || !num(s + 20, 2, &oh) || s[22] != ':' ||
            !num(s + 23, 2, &om) || oh > 23 || om > 59)
            return false;
        sign = s[19] == '+' ? 1 : -1;
    }
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int mdays = mo == 2 ? (leap ? 29 : 28) : (mo == 4 || mo == 6 || mo == 9 || mo == 11) ? 30 : 31;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays || h > 23 || mi > 59 || sec > 60)
        return false;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
           sign * (oh * 3600 + om * 60);
    return true;
}

static void check_time(const char *s)
{
    int64_t t = 99, ref = 0;
    enum bw_rc rc = bw_time_parse(s, &t);
    bool ref_ok = ref_time(s, &ref);
    FUZZ_CHECK((rc == BW_OK) == ref_ok);
    if (rc != BW_OK) {
        FUZZ_CHECK(t == 99);
        return;
    }
    FUZZ_CHECK(t == ref);
    if (strlen(s) == 20 && !(s[17] == '6' && s[18] == '0')) {
        char out[21];
        bw_time_format(t, out);
        char want[21];
        memcpy(want, s, 21);
        want[10] = 'T';
        want[19] = 'Z';
        FUZZ_CHECK(memcmp(out, want, 21) == 0);
    }
}

/* ---- UTF-8 ------------------------------------------------------------------------- */

static void check_utf8(const uint8_t *data, size_t size)
{
    char *copy = fuzz_memdup(data, size);
    FUZZ_CHECK(bw_utf8_valid(copy, size) == fuzz_ref_utf8(data, size));
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strdup(data, size);

    check_u64(s, UINT64_MAX);
    check_u64(s, 0);
    check_u64(s, 65535);
    check_u64(s, 128);
    check_u64(s, UINT64_MAX - 1);
    if (size >= 1) {
        uint64_t m = 0;
        memcpy(&m, data, size < 8 ? size : 8);
        check_u64(s, m);
    }
    check_duration(s);
    check_size(s);
    check_bool(s);
    check_hostport(s, 64);
    check_hostport(s, size > 0 ? (size_t)data[0] % 48 + 1 : 1);
    check_cidr_list(s);
    check_time(s);
    check_utf8(data, size);
    if (size > 0)
        check_utf8(data + 1, size - 1);

    free(s);
    return 0;
}
