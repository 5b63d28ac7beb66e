/*
 * fuzz_router.c - route matching (bw_router_match in src/http/router.c)
 * against the real table (bw_routes) and a synthetic table with parameters,
 * overlapping patterns and a trailing-slash route.
 *
 * Input: the first byte chooses the method (each bit of enum bw_method, no
 * bit, an unknown bit, two bits at once); the rest, up to a NUL, is the path.
 * The bytes after a NUL are ignored by the router, which is checked too.
 *
 * Properties (for both tables):
 *  - the result agrees with a reference matcher written here: BW_OK with the
 *    first row in table order whose pattern matches and whose method fits
 *    (HEAD is served by GET rows); BW_ERR_UNSUPPORTED when the path matches
 *    some row but none for the method; BW_ERR_NOTFOUND otherwise; `allowed`
 *    is the union of the methods of all rows matching the path;
 *  - BW_ERR_UNSUPPORTED only with a non-zero `allowed` that does not hold the
 *    method;
 *  - on BW_OK: the pattern has as many '/' as the path; literal segments
 *    equal the path's; nparams equals the pattern's {params}, with their
 *    names; each value is 1..128 bytes of [A-Za-z0-9._~@+-] and is not "."
 *    or ".."; substituting the values into the pattern gives back the path;
 *    and "//", "/./", "/../" in the path only ever come from a literal part
 *    of the pattern (never from an empty or dot parameter).
 */
#include "http/http_int.h"
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>

static const struct bw_route synthetic[] = {
    {BW_GET, "/", NULL, BW_AUTH_NONE, 0, 0},
    {BW_GET, "/api/v1/orgs", NULL, BW_AUTH_REQUIRED, 0, 0},
    {BW_POST, "/api/v1/orgs", NULL, BW_AUTH_REQUIRED, BW_ROUTE_JSON_BODY, 0},
    {BW_GET, "/api/v1/orgs/{org}", NULL, BW_AUTH_REQUIRED, 0, 0},
    {BW_PATCH, "/api/v1/orgs/{org}", NULL, BW_AUTH_REQUIRED, BW_ROUTE_JSON_BODY, 0},
    {BW_GET, "/api/v1/orgs/{org}/collections/{c}/records/{id}", NULL, BW_AUTH_REQUIRED, 0, 0},
    {BW_PUT, "/api/v1/orgs/{org}/collections/{c}/records/{id}", NULL, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY, 0},
    {BW_DELETE, "/api/v1/orgs/{org}/collections/{c}/records/{id}", NULL, BW_AUTH_REQUIRED, 0, 0},
    {BW_GET, "/a/{x}/b", NULL, BW_AUTH_NONE, 0, 0},
    {BW_GET, "/a/{x}/{y}", NULL, BW_AUTH_NONE, 0, 0}, /* shadowed by the row above for ".../b" */
    {BW_POST, "/a/{x}/{y}", NULL, BW_AUTH_NONE, 0, 0},
    {BW_GET, "/admin/", NULL, BW_AUTH_NONE, 0, 0},
    {BW_OPTIONS, "/{p1}/{p2}/{p3}/{p4}/{p5}/{p6}", NULL, BW_AUTH_NONE, 0, 0},
    {BW_GET, "/files/{name}/raw", NULL, BW_AUTH_NONE, 0, 0},
    {BW_HEAD, "/files/{name}/raw", NULL, BW_AUTH_NONE, 0, 0},
    {BW_GET, "/.well-known/security.txt", NULL, BW_AUTH_NONE, BW_ROUTE_TEXT, 0},
};

static const unsigned method_choices[] = {
    BW_GET,  BW_POST, BW_PUT,         BW_DELETE, BW_PATCH,       BW_HEAD,
    BW_OPTIONS, 0,    1u << 7,        BW_GET | BW_POST,
};

static bool param_char(char c)
{
    return strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~@+-", c) !=
               NULL &&
           c != '\0';
}

static bool is_param(const char *seg, size_t len)
{
    return len > 2 && seg[0] == '{' && seg[len - 1] == '}';
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += *s == c;
    return n;
}

/* Reference: split both strings at '/' and compare segment by segment. */
static bool ref_match(const char *pat, const char *path)
{
    size_t np = 0;
    if (count_char(pat, '/') != count_char(path, '/') || pat[0] != '/' || path[0] != '/')
        return false;
    const char *p = pat + 1, *q = path + 1;
    for (;;) {
        size_t pl = strcspn(p, "/"), ql = strcspn(q, "/");
        if (is_param(p, pl)) {
            if (ql < 1 || ql > BW_MAX_PARAM_LEN || ++np > BW_MAX_PARAMS)
                return false;
            for (size_t i = 0; i < ql; i++) {
                if (!param_char(q[i]))
                    return false;
            }
            if ((ql == 1 && q[0] == '.') || (ql == 2 && q[0] == '.' && q[1] == '.'))
                return false;
        } else if (pl != ql || memcmp(p, q, pl) != 0) {
            return false;
        }
        if (p[pl] == '\0')
            return q[ql] == '\0';
        p += pl + 1;
        q += ql + 1;
    }
}

static bool method_fits(unsigned row, unsigned method)
{
    return row == method || (method == BW_HEAD && row == BW_GET);
}

static void check_match(const struct bw_route *table, size_t n, unsigned method, const char *path)
{
    struct bw_route_match m;
    memset(&m, 0xA5, sizeof(m));
    enum bw_rc rc = bw_router_match(table, n, method, path, &m);

    /* reference answer */
    size_t first = n;
    unsigned allowed = 0;
    if (path[0] == '/' && strlen(path) <= 4096) {
        for (size_t i = 0; i < n; i++) {
            if (!ref_match(table[i].pattern, path))
                continue;
            allowed |= table[i].method;
            if (first == n && method_fits(table[i].method, method))
                first = i;
        }
    }
    if (allowed == 0) {
        FUZZ_CHECK(rc == BW_ERR_NOTFOUND);
        return;
    }
    if (first == n) {
        FUZZ_CHECK(rc == BW_ERR_UNSUPPORTED);
        FUZZ_CHECK(m.allowed == allowed && m.allowed != 0 && m.route == NULL);
        /* a real method (one bit) is not among the allowed ones; no method
         * (0, an unknown name) and a bit combination are never served */
        if (method != 0 && (method & (method - 1)) == 0)
            FUZZ_CHECK((m.allowed & method) == 0);
        if (method == BW_HEAD)
            FUZZ_CHECK((m.allowed & BW_GET) == 0);
        return;
    }
    FUZZ_CHECK(rc == BW_OK);
    FUZZ_CHECK(m.route == &table[first] && m.route_index == first);
    FUZZ_CHECK(m.allowed == allowed && (m.allowed & m.route->method) != 0);
    FUZZ_CHECK(method_fits(m.route->method, method));

    const char *pat = m.route->pattern;
    FUZZ_CHECK(count_char(pat, '/') == count_char(path, '/'));
    FUZZ_CHECK(m.nparams <= BW_MAX_PARAMS);

    /* walk the pattern: literals must equal the path, params come in order */
    char rebuilt[4096 + 1];
    size_t rl = 0, pi = 0;
    const char *p = pat, *q = path;
    while (*p != '\0') {
        FUZZ_CHECK(*p == '/' && *q == '/');
        p++;
        q++;
        FUZZ_CHECK(rl < sizeof(rebuilt) - 1);
        rebuilt[rl++] = '/';
        size_t pl = strcspn(p, "/"), ql = strcspn(q, "/");
        if (is_param(p, pl)) {
            FUZZ_CHECK(pi < m.nparams);
            const char *v = m.values[pi];
            size_t vl = strnlen(v, sizeof(m.values[pi]));
            FUZZ_CHECK(vl >= 1 && vl <= BW_MAX_PARAM_LEN);
            for (size_t i = 0; i < vl; i++)
                FUZZ_CHECK(param_char(v[i]));
            FUZZ_CHECK(strcmp(v, ".") != 0 && strcmp(v, "..") != 0);
            FUZZ_CHECK(strlen(m.names[pi]) == pl - 2 && memcmp(m.names[pi], p + 1, pl - 2) == 0);
            FUZZ_CHECK(vl == ql && memcmp(v, q, vl) == 0);
            FUZZ_CHECK(rl + vl < sizeof(rebuilt));
            memcpy(rebuilt + rl, v, vl);
            rl += vl;
            pi++;
        } else {
            FUZZ_CHECK(pl == ql && memcmp(p, q, pl) == 0);
            FUZZ_CHECK(rl + pl < sizeof(rebuilt));
            memcpy(rebuilt + rl, p, pl);
            rl += pl;
        }
        p += pl;
        q += ql;
    }
    FUZZ_CHECK(*q == '\0');
    FUZZ_CHECK(pi == m.nparams);
    rebuilt[rl] = '\0';
    FUZZ_CHECK(strcmp(rebuilt, path) == 0);

    static const char *const suspicious[] = {"//", "/./", "/../"};
    for (size_t i = 0; i < BW_ARRAY_LEN(suspicious); i++) {
        if (strstr(path, suspicious[i]) != NULL)
            FUZZ_CHECK(strstr(pat, suspicious[i]) != NULL);
    }
    /* a final "." or ".." segment can only be literal text of the pattern */
    const char *last = strrchr(path, '/') + 1;
    if (strcmp(last, ".") == 0 || strcmp(last, "..") == 0)
        FUZZ_CHECK(strcmp(strrchr(pat, '/') + 1, last) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned method = method_choices[data[0] % BW_ARRAY_LEN(method_choices)];
    char *path = fuzz_strdup(data + 1, size - 1);

    check_match(bw_routes, bw_routes_count, method, path);
    check_match(synthetic, BW_ARRAY_LEN(synthetic), method, path);

    /* method names round-trip */
    if (method != 0 && (method & (method - 1)) == 0 && method < (1u << 7))
        FUZZ_CHECK(bw_method_parse(bw_method_name(method)) == method);

    free(path);
    return 0;
}
